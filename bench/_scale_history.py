"""bench/scale.py --history N: what reads and commits cost as the history grows to N lake versions.

The scale run makes few versions (one per commit round, about 2,000 songs each), so it cannot
show whether a cost grows with the history itself. This makes a small lake with a long history:
N commits of one song each (every table's rows, through BatchWriter, ``stage`` and
``lake.commit_staged``, then ``compact_small`` as a commit round does), and at 100, 300, 1,000,
3,000 ... versions measures ``Lake.open``, ``state()``, ``state(old)``, a table opened at the
newest version, a ``Reader`` opening and refreshing, and the last 100 commits.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path


def run(versions: int, keep: str | None, timed, p50_95, ms, lance_versions) -> None:
    import _scale_rows

    from songlake.schema import BatchWriter, Lake, Reader
    from songlake.schema.optimize import compact_small, fragment_counts

    marks = sorted({m for m in (100, 300, 1000, 3000, 10000, 30000) if m < versions} | {versions})
    rows = []
    with tempfile.TemporaryDirectory(dir=keep) as tmp:
        root = Path(tmp) / "lake"
        lake = Lake.open(root, create=True)
        commits, compacts = [], []
        n = 0
        began = time.perf_counter()
        print(f"{versions:,} lake versions of one song each; figures at {', '.join(f'{m:,}' for m in marks)}", flush=True)
        for mark in marks:
            while lake.version() < mark:
                writer = BatchWriter(lake)
                _scale_rows.write_songs(writer, 1, n, 1)
                writer.stage("ingest", f"song {n}")
                n += 1
                started = time.perf_counter()
                lake.commit_staged(wait=True)
                commits.append(time.perf_counter() - started)
                started = time.perf_counter()
                compact_small(lake)
                compacts.append(time.perf_counter() - started)
            head = lake.version()
            olds = iter([random.randint(2, head) for _ in range(60)])
            started = time.perf_counter()
            reader = Reader(lake)
            reader_open = time.perf_counter() - started
            f = {"versions": head, "commit": commits[-100:], "compact": compacts[-100:],
                 "open": timed(lambda: Lake.open(root), 30), "state": timed(lambda: lake.state(), 50),
                 "state_old": timed(lambda: lake.state(next(olds)), 50),
                 "table": timed(lambda: lake.dataset("analysis"), 30),
                 "reader_open": reader_open, "refresh": timed(reader.refresh, 50),
                 "history": timed(lambda: lake.history(20), 20)}
            del reader
            frags = fragment_counts(lake)
            manifests = lance_versions(root)
            print(f"\n== {head:,} versions ({(time.perf_counter() - began) / 60:.1f} min) ==")
            print(f"commit (last 100)    {p50_95(f['commit'])}; compact_small p50 {ms(f['compact'], 50):.1f} ms, "
                  f"max {ms(f['compact'], 100):.0f} ms")
            for label, key in (("Lake.open", "open"), ("lake.state()", "state"), ("lake.state(old)", "state_old"),
                               ("table at newest", "table"), ("Reader refresh", "refresh"), ("lake.history(20)", "history")):
                print(f"{label:20} {p50_95(f[key])}")
            print(f"Reader(lake)         {f['reader_open'] * 1000:8.1f} ms to open")
            print("fragments            " + ", ".join(f"{t} {c}" for t, c in frags.items() if c))
            print("table versions       " + ", ".join(f"{t} {c}" for t, c in manifests.items() if c > 2), flush=True)
            rows.append(f)
    if len(rows) > 1:
        print(f"\n== how each cost grows ({rows[0]['versions']:,} -> {rows[-1]['versions']:,} versions) ==")
        print(f"{'':20}" + "".join(f"{r['versions']:>10,}" for r in rows) + f"{'ratio':>9}")
        for label, key, q in (("commit p50", "commit", 50), ("commit p95", "commit", 95), ("compact_small p50", "compact", 50),
                              ("Lake.open p95", "open", 95), ("state() p95", "state", 95), ("state(old) p95", "state_old", 95),
                              ("table open p95", "table", 95), ("Reader refresh p95", "refresh", 95),
                              ("history(20) p95", "history", 95)):
            values = [ms(r[key], q) for r in rows]
            print(f"{label + ' (ms)':20}" + "".join(f"{v:>10.1f}" for v in values) + f"{values[-1] / values[0]:>8.2f}x")
        values = [r["reader_open"] * 1000 for r in rows]
        print(f"{'Reader open (ms)':20}" + "".join(f"{v:>10.1f}" for v in values) + f"{values[-1] / values[0]:>8.2f}x")
