"""Chords: labelled time spans in Harte syntax, one decision per beat (or per stretch of steady
harmony), smoothed over the song.

Conventions: times in seconds; spans cover the song from 0 to its end without gaps, consecutive
equal labels merged. Labels are Harte 'root:quality' with roots spelled C C# D Eb E F F# G Ab A
Bb B and qualities maj, min, 7, maj7, min7, dim, aug, sus4, or 'N' where nothing sounds.

Method: note salience from an approximate transcription of a log-frequency spectrum (see
_chroma), summed over segments, folded into a treble chroma (what the chord is) and a bass
chroma (which note is its root); per-segment chord scores from templates (see _chord_model),
smoothed by a Viterbi pass. A second pass runs in the key that the first pass implies (see
key.key_from), where chords outside the key need more evidence. With stems, the treble chroma
comes from the pitched stems mixed (`harmonic`) and the bass chroma from `bass`.

Segments are the beats when beats are given: chord changes are likeliest on downbeats, then
half way through a bar, least likely elsewhere. Without beats (music without drums or a steady
pulse: chorales, strings, pads, rubato piano) they come from harmonic change: the pitch content
on a grid of STEP seconds, its chroma (treble and bass, weighted by salience) compared between
the WINDOW seconds before and after each grid point, gives a novelty curve whose peaks (local
maxima over MIN_GAP seconds either side, above NOVELTY) are the candidate changes; stretches
longer than MAX_SEGMENT are cut evenly, and the Viterbi pass decides, with a change likely at a
peak (the likelier the higher it is) and unlikely at a cut; each segment's evidence weighs by
its length, and a loud segment counts as pitched (FREE_SALIENCE). Sustained notes and soft
attacks change nothing: only the notes count, not their onsets. Pooling whole stretches keeps passing
tones from deciding a label; a sus4 that resolves to the chord on its root (and lasts no longer)
is that chord's 4-3 suspension and takes its label (with beats, a sus4 keeps its own: pop's
'Vsus4 V' is two chords). The bass chroma counts less here than on beats, so an inversion keeps
its label (C/E reads C:maj) more often.

Input: mono float audio at 44.1 kHz; beats and downbeats in seconds, increasing (none is legal).
Silence gives one 'N' span (with a warning).
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
MAX_SEGMENT = 1.5  # longer gaps between beats (intro, outro, missed beats) or changes are split
# Segmentation on harmonic change (no beats): see the module docstring.
STEP = 0.186  # seconds: the grid of the novelty curve (four STFT hops)
WINDOW = 0.5  # seconds of harmony compared either side of a grid point
MIN_GAP = 0.35  # seconds: a peak must be the highest this far either side
# Without beats, a segment within 20 dB of the song's loud parts counts at least this salient,
# whatever its tonality: music without a pulse is rarely drums or noise, and a breathy choir or
# bowed strings leave much of the spectrum unexplained ('N' over whole phrases otherwise).
FREE_SALIENCE = 0.7
NOVELTY = 0.1  # cosine distance between the two sides below which nothing changed
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

    treble_source = mono if harmonic is None else harmonic
    if len(beats):
        bounds = _segment_bounds(beats, duration)
        bar_starts = _bar_starts(bounds, downbeats)
        change = _change_log_prob(len(bounds) - 1, bar_starts)
        evidence = None
    else:
        bounds, change = _harmonic_change(treble_source, bass, duration)
        bar_starts = np.zeros(0, int)
        evidence = np.diff(bounds) / model.EVIDENCE_SECONDS
    pitch = _chroma.segment_pitch(_chroma.spectrogram(treble_source), bounds)
    bass_chroma = pitch.bass
    if bass is not None:
        bass_chroma = _chroma.segment_pitch(_chroma.spectrogram(bass), bounds).bass
    salience = _chroma.salience(pitch)
    if not len(beats):  # no drums to mistake for harmony: a loud segment is pitched (see FREE_SALIENCE)
        salience = np.maximum(salience, FREE_SALIENCE * _chroma.loudness(pitch))
    weight = model.BASS_WEIGHT if len(bar_starts) else model.BASS_WEIGHT_UNKNOWN if len(beats) else model.BASS_WEIGHT_FREE
    bass_weight = np.full(len(bounds) - 1, weight)
    bass_weight[bar_starts] = model.BASS_WEIGHT_DOWNBEAT  # where bass lines most often play the root
    first = _spans(model.decode(pitch.treble, bass_chroma, salience, change, bass_weight, None, evidence), bounds)
    # Second pass in the key the first pass implies: out-of-key chords need more evidence.
    key = key_from(distribution_of(pitch.treble, bass_chroma, salience), first)
    tonic = PITCH_CLASSES.index(key.tonic)
    path = model.decode(pitch.treble, bass_chroma, salience, change, bass_weight, (tonic, key.mode), evidence)
    spans = _spans(path, bounds)
    return Chords(spans if len(beats) else _resolve_suspensions(spans))


def _resolve_suspensions(spans: tuple[ChordSpan, ...]) -> tuple[ChordSpan, ...]:
    """A sus4 that resolves to a chord on its root, and lasts no longer than it, takes its label:
    without a pulse to say that the sus4 is a chord of its own, it is that chord's 4-3 suspension."""
    out: list[ChordSpan] = []
    for span in reversed(spans):
        root, _, quality = span.label.partition(":")
        if quality == "sus4" and out and out[0].label.startswith(root + ":") \
                and span.end - span.start <= out[0].end - out[0].start:
            out[0] = ChordSpan(span.start, out[0].end, out[0].label)
        else:
            out.insert(0, span)
    return tuple(out)


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
    step = min(MAX_SEGMENT, float(np.median(np.diff(inner))) if len(inner) > 1 else MAX_SEGMENT)
    return _split(points, step)


def _split(points: np.ndarray, step: float) -> np.ndarray:
    """The points with every gap longer than MAX_SEGMENT cut evenly into pieces of about step."""
    out = [float(points[0])]
    for a, b in zip(points[:-1], points[1:]):
        pieces = max(1, int(round((b - a) / step))) if b - a > MAX_SEGMENT else 1
        out.extend(a + (b - a) * np.arange(1, pieces + 1) / pieces)
    return np.array(out)


def _harmonic_change(treble_source: np.ndarray, bass: np.ndarray | None, duration: float):
    """(segment bounds, log-probability of a change at each segment's start) from harmonic novelty."""
    grid = np.append(np.arange(0.0, duration - STEP / 2, STEP), duration)
    if len(grid) < 2:
        grid = np.array([0.0, duration])
    pitch = _chroma.segment_pitch(_chroma.spectrogram(treble_source), grid)
    bass_chroma = pitch.bass if bass is None else _chroma.segment_pitch(_chroma.spectrogram(bass), grid).bass
    novelty = _novelty(pitch.treble, bass_chroma, _chroma.salience(pitch))
    gap, width = max(1, int(round(MIN_GAP / STEP))), len(novelty)
    peaks = [k for k in range(1, width) if novelty[k] >= NOVELTY
             and novelty[k] == novelty[max(0, k - gap): k + gap + 1].max()]
    points = np.concatenate([[0.0], grid[peaks], [duration]])
    bounds = _split(points, MAX_SEGMENT / 2)
    strength = dict(zip(np.round(grid[peaks], 6), novelty[peaks]))
    change = np.array([model.CHANGE_OFFBEAT if (p := strength.get(round(float(t), 6))) is None
                       else min(model.CHANGE_DOWNBEAT, model.CHANGE_HALF_BAR + p) for t in bounds[:-1]])
    return bounds, np.log(change)


def _novelty(treble: np.ndarray, bass: np.ndarray, salience: np.ndarray) -> np.ndarray:
    """Per grid edge k (between step k-1 and k): cosine distance of the salience-weighted chroma
    (treble and bass, each unit norm) summed over WINDOW before the edge and over WINDOW after it."""
    unit = lambda x: x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)  # noqa: E731
    chroma = np.hstack([unit(treble), 0.5 * unit(bass)]) * salience[:, None]
    w = max(1, int(round(WINDOW / STEP)))
    total = np.vstack([np.zeros((1, chroma.shape[1])), np.cumsum(chroma, axis=0)])
    n = len(chroma)
    k = np.arange(n + 1)
    before = total[k] - total[np.maximum(0, k - w)]
    after = total[np.minimum(n, k + w)] - total[k]
    cos = np.sum(unit(before) * unit(after), axis=1)
    present = (np.linalg.norm(before, axis=1) > 1e-9) & (np.linalg.norm(after, axis=1) > 1e-9)
    return np.where(present, 1.0 - cos, 0.0)[:n]


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
