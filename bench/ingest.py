"""Ingest throughput and memory on generated 3-minute songs.

    .venv/bin/python bench/ingest.py [--songs 4 12] [--seconds 180] [--workers 1]

Prints, per batch size: songs, audio minutes, wall time, throughput as a multiple of real time
per core, and the process's peak memory (each batch runs in its own process so the peaks are
comparable; flat memory means the peak does not grow with the batch). Then the time each stage
takes on one song. Songs are synthesised 320 kbps MP3s with drums, bass, chords and melody.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from songlake import synth


def make_songs(folder: Path, count: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"song{i:03d}.mp3"
        if not path.exists():
            tonic = synth.PITCH_CLASSES[(i * 5) % 12]
            bpm = 80 + (i * 17) % 90
            bars = round(seconds / (240.0 / bpm))
            song = synth.render_song(synth.SongSpec(tonic, "major" if i % 3 else "minor", bpm, bars=bars, seed=i))
            path.write_bytes(synth.encode_mp3(song.samples, song.sample_rate, 320))
        paths.append(path)
    return paths


def child(folder: Path, count: int, workers: int) -> None:
    from songlake.jobs import ingest
    from songlake.schema import Lake

    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake.open(Path(tmp) / "lake", create=True)
        files = sorted(folder.glob("*.mp3"))[:count]
        started = time.perf_counter()
        report = ingest(lake, files, workers=workers)
        wall = time.perf_counter() - started
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"songs": len(report.of("ingested")), "audio_s": report.audio_seconds, "wall_s": wall,
                      "peak_mb": max(peak_self, peak_children)}))


def stages(path: Path, warm_up: Path) -> dict[str, float]:
    """Seconds each stage of ingest takes on one song, after warming every stage up on another
    song (a different one: the chord stage caches its spectrogram per signal)."""
    from songlake.udfs.audio import decode, song_id
    from songlake.udfs.beats import track_beats
    from songlake.udfs.chords import recognize_chords
    from songlake.udfs.embedding import embed
    from songlake.udfs.key import detect_key
    from songlake.udfs.quality import assess
    from songlake.udfs.rhythm import rhythm_profile
    from songlake.udfs.sections import segment
    from songlake.udfs.tags import read_tags
    from songlake.udfs.theory import harmonic_analysis

    def run_all(audio, timings):
        def timed(name, fn):
            started = time.perf_counter()
            out = fn()
            timings[name] = time.perf_counter() - started
            return out

        timed("song_id", lambda: song_id(audio))
        timed("tags", lambda: read_tags(data))  # the song being timed
        timed("quality", lambda: assess(audio))
        mono = audio.mono
        timed("embedding", lambda: embed(mono))
        beats = timed("beats", lambda: track_beats(mono))
        timed("rhythm", lambda: rhythm_profile(mono, 44100, beats))
        chords = timed("chords", lambda: recognize_chords(mono, 44100, beats.beats, beats.downbeats))
        key = timed("key", lambda: detect_key(mono, 44100, chords=chords))
        sections = timed("sections", lambda: segment(mono, 44100, beats.beats, beats.downbeats, chords=chords.spans))
        timed("theory", lambda: harmonic_analysis(chords.spans, key.name, beats.beats, beats.downbeats, sections.spans))

    data = warm_up.read_bytes()
    run_all(decode(data), {})  # imports, filter banks
    data = path.read_bytes()
    started = time.perf_counter()
    audio = decode(data)
    timings = {"decode": time.perf_counter() - started}
    run_all(audio, timings)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "songlake-bench-songs")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = args.folder / f"{int(args.seconds)}s"
    if args.child is not None:
        child(folder, args.child, args.workers)
        return

    print(f"generating up to {max(args.songs)} songs of {args.seconds:.0f} s in {folder} ...", flush=True)
    paths = make_songs(folder, max(args.songs), args.seconds)
    print(f"\ningest, {args.workers} worker(s):")
    print(f"{'songs':>6} {'audio min':>10} {'wall s':>8} {'x real time':>12} {'x per core':>11} {'peak MB':>8}")
    for count in args.songs:
        out = subprocess.run([sys.executable, __file__, "--child", str(count), "--workers", str(args.workers),
                              "--seconds", str(args.seconds), "--folder", str(args.folder)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        speed = r["audio_s"] / r["wall_s"]
        print(f"{r['songs']:>6} {r['audio_s'] / 60:>10.1f} {r['wall_s']:>8.1f} {speed:>12.1f} "
              f"{speed / args.workers:>11.1f} {r['peak_mb']:>8.0f}")
    timings = stages(paths[0], paths[1])
    total = sum(timings.values())
    print(f"\nstages on one {args.seconds:.0f} s song (one core): " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    print(f"total {total:.2f} s = {args.seconds / total:.0f}x real time")


if __name__ == "__main__":
    main()
