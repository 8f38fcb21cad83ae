"""Beats and tempo: beat times in seconds and the tempo in beats per minute.

This first pass uses Essentia's RhythmExtractor2013 with the 'degara' tracker (fast, robust on
steady pop and rock) on 44.1 kHz mono. Degenerate input (silence, no pulse) returns an empty
result with a warning, never an error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from songlake.udfs._checks import is_silent, require_mono

ANALYSIS_RATE = 44100  # the rate Essentia's rhythm extractor is built for


@dataclass(frozen=True)
class Beats:
    bpm: float | None
    beats: tuple[float, ...]


def track_beats(mono: np.ndarray, sample_rate: int = ANALYSIS_RATE) -> Beats:
    """Beat times and tempo of mono audio at 44.1 kHz."""
    require_mono(mono, sample_rate, ANALYSIS_RATE, "track_beats")
    from songlake.udfs._essentia import standard as es

    if is_silent(mono):
        warnings.warn("no beats: the audio is silent", stacklevel=2)
        return Beats(None, ())
    _, ticks, _, _, _ = es.RhythmExtractor2013(method="degara")(mono.astype(np.float32))
    if len(ticks) < 2:
        warnings.warn("no beats found", stacklevel=2)
        return Beats(None, ())
    # Beat times sit on an 11.6 ms analysis grid; averaging the intervals near the median
    # removes that quantisation while ignoring skipped or doubled beats.
    intervals = np.diff(ticks)
    median = float(np.median(intervals))
    steady = intervals[np.abs(intervals - median) < 0.1 * median]
    tempo = 60.0 / float(steady.mean() if len(steady) else median)
    return Beats(round(tempo, 2), tuple(round(float(t), 4) for t in ticks))
