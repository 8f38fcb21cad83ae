"""Fingerprints: the same recording found across encodes and edits.

Conventions: times in seconds from the start of the file. A fingerprint is Chromaprint's raw
one (the AcoustID fingerprint, algorithm 2): one 32-bit sub-fingerprint every HOP seconds
(about 8 a second), each the signs of 16 filters over 12-bin chroma, so it survives re-encoding,
another bitrate or format, a gain change and a fade, and it is blind to tags. Silence at the
start and end is cut before fingerprinting (its sub-fingerprints would match any other silence);
``start`` says where the fingerprinted audio begins in the file.

Matching two fingerprints (``match``): the bit error rate (BER) of every alignment at once, by
cross-correlating the 32 bit planes (an FFT), then, at the few best offsets, the frames whose
BER over a 2 s window stays below MATCH_BER; the longest such stretch is what the two share.
Unrelated music sits near BER 0.5; copies of one recording well below 0.2. The kinds:

- ``same_audio``: the shared stretch covers each fingerprint but for SAME_SLACK (a re-encode,
  other bitrate or format, gain, trimmed silence, a fade);
- ``edit``: one shares at least MIN_SHARED seconds with the other but either has more than the
  slack of its own (a radio edit, an intro cut, an excerpt);
- ``near``: the same, once one copy is played at another speed within MAX_SPEED (±3 %); found
  by ``match_near``, which fingerprints the audio again at the speeds worth trying (the lake
  proposes candidates by embedding, see jobs/duplicates.py);
- ``none``: nothing shared for MIN_SHARED seconds.

The score is 1 - 2 x BER over the shared stretch: 1 for identical audio, 0 for unrelated.

Chromaprint comes from Debian's ``libchromaprint1`` through ``pyacoustid``'s ctypes binding (no
``fpcalc``). Where the library is missing, ``fingerprint`` raises ``FingerprintUnavailable``
whose message says how to install it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from songlake.udfs._checks import is_silent

ALGORITHM = "chromaprint-2"  # Chromaprint's default algorithm (TEST2), the one AcoustID uses
RATE = 11025  # Chromaprint's internal rate
HOP = 1365 / RATE  # seconds between sub-fingerprints (4096-sample frames, 2/3 overlap)
SILENCE = 1e-3  # -60 dBFS: quieter blocks at either end are cut
MIN_SECONDS = 5.0  # shorter audio has too few sub-fingerprints to match
WINDOW = 16  # sub-fingerprints (2 s) over which a stretch's BER is smoothed
MATCH_BER = 0.2  # a frame belongs to a shared stretch when its window's BER is below this
MIN_SHARED = 20.0  # seconds of shared audio for any match (10 s of one chord loop can recur by chance)
SAME_SLACK = (5.0, 0.08)  # same audio: each side's unshared part under max(5 s, 8 % of it)
MAX_SPEED = 0.035  # near: speeds within ±3.5 % are tried
INSTALL = "install Chromaprint: apt-get install libchromaprint1 && pip install pyacoustid"


class FingerprintUnavailable(RuntimeError):
    """Chromaprint (libchromaprint1 and pyacoustid) is not installed: the message says how."""


@dataclass(frozen=True)
class Fingerprint:
    values: np.ndarray  # uint32 sub-fingerprints, one every HOP seconds from ``start``
    duration: float  # seconds of the whole audio
    start: float  # seconds of silence cut from the start
    algorithm: str = ALGORITHM

    @property
    def seconds(self) -> float:
        """Seconds the sub-fingerprints cover."""
        return len(self.values) * HOP


@dataclass(frozen=True)
class Match:
    kind: str  # same_audio, edit, near or none
    score: float  # 1 - 2 x BER over the shared stretch (0 when nothing is shared)
    offset: float  # seconds: a moment at time t in a is at time t + offset in b
    shared_seconds: float  # length of the longest shared stretch
    a_start: float = 0.0  # seconds: where the shared stretch starts in a
    speed: float = 1.0  # near: b plays at this speed relative to a

    @property
    def found(self) -> bool:
        return self.kind != "none"


NO_MATCH = Match("none", 0.0, 0.0, 0.0)


def chromaprint_version() -> str:
    """The Chromaprint library's version; FingerprintUnavailable when it is missing."""
    return _library().chromaprint_get_version().decode()


def fingerprint(mono: np.ndarray, sample_rate: int) -> Fingerprint:
    """The Chromaprint fingerprint of mono float audio (any rate Chromaprint can resample from).
    Silence, or under MIN_SECONDS of sound, gives an empty fingerprint with a warning."""
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate < 4000:
        raise ValueError(f"fingerprint needs a sample rate in Hz of at least 4000, got {sample_rate!r} "
                         "(seconds or kHz instead of Hz?)")
    mono = np.asarray(mono)
    if mono.ndim != 1:
        raise ValueError(f"fingerprint needs mono samples shaped (frames,), got shape {mono.shape} (mix down first)")
    if not np.issubdtype(mono.dtype, np.floating):
        raise ValueError(f"fingerprint needs float samples in [-1, 1], got {mono.dtype} (divide PCM by 32768)")
    if mono.size and not np.isfinite(mono).all():
        raise ValueError("fingerprint needs finite samples, got NaN or infinity")
    duration = mono.size / sample_rate
    first, last = _sounding(mono, sample_rate)
    if last - first < MIN_SECONDS * sample_rate:
        warnings.warn("silence, or under 5 s of sound: an empty fingerprint", stacklevel=2)
        return Fingerprint(np.zeros(0, np.uint32), duration, 0.0)
    values = _chromaprint(mono[first:last], int(sample_rate))
    return Fingerprint(values, duration, first / sample_rate)


def at_speed(mono: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
    """The audio played speed times as fast (tempo and pitch together, as a turntable does)."""
    import soxr

    return soxr.resample(mono, sample_rate * speed, sample_rate).astype(np.float32)


def match(a: Fingerprint, b: Fingerprint) -> Match:
    """How two fingerprints relate: the kind, the score and the alignment (see the module)."""
    x, y = a.values, b.values
    if min(len(x), len(y)) * HOP < MIN_SHARED:
        return NO_MATCH
    best = None  # (shared frames, -ber, offset in frames, first frame of a)
    for lag in _best_lags(x, y):
        run = _shared_run(x, y, lag)
        if run is not None and (best is None or run[:2] > best[:2]):
            best = (*run, lag)
    if best is None or best[0] * HOP < MIN_SHARED:
        return NO_MATCH
    frames, neg_ber, first, lag = best
    offset = lag * HOP + b.start - a.start
    shared = frames * HOP
    same = all(len(v) * HOP - shared <= max(SAME_SLACK[0], SAME_SLACK[1] * len(v) * HOP) for v in (x, y))
    return Match("same_audio" if same else "edit", round(1 + 2 * neg_ber, 4), round(offset, 3), round(shared, 2),
                 round(a.start + first * HOP, 3))


def match_near(a_mono: np.ndarray, sample_rate: int, a: Fingerprint, b: Fingerprint) -> Match:
    """The best match of a's audio, played at the speeds worth trying, with b: kind ``near`` when
    a speed other than 1 shares MIN_SHARED seconds. The speeds come from the two songs' sounding
    lengths (a song played faster is shorter), with neighbours either side for trimmed ends."""
    if not len(a.values) or not len(b.values):
        return NO_MATCH
    ratio = len(a.values) / len(b.values)
    speeds = sorted({round(float(np.clip(ratio + d, 1 - MAX_SPEED, 1 + MAX_SPEED)), 4)
                     for d in (-0.01, -0.005, 0.0, 0.005, 0.01)} - {1.0})
    best = NO_MATCH
    for speed in speeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sped = fingerprint(at_speed(a_mono, sample_rate, speed), sample_rate)
        found = match(sped, b)
        if found.found and (found.shared_seconds, found.score) > (best.shared_seconds, best.score):
            # a's times are its sped-up copy's times x speed
            best = Match("near", found.score, round(found.offset + found.a_start * (speed - 1), 3),
                         found.shared_seconds, round(found.a_start * speed, 3), speed)
    return best


# --- the parts ------------------------------------------------------------------------------

def _library():
    try:
        import chromaprint
    except ImportError as exc:  # pyacoustid missing, or it found no libchromaprint
        raise FingerprintUnavailable(f"Chromaprint is not available ({exc}): {INSTALL}") from None
    return chromaprint._libchromaprint


def _chromaprint(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    _library()
    import chromaprint

    pcm = np.clip(np.round(mono * 32767.0), -32768, 32767).astype("<i2")
    printer = chromaprint.Fingerprinter()
    printer.start(sample_rate, 1)
    printer.feed(pcm.tobytes())
    raw, _ = chromaprint.decode_fingerprint(printer.finish())
    return np.asarray(raw, dtype=np.int64).astype(np.uint32)


def _sounding(mono: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """The first and last sample (exclusive) of the blocks of 50 ms louder than SILENCE."""
    block = max(1, sample_rate // 20)
    n = mono.size // block
    if n == 0 or is_silent(mono, SILENCE):
        return 0, 0
    peaks = np.abs(mono[:n * block].reshape(n, block)).max(axis=1)
    loud = np.flatnonzero(peaks > SILENCE)
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * block), int(min(mono.size, (loud[-1] + 1) * block))


def _bits(values: np.ndarray) -> np.ndarray:
    """(n, 32) array of +1 / -1, one column per bit."""
    planes = (values[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    return planes.astype(np.float32) * 2 - 1


def _best_lags(x: np.ndarray, y: np.ndarray, count: int = 3) -> list[int]:
    """The lags (b's frame = a's frame + lag) with the lowest BER over an overlap of at least
    MIN_SHARED seconds: every lag at once from the cross-correlation of the bit planes."""
    n, m = len(x), len(y)
    size = 1 << int(np.ceil(np.log2(n + m)))
    fx = np.fft.rfft(_bits(x), size, axis=0)
    fy = np.fft.rfft(_bits(y), size, axis=0)
    corr = np.fft.irfft((np.conj(fx) * fy).sum(axis=1), size)  # corr[k] = sum_i x[i] . y[i + k]
    lags = np.arange(-(n - 1), m)
    agree = np.concatenate([corr[size - (n - 1):], corr[:m]]) if n > 1 else corr[:m]
    overlap = np.minimum(n, m - lags) - np.maximum(0, -lags)
    ber = np.full(lags.size, 1.0)
    enough = overlap >= MIN_SHARED / HOP
    ber[enough] = 0.5 - agree[enough] / (64.0 * overlap[enough])
    chosen: list[int] = []
    for i in np.argsort(ber, kind="stable"):
        if ber[i] >= 0.5 or len(chosen) == count:
            break
        if all(abs(lags[i] - c) > WINDOW for c in chosen):  # distinct alignments, not neighbours
            chosen.append(int(lags[i]))
    return chosen


def _shared_run(x: np.ndarray, y: np.ndarray, lag: int) -> tuple[int, float, int] | None:
    """At one lag: (frames, -BER, first frame of a) of the longest stretch whose windowed BER stays
    under MATCH_BER; None when no frame does."""
    i0, i1 = max(0, -lag), min(len(x), len(y) - lag)
    if i1 - i0 < WINDOW:
        return None
    errors = np.unpackbits((x[i0:i1] ^ y[i0 + lag:i1 + lag]).view(np.uint8)).reshape(-1, 32).sum(axis=1) / 32.0
    windowed = np.convolve(errors, np.ones(WINDOW) / WINDOW, mode="same")
    good = np.concatenate([[False], windowed < MATCH_BER, [False]])
    edges = np.flatnonzero(np.diff(good.astype(np.int8)))
    if edges.size == 0:
        return None
    starts, ends = edges[0::2], edges[1::2]
    longest = int(np.argmax(ends - starts))
    s, e = int(starts[longest]), int(ends[longest])
    core = errors[s + WINDOW // 2:e - WINDOW // 2]  # the window's edges reach into what differs
    return e - s, -float((core if core.size else errors[s:e]).mean()), i0 + s
