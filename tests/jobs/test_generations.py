"""Generations in a real lake: `songlake generations add` with a JSONL manifest, analysed by the
lake's analysis, scored for adherence, and read back through the generations and model_report
views.

Two stand-ins for models make songs with songlake.synth: 'faithful' is credited with the
conditioning each song was rendered from; 'careless' with conditioning the songs do not follow
(asked for a key three semitones up, with those chords, at 1.25 times the tempo). The report
must rank them that way.
"""

from __future__ import annotations

import json
import re

import pytest
import soundfile as sf
from click.testing import CliRunner

from songlake import synth
from songlake.cli import main
from songlake.jobs.generations import add_generations
from songlake.schema import connect, run
from songlake.schema.lake import Lake
from songlake.udfs.key import PITCH_CLASSES

SPECS = {  # model -> songs it made (tonic, mode, bpm)
    "faithful": [("C", "major", 100.0), ("A", "minor", 124.0)],
    "careless": [("E", "major", 112.0), ("G", "major", 92.0)],
}


def asked_for(rendered: synth.Rendered, model: str) -> dict:
    """The conditioning the model is credited with: the song's own, or one it did not follow."""
    shift, factor = (0, 1.0) if model == "faithful" else (3, 1.25)
    tonic, mode = rendered.key.split()
    move = lambda name: PITCH_CLASSES[(PITCH_CLASSES.index(name) + shift) % 12]  # noqa: E731
    chords = [{"start": s, "end": e, "label": move(label.split(":")[0]) + ":" + label.split(":")[1]}
              for s, e, label in rendered.chords]
    return {"key": f"{move(tonic)} {mode}", "bpm": rendered.bpm * factor, "chords": chords, "genre": "pop"}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(folder, manifest path) of four generations by two models."""
    folder = tmp_path_factory.mktemp("generations")
    lines = []
    for model, specs in SPECS.items():
        for i, (tonic, mode, bpm) in enumerate(specs):
            rendered = synth.render_song(synth.SongSpec(tonic=tonic, mode=mode, bpm=bpm, degrees=(1, 4, 5, 1),
                                                        bars=4, seed=i))
            name = f"{model}/{i:03d}.wav"
            (folder / model).mkdir(exist_ok=True)
            (folder / name).write_bytes(synth.encode(rendered.samples, "wav"))
            lines.append({"file": name, "model": model, "checkpoint": f"{model}-step1000.ckpt",
                          "prompt": f"{mode} song at {bpm:.0f} BPM", "conditioning": asked_for(rendered, model),
                          "trained_on": {"lake": "/lakes/main", "lake_version": 7 if model == "faithful" else 9,
                                         "query": "SELECT song_id FROM songs"}})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder, manifest


@pytest.fixture(scope="module")
def lake(made, tmp_path_factory):
    folder, manifest = made
    lake = Lake.open(tmp_path_factory.mktemp("lake") / "lake", create=True)
    added = add_generations(lake, folder, manifest)
    assert len(added.added) == 4 and added.skipped == () and added.version == lake.version()
    return lake


def test_generations_are_stored_with_what_they_were_asked(lake, made):
    rows = run(connect(lake), "SELECT * FROM generations ORDER BY model, filename").to_pylist()
    assert [r["model"] for r in rows] == ["careless", "careless", "faithful", "faithful"]
    first = rows[2]
    assert first["checkpoint"] == "faithful-step1000.ckpt" and first["trained_on_version"] == 7
    assert first["trained_on_query"] == "SELECT song_id FROM songs" and first["filename"] == "000.wav"
    conditioning = json.loads(first["conditioning"])
    assert conditioning["key"] == "C major" and conditioning["text"] == first["prompt"] == "major song at 100 BPM"
    assert first["duration"] == pytest.approx(sf.info(str(made[0] / "faithful" / "000.wav")).duration, abs=1e-3)
    # the lake's analysis of the audio, stored beside the scores
    assert first["key"] == "C major" and first["bpm"] == pytest.approx(100, rel=0.04)
    assert len(first["chords"]) >= 3 and first["beats"]
    # no sections were asked for: NULL with the reason
    assert first["section_f"] is None and "section_f: the conditioning has no sections" in first["adherence_reasons"]


def test_model_report_ranks_the_model_that_followed_its_conditioning_first(lake):
    report = {r["model"]: r for r in run(connect(lake), "SELECT * FROM model_report").to_pylist()}
    faithful, careless = report["faithful"], report["careless"]
    assert faithful["generations"] == careless["generations"] == 2
    assert faithful["tempo_acc1"] == 1.0 and careless["tempo_acc1"] == 0.0
    assert faithful["key_weighted"] == 1.0 and careless["key_weighted"] == 0.0
    assert faithful["chord_majmin"] >= 0.8 and careless["chord_majmin"] <= 0.2
    assert faithful["beat_f"] >= 0.8 and careless["beat_f"] < faithful["beat_f"] - 0.3
    assert faithful["section_f"] is None and faithful["sections_scored"] == 0 and faithful["chords_scored"] == 2
    assert faithful["trained_on_versions"] == [7] and careless["trained_on_versions"] == [9]


def test_adding_the_same_audio_again_adds_nothing(lake, made):
    folder, manifest = made
    before = lake.version()
    again = add_generations(lake, folder, manifest)
    assert again.added == () and len(again.skipped) == 4 and again.version is None
    assert lake.version() == before


def test_a_bad_manifest_line_is_named_and_nothing_is_added(lake, made, tmp_path):
    folder, _ = made
    before = lake.version()
    for line, message in (({"file": "faithful/000.wav"}, "'model' (its name) are required"),
                          ({"file": "nothing.wav", "model": "m"}, "no file"),
                          ({"file": "faithful/000.wav", "model": "m", "conditioning": {"tempo": 120}},
                           "the tempo is 'bpm'"),
                          ({"file": "faithful/000.wav", "model": "m", "seed": 3}, "unknown field 'seed'"),
                          ({"file": "faithful/000.wav", "model": "m", "trained_on": {"lake_version": "7"}},
                           "trained_on lake_version is a whole number, not '7'"),
                          ({"file": "faithful/000.wav", "model": "m", "trained_on": {"query": 5}},
                           "trained_on query is text, not 5"),
                          ({"file": "faithful/000.wav", "model": "m", "trained_on": ["main", 7]},
                           "trained_on is an object")):
        manifest = tmp_path / "bad.jsonl"
        manifest.write_text(json.dumps({"file": "careless/001.wav", "model": "ok"}) + "\n" + json.dumps(line) + "\n")
        with pytest.raises(ValueError, match=f"bad.jsonl line 2.*{re.escape(message)}"):
            add_generations(lake, folder, manifest)
    assert lake.version() == before


def test_the_command_adds_and_reports(made, tmp_path):
    folder, manifest = made
    lake_dir = tmp_path / "lake"
    Lake.open(lake_dir, create=True)
    runner = CliRunner()
    one = tmp_path / "one.jsonl"
    one.write_text(manifest.read_text().splitlines()[0] + "\n")
    result = runner.invoke(main, ["generations", "add", str(folder), "--manifest", str(one), "--lake", str(lake_dir),
                                  "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["model"] for r in rows] == ["faithful"] and rows[0]["generations"] == 1 and rows[0]["key_weighted"] == 1.0
    result = runner.invoke(main, ["generations", "report", "--lake", str(lake_dir), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["model"] == "faithful"


def test_what_it_was_trained_on_is_read_from_a_songlake_checkpoint(made, tmp_path):
    torch = pytest.importorskip("torch")
    folder, manifest = made
    # what Lightning saves: the data module's state_dict under its class name (trainer/datamodule.py)
    torch.save({"state_dict": {"w": torch.zeros(2)}, "SonglakeDataModule": {
        "lake": "/lakes/main", "lake_version": 12, "tag": "trained-2026-11", "query": "SELECT song_id FROM songs",
        "split": {"name": "default", "seed": 0, "fractions": [0.8, 0.1, 0.1]}}}, folder / "v3.ckpt")
    line = json.loads(manifest.read_text().splitlines()[0])
    line |= {"checkpoint": "v3.ckpt", "model": "from-checkpoint"}
    del line["trained_on"]
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(line) + "\n")
    lake = Lake.open(tmp_path / "lake", create=True)
    add_generations(lake, folder, one)
    row = run(connect(lake), "SELECT * FROM generations").to_pylist()[0]
    assert (row["trained_on_lake"], row["trained_on_version"], row["trained_on_tag"], row["trained_on_query"]) == \
        ("/lakes/main", 12, "trained-2026-11", "SELECT song_id FROM songs")


def test_generations_from_python_after_sampling(tmp_path):
    from songlake.jobs.generations import Generation, add

    rendered = synth.render_song(synth.SongSpec(tonic="D", mode="major", bpm=108.0, degrees=(1, 5, 6, 4), bars=4))
    conditioning = {"key": "D major", "bpm": 108.0,
                    "chords": [{"start": s, "end": e, "label": label} for s, e, label in rendered.chords]}
    made = Generation.from_samples(rendered.samples, rendered.sample_rate, "sampler", checkpoint="step-50",
                                   prompt="bright pop in D", conditioning=conditioning)
    lake = Lake.open(tmp_path / "lake", create=True)
    first = add(lake, [made])
    assert len(first.added) == 1 and first.version == lake.version()
    row = run(connect(lake), "SELECT * FROM generations").to_pylist()[0]
    assert row["model"] == "sampler" and row["format"] == "flac" and row["filename"] == f"{first.added[0]}.flac"
    assert row["key_weighted"] == 1.0 and row["tempo_acc1"] == 1.0 and row["chord_majmin"] >= 0.8
    assert json.loads(row["conditioning"])["text"] == "bright pop in D"
    assert add(lake, [made]).skipped == first.added  # the same audio once
    with pytest.raises(ValueError, match="channels, frames"):
        Generation.from_samples(rendered.samples[:, :0], rendered.sample_rate, "sampler")
    with pytest.raises(ValueError, match="generation: conditioning: unknown conditioning field 'tempo'"):
        add(lake, [Generation(made.audio, "sampler", conditioning={"tempo": 108})])
