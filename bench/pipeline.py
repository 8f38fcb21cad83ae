"""End-to-end pipeline throughput: songs per hour through every stage, for 1..N workers.

    .venv/bin/python bench/pipeline.py                    # 12 songs of 60 s, 1 and 2 workers
    .venv/bin/python bench/pipeline.py --songs 24 --seconds 180 --workers 1 2 4
    .venv/bin/python bench/pipeline.py --model htdemucs   # with real weights installed

Each run ingests the same synthesised MP3s into a fresh lake through the embedded queue (Huey
on SQLite, worker processes started by ``ingest``), so it measures the whole path: queueing,
decoding, quality, embedding, separation, analysis, genre, and every Lance commit. The
separation model is demucs' tiny test model by default (this machine has no weights and no
GPU); the real htdemucs' separation throughput is bench/separate.py's. Prints songs per hour,
multiples of real time, and the scaling from the first worker count to each other.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_songs(folder: Path, count: int, seconds: float) -> float:
    from songlake import synth

    keys = synth.PITCH_CLASSES
    total = 0.0
    for i in range(count):
        bpm = 90 + (i * 7) % 60
        bars = max(2, int(seconds / (4 * 60 / bpm)))
        rendered = synth.render_song(synth.SongSpec(tonic=keys[i % 12], bpm=bpm, degrees=(1, 6, 4, 5), bars=bars, seed=i))
        (folder / f"song{i:03d}.mp3").write_bytes(synth.encode(rendered.samples, "mp3"))
        total += rendered.samples.shape[-1] / synth.SAMPLE_RATE
    return total


def run(folder: Path, workers: int, stems: bool) -> float:
    from songlake.jobs import ingest
    from songlake.schema import Lake

    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake.open(Path(tmp) / "lake", create=True)
        started = time.perf_counter()
        report = ingest(lake, [folder], workers=workers, separate=stems)
        elapsed = time.perf_counter() - started
        if len(report.of("ingested")) != len(report.outcomes):
            raise SystemExit(f"not every song landed: {[(o.path, o.detail) for o in report.outcomes if o.status != 'ingested']}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--model", default="demucs_unittest", help="Demucs model for the separate stage")
    parser.add_argument("--no-stems", action="store_true", help="skip the separate stage")
    args = parser.parse_args()
    os.environ["SONGLAKE_DEMUCS_MODEL"] = args.model

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "songs"
        folder.mkdir()
        audio = make_songs(folder, args.songs, args.seconds)
        print(f"{args.songs} songs, {audio / 60:.1f} min of audio; stems: {'off' if args.no_stems else args.model}; "
              f"{os.cpu_count()} CPUs")
        print(f"{'workers':>8} {'seconds':>8} {'songs/hour':>11} {'x real time':>12} {'scaling':>8}")
        base = None
        for workers in args.workers:
            elapsed = run(folder, workers, not args.no_stems)
            per_hour = args.songs / elapsed * 3600
            base = base or per_hour
            print(f"{workers:>8} {elapsed:>8.1f} {per_hour:>11.0f} {audio / elapsed:>11.1f}x {per_hour / base:>7.2f}x")


if __name__ == "__main__":
    main()
