"""The ground-truth corpus: truth consistent with itself, variety as promised, rendering and caching.

Only the 'tiny' corpus (one ~10 s song) is rendered; the other sizes are checked as plans and
truths, which needs no FluidSynth.
"""

from __future__ import annotations

import shutil

import mir_eval
import numpy as np
import pytest

from songlake import corpus
from songlake._corpus_styles import ROMANS, chord_label, plan_corpus
from songlake.synth import PITCH_CLASSES
from songlake.udfs.audio import decode

pytest.importorskip("pretty_midi")
SECTION_LABELS = {"intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "outro"}


def _truths(size: str):
    return [(plan, corpus.compose(plan)[1]) for plan in plan_corpus(size)]


@pytest.fixture(scope="module")
def truths():
    return _truths("small") + _truths("full")


def test_beats_follow_the_stated_tempo_and_downbeats_every_bar(truths):
    for plan, truth in truths:
        beats = np.array(truth.beats)
        assert np.allclose(np.diff(beats), 60.0 / truth.bpm, atol=2e-4), plan.name
        assert beats[0] == pytest.approx(plan.lead_in, abs=1e-3)
        assert beats[-1] + 60.0 / truth.bpm == pytest.approx(truth.duration - 2.0, abs=1e-3)  # then the 2 s tail
        assert truth.downbeats == truth.beats[:: truth.beats_per_bar], plan.name
        assert len(truth.beats) % truth.beats_per_bar == 0


def test_chords_tile_the_song_on_the_beat_grid_with_aligned_romans(truths):
    for plan, truth in truths:
        starts = [s for s, _, _ in truth.chords]
        ends = [e for _, e, _ in truth.chords]
        assert starts[0] == 0.0 and ends[-1] == truth.duration
        assert starts[1:] == ends[:-1], plan.name
        grid = set(truth.beats)
        assert all(s in grid for s in starts[1:]), f"{plan.name}: a chord starts off the beat grid"
        assert len(truth.romans) == len(truth.chords)
        tonic = PITCH_CLASSES.index(truth.key.split()[0])
        for (_, _, label), numeral in zip(truth.chords, truth.romans):
            mir_eval.chord.encode(label)  # raises on a label that is not Harte syntax
            assert label == ("N" if numeral == "N" else chord_label(tonic, numeral))
        assert all(a != b for a, b in zip(truth.romans, truth.romans[1:])), "repeated chords are one span"


def test_sections_cover_the_song_bar_aligned(truths):
    for plan, truth in truths:
        starts = [s for s, _, _ in truth.sections]
        ends = [e for _, e, _ in truth.sections]
        assert starts[0] == 0.0 and ends[-1] == truth.duration and starts[1:] == ends[:-1]
        assert set(starts[1:]) <= set(truth.downbeats), plan.name
        assert {label for _, _, label in truth.sections} <= SECTION_LABELS
        assert truth.sections[0][2] == "intro" and truth.sections[-1][2] == "outro"


def test_the_full_corpus_covers_the_variety(truths):
    full = [truth for plan, truth in truths if plan.name.startswith("full")]
    assert 36 <= len(full) <= 48
    assert {t.key.split()[0] for t in full} == set(PITCH_CLASSES)
    assert {t.key.split()[1] for t in full} == {"major", "minor"}
    assert {t.time_signature for t in full} == {"4/4", "3/4", "6/8"}
    assert {t.style for t in full} >= {"rock", "pop", "electronic", "jazz", "hip-hop", "folk", "waltz", "ballad"}
    assert min(t.bpm for t in full) <= 70 and max(t.bpm for t in full) >= 165
    assert any(not t.has_drums for t in full) and any(t.has_drums for t in full)
    assert all(60 <= t.duration <= 160 for t in full)
    qualities = {label.split(":")[1] for t in full for _, _, label in t.chords if label != "N"}
    assert qualities >= {"maj", "min", "7", "maj7", "min7", "sus4", "dim"}
    numerals = {n for t in full for n in t.romans}
    assert {"V/V", "bVII", "V7/IV"} <= numerals
    assert any("iv" in t.romans for t in full if t.key.endswith("major"))
    assert any(label == "pre-chorus" for t in full for _, _, label in t.sections)


def test_plans_are_deterministic_for_a_seed():
    assert plan_corpus("small", seed=3) == plan_corpus("small", seed=3)
    assert plan_corpus("small", seed=3) != plan_corpus("small", seed=4)
    assert corpus.compose(plan_corpus("small")[0])[1] == corpus.compose(plan_corpus("small")[0])[1]


def test_an_unknown_size_is_refused():
    with pytest.raises(ValueError, match="small"):
        plan_corpus("medium")
    assert set(ROMANS) >= {"I", "V7", "viio", "bVII"}


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not corpus.SOUNDFONT.exists(),
                    reason="needs the Debian packages fluidsynth and fluid-soundfont-gm")
def test_rendering_gives_stereo_audio_of_the_truths_length_and_is_cached(tmp_path, monkeypatch):
    (song,) = corpus.build_corpus(tmp_path, "tiny")
    audio = decode(song.audio_path.read_bytes())
    assert audio.sample_rate == 44100 and audio.channels == 2
    assert audio.duration == pytest.approx(song.truth.duration, abs=1e-3)
    assert np.abs(audio.samples).max() > 0.5  # scaled to -1 dBFS, not silence
    music = audio.mono[int(song.truth.beats[0] * 44100): int(song.truth.beats[-1] * 44100)]
    assert np.sqrt(np.mean(music**2)) > 0.02
    assert corpus.load_song(tmp_path / f"{song.name}.json").truth == song.truth

    def refuse(*args, **kwargs):
        raise AssertionError("a cached song was rendered again")

    monkeypatch.setattr(corpus, "_render", refuse)
    (again,) = corpus.build_corpus(tmp_path, "tiny")
    assert again.truth == song.truth


def test_a_missing_fluidsynth_names_the_debian_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "FLUIDSYNTH", "fluidsynth-not-installed")
    with pytest.raises(corpus.CorpusError, match="fluid-soundfont-gm"):
        corpus.build_corpus(tmp_path, "tiny")
