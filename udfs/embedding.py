"""Embedding: a fixed-size, L2-normalised float32 vector for similarity search.

``descriptor-v1`` is built from statistics of hand-made descriptors, no learned weights:

- timbre (26): means and standard deviations of MFCC 1-13 over the whole song;
- spectral (6): mean and spread of spectral centroid, flatness and frame loudness;
- harmony (24): mean and spread of the 12-bin chroma (the pitch-class profile);
- rhythm (8): onset-envelope autocorrelation in eight log-spaced tempo bands (40-240 BPM).

Each group is scaled to unit length and weighted before the whole vector is normalised, so no
group dominates by its units. Cosine similarity (a dot product) between two vectors is 1 for
the same audio and stays near 1 for re-encodes of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from songlake.udfs._checks import require_mono

MODEL = "descriptor-v1"
DIM = 64
ANALYSIS_RATE = 44100
N_FFT, HOP = 4096, 2048
_WEIGHTS = {"timbre": 1.0, "spectral": 0.5, "harmony": 0.8, "rhythm": 0.6}


@dataclass(frozen=True)
class Embedding:
    model: str
    vector: np.ndarray  # (DIM,), float32, unit length (or all zeros for silence)


@lru_cache(maxsize=4)
def _filterbanks(sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import librosa

    mel = librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=40, fmin=30.0, fmax=min(16000.0, sample_rate / 2))
    chroma = librosa.filters.chroma(sr=sample_rate, n_fft=N_FFT, n_chroma=12, tuning=0.0)
    dct = scipy.fft.dct(np.eye(40), type=2, norm="ortho", axis=0)[:14]
    return mel.astype(np.float32), chroma.astype(np.float32), dct.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-12 else np.zeros_like(v)


def embed(mono: np.ndarray, sample_rate: int = ANALYSIS_RATE) -> Embedding:
    """The descriptor-v1 vector of mono audio at 44.1 kHz."""
    require_mono(mono, sample_rate, ANALYSIS_RATE, "embed", min_frames=N_FFT * 2)
    mel_fb, chroma_fb, dct = _filterbanks(sample_rate)
    frames = np.lib.stride_tricks.sliding_window_view(mono.astype(np.float32), N_FFT)[::HOP]
    spectrum = scipy.fft.rfft(frames * _window(), axis=1)  # float32 in, complex64 out
    power = (spectrum.real**2 + spectrum.imag**2).T  # (bins, frames)
    frame_energy = power.sum(axis=0)
    if float(frame_energy.max()) < 1e-8:
        return Embedding(MODEL, np.zeros(DIM, np.float32))
    log_mel = np.log10(mel_fb @ power + 1e-10)
    mfcc = dct @ log_mel  # (14, frames)
    freqs = np.fft.rfftfreq(N_FFT, 1 / sample_rate)[:, None]
    centroid = (freqs * power).sum(axis=0) / (frame_energy + 1e-12) / 5000.0
    flatness = np.exp(np.mean(np.log(power + 1e-12), axis=0)) / (np.mean(power, axis=0) + 1e-12)
    loudness = 10 * np.log10(frame_energy + 1e-12) / 30.0
    chroma = chroma_fb @ power
    chroma /= chroma.sum(axis=0, keepdims=True) + 1e-12

    timbre = np.concatenate([mfcc[1:14].mean(axis=1) / 20.0, mfcc[1:14].std(axis=1) / 10.0])
    spectral = np.array([centroid.mean(), centroid.std(), flatness.mean(), flatness.std(),
                         loudness.mean(), loudness.std()])
    harmony = np.concatenate([chroma.mean(axis=1) - 1 / 12, chroma.std(axis=1)])
    rhythm = _tempo_bands(log_mel, sample_rate)
    parts = {"timbre": timbre, "spectral": spectral, "harmony": harmony, "rhythm": rhythm}
    vector = np.concatenate([_WEIGHTS[name] * _unit(part.astype(np.float64)) for name, part in parts.items()])
    return Embedding(MODEL, _unit(vector).astype(np.float32))


def _tempo_bands(log_mel: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset-envelope autocorrelation, max-pooled into 8 log-spaced bands from 40 to 240 BPM."""
    flux = np.maximum(np.diff(log_mel, axis=1), 0).sum(axis=0)
    flux = flux - flux.mean()
    if len(flux) < 8 or not np.any(flux):
        return np.zeros(8)
    spectrum = np.fft.rfft(flux, n=2 * len(flux))
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[: len(flux)]
    acf = acf / (acf[0] + 1e-12)
    frame_rate = sample_rate / HOP
    edges = np.geomspace(40, 240, 9)
    bands = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        lags = np.arange(int(frame_rate * 60 / hi), int(np.ceil(frame_rate * 60 / lo)) + 1)
        lags = lags[(lags > 0) & (lags < len(acf))]
        bands.append(acf[lags].max() if len(lags) else 0.0)
    return np.clip(np.array(bands), 0, None)
