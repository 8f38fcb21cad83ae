"""`songlake export --format preferences`: the A/B votes as (prompt, conditioning, chosen,
rejected) rows that datasets.load_from_disk opens, with the clips' audio, and an export.json
naming the votes and raters behind it (ties and both_bad left out and counted)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from songlake.cli import main
from songlake.jobs.generations import Generation, add
from songlake.schema.lake import Lake
from songlake.schema.votes import write_vote
from songlake.schema.writer import BatchWriter

datasets = pytest.importorskip("datasets")
RATE = 16000


def tone(freq: float) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(2 * RATE) / RATE)).astype(np.float32)


@pytest.fixture(scope="module")
def voted(tmp_path_factory):
    """A lake with two models' generations for one prompt, a reference song, and five votes."""
    lake = Lake.open(tmp_path_factory.mktemp("lake") / "lake", create=True)
    reference_audio = Generation.from_samples(tone(500.0), RATE, "unused").audio  # a FLAC file as the song's original
    writer = BatchWriter(lake)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    writer.add("tracks", {"song_id": "refsong", "file_sha256": "ab" * 32, "filename": "ref.flac", "format": "flac",
                          "duration": 2.0, "ingested_at": t0})
    writer.add("originals", {"song_id": "refsong", "file_sha256": "ab" * 32, "filename": "ref.flac", "format": "flac",
                             "data": reference_audio})
    writer.commit("ingest", "a reference song")
    conditioning = {"key": "A major", "bpm": 120, "reference": "refsong"}
    made = [Generation.from_samples(tone(f), RATE, model, checkpoint=ckpt, prompt="bright synth",
                                    conditioning=conditioning)
            for model, ckpt, f in (("good", "s2", 440.0), ("bad", "s1", 220.0))]
    good, bad = add(lake, made).added
    write_vote(lake, good, bad, "a", "ana", prompt="bright synth", note="in tune")
    write_vote(lake, bad, good, "b", "ben", prompt="bright synth")
    write_vote(lake, "refsong", good, "a", "ana", prompt="bright synth")
    write_vote(lake, bad, "refsong", "tie", "ben", prompt="bright synth")
    write_vote(lake, good, "refsong", "both_bad", "cleo", prompt="bright synth")
    return lake, {"good": (good, made[0].audio), "bad": (bad, made[1].audio), "reference": ("refsong", reference_audio)}


def test_the_export_loads_with_load_from_disk_with_the_documented_columns(voted, tmp_path):
    lake, clips = voted
    out = tmp_path / "prefs"
    result = CliRunner().invoke(main, ["export", "--format", "preferences", "--out", str(out),
                                       "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    assert "3 preference pairs from 5 votes (1 ties and 1 both bad left out)" in result.stderr
    dataset = datasets.load_from_disk(str(out)).cast_column("chosen", datasets.Audio(decode=False)) \
        .cast_column("rejected", datasets.Audio(decode=False))
    assert {"prompt", "conditioning", "chosen", "rejected", "chosen_model", "rejected_model", "rater", "note",
            "vote_id", "voted_at"} <= set(dataset.column_names)
    rows = dataset.to_list()
    assert [(r["chosen_model"], r["rejected_model"], r["rater"]) for r in rows] == [
        ("good", "bad", "ana"), ("good", "bad", "ben"), ("reference", "good", "ana")]
    by_id = {clip_id: data for clip_id, data in clips.values()}
    for r in rows:
        assert r["prompt"] == "bright synth"
        assert r["chosen"]["bytes"] == by_id[r["chosen_id"]] and r["rejected"]["bytes"] == by_id[r["rejected_id"]]
        conditioning = json.loads(r["conditioning"])
        assert conditioning["key"] == "A major" and conditioning["reference"] == "refsong"
    samples, rate = sf.read(io.BytesIO(rows[0]["chosen"]["bytes"]))
    assert rate == RATE and len(samples) == 2 * RATE  # the audio is the generation's own
    assert rows[0]["note"] == "in tune" and rows[0]["chosen_checkpoint"] == "s2" and rows[2]["chosen_kind"] == "song"

    manifest = json.loads((out / "export.json").read_text())
    assert manifest["format"] == "preferences" and manifest["lake_version"] == lake.version()
    assert manifest["counts"] == {"votes": 5, "rows": 3, "ties": 1, "both_bad": 1}
    assert manifest["raters"] == {"ana": 2, "ben": 1}
    assert manifest["raters_of_all_votes"] == {"ana": 2, "ben": 2, "cleo": 1}
    assert [v["vote_id"] for v in manifest["votes"]] == [r["vote_id"] for r in rows]
    assert not (out / ".songlake-export").exists() and not (out / ".arrow").exists()


def test_a_non_empty_folder_is_refused_and_an_earlier_export_is_replaced_when_asked(voted, tmp_path):
    lake, _ = voted
    out = tmp_path / "prefs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["export", "--format", "preferences", "--out", str(out), "--lake", str(lake.root)]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0 and "not empty" in refused.output and (out / "notes.txt").read_text() == "mine"
    fresh = tmp_path / "fresh"
    assert CliRunner().invoke(main, ["export", "--format", "preferences", "--out", str(fresh), "--lake",
                                     str(lake.root)]).exit_code == 0
    again = CliRunner().invoke(main, ["export", "--format", "preferences", "--out", str(fresh), "--lake",
                                      str(lake.root), "--overwrite"])
    assert again.exit_code == 0 and len(datasets.load_from_disk(str(fresh))) == 3


def test_no_votes_give_an_empty_dataset(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    out = tmp_path / "prefs"
    result = CliRunner().invoke(main, ["export", "--format", "preferences", "--out", str(out),
                                       "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    assert len(datasets.load_from_disk(str(out))) == 0
    assert json.loads((out / "export.json").read_text())["counts"]["votes"] == 0
