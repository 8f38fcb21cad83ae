import shutil
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

from songlake import corpus, synth
from songlake.synth import SAMPLE_RATE as SR
from songlake.udfs.sections import LABELS, segment

BPM = 140  # a 4/4 bar lasts 1.714 s
BAR = 4 * 60 / BPM
# One part per section label: progression (scale degrees, a chord a bar), drums, level, voice.
PARTS = {
    "intro": ((1, 4), False, 0.25, False),
    "verse": ((6, 4, 1, 5), True, 0.45, True),
    "chorus": ((1, 5, 6, 4), True, 1.0, True),
    "bridge": ((2, 5, 3, 6), False, 0.55, True),
    "solo": ((4, 5, 3, 6), True, 0.5, False),
    "outro": ((1, 4), False, 0.25, False),
}
POP = [("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8), ("bridge", 8), ("chorus", 8),
       ("outro", 4)]


@dataclass
class Song:
    mono: np.ndarray
    vocals: np.ndarray
    beats: np.ndarray
    downbeats: np.ndarray
    sections: list[tuple[float, float, str]]
    chords: list[tuple[float, float, str]]


def _voice(chords, n: int) -> np.ndarray:
    """A sung-like line: one chord tone a beat with vibrato and a few harmonics."""
    out = np.zeros(n, np.float32)
    beat = BAR / 4
    rng = np.random.default_rng(1)
    for start, end, label in chords:
        root = synth.PITCH_CLASSES.index(label.split(":")[0])
        tones = (root, root + (3 if label.endswith("min") else 4), root + 7)
        for k in range(4):
            a, m = int((start + k * beat) * SR), int(beat * 0.9 * SR)
            t = np.arange(m) / SR
            f = synth.midi_to_hz(60 + tones[int(rng.integers(3))] % 12) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
            phase = 2 * np.pi * np.cumsum(f) / SR
            tone = sum(np.sin(h * phase) / h for h in (1, 2, 3, 4))
            out[a : a + m] += (tone * np.minimum(1, np.minimum(t / 0.03, (m / SR - t) / 0.05)) * 0.1)[: n - a]
    return out


def build(form, key: str = "D") -> Song:
    """A song made of synth.render_song parts (one per section), cut to whole bars and concatenated."""
    mix, voice, sections, chords = [], [], [], []
    start = 0.0
    for i, (label, bars) in enumerate(form):
        degrees, drums, level, sung = PARTS[label]
        part = synth.render_song(synth.SongSpec(tonic=key, bpm=BPM, degrees=degrees, bars=bars, drums=drums, seed=i))
        n = int(round(bars * BAR * SR))
        vocal = _voice(part.chords, n) if sung else np.zeros(n, np.float32)
        mix.append(part.samples.mean(axis=0)[:n] * level + vocal)
        voice.append(vocal)
        sections.append((start, start + bars * BAR, label))
        chords.extend((start + a, start + b, lab) for a, b, lab in part.chords)
        start += bars * BAR
    mono = np.concatenate(mix).astype(np.float32)
    scale = 0.8 / float(np.abs(mono).max())
    beats = np.arange(sum(bars for _, bars in form) * 4) * (BAR / 4)
    return Song(mono * scale, np.concatenate(voice) * scale, beats, beats[::4], sections, chords)


@pytest.fixture(scope="module")
def pop() -> Song:
    return build(POP)


def label_at(result, t: float) -> str:
    return next(s.label for s in result.spans if s.start <= t < s.end)


@pytest.mark.parametrize("with_chords", [False, True])
def test_known_form_gives_its_boundaries_and_the_chorus(pop, with_chords):
    result = segment(pop.mono, SR, pop.beats, pop.downbeats, chords=pop.chords if with_chords else None)
    spans = result.spans
    assert spans[0].start == 0.0 and spans[-1].end == pytest.approx(len(pop.mono) / SR)
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert all(s.label in LABELS for s in spans)
    found = np.array([s.start for s in spans[1:]])
    truth = [start for start, _, _ in pop.sections[1:]]
    assert all(np.min(np.abs(found - t)) <= 3.0 for t in truth)  # every true boundary within 3 s
    assert len(found) <= len(truth) + 1
    for start, end, label in pop.sections:  # the label in the middle of each true section
        expected = label if label in ("intro", "verse", "chorus", "outro") else ("bridge", "solo")
        assert label_at(result, (start + end) / 2) in expected


def test_a_solo_where_the_vocal_stem_is_silent():
    form = [("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8), ("solo", 8), ("chorus", 8),
            ("outro", 4)]
    song = build(form, key="A")
    result = segment(song.mono, SR, song.beats, song.downbeats, vocals=song.vocals)
    start, end, _ = song.sections[5]
    assert label_at(result, (start + end) / 2) == "solo"
    assert label_at(result, sum(song.sections[2][:2]) / 2) == "chorus"


def test_bad_input_names_the_cause(pop):
    mono, beats, downbeats = pop.mono, pop.beats, pop.downbeats
    with pytest.raises(ValueError, match="samples"):
        segment(mono, SR, beats, downbeats * SR)
    with pytest.raises(ValueError, match="increasing"):
        segment(mono, SR, beats, downbeats[::-1])
    with pytest.raises(ValueError, match="finite"):
        segment(mono, SR, np.r_[beats[:-1], np.nan], downbeats)
    with pytest.raises(ValueError, match="resample"):
        segment(mono[::2], 22050, beats, downbeats)
    with pytest.raises(ValueError, match="mono"):
        segment(np.stack([mono, mono]), SR, beats, downbeats)
    with pytest.raises(ValueError, match="vocal stem"):
        segment(mono, SR, beats, downbeats, vocals=pop.vocals[: len(mono) // 2])
    with pytest.raises(ValueError, match="samples"):
        segment(mono, SR, beats, downbeats, chords=[(0, SR * 2, "D:maj")])


def test_silence_gives_no_sections_with_a_warning():
    beats = np.arange(0, 30, 0.5)
    with pytest.warns(UserWarning, match="silent"):
        assert segment(np.zeros(SR * 30, np.float32), SR, beats, beats[::4]).spans == ()


def test_without_beats_the_bars_come_from_the_chords(pop):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # music without a pulse is legal input, not degenerate
        result = segment(pop.mono, SR, (), (), chords=pop.chords)
    assert [s.label for s in result.spans] == [label for _, _, label in pop.sections]
    assert np.allclose([s.start for s in result.spans], [start for start, _, _ in pop.sections], atol=0.25)
    assert result.spans[-1].end == pytest.approx(len(pop.mono) / SR)


def test_without_beats_or_chords_the_song_is_still_cut_into_sections(pop):
    result = segment(pop.mono, SR, pop.beats, ())
    assert len(result.spans) >= 3 and set(s.label for s in result.spans) <= set(LABELS)
    assert result.spans[0].start == 0.0 and result.spans[-1].end == pytest.approx(len(pop.mono) / SR)


@pytest.mark.parametrize("degrees", [(1,), (1, 4, 5, 1)])
def test_a_repeated_loop_is_one_section_with_a_warning(degrees):
    song = synth.render_song(synth.SongSpec(degrees=degrees, bars=24))
    mono = song.samples.mean(axis=0)
    with pytest.warns(UserWarning, match="one section"):
        result = segment(mono, SR, song.beats, song.downbeats)
    assert len(result.spans) == 1
    assert result.spans[0].start == 0.0 and result.spans[0].end == pytest.approx(len(mono) / SR)


def test_a_song_shorter_than_two_bars_is_one_section(pop):
    mono = pop.mono[: int(1.5 * BAR * SR)]
    with pytest.warns(UserWarning, match="one section"):
        result = segment(mono, SR, pop.beats[pop.beats < 1.5 * BAR], pop.downbeats[:1])
    assert [s.label for s in result.spans] == ["verse"]


def test_downbeats_that_stop_early_still_cover_the_song(pop):
    keep = pop.downbeats < 60.0  # the tracker gave up a minute in
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no degenerate-input warning either
        result = segment(pop.mono, SR, pop.beats[pop.beats < 60.0], pop.downbeats[keep])
    assert result.spans[-1].end == pytest.approx(len(pop.mono) / SR)
    assert label_at(result, sum(pop.sections[6][:2]) / 2) == "chorus"  # the last chorus, after 60 s


def test_a_cadence_is_evidence_for_a_boundary_at_the_next_bar_line():
    from types import SimpleNamespace as Cadence

    from songlake.udfs import _structure

    edges = np.arange(0.0, 12.0, 2.0)  # bars of 2 s; edges 0..5, the last the song's end
    cadences = [Cadence(type="perfect authentic", strength=1.0, time=3.0),  # closes at edge 2 (4 s)
                Cadence(type="half", strength=1.0, time=3.5),  # the same edge: the stronger counts
                Cadence(type="deceptive", strength=0.5, time=6.2),  # edge 4 (8 s)
                Cadence(type="perfect authentic", strength=1.0, time=9.5),  # the song's end: no boundary
                Cadence(type="plagal", strength=1.0, time=5.0),  # IV-I, a band loop's turn: nothing
                Cadence(type="a fermata", strength=1.0, time=0.5)]  # not a kind: nothing
    cue = _structure.cadence_novelty(edges, cadences)
    weight = _structure.CADENCE_WEIGHT
    assert cue.tolist() == pytest.approx([0, 0, weight, 0, 0.5 * 0.3 * weight, 0])


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not corpus.SOUNDFONT.exists(),
                    reason="needs the Debian packages fluidsynth and fluid-soundfont-gm")
def test_cadences_find_the_sections_of_chorales(tmp_path):
    """Organ and choir chorales: loudness and timbre hardly move, so the phrases' cadences are
    what marks the sections; given the key, more of the true boundaries are found."""
    import mir_eval

    from songlake.udfs.audio import decode

    scores = {None: [], "key": []}
    for plan in [p for p in corpus.plan_corpus("drumless") if p.style.startswith("chorale")]:
        midi, truth = corpus.compose(plan)
        midi.write(str(tmp_path / f"{plan.name}.mid"))
        mono = decode(corpus._render(tmp_path / f"{plan.name}.mid", truth.duration)).mono_at(SR)
        reference = np.array([(s, e) for s, e, _ in truth.sections])
        for given in scores:
            found = segment(mono, SR, truth.beats, truth.downbeats, chords=list(truth.chords),
                            key=truth.key if given else None)
            estimate = np.array([(s.start, s.end) for s in found.spans])
            scores[given].append(mir_eval.segment.detection(reference, estimate, window=3.0, trim=True)[2])
    assert np.mean(scores["key"]) > np.mean(scores[None]) + 0.1, scores
