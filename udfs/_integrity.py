"""Container-level checks that decoders skip: is the file complete?

FFmpeg decodes a truncated MP3, WAV or Ogg file without complaint and simply stops early, so a
half-downloaded song would enter the lake looking healthy. Each check here reads the container's
own bookkeeping (MPEG frame lengths, RIFF chunk sizes, the Ogg end-of-stream page) and returns a
reason string when the file ends before the container says it should, else None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Bitrates in kbps by [mpeg1?][layer][index]; index 0 is "free", 15 is invalid.
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class MpegStream:
    """What walking the MPEG audio frames of a file found."""

    frames: int
    audio_bytes: int
    seconds: float
    truncated: str | None

    @property
    def bitrate_kbps(self) -> float | None:
        return self.audio_bytes * 8 / self.seconds / 1000 if self.seconds > 0 else None


def frame_header(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(frame length in bytes, samples per frame, sample rate) of the header at pos, or None."""
    if pos + 4 > len(data) or data[pos] != 0xFF or (data[pos + 1] & 0xE0) != 0xE0:
        return None
    version = (data[pos + 1] >> 3) & 0x3  # 3: MPEG1, 2: MPEG2, 0: MPEG2.5, 1: reserved
    layer = 4 - ((data[pos + 1] >> 1) & 0x3)  # 1..3; 4 means reserved
    bitrate_index = data[pos + 2] >> 4
    rate_index = (data[pos + 2] >> 2) & 0x3
    padding = (data[pos + 2] >> 1) & 0x1
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384, rate
    if layer == 2 or mpeg1:
        return 144 * bitrate // rate + padding, 1152, rate
    return 72 * bitrate // rate + padding, 576, rate


def id3v2_end(data: bytes) -> int:
    """Offset just after a leading ID3v2 tag (its synchsafe size, plus a footer if flagged), or 0."""
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = ((data[6] & 0x7F) << 21) | ((data[7] & 0x7F) << 14) | ((data[8] & 0x7F) << 7) | (data[9] & 0x7F)
    return 10 + size + (10 if data[5] & 0x10 else 0)


def audio_end(data: bytes) -> int:
    """Offset where MPEG audio ends, before trailing ID3v1 and APEv2 tags."""
    end = len(data)
    if end >= 128 and data[end - 128 : end - 125] == b"TAG":
        end -= 128
    if end >= 32 and data[end - 32 : end - 24] == b"APETAGEX":
        size = struct.unpack("<I", data[end - 20 : end - 16])[0]
        end -= size + (32 if data[end - 32 + 23] & 0x80 else 0)
    return max(end, 0)


def _xing_frame_count(data: bytes, pos: int, length: int) -> int | None:
    """Frame count declared by a Xing/Info/VBRI header inside the first frame, if any."""
    head = data[pos : pos + length]
    for marker in (b"Xing", b"Info"):
        at = head.find(marker)
        if at >= 0 and at + 12 <= len(head):
            flags = struct.unpack(">I", head[at + 4 : at + 8])[0]
            if flags & 0x1:
                return struct.unpack(">I", head[at + 8 : at + 12])[0]
    at = head.find(b"VBRI")
    if at >= 0 and at + 18 <= len(head):
        return struct.unpack(">I", head[at + 14 : at + 18])[0]
    return None


def walk_mpeg(data: bytes) -> MpegStream:
    """Walk the MPEG audio frames from the first one to the end of the audio."""
    pos = id3v2_end(data)
    end = audio_end(data)
    # Find the first of two consecutive valid frames (a lone 0xFFE sync can be chance).
    while pos < end:
        pos = data.find(b"\xff", pos, end)
        if pos < 0:
            return MpegStream(0, 0, 0.0, "no MPEG audio frames found")
        header = frame_header(data, pos)
        if header and frame_header(data, pos + header[0]) is not None:
            break
        if header and pos + header[0] >= end:
            break
        pos += 1
    declared = None
    frames = audio_bytes = samples = 0
    rate = 0
    truncated = None
    first = True
    while pos < end:
        header = frame_header(data, pos)
        if header is None:
            # Junk between frames: resynchronise on the next valid header.
            nxt = data.find(b"\xff", pos + 1, end)
            if nxt < 0:
                break
            pos = nxt
            continue
        length, per_frame, rate = header
        if first:
            declared = _xing_frame_count(data, pos, length)
            first = False
        if pos + length > end:
            truncated = f"truncated: the last MPEG frame has {end - pos} of its {length} bytes"
            break
        frames += 1
        audio_bytes += length
        samples += per_frame
        pos += length
    if truncated is None and declared is not None and frames + 1 < declared:
        truncated = f"truncated: {frames} MPEG frames of the {declared} its header declares"
    return MpegStream(frames, audio_bytes, samples / rate if rate else 0.0, truncated)


def wav_truncation(data: bytes) -> str | None:
    """Reason when the RIFF 'data' chunk is shorter than its header says."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"data":
            have = len(data) - pos - 8
            if size not in (0, 0xFFFFFFFF) and have < size:
                return f"truncated: the WAV data chunk has {have} of its {size} bytes"
            return None
        pos += 8 + size + (size & 1)
    return "truncated: the WAV file ends before its data chunk"


def ogg_truncation(data: bytes) -> str | None:
    """Reason when the last Ogg page is cut short or is not marked end-of-stream."""
    last = data.rfind(b"OggS")
    if last < 0 or last + 27 > len(data):
        return "truncated: no complete Ogg page at the end of the file"
    segments = data[last + 26]
    table_end = last + 27 + segments
    if table_end > len(data) or table_end + sum(data[last + 27 : table_end]) > len(data):
        return "truncated: the last Ogg page is cut short"
    if not data[last + 5] & 0x04:
        return "truncated: the Ogg stream has no end-of-stream page"
    return None
