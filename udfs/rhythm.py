"""Rhythmic profile of a song on its own metrical grid: syncopation, complexity, strong and weak beats.

Conventions: ``rhythm_profile`` takes the mono audio (44.1 kHz) and the ``Beats`` that
``beats.track_beats`` found for it (times in seconds). ``syncopation_index`` and
``rhythmic_complexity`` lie in [0, 1]; ``strong_beats`` and ``weak_beats`` are 1-based positions in
the bar that together cover the bar (4/4 rock with the kick on 1 and 3: (1, 3) and (2, 4)).

Method: onsets are the peaks of the spectral flux (``_rhythm_onsets``) that reach half the
strength of the loud ones (the accented layer: soft hi-hats on every sixteenth would fill every
position and hide any syncopation), quantised to the nearest sixteenth of the local beat (eighth
in 12/8) between the tracked beats and laid out bar by bar from the downbeats.

- ``syncopation_index``: Longuet-Higgins & Lee (1984) syncopation of that onset pattern, per bar,
  divided by the largest value a one-bar pattern can reach in the meter, averaged over the bars
  (formula and weights in ``_rhythm_patterns``). Straight rock is near 0; accents pushed ahead
  of the beat raise it.
- ``rhythmic_complexity``: normalised Shannon entropy of the quantised inter-onset intervals (the
  IOI entropy of Thul & Toussaint 2008).
- ``strong_beats`` / ``weak_beats``: each bar position's mean accent, where a beat's accent is its
  low-frequency onset strength (kick drum, bass) in standard scores; positions in the upper half
  of the range between the weakest and the strongest position are strong. Metrical accent, not
  loudness: a snare backbeat on 2 and 4 does not make them strong. With no accent pattern at all
  (a click track) only the downbeat is strong.

Degenerate input (no beats, no downbeats, silence, too few onsets) returns ``None``/``()`` for
what cannot be measured, with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from songlake.udfs._checks import is_silent, require_mono
from songlake.udfs.beats import ANALYSIS_RATE, LATENCY, Beats

MIN_BARS = 2
ACCENT = 0.5  # onsets at least this fraction of the loud ones (90th percentile) count as accented


@dataclass(frozen=True)
class RhythmProfile:
    syncopation_index: float | None
    rhythmic_complexity: float | None
    strong_beats: tuple[int, ...]
    weak_beats: tuple[int, ...]


EMPTY = RhythmProfile(None, None, (), ())


def rhythm_profile(mono: np.ndarray, sample_rate: int, beats: Beats) -> RhythmProfile:
    """Syncopation, complexity and the strong and weak beats of mono audio at 44.1 kHz."""
    require_mono(mono, sample_rate, ANALYSIS_RATE, "rhythm_profile")
    times, downbeats = _check_beats(beats, len(mono) / sample_rate)
    if len(times) < 2 or is_silent(mono):
        warnings.warn("no rhythm profile: " + ("the audio is silent" if len(times) >= 2 else "no beats"), stacklevel=2)
        return EMPTY
    from songlake.udfs import _rhythm_onsets
    from songlake.udfs import _rhythm_patterns as patterns

    signature = beats.time_signature if beats.time_signature in patterns.GRID else None
    if signature is None or not len(downbeats):
        warnings.warn("no syncopation or strong beats: the beats come without a meter or downbeats", stacklevel=2)
    meter = signature or "4/4"  # complexity only needs a grid; 4/4 sixteenths when the meter is unknown
    env = _rhythm_onsets.envelopes(mono, sample_rate, pitch=False)
    peaks = _rhythm_onsets.onset_frames(env.flux)
    if len(peaks):  # the accented notes: soft hi-hats on every sixteenth would hide any syncopation
        peaks = peaks[env.flux[peaks] >= ACCENT * np.percentile(env.flux[peaks], 90)]
    onset_times = peaks / env.fps + LATENCY
    first_downbeat = downbeats[0] if len(downbeats) else times[0]
    pattern = _grid_pattern(onset_times, times, first_downbeat, meter)
    if pattern is None or pattern.sum() < 3:
        warnings.warn("no rhythm profile: too few onsets between the beats", stacklevel=2)
        return EMPTY
    complexity = patterns.ioi_entropy(pattern, meter)
    if signature is None or not len(downbeats):
        return RhythmProfile(None, _round(complexity), (), ())
    per_bar = patterns.syncopation(pattern, signature) / patterns.max_syncopation(signature)
    per_bar_beats = patterns.GRID[signature] // patterns.STEPS_PER_BEAT[signature]
    strong, weak = _strong_and_weak(env, times, downbeats, per_bar_beats)
    return RhythmProfile(_round(float(np.clip(per_bar.mean(), 0, 1))), _round(complexity), strong, weak)


def _check_beats(beats: Beats, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Beat and downbeat times as arrays, or ValueError naming the likely mistake."""
    if not hasattr(beats, "beats"):
        raise ValueError(f"rhythm_profile needs the Beats from track_beats, got {type(beats).__name__}")
    times = np.asarray(beats.beats, float)
    downbeats = np.asarray(beats.downbeats, float)
    for name, t in (("beat", times), ("downbeat", downbeats)):
        if len(t) and (not np.all(np.isfinite(t)) or t.min() < 0):
            raise ValueError(f"{name} times must be finite seconds from the start, got {t.min()!r}")
        if len(t) and t.max() > duration + 1.0:
            raise ValueError(f"{name} times run to {t.max():.1f} but the audio lasts {duration:.1f} s "
                             "(times in samples or milliseconds, not seconds?)")
        if len(t) > 1 and np.any(np.diff(t) <= 0):
            raise ValueError(f"{name} times must increase strictly")
    return times, downbeats


def _grid_pattern(onsets: np.ndarray, beats: np.ndarray, first_downbeat: float, signature: str) -> np.ndarray | None:
    """0/1 onset sequence on the metrical grid, whole bars from the first downbeat."""
    from songlake.udfs._rhythm_patterns import GRID, STEPS_PER_BEAT

    steps = STEPS_PER_BEAT[signature]
    start = int(np.argmin(np.abs(beats - first_downbeat)))
    beats = beats[start:]
    bar_beats = GRID[signature] // steps
    n_bars = (len(beats) - 1) // bar_beats
    if n_bars < MIN_BARS:
        return None
    beats = beats[: n_bars * bar_beats + 1]
    # an onset's place in beats: the beat it follows plus how far it is to the next one
    inside = onsets[(onsets >= beats[0] - 0.5 * (beats[1] - beats[0])) & (onsets < beats[-1])]
    k = np.clip(np.searchsorted(beats, inside, side="right") - 1, 0, len(beats) - 2)
    fraction = (inside - beats[k]) / (beats[k + 1] - beats[k])
    cells = np.round((k + fraction) * steps).astype(int)
    pattern = np.zeros(n_bars * GRID[signature], np.int8)
    pattern[cells[(cells >= 0) & (cells < len(pattern))]] = 1
    return pattern


def _strong_and_weak(env, beats: np.ndarray, downbeats: np.ndarray, per_bar: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Bar positions whose mean low-frequency accent (kick drum, bass) is high, and the rest."""
    from songlake.udfs._rhythm_meter import sample

    accent = _standard(sample(env.low, (beats - LATENCY) * env.fps, width=9))  # ±46 ms: humanised kicks
    first = int(np.argmin(np.abs(beats - downbeats[0])))
    position = (np.arange(len(beats)) - first) % per_bar
    means = np.array([accent[position == p].mean() if np.any(position == p) else 0.0 for p in range(per_bar)])
    spread = float(means.max() - means.min())
    if spread < 0.1:  # no accent pattern (a click track): only the downbeat is strong, by the meter
        strong = {0}
    else:
        strong = {int(p) for p in np.flatnonzero(means >= means.min() + 0.5 * spread)}
    return tuple(p + 1 for p in sorted(strong)), tuple(p + 1 for p in range(per_bar) if p not in strong)


def _standard(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4) + 0.0  # + 0.0: no negative zero
