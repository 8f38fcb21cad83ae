"""Measures of onset patterns on a metrical grid: Longuet-Higgins & Lee syncopation and IOI entropy.

A song's onsets are quantised to a grid of GRID[time_signature] positions per bar (sixteenths in
2/4, 3/4, 4/4 and 6/8, eighths in 12/8) and written as one long 0/1 sequence, bar after bar.

Syncopation (Longuet-Higgins & Lee 1984, in the form compared by Gómez, Thul & Toussaint 2007 and
Fitch & Rosenfeld 2007): every grid position has a metrical weight, 0 for the downbeat and one
less for each level of the meter's hierarchy it first appears at (4/4: bar 0, half bar -1, beats
-2, eighths -3, sixteenths -4). A note that starts on a position of weight w and is held through
a stronger position (weight W > w, no onset there) before the next onset syncopates by W - w.
The song's index is the mean over bars of the bar's sum divided by the largest sum any one-bar
pattern repeated bar after bar can reach in that meter, so it lies in [0, 1].

Rhythmic complexity: the Shannon entropy of the distribution of inter-onset intervals measured in
grid steps (intervals of a bar or more pooled), divided by the log of the number of interval
classes, so it lies in [0, 1]: 0 for a steady stream, higher as the intervals vary. This is the
"IOI entropy" among the complexity measures of Thul & Toussaint (2008).
"""

from __future__ import annotations

from functools import lru_cache
import numpy as np

# positions per bar and the metrical hierarchy, as the number of parts each level splits into
HIERARCHY = {
    "2/4": (2, 2, 2),  # bar -> beats -> eighths -> sixteenths
    "3/4": (3, 2, 2),
    "4/4": (2, 2, 2, 2),  # bar -> half bars -> beats -> eighths -> sixteenths
    "6/8": (2, 3, 2),  # bar -> dotted quarters -> eighths -> sixteenths
    "12/8": (2, 2, 3),  # bar -> half bars -> dotted quarters -> eighths
}
GRID = {sig: int(np.prod(levels)) for sig, levels in HIERARCHY.items()}
STEPS_PER_BEAT = {"2/4": 4, "3/4": 4, "4/4": 4, "6/8": 6, "12/8": 3}


@lru_cache(maxsize=None)
def metrical_weights(signature: str) -> np.ndarray:
    """Longuet-Higgins & Lee weight of each grid position in a bar: 0 at the downbeat, -1, -2, ..."""
    levels = HIERARCHY[signature]
    size = GRID[signature]
    weights = np.full(size, -len(levels), int)
    span = size
    for depth, parts in enumerate(levels):
        span //= parts
        for p in range(0, size, span):
            weights[p] = max(weights[p], -depth - 1) if p else 0
    return weights


def syncopation(pattern: np.ndarray, signature: str) -> np.ndarray:
    """Per-bar Longuet-Higgins & Lee syncopation of a 0/1 grid sequence (whole bars)."""
    weights = np.tile(metrical_weights(signature), len(pattern) // GRID[signature])
    onsets = np.flatnonzero(pattern)
    per_bar = np.zeros(len(pattern) // GRID[signature])
    for start, end in zip(onsets, np.append(onsets[1:], len(pattern))):
        if end - start < 2:
            continue
        held = weights[start + 1 : end].max()  # the strongest position the note is held through
        if held > weights[start]:
            per_bar[start // GRID[signature]] += held - weights[start]
    return per_bar


@lru_cache(maxsize=None)
def max_syncopation(signature: str) -> float:
    """The largest per-bar syncopation of any one-bar pattern repeated bar after bar.

    A bar's sum only depends on pairs of consecutive onsets, so the maximum is the heaviest cycle
    through one bar: a longest-path dynamic programme from each possible first onset."""
    size = GRID[signature]
    w = np.tile(metrical_weights(signature), 2)
    gain = np.zeros((2 * size, 2 * size + 1))  # gain[p, q]: a note on p held until the next onset on q
    for p in range(2 * size):
        for q in range(p + 2, 2 * size + 1):
            gain[p, q] = max(0, int(w[p + 1 : q].max()) - int(w[p]))
    best = 0.0
    for first in range(size):
        path = np.full(first + size + 1, -np.inf)
        path[first] = 0.0
        for q in range(first + 1, first + size + 1):
            path[q] = max(path[p] + gain[p, q] for p in range(first, q))
        best = max(best, path[first + size])
    return best


def ioi_entropy(pattern: np.ndarray, signature: str) -> float | None:
    """Normalised entropy of the inter-onset intervals (grid steps; a bar or longer pooled)."""
    onsets = np.flatnonzero(pattern)
    if len(onsets) < 3:
        return None
    size = GRID[signature]
    intervals = np.minimum(np.diff(onsets), size)
    counts = np.bincount(intervals, minlength=size + 1)[1:]
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / np.log(size))
