"""A clip for similarity search (POST /search/similar): decoded as a stream, at most a set
length, then embedded the way songs are.

The clip is read from its file a packet at a time and each frame is mixed to mono as it comes,
so memory holds the mono samples of at most ``max_seconds``, whatever the file's channels or
length: a 206 kB FLAC of 20 minutes of silence costs what its first minute costs. Decoding
stops at ``max_seconds`` of audio or at the deadline (RequestTimeout). The mono samples are
resampled to the analysis rate exactly as ingest does (the mean of the channels, then soxr:
udfs.audio.Audio.mono_at), so a clip of a whole song gets that song's vector.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from songlake.server.errors import BadRequest, RequestTimeout
from songlake.udfs.audio import SUPPORTED_FORMATS
from songlake.udfs.embedding import ANALYSIS_RATE, N_FFT, embed

MAX_RATE = 192_000  # Hz; a clip declaring more is refused (its samples would be the memory bound)
MAX_CHANNELS = 16


@dataclass(frozen=True)
class ClipVector:
    vector: np.ndarray  # (DIM,) float32, unit length
    seconds: float  # how much of the clip was embedded
    whole: bool  # False when the clip was longer than the limit and only its start was used


def clip_vector(path: Path, name: str, *, max_seconds: float, deadline: float) -> ClipVector:
    """The embedding of the first `max_seconds` of the audio file at `path` (called `name` in
    messages). BadRequest when it is not audio, too short or silent; RequestTimeout past
    `deadline` (time.monotonic)."""
    try:
        container = av.open(str(path))
    except av.error.FFmpegError:  # its message quotes the path: say nothing of it
        raise BadRequest(f"{name}: not an audio file that songlake can decode") from None
    with container:
        if container.format.name not in SUPPORTED_FORMATS:
            raise BadRequest(f"{name}: unsupported format '{container.format.long_name}'")
        if not container.streams.audio:
            raise BadRequest(f"{name}: the file holds no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or 0
        channels = stream.codec_context.channels or 0
        if not 0 < rate <= MAX_RATE or not 0 < channels <= MAX_CHANNELS:
            raise BadRequest(f"{name}: {rate} Hz, {channels} channels is not audio songlake reads "
                             f"(at most {MAX_RATE} Hz and {MAX_CHANNELS} channels)")
        mono, whole = _decode_mono(container, stream, int(max_seconds * rate), deadline)
    if mono.size:
        import soxr

        mono = soxr.resample(mono, rate, ANALYSIS_RATE).astype(np.float32) if rate != ANALYSIS_RATE else mono
    if mono.size < 2 * N_FFT:
        raise BadRequest(f"{name}: too short to compare ({mono.size / ANALYSIS_RATE:.2f} s of audio decoded; "
                         f"at least {2 * N_FFT / ANALYSIS_RATE:.2f} s)")
    if time.monotonic() > deadline:
        raise RequestTimeout(f"{name}: decoding the clip took longer than the time allowed")
    vector = np.asarray(embed(mono).vector, dtype=np.float32)
    if not np.any(vector):
        raise BadRequest(f"{name}: the clip is silent, so nothing sounds like it")
    return ClipVector(vector, mono.size / ANALYSIS_RATE, whole)


def _decode_mono(container, stream, limit: int, deadline: float) -> tuple[np.ndarray, bool]:
    """At most `limit` mono samples (the mean of the channels) at the stream's rate, and whether
    the stream ended before the limit (the whole clip was read)."""
    formatter = av.AudioResampler(format="fltp", layout=None, rate=None)  # planar float, as ingest decodes
    chunks: list[np.ndarray] = []
    have = 0

    def take(frames) -> None:
        nonlocal have
        for frame in frames:
            for out in formatter.resample(frame):
                planes = out.to_ndarray()
                chunks.append(planes.mean(axis=0, dtype=np.float32) if planes.shape[0] > 1 else planes[0].copy())
                have += chunks[-1].size

    for packet in container.demux(stream):
        if time.monotonic() > deadline:
            raise RequestTimeout("decoding the clip took longer than the time allowed")
        if packet.size == 0:
            continue
        try:
            take(packet.decode())
        except av.error.FFmpegError:  # a damaged packet: skip it, as ingest does
            continue
        if have >= limit:
            return np.concatenate(chunks)[:limit], False
    take([None])  # flush the formatter
    mono = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return mono[:limit], mono.size <= limit
