"""Quality checks: loudness, peaks, clipping, silence, bandwidth and transcode suspicion.

Conventions: levels in dBFS (0 dBFS = full scale) and loudness in LUFS (EBU R128 / ITU-R
BS.1770-4 integrated, gated); ratios are fractions of samples or frames in [0, 1]; frequencies
in Hz.

Transcode detection: every lossy encoder low-passes before it encodes, and the cut is a cliff,
tens of dB within a few hundred Hz, unlike the gentle high-frequency roll-off of real
recordings. LAME cuts near 16.8 kHz at 128 kbps, 18.6 kHz at 192 and 20.1 kHz at 320 (measured
with lameenc). A file whose cliff sits well below what its own bitrate would cut, or a lossless
file with any such cliff, was encoded from a lossy source: a 128 kbps MP3 re-encoded at 320
keeps its 16.8 kHz cliff and is flagged; a genuine 320 kbps file is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from songlake.udfs.audio import Audio

LOSSLESS_FORMATS = {"flac", "wav"}
# Bitrate (kbps) -> where a typical encoder's low-pass cliff sits (Hz); interpolated between.
_ENCODER_LOWPASS = [(64, 11000), (96, 15000), (128, 16800), (160, 17500), (192, 18600),
                    (224, 19000), (256, 19300), (320, 20100)]
CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped (lossy decoders overshoot 1.0)
SILENCE_DBFS = -60.0
GUIDELINES = {"min_bitrate_kbps": 320, "min_seconds": 120.0, "max_seconds": 360.0,
              "max_clipping_ratio": 1e-4, "max_silence_ratio": 0.5}


@dataclass(frozen=True)
class Quality:
    loudness_lufs: float | None
    peak_dbfs: float | None
    clipping_ratio: float
    silence_ratio: float
    bandwidth_hz: float | None
    suspected_transcode: bool
    is_mono: bool
    quality_flags: tuple[str, ...]


def expected_lowpass(bitrate_kbps: float) -> float:
    """Where an encoder at this bitrate would cut (Hz)."""
    rates, cuts = zip(*_ENCODER_LOWPASS)
    return float(np.interp(bitrate_kbps, rates, cuts))


def long_term_spectrum(mono: np.ndarray, sample_rate: int, n_fft: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, mean power in dB) over frames spread through the whole file."""
    frames = np.lib.stride_tricks.sliding_window_view(mono, n_fft)[:: n_fft * 2]
    if len(frames) == 0:
        return np.fft.rfftfreq(n_fft, 1 / sample_rate), np.full(n_fft // 2 + 1, -200.0)
    power = (np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2).mean(axis=0)
    power = np.convolve(power, np.ones(5) / 5, mode="same")  # ~100 Hz smoothing
    return np.fft.rfftfreq(n_fft, 1 / sample_rate), 10 * np.log10(power + 1e-20)


def bandwidth(mono: np.ndarray, sample_rate: int) -> tuple[float | None, bool]:
    """(effective bandwidth in Hz, whether it ends in an encoder-style cliff)."""
    freqs, level = long_term_spectrum(mono, sample_rate)
    band = (freqs >= 1000) & (freqs <= 5000)
    reference = float(np.median(level[band]))
    if reference < -150:  # digital silence
        return None, False
    audible = np.nonzero((level > reference - 60) & (freqs >= 500))[0]
    if len(audible) == 0:
        return None, False
    cutoff = float(freqs[audible[-1]])
    below = level[(freqs >= cutoff - 1000) & (freqs <= cutoff - 300)]
    above = level[(freqs >= cutoff + 300) & (freqs <= cutoff + 1000)]
    if len(below) == 0 or len(above) == 0:
        return cutoff, False
    # a cliff: real content right up to the cut, then tens of dB gone within a few hundred Hz
    cliff = below.mean() > reference - 45 and below.mean() - above.mean() > 30
    return cutoff, bool(cliff)


def _k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """BS.1770 K-weighting as two biquads (a +4 dB shelf above ~1.5 kHz, a 38 Hz high-pass),
    designed for any sample rate with the RBJ cookbook formulas."""
    def shelf(gain_db: float, q: float, fc: float):
        a = 10 ** (gain_db / 40)
        w0 = 2 * np.pi * fc / sample_rate
        alpha, cos = np.sin(w0) / (2 * q), np.cos(w0)
        b = [a * ((a + 1) + (a - 1) * cos + 2 * np.sqrt(a) * alpha),
             -2 * a * ((a - 1) + (a + 1) * cos),
             a * ((a + 1) + (a - 1) * cos - 2 * np.sqrt(a) * alpha)]
        den = [(a + 1) - (a - 1) * cos + 2 * np.sqrt(a) * alpha,
               2 * ((a - 1) - (a + 1) * cos),
               (a + 1) - (a - 1) * cos - 2 * np.sqrt(a) * alpha]
        return np.array(b) / den[0], np.array(den) / den[0]

    def highpass(q: float, fc: float):
        w0 = 2 * np.pi * fc / sample_rate
        alpha, cos = np.sin(w0) / (2 * q), np.cos(w0)
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        den = [1 + alpha, -2 * cos, 1 - alpha]
        return np.array(b) / den[0], np.array(den) / den[0]

    return [shelf(4.0, 1 / np.sqrt(2), 1500.0), highpass(0.5, 38.0)]


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """EBU R128 integrated loudness (LUFS) of (channels, frames) samples; None for silence.

    400 ms blocks every 100 ms, an absolute gate at -70 LUFS and a relative gate 10 LU below
    the loudness of the blocks that pass it (ITU-R BS.1770-4)."""
    weighted = samples.astype(np.float32)
    for b, a in _k_weighting(sample_rate):
        weighted = lfilter(b.astype(np.float32), a.astype(np.float32), weighted, axis=1)
    step = int(0.1 * sample_rate)  # 100 ms hops; a 400 ms block is four consecutive hops
    hops = weighted.shape[1] // step
    if hops < 4:
        return None
    hop_energy = np.einsum("chs,chs->ch", *(2 * [weighted[:, : hops * step].reshape(-1, hops, step)]),
                           dtype=np.float64)
    return gated_loudness(hop_energy, step)


def gated_loudness(hop_energy: np.ndarray, hop: int) -> float | None:
    """BS.1770-4 gated loudness from K-weighted energy per channel per 100 ms hop (of ``hop``
    samples): 400 ms blocks (four hops, 75 % overlap), an absolute gate at -70 LUFS and a
    relative gate 10 LU below. Streaming meters accumulate hop energies and call this at the end."""
    if hop_energy.shape[1] < 4:
        return None
    blocks = hop_energy[:, :-3] + hop_energy[:, 1:-2] + hop_energy[:, 2:-1] + hop_energy[:, 3:]
    gains = np.array([1.41 if c >= 3 else 1.0 for c in range(hop_energy.shape[0])])[:, None]
    power = (blocks / (4 * hop) * gains).sum(axis=0)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(power)
    gated = power[loudness > -70.0]
    if len(gated) == 0:
        return None
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    return float(-0.691 + 10 * np.log10(power[(loudness > -70.0) & (loudness > relative)].mean()))


def assess(audio: Audio) -> Quality:
    """All quality measurements and the guideline flags for one decoded file."""
    samples, mono = audio.samples, audio.mono
    peak = float(np.abs(samples).max())
    peak_dbfs = float(20 * np.log10(peak)) if peak > 0 else None
    clipping = float(np.mean(np.abs(samples) >= CLIP_LEVEL))
    hop = int(0.05 * audio.sample_rate)
    usable = len(mono) // hop * hop
    rms = np.sqrt(np.mean(mono[:usable].reshape(-1, hop).astype(np.float64) ** 2, axis=1))
    silence = float(np.mean(20 * np.log10(rms + 1e-12) < SILENCE_DBFS)) if len(rms) else 1.0
    width, cliff = bandwidth(mono, audio.sample_rate)
    transcode = False
    if cliff and width is not None:
        nyquist_cut = 0.9 * audio.sample_rate / 2
        limit = nyquist_cut if audio.format in LOSSLESS_FORMATS else min(nyquist_cut, expected_lowpass(audio.bitrate_kbps or 0))
        transcode = width < limit - 700
    mono_file = audio.channels == 1 or bool(
        np.max(np.abs(samples[0] - samples[1])) < 1e-4 * max(peak, 1e-9)
    )
    loudness = integrated_loudness(samples, audio.sample_rate) if peak > 0 else None
    flags = []
    if audio.format not in LOSSLESS_FORMATS and (audio.bitrate_kbps or 0) < GUIDELINES["min_bitrate_kbps"] - 2:
        flags.append("bitrate_below_320")
    if audio.duration < GUIDELINES["min_seconds"]:
        flags.append("shorter_than_2min")
    if audio.duration > GUIDELINES["max_seconds"]:
        flags.append("longer_than_6min")
    if clipping > GUIDELINES["max_clipping_ratio"]:
        flags.append("clipped")
    if silence > GUIDELINES["max_silence_ratio"]:
        flags.append("mostly_silent")
    if transcode:
        flags.append("suspected_transcode")
    if mono_file:
        flags.append("mono")
    if audio.decode_errors:
        flags.append("decode_errors")
    return Quality(
        loudness_lufs=loudness,
        peak_dbfs=peak_dbfs,
        clipping_ratio=clipping,
        silence_ratio=silence,
        bandwidth_hz=width,
        suspected_transcode=transcode,
        is_mono=mono_file,
        quality_flags=tuple(flags),
    )
