"""Pitch features for harmony: segment-synchronous note salience, treble chroma and bass chroma.

One STFT at 11.025 kHz (4096 points, so 2.7 Hz bins as from a 16384-point STFT at 44.1 kHz, at a
sixteenth of the cost) gives a magnitude spectrogram. Frames are summed over the analysis
segments (beats), mapped to a log-frequency spectrum with three bins a semitone, tuned to the
recording's reference pitch, whitened against the local spectral envelope, and explained as
a non-negative sum of harmonic note templates (approximate transcription, as in Mauch's NNLS
Chroma). Note salience folded with a low-register weighting gives the bass chroma, with a
mid-register weighting the treble chroma. Everything is equivariant under transposition, so a
pitch-shifted recording gives chroma rotated by the shift.

Chroma index 0 is C (songlake.synth.PITCH_CLASSES).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

INPUT_RATE = 44100
RATE = 11025  # everything above ~5 kHz is irrelevant to pitch class, so analyse at a quarter rate
N_FFT = 4096
HOP = 512  # 46 ms
BINS_PER_SEMITONE = 3
LOW_MIDI = 23  # lowest log-frequency bin (B0); lowest note in the dictionary is C1
HIGH_MIDI = 110  # highest log-frequency bin (~4.7 kHz)
NOTE_LOW, NOTE_HIGH = 24, 96  # the dictionary's notes, C1 to C7
PARTIALS = 8
# Each note has a template per spectral envelope (amplitude of partial h is decay ** (h - 1)):
# bright instruments and basses with a weak fundamental need flatter ones than a flute does.
PARTIAL_DECAYS = (0.4, 0.7, 1.0)
TONAL_LOW, TONAL_RANGE = 0.55, 0.25  # notes explain <55% of a drum or noise spectrum, >80% of music
TONAL_FLOOR = 0.4  # ... and a choir's ~65%: the threshold follows the song down to here (see salience)
MAX_BIN = int(np.ceil(440 * 2 ** ((HIGH_MIDI + 1 - 69) / 12) * N_FFT / RATE)) + 4


@dataclass(frozen=True)
class Spectrogram:
    """Magnitude STFT of one signal: frames x linear bins (up to MAX_BIN), frame centres in seconds."""

    magnitude: np.ndarray
    times: np.ndarray
    duration: float


@dataclass(frozen=True)
class SegmentPitch:
    """Pitch content per segment: note salience (segments x notes NOTE_LOW..NOTE_HIGH-1), chroma, tuning."""

    notes: np.ndarray
    treble: np.ndarray  # segments x 12
    bass: np.ndarray  # segments x 12
    energy: np.ndarray  # mean spectral magnitude per segment (silence detection)
    tonality: np.ndarray  # share of the whitened spectrum that notes explain, 0..1 (drums and noise score low)
    tuning: float  # semitones from A440


_last: tuple[tuple, Spectrogram] | None = None


def spectrogram(signal: np.ndarray) -> Spectrogram:
    """Magnitude spectrogram of 44.1 kHz mono; the last one is remembered (key reuses the chords' STFT)."""
    global _last
    tag = (len(signal), signal.dtype.str, zlib.crc32(memoryview(np.ascontiguousarray(signal)).cast("B")))
    if _last is not None and _last[0] == tag:
        return _last[1]
    import soxr

    x = soxr.resample(np.asarray(signal, np.float32), INPUT_RATE, RATE).astype(np.float32)
    half = N_FFT // 2
    padded = np.concatenate([np.zeros(half, np.float32), x, np.zeros(half, np.float32)])
    n_frames = 1 + max(0, (len(padded) - N_FFT) // HOP)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames]
    window = np.hanning(N_FFT).astype(np.float32)
    out = np.empty((n_frames, MAX_BIN), np.float32)
    import scipy.fft

    for start in range(0, n_frames, 256):  # chunks keep the working set in cache
        chunk = frames[start : start + 256] * window
        out[start : start + len(chunk)] = np.abs(scipy.fft.rfft(chunk, axis=1)[:, :MAX_BIN])
    result = Spectrogram(out, np.arange(n_frames) * HOP / RATE, len(signal) / INPUT_RATE)
    _last = (tag, result)
    return result


def segment_sums(spec: Spectrogram, bounds: np.ndarray) -> np.ndarray:
    """Mean magnitude spectrum of the frames whose centres fall in each [bounds[i], bounds[i+1])."""
    idx = np.searchsorted(spec.times, bounds)
    idx = np.clip(idx, 0, len(spec.times))
    out = np.zeros((len(bounds) - 1, spec.magnitude.shape[1]), np.float32)
    for i in range(len(bounds) - 1):
        a, b = idx[i], idx[i + 1]
        if b <= a:  # a segment shorter than a hop: take the nearest frame
            a = min(max(0, a - 1), len(spec.times) - 1)
            b = a + 1
        out[i] = spec.magnitude[a:b].mean(axis=0)
    return out


def _log_bin_midi() -> np.ndarray:
    return LOW_MIDI + np.arange((HIGH_MIDI - LOW_MIDI) * BINS_PER_SEMITONE + 1) / BINS_PER_SEMITONE


@lru_cache(maxsize=8)
def _log_map(tuning_cents: int) -> np.ndarray:
    """Linear bins -> log bins (rows sum to one): a triangle in Hz, at least one linear bin wide."""
    centres = 440.0 * 2 ** ((_log_bin_midi() + tuning_cents / 100 - 69) / 12)
    spacing = centres * (2 ** (1 / (12 * BINS_PER_SEMITONE)) - 1)
    width = np.maximum(spacing, RATE / N_FFT)
    freqs = np.arange(MAX_BIN) * RATE / N_FFT
    weights = np.maximum(0.0, 1 - np.abs(freqs[None, :] - centres[:, None]) / width[:, None])
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.astype(np.float32)


def _hann_response(offset_bins: np.ndarray) -> np.ndarray:
    """Magnitude of a Hann window's transform, offset in bins, peak 1."""
    d = np.asarray(offset_bins, np.float64)
    near = np.abs(np.abs(d) - 1) < 1e-6
    out = np.abs(np.sinc(d) / np.where(near, 1.0, 1 - d**2))
    return np.where(near, 0.5, out)


@lru_cache(maxsize=1)
def _dictionary() -> np.ndarray:
    """Log bins x (envelopes x notes): each note's partials as a Hann-windowed STFT would show them."""
    notes = np.arange(NOTE_LOW, NOTE_HIGH)
    freqs = np.arange(MAX_BIN) * RATE / N_FFT
    lin = np.zeros((MAX_BIN, len(PARTIAL_DECAYS) * len(notes)))
    for e, decay in enumerate(PARTIAL_DECAYS):
        for j, note in enumerate(notes):
            f0 = 440.0 * 2 ** ((note - 69) / 12)
            for h in range(1, PARTIALS + 1):
                if f0 * h > freqs[-1]:
                    break
                near = np.abs(freqs - f0 * h) < 6 * RATE / N_FFT
                offset = (freqs[near] - f0 * h) * N_FFT / RATE  # in bins
                lin[near, e * len(notes) + j] += decay ** (h - 1) * _hann_response(offset)
    d = _log_map(0).astype(np.float64) @ lin
    d /= np.linalg.norm(d, axis=0, keepdims=True)
    return d.astype(np.float32)


def _tuning(log_spec_total: np.ndarray) -> float:
    """Reference-pitch deviation in semitones (-0.5..0.5) from how energy falls on the three sub-bins."""
    phase = np.exp(2j * np.pi * (np.arange(len(log_spec_total)) % BINS_PER_SEMITONE) / BINS_PER_SEMITONE)
    z = np.sum(log_spec_total * phase)
    return float(np.angle(z) / (2 * np.pi))


def _whiten(log_spec: np.ndarray, width: int = 18) -> np.ndarray:
    """Subtract the running mean and divide by the running deviation along frequency (one octave)."""
    from scipy.ndimage import uniform_filter1d

    mean = uniform_filter1d(log_spec, 2 * width + 1, axis=1, mode="nearest")
    var = np.maximum(0.0, uniform_filter1d((log_spec - mean) ** 2, 2 * width + 1, axis=1, mode="nearest"))
    std = np.sqrt(var)
    floor = 1e-3 * (std.max(axis=1, keepdims=True) + 1e-12)
    return np.maximum(0.0, (log_spec - mean) / np.maximum(std, floor))


def _nnls(v: np.ndarray, d: np.ndarray, iterations: int = 60) -> np.ndarray:
    """Non-negative h with v ~ d @ h for every column of v (multiplicative updates, all at once)."""
    dtd = d.T @ d
    dtv = d.T @ v
    h = np.maximum(dtv, 0) + 1e-6
    for _ in range(iterations):
        h *= dtv / (dtd @ h + 1e-9)
    return h


def _register_weights(low: float, full_low: float, full_high: float, high: float) -> np.ndarray:
    """Per dictionary note: 0 below low, rising to 1 at full_low, 1 to full_high, falling to 0 at high."""
    m = np.arange(NOTE_LOW, NOTE_HIGH, dtype=np.float64)
    up = np.clip((m - low) / max(1e-9, full_low - low), 0, 1)
    down = np.clip((high - m) / max(1e-9, high - full_high), 0, 1)
    return np.minimum(up, down)


BASS_WEIGHTS = _register_weights(24, 28, 45, 57)
TREBLE_WEIGHTS = _register_weights(45, 55, 80, 96)
# The key's treble: every voice above the deep bass, evenly, up to the top of the dictionary. The
# chords' treble fades out the tenor register (so a chord's root lies in the bass) and the top octave
# (so a choir's or organ's upper partials do not add sevenths), but a note on a fade counts less
# the further a transposition moves it, and scores put their melodies in the top octave and their
# thirds in the tenor: with the chords' weights a shifted recording's thirds change weight, and
# its key its mode (bench/invariance.py, issue 14).
KEY_TREBLE_WEIGHTS = _register_weights(36, 48, 90, 100)


COMPRESSION = 0.5  # note salience is raised to this power before folding


def fold(notes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Notes (segments x dictionary notes) -> chroma (segments x 12) under a register weighting."""
    weighted = notes**COMPRESSION * weights[None, :]
    out = np.zeros((notes.shape[0], 12))
    for pc in range(12):
        out[:, pc] = weighted[:, (pc - NOTE_LOW) % 12 :: 12].sum(axis=1)
    return out


def segment_pitch(spec: Spectrogram, bounds: np.ndarray) -> SegmentPitch:
    """Note salience and chroma for the segments between consecutive bounds (seconds)."""
    lin = segment_sums(spec, bounds)
    energy = lin.mean(axis=1)
    coarse = lin @ _log_map(0).T
    tuning = _tuning(coarse.sum(axis=0))
    log_spec = lin @ _log_map(int(round(tuning * 100))).T
    white = _whiten(log_spec).T
    d = _dictionary()
    h = _nnls(white, d)
    residual = np.sum((white - d @ h) ** 2, axis=0)
    tonality = 1 - residual / (np.sum(white**2, axis=0) + 1e-12)
    notes = h.T.reshape(len(bounds) - 1, len(PARTIAL_DECAYS), NOTE_HIGH - NOTE_LOW).sum(axis=1)
    return SegmentPitch(notes, fold(notes, TREBLE_WEIGHTS), fold(notes, BASS_WEIGHTS), energy, tonality, tuning)


def loudness(pitch: SegmentPitch) -> np.ndarray:
    """0..1: 1 within 20 dB of the song's loud parts (its 90th percentile), 0 at 60 dB below."""
    loud = np.percentile(pitch.energy, 90) + 1e-12
    return np.clip((20 * np.log10(np.maximum(pitch.energy, 1e-12) / loud) + 60) / 40, 0, 1)


def salience(pitch: SegmentPitch) -> np.ndarray:
    """How clearly each segment sounds pitched notes, 0..1: loud enough (within 20 dB of the song's
    loud parts, nothing at 60 dB below) and tonal (notes explain the spectrum, unlike drums or noise).

    Tonal is judged against the song itself too: voices and bowed strings (breath, vibrato,
    formants) leave more of the spectrum unexplained than plucked or keyed notes, so a song
    whose tonal parts (its 75th percentile) stay below TONAL_LOW + TONAL_RANGE has its threshold
    lowered as far, though never below TONAL_FLOOR, where drums and noise lie."""
    low = max(TONAL_FLOOR, min(TONAL_LOW, float(np.percentile(pitch.tonality, 75)) - TONAL_RANGE))
    return np.minimum(loudness(pitch), np.clip((pitch.tonality - low) / TONAL_RANGE, 0, 1))
