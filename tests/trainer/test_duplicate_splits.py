"""Splits keep a recording's copies together: a duplicate group (and its artists) is one group,
duplicates found after the split move the fewest songs, the migration to schema 9 fixes splits
made before, and training selects the preferred copies unless asked for all."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa

from songlake.schema import BatchWriter, Lake, connect, run, tables
from songlake.schema.split_groups import components, moves
from songlake.trainer import splits
from songlake.trainer.selection import select

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _track(song_id: str, artist: str | None, fmt: str = "mp3", duration: float = 180.0) -> dict:
    return {"song_id": song_id, "file_sha256": song_id * 2, "filename": f"{song_id}.{fmt}", "artist": artist,
            "format": fmt, "duration": duration, "bandwidth_hz": 16000.0, "quality_flags": [], "ingested_at": T0}


def _pair(a: str, b: str, minutes: int = 0) -> dict:
    a, b = sorted((a, b))
    return {"song_a": a, "song_b": b, "kind": "same_audio", "score": 0.9, "offset_seconds": 0.0,
            "shared_seconds": 170.0, "speed": 1.0, "method": "fingerprint", "found_at": T0 + timedelta(minutes=minutes)}


def _collection(lake: Lake, artists: int = 12) -> list[str]:
    """Three songs per artist, artists a0 .. a11; returns the song ids."""
    writer = BatchWriter(lake)
    ids = []
    for a in range(artists):
        for n in range(3):
            ids.append(f"s{a:02d}{n}")
            writer.add("tracks", _track(ids[-1], f"Artist {a}"))
    writer.commit("ingest", "songs")
    return ids


def _straddling(lake: Lake, name: str = "default") -> list[str]:
    with connect(lake) as con:
        rows = con.sql("SELECT s.duplicate_group, count(DISTINCT p.split) AS n FROM songs s "
                       "JOIN splits p USING (song_id) WHERE p.split_name = ? GROUP BY ALL HAVING n > 1",
                       params=[name]).fetchall()
    return [group for group, _ in rows]


def test_components_join_artists_through_their_duplicates():
    songs = [("x1", "Band", "x1"), ("x2", "Band", "x2"), ("y1", None, "x1"), ("z1", "Other", "z1")]
    component = components(songs)
    assert component["x1"] == component["x2"] == component["y1"] != component["z1"]
    assert component["z1"] == "artist:other"  # no duplicates: the artist key, as before
    assert moves(component, {"x1": "train", "x2": "train", "y1": "test", "z1": "test"}) == {"y1": "train"}
    # a tie goes to the earlier split of train, valid, test
    assert moves(component, {"x1": "valid", "y1": "test", "z1": "test"}) == {"y1": "valid"}


def test_a_duplicate_tagged_as_another_artist_lands_with_its_original(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    ids = _collection(lake)
    writer = BatchWriter(lake)
    for n in range(12):  # every artist's first song has an untagged copy elsewhere
        writer.add("tracks", _track(f"copy{n:02d}", None, "flac"))
        writer.add("duplicate_pairs", _pair(f"copy{n:02d}", f"s{n:02d}0"))
    writer.commit("duplicates", "copies")
    assigned = splits.assign(lake, seed=1)
    assert len(assigned) == len(ids) + 12
    assert _straddling(lake) == []
    assert {assigned[f"copy{n:02d}"] for n in range(12)} >= {"train", "test"}  # dealt, not all in one split


def test_duplicates_found_after_the_split_move_the_fewest_songs(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    _collection(lake)
    before = splits.assign(lake, seed=2)
    train = sorted(s for s, split in before.items() if split == "train")
    test = sorted(s for s, split in before.items() if split == "test")
    writer = BatchWriter(lake)
    writer.add("duplicate_pairs", _pair(train[0], test[0]))  # found later: across splits
    writer.commit("duplicates", "a late pair")
    assert _straddling(lake) != []
    after = splits.assign(lake, seed=2)
    assert _straddling(lake) == []
    moved = {s for s in after if after[s] != before[s]}
    # test[0]'s artist (three songs) joins train[0]'s artist (three songs) plus the pair's weight: the
    # smaller side moves, whole
    assert moved and all(before[s] == "test" and after[s] == "train" for s in moved)
    assert test[0] in moved and len(moved) <= 3
    with connect(lake) as con:
        reasons = con.sql("SELECT moved_for FROM splits WHERE song_id = ?", params=[test[0]]).fetchall()
    assert reasons[0][0].startswith("duplicates")
    assert splits.assign(lake, seed=2) == after  # stable once whole


def test_the_migration_to_schema_9_fixes_splits_made_before(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:  # songlake at schema 8: splits without moved_for
        patch.setattr(tables, "SCHEMA_VERSION", 8)
        patch.setitem(tables.TABLES, "splits", pa.schema([f for f in tables.SPLITS if f.name != "moved_for"]))
        old = Lake.open(tmp_path / "lake", create=True)
        _collection(old, artists=4)
        writer = BatchWriter(old)
        writer.add("duplicate_pairs", _pair("s000", "s010"))
        for sid, split in (("s000", "train"), ("s001", "train"), ("s002", "train"),
                           ("s010", "test"), ("s011", "test"), ("s012", "test"),
                           ("s020", "valid"), ("s021", "valid"), ("s022", "valid"),
                           ("s030", "train"), ("s031", "train"), ("s032", "train")):
            writer.add("splits", {"split_name": "default", "song_id": sid, "split": split, "group_key": "k",
                                  "seed": 0, "fractions": "[0.8, 0.1, 0.1]", "assigned_at": T0})
        writer.commit("split", "made before duplicates kept together")
        assert old.schema_version() == 8
    lake = Lake.open(old.root)
    assert lake.schema_version() == tables.SCHEMA_VERSION >= 9
    assert _straddling(lake) == []
    with connect(lake) as con:
        rows = dict(con.sql("SELECT song_id, split FROM splits").fetchall())
    assert {rows[s] for s in ("s000", "s001", "s002", "s010", "s011", "s012")} == {"train"}  # ties: train first
    assert rows["s020"] == "valid"


def test_training_selects_preferred_copies_unless_asked_for_all(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    _collection(lake, artists=4)
    writer = BatchWriter(lake)
    writer.add("tracks", _track("copyflac", None, "flac"))  # lossless: the preferred copy of s000
    writer.add("tracks", _track("copymp3", None, "mp3", duration=120.0))  # a radio edit of s000
    writer.add("duplicate_pairs", _pair("copyflac", "s000"))
    writer.add("duplicate_pairs", _pair("copymp3", "s000"))
    writer.commit("duplicates", "copies")
    chosen = select(lake)
    ids = {s["song_id"] for s in chosen.songs}
    assert "copyflac" in ids and "s000" not in ids and "copymp3" not in ids
    assert chosen.manifest()["duplicates_left_out"] == 2
    everything = select(lake, duplicates=True)
    assert {"s000", "copymp3", "copyflac"} <= {s["song_id"] for s in everything.songs}
    assert everything.manifest()["duplicates_left_out"] == 0
    assert len({s["split"] for s in everything.songs if s["song_id"] in ("s000", "copymp3", "copyflac")}) == 1


def test_a_keep_label_trains_on_a_copy_beside_the_preferred_one(tmp_path):
    from songlake.schema.labels import write_labels

    lake = Lake.open(tmp_path / "lake", create=True)
    _collection(lake, artists=3)
    writer = BatchWriter(lake)
    writer.add("tracks", _track("copyflac", None, "flac"))
    writer.add("duplicate_pairs", _pair("copyflac", "s000"))
    writer.commit("duplicates", "a copy")
    write_labels(lake, "s000", {"duplicate_choice": "keep"}, author="ana")
    ids = {s["song_id"] for s in select(lake).songs}
    assert {"copyflac", "s000"} <= ids
    assert run(connect(lake), "SELECT is_preferred_copy FROM songs WHERE song_id = 's000'").to_pylist() == [
        {"is_preferred_copy": False}]
