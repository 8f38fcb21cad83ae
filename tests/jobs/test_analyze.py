import numpy as np
import pytest

from songlake import synth
from songlake.jobs import analyze as analyze_module
from songlake.jobs.analyze import analyze_audio
from songlake.udfs import ANALYSIS_VERSION


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


def test_a_failing_stage_is_recorded_and_the_others_go_on(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(analyze_module.sections_udf, "segment", broken)
    song = synth.render_song(synth.SongSpec(bars=8))
    result = analyze_audio(song.samples.mean(axis=0))
    assert result.failed == ["sections: RuntimeError: simulated failure"]
    assert "sections" not in result.values and result.values["key"] == "C major" and result.values["chords"]


def test_silence_gives_nulls_not_errors():
    result = analyze_audio(np.zeros(44100 * 5, np.float32))
    assert result.failed == [] and result.values.get("bpm") is None and result.values.get("key") is None
