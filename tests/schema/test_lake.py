import json
from datetime import datetime, timedelta, timezone

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


# --- schema 3: migrations from older lakes ---------------------------------------------------

def _legacy_row(kind: str, schema_version: int, versions: dict) -> pa.Table:
    """A row of the catalog as songlake wrote it before schema 6 (``commits``: its Lance version was
    the lake version, and rows could list only the tables a commit changed)."""
    return pa.Table.from_pylist([{"committed_at": datetime.now(timezone.utc), "kind": kind, "message": kind,
                                  "schema_version": schema_version, "table_versions": json.dumps(versions),
                                  "counts": "{}"}], schema=tables.COMMITS)


def _old_lake(root, schema_version: int) -> Lake:
    """A lake as songlake wrote it at schema 1 or 2, with one analysed song: the tables and
    analysis columns of that schema, and a catalog (in the format before schema 6) that says so."""
    analysis = pa.schema(tables.ANALYSIS_V1 + (tables.ANALYSIS_V2_COLUMNS if schema_version >= 2 else []))
    old = {"tracks": tables.TRACKS, "originals": tables.ORIGINALS, "analysis": analysis,
           "embeddings": tables.EMBEDDINGS, "ingest_errors": tables.INGEST_ERRORS}
    if schema_version >= 2:
        old["genres"] = tables.GENRES
    lake = Lake(root)
    lake.tables_dir.mkdir(parents=True)
    versions = {name: lance.write_dataset(schema.empty_table(), lake.uri(name), schema=schema).version
                for name, schema in old.items()}
    lance.write_dataset(_legacy_row("init", schema_version, versions), lake.uri("commits"), schema=tables.COMMITS)
    rows = {"tracks": _track("olds", "old song"),
            "analysis": {"song_id": "olds", "analysis_version": schema_version, "bpm": 120.0, "key": "C major"}}
    for name, row in rows.items():
        versions[name] = lance.write_dataset(pa.Table.from_pylist([row], schema=old[name]), lake.uri(name),
                                             mode="append").version
    changed = {name: versions[name] for name in rows}  # old rows listed only what changed
    lance.write_dataset(_legacy_row("ingest", schema_version, changed), lake.uri("commits"), mode="append")
    return lake


@pytest.mark.parametrize("schema_version", [1, 2])
def test_lakes_of_older_schemas_migrate_to_the_current_schema(tmp_path, schema_version):
    old = _old_lake(tmp_path / "lake", schema_version)
    before = 2  # the legacy catalog's two versions keep their numbers
    lake = Lake.open(old.root)
    assert lake.schema_version() == tables.SCHEMA_VERSION == 12
    assert [v.kind for v in lake.versions()] == ["init", "ingest"] + ["migrate"] * (12 - schema_version)
    assert [v.version for v in lake.versions()] == list(range(1, 15 - schema_version))
    assert not (lake.tables_dir / "commits.lance").exists()
    for name in ("stems", "separations", "stage_runs", "genres", "labels", "splits", "generations", "adherence"):
        assert name in lake.state().table_versions and lance.dataset(lake.uri(name)).schema.names == tables.TABLES[name].names
    assert "used_stems" in lance.dataset(lake.uri("analysis")).schema.names
    query = "SELECT title, bpm, stems_status, stem_stats, is_instrumental FROM songs"
    expected = [{"title": "old song", "bpm": 120.0, "stems_status": "pending", "stem_stats": None, "is_instrumental": None}]
    assert run(connect(lake), query).to_pylist() == expected
    assert run(connect(lake, before), query).to_pylist() == expected  # from before the migration
    assert run(connect(lake), "SELECT used_stems FROM lake_analysis").to_pylist() == [{"used_stems": None}]
    # the new tables take rows at once
    writer = BatchWriter(lake)
    writer.add("analysis", {"song_id": "olds", "analysis_version": 9, "bpm": 121.0, "used_stems": True})
    writer.add("separations", {"song_id": "olds", "model": "htdemucs", "status": "done", "is_instrumental": True,
                               "separated_at": datetime.now(timezone.utc)})
    writer.commit("test", "separated")
    assert run(connect(lake), "SELECT bpm, stems_status, is_instrumental FROM songs").to_pylist() == \
        [{"bpm": 121.0, "stems_status": "done", "is_instrumental": True}]


# --- schema 3: the songs view's stems columns and the stage_status view ---------------------

CONTRACT = [  # ARCHITECTURE.md's public columns, in their order, with songlake's additions
    "song_id", "file_sha256", "filename", "format", "bitrate_kbps", "sample_rate", "channels", "duration",
    "title", "artist", "album", "year", "genre_tag", "track", "license", "source",
    "bpm", "tempo_confidence", "beats", "beat_confidence", "downbeats", "time_signature", "syncopation_index", "rhythmic_complexity", "strong_beats",
    "weak_beats",
    "key", "key_confidence", "chords", "roman_numerals", "functional_harmony", "common_patterns", "cadences",
    "progression_complexity",
    "sections",
    "primary_genre", "genre_confidence", "predicted_genres", "genre_tag_suspicious",
    "loudness_lufs", "peak_dbfs", "clipping_ratio", "silence_ratio", "bandwidth_hz", "suspected_transcode",
    "quality_flags",
    "stems_status", "stem_stats", "is_instrumental",
    "embedding",
    "duplicate_group", "is_preferred_copy", "duplicate_choice",
    "analysis_version", "analysis_failures", "analysis_reasons", "ingested_at",
    "labeled_fields", "labeled_at",
]


def test_the_songs_view_has_the_contract_columns_in_order(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    assert run(connect(lake), "SELECT * FROM songs").schema.names == CONTRACT


def _separation(song_id: str, status: str, minutes: int, **extra) -> dict:
    at = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=minutes)
    return {"song_id": song_id, "model": "htdemucs", "status": status, "separated_at": at} | extra


def test_stems_status_is_the_newest_separation_and_stats_come_from_the_newest_done_one(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    stats = [{"stem": s, "loudness_lufs": -20.0, "peak_dbfs": -3.0, "rms_dbfs": -22.0, "active_ratio": 0.5}
             for s in ("vocals", "drums", "bass", "other")]
    writer = BatchWriter(lake)
    for song_id in ("pend", "unav", "done", "fail"):
        writer.add("tracks", _track(song_id, song_id))
    writer.add("separations", _separation("unav", "unavailable", 1, message="no weights: set SONGLAKE_MODEL_DIR"))
    writer.add("separations", _separation("done", "failed", 1, message="out of memory"))
    writer.add("separations", _separation("done", "done", 2, stem_stats=stats, is_instrumental=True))
    writer.add("separations", _separation("fail", "done", 1, stem_stats=stats, is_instrumental=False))
    writer.add("separations", _separation("fail", "failed", 2, message="forced again, crashed"))
    writer.commit("test", "separations")
    rows = run(connect(lake), "SELECT song_id, stems_status, is_instrumental, len(stem_stats) AS stems "
                              "FROM songs ORDER BY song_id").to_pylist()
    assert rows == [
        {"song_id": "done", "stems_status": "done", "is_instrumental": True, "stems": 4},
        {"song_id": "fail", "stems_status": "failed", "is_instrumental": False, "stems": 4},
        {"song_id": "pend", "stems_status": "pending", "is_instrumental": None, "stems": None},
        {"song_id": "unav", "stems_status": "unavailable", "is_instrumental": None, "stems": None},
    ]
    assert run(connect(lake), "SELECT stem_stats[1] AS s FROM songs WHERE song_id = 'done'").to_pylist() == [{"s": stats[0]}]


def test_stage_status_is_the_newest_run_per_song_and_stage(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def stage_run(song_id, stage, status, minutes, reason=None):
        return {"song_id": song_id, "stage": stage, "status": status, "reason": reason, "stage_version": "v1",
                "worker": "w1", "attempts": 1, "seconds": 1.0, "finished_at": t0 + timedelta(minutes=minutes)}

    writer = BatchWriter(lake)
    writer.add("stage_runs", stage_run("s1", "separate", "failed", 1, "CUDA out of memory"))
    writer.add("stage_runs", stage_run("s1", "separate", "done", 2))
    writer.add("stage_runs", stage_run("s1", "analyze", "failed", 3, "ValueError: silence"))
    writer.add("stage_runs", stage_run("s2", "separate", "unavailable", 1, "no weights"))
    writer.commit("test", "runs")
    rows = run(connect(lake), "SELECT song_id, stage, status, reason FROM stage_status").to_pylist()
    assert rows == [
        {"song_id": "s1", "stage": "analyze", "status": "failed", "reason": "ValueError: silence"},
        {"song_id": "s1", "stage": "separate", "status": "done", "reason": None},
        {"song_id": "s2", "stage": "separate", "status": "unavailable", "reason": "no weights"},
    ]
    assert run(connect(lake), "SELECT * FROM stage_status").schema.names == [
        "song_id", "stage", "status", "reason", "stage_version", "worker", "attempts", "finished_at"]


def test_stem_bytes_stay_out_of_sql(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    with pytest.raises(LakeError, match="lake_stems"):
        run(connect(lake), "SELECT * FROM lake_stems")


# --- schema 7: tempo and beat confidences, failures by name ------------------------------------

def test_a_schema_6_lake_migrates_and_its_failures_read_by_name(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:  # songlake as it was at schema 6: no confidences
        patch.setattr(tables, "SCHEMA_VERSION", 6)
        patch.setitem(tables.TABLES, "analysis",
                      pa.schema(tables.ANALYSIS_V1 + tables.ANALYSIS_V2_COLUMNS + tables.ANALYSIS_V3_COLUMNS))
        old = Lake.open(tmp_path / "lake", create=True)
        writer = BatchWriter(old)
        writer.add("tracks", _track("olds", "old song"))
        writer.add("analysis", {"song_id": "olds", "analysis_version": 2, "key": "C major",
                                "failed_stages": ["beats: ValueError: no pulse", "theory: needs beats"]})
        writer.commit("ingest", "one song")
    before = old.version()
    lake = Lake.open(old.root)
    assert lake.schema_version() == tables.SCHEMA_VERSION == 12
    # 6 -> 7, 7 -> 8 (fingerprints), 8 -> 9, 9 -> 10 (generations), 10 -> 11 (votes), 11 -> 12 (copies)
    assert [v.kind for v in lake.versions()][before:] == ["migrate"] * 6
    query = ("SELECT key, tempo_confidence, beat_confidence, analysis_failures, analysis_reasons FROM songs "
             "WHERE 'beats' IN analysis_failures")
    expected = [{"key": "C major", "tempo_confidence": None, "beat_confidence": None,
                 "analysis_failures": ["beats", "theory"],
                 "analysis_reasons": [{"stage": "beats", "reason": "ValueError: no pulse"},
                                      {"stage": "theory", "reason": "needs beats"}]}]
    assert run(connect(lake), query).to_pylist() == expected
    assert run(connect(lake, before), query).to_pylist() == expected  # from before the migration
    writer = BatchWriter(lake)  # the new columns take values at once
    writer.add("analysis", {"song_id": "olds", "analysis_version": 3, "key": "C major", "tempo_confidence": 0.25,
                            "beat_confidence": 0.5, "failed_stages": None})
    writer.commit("analyze", "re-analysed")
    assert run(connect(lake), "SELECT tempo_confidence, beat_confidence, analysis_failures FROM songs").to_pylist() == \
        [{"tempo_confidence": 0.25, "beat_confidence": 0.5, "analysis_failures": None}]
    assert run(connect(lake), "SELECT count(*) AS n FROM songs WHERE 'beats' IN analysis_failures").to_pylist() == \
        [{"n": 0}]
