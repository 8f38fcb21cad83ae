"""The server's read side: a native in-memory DuckDB copy of the lake, kept current.

Why a copy: DuckDB over the Lance datasets (schema.query.connect) re-reads Lance on every query
and recomputes the ``songs`` view's window functions and joins each time: on 100,000 songs a
slice takes ~140 ms and a point lookup 40-70 ms. Here every non-blob table is copied into
native DuckDB tables (``lake_<table>``, plus ``lake_commits``) and ``songs`` is materialised
once (``songs_view`` is the view it comes from), all indexed on song_id, so the same queries
take a few milliseconds. The blob tables (original files, stems) stay in Lance; schema.stems and
server.media read them by song_id.

Freshness: ``refresh()`` moves the copy to the lake's latest version. Lake commits only append
fragments, so when every table only gained fragments since the held version, the new fragments'
rows are appended and the songs they touch are recomputed (``DELETE`` them from ``songs``,
``INSERT`` them from the songs view over just those songs, see _changed_songs_view) in ONE
transaction that also bumps ``snapshot_version``: DuckDB's MVCC lets readers see the old version
or the new one, never half. 100 new songs on 100,000 take ~0.1 s. When a table lost or rewrote fragments
(``optimize`` compacted it, a migration added columns), a whole new database is built aside and
swapped in by one reference assignment: queries already running finish on the old one. A
daemon thread (``start``) calls refresh when the lake version moves.

Untrusted SQL (``run_user_sql``) is the one gateway for POST /sql: exactly one SELECT, run in a
READ ONLY transaction (DuckDB 2 has data-modifying CTEs: ``WITH d AS (DELETE ...) SELECT`` is a
SELECT), on a database whose file access, extension loading and settings are locked, stopped by
``cursor.interrupt()`` after the time limit, capped at max_rows.

Memory: the copy holds the analysis lists (beats, chords, sections) twice (lake_analysis and
songs): ~2.2 GB of DuckDB memory for 100,000 songs, and a full rebuild briefly needs twice that
(two databases, each within its own ``memory_limit``).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, time as clock, timedelta
from decimal import Decimal

import duckdb
import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from songlake import sql as sql_files
from songlake.schema import tables
from songlake.schema.errors import LakeError
from songlake.schema.lake import Lake, LakeVersion
from songlake.schema.query import connect, register_functions
from songlake.server import errors

log = logging.getLogger(__name__)

TABLES = {name: schema for name, schema in tables.TABLES.items() if name not in tables.BLOB_TABLES}
SONG_TABLES = tuple(name for name, schema in TABLES.items() if "song_id" in schema.names)
FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8",
           "arrow": "application/vnd.apache.arrow.stream"}  # encode() formats and their media types
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(K|M|G|T)i?B$", re.IGNORECASE)
_SONGS_VIEW = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+songs\b", re.IGNORECASE)


@dataclass(frozen=True)
class UserResult:
    """What a user query returned: at most max_rows rows, whether more were cut, at which lake version."""

    table: pa.Table
    truncated: bool
    seconds: float
    version: int


@dataclass(frozen=True)
class _Held:
    """One lake table as the copy holds it: its Lance version, schema and fragments (id -> rows, deleted?)."""

    version: int | None
    schema: pa.Schema | None
    fragments: dict[int, tuple[int, bool]]


def lock_down(con: duckdb.DuckDBPyConnection, memory_limit: str = "4GB", threads: int | None = None) -> None:
    """No files, no network, no extensions, fixed memory and threads; then freeze the settings so
    no statement can undo it. Python-registered Arrow data and native tables still work."""
    if not _MEMORY.match(memory_limit):
        raise ValueError(f"memory_limit is a size like '4GB' or '512MiB', not {memory_limit!r}")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET enable_progress_bar = false")  # a server's stderr is a log, not a terminal
    con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET lock_configuration = true")


class Snapshot:
    """The lake copy the server answers reads from. Thread-safe: readers take a fresh cursor per
    query; one refresher writes. ``version`` is the lake version held."""

    def __init__(self, lake: Lake, *, memory_limit: str = "4GB", threads: int | None = None):
        self.lake = lake
        self.memory_limit, self.threads = memory_limit, threads
        self.last_refresh_seconds = 0.0
        self.last_refresh_kind = "build"  # then "incremental" or "rebuild": what the last refresh did
        self.last_error: str | None = None
        self._refresh_lock = threading.Lock()
        self._cursor_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        started = time.perf_counter()
        self._install(*self._build(lake.state()))
        self.last_refresh_seconds = time.perf_counter() - started

    # --- building and refreshing ------------------------------------------------------------

    def _build(self, state: LakeVersion) -> tuple[duckdb.DuckDBPyConnection, dict[str, _Held], int]:
        """A new locked-down database holding the lake at `state`, songs materialised."""
        db = duckdb.connect(":memory:")
        lock_down(db, self.memory_limit, self.threads)
        register_functions(db)
        held = {}
        for name, schema in TABLES.items():
            ds = self.lake.table_at(name, state) if name in state.table_versions else None
            db.register("_source", _rows(ds, schema) if ds is not None else schema.empty_table())
            db.execute(f'CREATE TABLE "lake_{name}" AS SELECT * FROM _source')
            db.unregister("_source")
            held[name] = _held(ds)
        db.register("_source", self.lake.catalog.dataset().to_table(filter=f"version <= {int(state.version)}"))
        db.execute("CREATE TABLE lake_commits AS SELECT * FROM _source")
        db.unregister("_source")
        db.execute("CREATE TABLE snapshot_version AS SELECT $1::BIGINT AS version", [state.version])
        for view in sql_files.VIEWS:
            db.execute(sql_files.text(view))
            if view == "songs":  # later views (and users) read the materialised table
                db.execute("ALTER VIEW songs RENAME TO songs_view")
                db.execute("CREATE TABLE songs AS SELECT * FROM songs_view")
                db.execute("CREATE INDEX songs_song_id ON songs (song_id)")
        for name in SONG_TABLES:  # point lookups, and the refresh's reads of changed songs
            db.execute(f'CREATE INDEX "lake_{name}_song_id" ON "lake_{name}" (song_id)')
        _changed_songs_view(db)
        return db, held, state.version

    def _install(self, db: duckdb.DuckDBPyConnection, held: dict[str, _Held], version: int) -> None:
        vectors = self._vectors_at(held["embeddings"].version)
        self._db, self._held, self._vectors, self.version = db, held, vectors, version

    def refresh(self) -> int:
        """Bring the copy to the lake's latest version (incremental when it can); returns it."""
        with self._refresh_lock:
            started = time.perf_counter()
            try:
                state = self.lake.state()
                if state.version != self.version:
                    plan = self._plan(state)
                    if plan is None:
                        log.info("snapshot: rebuilding for lake version %d", state.version)
                        self._install(*self._build(state))
                        self.last_refresh_kind = "rebuild"
                    else:
                        self._append(state, plan)
                        self.last_refresh_kind = "incremental"
                self.last_error = None
            finally:
                self.last_refresh_seconds = time.perf_counter() - started
            return self.version

    def _plan(self, state: LakeVersion) -> dict[str, tuple[lance.LanceDataset, list, _Held]] | None:
        """Per changed table: its dataset, the fragments it gained, what will be held after.
        None when some table did more than gain fragments: then only a rebuild is right."""
        plan = {}
        for name in TABLES:
            old = self._held[name]
            number = state.table_versions.get(name)
            if number == old.version:
                continue
            if number is None or (old.version is not None and number < old.version):
                return None
            ds = self.lake.table_at(name, state)
            now = _held(ds)
            if old.schema is not None and not ds.schema.equals(old.schema):
                return None
            if any(now.fragments.get(fid) != sig for fid, sig in old.fragments.items()):
                return None
            plan[name] = (ds, [f for f in ds.get_fragments() if f.fragment_id not in old.fragments], now)
        return plan

    def _append(self, state: LakeVersion, plan: dict) -> None:
        """Append the new fragments' rows and recompute the songs they touch, in one transaction."""
        db = self._db
        cur = db.cursor()
        try:
            changed: set[str] = set()
            for name, (ds, fragments, _) in plan.items():
                rows = _rows(ds, TABLES[name], fragments).read_all() if fragments else TABLES[name].empty_table()
                cur.register(f"_new_{name}", rows)
                if "song_id" in rows.column_names and rows.num_rows:
                    changed.update(pc.unique(rows.column("song_id")).to_pylist())
            cur.register("_new_commits", self.lake.catalog.dataset().to_table(filter=f"version <= {int(state.version)}"))
            cur.execute("BEGIN TRANSACTION")
            try:
                for name in plan:
                    cur.execute(f'INSERT INTO "lake_{name}" BY NAME SELECT * FROM "_new_{name}"')
                cur.execute("DELETE FROM lake_commits")
                cur.execute("INSERT INTO lake_commits BY NAME SELECT * FROM _new_commits")
                listed = _shadow_tables(cur, sorted(changed))
                cur.execute(f"DELETE FROM songs WHERE song_id IN ({listed})")
                cur.execute(f"INSERT INTO songs SELECT * FROM {_CHANGED}.songs")
                cur.execute("UPDATE snapshot_version SET version = $1", [state.version])
                vectors = self._vectors
                if "embeddings" in plan:
                    vectors = self._vectors_at(plan["embeddings"][2].version)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.close()
        self._held = {**self._held, **{name: entry[2] for name, entry in plan.items()}}
        self._vectors, self.version = vectors, state.version
        log.info("snapshot: lake version %d, %d songs recomputed", state.version, len(changed))

    def start(self, interval: float = 1.0) -> None:
        """Refresh in a daemon thread when the lake version moves: checks every `interval` s, and
        waits at least 3x the last refresh's duration, so a slow rebuild cannot hog the CPU."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, args=(interval,), name="snapshot-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(max(interval, 3 * self.last_refresh_seconds)):
            try:
                if self.lake.version() != self.version:
                    self.refresh()
            except Exception as exc:  # keep serving the held version; say why it is stale
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("snapshot refresh failed (still serving version %d): %s", self.version, exc)

    # --- trusted reads ----------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the held version for trusted code that runs several queries (the
        caller closes it). It keeps seeing this database even if a rebuild swaps in another."""
        db = self._db  # one reference read: a rebuild swapping it in meanwhile cannot split a query
        with self._cursor_lock:
            return db.cursor()

    def read(self, sql: str, params: list | None = None, max_rows: int | None = None) -> pa.Table:
        """A trusted internal query ($1, $2 ... parameters) on the held version, as Arrow."""
        cur = self.cursor()
        try:
            relation = cur.sql(sql, params=params) if params else cur.sql(sql)
            return pa.table({}) if relation is None else _first_rows(relation, max_rows)
        finally:
            cur.close()

    # --- untrusted SQL ----------------------------------------------------------------------

    def run_user_sql(self, sql: str, *, max_rows: int, timeout: float,
                     version: int | str | None = None) -> UserResult:
        """One read-only SELECT from a user. Forbidden for anything else, QueryTimeout past
        `timeout` s, BadRequest for SQL errors, NotFound for an unknown version. A `version`
        (number or tag) other than the held one runs on the Lance tables at that version
        (slower, same rules)."""
        query, limited = _check_user_sql(sql)
        number = None
        if version is not None:
            try:
                number = self.lake.resolve(version)
            except LakeError as exc:
                raise errors.NotFound(str(exc)) from None
        if number is None or number == self.version:
            cur = self.cursor()
            try:
                result = self._execute(cur, query, limited, max_rows, timeout, None)
            finally:
                cur.close()
            if number is None or result.version == number:  # else a refresh came in between
                return result
        try:
            con = connect(self.lake, number)
        except LakeError as exc:
            raise errors.NotFound(str(exc)) from None
        try:
            lock_down(con, self.memory_limit, self.threads)
            return self._execute(con, query, limited, max_rows, timeout, number)
        finally:
            con.close()

    def _execute(self, con, query: str, limited: bool, max_rows: int, timeout: float,
                 version: int | None) -> UserResult:
        """Run a checked query in a READ ONLY transaction, interrupted after `timeout` s."""
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            con.interrupt()

        timer = threading.Timer(timeout, stop)
        timer.daemon = True
        started = time.perf_counter()
        try:
            con.execute("BEGIN TRANSACTION READ ONLY")
            timer.start()
            if version is None:
                version = con.sql("SELECT version FROM snapshot_version").fetchall()[0][0]
            table = _first_rows(con.sql(query), max_rows + 1 if limited else None)
        except duckdb.InterruptException:
            if not fired.is_set():
                raise errors.BadRequest("the query was interrupted") from None
            raise errors.QueryTimeout(f"the query ran longer than {timeout:g} s and was stopped "
                                      f"(add filters or a LIMIT, or aggregate)") from None
        except duckdb.PermissionException as exc:
            raise errors.Forbidden(f"{self._scrub(exc)} (SQL here reads the lake's tables and views only)") from None
        except duckdb.TransactionException as exc:
            raise errors.Forbidden(f"only read-only SELECT statements are allowed; this one tries to write "
                                   f"({self._scrub(exc)})") from None
        except duckdb.Error as exc:
            raise errors.BadRequest(self._scrub(exc)) from None
        finally:
            timer.cancel()
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
        seconds = time.perf_counter() - started
        truncated = table.num_rows > max_rows
        return UserResult(table.slice(0, max_rows) if truncated else table, truncated, seconds, int(version))

    def _scrub(self, exc: Exception) -> str:
        """DuckDB's message without the lake's location or any quoted file path."""
        message = str(exc).strip().replace(str(self.lake.root), "<lake>")
        return re.sub(r'\s*"+(?:[A-Za-z]:\\|/|~|\w+://)[^"]*"+', "", message)

    def encode(self, result: UserResult, fmt: str) -> dict | bytes:
        """The module's encode(), here for handlers that hold only the snapshot."""
        return encode(result, fmt)

    # --- similarity -------------------------------------------------------------------------

    def _vectors_at(self, table_version: int | None):
        """The LanceDB embeddings table checked out at the held version, and whether it mixes
        models (then a search keeps to the query's model); None when there is no table yet."""
        if table_version is None:
            return None
        import lancedb

        table = lancedb.connect(str(self.lake.tables_dir)).open_table("embeddings")
        table.checkout(table_version)
        ds = lance.dataset(self.lake.uri("embeddings"), version=table_version)
        models = ds.to_table(columns=["model"]).column("model")
        return table, len(pc.unique(models)) > 1

    def report(self) -> dict:
        """The collection report (schema.report) at the held version, computed once per version:
        the API and the dashboard share it."""
        from songlake.schema.report import collection_report

        version = self.version
        cached = getattr(self, "_report", None)
        if cached is None or cached[0] != version:
            con = self.cursor()
            try:
                cached = (version, collection_report(con, self.lake))
            finally:
                con.close()
            self._report = cached
        return cached[1]

    def similar(self, song_id: str, k: int = 10) -> list[dict]:
        """The k songs nearest to song_id by embedding (cosine), best first, with title and artist."""
        hit = self.read("SELECT embedding, model FROM lake_embeddings WHERE song_id = $1 ORDER BY model LIMIT 1",
                        [song_id])
        if hit.num_rows == 0:
            if self.read("SELECT 1 FROM songs WHERE song_id = $1", [song_id]).num_rows == 0:
                raise errors.NotFound(f"no song {song_id} at lake version {self.version}")
            raise errors.NotFound(f"song {song_id} has no embedding yet (the embed stage has not run for it)")
        vector = np.asarray(hit.column("embedding")[0].as_py(), dtype=np.float32)
        return self.similar_to_vector(vector, k, exclude=(song_id,), model=hit.column("model")[0].as_py())

    def similar_to_vector(self, vector: np.ndarray, k: int = 10, exclude=(), model: str | None = None) -> list[dict]:
        """The k songs nearest to a vector (cosine), best first; songs in `exclude` left out."""
        from songlake.udfs.embedding import DIM

        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape != (DIM,) or not np.isfinite(vector).all() or not np.any(vector):
            raise errors.BadRequest(f"the query vector must be {DIM} finite numbers, not all zero "
                                    f"(got {vector.shape[0]} values)")
        if not 1 <= int(k) <= 1000:
            raise errors.BadRequest(f"k is how many similar songs to return, 1 to 1000, not {k}")
        if self._vectors is None:
            return []
        table, mixed = self._vectors
        search = table.search(vector).distance_type("cosine").limit(int(k) + len(exclude) + 8)
        if model is not None and mixed:
            search = search.where(f"model = '{model.replace(chr(39), chr(39) * 2)}'", prefilter=True)
        found = search.select(["song_id", "_distance"]).to_arrow()
        best: dict[str, float] = {}
        for other, distance in zip(found.column("song_id").to_pylist(), found.column("_distance").to_pylist()):
            if other not in exclude and other not in best:
                best[other] = round(1.0 - float(distance), 6)
        ids = list(best)[:int(k)]
        names = self.read(f"SELECT song_id, title, artist FROM songs WHERE song_id IN ({_sql_list(ids)})").to_pylist()
        by_id = {row["song_id"]: row for row in names}
        return [{"song_id": i, "title": by_id.get(i, {}).get("title"), "artist": by_id.get(i, {}).get("artist"),
                 "similarity": best[i]} for i in ids]


# --- helpers ------------------------------------------------------------------------------------

_CHANGED = "changed_songs"  # the schema of the songs view over just the songs a refresh recomputes


def _changed_songs_view(db: duckdb.DuckDBPyConnection) -> None:
    """``changed_songs.songs``: the songs view over only the songs a refresh recomputes.

    Why: DuckDB pushes ``songs_view WHERE song_id IN (...)`` into the tracks side only, and
    even a filtered scan of lake_analysis reads every row's lists (0.5 s for 100,000 songs);
    only an index scan for a list of constants avoids that (15 ms). So each ``lake_<table>``
    the view reads is shadowed, in the view's own schema (where DuckDB resolves a view's names
    first), by a view of that table restricted to a constant list of song_ids, which
    _shadow_tables rewrites for each refresh. Correct because the songs view computes each
    song's row from that song's rows alone (every CTE partitions or groups by song_id, every
    join is on it)."""
    db.execute(f"CREATE SCHEMA {_CHANGED}")
    _shadow_tables(db, [])
    text, found = _SONGS_VIEW.subn(f"CREATE OR REPLACE VIEW {_CHANGED}.songs", sql_files.text("songs"), count=1)
    if not found:
        raise LookupError("sql/songs.sql no longer starts with CREATE [OR REPLACE] VIEW songs")
    db.execute(text)


def _shadow_tables(con: duckdb.DuckDBPyConnection, song_ids: list[str]) -> str:
    """Point the shadows of the lake tables at song_ids; returns the SQL list of them."""
    listed = _sql_list(song_ids)
    for name in SONG_TABLES:
        con.execute(f'CREATE OR REPLACE VIEW {_CHANGED}."lake_{name}" AS '
                    f'SELECT * FROM main."lake_{name}" WHERE song_id IN ({listed})')
    return listed


def _first_rows(relation: duckdb.DuckDBPyRelation, limit: int | None) -> pa.Table:
    """The relation's first `limit` rows (all: None), streamed so that DuckDB stops producing
    rows once enough are read. Not relation.limit(): wrapping the query in a subquery costs its
    index scan (a point lookup on songs goes from 2 ms to 6 ms)."""
    reader = relation.to_arrow_reader(2048)
    batches, count = [], 0
    for batch in reader:
        batches.append(batch)
        count += batch.num_rows
        if limit is not None and count >= limit:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table if limit is None else table.slice(0, limit)


def _sql_list(values: list[str]) -> str:
    """Strings as a SQL list of constants ('a', 'b'), so DuckDB can answer IN with an index scan."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values) or "NULL"


def _held(ds: lance.LanceDataset | None) -> _Held:
    if ds is None:
        return _Held(None, None, {})
    fragments = {f.fragment_id: (f.metadata.physical_rows, f.metadata.deletion_file is not None)
                 for f in ds.get_fragments()}
    return _Held(ds.version, ds.schema, fragments)


def _rows(ds: lance.LanceDataset, schema: pa.Schema, fragments: list | None = None) -> pa.RecordBatchReader:
    """A stream of the dataset's rows (of some fragments), widened with typed NULL columns for
    the current schema's columns a table written before a migration lacks."""
    reader = ds.scanner(fragments=fragments).to_reader() if fragments is not None else ds.scanner().to_reader()
    missing = [f for f in schema if f.name not in reader.schema.names]
    if not missing:
        return reader
    target = pa.schema(list(reader.schema) + missing)

    def widened():
        for batch in reader:
            yield pa.RecordBatch.from_arrays(
                batch.columns + [pa.nulls(batch.num_rows, f.type) for f in missing], schema=target)

    return pa.RecordBatchReader.from_batches(target, widened())


_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(ANALY[SZ]E\s+)?", re.IGNORECASE)


def _check_user_sql(sql: str) -> tuple[str, bool]:
    """The query to run and whether a row cap applies, or Forbidden/BadRequest saying why not."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise errors.BadRequest(str(exc).strip()) from None
    if not statements:
        raise errors.BadRequest("the query is empty: send one SELECT statement")
    if len(statements) > 1:
        raise errors.Forbidden(f"only one read-only SELECT statement is allowed, not {len(statements)} statements")
    kind = statements[0].type.name
    if kind == "SELECT":
        return sql, True
    if kind == "EXPLAIN":
        inner = _EXPLAIN.sub("", statements[0].query, count=1)
        try:
            ok = [s.type.name for s in duckdb.extract_statements(inner)] == ["SELECT"]
        except duckdb.Error:
            ok = False
        if ok:
            return sql, False
        raise errors.Forbidden("only one read-only SELECT statement is allowed (EXPLAIN explains a SELECT only)")
    hint = " (read settings with SELECT * FROM duckdb_settings(), table columns with DESCRIBE)" \
        if kind in ("PRAGMA", "SET", "CALL") else ""
    raise errors.Forbidden(f"only one read-only SELECT statement is allowed, not {kind}{hint}")


# --- encoding results ---------------------------------------------------------------------------

def encode(result: UserResult, fmt: str) -> dict | bytes:
    """A user query's result as a JSON-ready dict ("json"), CSV bytes ("csv", nested values as
    JSON text) or an Arrow IPC stream ("arrow", with truncated/version in the schema metadata)."""
    table = result.table
    if fmt == "json":
        return {"columns": table.column_names, "types": [str(t) for t in table.schema.types],
                "rows": _json_rows(table), "row_count": table.num_rows, "truncated": result.truncated,
                "version": result.version, "seconds": round(result.seconds, 4)}
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in _json_rows(table):
            writer.writerow(["" if v is None else json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict))
                             else str(v).lower() if isinstance(v, bool) else v for v in row])
        return out.getvalue().encode("utf-8")
    if fmt == "arrow":
        meta = {b"songlake.truncated": str(result.truncated).lower().encode(),
                b"songlake.version": str(result.version).encode()}
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.with_metadata({**(table.schema.metadata or {}), **meta})) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()
    raise errors.BadRequest(f"unknown result format {fmt!r}: {', '.join(FORMATS)}")


def _json_rows(table: pa.Table) -> list[list]:
    columns = [_json_column(column) for column in table.columns]
    return [list(row) for row in zip(*columns)] if columns else []


def _json_column(column: pa.ChunkedArray) -> list:
    """A column as JSON-safe Python values. Plain columns (strings, numbers without NaN, lists and
    structs of them) convert in Arrow's fast path; the rest value by value."""
    values = column.to_pylist()
    if _plain(column.type) and not any(_has_nan(leaf) for chunk in column.chunks for leaf in _float_leaves(chunk)):
        return values
    return [_json_value(v) for v in values]


def _plain(kind: pa.DataType) -> bool:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _plain(kind.value_type)
    if pa.types.is_struct(kind):
        return all(_plain(kind.field(i).type) for i in range(kind.num_fields))
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
            or pa.types.is_boolean(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind))


def _float_leaves(array: pa.Array):
    kind = array.type
    if pa.types.is_floating(kind):
        yield array
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        yield from _float_leaves(array.flatten())
    elif pa.types.is_struct(kind):
        for child in array.flatten():
            yield from _float_leaves(child)


def _has_nan(array: pa.Array) -> bool:
    if pa.types.is_float16(array.type):
        array = array.cast(pa.float32())
    return pc.any(pc.invert(pc.is_finite(array))).as_py() is True


def _json_value(value):
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, (datetime, date, clock)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "months") and hasattr(value, "days") and hasattr(value, "nanoseconds"):  # an interval
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    return str(value)
