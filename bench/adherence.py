"""Adherence on the ground-truth corpus: does udfs.adherence tell a song that follows its
conditioning from one that does not?

    .venv/bin/python bench/adherence.py [--size small|drumless|full] [--corpus build/corpus] [--seed 0]

Each corpus song stands in for a model's generation whose conditioning is the song's truth
(key, bpm, chords, sections: written before the audio was rendered). jobs.analyze.analyze_audio
reads the audio, and udfs.adherence.score_adherence scores it against five conditionings: the
truth itself, and four that the song does not follow:

- bpm x 1.25 (tempo_acc1 and beat_f should fall);
- key and chords transposed up 3 semitones (key_weighted and chord_majmin should fall);
- chord labels shuffled over the same times (chord_majmin should fall);
- section boundaries moved 5 s earlier (section_f should fall).

It prints, per conditioning, the mean of each metric over the songs, then per wrong conditioning
the share of songs where the metric it targets scored lower than under the truth (1.0: adherence
tells every song's wrong conditioning from its right one), and the songs where it did not: those
the analysis already misses under the truth ('0 as written': nothing lower to fall to), and for
sections, songs whose sections are so short that a boundary 5 s early lands within 3 s of the
previous one.

Measured at seed 0 (02:25 UTC, 5 Dec 2026, analysis version 4): small (8 band songs) every
targeted metric fell on every song; drumless (12 songs) key and chords fell on all, tempo on 10
(the two ambient songs' tempo is already wrong as written), sections on 10.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from songlake import corpus
from songlake.jobs.analyze import analyze_audio
from songlake.udfs.adherence import METRICS, score_adherence
from songlake.udfs.key import PITCH_CLASSES

TARGETS = {"bpm x1.25": ("tempo_acc1", "beat_f"), "transposed +3": ("key_weighted", "chord_majmin"),
           "chords shuffled": ("chord_majmin",), "sections -5 s": ("section_f",)}


def conditioning(truth: corpus.Truth) -> dict:
    return {"key": truth.key, "bpm": truth.bpm, "genre": truth.genre,
            "chords": [{"start": s, "end": e, "label": label} for s, e, label in truth.chords],
            "sections": [{"start": s, "end": e, "label": label} for s, e, label in truth.sections]}


def wrong(truth: corpus.Truth, how: str, seed: int) -> dict:
    asked = conditioning(truth)
    if how == "bpm x1.25":
        return asked | {"bpm": truth.bpm * 1.25}
    if how == "transposed +3":
        move = lambda name: PITCH_CLASSES[(PITCH_CLASSES.index(name) + 3) % 12]  # noqa: E731
        tonic, mode = truth.key.split()
        chords = [c | {"label": move(c["label"].split(":")[0]) + ":" + c["label"].split(":")[1]}
                  if ":" in c["label"] else c for c in asked["chords"]]
        return asked | {"key": f"{move(tonic)} {mode}", "chords": chords}
    if how == "chords shuffled":
        labels = [c["label"] for c in asked["chords"]]
        order = np.random.default_rng(seed).permutation(len(labels))
        return asked | {"chords": [c | {"label": labels[i]} for c, i in zip(asked["chords"], order)]}
    spans = [list(s) for s in truth.sections]  # sections -5 s
    for earlier, later in zip(spans, spans[1:]):
        earlier[1] = later[0] = max(later[0] - 5.0, earlier[0] + 0.5)
    return asked | {"sections": [{"start": s, "end": e, "label": label} for s, e, label in spans]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=corpus.SIZES, default="small")
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"), help="where the corpus is cached")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    songs = corpus.build_corpus(args.corpus, args.size, args.seed)
    scores: dict[str, dict[str, dict]] = {}  # conditioning -> song -> Adherence
    started = time.process_time()
    for song in songs:
        samples, rate = sf.read(song.audio_path, dtype="float32", always_2d=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = analyze_audio(samples.mean(axis=1), rate)
        duration = song.truth.duration
        scores.setdefault("as written", {})[song.name] = score_adherence(analysis, conditioning(song.truth), duration)
        for how in TARGETS:
            scores.setdefault(how, {})[song.name] = score_adherence(analysis, wrong(song.truth, how, args.seed),
                                                                    duration)
    print(f"adherence on corpus '{args.size}' (seed {args.seed}): {len(songs)} songs, "
          f"{time.process_time() - started:.0f} CPU s\n")
    print(f"{'conditioning':18s}" + "".join(f"{m:>14s}" for m in METRICS))
    means = {}
    for how, by_song in scores.items():
        means[how] = {m: _mean([getattr(a, m) for a in by_song.values()]) for m in METRICS}
        print(f"{how:18s}" + "".join(f"{'-' if v is None else f'{v:.3f}':>14s}" for v in means[how].values()))
    print("\nshare of songs where the targeted metric fell below the song's own conditioning's:")
    shares = {}
    for how, metrics in TARGETS.items():
        for metric in metrics:
            pairs = [(name, getattr(scores["as written"][name], metric), getattr(a, metric))
                     for name, a in scores[how].items()]
            pairs = [(n, right, bad) for n, right, bad in pairs if right is not None and bad is not None]
            held = [n + (" (0 as written)" if right == 0 else "") for n, right, bad in pairs if not bad < right]
            shares[f"{how}: {metric}"] = 1 - len(held) / len(pairs) if pairs else None
            print(f"  {how:16s} {metric:13s} {shares[f'{how}: {metric}']:.2f} of {len(pairs)}"
                  + (f"   not lower: {', '.join(held)}" if held else ""))
    return {"means": means, "shares": shares}


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


if __name__ == "__main__":
    main(sys.argv[1:])
