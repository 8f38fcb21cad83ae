"""Splits: whole artists per split, seeded, stored in the lake and final once stored."""

from __future__ import annotations

import pytest

from songlake.schema import Lake
from songlake.schema.query import connect
from songlake.trainer import splits
from songlake.trainer.selection import select


def test_artist_names_that_differ_only_in_spelling_are_one_group():
    assert splits.artist_key("The Beatles", "s1") == splits.artist_key("  beatles ", "s2") == "artist:beatles"
    assert splits.artist_key("Ada Lovelace feat. Grace Hopper", "s1") == splits.artist_key("ada lovelace", "s2")
    assert splits.artist_key("Simon & Garfunkel", "s1") == "artist:simon"  # over-grouping never leaks
    assert splits.artist_key(None, "s9") == splits.artist_key("   ", "s9") == "song:s9"
    assert splits.artist_key("Curie", "a") != splits.artist_key("Curies", "a")


def test_a_large_collection_is_dealt_close_to_its_fractions():
    sizes = {f"artist:{i}": 1 + (i * 7919) % 13 for i in range(2000)}  # 1 to 13 songs an artist
    dealt = splits.deal(sizes, (0.8, 0.1, 0.1), seed=3)
    total = sum(sizes.values())
    share = {s: sum(n for k, n in sizes.items() if dealt[k] == s) / total for s in splits.SPLITS}
    assert share["train"] == pytest.approx(0.8, abs=0.005)
    assert share["valid"] == pytest.approx(0.1, abs=0.005) and share["test"] == pytest.approx(0.1, abs=0.005)
    assert splits.deal(sizes, (0.8, 0.1, 0.1), seed=3) == dealt  # seeded: the same deal every time
    assert splits.deal(sizes, (0.8, 0.1, 0.1), seed=4) != dealt


def test_known_groups_keep_their_split_and_new_ones_fill_the_gaps():
    dealt = splits.deal({"a": 5, "b": 1, "c": 1}, (0.5, 0.25, 0.25), seed=0, counts={"train": 0, "valid": 4, "test": 0},
                        known={"a": "valid"})
    assert dealt["a"] == "valid"
    assert {dealt["b"], dealt["c"]} == {"train", "test"}  # valid is far over its share already


def test_three_artists_give_each_split_one(lake_for_test):
    lake = Lake.open(lake_for_test)
    assigned = splits.assign(lake)
    assert len(assigned) == 6 and sorted(assigned.values()).count("train") == 2
    rows = select(lake).songs
    by_artist: dict[str, set] = {}
    for song in rows:
        by_artist.setdefault(splits.artist_key(song["artist"], song["song_id"]), set()).add(song["split"])
    assert len(by_artist) == 3 and all(len(s) == 1 for s in by_artist.values()), by_artist
    assert {next(iter(s)) for s in by_artist.values()} == set(splits.SPLITS)


def test_splits_are_stored_once_and_read_back_the_same(lake_for_test):
    lake = Lake.open(lake_for_test)
    first = splits.assign(lake, seed=5)
    version = lake.version()
    assert lake.versions()[-1].kind == "split"
    assert splits.assign(lake, seed=5) == first
    assert lake.version() == version  # nothing new to store: no new commit
    with connect(lake) as con:
        stored = dict(con.sql("SELECT song_id, split FROM splits WHERE split_name = 'default'").fetchall())
    assert stored == first
    with pytest.raises(ValueError, match="made with seed 5"):
        splits.assign(lake, seed=6)
    other = splits.assign(lake, "other", seed=6, fractions=(0.5, 0.25, 0.25))
    assert set(other) == set(first)
    assert splits.read(lake, "other") == other


def test_a_racing_assignment_never_moves_a_song(lake_for_test):
    """Two processes may both store a song; the first stored row decides, for both."""
    lake = Lake.open(lake_for_test)
    first = splits.assign(lake)
    song = next(iter(first))
    moved = {"train": "test", "valid": "train", "test": "valid"}[first[song]]
    splits._store(lake, "default", 0, (0.8, 0.1, 0.1), [(song, moved, "artist:late")])
    assert splits.read(lake)[song] == first[song]


@pytest.mark.parametrize("name, fractions, message", [
    ("bad name!", (0.8, 0.1, 0.1), "split name"),
    ("default", (0.8, 0.1), "three shares"),
    ("default", (0.8, 0.3, -0.1), "three shares"),
    ("default", (0.5, 0.1, 0.1), "sum to 1"),
])
def test_a_bad_scheme_is_refused(name, fractions, message):
    with pytest.raises(ValueError, match=message):
        splits.check_scheme(name, fractions)
