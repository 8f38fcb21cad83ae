"""The ground-truth corpus: truth consistent with itself, variety as promised, rendering and caching.

Only the 'tiny' corpus (one ~10 s song) is rendered; the other sizes are checked as plans and
truths, which needs no FluidSynth. The drumless songs are also checked against their MIDI: the
notes, read back from the file, must show the inversions, suspensions and non-chord tones and
the tempo curve that the generator promises.
"""

from __future__ import annotations

import hashlib
import io
import shutil

import mir_eval
import numpy as np
import pytest

from songlake import corpus
from songlake import _corpus_styles
from songlake._corpus_styles import ROMANS, chord_label
from songlake.corpus import plan_corpus
from songlake.synth import PITCH_CLASSES
from songlake.udfs.audio import decode

pytest.importorskip("pretty_midi")
SECTION_LABELS = {"intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "outro"}


def _truths(size: str):
    return [(plan, corpus.compose(plan)[1]) for plan in plan_corpus(size)]


@pytest.fixture(scope="module")
def truths():
    return _truths("small") + _truths("full")  # 'full' ends with the drumless songs


@pytest.fixture(scope="module")
def drumless():
    return [(plan, *corpus.compose(plan)) for plan in plan_corpus("drumless")]


def test_beats_follow_the_stated_tempo_and_downbeats_every_bar(truths):
    for plan, truth in truths:
        if plan.tempo:
            continue  # a tempo curve: see test_rubato_beats_follow_the_written_tempo_curve
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


def test_the_band_songs_are_unchanged_by_the_drumless_styles():
    """The band corpora's MIDI, byte for byte, as before the drumless styles (cached renders stay valid)."""
    digest = hashlib.sha256()
    for size in ("small", "full"):
        for plan in _corpus_styles.plan_corpus(size):
            buffer = io.BytesIO()
            corpus.compose(plan)[0].write(buffer)
            digest.update(hashlib.sha256(f"{corpus.VERSION}:".encode() + buffer.getvalue()).digest())
    assert digest.hexdigest() == "a26786e95786cdf2e02d42848e2a61e00f164496da56c50c3b0d5c4245d4d7ed"
    full = plan_corpus("full")
    assert full[:42] == _corpus_styles.plan_corpus("full") and full[42:] == plan_corpus("drumless")


def test_the_drumless_corpus_covers_the_variety(drumless):
    truths = [truth for _, _, truth in drumless]
    assert 10 <= len(truths) <= 14
    assert {t.style for t in truths} == {"chorale-organ", "chorale-choir", "string-quartet", "piano-rubato",
                                         "ambient", "free-ballad"}
    assert {t.key.split()[0] for t in truths} == set(PITCH_CLASSES)
    assert {t.key.split()[1] for t in truths} == {"major", "minor"}
    assert {t.time_signature for t in truths} == {"4/4", "3/4"}
    assert min(t.bpm for t in truths) <= 60 and max(t.bpm for t in truths) >= 90
    assert all(55 <= t.duration <= 130 for t in truths)
    assert sum(t.duration for t in truths) < 1300  # renders in about a minute
    assert [t.has_drums for t in truths] == [t.style == "free-ballad" for t in truths]
    applied = {n for t in truths for n in t.romans if "/" in n}
    assert len(applied) >= 4, applied
    assert {"V7", "viio"} <= {n for t in truths for n in t.romans}
    for (plan, _, truth) in drumless:
        tonic = "I" if plan.mode == "major" else "i"
        assert truth.romans[-1] == tonic, plan.name


def test_every_drumless_phrase_ends_in_a_cadence(drumless):
    from songlake._corpus_voices import slots_of

    kinds = set()
    for plan, _, _ in drumless:
        slots = slots_of(plan)
        tonic, sixth = ("I", "vi") if plan.mode == "major" else ("i", "VI")
        ends = [i for i, s in enumerate(slots) if s.cadence]
        assert ends[-1] == len(slots) - 1
        for i in ends:
            before, goal = slots[i - 1].numeral, slots[i].numeral
            kind = ("authentic" if before in ("V", "V7") and goal == tonic else
                    "plagal" if before in ("IV", "iv") and goal == tonic else
                    "deceptive" if before == "V7" and goal == sixth else "half" if goal == "V" else None)
            assert kind, f"{plan.name}: phrase ends {before} {goal}"
            kinds.add(kind)
    assert kinds == {"authentic", "half", "plagal", "deceptive"}


def test_rubato_beats_follow_the_written_tempo_curve(drumless):
    curved = [(plan, midi, truth) for plan, midi, truth in drumless if plan.tempo]
    assert {truth.style for _, _, truth in curved} == {"piano-rubato", "free-ballad"}
    for plan, midi, truth in curved:
        periods = np.diff(np.array(truth.beats + (truth.duration - 2.0,)))
        tempo = 60.0 / periods
        assert np.allclose(tempo, plan.tempo, rtol=2e-3), plan.name
        assert truth.bpm == pytest.approx(float(np.median(plan.tempo)), abs=0.01)
        ratio = tempo / truth.bpm
        assert ratio.min() > 0.78 and ratio.max() < 1.15, plan.name
        intro = len(plan.sections[0].bars) * truth.beats_per_bar
        steps = np.abs(np.diff(ratio))
        if truth.style == "free-ballad":
            steps[intro - 1] = 0.0  # the band comes in a tempo
        assert steps.max() < 0.06, f"{plan.name}: the curve jumps"
        if truth.style == "piano-rubato":
            assert ratio.max() > 1.04 and ratio.min() < 0.9, "about +-10 %, and a ritardando at the end"
        else:  # a free intro, then a steady body
            assert np.ptp(ratio[:intro]) > 0.1 and np.ptp(ratio[intro:]) < 1e-3
        # The notes were written on that curve: every chord change has a note starting on it.
        onsets = np.sort([n.start for i in midi.instruments if not i.is_drum for n in i.notes])
        for start, _, label in truth.chords[1:]:
            assert np.abs(onsets - start).min() < 0.03, f"{plan.name}: no note at the chord change {start}"
    steady = [(plan, truth) for plan, _, truth in drumless if not plan.tempo]
    for plan, truth in steady:
        assert np.allclose(np.diff(truth.beats), 60.0 / truth.bpm, atol=2e-4), plan.name


def _chord_at(truth, time):
    for start, end, label in truth.chords:
        if start <= time < end:
            return label
    return "N"


def _pitch_classes(label):
    root, bitmap, _ = mir_eval.chord.encode(label)
    return {int((root + i) % 12) for i in np.flatnonzero(bitmap)}, int(root)


def test_drumless_midi_has_inversions_suspensions_and_non_chord_tones(drumless):
    inverted = spans = suspensions = foreign = notes = 0
    for plan, midi, truth in drumless:
        pitched = [i for i in midi.instruments if not i.is_drum]
        assert plan.style == "free-ballad" or not any(i.is_drum for i in midi.instruments), plan.name
        everything = sorted((n for i in pitched for n in i.notes), key=lambda n: n.start)
        song_suspensions = 0
        for start, end, label in truth.chords[1:]:
            tones, root = _pitch_classes(label)
            sounding = [n for n in everything if n.start < start + 0.06 and n.end > start + 0.1]
            if sounding:
                spans += 1
                inverted += min(sounding, key=lambda n: n.pitch).pitch % 12 != root
            for instrument in pitched:  # a 4-3 suspension: the fourth over the root, stepping down to the third
                line = sorted(instrument.notes, key=lambda n: n.start)
                for a, b in zip(line, line[1:]):
                    if (a.start < start + 0.06 and a.end > start + 0.1 and a.pitch % 12 == (root + 5) % 12
                            and start < b.start < end and 1 <= a.pitch - b.pitch <= 2 and b.pitch % 12 in tones):
                        song_suspensions += 1
        suspensions += song_suspensions
        if plan.style.startswith("chorale"):
            assert song_suspensions >= 1, plan.name
        for note in everything:
            notes += 1
            label = _chord_at(truth, note.start + 0.02)
            foreign += label != "N" and note.pitch % 12 not in _pitch_classes(label)[0]
    assert 0.1 < inverted / spans < 0.5, inverted / spans
    assert suspensions >= 12
    assert 0.03 < foreign / notes < 0.25, foreign / notes


def test_drumless_voices_stay_in_range_without_crossing(drumless):
    from songlake._corpus_voices import RANGES, _Voices, slots_of

    inner = []
    for plan, _, _ in drumless:
        slots = slots_of(plan)
        voices = _Voices(plan, slots, np.random.default_rng(0))
        inner += [abs(a[v] - b[v]) for a, b in zip(voices.chords, voices.chords[1:]) for v in (1, 2)]
        for slot, chord in zip(slots, voices.chords):
            assert chord[0] > chord[1] > chord[2] > chord[3], plan.name
            for pitch, (low, high) in zip(chord, RANGES.values()):
                assert low <= pitch <= high
            assert {chord[3] % 12} == {slot.bass_pc}
            assert {slot.tones[0], slot.tones[1]} <= {p % 12 for p in chord}
    assert np.mean(np.array(inner) <= 2) > 0.75, "inner voices move mostly by step or not at all"


def test_plans_are_deterministic_for_a_seed():
    assert plan_corpus("small", seed=3) == plan_corpus("small", seed=3)
    assert plan_corpus("small", seed=3) != plan_corpus("small", seed=4)
    assert corpus.compose(plan_corpus("small")[0])[1] == corpus.compose(plan_corpus("small")[0])[1]


def test_an_unknown_size_is_refused():
    with pytest.raises(ValueError, match="small"):
        plan_corpus("medium")
    assert plan_corpus("drumless", seed=1) != plan_corpus("drumless") == plan_corpus("drumless")
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
