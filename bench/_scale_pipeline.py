"""bench/scale.py --pipeline N: the whole pipeline (ingest and analysis, no stems) on N short songs.

N generated songs of about 4 s (songlake.synth: two bars at 132-188 bpm, 12 tonics, major and
minor, five progressions, a seed each, so every song's audio differs) are ingested into one lake
in ten equal batches with ``songlake.jobs.ingest(lake, [folder], workers=1, separate=False)``, the
embedded default of ``songlake ingest --no-stems --workers 1``. Each batch's per-song wall time
shows whether a song costs more as the lake grows: the goal is last 10 % / first 10 % <= 1.15.
A few songs are ingested into a throwaway lake first, so the first batch does not also pay for
the process's imports and first model loads. The ``genre refit`` column says whether the batch
ended with a full genre refit (jobs/genre.py refits when the collection has grown 1.25x since the
last one, so with ten equal batches the refits typically follow batches 1-5, 7 and 9): a refit adds its
debounce delay and a fit over the whole collection to its batch.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BATCHES = 10
PROGRESSIONS = ((1, 5, 6, 4), (1, 6, 4, 5), (2, 5, 1, 1), (1, 4, 5, 1), (6, 4, 1, 5))


def make_song(path: str, i: int, seconds: float) -> float:
    """Render and encode song i as an MP3 at path; its length in seconds."""
    from songlake import synth

    bpm = 132 + (i * 7) % 57
    bars = max(2, round(seconds / (4 * 60 / bpm)))
    spec = synth.SongSpec(tonic=synth.PITCH_CLASSES[i % 12], mode=("major", "minor")[(i // 12) % 2], bpm=bpm,
                          degrees=PROGRESSIONS[(i // 24) % len(PROGRESSIONS)], bars=bars, seed=i)
    rendered = synth.render_song(spec)
    Path(path).write_bytes(synth.encode(rendered.samples, "mp3"))
    return rendered.samples.shape[-1] / synth.SAMPLE_RATE


WARMUP = 5


def run(songs: int, seconds: float = 3.0, keep: str | None = None) -> None:
    if songs < BATCHES:
        raise SystemExit(f"--pipeline needs at least {BATCHES} songs")
    if songs % BATCHES:
        print(f"--pipeline {songs}: ingesting {songs - songs % BATCHES}, ten equal batches")
    os.environ.pop("SONGLAKE_QUEUE", None)  # the embedded default: Huey on SQLite in the lake
    with tempfile.TemporaryDirectory(dir=keep) as tmp:
        folders = [Path(tmp) / f"batch{b:02d}" for b in range(BATCHES)]
        warmup = Path(tmp) / "warmup"
        for folder in folders + [warmup]:
            folder.mkdir()
        per = songs // BATCHES
        jobs = [(str(folders[i // per] / f"song{i:05d}.mp3"), i, seconds) for i in range(per * BATCHES)]
        jobs += [(str(warmup / f"song{i:05d}.mp3"), i, seconds) for i in range(per * BATCHES, per * BATCHES + WARMUP)]
        started = time.perf_counter()
        with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")) as pool:
            audio = sum(pool.map(make_song, *zip(*jobs), chunksize=16))
        print(f"generated {len(jobs):,} songs ({audio / len(jobs):.1f} s each on average) in "
              f"{time.perf_counter() - started:.0f} s; {BATCHES} batches of {per} (and {WARMUP} to warm up)", flush=True)
        _warm_up(Path(tmp) / "warmup-lake", warmup)
        _ingest_batches(Path(tmp) / "lake", folders, per)


def _warm_up(root: Path, folder: Path) -> None:
    from songlake.jobs import ingest
    from songlake.schema import Lake

    started = time.perf_counter()
    ingest(Lake.open(root, create=True), [folder], workers=1, separate=False)
    print(f"warm-up: {WARMUP} songs into a throwaway lake in {time.perf_counter() - started:.1f} s", flush=True)


def _ingest_batches(root: Path, folders: list[Path], per: int) -> None:
    from songlake.jobs import ingest
    from songlake.schema import Lake
    from songlake.schema.optimize import fragment_counts

    lake = Lake.open(root, create=True)
    print(f"{'batch':>5} {'songs':>6} {'seconds':>8} {'s/song':>7} {'ingested':>9} {'lake version':>13} "
          f"{'versions added':>15} {'fragments':>10} {'genre refit':>12}", flush=True)
    per_song, refits = [], []
    for number, folder in enumerate(folders, 1):
        first = lake.version()
        started = time.perf_counter()
        report = ingest(lake, [folder], workers=1, separate=False)
        elapsed = time.perf_counter() - started
        landed = len(report.of("ingested"))
        per_song.append(elapsed / per)
        frags = fragment_counts(lake)
        added = lake.history(lake.version() - first)
        refits.append(any(v.kind == "genre" and "refitted" in v.message for v in added))
        print(f"{number:>5} {per:>6} {elapsed:>8.1f} {elapsed / per:>7.3f} {landed:>9} {lake.version():>13} "
              f"{len(added):>15} {sum(frags.values()):>10} {'yes' if refits[-1] else 'no':>12}", flush=True)
        if landed != per:
            others = [(Path(o.path).name, o.status, o.detail) for o in report.outcomes if o.status != "ingested"][:5]
            print(f"      not ingested: {per - landed} (first: {others})")
    ratio = per_song[-1] / per_song[0]
    print(f"per-song wall time: first 10 % {per_song[0]:.3f} s, last 10 % {per_song[-1]:.3f} s: "
          f"ratio {ratio:.2f} (goal <= 1.15: {'met' if ratio <= 1.15 else 'MISSED'})")
    if refits[0] != refits[-1]:
        same = [i for i in range(len(refits)) if refits[i] == refits[0]][-1]
        print(f"  the first batch {'had' if refits[0] else 'had no'} a genre refit and the last "
              f"{'had' if refits[-1] else 'had none'}; batch {same + 1} is the last like the first: "
              f"{per_song[same]:.3f} s/song, ratio to the first {per_song[same] / per_song[0]:.2f}")
    print(f"lake versions: {lake.version()}")
    print("fragments per table: " + ", ".join(f"{t} {n}" for t, n in fragment_counts(lake).items()))
