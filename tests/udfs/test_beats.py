import mir_eval
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


def _track(spec: synth.SongSpec):
    rendered = synth.render_song(spec)
    return rendered, track_beats(rendered.samples.mean(axis=0))


@pytest.mark.parametrize(
    "spec, signature",
    [
        (synth.SongSpec(bpm=100, bars=12), "4/4"),
        (synth.SongSpec(bpm=170, bars=16, degrees=(1, 4, 6, 5)), "4/4"),
        (synth.SongSpec(bpm=64, bars=8, tonic="A", mode="minor"), "4/4"),
        (synth.SongSpec(bpm=90, bars=10, drums=False), "4/4"),
        (synth.SongSpec(bpm=150, bars=16, beats_per_bar=3), "3/4"),
        (synth.SongSpec(bpm=96, bars=12, beats_per_bar=3, tonic="D"), "3/4"),
    ],
    ids=["4/4-100", "4/4-170", "4/4-64", "4/4-90-no-drums", "3/4-150", "3/4-96"],
)
def test_beats_downbeats_and_meter_of_rendered_songs(spec, signature):
    rendered, beats = _track(spec)
    assert beats.time_signature == signature
    assert beats.beats_per_bar == int(signature[0])
    assert beats.bpm == pytest.approx(spec.bpm, rel=0.02)
    assert mir_eval.beat.f_measure(rendered.beats, np.array(beats.beats)) > 0.9
    assert mir_eval.beat.f_measure(rendered.downbeats, np.array(beats.downbeats)) > 0.9
    assert set(beats.downbeats) <= set(beats.beats)


@pytest.mark.parametrize("bpm", [56, 66, 80])
def test_six_eight_counts_dotted_quarters(bpm):
    # kick on the first dotted quarter, snare on the second, hi-hats on every eighth
    rendered, beats = _track(synth.SongSpec(bpm=bpm, beats_per_bar=2, subdivisions=3, bars=12))
    assert beats.time_signature == "6/8" and beats.beats_per_bar == 2
    assert beats.bpm == pytest.approx(bpm, rel=0.02)
    assert mir_eval.beat.f_measure(rendered.downbeats, np.array(beats.downbeats)) > 0.9


@pytest.mark.parametrize("bpm, jitter", [(75, 0.02), (110, 0.015), (140, 0.02)])
def test_humanised_timing(bpm, jitter):
    rendered, beats = _track(synth.SongSpec(bpm=bpm, bars=max(8, bpm // 8), jitter=jitter))
    assert beats.bpm == pytest.approx(bpm, rel=0.02)
    assert mir_eval.beat.f_measure(rendered.beats, np.array(beats.beats)) > 0.9


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_time_stretch_scales_the_tempo(song, rate):
    import librosa

    stretched = librosa.effects.time_stretch(song.samples.mean(axis=0), rate=rate)
    assert track_beats(stretched).bpm == pytest.approx(120 * rate, rel=0.02)


def test_bad_input_names_the_cause():
    with pytest.raises(ValueError, match="resample"):
        track_beats(np.zeros(22050 * 5, np.float32), sample_rate=22050)
    with pytest.raises(ValueError, match="mono"):
        track_beats(np.zeros((2, SR * 5), np.float32))


def test_silence_gives_no_beats_with_a_warning():
    with pytest.warns(UserWarning, match="silent"):
        beats = track_beats(np.zeros(SR * 5, np.float32))
    assert beats.bpm is None and beats.beats == () and beats.downbeats == () and beats.time_signature is None


def test_a_single_click_gives_no_beats_with_a_warning():
    one = np.zeros(SR * 5, np.float32)
    one[SR : SR + 800] = synth.click_track(60, 1)[:800]
    with pytest.warns(UserWarning, match="onsets"):
        beats = track_beats(one)
    assert beats.bpm is None and beats.beats == () and beats.beats_per_bar is None


@pytest.mark.parametrize(
    "audio, why",
    [
        (np.random.default_rng(0).standard_normal(SR * 10).astype(np.float32) * 0.1, "noise"),
        (np.sin(2 * np.pi * 440 * np.arange(SR * 5) / SR).astype(np.float32), "onsets"),
    ],
    ids=["white-noise", "steady-tone"],
)
def test_no_pulse_gives_no_beats_with_a_warning(audio, why):
    with pytest.warns(UserWarning, match=why):
        beats = track_beats(audio)
    assert beats.bpm is None and beats.beats == ()
