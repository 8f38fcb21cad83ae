import shutil
import warnings

import numpy as np
import pytest

from songlake import corpus, synth
from songlake.jobs import analyze as analyze_module
from songlake.jobs import ingest
from songlake.jobs.analyze import STAGE_COLUMNS, analyze_audio
from songlake.schema import Lake, connect, run
from songlake.synth import PITCH_CLASSES, encode
from songlake.udfs import ANALYSIS_VERSION
from songlake.udfs import beats as beats_udf
from songlake.udfs.audio import decode

SR = 44100


@pytest.fixture(scope="module")
def analysed():
    song = synth.render_song(synth.SongSpec(tonic="G", mode="major", bpm=110, degrees=(1, 5, 6, 4), bars=16, seed=3))
    return song, analyze_audio(song.samples.mean(axis=0))


def test_every_stage_fills_its_columns(analysed):
    song, result = analysed
    v = result.values
    assert result.failed == []
    assert v["analysis_version"] == ANALYSIS_VERSION
    assert v["bpm"] == pytest.approx(110, abs=2) and v["time_signature"] == "4/4"
    assert len(v["downbeats"]) >= 12 and len(v["beats"]) >= 4 * len(v["downbeats"]) - 4
    assert v["key"] == "G major"
    assert 0 <= v["syncopation_index"] <= 1 and 0 <= v["rhythmic_complexity"] <= 1
    labels = [c["label"] for c in v["chords"]]
    assert {"G:maj", "D:maj", "E:min", "C:maj"} <= set(labels)
    assert len(v["roman_numerals"]) == len(v["chords"]) == len(v["functional_harmony"])
    assert "I-V-vi-IV" in v["common_patterns"]
    assert v["sections"][0]["start"] == 0 and v["sections"][-1]["end"] == pytest.approx(song.samples.shape[1] / 44100, abs=0.1)
    assert 0 <= v["progression_complexity"] <= 1
    assert 0 < v["tempo_confidence"] <= 1 and 0 < v["beat_confidence"] <= 1


def test_a_failing_stage_is_recorded_and_the_others_go_on(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(analyze_module.sections_udf, "segment", broken)
    song = synth.render_song(synth.SongSpec(bars=8))
    result = analyze_audio(song.samples.mean(axis=0))
    assert result.failed == ["sections: RuntimeError: simulated failure"]
    assert "sections" not in result.values and result.values["key"] == "C major" and result.values["chords"]


def test_silence_gives_nulls_and_says_why_for_each():
    result = analyze_audio(np.zeros(44100 * 5, np.float32))
    assert result.values.get("bpm") is None and result.values.get("key") is None
    assert result.failures == ("beats", "rhythm", "chords", "key", "sections", "theory")
    assert "silent" in result.reason("beats") and "silent" in result.reason("key")
    assert result.reason("rhythm").startswith("needs beats: no beats") and result.reason("theory").startswith("needs chords")


def test_every_null_column_is_accounted_for(analysed):
    _, result = analysed
    for columns in STAGE_COLUMNS.values():
        for column in columns:
            assert result.values.get(column) is not None or column in result.failures


# --- music without a pulse ---------------------------------------------------------------------------

TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7)}


def sustained(labels, lengths) -> np.ndarray:
    """Organ-like held chords (no attacks: each fades into the next over 0.4 s), root in the bass."""
    t_total = sum(lengths)
    out = np.zeros(int(t_total * SR) + 1, np.float32)
    start = 0.0
    for label, length in zip(labels, lengths):
        root, quality = label.split(":")
        r = PITCH_CLASSES.index(root)
        a, n = int(start * SR), int(length * SR)
        t = np.arange(n) / SR
        envelope = np.minimum(1.0, np.minimum(t / 0.4, (length - t) / 0.4))
        notes = [36 + r] + [57 + (r + i - 57) % 12 for i in TRIADS[quality]]
        for midi in notes:
            f = 440.0 * 2 ** ((midi - 69) / 12)
            out[a:a + n] += 0.08 * envelope * sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 6))
        start += length
    return out


HYMN = (["C:maj", "A:min", "F:maj", "G:maj", "C:maj", "F:maj", "G:maj", "C:maj"],
        [5.3, 4.1, 6.2, 3.7, 5.5, 4.4, 3.9, 6.0])


def no_pulse(mono, sample_rate=SR):
    warnings.warn("no beats: no steady pulse found")
    return beats_udf.EMPTY


def test_music_without_beats_gets_chords_theory_and_sections_and_says_why_no_beats(monkeypatch):
    monkeypatch.setattr(analyze_module.beats_udf, "track_beats", no_pulse)  # as the tracker says of rubato music
    labels = HYMN[0]
    result = analyze_audio(sustained(*HYMN))
    v = result.values
    assert result.reason("beats") == "no beats: no steady pulse found"
    assert "rhythm" in result.failures and result.reason("rhythm").startswith("needs beats")
    assert [c["label"] for c in v["chords"] if c["label"] != "N"] == labels
    assert v["key"] == "C major"
    assert [r for r, c in zip(v["roman_numerals"], v["chords"]) if c["label"] != "N"] == \
        ["I", "vi", "IV", "V", "I", "IV", "V", "I"]
    assert any(c["type"].endswith("authentic") for c in v["cadences"])
    assert v["sections"] and v["progression_complexity"] is not None
    assert not {"chords", "key", "sections", "theory", "roman_numerals"} & set(result.failures)


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not corpus.SOUNDFONT.exists(),
                    reason="needs the Debian packages fluidsynth and fluid-soundfont-gm")
def test_a_rendered_choir_without_drums_gets_chords_and_roman_numerals(tmp_path):
    pretty_midi = pytest.importorskip("pretty_midi")
    # I vi IV V7 I in F on choir aahs, four voices, two beats a chord at 63 BPM
    progression = [("F:maj", (65, 60, 57, 41)), ("D:min", (65, 62, 57, 38)), ("Bb:maj", (65, 62, 58, 46)),
                   ("C:7", (64, 58, 55, 48)), ("F:maj", (65, 60, 57, 41))] * 2
    midi, beat, t = pretty_midi.PrettyMIDI(), 60 / 63, 0.5
    choir = pretty_midi.Instrument(program=52)
    for _, pitches in progression:
        choir.notes.extend(pretty_midi.Note(80, p, t, t + 2 * beat - 0.03) for p in pitches)
        t += 2 * beat
    midi.instruments.append(choir)
    midi.write(str(tmp_path / "choir.mid"))
    mono = decode(corpus._render(tmp_path / "choir.mid", t + 1.0)).mono_at(SR)
    v = analyze_audio(mono).values
    assert v["key"] == "F major"
    sounded = [c["label"] for c in v["chords"] if c["end"] - c["start"] > 0.5]
    assert [label.split(":")[0] for label in sounded if label != "N"][:5] == ["F", "D", "Bb", "C", "F"]
    assert len(v["roman_numerals"]) == len(v["chords"]) and {"I", "vi", "IV"} <= set(v["roman_numerals"])


def test_unsure_beats_are_kept_but_chords_follow_the_harmony(monkeypatch):
    wrong = tuple(round(t, 2) for t in np.arange(0.3, 38.0, 0.77))  # a pulse the music does not have
    unsure = beats_udf.Beats(78.0, wrong, wrong[::4], "4/4", 4, tempo_confidence=0.5, beat_confidence=0.3)
    monkeypatch.setattr(analyze_module.beats_udf, "track_beats", lambda mono, sample_rate=SR: unsure)
    result = analyze_audio(sustained(*HYMN))
    assert result.values["beats"] == list(wrong) and result.values["beat_confidence"] == 0.3
    changes = [c["start"] for c in result.values["chords"] if c["label"] != "N"][1:]
    assert np.max(np.abs(np.array(changes) - np.cumsum(HYMN[1])[:-1])) < 0.4  # on the harmony, not the beats


def test_a_song_without_beats_is_found_by_its_failure_in_the_lake(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    folder = tmp_path / "in"
    folder.mkdir()
    held = sustained(["D:min"], [20.0])  # a drone: no onset, so no pulse
    (folder / "held.wav").write_bytes(encode(np.stack([held, held]), "wav"))
    song = synth.render_song(synth.SongSpec(bars=8))
    (folder / "pulse.wav").write_bytes(encode(song.samples, "wav"))
    ingest(lake, [folder], workers=1, separate=False)
    rows = run(connect(lake), "SELECT filename, chords, roman_numerals, analysis_reasons FROM songs "
                              "WHERE 'beats' IN analysis_failures").to_pylist()
    assert [r["filename"] for r in rows] == ["held.wav"]
    reasons = {r["stage"]: r["reason"] for r in rows[0]["analysis_reasons"]}
    assert reasons["beats"].startswith("no beats") and reasons["rhythm"].startswith("needs beats")
    assert [c["label"] for c in rows[0]["chords"] if c["label"] != "N"] == ["D:min"]
    assert "i" in rows[0]["roman_numerals"] and len(rows[0]["roman_numerals"]) == len(rows[0]["chords"])
    found = run(connect(lake), "SELECT filename, tempo_confidence FROM songs WHERE analysis_failures IS NULL").to_pylist()
    assert [r["filename"] for r in found] == ["pulse.wav"] and found[0]["tempo_confidence"] > 0
