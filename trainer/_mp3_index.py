"""A frame index of a constant-bitrate MP3, so a clip is decoded from a few frames' bytes.

libsndfile (mpg123) seeks sample-exactly in an MP3 by walking every frame header from the
start, and needs the whole file in memory to do it. With the byte offset of each frame known, a
clip needs only the frames that hold it: take those bytes (plus ``PREROLL`` frames before, whose
bit reservoir and overlap the first wanted frame needs, and ``POSTROLL`` after), decode them
with libsndfile, and skip to the clip's first sample. The result equals decoding the whole file
sample for sample, tested in tests/trainer/test_mp3_index.py.

Where the samples are: mpg123 decodes a fragment without trimming anything, so sample j of
the fragment is sample ``lo * 1152 + j`` of the raw decode. Decoding the whole file drops
``delay`` samples at the start when the file has a LAME/Info tag, the encoder delay from the
tag plus the decoder's 529, so sample s of the song is raw sample ``s + delay``.

The index is built only where it is exact, and the reader falls back to libsndfile's own seek
otherwise:

- MPEG-1 Layer III at 44.1 kHz (1152 samples a frame), every frame at the same bitrate: mpg123
  estimates a fragment's length from its first frame, so with a varying bitrate (VBR, ABR) it
  would stop early;
- the frames found account for the whole file: with a LAME tag, frames x 1152 less the tag's
  delay and padding is the length libsndfile reports (which the tag makes exact); without one
  (libsndfile's length is then an estimate from the size), the frames run from the ID3v2 tag to
  the end of the audio (before ID3v1 and APEv2 tags; the frame walk is udfs/_integrity's). A
  file with junk between frames is never indexed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from songlake.udfs._integrity import audio_end, frame_header, id3v2_end

SAMPLES_PER_FRAME = 1152
DECODER_DELAY = 529  # mpg123's (and FFmpeg's) delay, added to the LAME tag's encoder delay
PREROLL = 3  # frames before the clip's first: the bit reservoir reaches back up to 511 bytes
POSTROLL = 3  # frames after its last: the synthesis overlap needs the next frame


@dataclass(frozen=True)
class Mp3Index:
    """Byte offsets of the audio frames (one more than there are frames: the end), and the
    samples the whole-file decode drops at the start."""

    offsets: np.ndarray
    delay: int

    def span(self, first: int, n: int) -> tuple[int, int, int] | None:
        """(byte offset, byte length, samples to skip) of the fragment that holds song samples
        [first, first + n); None for a clip within ``POSTROLL`` frames of the end, which the
        caller reads from the whole file (mpg123 estimates a fragment's length from its size,
        a few samples short, and the post-roll frames are what absorbs that)."""
        raw = first + self.delay
        lo = max(0, raw // SAMPLES_PER_FRAME - PREROLL)
        hi = (raw + n) // SAMPLES_PER_FRAME + 1 + POSTROLL
        if hi > len(self.offsets) - 1:
            return None
        start = int(self.offsets[lo])
        return start, int(self.offsets[hi]) - start, raw - lo * SAMPLES_PER_FRAME


def frame_index(data: bytes, frames: int) -> Mp3Index | None:
    """The index of an MP3 file for which libsndfile reports ``frames`` samples, or None where an
    index would not be exact (see the module docstring)."""
    pos, end = id3v2_end(data), audio_end(data)
    offsets: list[int] = []
    while pos < end:
        header = frame_header(data, pos)  # checks that the 4 header bytes are there
        if header is None or (data[pos + 1] >> 1) & 3 != 1 or header[1:] != (SAMPLES_PER_FRAME, 44100) \
                or pos + header[0] > end:  # MPEG-1 Layer III at 44.1 kHz, whole
            break
        offsets.append(pos)
        pos += header[0]
    if pos != end or not offsets:  # junk between frames, a truncated last frame, or another format
        return None
    delay = padding = 0
    tag = _lame_tag(data, offsets[0])
    if tag is not None:  # the tag frame decodes to nothing: the audio starts after it
        delay, padding = tag
        if delay < 0:
            return None
        offsets = offsets[1:]
    if len({data[o + 2] >> 4 for o in offsets}) != 1:  # bitrate indexes: one, or none at all
        return None
    offsets.append(pos)
    if len(offsets) - 1 < PREROLL + POSTROLL + 2:
        return None
    if tag is not None and (len(offsets) - 1) * SAMPLES_PER_FRAME - delay - padding != frames:
        return None
    return Mp3Index(np.asarray(offsets, dtype=np.int64), delay + DECODER_DELAY if tag else 0)


def _lame_tag(data: bytes, frame: int) -> tuple[int, int] | None:
    """(encoder delay, padding) from a Xing/Info frame's LAME extension; None when the first
    frame is audio; (-1, -1) for a Xing/Info frame without the extension (not indexed: what the
    decoder trims is then not known here)."""
    side = 17 if (data[frame + 3] >> 6) == 3 else 32  # side information: mono 17 bytes, else 32
    tag = frame + 4 + side
    if data[tag:tag + 4] not in (b"Info", b"Xing"):
        return None
    flags = int.from_bytes(data[tag + 4:tag + 8], "big")
    ext = tag + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    raw = data[ext + 21:ext + 24]
    if len(raw) < 3 or not data[ext:ext + 4].strip(b"\x00"):
        return -1, -1
    return (raw[0] << 4) | (raw[1] >> 4), ((raw[1] & 0x0F) << 8) | raw[2]
