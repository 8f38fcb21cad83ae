"""Conditioning aligned to a clip: the analysis of a song as tensors a model can take.

Conventions:

- a clip starting at ``start`` seconds with ``n_frames`` frames at ``frame_rate`` frames a
  second: frame f covers [start + f / frame_rate, start + (f + 1) / frame_rate);
- per-frame labels are read at the frame's centre: ``chords`` is the index in ``CHORDS`` of the
  chord active there (0 = no chord, also for unknown labels and gaps), ``sections`` the index in
  ``SECTIONS`` (0 = none);
- ``beats`` and ``downbeats`` are grids of 0.0 / 1.0, 1.0 in the frame each beat falls in;
- per-clip values: ``key`` the index in ``KEYS`` (0 = unknown; then 12 majors, 12 minors from C),
  ``bpm`` in beats a minute (0.0 = unknown), ``genre`` the index in ``GENRES`` (0 = unknown);
- chords are reduced to root and quality (``CHORD_QUALITIES``); inversions and colour tones
  (sixths, ninths, ...) are dropped, as in the lake's harmony analysis (udfs._harte).

The vocabularies are part of a trained model's contract: a model trained on these indices needs
the same tables, so they only ever grow at the end.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from songlake.udfs._genre_prior import GENRES as _GENRES
from songlake.udfs._harte import PITCH_CLASSES, is_no_chord, parse, parse_key
from songlake.udfs.sections import LABELS as _SECTION_LABELS

CONDITIONING = ("key", "bpm", "genre", "chords", "sections", "beats", "downbeats")
KEYS = ("unknown",) + tuple(f"{pc} major" for pc in PITCH_CLASSES) + tuple(f"{pc} minor" for pc in PITCH_CLASSES)
GENRES = ("unknown",) + tuple(_GENRES)
SECTIONS = ("none",) + tuple(_SECTION_LABELS)
CHORD_QUALITIES = ("maj", "min", "dim", "aug", "sus", "7", "maj7", "min7", "minmaj7", "hdim7", "dim7", "5")
CHORDS = ("N",) + tuple(f"{pc}:{q}" for pc in PITCH_CLASSES for q in CHORD_QUALITIES)

_QUALITY = {("maj", None): "maj", ("min", None): "min", ("dim", None): "dim", ("aug", None): "aug",
            ("sus4", None): "sus", ("sus2", None): "sus", ("maj", "b7"): "7", ("maj", "7"): "maj7",
            ("min", "b7"): "min7", ("min", "7"): "minmaj7", ("dim", "b7"): "hdim7", ("dim", "bb7"): "dim7",
            ("5", None): "5", ("1", None): "5", ("aug", "b7"): "7", ("sus4", "b7"): "7", ("sus2", "b7"): "7"}


def check(names: Iterable[str]) -> tuple[str, ...]:
    """The conditioning names, checked; ValueError naming the unknown one."""
    names = tuple(names)
    for name in names:
        if name not in CONDITIONING:
            raise ValueError(f"unknown conditioning {name!r}; songlake conditions on {', '.join(CONDITIONING)}")
    return names


def key_index(key: str | None) -> int:
    if not key:
        return 0
    try:
        tonic, mode = parse_key(key)
    except ValueError:
        return 0
    return 1 + tonic + (12 if mode == "minor" else 0)


def genre_index(genre: str | None) -> int:
    return GENRES.index(genre) if genre in GENRES else 0


def chord_index(label: str | None) -> int:
    if not label or is_no_chord(label):
        return 0
    try:
        shape = parse(label)
    except ValueError:
        return 0
    quality = _QUALITY.get((shape.triad, shape.seventh)) or _QUALITY.get((shape.triad, None), "maj")
    return 1 + shape.root * len(CHORD_QUALITIES) + CHORD_QUALITIES.index(quality)


def section_index(label: str | None) -> int:
    return SECTIONS.index(label) if label in SECTIONS else 0


def frames(song: dict, names: Iterable[str], start: float, n_frames: int, frame_rate: float) -> dict[str, np.ndarray]:
    """The conditioning of one clip of a song (a songs-view row), as numpy arrays (see module doc)."""
    out: dict[str, np.ndarray] = {}
    centres = start + (np.arange(n_frames) + 0.5) / frame_rate
    for name in check(names):
        if name == "key":
            out[name] = np.int64(key_index(song.get("key")))
        elif name == "bpm":
            bpm = song.get("bpm")
            out[name] = np.float32(bpm if bpm is not None and math.isfinite(bpm) else 0.0)
        elif name == "genre":
            out[name] = np.int64(genre_index(song.get("primary_genre")))
        elif name == "chords":
            out[name] = _spans(song.get("chords"), centres, chord_index)
        elif name == "sections":
            out[name] = _spans(song.get("sections"), centres, section_index)
        else:
            out[name] = _grid(song.get(name), start, n_frames, frame_rate)
    return out


def _spans(spans: list[dict] | None, centres: np.ndarray, index) -> np.ndarray:
    labels = np.zeros(len(centres), dtype=np.int64)
    for span in spans or ():
        if span.get("start") is None or span.get("end") is None:
            continue
        inside = (centres >= span["start"]) & (centres < span["end"])
        if inside.any():
            labels[inside] = index(span.get("label"))
    return labels


def _grid(times: list[float] | None, start: float, n_frames: int, frame_rate: float) -> np.ndarray:
    grid = np.zeros(n_frames, dtype=np.float32)
    if times:
        where = np.floor((np.asarray(times, dtype=np.float64) - start) * frame_rate).astype(np.int64)
        grid[where[(where >= 0) & (where < n_frames)]] = 1.0
    return grid
