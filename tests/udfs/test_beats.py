import shutil

import mir_eval
import numpy as np
import pytest

from songlake import corpus, synth
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
    beats = track_beats(song.samples.mean(axis=0))
    assert beats.bpm == pytest.approx(120, abs=1.0)
    assert beats.tempo_confidence > 0.8 and beats.beat_confidence > 0.8


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
    assert beats.tempo_confidence is None and beats.beat_confidence is None


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
    assert beats.tempo_confidence is None and beats.beat_confidence is None


# Music without drums or sharp onsets, made here from sines: four-voice chords, one per beat, that
# swell in over 120 ms while the last one fades, with vibrato and a breathy noise floor.
CHORDS = ((48, 64, 67, 72), (53, 65, 69, 72), (55, 62, 67, 71), (48, 64, 67, 72), (45, 64, 69, 72),
          (50, 65, 69, 74), (43, 62, 67, 71), (48, 60, 64, 67))


def _tempo_curve(bpm: float, n: int, depth: float = 0.0, cycle: float = 16) -> np.ndarray:
    """n beat times (s) under a tempo that swings by +-depth around bpm every `cycle` beats."""
    periods = 60.0 / bpm * (1 + depth * np.sin(2 * np.pi * np.arange(n) / cycle))
    return 0.5 + np.concatenate([[0.0], np.cumsum(periods)[:-1]])


def _legato_chords(beat_times: np.ndarray, attack: float = 0.12, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(0)
    out = (noise * rng.standard_normal(int((beat_times[-1] + 1.5) * SR))).astype(np.float32)
    bounds = np.append(beat_times, beat_times[-1] + np.median(np.diff(beat_times)))
    for k, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        t = np.arange(int((stop - start + attack) * SR)) / SR
        swell = np.clip(t / attack, 0, 1) * np.clip((t[-1] - t) / attack, 0, 1)
        phase = 2 * np.pi * np.cumsum(1 + 0.004 * np.sin(2 * np.pi * 5.5 * t + k)) / SR
        tone = sum(np.sin(440 * 2 ** ((p - 69) / 12) * h * phase) / h**1.5 for p in CHORDS[k % len(CHORDS)] for h in (1, 2, 3))
        i = int(start * SR)
        out[i : i + len(t)] += (0.1 * swell * tone).astype(np.float32)[: len(out) - i]
    return out


@pytest.mark.parametrize("bpm", [60, 72, 88])
def test_soft_chords_get_beats_from_harmonic_change(bpm):
    from songlake.udfs import _rhythm_onsets

    truth = _tempo_curve(bpm, 40)
    audio = _legato_chords(truth)
    # no onset stands out of this (the percussive envelope alone gave no beats): the harmony leads
    assert not _rhythm_onsets.stands_out(_rhythm_onsets.envelopes(audio, SR).flux)
    beats = track_beats(audio)
    assert beats.bpm == pytest.approx(bpm, rel=0.04)
    assert mir_eval.beat.f_measure(truth, np.array(beats.beats)) >= 0.9
    assert beats.tempo_confidence > 0.6 and beats.beat_confidence > 0.6


def test_rubato_beats_follow_the_tempo_curve():
    truth = _tempo_curve(80, 48, depth=0.1, cycle=12)  # +-10 %, a full swing every three bars
    beats = track_beats(_legato_chords(truth, attack=0.05))
    found = np.array(beats.beats)
    assert mir_eval.beat.f_measure(truth, found) >= 0.85
    # a steady grid at the same tempo cannot do that, whatever its phase
    step = 60.0 / beats.bpm
    steady = max(mir_eval.beat.f_measure(truth, np.arange(truth[0] + phase, truth[-1] + 0.1, step))
                 for phase in np.linspace(-step / 2, step / 2, 21))
    assert steady < 0.7
    # the local beat period rises and falls with the curve
    periods = np.interp(truth[1:-1], found[1:], np.diff(found))
    assert np.corrcoef(periods, np.diff(truth)[1:])[0, 1] > 0.8


def test_confidence_is_higher_for_clicks_than_for_rubato_and_low_without_a_pulse():
    clicks = track_beats(synth.click_track(100, 30))
    rubato = track_beats(_legato_chords(_tempo_curve(80, 48, depth=0.1, cycle=12), attack=0.05))
    assert clicks.tempo_confidence > 0.9 and clicks.beat_confidence > 0.9
    assert rubato.tempo_confidence < clicks.tempo_confidence - 0.3
    assert 0.0 <= rubato.tempo_confidence <= 1.0 and 0.0 <= rubato.beat_confidence <= 1.0
    # clicks at random times (0.2-1.5 s apart): no pulse, so no beats or a guess that says so
    click = synth.click_track(60, 1)[:800]
    for seed in range(3):
        audio = np.zeros(SR * 30, np.float32)
        for t in np.cumsum(np.random.default_rng(seed).uniform(0.2, 1.5, 40)):
            if int(t * SR) + len(click) < len(audio):
                audio[int(t * SR) : int(t * SR) + len(click)] += click
        guess = track_beats(audio)
        assert guess.tempo_confidence is None or guess.tempo_confidence < 0.5


def test_pulse_salience_tells_a_pulse_from_noise():
    from songlake.udfs import _rhythm_pulse

    fps = 86.13
    rng = np.random.default_rng(3)
    pulse = np.zeros(int(30 * fps))
    pulse[:: int(fps * 60 / 75)] = 1.0  # 75 BPM
    blurred = np.convolve(pulse + 0.3 * rng.random(len(pulse)), np.hanning(9), mode="same")
    noise = np.convolve(rng.random(len(pulse)), np.hanning(9), mode="same")
    assert _rhythm_pulse.salience(blurred, fps) > 10
    assert _rhythm_pulse.salience(noise, fps) < _rhythm_pulse.NOISE_SALIENCE
    assert _rhythm_pulse.salience(np.zeros(100), fps) == 0.0


def test_harmonic_novelty_peaks_where_the_chord_changes():
    from songlake.udfs import _rhythm_onsets

    truth = _tempo_curve(60, 8)
    env = _rhythm_onsets.envelopes(_legato_chords(truth, noise=0.0), SR)
    novelty = _rhythm_onsets.harmonic_novelty(env.pitch_chroma, env.fps)
    for t in truth[1:]:  # each change stands out of the held chord's middle, half a beat later
        at = int(round(t * env.fps))
        assert novelty[at - 6 : at + 12].max() > 3 * novelty[at + 40 : at + 46].max() + 1e-3


def test_tempo_prior_on_a_clear_pulse_does_not_tip_a_level_pair_under_a_stretch():
    from songlake.udfs._rhythm_meter import tempo_prior

    clear, unclear = 50.0, 5.0
    # a fast level and its half, played 10 % faster: on a clear pulse the prior's say between
    # them stays the same (both lie where people tap), so the evidence alone keeps deciding
    for fast in (120.0, 136.0, 145.0):
        before = tempo_prior(fast, clear) - tempo_prior(fast / 2, clear)
        after = tempo_prior(1.1 * fast, clear) - tempo_prior(1.1 * fast / 2, clear)
        assert before == pytest.approx(after, abs=1e-9)
    # a Gaussian pull towards one tempo moves that say by more than a near tie's margin
    shift = (tempo_prior(1.1 * 136, unclear) - tempo_prior(1.1 * 68, unclear)) - (
        tempo_prior(136, unclear) - tempo_prior(68, unclear))
    assert shift < -0.3
    # levels outside the range people tap are pushed out on any pulse
    for salience in (clear, unclear):
        assert tempo_prior(32, salience) < tempo_prior(64, salience) - 1
        assert tempo_prior(300, salience) < tempo_prior(150, salience) - 1
    # an unclear pulse keeps its pull towards 110 BPM; in between the two are mixed
    assert tempo_prior(110, unclear) > tempo_prior(70, unclear) > tempo_prior(50, unclear)
    assert tempo_prior(70, clear) == 0.0
    assert tempo_prior(70, unclear) < tempo_prior(70, 25.0) < tempo_prior(70, clear)


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not corpus.SOUNDFONT.exists(),
                    reason="needs the Debian packages fluidsynth and fluid-soundfont-gm")
@pytest.mark.parametrize("seed, turn", [(0, 0), (3, 1)])
def test_organ_chorales_get_their_tempo_and_downbeats(tmp_path, seed, turn):
    """Without drums, the pedal line's low onsets are a voice, not a kick: they may not outvote
    the chord changes that mark the bar (the first chorale's downbeats fell on beat 3 when they
    did). And a chord a beat is a regular pulse of harmonic change, not a clear one: the second
    chorale was halved to 39 BPM when its harmonic change counted as a clear pulse."""
    from songlake.udfs.audio import decode

    plan = [p for p in corpus.plan_corpus("drumless", seed) if p.style == "chorale-organ"][turn]
    midi, truth = corpus.compose(plan)
    midi.write(str(tmp_path / "chorale.mid"))
    mono = decode(corpus._render(tmp_path / "chorale.mid", midi.get_end_time() + 1.0)).mono_at(SR)
    beats = track_beats(mono)
    assert beats.bpm == pytest.approx(truth.bpm, rel=0.04) and beats.time_signature == truth.time_signature
    assert mir_eval.beat.f_measure(np.array(truth.downbeats), np.array(beats.downbeats)) > 0.8
