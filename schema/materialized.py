"""The read gateway for a long-lived process: the lake copied into native DuckDB, kept current.

Why a copy: a ``Reader`` (schema.reader) scans the Lance tables in place, so every query re-reads
Lance and recomputes the ``songs`` view's window functions and joins: on 100,000 songs a slice
takes ~140 ms and a point lookup 40-70 ms. ``Materialized`` holds the same names as native
DuckDB tables: every non-blob table as ``lake_<table>``, the catalog's rows as ``lake_commits``,
``songs`` materialised once from the same sql/songs.sql (``songs_view`` is the view it comes
from) and the other views of songlake.sql over them, all indexed on song_id, so the same queries
take a few milliseconds. ``snapshot_version`` holds the lake version, for queries that must name
it. The blob tables (original files, stems) stay in Lance; schema.stems reads them by song_id.
The embeddings are also held as a ``VectorIndex`` (schema.vectors) of the same version.

Freshness: ``refresh()`` moves the copy to the lake's newest version. It reads each changed
table's Lance history since the held version: appends add rows (the fragments each one added,
read at that version), while the background compaction's rewrites, index updates and config
changes leave the rows as they were. When that is all that happened, the added rows and the
catalog rows newer than the held version are appended, and the songs they touch are recomputed (``DELETE`` them from ``songs``, ``INSERT`` them from the songs view over just
those songs, see _changed_songs_view), in ONE transaction that also bumps ``snapshot_version``:
DuckDB's MVCC lets readers see the old version or the new one, never half. 100 new songs on
100,000 take ~0.1 s. When a table lost rows or changed shape (``optimize`` dropped superseded
genre rows, a migration added columns), a whole new database is built aside and swapped in by
one reference assignment: queries already running finish on the old one. A daemon thread (``start``) calls
refresh when the lake version moves.

Threads: any number of readers, each query on its own cursor (``cursor()``, ``run()``); one
refresher at a time.

Memory: the copy holds the analysis lists (beats, chords, sections) twice (lake_analysis and
songs): ~2.2 GB of DuckDB memory for 100,000 songs, and a full rebuild briefly needs twice that
(two databases).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

import duckdb
import lance
import pyarrow as pa
import pyarrow.compute as pc

from songlake import sql as sql_files
from songlake.schema.errors import QueryError
from songlake.schema.lake import Lake, LakeVersion
from songlake.schema.reader import create_views, register_functions, run, sql_tables, table_rows
from songlake.schema.vectors import VectorIndex

log = logging.getLogger(__name__)

_CHANGED = "changed_songs"  # the schema of the songs view over just the songs a refresh recomputes


@dataclass(frozen=True)
class _Table:
    """One lake table as the copy holds it: its Lance version, schema and fragments (id -> rows, deleted?)."""

    version: int | None
    schema: pa.Schema | None
    fragments: dict[int, tuple[int, bool]]


@dataclass(frozen=True)
class _Copy:
    """One database and what it holds; swapped whole, so its parts always agree."""

    db: duckdb.DuckDBPyConnection
    tables: dict[str, _Table]
    state: LakeVersion
    vectors: VectorIndex


class Materialized:
    """The lake's newest version as native DuckDB tables, for many threads. ``prepare(con)`` runs
    on each new database before the lake is copied in (the server locks it down there).
    ``conform(name, rows)`` sees each table's rows (the catalog's as "commits", a Table or a
    RecordBatchReader) on their way into the copy and returns them as the copy is to hold them,
    same schema (the server hides file paths there)."""

    def __init__(self, lake: Lake, *, prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
                 conform: Callable[[str, pa.Table | pa.RecordBatchReader], pa.Table | pa.RecordBatchReader]
                 | None = None):
        self.lake = lake
        self.prepare = prepare
        self.conform = conform or (lambda name, rows: rows)
        self.last_refresh_kind = "build"  # then "incremental" or "rebuild": what the last refresh did
        self.last_error: str | None = None
        self._refresh_lock = threading.Lock()
        self._cursor_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        started = time.perf_counter()
        self._copy = self._build(lake.head())
        self.last_refresh_seconds = time.perf_counter() - started

    @property
    def state(self) -> LakeVersion:
        return self._copy.state

    @property
    def version(self) -> int:
        return self._copy.state.version

    # --- reading -------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the held version for code that runs several queries (the caller closes
        it). It keeps seeing its database even if a rebuild swaps in another."""
        db = self._copy.db  # one reference read: a rebuild swapping it meanwhile cannot split a query
        with self._cursor_lock:
            return db.cursor()

    def run(self, query: str, max_rows: int | None = None, params: list | None = None) -> pa.Table:
        """One query over the held version (values as $1, $2 ... parameters); errors as QueryError."""
        cur = self.cursor()
        try:
            return run(cur, query, max_rows, params, streamed=True)
        finally:
            cur.close()

    def vectors(self) -> VectorIndex:
        """The embeddings at the held version (loaded by the refresh, not by the first search)."""
        return self._copy.vectors

    # --- building and refreshing ---------------------------------------------------------

    def _build(self, state: LakeVersion) -> _Copy:
        """A new database holding the lake at `state`, songs materialised."""
        db = duckdb.connect(":memory:")
        if self.prepare is not None:
            self.prepare(db)
        register_functions(db)
        held = {}
        for name, schema in sql_tables().items():
            ds = self.lake.table_at(name, state) if name in state.table_versions else None
            _create(db, f"lake_{name}", self.conform(name, table_rows(ds, schema) if ds is not None
                                                     else schema.empty_table()))
            held[name] = _held(ds)
        _create(db, "lake_commits", self.conform("commits", self.lake.catalog.dataset().to_table(
            filter=f"version <= {int(state.version)}")))
        db.execute("CREATE TABLE snapshot_version AS SELECT $1::BIGINT AS version", [state.version])
        create_views(db)
        db.execute("ALTER VIEW songs RENAME TO songs_view")  # the later views (and users) read the table
        db.execute("CREATE TABLE songs AS SELECT * FROM songs_view")
        db.execute("CREATE INDEX songs_song_id ON songs (song_id)")
        for name in _song_tables():  # point lookups, and the refresh's reads of changed songs
            db.execute(f'CREATE INDEX "lake_{name}_song_id" ON "lake_{name}" (song_id)')
        _changed_songs_view(db)
        embeddings = self.lake.table_at("embeddings", state) if "embeddings" in state.table_versions else None
        return _Copy(db, held, state, VectorIndex().load(embeddings))

    def refresh(self) -> int:
        """Bring the copy to the lake's newest version (incremental when it can); returns it."""
        with self._refresh_lock:
            started = time.perf_counter()
            try:
                state = self.lake.head()
                held = self._copy
                if state.version != held.state.version:
                    plan = self._plan(held, state)
                    if plan is None:
                        log.info("materialized: rebuilding for lake version %d", state.version)
                        self._copy = self._build(state)
                        self.last_refresh_kind = "rebuild"
                    else:
                        self._copy = self._append(held, state, plan)
                        self.last_refresh_kind = "incremental"
                self.last_error = None
            finally:
                self.last_refresh_seconds = time.perf_counter() - started
            return self.version

    def _plan(self, held: _Copy, state: LakeVersion) -> dict[str, tuple[lance.LanceDataset, list, _Table]] | None:
        """Per changed table: its dataset, the rows it gained (as readers of the fragments each
        append added), what will be held after. None when some table did more than gain rows:
        then only a rebuild is right."""
        if state.version < held.state.version:
            return None
        plan = {}
        for name in sql_tables():
            old = held.tables[name]
            number = state.table_versions.get(name)
            if number == old.version:
                continue
            if number is None or old.version is None or number < old.version:
                return None
            ds = self.lake.table_at(name, state)
            if old.schema is not None and not ds.schema.equals(old.schema):
                return None
            added = _appended(self.lake.uri(name), old.version, number)
            if added is None:
                return None
            plan[name] = (ds, added, _Table(number, ds.schema, {}))
        return plan

    def _append(self, held: _Copy, state: LakeVersion, plan: dict) -> _Copy:
        """Append the new fragments' rows and catalog rows, and recompute the songs they touch,
        in one transaction."""
        schemas = sql_tables()
        vectors = held.vectors.load(plan["embeddings"][0]) if "embeddings" in plan else held.vectors
        commits = self.lake.catalog.dataset().to_table(  # only the rows newer than the held version
            filter=f"version > {int(held.state.version)} AND version <= {int(state.version)}")
        cur = held.db.cursor()
        try:
            changed: set[str] = set()
            for name, (ds, added, _) in plan.items():
                parts = [table_rows(at, schemas[name], fragments).read_all() for at, fragments in added]
                rows = pa.concat_tables(parts) if parts else table_rows(ds, schemas[name], []).read_all()
                rows = self.conform(name, rows)
                cur.register(f"_new_{name}", rows)
                for column in ("song_id", "song_a", "song_b"):  # duplicate_pairs name two songs
                    if column in rows.column_names and rows.num_rows:
                        changed.update(pc.unique(rows.column(column)).to_pylist())
            cur.register("_new_commits", self.conform("commits", commits))
            cur.execute("BEGIN TRANSACTION")
            try:
                for name in plan:
                    cur.execute(f'INSERT INTO "lake_{name}" BY NAME SELECT * FROM "_new_{name}"')
                cur.execute("INSERT INTO lake_commits BY NAME SELECT * FROM _new_commits")
                changed |= _group_members(cur, changed)
                listed = _shadow_tables(cur, sorted(changed))
                cur.execute(f"DELETE FROM songs WHERE song_id IN ({listed})")
                cur.execute(f"INSERT INTO songs SELECT * FROM {_CHANGED}.songs")
                cur.execute("UPDATE snapshot_version SET version = $1", [state.version])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.close()
        log.info("materialized: lake version %d, %d songs recomputed", state.version, len(changed))
        return replace(held, tables={**held.tables, **{name: entry[2] for name, entry in plan.items()}},
                       state=state, vectors=vectors)

    # --- keeping current in the background -----------------------------------------------

    def start(self, interval: float = 1.0) -> None:
        """Refresh in a daemon thread when the lake version moves: checks every `interval` s, and
        waits at least 3x the last refresh's duration, so a slow rebuild cannot hog the CPU."""
        if self.watching:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, args=(interval,), name="materialized-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def watching(self) -> bool:
        """Whether the background refresher runs."""
        return self._thread is not None and self._thread.is_alive()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(max(interval, 3 * self.last_refresh_seconds)):
            try:
                if self.lake.version() != self.version:
                    self.refresh()
            except Exception as exc:  # keep serving the held version; say why it is stale
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("refresh failed (still serving lake version %d): %s", self.version, exc)


# --- helpers ------------------------------------------------------------------------------------

def _song_tables() -> tuple[str, ...]:
    return tuple(name for name, schema in sql_tables().items() if "song_id" in schema.names)


def _create(db: duckdb.DuckDBPyConnection, name: str, rows: pa.Table | pa.RecordBatchReader) -> None:
    db.register("_source", rows)
    db.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _source')
    db.unregister("_source")


def _changed_songs_view(db: duckdb.DuckDBPyConnection) -> None:
    """``changed_songs.songs``: the songs view over only the songs a refresh recomputes.

    Why: DuckDB pushes ``songs_view WHERE song_id IN (...)`` into the tracks side only, and
    even a filtered scan of lake_analysis reads every row's lists (0.5 s for 100,000 songs);
    only an index scan for a list of constants avoids that (15 ms). So each ``lake_<table>``
    the view reads is shadowed, in the schema ``changed_songs``, by a view of that table
    restricted to a constant list of song_ids, which _shadow_tables rewrites for each refresh,
    and sql/songs.sql itself is run with that schema as the default one: a view resolves its
    names in its own schema first, so this ``songs`` reads the shadows. Correct because the
    songs view computes each song's row from that song's rows alone (every CTE partitions or
    groups by song_id, every join is on it), but for its duplicate group, read from
    main.duplicate_groups (the whole collection's pairs, few): a refresh recomputes every song of
    a group that changed (_group_members)."""
    db.execute(f"CREATE SCHEMA {_CHANGED}")
    _shadow_tables(db, [])
    db.execute(f"USE {_CHANGED}")
    try:
        db.execute(sql_files.text("songs"))
    finally:
        db.execute("USE main")
    if db.sql(f"SELECT count(*) FROM duckdb_views() WHERE schema_name = '{_CHANGED}' AND view_name = 'songs'"
              ).fetchall() != [(1,)]:
        raise QueryError("sql/songs.sql did not create the view songs")


def _group_members(con: duckdb.DuckDBPyConnection, song_ids: set[str]) -> set[str]:
    """Every song in the duplicate groups of song_ids (after the new rows): a song's
    duplicate_group and is_preferred_copy depend on the other songs of its group, so a new pair,
    a choice label or a better copy changes the rows of the whole group (sql/duplicates.sql)."""
    if not song_ids:
        return set()
    listed = _sql_list(sorted(song_ids))
    rows = con.execute("SELECT song_id FROM main.duplicate_groups WHERE duplicate_group IN "
                       f"(SELECT duplicate_group FROM main.duplicate_groups WHERE song_id IN ({listed}))").fetchall()
    return {sid for (sid,) in rows}


def _shadow_tables(con: duckdb.DuckDBPyConnection, song_ids: list[str]) -> str:
    """Point the shadows of the lake tables at song_ids; returns the SQL list of them."""
    listed = _sql_list(song_ids)
    for name in _song_tables():
        con.execute(f'CREATE OR REPLACE VIEW {_CHANGED}."lake_{name}" AS '
                    f'SELECT * FROM main."lake_{name}" WHERE song_id IN ({listed})')
    return listed


def _sql_list(values: list[str]) -> str:
    """Strings as a SQL list of constants ('a', 'b'), so DuckDB can answer IN with an index scan."""
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values) or "NULL"


_SAME_ROWS = ("Rewrite", "CreateIndex", "UpdateConfig")  # Lance operations that leave the rows as they were


def _appended(uri: str, old: int, new: int) -> list[tuple[lance.LanceDataset, list]] | None:
    """The fragments each append between two versions of a table added, with the version that
    added them (each read there: a later compaction may have merged them away); None when some
    version did anything but append, rewrite fragments (compaction), index or configure."""
    added = []
    try:
        before = {f.fragment_id for f in lance.dataset(uri, version=old).get_fragments()}
        for number in range(old + 1, new + 1):
            ds = lance.dataset(uri, version=number)
            now = {f.fragment_id: f for f in ds.get_fragments()}
            transaction = ds.read_transaction(number)
            operation = type(transaction.operation).__name__ if transaction is not None else None
            if operation == "Append":
                added.append((ds, [now[i] for i in sorted(now.keys() - before)]))
            elif not (operation in _SAME_ROWS or (operation == "BaseOperation" and now.keys() == before)):
                return None  # a delete, an update, new columns, or a history that was cleaned up
            before = set(now)
    except (ValueError, OSError):  # an intermediate version was cleaned up: rebuild
        return None
    return added


def _held(ds: lance.LanceDataset | None) -> _Table:
    if ds is None:
        return _Table(None, None, {})
    fragments = {f.fragment_id: (f.metadata.physical_rows, f.metadata.deletion_file is not None)
                 for f in ds.get_fragments()}
    return _Table(ds.version, ds.schema, fragments)
