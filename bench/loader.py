"""Training-clip throughput: the lake (SongClips) against a plain PyTorch Dataset over FLAC and WAV files.

    .venv/bin/python bench/loader.py [--songs 12] [--seconds 180] [--clips 400] [--workers 0 1 2]
                                     [--stem-codec flac] [--lake DIR] [--cache /tmp/songlake-bench-loader]
                                     [--quick]

1. The lake: ``--songs`` synthesised songs of ``--seconds`` each (320 kbps MP3, ID3 title, artist
   and genre), ingested for real by ``songlake.jobs.batch.ingest(lake, files, workers=2)`` with
   ``SONGLAKE_DEMUCS_MODEL=demucs_unittest``: Demucs' tiny untrained test model runs the real
   stems pipeline (parts of the right shape; their content does not matter for loading speed),
   parts in FLAC or, with ``--stem-codec wav``, WAV (``SONGLAKE_STEM_CODEC``). The lake is cached
   under ``--cache`` and reused by later runs (the first full build takes about 6 minutes on 2
   cores, most of it ingest's analysis). ``--lake`` reads an existing lake instead: its songs
   with stems (picking them stores the default split scheme there if it is not yet, as any
   training run does).
2. The baseline: each song's mix (the lake's original, decoded) and four stems written once as
   16-bit FLAC and 16-bit WAV files, one file per track per song, in a folder beside the lake.
   Prints the bytes on disk of each baseline and of the lake's ``originals`` + ``stems`` tables.
3. Clips per second of 10 s stereo 44.1 kHz clips at seeded random starts (every clip a random
   draw of a song and a start, the same clips for every source), through a DataLoader with batch
   size 8 and each of ``--workers`` workers (spawn context, as the DataModule uses), for
   ``--clips`` clips or ``--max-seconds``, whichever comes first. Worker start-up is not timed:
   the first batch of each worker is taken before the clock starts. Sources: the lake through
   songlake's own ``SongClips`` (songs from ``songlake.trainer.selection.select``), mix only and
   mix + 4 stems, no conditioning, plus one single-worker run with all conditioning; a plain
   ``torch.utils.data.Dataset`` reading the same clips with soundfile (open, seek, read 10 s)
   from the FLAC files, and from the WAV files. Each run is its own process, so its peak RSS
   (the main process's; workers' separately) is its own. The page cache is warm for every
   source: this measures decoding and the read path, not a cold disk.
4. A table (source, tracks, workers, clips/s, x real time = clips/s * 10 s, MB/s of float32
   samples delivered, peak RSS), the lake / files ratios, then what one GPU needs.

What one GPU needs (an assumption, not a measurement): a MusicGen-small-sized model, a
300 M-parameter transformer over 50 Hz codec frames (Copet et al. 2023 trained it on 32 GPUs at
batch 192 of 30 s crops and publish no step time), costs about 6 x 300e6 x 500 frames = 0.9 TFLOP
to train on one 10 s clip. One H100 (~990 TFLOP/s dense bf16) at 25 % utilisation would do about
275 clips/s for the transformer alone; with the frozen codec's encoding, the text encoder and the
optimizer step on top we assume 10 steps/s at batch 16, i.e. 160 clips/s (``--gpu-steps``,
``--gpu-batch``). A model taking mix + 4 stems (stem-aware generation or separation of similar
size) is assumed to consume the same clips per second; each clip then carries five tracks. The
workers needed are ceil(needed / clips per second of one worker), from the single-worker run on
this machine's cores; a worker is one busy core.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _loader_files, also in spawned workers

CLIP_SECONDS = 10.0
SAMPLE_RATE = 44100
STEMS = ("vocals", "drums", "bass", "other")
ALL_CONDITIONING = ("key", "bpm", "genre", "chords", "sections", "beats", "downbeats")
ARTISTS = ("Ada Lovelace", "The Babbage Engines", "Curie", "Noether", "Hopper", "Turing")
GENRES = ("Rock", "Pop", "Jazz", "Electronic", "Folk", "Funk")


# --- 1. the lake ------------------------------------------------------------------------------------

def make_songs(folder: Path, count: int, seconds: float) -> list[Path]:
    """Tagged 320 kbps MP3s of about ``seconds`` each (made once; kept in the cache)."""
    from songlake import synth

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"song{i:03d}.mp3"
        if not path.exists():
            bpm = 80 + (i * 17) % 90
            spec = synth.SongSpec(tonic=synth.PITCH_CLASSES[(i * 5) % 12], mode="major" if i % 3 else "minor",
                                  bpm=bpm, degrees=((1, 5, 6, 4), (1, 4, 5, 1), (6, 4, 1, 5))[i % 3],
                                  bars=max(1, round(seconds / (240.0 / bpm))), seed=i)
            partial = path.with_suffix(".partial")
            partial.write_bytes(synth.encode(synth.render_song(spec).samples, "mp3"))
            synth.tag_id3(partial, title=f"Song {i}", artist=ARTISTS[i % len(ARTISTS)],
                          genre=GENRES[i % len(GENRES)])
            os.replace(partial, path)
        paths.append(path)
    return paths


def build_lake(cache: Path, count: int, seconds: float, codec: str) -> Path:
    """The cached lake of ``count`` songs of ``seconds`` with stems in ``codec`` parts: built and
    ingested the first time."""
    from songlake.jobs.batch import ingest
    from songlake.schema import Lake

    root = cache / f"lake-{count}x{seconds:g}s{'' if codec == 'flac' else '-' + codec}"
    manifest = root.with_name(root.name + ".json")
    if manifest.exists():
        print(f"lake: reusing {root} ({count} songs of {seconds:g} s, built earlier)")
        return root
    started = time.perf_counter()
    music = make_songs(cache / f"music-{seconds:g}s", count, seconds)
    made = time.perf_counter() - started
    os.environ["SONGLAKE_DEMUCS_MODEL"] = "demucs_unittest"
    os.environ["SONGLAKE_STEM_CODEC"] = codec  # the ingest workers inherit both
    started = time.perf_counter()
    lake = Lake.open(root, create=True)
    report = ingest(lake, music, workers=2)
    took = time.perf_counter() - started
    done = report.of("ingested") + report.of("present")
    if len(done) != count:
        raise SystemExit(f"ingest took {len(done)} of {count} songs: {report.of('refused')}")
    manifest.write_text(json.dumps({"songs": count, "seconds": seconds, "version": lake.version()}))
    print(f"lake: built {root}: {count} songs of {seconds:g} s synthesised in {made:.0f} s, ingested "
          f"(analysis + demucs_unittest stems) in {took:.0f} s with 2 workers "
          f"({report.audio_seconds / max(took, 1e-9):.1f}x real time)")
    return root


def pick_songs(root: Path, store: Path) -> tuple[int, list[dict], str]:
    """The lake's songs with stems, via select(), at the version after their split is stored, and
    the codec of their stem parts. Saved to ``store`` (a pickle) for the measuring processes,
    which then never write."""
    from songlake.schema import Lake
    from songlake.schema.stems import current_runs
    from songlake.trainer.selection import select

    lake = Lake.open(root)
    select(lake)  # stores the default split scheme once (a commit the first time)
    selection = select(lake, version=lake.version())
    songs = [s for s in selection.songs if s.get("stems_status") == "done"]
    if not songs:
        raise SystemExit(f"the lake at {root} has no songs with stems (stems_status = 'done')")
    store.write_bytes(pickle.dumps((selection.version, songs)))
    runs = current_runs(lake, lake.state(selection.version), songs[0]["song_id"])
    return selection.version, songs, runs[STEMS[0]][0]["codec"]


# --- 3. one measurement, in its own process --------------------------------------------------------

def dataset(spec: dict):
    version, songs = pickle.loads(Path(spec["songs"]).read_bytes())
    stems = STEMS if spec["tracks"] == 5 else ()
    if spec["source"] == "lake":
        from songlake.trainer.audio import LakeAudio
        from songlake.trainer.dataset import SongClips

        return SongClips(LakeAudio(spec["lake"], version), songs, clip_seconds=CLIP_SECONDS, sample_rate=SAMPLE_RATE,
                         mix=True, stems=stems, conditioning=ALL_CONDITIONING if spec["conditioning"] else (),
                         random_start=True)
    from _loader_files import FileClips

    return FileClips(Path(spec["files"]), spec["source"], songs, mix=True, stems=stems,
                     clip_seconds=CLIP_SECONDS, sample_rate=SAMPLE_RATE, random_start=True)


def child(spec: dict) -> None:
    import torch
    from songlake.trainer.dataset import collate
    from torch.utils.data import DataLoader, RandomSampler

    torch.manual_seed(spec["seed"])  # the starts drawn in this process (0 workers)
    data = dataset(spec)
    workers, batch = spec["workers"], spec["batch"]
    warm = max(1, workers)  # one batch from each worker: start-up and first opens are not timed
    sampler = RandomSampler(data, replacement=True, num_samples=(warm + math.ceil(spec["clips"] / batch)) * batch,
                            generator=torch.Generator().manual_seed(spec["seed"]))
    loader = DataLoader(data, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate,
                        multiprocessing_context="spawn" if workers else None,
                        generator=torch.Generator().manual_seed(spec["seed"] + 1))  # the workers' seeds
    batches = iter(loader)
    started = time.perf_counter()
    for _ in range(warm):
        next(batches)
    startup = time.perf_counter() - started
    clips, digest = 0, hashlib.sha256()
    started = time.perf_counter()
    for got in batches:
        clips += len(got["info"])
        digest.update(json.dumps([(i["song_id"], round(i["start"], 4)) for i in got["info"]]).encode())
        if clips >= spec["clips"] or time.perf_counter() - started > spec["max_seconds"]:
            break
    wall = time.perf_counter() - started
    worker_peaks = [peak_rss_mb(w.pid) for w in getattr(batches, "_workers", [])]
    print(json.dumps({"clips": clips, "wall_s": wall, "startup_s": startup, "digest": digest.hexdigest()[:12],
                      "peak_rss_mb": peak_rss_mb(os.getpid()), "workers_rss_mb": max(worker_peaks, default=0.0)}))


def peak_rss_mb(pid: int) -> float:
    """A process's peak RSS (VmHWM). Not getrusage: on Linux ru_maxrss survives exec, so a child
    would report its parent's peak at the fork."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(spec: dict) -> dict | None:
    run = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=False,
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(f"  {spec['source']} {spec['tracks']} tracks {spec['workers']} workers failed: "
              f"{(run.stderr.strip().splitlines() or ['?'])[-1]}", flush=True)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


# --- 4. the report ---------------------------------------------------------------------------------

def label(spec: dict) -> str:
    return spec["source"] + (" +cond" if spec["conditioning"] else "")


def print_row(spec: dict, r: dict) -> None:
    rate = r["clips"] / r["wall_s"]
    mb_s = rate * spec["tracks"] * 2 * round(CLIP_SECONDS * SAMPLE_RATE) * 4 / 1e6
    tracks = "mix" if spec["tracks"] == 1 else "mix+4"
    print(f"{label(spec):<11} {tracks:>6} {spec['workers']:>7} {rate:>8.1f} {rate * CLIP_SECONDS:>8.0f} "
          f"{mb_s:>8.0f} {r['peak_rss_mb']:>9.0f} {r['workers_rss_mb'] or 0:>10.0f} {r['clips']:>6} "
          f"{r['startup_s']:>7.1f}  {r['digest']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=12, help="songs in the built lake")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of each built song (>= 60 s is realistic)")
    parser.add_argument("--lake", help="read this existing lake instead of building one")
    parser.add_argument("--cache", default="/tmp/songlake-bench-loader", help="where the built lake and songs are kept")
    parser.add_argument("--clips", type=int, default=400, help="clips timed per run")
    parser.add_argument("--stem-codec", choices=("flac", "wav"), default="flac",
                        help="codec of the built lake's stem parts (SONGLAKE_STEM_CODEC at ingest)")
    parser.add_argument("--max-seconds", type=float, default=45.0, help="a run stops after this long")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader workers to try")
    parser.add_argument("--batch", type=int, default=8, help="DataLoader batch size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpu-steps", type=float, default=10.0, help="assumed training steps/s on one GPU")
    parser.add_argument("--gpu-batch", type=int, default=16, help="assumed clips per training step")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 songs of 60 s, 40 clips")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.quick:
        args.songs, args.seconds, args.clips = 2, 60.0, 40
    from _loader_files import FORMATS, bytes_under, write_files
    from songlake.trainer.audio import LakeAudio

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    root = Path(args.lake).resolve() if args.lake else build_lake(cache, args.songs, args.seconds, args.stem_codec)
    files = root.with_name(root.name + "-files")
    store = files / "songs.pickle"
    files.mkdir(parents=True, exist_ok=True)
    version, songs, codec = pick_songs(root, store)
    minutes = sum(s["duration"] for s in songs) / 60
    print(f"lake {root} at version {version}: {len(songs)} songs with stems, {minutes:.1f} min of audio, "
          f"{sum(max(1, math.floor(s['duration'] / CLIP_SECONDS)) for s in songs)} clip slots of {CLIP_SECONDS:g} s")

    started = time.perf_counter()
    if write_files(LakeAudio(root, version), [s["song_id"] for s in songs], files):
        print(f"baseline files written to {files} in {time.perf_counter() - started:.0f} s")
    tables = root / "tables"
    originals, stems = bytes_under(tables / "originals.lance"), bytes_under(tables / "stems.lance")
    formats = "/".join(sorted({s["format"] for s in songs}))
    rows = [(f"lake: originals ({formats}) + stems ({codec} parts)", originals, stems)]
    for fmt in FORMATS:
        mix, everything = bytes_under(files / fmt, f"mix.{fmt}"), bytes_under(files / fmt)
        rows.append((f"files: 16-bit {fmt.upper()}, one per track", mix, everything - mix))
    print(f"\n{f'bytes on disk ({len(songs)} songs)':<46}{'mix':>9}{'4 stems':>9}{'total':>9}")
    for name, mix, four in rows:
        print(f"  {name:<44}{mix / 1e6:>9.1f}{four / 1e6:>9.1f}{(mix + four) / 1e6:>9.1f} MB")

    print(f"\n{CLIP_SECONDS:g} s stereo clips at {SAMPLE_RATE} Hz, random starts (seed {args.seed}), "
          f"batch {args.batch}, up to {args.clips} clips or {args.max_seconds:g} s a run; {os.cpu_count()} CPU cores")
    print(f"{'source':<11} {'tracks':>6} {'workers':>7} {'clips/s':>8} {'x real':>8} {'MB/s':>8} "
          f"{'RSS MB':>9} {'worker MB':>10} {'clips':>6} {'start s':>7}  clips digest")
    base = {"lake": str(root), "files": str(files), "songs": str(store), "clips": args.clips, "batch": args.batch,
            "max_seconds": args.max_seconds, "seed": args.seed, "conditioning": False}
    results: dict[tuple, float] = {}
    for tracks in (1, 5):
        for source in ("lake", "flac", "wav"):
            for workers in args.workers:
                spec = base | {"source": source, "tracks": tracks, "workers": workers}
                r = measure(spec)
                if r:
                    print_row(spec, r)
                    results[source, tracks, workers] = r["clips"] / r["wall_s"]
        if tracks == 1:
            spec = base | {"source": "lake", "tracks": tracks, "workers": 1 if 1 in args.workers else args.workers[0],
                           "conditioning": True}
            r = measure(spec)
            if r:
                print_row(spec, r)
                results["lake+cond", tracks, spec["workers"]] = r["clips"] / r["wall_s"]
    print("(the same clips digest: the same songs and starts were read; 'worker MB': the largest worker's peak RSS)")

    print("\nlake / files (clips per second)")
    for tracks in (1, 5):
        for workers in args.workers:
            lake = results.get(("lake", tracks, workers))
            ratios = [f"vs {fmt.upper()} {lake / results[fmt, tracks, workers]:.2f}x" for fmt in FORMATS
                      if lake and (fmt, tracks, workers) in results]
            print(f"  {'mix' if tracks == 1 else 'mix+4':<6} {workers} workers: {', '.join(ratios) or '-'}")

    needed = args.gpu_steps * args.gpu_batch
    print(f"\nwhat one GPU needs (assumption, see the docstring): {args.gpu_steps:g} steps/s x batch {args.gpu_batch} "
          f"= {needed:.0f} clips/s of {CLIP_SECONDS:g} s ({needed * CLIP_SECONDS / 60:.0f} min of audio a second)")
    for tracks in (1, 5):
        for source in ("lake", "flac", "wav"):
            one = results.get((source, tracks, 1))
            if one:
                print(f"  {'mix' if tracks == 1 else 'mix+4':<6} {source:<5} {one:7.1f} clips/s per worker -> "
                      f"{math.ceil(needed / one):3d} workers (busy cores) to keep the GPU fed")
    print(f"  (a worker's rate holds while it has a core to itself; this machine has {os.cpu_count()}: the rows "
          f"with more workers above show how far it scales here)")


if __name__ == "__main__":
    main()
