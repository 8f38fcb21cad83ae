"""Copies by embedding: how close a re-encode or an excerpt of a song stays to it, against how
close distinct songs come, in the lake's embedding (udfs.embedding, descriptor-v1).

    python bench/copies.py                      # build/corpus and build/real, as the other benches
    python bench/copies.py --corpus DIR --real DIR

The songs: the rendered corpus (``songlake.corpus``, FluidSynth; ``build/corpus/*.wav``) and the
real recordings of bench/real_music.py (``build/real/**/*.ogg``). For every song, the variants a
model that copies its training data could hand back: MP3 at 128 and 64 kbps, gain -6 dB, a 30 s
excerpt from 20 s in (as WAV and as a 128 kbps MP3) and, reported apart, the song played 3 %
faster (a "near" copy, which the fingerprint also misses at speed 1). Negatives: every pair of
distinct songs, and apart the pairs of the same corpus style (same instruments, style and
generator: the hardest).

It prints the cosine similarity of each variant kind to its original (min, 5th percentile,
median) and of the negatives (max, 99th percentile, median), then for a few thresholds (the one
jobs/copies.py uses, EMBEDDING_COPY, marked) the share of each variant at or above it and the
distinct pairs above it. A generation is flagged as a copy by embedding when its nearest
training song is at least that close.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from songlake import synth  # noqa: E402
from songlake.jobs.copies import EMBEDDING_COPY  # noqa: E402
from songlake.udfs.audio import decode  # noqa: E402
from songlake.udfs.embedding import embed  # noqa: E402
from songlake.udfs.fingerprint import at_speed  # noqa: E402

SR = 44100


def _mp3(mono: np.ndarray, kbps: int) -> np.ndarray:
    return decode(synth.encode_mp3(np.stack([mono, mono]), kbps=kbps)).mono_at(SR)


def variants(mono: np.ndarray) -> dict[str, np.ndarray]:
    excerpt = mono[20 * SR:50 * SR] if mono.size >= 50 * SR else mono[-30 * SR:]
    return {"mp3-128": _mp3(mono, 128), "mp3-64": _mp3(mono, 64), "gain-6dB": mono * 0.5,
            "excerpt-30s": excerpt, "excerpt-30s-mp3": _mp3(excerpt, 128), "speed-1.03": at_speed(mono, SR, 1.03)}


def _vector(mono: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return embed(mono.astype(np.float32)).vector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"))
    parser.add_argument("--real", type=Path, default=Path("build/real"))
    args = parser.parse_args()
    files = sorted(args.corpus.glob("*.wav")) + sorted(args.real.glob("*/*.ogg"))
    if len(files) < 2:
        sys.exit(f"no songs under {args.corpus} or {args.real}: build the corpus (songlake.corpus) and fetch "
                 "the recordings (bench/real_music.py) first")
    names, vectors, copies = [], [], {}
    for i, path in enumerate(files, 1):
        mono = decode(path.read_bytes()).mono_at(SR)
        names.append(path.stem)
        vectors.append(_vector(mono))
        for kind, audio in variants(mono).items():
            copies.setdefault(kind, []).append(float(_vector(audio) @ vectors[-1]))
        print(f"\r{i}/{len(files)} songs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    matrix = np.stack(vectors)
    style = [n.split("-")[2] if n.count("-") >= 3 else n for n in names]  # corpus names: size-nn-style-...
    negatives = [float(matrix[a] @ matrix[b]) for a, b in combinations(range(len(names)), 2)]
    same_style = [float(matrix[a] @ matrix[b]) for a, b in combinations(range(len(names)), 2) if style[a] == style[b]]
    print(f"{len(names)} songs ({len(list(args.corpus.glob('*.wav')))} rendered, the rest real recordings)")
    print(f"{'variant':<18}{'n':>6}{'min':>9}{'p5':>9}{'median':>9}")
    for kind, values in copies.items():
        v = np.array(values)
        print(f"{kind:<18}{v.size:>6}{v.min():>9.4f}{np.percentile(v, 5):>9.4f}{np.median(v):>9.4f}")
    print(f"{'negatives':<18}{'n':>6}{'max':>9}{'p99':>9}{'median':>9}")
    for label, values in (("distinct songs", negatives), ("same style", same_style)):
        v = np.array(values)
        if v.size:
            print(f"{label:<18}{v.size:>6}{v.max():>9.4f}{np.percentile(v, 99):>9.4f}{np.median(v):>9.4f}")
    print("\nat a threshold: the share of each variant at or above it, and the distinct pairs above it")
    print(f"{'threshold':<10}" + "".join(f"{k:>17}" for k in copies) + f"{'false pairs':>13}")
    for threshold in sorted({0.98, 0.985, 0.99, 0.995, EMBEDDING_COPY}):
        shares = "".join(f"{np.mean(np.array(v) >= threshold):>17.3f}" for v in copies.values())
        false = int(np.sum(np.array(negatives) >= threshold))
        mark = "  <- jobs/copies.py" if threshold == EMBEDDING_COPY else ""
        print(f"{threshold:<10}{shares}{false:>13}{mark}")


if __name__ == "__main__":
    main()
