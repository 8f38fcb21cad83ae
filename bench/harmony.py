"""Chords and key against the ground-truth corpus, given the true beats or the tracked ones.

    .venv/bin/python bench/harmony.py [--size small|full] [--corpus build/corpus] [--beats truth|tracked]

With ``--beats truth`` (the default) the chord recogniser gets the corpus's written beat and
downbeat grid, so its figures do not depend on the beat tracker; ``--beats tracked`` runs
beats.track_beats first, as the pipeline does. Prints per song and for the corpus: weighted chord
symbol recall at the root, majmin and sevenths levels (mir_eval, pooled over the corpus by
duration, see _scores), the key's mir_eval weighted score given the recognised chords and from
the audio alone, the majmin recall per style, and the seconds that chords and key take per
3-minute song (CPU time of this process).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _scores as scores  # noqa: E402

from songlake.corpus import build_corpus  # noqa: E402
from songlake.udfs.audio import decode  # noqa: E402
from songlake.udfs.chords import recognize_chords  # noqa: E402
from songlake.udfs.key import detect_key  # noqa: E402

LEVELS = ("root", "majmin", "sevenths")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"), help="where the corpus is cached")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beats", default="truth", choices=("truth", "tracked"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    pooled = {level: [0.0, 0.0] for level in LEVELS}
    by_style: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    key_scores, key_audio_scores = [], []
    cpu = {"chords": 0.0, "key": 0.0}
    seconds = 0.0
    for song in build_corpus(args.corpus, args.size, args.seed):
        truth = song.truth
        audio = decode(song.audio_path.read_bytes())
        mono = audio.mono
        beats, downbeats = truth.beats, truth.downbeats
        if args.beats == "tracked":
            from songlake.udfs.beats import track_beats

            tracked = track_beats(mono, audio.sample_rate)
            beats, downbeats = tracked.beats, tracked.downbeats
        started = time.process_time()
        chords = recognize_chords(mono, audio.sample_rate, beats, downbeats)
        cpu["chords"] += time.process_time() - started
        started = time.process_time()
        key = detect_key(mono, audio.sample_rate, chords)
        cpu["key"] += time.process_time() - started
        key_alone = detect_key(mono, audio.sample_rate)
        seconds += audio.duration

        wcsr = scores.chord_wcsr(truth.chords, [(s.start, s.end, s.label) for s in chords.spans], audio.duration)
        for level, (score, weight) in wcsr.items():
            pooled[level][0] += score * weight
            pooled[level][1] += weight
        by_style[truth.style][0] += wcsr["majmin"][0] * wcsr["majmin"][1]
        by_style[truth.style][1] += wcsr["majmin"][1]
        key_scores.append(scores.key_weighted(truth.key, key.name))
        key_audio_scores.append(scores.key_weighted(truth.key, key_alone.name))
        levels = "  ".join(f"{level} {wcsr[level][0]:.3f}" for level in LEVELS)
        print(f"  {song.name:30s} key {key.name} ({key.confidence:.2f}; true {truth.key}; "
              f"audio alone {key_alone.name})  {levels}")

    print(f"\n{len(key_scores)} songs ({args.size}), {args.beats} beats")
    for level in LEVELS:
        total, weight = pooled[level]
        print(f"chord {level:9s} WCSR {total / weight:.4f}")
    print(f"key weighted score {np.mean(key_scores):.4f} (with the chords)  "
          f"{np.mean(key_audio_scores):.4f} (audio alone)")
    print("majmin per style: " + "  ".join(f"{style} {t / w:.3f}" for style, (t, w) in sorted(by_style.items())))
    print("seconds per 3-minute song (CPU): " + "  ".join(f"{k} {v / seconds * 180:.3f}" for k, v in cpu.items()))


if __name__ == "__main__":
    main()
