"""The bar grid and per-bar features for ``udfs.sections``.

Bars are the unit of the form analysis: ``bar_grid`` turns downbeats into bar edges that cover the
whole song, ``spectra`` computes one short-time Fourier transform (22.05 kHz, 186 ms windows,
93 ms hop) and ``bar_features`` pools it per bar into harmony, timbre, loudness, brightness and
vocal level. The filterbanks are built here with numpy, so nothing slow is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

FEATURE_RATE = 22050
N_FFT, HOP = 4096, 2048  # several frames per beat up to ~250 BPM
N_MELS, N_MFCC = 40, 13
SUB = 4  # harmony slots per bar, so the order of the chords inside a bar counts
BASS_RANGE = (50.0, 250.0)  # Hz: the bass line, which plays the chord roots
BASS_WEIGHT = 0.5  # of the bass chroma against the full-range chroma in the harmony vector
TIMBRE_FLOOR = 0.2  # MFCC spread (per coefficient) below this is a loop's jitter, not a change of sound
AUDIBLE_STEM = 1e-3  # a vocal stem 30 dB below the mix is separation bleed, not singing
FREE_BAR = (2.0, 4.0)  # seconds: the range of a bar inferred from the chords when there are no downbeats


@dataclass(frozen=True)
class BarFeatures:
    edges: np.ndarray  # (n + 1,) bar edges in seconds, 0 first and the end of the song last
    harmony: np.ndarray  # (n, SUB * 24) per slot in order: chroma, then bass chroma; unit rows
    bass: np.ndarray  # (n, SUB * 12) the bass chroma alone; unit rows
    timbre: np.ndarray  # (n, N_MFCC) MFCC 1-13 of each bar's mean spectrum, z-scored over the song
    loudness: np.ndarray  # (n,) mean power in dB
    brightness: np.ndarray  # (n,) spectral centroid in Hz
    vocal: np.ndarray | None  # (n,) vocal-stem level in dB below the stem's loud bars; None without a stem
    timbre_spread: float  # mean standard deviation of the raw MFCC across bars

    @property
    def n(self) -> int:
        return len(self.edges) - 1


@dataclass(frozen=True)
class Spectra:
    """Short-time power spectra of the mix (and the vocal stem) that bar features pool."""

    times: np.ndarray  # frame centres in seconds
    power: np.ndarray  # (bins, frames)
    vocal_times: np.ndarray | None = None
    vocal_power: np.ndarray | None = None  # (frames,) total power of the vocal stem


def bar_grid(downbeats: np.ndarray, duration: float, beats: np.ndarray) -> np.ndarray:
    """Bar edges covering [0, duration]: the downbeats, with gaps (missed downbeats) and a late
    start or early stop filled with the median bar length, snapped to a beat where one is near.

    A lead-in shorter than half a bar joins the first bar. Bars are counted up to the end of the
    pulse (the last downbeat's bar or the last beat) and no further: what rings on after it (a held
    chord, a fade) belongs to the last bar, so no section can start there."""
    bar = float(np.median(np.diff(downbeats))) if len(downbeats) > 1 else duration
    beat = float(np.median(np.diff(beats))) if len(beats) > 1 else 0.0

    def snap(t: float) -> float:
        if len(beats):
            near = float(beats[np.argmin(np.abs(beats - t))])
            if abs(near - t) < 0.125 * bar:
                return near
        return t

    edges = [float(downbeats[0])]
    for nxt in downbeats[1:]:
        start, gap = edges[-1], float(nxt) - edges[-1]
        parts = max(1, int(round(gap / bar)))
        edges.extend(snap(start + gap * k / parts) for k in range(1, parts))
        edges.append(float(nxt))
    pulse_end = min(duration, max(float(downbeats[-1]) + bar, float(beats[-1]) + beat if len(beats) else 0.0))
    while edges[-1] + bar <= pulse_end + 0.25 * bar:
        edges.append(snap(edges[-1] + bar))
    head = []
    t = edges[0] - bar
    while t > 0.5 * bar:
        head.append(snap(t))
        t = head[-1] - bar
    edges = head[::-1] + edges
    if 1e-6 < edges[0] < 0.5 * bar:
        edges[0] = 0.0
    elif edges[0] > 1e-6:
        edges.insert(0, 0.0)
    if len(edges) > 1 and (edges[-1] >= pulse_end - 0.25 * bar or duration - edges[-1] < 0.5 * bar):
        edges[-1] = duration
    else:
        edges.append(duration)
    return np.asarray(edges)


def free_downbeats(duration: float, chord_spans: list[tuple[float, float, str]] | None) -> np.ndarray:
    """Stand-in downbeats for music without a pulse: bars as long as the median chord (held within
    FREE_BAR seconds), each bar line moved to the chord change nearest it within a quarter bar."""
    chords = [(a, b) for a, b, label in chord_spans or () if label not in ("N", "X") and b > a]
    bar = float(np.clip(np.median([b - a for a, b in chords]), *FREE_BAR)) if chords else FREE_BAR[0]
    changes = np.array([a for a, _ in chords[1:]])
    out = [chords[0][0] if chords and chords[0][0] < bar else 0.0]
    while out[-1] + bar < duration - 0.5 * bar:
        target = out[-1] + bar
        near = changes[np.abs(changes - target) <= 0.25 * bar] if len(changes) else changes
        out.append(float(near[np.argmin(np.abs(near - target))]) if len(near) else target)
    return np.asarray(out)


def spectra(mono: np.ndarray, sample_rate: int, vocals: np.ndarray | None = None) -> Spectra:
    times, power = _power(_resample(mono, sample_rate))
    if vocals is None:
        return Spectra(times, power)
    v_times, v_power = _power(_resample(vocals, sample_rate))
    return Spectra(times, power, v_times, v_power.sum(axis=0))


def bar_features(spec: Spectra, edges: np.ndarray,
                 chord_spans: list[tuple[float, float, str]] | None = None) -> BarFeatures:
    chroma_fb, mel_fb, dct = _filterbanks()
    times, power = spec.times, spec.power
    n = len(edges) - 1
    # the last bar may hold the ring-out after the last beat: describe it by its first bar's length
    bar = float(np.median(np.diff(edges))) if n > 1 else float(edges[-1] - edges[0])
    pooled = edges.copy()
    pooled[-1] = min(edges[-1], edges[-2] + bar)
    slots = np.append(np.linspace(pooled[:-1], pooled[1:], SUB, endpoint=False).T.ravel(), pooled[-1])

    chroma = _pool(chroma_fb @ np.sqrt(power), times, slots)  # (24, n * SUB) magnitudes
    full, bass = _unit_columns(chroma[:12]), _unit_columns(chroma[12:])
    if chord_spans:
        full = _unit_columns(full + _unit_columns(_chord_templates(chord_spans, slots)))
    # centred, so similarity is a correlation: what every chord of the key shares drops out
    full = _unit_columns(full - full.mean(axis=0))
    bass = _unit_columns(bass - bass.mean(axis=0))
    harmony = _unit_rows(np.vstack([full, BASS_WEIGHT * bass]).T.reshape(n, SUB * 24))
    bass_line = _unit_rows(bass.T.reshape(n, SUB * 12))

    # each bar's mean spectrum, not the mean of its frames' logs: silent frames (a lead-in, the
    # ring-out) then weigh as little as they sound
    mfcc = (dct @ np.log10(_pool(mel_fb @ power, times, pooled) + 1e-10)).T
    spread = mfcc.std(axis=0)
    timbre = (mfcc - mfcc.mean(axis=0)) / np.maximum(spread, TIMBRE_FLOOR)

    energy = power.sum(axis=0)
    centroid = (np.fft.rfftfreq(N_FFT, 1.0 / FEATURE_RATE) @ power) / (energy + 1e-12)
    bar_energy, bar_centroid = _pool(np.vstack([energy, centroid * energy]), times, pooled)
    loudness = 10 * np.log10(bar_energy / N_FFT**2 + 1e-12)
    brightness = bar_centroid / (bar_energy + 1e-12)

    vocal = None
    if spec.vocal_power is not None:
        level = _pool(spec.vocal_power[None, :], spec.vocal_times, pooled)[0]
        loud = float(np.percentile(level, 90))
        audible = loud > 1e-8 and loud > float(np.percentile(bar_energy, 90)) * AUDIBLE_STEM
        vocal = 10 * np.log10((level + 1e-12) / (loud + 1e-12)) if audible else np.full(n, -120.0)
    return BarFeatures(edges, harmony, bass_line, timbre, loudness, brightness, vocal, float(spread.mean()))


# --- spectra and pooling ----------------------------------------------------------------------------


def _resample(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == FEATURE_RATE:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples.astype(np.float32, copy=False), sample_rate, FEATURE_RATE, quality="LQ")


def _power(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frame centre times, power spectrogram (bins, frames)) at FEATURE_RATE."""
    if len(samples) < N_FFT:
        samples = np.pad(samples, (0, N_FFT - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP]
    spectrum = scipy.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).T
    times = (np.arange(power.shape[1]) * HOP + N_FFT / 2) / FEATURE_RATE
    return times, power


def _pool(values: np.ndarray, times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of the columns of values (dims, frames) whose times fall in each [edge_k, edge_k+1);
    a slot too short to hold a frame takes the frame nearest its middle."""
    slot = np.searchsorted(edges, times, side="right") - 1
    n = len(edges) - 1
    inside = (slot >= 0) & (slot < n)
    sums = np.zeros((values.shape[0], n))
    np.add.at(sums.T, slot[inside], values[:, inside].T)
    counts = np.bincount(slot[inside], minlength=n)
    empty = counts == 0
    if np.any(empty):
        middles = (edges[:-1][empty] + edges[1:][empty]) / 2
        nearest = np.clip(np.searchsorted(times, middles), 0, len(times) - 1)
        sums[:, empty] = values[:, nearest]
        counts[empty] = 1
    return sums / counts


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)


def _unit_columns(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=0, keepdims=True) + 1e-9)


def _chroma_filter(freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    """(12, bins): each bin between low and high votes for its pitch class, weighted by closeness."""
    chroma = np.zeros((12, len(freqs)), np.float32)
    ok = (freqs >= low) & (freqs <= high)
    midi = 69 + 12 * np.log2(freqs[ok] / 440.0)
    nearest = np.round(midi)
    chroma[nearest.astype(int) % 12, np.flatnonzero(ok)] = np.clip(1.0 - 2.0 * np.abs(midi - nearest), 0.0, 1.0)
    return chroma


@lru_cache(maxsize=1)
def _filterbanks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chroma (24, bins): full range then bass range, mel (N_MELS, bins), DCT (N_MFCC, N_MELS))."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / FEATURE_RATE)
    chroma = np.vstack([_chroma_filter(freqs, 55.0, 5000.0), _chroma_filter(freqs, *BASS_RANGE)])
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    centres = hz(np.linspace(mel(30.0), mel(10000.0), N_MELS + 2))
    mel_fb = np.zeros((N_MELS, len(freqs)), np.float32)
    for k in range(N_MELS):
        lo, mid, hi = centres[k : k + 3]
        triangle = np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid))
        mel_fb[k] = np.clip(triangle, 0.0, None) * 2.0 / (hi - lo)
    dct = scipy.fft.dct(np.eye(N_MELS), type=2, norm="ortho", axis=0)[1 : N_MFCC + 1]
    return chroma, mel_fb, dct.astype(np.float32)


# --- chords as chroma templates ----------------------------------------------------------------------

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_QUALITIES = {
    "maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "sus4": (0, 5, 7),
    "sus2": (0, 2, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10),
    "dim7": (0, 3, 6, 9), "hdim7": (0, 3, 6, 10), "maj6": (0, 4, 7, 9), "min6": (0, 3, 7, 9),
    "9": (0, 4, 7, 10, 2), "maj9": (0, 4, 7, 11, 2), "min9": (0, 3, 7, 10, 2), "minmaj7": (0, 3, 7, 11),
}


def chord_pitch_classes(label: str) -> tuple[int, ...]:
    """Pitch classes of a Harte label ('A:min7', 'Eb', 'G:7/5'); () for 'N', 'X' or an unreadable one.
    Unknown shorthands count as major triads: the template only has to tell progressions apart."""
    root, _, rest = label.partition(":")
    if not root or root[0] not in _LETTERS:
        return ()
    pc = _LETTERS[root[0]] + root[1:].count("#") - root[1:].count("b")
    quality = rest.split("/")[0].split("(")[0] or "maj"
    return tuple((pc + i) % 12 for i in _QUALITIES.get(quality, _QUALITIES["maj"]))


def _chord_templates(spans: list[tuple[float, float, str]], slots: np.ndarray) -> np.ndarray:
    """(12, slots) pitch classes of the chord sounding at each slot's middle."""
    out = np.zeros((12, len(slots) - 1))
    starts = np.array([s[0] for s in spans])
    for k, t in enumerate((slots[:-1] + slots[1:]) / 2):
        i = int(np.searchsorted(starts, t, side="right")) - 1
        if i >= 0 and spans[i][0] <= t < spans[i][1]:
            out[list(chord_pitch_classes(spans[i][2])), k] = 1.0
    return out
