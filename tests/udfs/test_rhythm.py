import numpy as np
import pytest

from songlake import synth
from songlake.synth import SAMPLE_RATE as SR
from songlake.udfs.beats import Beats, track_beats
from songlake.udfs.rhythm import rhythm_profile


def _pattern(accents: tuple[float, ...], bpm: float = 100.0, bars: int = 8) -> tuple[np.ndarray, Beats]:
    """Loud hits at the given positions (in beats) of every 4/4 bar over soft eighth-note hi-hats,
    with the true grid as Beats."""
    rng = np.random.default_rng(0)
    beat = 60.0 / bpm
    out = np.zeros(int((bars * 4 * beat + 1.0) * SR), np.float32)
    t = np.arange(int(0.1 * SR)) / SR
    loud = ((np.sin(2 * np.pi * 110 * t) + 0.6 * rng.standard_normal(len(t))) * np.exp(-t * 35) * 0.7).astype(np.float32)
    soft = (np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t * 150) * 0.04).astype(np.float32)
    for bar in range(bars):
        for eighth in range(8):
            start = int((bar * 4 + eighth / 2) * beat * SR)
            out[start : start + len(soft)] += soft
        for position in accents:
            start = int((bar * 4 + position) * beat * SR)
            out[start : start + len(loud)] += loud
    grid = np.arange(bars * 4) * beat
    return out, Beats(bpm, tuple(grid), tuple(grid[::4]), "4/4", 4)


def test_syncopated_pattern_scores_higher_than_a_straight_one():
    mono, beats = _pattern((0, 1, 2, 3))
    straight = rhythm_profile(mono, SR, beats)
    mono, beats = _pattern((0, 1.5, 3.5))  # the 3 and the next 1 anticipated by an eighth
    pushed = rhythm_profile(mono, SR, beats)
    assert straight.syncopation_index == pytest.approx(0.0, abs=0.02)
    # Longuet-Higgins & Lee: the note on 2-and is held through 3 (weight -1 against -3): 2 of at most 15
    assert pushed.syncopation_index == pytest.approx(2 / 15, abs=0.03)
    # one inter-onset interval against three different ones
    assert straight.rhythmic_complexity == pytest.approx(0.0, abs=0.05)
    assert pushed.rhythmic_complexity > straight.rhythmic_complexity + 0.2
    assert 0 <= pushed.rhythmic_complexity <= 1


def test_rock_kick_on_one_and_three_makes_them_strong():
    mono = synth.render_song(synth.SongSpec(bpm=100, bars=12)).samples.mean(axis=0)
    profile = rhythm_profile(mono, SR, track_beats(mono))
    assert profile.strong_beats == (1, 3) and profile.weak_beats == (2, 4)
    assert 0 <= profile.syncopation_index <= 0.1
    assert 0 <= profile.rhythmic_complexity <= 1


def test_six_eight_has_a_strong_first_beat():
    mono = synth.render_song(synth.SongSpec(bpm=66, beats_per_bar=2, subdivisions=3, bars=12)).samples.mean(axis=0)
    beats = track_beats(mono)
    profile = rhythm_profile(mono, SR, beats)
    assert beats.time_signature == "6/8"
    assert profile.strong_beats == (1,) and profile.weak_beats == (2,)


def test_bad_input_names_the_cause():
    mono, beats = _pattern((0, 2))
    with pytest.raises(ValueError, match="resample"):
        rhythm_profile(mono[::2], 22050, beats)
    with pytest.raises(ValueError, match="mono"):
        rhythm_profile(np.stack([mono, mono]), SR, beats)
    in_samples = Beats(beats.bpm, tuple(t * SR for t in beats.beats), tuple(t * SR for t in beats.downbeats), "4/4", 4)
    with pytest.raises(ValueError, match="samples"):
        rhythm_profile(mono, SR, in_samples)
    with pytest.raises(ValueError, match="Beats"):
        rhythm_profile(mono, SR, list(beats.beats))
    with pytest.raises(ValueError, match="increase"):
        rhythm_profile(mono, SR, Beats(100.0, tuple(reversed(beats.beats))))


def test_no_beats_gives_an_empty_profile_with_a_warning():
    mono, _ = _pattern((0, 2))
    with pytest.warns(UserWarning, match="no beats"):
        profile = rhythm_profile(mono, SR, Beats(None, ()))
    assert profile.syncopation_index is None and profile.rhythmic_complexity is None
    assert profile.strong_beats == () and profile.weak_beats == ()


def test_silence_gives_an_empty_profile_with_a_warning():
    _, beats = _pattern((0, 2))
    with pytest.warns(UserWarning, match="silent"):
        profile = rhythm_profile(np.zeros(SR * 21, np.float32), SR, beats)
    assert profile.syncopation_index is None and profile.strong_beats == ()


def test_beats_without_a_meter_give_complexity_only():
    mono, beats = _pattern((0, 1.5, 3.5))
    with pytest.warns(UserWarning, match="meter"):
        profile = rhythm_profile(mono, SR, Beats(beats.bpm, beats.beats))
    assert profile.syncopation_index is None and profile.strong_beats == ()
    assert 0 < profile.rhythmic_complexity <= 1
