import numpy as np
import pytest

from songlake.synth import SAMPLE_RATE as SR, encode
from songlake.udfs.audio import decode
from songlake.udfs.embedding import DIM, embed


def test_unit_length_fixed_size(song):
    vector = embed(song.samples.mean(axis=0)).vector
    assert vector.shape == (DIM,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_reencode_is_a_near_duplicate_and_other_songs_are_not(song, other_song):
    original = embed(decode(encode(song.samples, "mp3", kbps=320)).mono).vector
    reencoded = embed(decode(encode(song.samples, "mp3", kbps=128)).mono).vector
    other = embed(decode(encode(other_song.samples, "mp3", kbps=320)).mono).vector
    assert float(original @ reencoded) > 0.99
    assert float(original @ other) < float(original @ reencoded) - 0.02


def test_bad_input_names_the_cause():
    with pytest.raises(ValueError, match="resample"):
        embed(np.zeros(22050 * 3, np.float32), sample_rate=22050)
    with pytest.raises(ValueError, match="mono samples"):
        embed(np.zeros((2, SR), np.float32))


def test_silence_is_the_zero_vector():
    assert not np.any(embed(np.zeros(SR * 3, np.float32)).vector)
