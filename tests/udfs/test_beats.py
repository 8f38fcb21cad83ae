import numpy as np
import pytest

from songlake import synth
from songlake.synth import SAMPLE_RATE as SR
from songlake.udfs.beats import track_beats


@pytest.mark.parametrize("bpm", [90, 120, 150])
def test_click_track_tempo_and_beats(bpm):
    clicks = synth.click_track(bpm, 30)
    beats = track_beats(clicks)
    assert beats.bpm == pytest.approx(bpm, abs=1.0)
    truth = np.arange(0, 30, 60 / bpm)
    # every detected beat lies within 70 ms of a true click (mir_eval's default window)
    errors = [np.min(np.abs(truth - b)) for b in beats.beats]
    assert np.median(errors) < 0.07 and len(beats.beats) >= 0.9 * len(truth)


def test_song_tempo(song):
    assert track_beats(song.samples.mean(axis=0)).bpm == pytest.approx(120, abs=1.0)


def test_bad_input_names_the_cause():
    with pytest.raises(ValueError, match="resample"):
        track_beats(np.zeros(22050 * 5, np.float32), sample_rate=22050)
    with pytest.raises(ValueError, match="mono"):
        track_beats(np.zeros((2, SR * 5), np.float32))


def test_silence_gives_no_beats_with_a_warning():
    with pytest.warns(UserWarning, match="silent"):
        beats = track_beats(np.zeros(SR * 5, np.float32))
    assert beats.bpm is None and beats.beats == ()
