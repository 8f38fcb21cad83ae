import numpy as np
import pytest

from songlake.udfs.audio import MIN_SECONDS, UnreadableAudio, decode, song_id
from songlake.synth import SAMPLE_RATE as SR, encode


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac", "ogg", "m4a"])
def test_decodes_every_supported_format(song, fmt):
    audio = decode(encode(song.samples, fmt))
    assert audio.format == fmt
    assert audio.sample_rate == SR and audio.channels == 2
    assert abs(audio.duration - song.samples.shape[1] / SR) < 0.1
    assert audio.samples.dtype == np.float32


def test_mp3_bitrate_is_read_from_its_frames(song):
    assert decode(encode(song.samples, "mp3", kbps=128)).bitrate_kbps == 128
    assert decode(encode(song.samples, "mp3", kbps=320)).bitrate_kbps == 320


def test_content_decides_the_format_not_the_name(song):
    # decode() never sees a name, so a WAV is a WAV whatever it was called
    assert decode(encode(song.samples, "wav")).format == "wav"


def test_same_audio_same_id_whatever_the_container(song):
    assert song_id(decode(encode(song.samples, "wav"))) == song_id(decode(encode(song.samples, "flac")))


def test_different_audio_different_id(song, other_song):
    assert song_id(decode(encode(song.samples, "mp3"))) != song_id(decode(encode(other_song.samples, "mp3")))


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (np.random.default_rng(3).bytes(200_000), "not audio"),
        (b"This is a text file, not an MP3.\n" * 200, "not audio"),
    ],
    ids=["empty", "random-bytes", "text"],
)
def test_refuses_what_is_not_audio(data, reason):
    with pytest.raises(UnreadableAudio, match=reason):
        decode(data)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "flac", "ogg", "m4a"])
def test_refuses_truncated_files(song, fmt):
    data = encode(song.samples, fmt)
    with pytest.raises(UnreadableAudio, match="truncated|not audio"):
        decode(data[: len(data) * 2 // 3 + 17])


def test_refuses_an_mp3_cut_one_byte_short(song):
    data = encode(song.samples, "mp3")
    with pytest.raises(UnreadableAudio, match="truncated: the last MPEG frame"):
        decode(data[:-1])


def test_refuses_unsupported_formats(song):
    with pytest.raises(UnreadableAudio, match="unsupported format"):
        decode(encode(song.samples, "aiff"))


def test_refuses_audio_too_short_to_analyse():
    with pytest.raises(UnreadableAudio, match="too short"):
        decode(encode(np.zeros((2, int(SR * MIN_SECONDS / 2)), np.float32), "wav"))


def test_silence_decodes(song):
    audio = decode(encode(np.zeros((2, SR * 3), np.float32), "mp3"))
    assert audio.duration > 2.9 and float(np.abs(audio.samples).max()) < 1e-3
