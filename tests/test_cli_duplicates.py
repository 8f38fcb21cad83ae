"""`songlake duplicates`: the groups with the preferred copy first and each copy's alignment to
it, one song's group, and a reviewer's choice recorded as a label."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from click.testing import CliRunner

from songlake.cli import main
from songlake.schema import BatchWriter, Lake, connect, run

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _lake(tmp_path) -> Lake:
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake)
    for sid, fmt, duration in (("aaaa", "mp3", 200.0), ("bbbb", "flac", 200.0), ("cccc", "mp3", 150.0),
                               ("dddd", "mp3", 180.0)):
        writer.add("tracks", {"song_id": sid, "file_sha256": sid * 2, "filename": f"{sid}.{fmt}", "format": fmt,
                              "duration": duration, "bandwidth_hz": 16000.0, "quality_flags": [], "ingested_at": T0})
    for a, b, kind, offset in (("aaaa", "bbbb", "same_audio", 0.0), ("aaaa", "cccc", "edit", -30.0)):
        writer.add("duplicate_pairs", {"song_a": a, "song_b": b, "kind": kind, "score": 0.9, "offset_seconds": offset,
                                       "shared_seconds": 150.0, "speed": 1.0, "method": "fingerprint", "found_at": T0})
    writer.commit("test", "three copies and a song alone")
    return lake


def _json(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_list_puts_the_preferred_copy_first_with_each_copys_alignment(tmp_path):
    lake = _lake(tmp_path)
    rows = _json(CliRunner().invoke(main, ["duplicates", "--lake", str(lake.root), "--format", "json"]))
    assert [r["song_id"] for r in rows] == ["bbbb", "aaaa", "cccc"]  # the FLAC first; dddd has no duplicates
    assert rows[0]["is_preferred_copy"] and not rows[1]["is_preferred_copy"]
    assert rows[1]["kind"] == "same_audio" and rows[2]["kind"] is None  # cccc pairs with aaaa, not the FLAC
    only = _json(CliRunner().invoke(main, ["duplicates", "--lake", str(lake.root), "--song", "cccc",
                                           "--format", "json"]))
    assert {r["song_id"] for r in only} == {"aaaa", "bbbb", "cccc"}
    alone = CliRunner().invoke(main, ["duplicates", "--lake", str(lake.root), "--song", "dddd", "--format", "json"])
    assert alone.exit_code == 0 and "has no duplicates" in alone.stderr


def test_a_choice_is_a_label_with_its_author_and_can_be_withdrawn(tmp_path):
    lake = _lake(tmp_path)
    done = CliRunner().invoke(main, ["duplicates", "choose", "cccc", "preferred", "--lake", str(lake.root),
                                     "--author", "ana", "--note", "the radio edit is the one we want"])
    assert done.exit_code == 0, done.output
    assert run(connect(lake), "SELECT song_id FROM songs WHERE is_preferred_copy AND duplicate_group = 'aaaa'"
               ).to_pylist() == [{"song_id": "cccc"}]
    history = run(connect(lake), "SELECT field, value, author, note FROM label_history "
                                 "WHERE song_id = 'cccc'").to_pylist()
    assert history[0] == {"field": "duplicate_choice", "value": '"preferred"', "author": "ana",
                          "note": "the radio edit is the one we want"}
    CliRunner().invoke(main, ["duplicates", "choose", "cccc", "none", "--lake", str(lake.root), "--author", "ana"])
    assert run(connect(lake), "SELECT song_id FROM songs WHERE is_preferred_copy AND duplicate_group = 'aaaa'"
               ).to_pylist() == [{"song_id": "bbbb"}]
    choose = ["duplicates", "choose", "--lake", str(lake.root), "--author", "x"]
    wrong = CliRunner().invoke(main, choose + ["cccc", "delete"])
    assert wrong.exit_code == 2
    missing = CliRunner().invoke(main, choose + ["zzzz", "drop"])
    assert missing.exit_code == 1
