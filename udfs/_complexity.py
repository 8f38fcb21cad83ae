"""Progression complexity: one number in [0, 1] for how harmonically complex a chord sequence is.

    complexity = 0.4 H + 0.2 N + 0.2 F + 0.2 R

- H, unpredictability: the mean information content -log2 P(chord | previous chord) of the song's
  chord changes under a first-order model that learns the song as it goes (the idea of the
  short-term model in Pearce's IDyOM: 'The construction and evaluation of statistical models of
  melodic structure in music perception and composition', PhD thesis, City University London,
  2005):
  P(b | a) = (n(a, b) + u(b)) / (n(a) + 1), with n the counts of changes heard so far and u(b) =
  (n(b) + 1) / (t + K) the backoff to how often b was heard among the t chords so far (K distinct
  chords in the song), divided by log2(K + 1) and capped at 1. Chords are merged spans read as
  root above the tonic, triad and function (extensions dropped); no-chord breaks the chain. A loop
  heard over and over tends to 0; a through-composed chromatic sequence is near 1. This is the
  measure Di Giorgi, Dixon, Zanoni & Sarti found perceived harmonic complexity to follow ('A
  data-driven model of tonal chord sequence complexity', IEEE/ACM TASLP 25(11), 2017: the negative
  log probability of a chord sequence), with the song's own model in place of their corpus-trained
  one, which songlake does not ship. Unlike the plug-in conditional entropy, it does not call a
  sequence of chords heard once each perfectly predictable.
- N, chromaticism: the share of chord time on applied, borrowed and chromatic chords.
- F, tonal dispersion: 1 - |r|, where r is the mean resultant of the duration-weighted pitch
  classes of the chords placed on the circle of fifths (pitch class p at angle 2 pi (7p mod 12) / 12):
  the fifth-circle feature of Weiss & Mueller, 'Quantifying and visualizing tonal complexity',
  Proc. Conference on Interdisciplinary Musicology (CIM), Berlin, 2014. One triad scores about
  0.36, a uniformly used diatonic scale about 0.47, all twelve pitch classes 1.
- R, harmonic-rhythm variety: cv / (1 + cv) for the coefficient of variation cv of the merged
  chords' durations; chords changing every bar score 0.

The weights favour H, the measure with the strongest listening-test support. None when there
are fewer than two merged chords.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from songlake.udfs._events import Event

WEIGHTS = {"information": 0.4, "chromatic": 0.2, "dispersion": 0.2, "rhythm": 0.2}
_FIFTHS_ANGLE = np.array([2 * np.pi * ((7 * p) % 12) / 12 for p in range(12)])


def complexity(events: list[Event], spans: list[tuple[float, float]], readings, tonic_pcs) -> float | None:
    """events: merged chords; spans, readings: the unmerged spans; tonic_pcs: absolute pitch classes per span."""
    chords = [e for e in events if e.is_chord]
    if len(chords) < 2:
        return None
    terms = {
        "information": _information_rate(events),
        "chromatic": _chromatic_share(spans, readings),
        "dispersion": _fifth_dispersion(spans, tonic_pcs),
        "rhythm": _rhythm_variety([e.duration for e in chords]),
    }
    return round(min(1.0, max(0.0, sum(WEIGHTS[k] * v for k, v in terms.items()))), 4)


def _information_rate(events: list[Event]) -> float:
    """Mean information content of each chord given the one before, under a first-order model
    learnt while listening, over log2(K + 1)."""

    def chord(e: Event) -> tuple:
        return e.token + (e.last.function,)

    size = len({chord(e) for e in events if e.is_chord})
    pairs: Counter = Counter()
    contexts: Counter = Counter()
    heard: Counter = Counter()
    total, count, seen, previous = 0.0, 0, 0, None
    for event in events:
        if not event.is_chord:
            previous = None  # no-chord breaks the chain
            continue
        current = chord(event)
        if previous is not None:
            backoff = (heard[current] + 1) / (seen + size)
            probability = (pairs[previous, current] + backoff) / (contexts[previous] + 1)
            total -= math.log2(probability)
            count += 1
            pairs[previous, current] += 1
            contexts[previous] += 1
        heard[current] += 1
        seen += 1
        previous = current
    if count == 0 or size < 2:
        return 0.0
    return min(1.0, total / count / math.log2(size + 1))


def _weights(spans) -> np.ndarray:
    durations = np.array([max(0.0, end - start) for start, end in spans])
    return durations if durations.sum() > 0 else np.ones(len(spans))


def _chromatic_share(spans, readings) -> float:
    chord = [r.offset >= 0 for r in readings]
    weights = _weights(spans)[chord]
    if weights.sum() == 0:
        return 0.0
    outside = np.array([r.function in ("applied dominant", "borrowed", "chromatic") for r in readings])[chord]
    return float(weights[outside].sum() / weights.sum())


def _fifth_dispersion(spans, pitch_classes) -> float:
    weights = _weights(spans)
    profile = np.zeros(12)
    for weight, pcs in zip(weights, pitch_classes):
        for pc in pcs:
            profile[pc] += weight / len(pcs)
    if profile.sum() == 0:
        return 0.0
    resultant = np.abs(np.sum(profile * np.exp(1j * _FIFTHS_ANGLE))) / profile.sum()
    return float(1.0 - resultant)


def _rhythm_variety(durations: list[float]) -> float:
    values = np.array(durations)
    if len(values) < 2 or values.mean() <= 0:
        return 0.0
    cv = float(values.std() / values.mean())
    return cv / (1.0 + cv)
