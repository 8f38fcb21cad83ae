"""Decoding: a file's bytes in, float32 samples out.

Conventions: samples are float32, nominally in [-1, 1] (lossy decoders may overshoot a little,
which is how clipping shows), shaped (channels, frames); times and durations are in seconds.
The container is recognised from the bytes alone, never from the file name, so a WAV named
``.mp3`` decodes as WAV. Decoding uses PyAV, whose wheels ship their own FFmpeg: no system
FFmpeg is needed.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cached_property

import av
import numpy as np

from songlake.udfs import _integrity

# FFmpeg demuxer name -> the format name songlake records. Anything else is refused.
SUPPORTED_FORMATS = {
    "mp3": "mp3",
    "flac": "flac",
    "wav": "wav",
    "ogg": "ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
}
MIN_SECONDS = 1.0  # shorter audio cannot carry a beat, a key or a loudness measurement


class UnreadableAudio(ValueError):
    """The bytes are not a complete, supported audio file. The message says why."""


@dataclass(frozen=True)
class Audio:
    """Decoded audio and what the container said about it."""

    samples: np.ndarray  # (channels, frames), float32
    sample_rate: int
    format: str  # mp3, flac, wav, ogg, m4a
    codec: str  # mp3float, flac, pcm_s16le, vorbis, aac, ...
    bitrate_kbps: int | None
    decode_errors: int = 0

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    @cached_property
    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0) if self.channels > 1 else self.samples[0]

    def mono_at(self, sample_rate: int) -> np.ndarray:
        """Mono samples resampled to sample_rate (soxr, high quality)."""
        if sample_rate == self.sample_rate:
            return self.mono
        import soxr

        return soxr.resample(self.mono, self.sample_rate, sample_rate).astype(np.float32)


def song_id(audio: Audio) -> str:
    """Stable identity of the recording: a hash of the decoded 16-bit PCM and its layout.

    Equal audio gives an equal id whatever the file is called or tagged; a re-encode at another
    bitrate is different audio and gets another id (the embedding finds it as a near-duplicate).
    """
    pcm = np.clip(np.round(audio.samples.T * 32768.0), -32768, 32767).astype("<i2")
    digest = hashlib.sha256(f"{audio.sample_rate}:{audio.channels}:".encode())
    digest.update(pcm.tobytes())
    return digest.hexdigest()[:32]


def decode(data: bytes) -> Audio:
    """Decode a whole file held in memory. Raises UnreadableAudio with the reason."""
    if len(data) == 0:
        raise UnreadableAudio("empty file (0 bytes)")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.error.FFmpegError:
        raise UnreadableAudio(
            "not audio: no audio format recognised in the content (not an audio file, or damaged)"
        ) from None
    with container:
        fmt = SUPPORTED_FORMATS.get(container.format.name)
        if fmt is None:
            raise UnreadableAudio(
                f"unsupported format '{container.format.long_name}' "
                f"(supported: {', '.join(sorted(set(SUPPORTED_FORMATS.values())))})"
            )
        if not container.streams.audio:
            raise UnreadableAudio(f"the {fmt} file holds no audio stream")
        stream = container.streams.audio[0]
        samples, errors, packets = _decode_stream(container, stream)
        declared = _declared_seconds(container, stream)
        sample_rate = stream.codec_context.sample_rate
        codec = stream.codec_context.name

    if samples.shape[1] == 0:
        raise UnreadableAudio(f"corrupt {fmt} file: no audio could be decoded")
    if packets and errors > max(2, packets // 100):
        raise UnreadableAudio(f"corrupt {fmt} file: {errors} of {packets} audio packets failed to decode")
    bitrate = _check_complete(data, fmt, samples.shape[1] / sample_rate, declared)
    seconds = samples.shape[1] / sample_rate
    if seconds < MIN_SECONDS:
        raise UnreadableAudio(f"too short to analyse: {seconds:.2f} s of audio (at least {MIN_SECONDS:g} s)")
    if bitrate is None:
        bitrate = len(data) * 8 / seconds / 1000
    return Audio(samples, sample_rate, fmt, codec, int(round(bitrate)), errors)


def _decode_stream(container, stream) -> tuple[np.ndarray, int, int]:
    resampler = av.AudioResampler(format="fltp", layout=None, rate=None)
    chunks: list[np.ndarray] = []
    errors = packets = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        packets += 1
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            errors += 1
            continue
        for frame in frames:
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray())
    if not chunks:
        return np.zeros((max(1, stream.codec_context.channels or 1), 0), np.float32), errors, packets
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), errors, packets


def _declared_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _check_complete(data: bytes, fmt: str, decoded: float, declared: float | None) -> float | None:
    """Raise UnreadableAudio for a truncated file; return the MPEG bitrate when known."""
    bitrate = None
    if fmt == "mp3":
        mpeg = _integrity.walk_mpeg(data)
        if mpeg.truncated:
            raise UnreadableAudio(mpeg.truncated)
        bitrate = mpeg.bitrate_kbps
    elif fmt == "wav":
        reason = _integrity.wav_truncation(data)
        if reason:
            raise UnreadableAudio(reason)
    elif fmt == "ogg":
        reason = _integrity.ogg_truncation(data)
        if reason:
            raise UnreadableAudio(reason)
    elif declared is not None and decoded < declared - max(0.1, 0.01 * declared):
        # FLAC's STREAMINFO and MP4's sample tables state the length exactly.
        raise UnreadableAudio(f"truncated: {decoded:.1f} s decoded of the {declared:.1f} s the {fmt} file declares")
    return bitrate
