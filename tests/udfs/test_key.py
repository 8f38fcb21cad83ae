import numpy as np
import pytest

from songlake import synth
from songlake.synth import SAMPLE_RATE as SR
from songlake.udfs.key import detect_key


@pytest.mark.parametrize("tonic", ["C", "D", "F#", "Bb"])
def test_major_cadence(tonic):
    song = synth.render_song(synth.SongSpec(tonic=tonic, mode="major", degrees=(1, 4, 5, 1), bars=8, drums=False))
    key = detect_key(song.samples.mean(axis=0))
    assert key.name == f"{tonic} major"
    assert 0.5 < key.confidence <= 1.0


def test_minor_cadence():
    song = synth.render_song(synth.SongSpec(tonic="A", mode="minor", degrees=(1, 4, 5, 1), bars=8))
    assert detect_key(song.samples.mean(axis=0)).name == "A minor"


def test_bad_input_names_the_cause():
    with pytest.raises(ValueError, match="resample"):
        detect_key(np.zeros(16000, np.float32), sample_rate=16000)
    with pytest.raises(ValueError, match="mono"):
        detect_key(np.zeros((2, SR), np.float32))


def test_silence_gives_no_key_with_a_warning():
    with pytest.warns(UserWarning, match="silent"):
        key = detect_key(np.zeros(SR * 3, np.float32))
    assert key.name is None and key.confidence == 0.0
