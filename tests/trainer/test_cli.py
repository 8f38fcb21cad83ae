"""`songlake export` from the command line: the selection, the options and the manifest."""

from __future__ import annotations

import json
import tarfile

from click.testing import CliRunner

from songlake.cli import main


def test_export_a_slice_as_webdataset_shards(lake_for_test, tmp_path):
    out = tmp_path / "wds"
    result = CliRunner().invoke(main, [
        "export", "--lake", str(lake_for_test), "--format", "webdataset", "--out", str(out),
        "--query", "SELECT song_id FROM songs WHERE bpm < 1000", "--stems", "drums,bass", "--clip-seconds", "4",
        "--sample-rate", "32000", "--shard-size", "3"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["format"] == "webdataset" and manifest["query"] == "SELECT song_id FROM songs WHERE bpm < 1000"
    assert manifest["sample_rate"] == 32000 and manifest["clip_seconds"] == 4 and manifest["stems"] == ["drums", "bass"]
    assert manifest["split"]["seed"] == 0 and manifest["selected"]["songs"] == 6
    shards = sorted((out / "shards").glob("*.tar"))
    members = [m.name for shard in shards for m in tarfile.open(shard).getmembers()]
    assert sum(n.endswith(".drums.flac") for n in members) == manifest["counts"]["clips"]
    assert all(len(tarfile.open(s).getmembers()) <= 3 * 4 for s in shards)  # 3 samples a shard, 4 files each


def test_export_refuses_an_unknown_format_and_a_non_empty_folder(lake_for_test, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--lake", str(lake_for_test), "--format", "mp4", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown format 'mp4'" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    result = runner.invoke(main, ["export", "--lake", str(lake_for_test), "--format", "hf", "--out", str(tmp_path / "full")])
    assert result.exit_code == 1 and "not empty" in result.output.lower()
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
