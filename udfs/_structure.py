"""Section boundaries for ``udfs.sections``: self-similarity, novelty and a phrase-aware search.

All indices are bar edges 0..n of a ``_bars.BarFeatures`` grid (edge i is the start of bar i).
"""

from __future__ import annotations

import numpy as np

from songlake.udfs._bars import BarFeatures

# a song's harmonic similarity below its 70th percentile is no repeat, above its 90th a sure one
REPEAT_PERCENTILES = (70, 90)
REPEAT_SPREAD = 0.2  # ... and the two at least this far apart (correlation units)
REPETITION_SCALES = (4, 8)  # bars of harmony compared along the diagonals
CONTRAST_SCALES = (2, 4)  # bars either side whose sound and loudness are compared
WEIGHTS = {"repetition": 0.1, "timbre": 0.2, "energy": 0.4, "change": 0.2}
# A cadence closes a phrase at the bar line after its arrival chord: its evidence for a boundary
# there is CADENCE_WEIGHT x its strength (udfs._cadences) x how final its kind is (plagal: none,
# IV-I is the commonest turn of a band song's loop).
CADENCE_WEIGHT = 0.2
CADENCE_KINDS = {"perfect authentic": 1.0, "imperfect authentic": 0.6, "half": 0.5, "deceptive": 0.3}
PENALTY = 0.3  # novelty a boundary must beat (before the phrase prior)
FULL_STEP_DB = 6.0  # a loudness step this large is full evidence of a boundary
RING_OUT_DB = 9.0  # a last bar this much quieter than the bars before it only rings out
MAX_SECTION_BARS = 48


def harmony_ssm(features: BarFeatures) -> np.ndarray:
    """Bar-by-bar correlation of harmony (chroma of the bar's slots in order), in [-1, 1]."""
    return features.harmony @ features.harmony.T


def repeat_scale(similarities: np.ndarray) -> tuple[float, float]:
    """(no repeat, sure repeat) thresholds of harmonic similarity for one song, from its own
    distribution, at least REPEAT_SPREAD apart so that a song whose bars are all alike reads as
    repeating everywhere rather than as noise stretched over [0, 1]."""
    lo, hi = np.percentile(similarities, REPEAT_PERCENTILES) if len(similarities) else (0.0, 1.0)
    return float(min(lo, hi - REPEAT_SPREAD)), float(hi)


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _path_means(ssm: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """forward[i, j]: mean similarity of bars i..i+length-1 with bars j..j+length-1 (cut at the
    song's end); backward[i, j]: the same for the `length` bars before edges i and j. Both are
    (n + 1, n + 1) over bar edges, NaN where a window holds no bar."""
    n = len(ssm)
    padded = np.full((n + 2 * length, n + 2 * length), np.nan)
    padded[length : length + n, length : length + n] = ssm
    fwd, bwd = np.zeros((n + 1, n + 1)), np.zeros((n + 1, n + 1))
    fcount, bcount = np.zeros((n + 1, n + 1)), np.zeros((n + 1, n + 1))
    for k in range(length):
        f = padded[length + k : length + k + n + 1, length + k : length + k + n + 1]
        b = padded[length - 1 - k : length - k + n, length - 1 - k : length - k + n]
        fwd += np.nan_to_num(f)
        fcount += ~np.isnan(f)
        bwd += np.nan_to_num(b)
        bcount += ~np.isnan(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return fwd / fcount, bwd / bcount


def _off_diagonal(paths: np.ndarray) -> np.ndarray:
    n = len(paths) - 1
    return paths[:n, :n][~np.eye(n, dtype=bool)]


def _repetition_novelty(ssm: np.ndarray, length: int) -> np.ndarray:
    """At how many lags a repeated stretch starts or ends at each edge: the forward and backward
    path similarity disagree (the lag analysis of structure features, with one-sided windows)."""
    fwd, bwd = _path_means(ssm, length)
    lo, hi = repeat_scale(_off_diagonal(fwd))
    diff = np.abs(_ramp(fwd, lo, hi) - _ramp(bwd, lo, hi))
    np.fill_diagonal(diff, 0.0)
    return np.nansum(diff, axis=1) / max(1.0, len(ssm) / length)


def _change_novelty(ssm: np.ndarray, length: int = 4) -> np.ndarray:
    """1 where the `length` bars after an edge do not continue the material before it: they repeat
    neither the `length` bars just before nor those 2 * `length` back (a phrase repeated inside a
    section is continuation, not change)."""
    n = len(ssm)
    fwd, _ = _path_means(ssm, length)
    repeats = _ramp(fwd, *repeat_scale(_off_diagonal(fwd)))
    out = np.zeros(n + 1)
    for i in range(1, n):
        back = [repeats[i - lag, i] for lag in (length, 2 * length) if i - lag >= 0] or [repeats[0, i]]
        out[i] = 1.0 - max(back)
    return out


def _contrast(values: np.ndarray, length: int) -> np.ndarray:
    """Distance between the means of `values` over the `length` bars before and after each edge."""
    values = values.reshape(len(values), -1)
    n = len(values)
    cum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    out = np.zeros(n + 1)
    for i in range(1, n):
        a, b = max(0, i - length), min(n, i + length)
        out[i] = np.linalg.norm((cum[i] - cum[a]) / (i - a) - (cum[b] - cum[i]) / (b - i))
    return out


def novelty(features: BarFeatures) -> dict[str, np.ndarray]:
    """Evidence for a boundary at each bar edge (0 at the song's two ends):

    - ``repetition``: repeated stretches start or end here (4- and 8-bar paths);
    - ``change``: the next 4 bars do not continue the 4 or 8 before;
    - ``timbre``: distance of mean MFCC over the 2 and 4 bars either side;
    - ``energy``: loudness step in dB over the 2 and 4 bars either side.
    """
    n = features.n
    ssm = harmony_ssm(features)
    parts = {
        "repetition": sum(_repetition_novelty(ssm, k) for k in REPETITION_SCALES) / len(REPETITION_SCALES),
        "change": _change_novelty(ssm),
        "timbre": sum(_contrast(features.timbre, k) for k in CONTRAST_SCALES) / len(CONTRAST_SCALES),
        "energy": sum(_contrast(features.loudness, k) for k in CONTRAST_SCALES) / len(CONTRAST_SCALES),
    }
    for v in parts.values():
        v[0] = v[n] = 0.0
    return parts


def combined_novelty(parts: dict[str, np.ndarray]) -> np.ndarray:
    """The weighted sum of the novelty curves, each on a [0, 1] scale: repetition and timbre relative
    to the song's strongest (with floors, so a song that barely changes is not stretched), the
    loudness step against FULL_STEP_DB, change as it is."""
    scaled = {
        "repetition": parts["repetition"] / max(float(np.max(parts["repetition"])), 0.5),
        "timbre": parts["timbre"] / max(float(np.max(parts["timbre"])), 1.5),
        "energy": np.clip(parts["energy"] / FULL_STEP_DB, 0.0, 1.0),
        "change": parts["change"],
    }
    return sum(WEIGHTS[name] * v for name, v in scaled.items())


def cadence_novelty(edges: np.ndarray, cadences) -> np.ndarray:
    """Evidence for a boundary at each bar edge from the cadences (objects with type, strength
    and time, the arrival's onset in seconds): a phrase closes at the first bar line after the
    arrival. 0 at the song's two ends; where two cadences close at one edge the stronger counts."""
    n = len(edges) - 1
    cue = np.zeros(n + 1)
    for cadence in cadences:
        i = int(np.searchsorted(edges, cadence.time + 1e-3))
        if 0 < i < n:
            cue[i] = max(cue[i], CADENCE_WEIGHT * CADENCE_KINDS.get(cadence.type, 0.0) * cadence.strength)
    return cue


def phrase_prior(length: int) -> float:
    """Log-prior of a section of `length` bars: 8 best, then 4 and 16, 12, 6, 2, odd lengths, and
    longer sections less the longer they are. A one-bar section is not one (a pickup, a ring-out)."""
    table = {1: -np.inf, 2: -0.3, 3: -0.45, 4: -0.05, 5: -0.4, 6: -0.25, 7: -0.4, 8: 0.0, 12: -0.1, 16: -0.05}
    if length in table:
        return table[length]
    return (-0.1 if length % 4 == 0 else -0.3) - 0.05 * max(0, length - 16) / 4


def choose_boundaries(nov: np.ndarray, penalty: float = PENALTY) -> list[int]:
    """Bar edges 0 = b0 < b1 < ... < bk = n that maximise the novelty at the inner edges less
    `penalty` for each, plus the phrase prior of every section's length (dynamic programming)."""
    n = len(nov) - 1
    best = np.full(n + 1, -np.inf)
    back = np.zeros(n + 1, int)
    best[0] = 0.0
    for j in range(1, n + 1):
        for i in range(max(0, j - MAX_SECTION_BARS), j):
            if best[i] > -np.inf:
                score = best[i] + (nov[i] - penalty if i > 0 else 0.0) + phrase_prior(j - i)
                if score > best[j]:
                    best[j], back[j] = score, i
        if best[j] == -np.inf:  # a stretch longer than MAX_SECTION_BARS with nothing in it
            best[j], back[j] = phrase_prior(j), 0
    out = [n]
    while out[-1] > 0:
        out.append(int(back[out[-1]]))
    return out[::-1]


def rings_out(features: BarFeatures) -> bool:
    """Whether the last bar is only the end ringing out (a held chord, the tail of a fade): it is
    RING_OUT_DB quieter than the four bars before it. Beat trackers run on through it."""
    return features.n >= 5 and bool(features.loudness[-1] < np.median(features.loudness[-5:-1]) - RING_OUT_DB)


def loop_period(features: BarFeatures) -> int | None:
    """The period in bars (1, 2 or 4) of a song that only repeats one short loop: every bar's
    harmony matches the bar one period later, and sound and loudness stay put. None otherwise."""
    loudness = features.loudness[:-1] if features.n > 2 else features.loudness
    if features.timbre_spread > 0.15 or np.ptp(loudness) > 3.0:
        return None
    ssm = harmony_ssm(features)
    for period in (1, 2, 4):
        lagged = np.diag(ssm, period)
        if len(lagged) and float(np.min(lagged)) > 0.75 and float(np.median(lagged)) > 0.9:
            return period
    return None
