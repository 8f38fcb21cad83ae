"""A steady pulse through the onset envelope: its period, then its times by dynamic programming.

The period comes from the autocorrelation of the onset envelope averaged over 12-second windows
(a global tempogram), read through a comb (a period scores its own lag and its first multiples,
Davies & Plumbley 2007) and weighted by a log-normal prior on tempo centred at 120 BPM, so the
pulse lands on a level a listener would tap. The times come from Ellis's (2007) dynamic
programme: each frame's best path is its onset strength plus the best earlier path one period
back, penalised by the squared log-ratio of the gap to the period; following the best path back
from the end gives pulses that follow humanised timing without giving up the period.
Which metrical level the pulse is (beat, half-beat, bar, ...) is decided later, in _rhythm_meter.

Several envelopes may carry the pulse (percussive onsets, harmonic change). ``salience`` says how
far an envelope's comb-filtered autocorrelation peak rises above the sampling noise of an
autocorrelation of that many frames (Bartlett's formula, from the envelope's own short-lag
autocorrelation): about 1-3 for noise, 4-20 for music, 50 for a click track. ``combine`` sums the
normalised envelopes weighted by the fourth power of their salience above the noise level, so the
one with the clearer pulse leads (drums over harmonic change in a band song: a square let chord
changes nudge the path and tip one band song's meter), and one with none adds nothing.
"""

from __future__ import annotations

import numpy as np

MIN_BPM, MAX_BPM = 40.0, 240.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 0.9
TIGHTNESS = 100.0  # Ellis's alpha: how strongly gaps are held to the period
COMB = (1, 2, 3, 4)  # a period's comb: its lag and the first multiples, weighted 1/sqrt(k)
NOISE_SALIENCE = 3.5  # salience that noise does not reach (white, pink, modulated: at most 3.3)
COMBINE_POWER = 4  # how steeply a cue's weight grows with its salience


def normalised(onset: np.ndarray, fps: float) -> np.ndarray:
    """The envelope less its running mean (0.75 s), half-wave rectified, at unit standard deviation."""
    width = max(3, int(0.75 * fps) | 1)
    local = np.convolve(onset, np.ones(width) / width, mode="same")
    o = np.maximum(onset - local, 0.0)
    sd = float(o.std())
    return o / sd if sd > 0 else o


def autocorrelation(o: np.ndarray, fps: float, max_lag_s: float = 6.0, window_s: float = 12.0) -> np.ndarray:
    """Mean of windowed autocorrelations (lag 0 .. max_lag_s), normalised so that lag 0 is 1."""
    max_lag = int(max_lag_s * fps)
    win = int(window_s * fps)
    if len(o) <= win:
        starts = [0]
        win = len(o)
    else:
        starts = range(0, len(o) - win + 1, win // 2)
    n_fft = 1 << int(np.ceil(np.log2(2 * win)))
    total = np.zeros(n_fft // 2 + 1)
    for s in starts:
        seg = o[s : s + win]
        total += np.abs(np.fft.rfft(seg - seg.mean(), n_fft)) ** 2
    r = np.fft.irfft(total, n_fft)[: max_lag + 1]
    return r / r[0] if r[0] > 0 else r


def _at(r: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """r at fractional lags (0 beyond its end)."""
    return np.interp(lags, np.arange(len(r)), r, right=0.0)


def pulse_period(r: np.ndarray, fps: float) -> float:
    """The pulse period in frames: comb-filtered autocorrelation times the tempo prior."""
    bpm = np.geomspace(MIN_BPM, MAX_BPM, 600)
    lags = 60.0 * fps / bpm
    comb = sum(_at(r, k * lags) / k**0.5 for k in COMB)
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    best = int(np.argmax(np.maximum(comb, 0) * prior))
    return float(refine_period(r, lags[best]))


def salience(o: np.ndarray, fps: float, short_s: float = 0.1) -> float:
    """The highest comb-filtered autocorrelation over the tempo range, in units of its sampling noise."""
    if len(o) < 2 or not o.any():
        return 0.0
    r = autocorrelation(o, fps)
    short = r[1 : int(short_s * fps) + 1]
    noise = np.sqrt((1.0 + 2.0 * float(np.sum(short**2))) / len(o))  # Bartlett: sd of r at long lags
    weights = np.array([k**-0.5 for k in COMB])
    lags = 60.0 * fps / np.geomspace(MIN_BPM, MAX_BPM, 400)
    comb = sum(w * _at(r, k * lags) for k, w in zip(COMB, weights)) / weights.sum()
    comb_noise = noise * float(np.sqrt((weights**2).sum()) / weights.sum())
    return float(comb.max() / comb_noise)


def combine(envelopes: list[np.ndarray], saliences: list[float]) -> np.ndarray:
    """Normalised envelopes summed with weights (salience above the noise level) ** COMBINE_POWER."""
    weights = np.maximum(np.asarray(saliences) - NOISE_SALIENCE, 0.0) ** COMBINE_POWER
    if not weights.any():
        weights = np.ones(len(envelopes))
    total = sum(w * e for w, e in zip(weights, envelopes))
    sd = float(total.std())
    return total / sd if sd > 0 else total


def refine_period(r: np.ndarray, lag: float) -> float:
    """The lag of the local autocorrelation peak near lag, refined with its multiples."""
    cands = np.linspace(0.94 * lag, 1.06 * lag, 121)
    score = sum(_at(r, k * cands) for k in (1, 2, 4))
    return float(cands[int(np.argmax(score))])


def track(o: np.ndarray, period: float, tightness: float = TIGHTNESS) -> np.ndarray:
    """Pulse frames (float) along the best path through o at the given period (frames)."""
    n = len(o)
    if n < 2 * period:
        return np.zeros(0)
    # The local score is the envelope itself. Ellis smooths it with a Gaussian (period/32 wide),
    # but smoothing favours broad humps (strummed or layered off-beats) over the sharp onsets
    # of kick and snare, and the gap penalty already absorbs humanised timing.
    local = o.astype(np.float64)
    lo, hi = int(round(period / 2)), int(round(2 * period))
    gaps = np.arange(lo, hi + 1)
    penalty = -tightness * np.log(gaps / period) ** 2
    score = local.copy()
    back = np.full(n, -1, np.int64)
    # Each block of lo frames only looks back at least lo frames, so a block is one vector step.
    for start in range(lo, n, lo):
        idx = np.arange(start, min(n, start + lo))
        prev = idx[:, None] - gaps[None, :]
        valid = prev >= 0
        cand = np.where(valid, score[np.clip(prev, 0, None)] + penalty, -np.inf)
        j = np.argmax(cand, axis=1)
        best = cand[np.arange(len(idx)), j]
        take = best > 0  # start a fresh path where the past only costs
        score[idx] = local[idx] + np.where(take, best, 0.0)
        back[idx] = np.where(take, prev[np.arange(len(idx)), j], -1)
    # Follow the best path back from the best score in the last period, then extend the pulse
    # at its period to both ends of the signal (the caller trims what lies outside the music).
    tail = np.arange(max(0, n - int(period)), n)
    path = [int(tail[np.argmax(score[tail])])]
    while back[path[-1]] >= 0:
        path.append(int(back[path[-1]]))
    pulses = np.array(path[::-1], float)
    if len(pulses) < 2:
        return pulses
    before = pulses[0] - period * np.arange(int(pulses[0] // period), 0, -1)
    after = pulses[-1] + period * np.arange(1, int((n - 1 - pulses[-1]) // period) + 1)
    return np.concatenate([before, pulses, after])
