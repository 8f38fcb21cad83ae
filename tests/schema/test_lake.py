from datetime import datetime, timezone

import lance
import pyarrow as pa
import pytest

from songlake.schema import BatchWriter, Lake, NotALake, SchemaTooNew, UnknownVersion, connect, migrations, run, tables
from songlake.schema.errors import LakeError


def _track(song_id: str, title: str) -> dict:
    return {"song_id": song_id, "file_sha256": song_id * 2, "filename": f"{title}.mp3", "title": title,
            "quality_flags": [], "ingested_at": datetime.now(timezone.utc)}


def _add(lake: Lake, *titles: str) -> int:
    writer = BatchWriter(lake, flush_rows=2)
    for title in titles:
        writer.add("tracks", _track(title[:4].ljust(4, "x"), title))
    return writer.commit("test", f"add {', '.join(titles)}")


def _titles(lake: Lake, version=None) -> list[str]:
    return [r["title"] for r in run(connect(lake, version), "SELECT title FROM songs ORDER BY title").to_pylist()]


def test_a_new_lake_is_version_one_and_empty(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    assert lake.version() == 1 and lake.schema_version() == tables.SCHEMA_VERSION
    assert _titles(lake) == []
    assert [v.kind for v in lake.versions()] == ["init"]


def test_opening_a_missing_lake_says_how_to_make_one(tmp_path):
    with pytest.raises(NotALake, match="songlake ingest"):
        Lake.open(tmp_path / "nowhere")


def test_each_commit_is_one_version_and_old_versions_stay_readable(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    assert _add(lake, "alpha", "beta", "gamma") == 2  # three rows, two flushes, one version
    assert _add(lake, "delta") == 3
    assert _titles(lake) == ["alpha", "beta", "delta", "gamma"]
    assert _titles(lake, 2) == ["alpha", "beta", "gamma"]
    assert _titles(lake, 1) == []
    assert [v.version for v in lake.versions()] == [1, 2, 3]


def test_an_empty_batch_makes_no_version(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    assert BatchWriter(lake).commit("test", "nothing") is None
    assert lake.version() == 1


def test_uncommitted_fragments_are_invisible(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake, flush_rows=1)
    writer.add("tracks", _track("aaaa", "written but never committed"))  # flushed to a fragment
    assert _titles(lake) == [] and lake.version() == 1


def test_a_crash_between_table_and_catalog_commits_hides_rows_until_the_next_commit(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    uri = lake.uri("tracks")
    data = pa.Table.from_pylist([_track("orph", "orphan")], schema=tables.TRACKS)
    lance.write_dataset(data, uri, mode="append")  # the table moved on; the catalog did not
    assert _titles(lake) == []
    _add(lake, "next")
    assert _titles(lake) == ["next", "orphan"]  # adopted, and counted once


def test_tags_name_versions_for_time_travel(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    _add(lake, "alpha")
    assert lake.tag("v-train") == 2
    _add(lake, "beta")
    assert _titles(lake, "v-train") == ["alpha"]
    assert lake.resolve("v-train") == 2 and lake.versions()[1].tags == ("v-train",)
    # every table is tagged too, so cleaning up old versions cannot remove what the tag needs
    for table in tables.TABLES:
        assert "v-train" in lance.dataset(lake.uri(table)).tags.list()


def test_tag_errors(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    lake.tag("first")
    with pytest.raises(LakeError, match="already exists"):
        lake.tag("first")
    with pytest.raises(LakeError, match="letters, digits"):
        lake.tag("12")
    with pytest.raises(UnknownVersion, match="versions 1 to 1"):
        lake.state(7)
    with pytest.raises(UnknownVersion, match="no tag 'nope'.*first"):
        lake.state("nope")


def test_a_lake_from_a_newer_songlake_is_refused(tmp_path, monkeypatch):
    lake = Lake.open(tmp_path / "lake", create=True)
    lake.record("migrate", "from the future", {}, {}, schema_version=tables.SCHEMA_VERSION + 1)
    with pytest.raises(SchemaTooNew, match="upgrade songlake"):
        Lake.open(lake.root)


def test_migrations_run_on_open_and_old_versions_still_read(tmp_path, monkeypatch):
    lake = Lake.open(tmp_path / "lake", create=True)
    _add(lake, "before")
    extra = pa.field("mood", pa.string())
    widened = pa.schema(list(tables.TRACKS) + [extra])
    monkeypatch.setattr(tables, "SCHEMA_VERSION", tables.SCHEMA_VERSION + 1)
    monkeypatch.setitem(tables.TABLES, "tracks", widened)
    monkeypatch.setitem(migrations.MIGRATIONS, tables.SCHEMA_VERSION,
                        lambda lk: migrations.add_columns(lk, "tracks", [extra]))

    migrated = Lake.open(lake.root)
    assert migrated.schema_version() == tables.SCHEMA_VERSION
    assert migrated.versions()[-1].kind == "migrate"
    assert "mood" in lance.dataset(migrated.uri("tracks")).schema.names
    con = connect(migrated, 2)  # from before the migration: widened with NULLs
    assert run(con, "SELECT title, mood FROM lake_tracks").to_pylist() == [{"title": "before", "mood": None}]


def test_theory_functions_are_sql_functions(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    row = run(connect(lake), "SELECT roman('G:7', 'C major') AS r, transpose('A:min', 2) AS t, "
                             "progression_patterns(['A:min', 'F:maj', 'C:maj', 'G:maj'], 'A minor') AS p").to_pylist()
    assert row == [{"r": "V7", "t": "B:min", "p": ["i-VI-III-VII"]}]
    with pytest.raises(LakeError, match="chord"):
        run(connect(lake), "SELECT roman('H:maj', 'C major')")
