from datetime import datetime, timedelta, timezone

import lance
import numpy as np
import pytest

from songlake.schema import BatchWriter, Lake, UnknownVersion, connect, run
from songlake.schema.optimize import optimize
from songlake.schema.stems import STEMS, read_stem, stem_rows


def _track(song_id: str) -> dict:
    return {"song_id": song_id, "file_sha256": song_id * 2, "filename": f"{song_id}.mp3", "title": song_id,
            "quality_flags": [], "ingested_at": datetime.now(timezone.utc)}


def _add(lake: Lake, *song_ids: str) -> int:
    writer = BatchWriter(lake)
    for song_id in song_ids:
        writer.add("tracks", _track(song_id))
    return writer.commit("test", f"add {', '.join(song_ids)}")


def _refit(lake: Lake, genre: str, at: datetime, *song_ids: str) -> int:
    """A genre refit as jobs.genre writes it: one row per song, one timestamp."""
    writer = BatchWriter(lake)
    for song_id in song_ids:
        writer.add("genres", {"song_id": song_id, "model": "prior", "primary_genre": genre, "genre_confidence": 0.5,
                              "predicted_genres": [{"genre": genre, "confidence": 0.5}], "predicted_at": at})
    return writer.commit("genre", f"refit: {genre}")


def _titles(lake: Lake, version=None) -> list[str]:
    return [r["title"] for r in run(connect(lake, version), "SELECT title FROM songs ORDER BY title").to_pylist()]


def _fragments(lake: Lake, table: str) -> int:
    return len(lance.dataset(lake.uri(table)).get_fragments())


@pytest.fixture
def lake(tmp_path):
    return Lake.open(tmp_path / "lake", create=True)


def test_optimize_compacts_fragments_into_one_version_and_keeps_the_data(lake):
    for name in ("alpha", "beta", "gamma", "delta", "omega"):
        _add(lake, name)
    assert _fragments(lake, "tracks") == 5
    before = lake.version()
    report = optimize(lake)
    assert report.compacted["tracks"] == (5, 1) and _fragments(lake, "tracks") == 1
    assert report.version == lake.version() == before + 1
    assert lake.versions()[-1].kind == "optimize"
    assert _titles(lake) == ["alpha", "beta", "delta", "gamma", "omega"]
    # the default window keeps a week of history: every version still reads
    assert report.removed_versions == {name: 0 for name in report.removed_versions} and report.bytes_removed == 0
    assert _titles(lake, 3) == ["alpha", "beta"]


def test_optimize_with_nothing_to_do_records_no_version(lake):
    report = optimize(lake)
    assert report.version is None and lake.version() == 1
    assert all(before == after for before, after in report.compacted.values())


def test_cleanup_keeps_tagged_versions_and_the_latest_and_says_what_was_removed(lake):
    _add(lake, "alpha")
    lake.tag("v-train")  # version 2
    _add(lake, "beta")
    _add(lake, "gamma")
    report = optimize(lake, older_than=timedelta(0))
    assert report.bytes_removed > 0 and report.removed_versions["catalog"] == 3  # 1, 3 and 4
    assert _titles(lake, "v-train") == ["alpha"]
    assert _titles(lake) == ["alpha", "beta", "gamma"]
    with pytest.raises(UnknownVersion, match="version 3 was removed by optimize.*2, 5.*tag a version"):
        lake.state(3)
    with pytest.raises(UnknownVersion, match="removed by optimize"):
        connect(lake, 4)
    assert [v.version for v in lake.versions()] == [1, 2, 3, 4, 5]  # the history itself stays
    _add(lake, "delta")  # the lake goes on
    assert _titles(lake) == ["alpha", "beta", "delta", "gamma"]


def test_superseded_genre_rows_are_dropped_and_the_songs_view_is_unchanged(lake):
    _add(lake, "a", "b", "c")
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    _refit(lake, "folk", t0, "a", "b")
    _refit(lake, "rock", t0 + timedelta(hours=1), "a", "b", "c")
    _refit(lake, "jazz", t0 + timedelta(hours=2), "a")  # a refit that saw only song a
    query = "SELECT song_id, primary_genre FROM songs ORDER BY song_id"
    expected = [{"song_id": "a", "primary_genre": "jazz"}, {"song_id": "b", "primary_genre": "rock"},
                {"song_id": "c", "primary_genre": "rock"}]
    assert run(connect(lake), query).to_pylist() == expected
    report = optimize(lake)
    assert report.genres_dropped == 3
    assert run(connect(lake), query).to_pylist() == expected
    assert run(connect(lake), "SELECT count(*) AS n FROM lake_genres").to_pylist() == [{"n": 3}]
    assert optimize(lake).genres_dropped == 0


def test_stems_read_the_same_after_compaction_and_cleanup(lake):
    rng = np.random.default_rng(0)
    song = (0.5 * rng.uniform(-1, 1, (2, 20_000))).astype(np.float32)
    writer = BatchWriter(lake, flush_rows=2)
    for stem in STEMS:
        for row in stem_rows("s1", stem, "tiny", [song[:, i:i + 8000] for i in range(0, 20_000, 8000)], 8000):
            writer.add("stems", row)
    writer.commit("separate", "stems")
    before = read_stem(lake, "s1", "bass", 0.5, 2.2)
    report = optimize(lake, older_than=timedelta(0))
    assert report.compacted["stems"] == (6, 1)
    np.testing.assert_array_equal(read_stem(lake, "s1", "bass", 0.5, 2.2), before)


def test_a_negative_window_is_refused(lake):
    with pytest.raises(ValueError, match="age"):
        optimize(lake, older_than=timedelta(days=-1))


def test_stems_are_indexed_by_song_and_new_parts_are_found_before_and_after_reindexing(lake):
    rng = np.random.default_rng(1)

    def write(song_id):
        writer = BatchWriter(lake)
        for row in stem_rows(song_id, "vocals", "tiny", [(0.1 * rng.uniform(-1, 1, (2, 800))).astype(np.float32)], 8000):
            writer.add("stems", row)
        writer.commit("separate", song_id)

    write("s1")
    optimize(lake)
    assert [i.field_names for i in lance.dataset(lake.uri("stems")).describe_indices()] == [["song_id"]]
    write("s2")  # a fragment the index does not cover yet
    assert read_stem(lake, "s2", "vocals").shape == (2, 800)
    optimize(lake, older_than=timedelta(0))
    assert read_stem(lake, "s1", "vocals").shape == read_stem(lake, "s2", "vocals").shape == (2, 800)
