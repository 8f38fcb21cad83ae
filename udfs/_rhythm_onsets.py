"""The rhythm front end: onset envelopes and a coarse chromagram from one short-time spectrum.

Everything rhythm needs is read off one STFT of the audio at 22.05 kHz (1024-point Hann window,
256-sample hop: a frame every 11.6 ms). The magnitude spectrum is pooled into log-spaced bands
(one per bin where log spacing is finer than the bins), log-compressed, and differenced against
the band-wise maximum of the frame two hops earlier ("SuperFlux", Böck & Widmer, DAFx 2013), which
keeps vibrato and slow swells from reading as onsets. The positive differences summed over the
bands give ``flux`` (on an absolute scale: is there an onset at all?); summed with each band
scaled by its mean they give ``onset`` (what the beat tracker follows: a distorted guitar spread
over many bands does not outvote the kick and snare); summed over the bands below 160 Hz they
give ``low`` (kick drum and bass). The chromagram folds the bins between 110 Hz and 5 kHz onto
the twelve pitch classes; it is coarse (21.5 Hz bins) but only has to say *whether* the harmony
changes at a beat, not what it is.

Music without sharp attacks (strings, choirs, pads, organ) moves by changing notes rather than by
bursts of energy, so ``harmonic_novelty`` reads the pulse off a finer chromagram (``pitch_chroma``:
a 2048-point window on the same hops, 10.8 Hz bins from 55 Hz to 2 kHz, each bin's power given to
its nearest semitone, weighed by how close it lies): the cosine distance between the
log-compressed chroma of the 150 ms before and the 150 ms after each frame (a checkerboard novelty
on a very short scale, Foote 2000). Its windows are symmetric, so a change peaks where it happens
however slowly the notes swell, and a steady spectrum (noise, a held chord) gives none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import maximum_filter1d
from scipy.signal import resample_poly

RATE = 22050
N_FFT = 1024
HOP = 256
FPS = RATE / HOP  # frames per second
LOW_CUTOFF_HZ = 160.0
# The unscaled flux sums log-magnitude rises over ~36 bands of RMS-normalised audio: music's onsets
# reach 15-100, white noise wanders around 2-10 with a median near 2, a steady sine stays below 0.1.
FLUX_FLOOR = 1.0
PEAK_RATIO = 8.0
PITCH_FFT = 2048  # the pitch chromagram's window: semitones apart from about 180 Hz up


@dataclass(frozen=True)
class Envelopes:
    onset: np.ndarray  # (frames,) all bands, each scaled by its mean (for the beat: drums count)
    flux: np.ndarray  # (frames,) all bands unscaled, on an absolute scale (is there an onset at all?)
    low: np.ndarray  # (frames,) bands below LOW_CUTOFF_HZ
    chroma: np.ndarray  # (frames, 12) pitch-class energy, each frame L1-normalised
    pitch_chroma: np.ndarray | None  # (frames, 12) the same from a longer window: finer pitch, coarser time
    fps: float = FPS


@lru_cache(maxsize=1)
def _bands(n_bands: int = 40, fmin: float = 40.0, fmax: float = 10000.0) -> tuple[np.ndarray, np.ndarray]:
    """Triangular log-spaced filterbank (bins x bands) and each band's centre frequency.

    Below about 150 Hz log spacing asks for bands narrower than a bin; those collapse onto one
    band per bin, so the lowest bins are not counted several times over."""
    freqs = np.fft.rfftfreq(N_FFT, 1 / RATE)
    bin_hz = freqs[1]
    centres = np.unique(np.round(np.geomspace(fmin, fmax, n_bands) / bin_hz).astype(int))
    edges = np.concatenate([[centres[0] - 1], centres, [centres[-1] + 1]])
    bins = np.arange(len(freqs))
    bank = np.zeros((len(freqs), len(centres)), np.float32)
    for b in range(len(centres)):
        lo, mid, hi = edges[b : b + 3]
        rise = (bins - lo) / (mid - lo)
        fall = (hi - bins) / (hi - mid)
        bank[:, b] = np.maximum(0, np.minimum(rise, fall))
    bank /= bank.sum(axis=0, keepdims=True)
    return bank, centres * bin_hz


@lru_cache(maxsize=1)
def _chroma_map() -> np.ndarray:
    freqs = np.fft.rfftfreq(N_FFT, 1 / RATE)
    fold = np.zeros((len(freqs), 12), np.float32)
    use = (freqs >= 110) & (freqs <= 5000)
    pc = np.round(12 * np.log2(freqs[use] / 440.0) + 9).astype(int) % 12  # 0 = C
    fold[np.flatnonzero(use), pc] = 1.0
    return fold


@lru_cache(maxsize=1)
def _pitch_map(fmin: float = 55.0, fmax: float = 2000.0) -> tuple[np.ndarray, np.ndarray]:
    """The bins of a PITCH_FFT spectrum between fmin and fmax, and their weights on the pitch classes."""
    freqs = np.fft.rfftfreq(PITCH_FFT, 1 / RATE)
    use = np.flatnonzero((freqs >= fmin) & (freqs <= fmax))
    midi = 69 + 12 * np.log2(freqs[use] / 440.0)
    nearest = np.round(midi)
    fold = np.zeros((len(use), 12), np.float32)
    fold[np.arange(len(use)), nearest.astype(int) % 12] = np.cos(np.pi * (midi - nearest)) ** 2
    return use, fold


def pitch_chroma(x: np.ndarray, n_frames: int) -> np.ndarray:
    """Pitch-class power from PITCH_FFT-point frames centred on the onset frames, each L1-normalised."""
    pad = (PITCH_FFT - N_FFT) // 2
    padded = np.pad(x, (pad, PITCH_FFT))
    frames = np.lib.stride_tricks.sliding_window_view(padded, PITCH_FFT)[::HOP][:n_frames]
    window = np.hanning(PITCH_FFT).astype(np.float32)
    use, fold = _pitch_map()
    out = np.empty((n_frames, 12), np.float32)
    block = 1024
    for start in range(0, n_frames, block):
        spec = sfft.rfft(frames[start : start + block] * window, axis=1)
        out[start : start + block] = (np.abs(spec[:, use]) ** 2) @ fold
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-9)


def envelopes(mono: np.ndarray, sample_rate: int, pitch: bool = True) -> Envelopes:
    """Onset envelopes and chroma of mono audio (any rate that divides down to 22.05 kHz evenly);
    the pitch chromagram only if pitch (it costs a second, longer STFT)."""
    x = np.asarray(mono, np.float32)
    if sample_rate == 2 * RATE:
        # Averaging sample pairs is a crude low-pass, but aliasing above 11 kHz only blurs
        # onsets that are broadband anyway, and it costs a tenth of a polyphase resampler.
        x = 0.5 * (x[0 : len(x) - 1 : 2] + x[1::2])
    elif sample_rate != RATE:
        x = resample_poly(x, RATE, sample_rate).astype(np.float32)
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    x = x / max(rms, 1e-9)  # level-independent log compression
    n_frames = 1 + max(0, len(x) - N_FFT) // HOP
    if len(x) < N_FFT:
        x = np.pad(x, (0, N_FFT - len(x)))
        n_frames = 1
    window = np.hanning(N_FFT).astype(np.float32)
    bank, centres = _bands()
    fold = _chroma_map()
    mags = np.empty((n_frames, N_FFT // 2 + 1), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n_frames]
    block = 2048  # bounded memory for long files
    for start in range(0, n_frames, block):
        spec = sfft.rfft(frames[start : start + block] * window, axis=1)
        mags[start : start + block] = np.abs(spec)
    banded = np.log1p(mags @ bank)
    lag = 2
    reference = maximum_filter1d(banded, size=3, axis=1)
    flux = np.zeros_like(banded)
    flux[lag:] = np.maximum(0.0, banded[lag:] - reference[:-lag])
    low = centres < LOW_CUTOFF_HZ
    chroma = mags @ fold
    chroma /= np.maximum(chroma.sum(axis=1, keepdims=True), 1e-9)
    # Each band weighed by its own mean flux; the small constant keeps nearly empty bands quiet.
    band_mean = flux.mean(axis=0, keepdims=True)
    onset = (flux / (band_mean + 0.01 * band_mean.mean() + 1e-9)).sum(axis=1)
    return Envelopes(onset=onset, flux=flux.sum(axis=1), low=flux[:, low].sum(axis=1), chroma=chroma,
                     pitch_chroma=pitch_chroma(x, n_frames) if pitch else None)


def harmonic_novelty(chroma: np.ndarray, fps: float = FPS, window_s: float = 0.15) -> np.ndarray:
    """Cosine distance between the mean log chroma of the window before and the window after each frame."""
    c = np.log1p(100.0 * chroma.astype(np.float64))  # chroma rows sum to 1: a note at 1 % still counts
    k = max(2, int(round(window_s * fps)))
    n = len(c)
    sums = np.vstack([np.zeros((1, c.shape[1])), np.cumsum(c, axis=0)])
    t = np.arange(n)
    before = sums[t] - sums[np.maximum(t - k, 0)]
    after = sums[np.minimum(t + k, n)] - sums[t]
    before /= np.maximum(np.linalg.norm(before, axis=1, keepdims=True), 1e-9)
    after /= np.maximum(np.linalg.norm(after, axis=1, keepdims=True), 1e-9)
    return 1.0 - np.sum(before * after, axis=1)


def onset_frames(flux: np.ndarray, spacing: int = 3, relative: float = 0.1) -> np.ndarray:
    """Frames of the onset peaks in the unscaled flux: local maxima within spacing frames that reach
    `relative` times its 99.5th percentile (loud enough to count, however many there are) and
    FLUX_FLOOR (a steady tone or hum has none)."""
    if not flux.any():
        return np.zeros(0, int)
    floor = max(FLUX_FLOOR, relative * float(np.percentile(flux, 99.5)))
    peak = maximum_filter1d(flux, 2 * spacing + 1)
    return np.flatnonzero((flux == peak) & (flux > floor))


def stands_out(flux: np.ndarray) -> bool:
    """Whether onsets rise well above the flux's typical level: not so in noise, where every frame
    changes about as much as every other."""
    return float(np.percentile(flux, 99.5)) > PEAK_RATIO * max(float(np.median(flux)), 0.05)
