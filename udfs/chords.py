"""Chords: labelled time spans in Harte syntax, one decision per beat, smoothed over the song.

Conventions: times in seconds; spans cover the song from 0 to its end without gaps, consecutive
equal labels merged. Labels are Harte 'root:quality' with roots spelled C C# D Eb E F F# G Ab A
Bb B and qualities maj, min, 7, maj7, min7, dim, aug, sus4, or 'N' where nothing sounds.

Method: note salience from an approximate transcription of a log-frequency spectrum (see
_chroma), summed between consecutive beats, folded into a treble chroma (what the chord is) and a
bass chroma (which note is its root); per-beat chord scores from templates (see _chord_model),
smoothed by a Viterbi pass whose chord changes are likeliest on downbeats, then likeliest half
way through a bar, least likely elsewhere. A second pass runs in the key that the first pass
implies (see key.key_from), where chords outside the key need more evidence. With stems, the
treble chroma comes from the pitched stems mixed (`harmonic`) and the bass chroma from `bass`.

Input: mono float audio at 44.1 kHz; beats and downbeats in seconds, increasing. Without beats
the decisions fall on a 0.5 s grid (with a warning); silence gives one 'N' span (with a warning).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from songlake.udfs import _chord_model as model
from songlake.udfs import _chroma
from songlake.udfs._checks import is_silent, require_mono
from songlake.udfs.key import PITCH_CLASSES, distribution_of, key_from

ANALYSIS_RATE = 44100
FALLBACK_GRID = 0.5  # seconds between decisions when no beats are given
MAX_SEGMENT = 1.5  # longer gaps between beats (intro, outro, missed beats) are split
DOWNBEAT_TOLERANCE = 0.1  # seconds between a downbeat and the beat it marks


@dataclass(frozen=True)
class ChordSpan:
    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Chords:
    spans: tuple[ChordSpan, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(s.label for s in self.spans)


def recognize_chords(
    mono: np.ndarray,
    sample_rate: int,
    beats,
    downbeats=(),
    *,
    bass: np.ndarray | None = None,
    harmonic: np.ndarray | None = None,
) -> Chords:
    """Chord spans of mono audio at 44.1 kHz, deciding once per beat (beat times in seconds)."""
    require_mono(mono, sample_rate, ANALYSIS_RATE, "recognize_chords")
    duration = len(mono) / sample_rate
    beats = _times(beats, "beats", duration)
    downbeats = _times(downbeats, "downbeats", duration)
    for name, stem in (("bass", bass), ("harmonic", harmonic)):
        if stem is not None:
            require_mono(stem, sample_rate, ANALYSIS_RATE, f"recognize_chords ({name} stem)")
            if abs(len(stem) - len(mono)) > sample_rate // 10:
                raise ValueError(
                    f"the {name} stem lasts {len(stem) / sample_rate:.2f} s but the mix {duration:.2f} s "
                    "(a stem of another song, or at another rate?)"
                )
    if is_silent(mono if harmonic is None else harmonic):
        what = "audio" if harmonic is None else "harmonic stem"
        warnings.warn(f"no chords: the {what} is silent", stacklevel=2)
        return Chords((ChordSpan(0.0, _round(duration), "N"),))
    if len(beats) == 0:
        warnings.warn(f"no beats given: deciding chords every {FALLBACK_GRID} s", stacklevel=2)

    bounds = _segment_bounds(beats, duration)
    treble_source = mono if harmonic is None else harmonic
    pitch = _chroma.segment_pitch(_chroma.spectrogram(treble_source), bounds)
    bass_chroma = pitch.bass
    if bass is not None:
        bass_chroma = _chroma.segment_pitch(_chroma.spectrogram(bass), bounds).bass
    salience = _chroma.salience(pitch)
    bar_starts = _bar_starts(bounds, downbeats)
    change = _change_log_prob(len(bounds) - 1, bar_starts)
    bass_weight = np.full(len(bounds) - 1, model.BASS_WEIGHT if len(bar_starts) else model.BASS_WEIGHT_UNKNOWN)
    bass_weight[bar_starts] = model.BASS_WEIGHT_DOWNBEAT  # where bass lines most often play the root
    first = _spans(model.decode(pitch.treble, bass_chroma, salience, change, bass_weight), bounds)
    # Second pass in the key the first pass implies: out-of-key chords need more evidence.
    key = key_from(distribution_of(pitch.treble, bass_chroma, salience), first)
    tonic = PITCH_CLASSES.index(key.tonic)
    path = model.decode(pitch.treble, bass_chroma, salience, change, bass_weight, (tonic, key.mode))
    return Chords(_spans(path, bounds))


def _spans(path: np.ndarray, bounds: np.ndarray) -> tuple[ChordSpan, ...]:
    """One span per run of equal states."""
    names = model.labels()
    spans: list[ChordSpan] = []
    for i, state in enumerate(path):
        label = names[state]
        if spans and spans[-1].label == label:
            spans[-1] = ChordSpan(spans[-1].start, _round(bounds[i + 1]), label)
        else:
            spans.append(ChordSpan(_round(bounds[i]), _round(bounds[i + 1]), label))
    return tuple(spans)


def _round(t: float) -> float:
    return round(float(t), 4)


def _times(values, name: str, duration: float) -> np.ndarray:
    """Validated event times in seconds: finite, increasing, inside the audio."""
    t = np.asarray(values if values is not None else (), dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of times in seconds, got shape {t.shape}")
    if len(t) == 0:
        return t
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} contain NaN or infinite times")
    if t[0] < 0:
        raise ValueError(f"{name} start before 0 s ({t[0]:.3f}); times are seconds from the start of the audio")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} are not strictly increasing (unsorted or duplicated times?)")
    if t[-1] > duration + 0.5:
        raise ValueError(
            f"{name} run to {t[-1]:.1f} past the end of the audio ({duration:.1f} s): times in samples, not seconds?"
        )
    return t


def _segment_bounds(beats: np.ndarray, duration: float) -> np.ndarray:
    """[0, beats..., end], with long gaps split into pieces no longer than MAX_SEGMENT."""
    inner = beats[(beats > 0.05) & (beats < duration - 0.05)]
    points = np.concatenate([[0.0], inner, [duration]])
    if len(inner) == 0:
        step = FALLBACK_GRID
    else:
        step = min(MAX_SEGMENT, float(np.median(np.diff(inner))) if len(inner) > 1 else MAX_SEGMENT)
    out = [0.0]
    for a, b in zip(points[:-1], points[1:]):
        pieces = max(1, int(round((b - a) / step))) if b - a > MAX_SEGMENT or len(inner) == 0 else 1
        out.extend(a + (b - a) * np.arange(1, pieces + 1) / pieces)
    return np.array(out)


def _bar_starts(bounds: np.ndarray, downbeats: np.ndarray) -> np.ndarray:
    """Indices of the segments that start on a downbeat (the nearest within DOWNBEAT_TOLERANCE)."""
    starts = bounds[:-1]
    if len(downbeats) == 0:
        return np.zeros(0, int)
    right = np.clip(np.searchsorted(starts, downbeats), 0, len(starts) - 1)
    left = np.clip(right - 1, 0, len(starts) - 1)
    nearest = np.where(np.abs(starts[left] - downbeats) < np.abs(starts[right] - downbeats), left, right)
    return np.unique(nearest[np.abs(starts[nearest] - downbeats) < DOWNBEAT_TOLERANCE])


def _change_log_prob(n_segments: int, bar_starts: np.ndarray) -> np.ndarray:
    """Log-probability of a chord change at the start of each segment, from its place in the bar."""
    if len(bar_starts) == 0:
        return np.log(np.full(n_segments, model.CHANGE_UNKNOWN))
    change = np.full(n_segments, model.CHANGE_OFFBEAT)
    change[bar_starts] = model.CHANGE_DOWNBEAT
    for a, b in zip(bar_starts[:-1], bar_starts[1:]):
        if (b - a) % 2 == 0 and b - a >= 4:  # 4/4 and the like: the middle of the bar
            change[(a + b) // 2] = model.CHANGE_HALF_BAR
    return np.log(change)
