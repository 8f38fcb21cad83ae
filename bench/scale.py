"""The lake at 100,000 songs: what a commit, a read and a search cost as the collection grows.

    .venv/bin/python bench/scale.py                                  # 1K, 10K, 50K, 100K songs (~4 min)
    .venv/bin/python bench/scale.py --sizes 500,2000                 # a quick run
    .venv/bin/python bench/scale.py --redis redis://127.0.0.1:6400/0 --keep /tmp/lake100k
    .venv/bin/python bench/scale.py --pipeline 2000                  # the whole pipeline (no stems)
    .venv/bin/python bench/scale.py --history 3000                   # costs against lake versions

Timings are wall-clock on whatever else the machine runs: each checkpoint prints the load average.

The commit path (issue 12, "How we will know" 1). Synthetic songs (bench/_scale_rows: tracks
with tags, analysis with about 500 beats, 130 chords and 6 sections, a 64-d embedding, a genre
row, two stage runs and a few kB of original file) go through the real write path: ``--workers``
processes take tasks from a Huey queue on Redis (bench/_scale_worker), each task writes one set
of ``--set-songs`` songs with ``BatchWriter`` and stages it, then calls
``songlake.jobs.commit.commit_round``; an idle worker commits what is staged. So the lake gets
one version per commit round, and compacts itself after commits (``compact_small``).

At each checkpoint the workers drain the queue, everything staged is committed
(``commit.flush``), the workers pause, and this process measures, on a quiet lake:

- ingest throughput of the segment, and the workers' own commit rounds (time, compaction);
- ``Lake.open``, ``lake.state()`` (the newest version), ``lake.state(n)`` for random older n,
  and a table opened at the newest version: p50 / p95 (goal: within 20 ms);
- the read gateway: ``Reader(lake)`` opening, a refresh that finds nothing new, and a SQL slice
  over ``songs``; the same slice on the materialised copy the server uses (goal: 30 ms p95);
- top-10 similarity with ``Reader.similar`` (goal: 20 ms p95), and its recall@10 against an
  exact float64 numpy search over the embeddings read straight from Lance (goal: >= 0.95);
- commit p50 / p95: ``--commit-samples`` times, stage one set of ``--set-songs`` new songs and
  time ``lake.commit_staged(wait=True)`` (then ``compact_small``, timed apart, as a commit round
  does). These songs stay in the lake and count towards the next checkpoint;
- lake versions and fragments per table.

At the end a table shows every figure per checkpoint and the ratio of the largest size's value to
the smallest's (goal: commit p95 at most 1.25x; nothing grows with history).

``--pipeline N``: bench/_scale_pipeline (N >= 2,000 for the issue's figure).
``--history N``: bench/_scale_history (the costs against the number of lake versions).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SLICE = ("SELECT song_id, title, artist, year, bpm, key FROM songs "
         "WHERE bpm BETWEEN $1 AND $2 AND year >= $3 LIMIT 100")


# --- timing helpers ---------------------------------------------------------------------------

def ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q)) if values else float("nan")


def p50_95(values: list[float]) -> str:
    return f"p50 {ms(values, 50):8.2f} ms  p95 {ms(values, 95):8.2f} ms" if values else "none"


def timed(function, repeat: int, budget: float | None = None, warm: int = 1) -> list[float]:
    """Seconds per call; stops early once budget seconds are spent (after at least 3 calls)."""
    for _ in range(warm):
        function()
    out, began = [], time.perf_counter()
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        out.append(time.perf_counter() - started)
        if budget is not None and len(out) >= 3 and time.perf_counter() - began > budget:
            break
    return out


def rss_mb(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def disk_mb(root: Path) -> float:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total / (1 << 20)


def lance_versions(root: Path) -> dict[str, int]:
    """Manifests per table folder (every Lance version not cleaned up)."""
    out = {}
    for table in sorted((root / "tables").glob("*.lance")):
        try:
            out[table.stem] = sum(n.endswith(".manifest") for n in os.listdir(table / "_versions"))
        except OSError:
            pass
    return out


def materialised_reader(lake):
    """The materialised native-DuckDB copy that exists in this checkout: its name, and a query runner
    that holds it."""
    try:
        from songlake.schema.materialized import Materialized
    except ImportError:
        from songlake.server.snapshot import Snapshot

        copy = Snapshot(lake)
        return "songlake.server.snapshot.Snapshot", lambda sql, params: copy.read(sql, params)
    copy = Materialized(lake)
    return "songlake.schema.materialized.Materialized", lambda sql, params: copy.run(sql, params=params)


# --- the workers ------------------------------------------------------------------------------

class Workers:
    """The worker processes and their Redis keys."""

    def __init__(self, root: Path, url: str, count: int, log_path: Path):
        import redis

        import _scale_worker

        self.name = f"songlake-scale-{uuid.uuid4().hex[:8]}"
        self.root, self.url, self.count = str(root), url, count
        self.r = redis.Redis.from_url(url)
        self.huey, self.task = _scale_worker.make_huey(self.name, url)
        self.r.set(f"{self.name}:pause", 1)  # they start paused; resume() lets them go
        self.log = open(log_path, "w")
        self.procs = [subprocess.Popen([sys.executable, str(HERE / "_scale_worker.py"), str(root), url, self.name, str(i)],
                                       stdout=self.log, stderr=subprocess.STDOUT) for i in range(count)]
        self.pause()

    def check(self) -> None:
        dead = [p.pid for p in self.procs if p.poll() is not None]
        if dead:
            raise SystemExit(f"worker processes {dead} died; see {self.log.name}")

    def pause(self) -> None:
        """Ask the workers to pause and wait until each has (it finishes its task and commit first)."""
        self.r.set(f"{self.name}:pause", 1)
        while self.r.scard(f"{self.name}:paused") < self.count:
            self.check()
            time.sleep(0.1)

    def resume(self) -> None:
        self.r.delete(f"{self.name}:pause")

    def run(self, seed: int, first: int, last: int, set_songs: int) -> list[dict]:
        """Queue songs first .. last-1 in sets, wait for every task; their results."""
        from huey.exceptions import ResultTimeout

        handles = [self.task(self.root, self.url, self.name, seed, start, min(set_songs, last - start))
                   for start in range(first, last, set_songs)]
        results = []
        for handle in handles:
            while True:
                try:
                    results.append(handle.get(blocking=True, timeout=5))
                    break
                except ResultTimeout:
                    self.check()
        return results

    def take(self, key: str) -> list[str]:
        items = [x.decode() for x in self.r.lrange(f"{self.name}:{key}", 0, -1)]
        self.r.delete(f"{self.name}:{key}")
        return items

    def rss(self) -> list[float]:
        return [rss_mb(p.pid) for p in self.procs]

    def stop(self) -> None:
        self.r.set(f"{self.name}:stop", 1)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.huey.flush()
        for key in self.r.scan_iter(f"{self.name}:*"):
            self.r.delete(key)
        self.log.close()


# --- one checkpoint ---------------------------------------------------------------------------

def measure(root: Path, rng: np.random.Generator, old_versions: tuple[int, int]) -> tuple[dict, list[str]]:
    """The read-side figures of the lake as it is now (nothing writes meanwhile)."""
    import lance

    from songlake.schema import Lake, Reader
    from songlake.schema.optimize import fragment_counts

    f, lines = {}, []
    f["open"] = timed(lambda: Lake.open(root), 30)
    lake = Lake.open(root)
    f["state"] = timed(lambda: lake.state(), 50)
    head = lake.version()
    low, high = old_versions
    olds = iter(rng.integers(low, min(high, head) + 1, size=60).tolist())
    f["state_old"] = timed(lambda: lake.state(next(olds)), 50)
    f["table"] = timed(lambda: lake.dataset("analysis"), 30)
    lines.append(f"Lake.open            {p50_95(f['open'])}")
    lines.append(f"lake.state()         {p50_95(f['state'])}")
    lines.append(f"lake.state(old)      {p50_95(f['state_old'])}   (random versions {low}..{min(high, head)})")
    lines.append(f"table at newest      {p50_95(f['table'])}   (lake.dataset('analysis'))")

    started = time.perf_counter()
    reader = Reader(lake)
    f["reader_open"] = time.perf_counter() - started
    f["refresh"] = timed(reader.refresh, 50)
    lines.append(f"Reader(lake)         {f['reader_open'] * 1000:8.1f} ms to open; refresh with nothing new {p50_95(f['refresh'])}")

    def slice_params() -> list:
        low_bpm = float(rng.uniform(60, 170))
        return [low_bpm, low_bpm + 10, int(rng.integers(1960, 2020))]

    rows = []
    f["slice_reader"] = timed(lambda: rows.append(reader.run(SLICE, params=slice_params()).num_rows), 20, budget=30)
    lines.append(f"slice, Reader        {p50_95(f['slice_reader'])}   ({len(f['slice_reader'])} runs, "
                 f"{np.mean(rows):.0f} rows each)")

    ids, matrix = _exact_embeddings(lance.dataset(lake.uri("embeddings"), version=reader.state.table_versions["embeddings"]))
    started = time.perf_counter()
    reader.vectors()
    f["index_load"] = time.perf_counter() - started
    queries = rng.choice(len(ids), size=min(60, len(ids)), replace=False).tolist()
    picks = iter(queries)
    found: list[list[str]] = []
    f["similar"] = timed(lambda: found.append([s for s, _ in reader.similar(ids[next(picks)], 10)]), 50)
    exact = [_exact_top(matrix, q, 10) for q in queries[:len(found)]]  # found[0] is the warm-up's
    f["recall"] = float(np.mean([len(set(got) & {ids[i] for i in want}) / 10 for got, want in zip(found, exact)]))
    lines.append(f"similar top-10       {p50_95(f['similar'])}   (index load {f['index_load'] * 1000:.0f} ms); "
                 f"recall@10 {f['recall']:.3f} over {len(found)} queries vs exact numpy")
    reader = None  # its DuckDB and vectors go before the copy is built
    gc.collect()

    started = time.perf_counter()
    which, read = materialised_reader(lake)
    f["mat_build"] = time.perf_counter() - started
    rows.clear()
    f["slice_mat"] = timed(lambda: rows.append(read(SLICE, slice_params()).num_rows), 50)
    lines.append(f"slice, materialised  {p50_95(f['slice_mat'])}   ({which}: built in {f['mat_build']:.1f} s; "
                 f"{np.mean(rows):.0f} rows each)")
    f["rss_peak_reads"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    read = None  # the copy (which it holds) goes before the next segment
    gc.collect()

    f["fragments"] = fragment_counts(lake)
    return f, lines


def _exact_embeddings(ds) -> tuple[list[str], np.ndarray]:
    table = ds.to_table(columns=["song_id", "embedding"])
    ids = table.column("song_id").to_pylist()
    values = table.column("embedding").combine_chunks().flatten().to_numpy()
    matrix = values.reshape(len(ids), -1).astype(np.float64)
    return ids, matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _exact_top(matrix: np.ndarray, query: int, k: int) -> list[int]:
    scores = matrix @ matrix[query]
    scores[query] = -np.inf
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])].tolist()


def commit_samples(lake, seed: int, first: int, samples: int, set_songs: int) -> dict:
    """Stage one set and commit it, samples times; the commit and compaction times."""
    import _scale_rows

    from songlake.schema import BatchWriter
    from songlake.schema.optimize import compact_small

    commits, compacts, merged = [], [], []
    for i in range(samples + 1):  # the first is a warm-up, not counted
        writer = BatchWriter(lake)
        start = first + i * set_songs
        _scale_rows.write_songs(writer, seed, start, set_songs)
        writer.stage("ingest", f"commit sample: synthetic songs {start}-{start + set_songs - 1}")
        started = time.perf_counter()
        version = lake.commit_staged(wait=True)
        if i:
            commits.append(time.perf_counter() - started)
        if version is None:
            raise SystemExit("commit_staged committed nothing for a staged set")
        started = time.perf_counter()
        done = compact_small(lake)
        took = time.perf_counter() - started
        if i:
            compacts.append(took)
        if done:
            merged.append((took, done))
    return {"commit": commits, "compact": compacts, "compactions": merged}


def checkpoint(lake, root: Path, workers: Workers, queue, args, have: int, size: int, rng, history: list[dict]) -> int:
    """Ingest up to size songs with the workers, then measure; returns the songs in the lake after."""
    from songlake.jobs import commit
    from songlake.schema.optimize import fragment_counts

    first_version = lake.version()
    workers.resume()
    started = time.perf_counter()
    results = workers.run(args.seed, have, size, args.set_songs)
    commit.flush(queue, lake)
    elapsed = time.perf_counter() - started
    workers.pause()
    commit.flush(queue, lake)  # anything an idle worker staged meanwhile (nothing, normally)
    rounds = [json.loads(x) for x in workers.take("commits")]
    errors = workers.take("errors")
    songs = size - have
    versions = lake.version() - first_version

    f, lines = measure(root, rng, (2, max(2, first_version)))
    f.update(size=size, songs_per_s=songs / elapsed if elapsed else float("nan"), versions=lake.version(),
             worker_commit=[r["commit_s"] for r in rounds], worker_compact=[r["compact_s"] for r in rounds if r["merged"]])
    samples = commit_samples(lake, args.seed, size, args.commit_samples, args.set_songs)
    f.update(commit=samples["commit"], compact=samples["compact"], disk_mb=disk_mb(root),
             compactions=f["worker_compact"] + [took for took, _ in samples["compactions"]])
    after = size + (args.commit_samples + 1) * args.set_songs

    print(f"\n== {size:,} songs: lake version {f['versions']} (load average {os.getloadavg()[0]:.1f}) ==", flush=True)
    print(f"ingest               {songs:,} songs in {elapsed:.1f} s: {f['songs_per_s']:.0f} songs/s "
          f"({args.workers} workers, {len(results)} tasks of <= {args.set_songs} songs; {versions} lake versions, "
          f"{songs / max(versions, 1):.0f} songs per version)")
    if results:
        print(f"  per task           rows made {np.median([r['rows_s'] for r in results]) * 1000:.0f} ms, "
              f"written and staged {np.median([r['stage_s'] for r in results]) * 1000:.0f} ms, "
              f"whole task {np.median([r['task_s'] for r in results]) * 1000:.0f} ms (medians)")
    if rounds:
        print(f"  worker commits     {len(rounds)} rounds: {p50_95(f['worker_commit'])}  max {ms(f['worker_commit'], 100):.0f} ms; "
              f"{len(f['worker_compact'])} compactions, p50 {ms(f['worker_compact'], 50):.0f} ms, "
              f"max {ms(f['worker_compact'], 100):.0f} ms")
    else:
        print("  worker commits     none: the segment's sets were all committed by the final flush")
    for r in rounds:
        if r["merged"]:
            print(f"  compaction         after version {r['version']}: {r['compact_s']:.1f} s, "
                  + ", ".join(f"{t} {a}->{b}" for t, (a, b) in r["merged"].items()))
    for line in lines:
        print(line)
    print(f"commit (one set)     {p50_95(f['commit'])}  max {ms(f['commit'], 100):.1f} ms   ({len(f['commit'])} "
          f"sets of {args.set_songs} songs after a warm-up one, lake {size:,} -> {after:,} songs); compact_small after each: "
          f"p50 {ms(f['compact'], 50):.1f} ms, max {ms(f['compact'], 100):.0f} ms ({len(samples['compactions'])} merged)")
    for took, done in samples["compactions"]:
        print(f"  compaction         {took:.1f} s, " + ", ".join(f"{t} {a}->{b}" for t, (a, b) in done.items()))
    print(f"lake versions        {lake.version()}")
    print("fragments            " + ", ".join(f"{t} {n}" for t, n in f["fragments"].items() if n))
    print("  after the samples  " + ", ".join(f"{t} {n}" for t, n in fragment_counts(lake).items() if n))
    print("table versions       " + ", ".join(f"{t} {n}" for t, n in lance_versions(root).items() if n > 2)
          + "   (Lance manifests kept per table)")
    worker_rss = workers.rss()
    print(f"memory               bench RSS {rss_mb():,.0f} MB (peak {f['rss_peak_reads']:,.0f} MB); workers "
          f"{np.mean(worker_rss):,.0f} MB each; lake on disk {f['disk_mb']:,.0f} MB", flush=True)
    if errors:
        print(f"COMMIT ERRORS from workers ({len(errors)}):")
        for e in errors[:5]:
            print("  " + e.replace("\n", "\n  "))
    f["errors"] = len(errors)
    history.append(f)
    return after


# --- the growth table -------------------------------------------------------------------------

ROWS = [  # label, key, how to reduce (a percentile, "one": a single time in s shown in ms, ...), unit, goal
    ("ingest songs/s", "songs_per_s", None, "/s", None),
    ("worker commit p50", "worker_commit", 50, "ms", None),
    ("worker commit p95", "worker_commit", 95, "ms", None),
    ("commit p50", "commit", 50, "ms", None),
    ("commit p95", "commit", 95, "ms", "ratio<=1.25"),
    ("compact_small p50", "compact", 50, "ms", None),
    ("largest compaction", "compactions", 100, "ms", None),
    ("Lake.open p50", "open", 50, "ms", None),
    ("Lake.open p95", "open", 95, "ms", "<=20"),
    ("state() p50", "state", 50, "ms", None),
    ("state() p95", "state", 95, "ms", "<=20"),
    ("state(old) p95", "state_old", 95, "ms", "<=20"),
    ("table open p95", "table", 95, "ms", None),
    ("Reader open", "reader_open", "one", "ms", None),
    ("Reader refresh p95", "refresh", 95, "ms", None),
    ("slice Reader p50", "slice_reader", 50, "ms", None),
    ("slice Reader p95", "slice_reader", 95, "ms", None),
    ("materialise build", "mat_build", None, "s", None),
    ("slice mat. p50", "slice_mat", 50, "ms", None),
    ("slice mat. p95", "slice_mat", 95, "ms", "<=30"),
    ("similar p50", "similar", 50, "ms", None),
    ("similar p95", "similar", 95, "ms", "<=20"),
    ("recall@10", "recall", None, "", ">=0.95"),
    ("lake versions", "versions", None, "", None),
    ("fragments (all)", "fragments", "sum", "", None),
    ("  originals", "fragments", "originals", "", None),
    ("  catalog", "fragments", "catalog", "", None),
    ("lake on disk", "disk_mb", None, "MB", None),
]


def value(f: dict, key: str, how) -> float:
    v = f[key]
    if how == "sum":
        return float(sum(v.values()))
    if how in ("originals", "catalog"):
        return float(v.get(how, 0))
    if how == "one":
        return float(v) * 1000
    if isinstance(how, int):
        return ms(v, how)
    return float(v)


def growth_table(history: list[dict]) -> None:
    sizes = [f"{f['size'] // 1000}K" if f["size"] >= 1000 else str(f["size"]) for f in history]
    print(f"\n== how each cost grows ({sizes[0]} -> {sizes[-1]} songs) ==")
    print(f"{'':20}" + "".join(f"{s:>10}" for s in sizes) + f"{'ratio':>9}  goal")
    for label, key, how, unit, goal in ROWS:
        values = [value(f, key, how) for f in history]
        known = [v for v in values if np.isfinite(v)]
        ratio = known[-1] / known[0] if len(known) > 1 and known[0] else float("nan")
        verdict = ""
        if goal == "ratio<=1.25":
            verdict = f"ratio <= 1.25: {'met' if ratio <= 1.25 else 'MISSED'}"
        elif goal and goal.startswith("<="):
            verdict = f"{goal} {unit}: {'met' if max(known) <= float(goal[2:]) else 'MISSED'}"
        elif goal and goal.startswith(">="):
            verdict = f"{goal}: {'met' if min(known) >= float(goal[2:]) else 'MISSED'}"
        digits = 3 if key == "recall" else 2 if unit == "s" else 1 if unit == "ms" else 0
        print(f"{label + (f' ({unit})' if unit else ''):20}"
              + "".join(f"{v:>10.{digits}f}" if np.isfinite(v) else f"{'-':>10}" for v in values)
              + (f"{ratio:>8.2f}x" if np.isfinite(ratio) else f"{'-':>9}") + f"  {verdict}")


# --- main -------------------------------------------------------------------------------------

def scale(args) -> None:
    from songlake.jobs.queue import Queue
    from songlake.schema import Lake

    import _scale_rows

    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes != sorted(sizes) or sizes[0] < args.set_songs:
        raise SystemExit("--sizes must increase, and the smallest must hold at least one set")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(args.keep).resolve() if args.keep else Path(tmp) / "lake"
        if root.exists():
            raise SystemExit(f"--keep {root}: already exists")
        lake = Lake.open(root, create=True)
        try:
            commit = subprocess.run(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"],
                                    capture_output=True, text=True).stdout.strip()
        except OSError:
            commit = "?"
        print(f"bench/scale.py at {commit}; {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), "
              f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / (1 << 30):.0f} GB memory")
        print(f"{args.workers} worker processes on Huey/Redis ({args.redis}); tasks of {args.set_songs} songs; "
              f"checkpoints {', '.join(f'{s:,}' for s in sizes)}; lake in {root}")
        print(_scale_rows.describe(args.seed), flush=True)
        queue = Queue.open(root, url=args.redis)
        workers = Workers(root, args.redis, args.workers, Path(tmp) / "workers.log")
        rng = np.random.default_rng(args.seed)
        history: list[dict] = []
        began = time.perf_counter()
        try:
            have = 0
            for size in sizes:
                if size <= have:
                    print(f"\n== {size:,} songs: skipped, the lake already has {have:,} (commit samples) ==")
                    continue
                have = checkpoint(lake, root, workers, queue, args, have, size, rng, history)
        finally:
            workers.stop()
            log = (Path(tmp) / "workers.log").read_text()
            if log.strip():
                print(f"\nworker log (last 3000 characters):\n{log[-3000:]}")
        print(f"\nwhole run {(time.perf_counter() - began) / 60:.1f} min")
        if len(history) > 1:
            growth_table(history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,50000,100000", help="checkpoints, in songs")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--set-songs", type=int, default=50, help="songs per task (one staged set)")
    parser.add_argument("--commit-samples", type=int, default=20)
    parser.add_argument("--redis", default="redis://127.0.0.1:6399/0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", default=None, help="where to make the temporary lake")
    parser.add_argument("--keep", default=None, metavar="LAKE", help="make the lake here (a new folder) and keep it")
    parser.add_argument("--pipeline", type=int, default=0, metavar="N",
                        help="instead: the whole pipeline on N short songs in 10 batches")
    parser.add_argument("--seconds", type=float, default=3.0, help="--pipeline: about how long each song is (2 bars at least)")
    parser.add_argument("--history", type=int, default=0, metavar="N",
                        help="instead: reads and commits as the history grows to N one-song versions")
    args = parser.parse_args()
    if args.history:
        import _scale_history

        _scale_history.run(args.history, args.dir, timed, p50_95, ms, lance_versions)
    elif args.pipeline:
        import _scale_pipeline

        _scale_pipeline.run(args.pipeline, args.seconds, args.dir)
    else:
        scale(args)


if __name__ == "__main__":
    main()
