"""The server's snapshot: a native DuckDB copy of the lake, refreshed incrementally or rebuilt,
consistent for readers during a refresh, and a locked-down gateway for untrusted SQL."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from songlake.schema import BatchWriter, Lake, QueryError, connect
from songlake.schema.optimize import optimize
from songlake.server import errors
from songlake.server.encoding import encode
from songlake.server.snapshot import Snapshot

_spec = importlib.util.spec_from_file_location(
    "_synthetic_lake", Path(__file__).resolve().parents[2] / "bench" / "_synthetic_lake.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

COLUMNS = "song_id, title, artist, bpm, key, primary_genre, genre_confidence, analysis_version, len(beats) AS beats"


@pytest.fixture
def lake(tmp_path) -> Lake:
    return synthetic.build(str(tmp_path / "lake"), 200)


@pytest.fixture
def snap(lake):
    snapshot = Snapshot(lake, memory_limit="1GB", threads=2)
    yield snapshot
    snapshot.stop()


def _songs_from_lance(lake: Lake) -> list[tuple]:
    """The songs view over the Lance tables: what the snapshot must equal."""
    return connect(lake).sql(f"SELECT {COLUMNS} FROM songs ORDER BY song_id").fetchall()


def _songs_from_snapshot(snap: Snapshot) -> list[tuple]:
    table = snap.read(f"SELECT {COLUMNS} FROM songs ORDER BY song_id")
    return [tuple(row.values()) for row in table.to_pylist()]


def _reanalyse(lake: Lake, song_id: str, bpm: float) -> int:
    """A newer analysis of one song, as a re-analysis commits it."""
    writer = BatchWriter(lake)
    writer.add("analysis", {"song_id": song_id, "analysis_version": 99, "bpm": bpm, "key": "B minor",
                            "analyzed_at": datetime.now(timezone.utc), "beats": [0.5, 1.0]})
    return writer.commit("analyze", f"re-analysed {song_id}")


# --- what it holds -----------------------------------------------------------------------------

def test_the_snapshot_holds_native_tables_and_songs_materialised(lake, snap):
    kinds = {r["table_name"]: r["table_type"]
             for r in snap.read("SELECT table_name, table_type FROM information_schema.tables "
                                "WHERE table_schema = 'main'").to_pylist()}
    assert kinds["songs"] == "BASE TABLE" and kinds["songs_view"] == "VIEW"
    for name in ("lake_tracks", "lake_analysis", "lake_embeddings", "lake_genres", "lake_commits"):
        assert kinds[name] == "BASE TABLE"
    assert "lake_originals" not in kinds and "lake_stems" not in kinds  # blobs stay in Lance
    assert kinds["stage_status"] == "VIEW" and kinds["lake_versions"] == "VIEW"
    assert snap.version == lake.version()
    assert snap.read("SELECT version FROM snapshot_version").column(0).to_pylist() == [lake.version()]
    assert _songs_from_snapshot(snap) == _songs_from_lance(lake)
    assert len(_songs_from_snapshot(snap)) == 200


def test_the_database_is_locked_down(snap):
    settings = {r["name"]: r["value"] for r in snap.read(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('enable_external_access', 'lock_configuration', 'memory_limit', 'threads')").to_pylist()}
    assert settings["enable_external_access"] == "false" and settings["lock_configuration"] == "true"
    assert settings["threads"] == "2" and settings["memory_limit"].startswith("953")  # 1GB
    with pytest.raises(QueryError, match="locked"):
        snap.read("SET enable_external_access = true")  # not even trusted code can undo it


# --- refreshing --------------------------------------------------------------------------------

def test_an_incremental_refresh_sees_new_songs_and_changed_analysis(lake, snap):
    first = snap.version
    changed = _songs_from_snapshot(snap)[7][0]
    synthetic.build(str(lake.root), 30, seed=1)  # 30 new songs, one commit
    _reanalyse(lake, changed, 222.0)
    assert snap.read("SELECT count(*) FROM songs").column(0)[0].as_py() == 200  # not before refresh
    assert snap.refresh() == lake.version() > first
    assert snap.last_refresh_kind == "incremental"
    assert snap.read("SELECT count(*) FROM songs").column(0)[0].as_py() == 230
    row = snap.read("SELECT bpm, key, analysis_version, beats FROM songs WHERE song_id = $1", [changed]).to_pylist()
    assert row == [{"bpm": 222.0, "key": "B minor", "analysis_version": 99, "beats": [0.5, 1.0]}]
    assert snap.read("SELECT count(*) FROM lake_analysis").column(0)[0].as_py() == 231
    assert _songs_from_snapshot(snap) == _songs_from_lance(lake)
    versions = snap.read("SELECT version, kind FROM lake_versions ORDER BY version").to_pylist()
    assert [v["version"] for v in versions] == list(range(1, lake.version() + 1))
    assert snap.refresh() == lake.version() and snap.last_refresh_kind == "incremental"  # nothing to do


def test_an_incremental_refresh_applies_human_labels(lake, snap):
    from songlake.schema.labels import write_labels

    song_id = _songs_from_snapshot(snap)[3][0]
    write_labels(lake, song_id, {"primary_genre": "jazz", "title": "Named by hand"}, author="tester")
    snap.refresh()
    assert snap.last_refresh_kind == "incremental"
    row = snap.read("SELECT primary_genre, genre_confidence, title, labeled_fields FROM songs WHERE song_id = $1",
                    [song_id]).to_pylist()[0]
    assert row == {"primary_genre": "jazz", "genre_confidence": 1.0, "title": "Named by hand",
                   "labeled_fields": ["primary_genre", "title"]}
    assert _songs_from_snapshot(snap) == _songs_from_lance(lake)


def test_a_refresh_after_optimize_rebuilds_from_the_compacted_tables(lake, snap):
    synthetic.build(str(lake.root), 20, seed=2)
    snap.refresh()
    _reanalyse(lake, _songs_from_snapshot(snap)[0][0], 150.0)
    report = optimize(lake, older_than=timedelta(0))
    assert report.version is not None
    snap.refresh()
    assert snap.last_refresh_kind == "rebuild" and snap.version == lake.version()
    assert _songs_from_snapshot(snap) == _songs_from_lance(lake)
    synthetic.build(str(lake.root), 5, seed=3)  # after the rebuild, increments work again
    snap.refresh()
    assert snap.last_refresh_kind == "incremental"
    assert _songs_from_snapshot(snap) == _songs_from_lance(lake)
    assert len(_songs_from_snapshot(snap)) == 225


def test_readers_during_refreshes_see_one_version_whole(lake, snap):
    """Readers run while commits, incremental refreshes and a rebuild happen: every answer has
    songs, tracks, analysis and embeddings counts equal to the count of the version it reports."""
    expected = {snap.version: 200}
    query = ("SELECT (SELECT version FROM snapshot_version) AS v, (SELECT count(*) FROM songs) AS songs, "
             "(SELECT count(*) FROM lake_tracks) AS tracks, (SELECT count(*) FROM lake_analysis) AS analysis, "
             "(SELECT count(*) FROM lake_embeddings) AS embeddings")
    seen: list[dict] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def read(user: bool) -> None:
        try:
            while not done.is_set():
                if user:
                    seen.append(snap.run_user_sql(query, max_rows=1, timeout=10).table.to_pylist()[0])
                else:
                    seen.append(snap.read(query).to_pylist()[0])
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)

    readers = [threading.Thread(target=read, args=(i % 2 == 0,)) for i in range(3)]
    for reader in readers:
        reader.start()
    try:
        count = 200
        for seed in range(1, 5):
            synthetic.build(str(lake.root), 40, seed=seed)
            count += 40
            expected[lake.version()] = count
            snap.refresh()
            if seed == 2:
                optimize(lake, older_than=timedelta(0))
                expected[lake.version()] = count
                snap.refresh()
                assert snap.last_refresh_kind == "rebuild"
            time.sleep(0.05)
    finally:
        done.set()
        for reader in readers:
            reader.join(30)
    assert not failures, failures
    assert len({row["v"] for row in seen}) >= 3, "the readers should have seen several versions"
    for row in seen:
        n = expected[row["v"]]
        assert (row["songs"], row["tracks"], row["analysis"], row["embeddings"]) == (n, n, n, n), row


def test_the_background_refresher_follows_the_lake(lake, snap):
    snap.start(0.1)
    synthetic.build(str(lake.root), 10, seed=5)
    deadline = time.time() + 20
    while snap.version != lake.version() and time.time() < deadline:
        time.sleep(0.05)
    assert snap.version == lake.version()
    assert snap.read("SELECT count(*) FROM songs").column(0)[0].as_py() == 210
    snap.stop()
    assert not snap.watching
    synthetic.build(str(lake.root), 1, seed=6)
    time.sleep(0.5)
    assert snap.version != lake.version()  # stopped means stopped


# --- untrusted SQL -----------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    "COPY songs TO '/tmp/songlake-escape.csv'",
    "COPY (SELECT 1) TO '/tmp/songlake-escape.csv'",
    "ATTACH '/tmp/songlake-escape.db' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET threads = 1",
    "RESET memory_limit",
    "PRAGMA threads = 1",
    "PRAGMA enable_profiling",
    "SELECT 1; SELECT 2",
    "SELECT 1; DROP TABLE songs",
    "DROP TABLE songs",
    "DELETE FROM songs",
    "CREATE TABLE mine AS SELECT 1",
    "WITH gone AS (DELETE FROM songs RETURNING song_id) SELECT count(*) FROM gone",
    "WITH added AS (INSERT INTO lake_commits (kind) VALUES ('x') RETURNING kind) SELECT * FROM added",
    "EXPLAIN ANALYZE DELETE FROM songs",
    "CALL pragma_version()",
    "CHECKPOINT",
])
def test_no_statement_escapes_the_sandbox(snap, sql):
    with pytest.raises(errors.Forbidden) as caught:
        snap.run_user_sql(sql, max_rows=10, timeout=5)
    assert "/etc" not in str(caught.value) and "/tmp" not in str(caught.value)
    assert str(snap.lake.root) not in str(caught.value)
    assert snap.read("SELECT count(*) FROM songs").column(0)[0].as_py() == 200
    assert not Path("/tmp/songlake-escape.csv").exists() and not Path("/tmp/songlake-escape.db").exists()


def test_forbidden_messages_say_what_is_allowed(snap):
    with pytest.raises(errors.Forbidden, match="only one read-only SELECT statement is allowed, not COPY"):
        snap.run_user_sql("COPY songs TO 'x.csv'", max_rows=10, timeout=5)
    with pytest.raises(errors.Forbidden, match="not 2 statements"):
        snap.run_user_sql("SELECT 1; SELECT 2", max_rows=10, timeout=5)
    with pytest.raises(errors.Forbidden, match="tries to write"):
        snap.run_user_sql("WITH d AS (DELETE FROM songs RETURNING *) SELECT * FROM d", max_rows=10, timeout=5)
    with pytest.raises(errors.Forbidden, match="disabled by configuration") as caught:
        snap.run_user_sql("SELECT * FROM read_csv('/etc/passwd')", max_rows=10, timeout=5)
    assert "passwd" not in str(caught.value)


def test_a_query_smuggled_through_query_is_refused(snap):
    with pytest.raises(errors.ServerError):  # DuckDB's query() takes one SELECT only
        snap.run_user_sql("SELECT * FROM query('DROP TABLE songs')", max_rows=10, timeout=5)
    assert snap.read("SELECT count(*) FROM songs").column(0)[0].as_py() == 200


@pytest.mark.parametrize("sql", [
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    "SELECT count(*) FROM range(1000000000000) a",
    "SELECT max(a.song_id || b.song_id || c.song_id || d.song_id) FROM songs a, songs b, songs c, songs d",
])
def test_a_query_that_never_ends_is_stopped_at_the_time_limit(snap, sql):
    started = time.perf_counter()
    with pytest.raises(errors.QueryTimeout, match="longer than 1 s"):
        snap.run_user_sql(sql, max_rows=10, timeout=1.0)
    assert time.perf_counter() - started < 2.0
    assert snap.run_user_sql("SELECT count(*) AS n FROM songs", max_rows=1, timeout=1).table.to_pylist() == [{"n": 200}]


def test_results_are_capped_at_max_rows(snap):
    capped = snap.run_user_sql("SELECT song_id FROM songs ORDER BY song_id", max_rows=10, timeout=5)
    assert capped.table.num_rows == 10 and capped.truncated
    assert capped.table.column(0).to_pylist() == sorted(r[0] for r in _songs_from_snapshot(snap))[:10]
    whole = snap.run_user_sql("SELECT song_id FROM songs", max_rows=200, timeout=5)
    assert whole.table.num_rows == 200 and not whole.truncated
    assert whole.version == snap.version and whole.seconds > 0
    huge = snap.run_user_sql("SELECT * FROM range(1000000000000)", max_rows=5, timeout=5)  # streams, stops early
    assert huge.table.num_rows == 5 and huge.truncated


def test_sql_errors_are_bad_requests_that_name_the_cause(snap):
    with pytest.raises(errors.BadRequest, match="no_such_table") as caught:
        snap.run_user_sql("SELECT * FROM no_such_table", max_rows=10, timeout=5)
    assert not isinstance(caught.value, (errors.QueryTimeout, errors.Forbidden))
    with pytest.raises(errors.BadRequest, match="syntax error"):
        snap.run_user_sql("SELEKT 1", max_rows=10, timeout=5)
    with pytest.raises(errors.BadRequest, match="empty"):
        snap.run_user_sql("  -- nothing\n", max_rows=10, timeout=5)


def test_explain_of_a_select_is_allowed(snap):
    result = snap.run_user_sql("EXPLAIN SELECT count(*) FROM songs", max_rows=10, timeout=5)
    assert result.table.num_rows >= 1


def test_a_query_at_an_older_version_reads_the_lake_as_it_was(lake, snap):
    old = snap.version
    lake.tag("before", old)
    synthetic.build(str(lake.root), 25, seed=7)
    snap.refresh()
    for version in (old, "before"):
        result = snap.run_user_sql("SELECT count(*) AS n FROM songs", max_rows=10, timeout=5, version=version)
        assert result.table.to_pylist() == [{"n": 200}] and result.version == old
    now = snap.run_user_sql("SELECT count(*) AS n FROM songs", max_rows=10, timeout=5, version=snap.version)
    assert now.table.to_pylist() == [{"n": 225}]
    with pytest.raises(errors.Forbidden):  # the old version's connection is locked down too
        snap.run_user_sql("SELECT * FROM read_csv('/etc/passwd')", max_rows=10, timeout=5, version=old)
    with pytest.raises(errors.QueryTimeout):
        snap.run_user_sql("SELECT count(*) FROM range(1000000000000)", max_rows=10, timeout=0.5, version=old)
    with pytest.raises(errors.NotFound, match="no version 999"):
        snap.run_user_sql("SELECT 1", max_rows=10, timeout=5, version=999)


def test_answers_are_cut_at_the_byte_cap_too(snap):
    wide = "SELECT i, repeat('x', 10000) AS s FROM range(1000) t(i)"  # ~10 MB of rows
    cut = snap.run_user_sql(wide, max_rows=1000, timeout=5, max_bytes=1 << 20)
    assert cut.truncated and 0 < cut.table.num_rows < 1000 and cut.table.nbytes <= 1 << 20
    assert cut.table.column("i").to_pylist() == list(range(cut.table.num_rows))  # the first rows, in order
    whole = snap.run_user_sql(wide, max_rows=1000, timeout=5, max_bytes=64 << 20)
    assert not whole.truncated and whole.table.num_rows == 1000
    with pytest.raises(errors.PayloadTooLarge, match="first row"):
        snap.run_user_sql("SELECT repeat('x', 2000000) AS s", max_rows=10, timeout=5, max_bytes=1 << 20)


def test_the_time_limit_holds_while_rows_stream(snap):
    started = time.perf_counter()  # rows come, slowly: DuckDB's interrupt reaches the Arrow stream
    with pytest.raises(errors.QueryTimeout, match="longer than 1 s"):
        snap.run_user_sql("SELECT i FROM range(100000000000) t(i) WHERE i % 1000000007 = 0", max_rows=1000, timeout=1)
    assert time.perf_counter() - started < 3


@pytest.mark.parametrize("version", [[1], {"v": 1}, 1.5, True, "", "t" * 201])
def test_a_version_that_is_not_a_number_or_a_tag_is_refused(snap, version):
    with pytest.raises(errors.BadRequest, match="version is a lake version number"):
        snap.run_user_sql("SELECT 1", max_rows=1, timeout=5, version=version)


def test_the_temp_folder_and_the_settings_name_no_folder(snap, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # DuckDB's default temp folder is .tmp under the working folder
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "x").write_text("secret")
    fresh = Snapshot(snap.lake, memory_limit="1GB", threads=2)
    try:
        with pytest.raises(errors.Forbidden):
            fresh.run_user_sql("SELECT * FROM read_text('.tmp/x')", max_rows=10, timeout=5)
        settings = fresh.run_user_sql("SELECT name, value FROM duckdb_settings()", max_rows=1000, timeout=5)
        assert not [row for row in settings.table.to_pylist()  # a folder anywhere: '/x', '[/x/]'
                    if str(tmp_path) in (row["value"] or "") or re.search(r"(^|[\[ ,])/", row["value"] or "")]
    finally:
        fresh.stop()


def test_file_paths_never_reach_the_copy(lake, snap):
    private = "/srv/music-server/lake/uploads/0a1b2c"
    writer = BatchWriter(lake)
    writer.add("ingest_errors", {"filename": "bad.mp3", "path": f"{private}/bad.mp3", "file_sha256": None,
                                 "reason": f"cannot decode '{private}/bad.mp3': invalid data",
                                 "refused_at": datetime.now(timezone.utc)})
    song = snap.read("SELECT song_id FROM songs LIMIT 1").column(0)[0].as_py()
    writer.add("stage_runs", {"song_id": song, "stage": "analyze", "status": "failed",
                              "reason": f"OSError: {private}/bad.mp3 vanished", "finished_at": datetime.now(timezone.utc)})
    writer.commit("ingest", f"ingest: gave up on {private}/bad.mp3")
    snap.refresh()
    queries = ["SELECT * FROM ingest_errors", "SELECT * FROM lake_ingest_errors", "SELECT * FROM lake_stage_runs",
               "SELECT * FROM lake_commits", "SELECT path FROM lake_tracks", "SELECT * FROM lake_versions"]
    for version in (None, snap.version - 1, snap.version):
        for query in queries:
            try:
                shown = snap.run_user_sql(query, max_rows=10_000, timeout=10, version=version).table.to_pylist()
            except errors.BadRequest:  # the table did not exist at that version
                continue
            assert "/srv" not in str(shown), (version, query)
    errors_now = snap.run_user_sql("SELECT filename, reason, path FROM ingest_errors", max_rows=10, timeout=5)
    assert errors_now.table.to_pylist() == [{"filename": "bad.mp3", "reason": "cannot decode 'bad.mp3': invalid data",
                                              "path": None}]


# --- encoding ----------------------------------------------------------------------------------

ODD = ("SELECT 1 AS i, 'a,b\"c' AS s, 'nan'::DOUBLE AS x, [1.5, 'inf'::DOUBLE, NULL] AS l, {'k': 2} AS st, "
       "TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' AS t, DATE '2024-01-02' AS d, NULL AS z, true AS b, "
       "2.50::DECIMAL(5, 2) AS m, 'ab'::BLOB AS blob")


def test_json_encoding_is_json_safe(snap):
    body = json.loads(encode(snap.run_user_sql(ODD, max_rows=10, timeout=5), "json").body)
    assert body["columns"] == ["i", "s", "x", "l", "st", "t", "d", "z", "b", "m", "blob"]
    assert body["rows"] == [[1, 'a,b"c', None, [1.5, None, None], {"k": 2}, "2024-01-02T03:04:05.123456+00:00",
                             "2024-01-02", None, True, 2.5, "YWI="]]
    assert body["row_count"] == 1 and body["truncated"] is False and body["version"] == snap.version
    json.dumps(body, allow_nan=False)  # strict JSON: no NaN, no datetime objects
    songs = json.loads(encode(snap.run_user_sql("SELECT * FROM songs", max_rows=20, timeout=5), "json").body)
    json.dumps(songs, allow_nan=False)
    assert songs["truncated"] is True and len(songs["rows"]) == 20
    assert isinstance(songs["rows"][0][songs["columns"].index("chords")][0], dict)


def test_csv_encoding_puts_nested_values_as_json_text(snap):
    body = encode(snap.run_user_sql(ODD, max_rows=10, timeout=5), "csv").body
    header, row = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert header[:4] == ["i", "s", "x", "l"]
    assert row[:9] == ["1", 'a,b"c', "", "[1.5,null,null]", '{"k":2}', "2024-01-02T03:04:05.123456+00:00",
                       "2024-01-02", "", "true"]


def test_arrow_encoding_round_trips(snap):
    result = snap.run_user_sql("SELECT song_id, bpm, beats, chords FROM songs ORDER BY song_id", max_rows=50, timeout=5)
    reader = pa.ipc.open_stream(encode(result, "arrow").body)
    table = reader.read_all()
    assert table.equals(result.table)
    assert table.schema.metadata[b"songlake.truncated"] == b"true"
    assert table.schema.metadata[b"songlake.version"] == str(snap.version).encode()
    with pytest.raises(errors.BadRequest, match="json, csv, arrow"):
        encode(result, "xml")


def test_encoded_answers_stay_under_the_byte_cap(snap):
    result = snap.run_user_sql("SELECT i, repeat('y', 1000) AS s FROM range(5000) t(i)", max_rows=5000, timeout=5)
    for fmt in ("json", "csv"):
        encoded = encode(result, fmt, max_bytes=100_000)
        assert len(encoded.body) <= 100_000 and encoded.truncated and 0 < encoded.rows < 5000
    body = json.loads(encode(result, "json", max_bytes=100_000).body)
    assert body["truncated"] is True and body["row_count"] == len(body["rows"])
    assert [row[0] for row in body["rows"]] == list(range(body["row_count"]))
    assert len(encode(result, "json").body) > 5_000_000  # no cap asked for: all rows


def test_encoding_past_the_deadline_is_a_timeout(snap):
    from dataclasses import replace

    result = snap.run_user_sql("SELECT * FROM range(5000)", max_rows=5000, timeout=5)
    late = replace(result, deadline=time.monotonic() - 1)
    for fmt in ("json", "csv", "arrow"):
        with pytest.raises(errors.QueryTimeout):
            encode(late, fmt)


# --- similarity --------------------------------------------------------------------------------

def test_similar_songs_are_the_nearest_by_cosine(snap):
    embeddings = snap.read("SELECT song_id, embedding FROM lake_embeddings ORDER BY song_id")
    ids = embeddings.column("song_id").to_pylist()
    vectors = np.array(embeddings.column("embedding").to_pylist(), dtype=np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    query = 17
    scores = unit @ unit[query]
    order = [i for i in np.argsort(-scores) if i != query][:5]
    found = snap.similar(ids[query], 5)
    assert [f["song_id"] for f in found] == [ids[i] for i in order]
    np.testing.assert_allclose([f["similarity"] for f in found], scores[order], atol=1e-4)
    titles = {r["song_id"]: r["title"] for r in snap.read("SELECT song_id, title FROM songs").to_pylist()}
    assert all(f["title"] == titles[f["song_id"]] and f["artist"] for f in found)
    nearest = snap.similar_to_vector(vectors[query], 3)
    assert nearest[0]["song_id"] == ids[query] and nearest[0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert ids[query] not in [f["song_id"] for f in snap.similar_to_vector(vectors[query], 3, exclude=(ids[query],))]


def test_similarity_follows_refreshes_and_refuses_bad_input(lake, snap):
    synthetic.build(str(lake.root), 10, seed=8)
    snap.refresh()
    new = snap.read("SELECT song_id, embedding FROM songs ORDER BY ingested_at DESC, song_id LIMIT 1").to_pylist()[0]
    assert snap.similar_to_vector(np.array(new["embedding"]), 1)[0]["song_id"] == new["song_id"]
    assert len(snap.similar(new["song_id"], 4)) == 4
    with pytest.raises(errors.NotFound, match="no song nope"):
        snap.similar("nope", 3)
    with pytest.raises(errors.BadRequest, match="64 finite numbers"):
        snap.similar_to_vector(np.zeros(3), 3)
    with pytest.raises(errors.BadRequest, match="not all zero"):
        snap.similar_to_vector(np.zeros(64), 3)
    with pytest.raises(errors.BadRequest, match="1 to 1000"):
        snap.similar(new["song_id"], 0)
