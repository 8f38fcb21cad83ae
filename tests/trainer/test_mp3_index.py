"""The MP3 frame index: a clip decoded from its frames' bytes equals the whole file's decode
(sample for sample, to 1e-6)."""

from __future__ import annotations

import io

import av
import lameenc
import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3, TIT2

from songlake.trainer._mp3_index import DECODER_DELAY, frame_index

RATE = 44100


def _music(seconds: float, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(1)
    tones = [np.sin(2 * np.pi * f * t * (1 + 0.01 * t)) for f in (440.0, 331.0)[:channels]]
    return (np.stack(tones) * 0.3 + 0.05 * rng.standard_normal((channels, t.size))).astype(np.float32)


def _lameenc(x: np.ndarray, kbps: int = 192) -> bytes:
    """CBR without a Xing/Info frame (a stream encoder's output)."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(x.shape[0])
    encoder.set_quality(2)
    return encoder.encode((x.T * 32767).astype(np.int16).tobytes()) + encoder.flush()


def _ffmpeg(x: np.ndarray, vbr: bool = False) -> bytes:
    """libmp3lame through FFmpeg: an Info (CBR) or Xing (VBR) frame with the LAME tag's delay."""
    buffer = io.BytesIO()
    layout = "stereo" if x.shape[0] == 2 else "mono"
    with av.open(buffer, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout=layout)
        if vbr:
            stream.codec_context.qscale = 4
            stream.codec_context.flags |= av.codec.context.Flags.qscale
        else:
            stream.bit_rate = 160000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout=layout)
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


def _with_id3(data: bytes, tmp_path) -> bytes:
    path = tmp_path / "tagged.mp3"
    path.write_bytes(data)
    tags = ID3()
    tags.add(TIT2(encoding=3, text="a title long enough to move the first frame" * 20))
    tags.save(path)
    return path.read_bytes()


def _whole(data: bytes) -> np.ndarray:
    return sf.read(io.BytesIO(data), dtype="float32", always_2d=True)[0].T


def _clip(data: bytes, index, first: int, n: int) -> np.ndarray:
    offset, length, skip = index.span(first, n)
    with sf.SoundFile(io.BytesIO(data[offset:offset + length])) as f:
        f.seek(skip)
        return f.read(n, dtype="float32", always_2d=True).T


@pytest.mark.parametrize("make", ["lameenc", "lameenc-mono", "ffmpeg-info", "lameenc-id3", "ffmpeg-info-id3"])
def test_clips_from_the_index_equal_the_whole_decode(make, tmp_path):
    x = _music(12.0, channels=1 if make.endswith("mono") else 2)
    data = _ffmpeg(x) if make.startswith("ffmpeg") else _lameenc(x)
    if make.endswith("id3"):
        data = _with_id3(data, tmp_path)
    whole = _whole(data)
    index = frame_index(data, whole.shape[1])
    assert index is not None
    assert index.delay == (0 if make.startswith("lameenc") else 576 + DECODER_DELAY)  # LAME's usual delay
    rng = np.random.default_rng(0)
    starts = [0, 1, 1151, 1152, 5000, whole.shape[1] - 3000, whole.shape[1] - 1] + rng.integers(0, whole.shape[1], 25).tolist()
    indexed = 0
    for first in starts:
        n = min(2 * RATE, whole.shape[1] - first)
        if index.span(first, n) is None:  # the song's last frames: read from the whole file
            assert first + n > whole.shape[1] - 5 * 1152
            continue
        clip = _clip(data, index, first, n)
        # equal up to float rounding (mpg123's mono synthesis differs in the last bit, 9e-8)
        np.testing.assert_allclose(clip, whole[:, first:first + n], rtol=0, atol=1e-6, err_msg=f"{make} at {first}")
        assert index.span(first, n)[1] < len(data) / 2  # only the clip's frames were read
        indexed += 1
    assert indexed >= 25


def test_files_the_index_would_get_wrong_are_not_indexed(tmp_path):
    x = _music(8.0)
    vbr = _ffmpeg(x, vbr=True)
    assert frame_index(vbr, _whole(vbr).shape[1]) is None  # mpg123 misjudges a VBR fragment's length
    tagged = _ffmpeg(x)
    assert frame_index(tagged, _whole(tagged).shape[1] + 1) is None  # frames must account for the tag's length
    cbr = _lameenc(x)
    frames = _whole(cbr).shape[1]
    assert frame_index(cbr + b"TAG" + bytes(125), frames) is not None  # an ID3v1 tag at the end is fine
    for junk in (cbr[:40000] + b"\x00" * 700 + cbr[40000:], cbr + b"APETAGEX" + bytes(60)):
        assert frame_index(junk, frames) is None  # the frames must run to the end
    assert frame_index(b"RIFF" + bytes(100), 10) is None
    assert frame_index(cbr[:2000], frames) is None
