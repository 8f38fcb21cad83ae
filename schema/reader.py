"""The read gateway: DuckDB over the lake at a version, opened once per process and kept current.

A ``Reader`` registers every non-blob table as ``lake_<table>`` (the Lance dataset at the
version the lake state records; DuckDB scans it in place with projection and filter pushdown),
the catalog as ``lake_commits`` (the rows up to the version), and creates the views in
songlake.sql over them, so ``songs`` and the other public names work the same at every version.
``refresh()`` moves it to the lake's newest version, re-registering only the tables whose
version changed; reading the newest version is one catalog row, so a refresh that finds
nothing new costs well under a millisecond at any age of the lake.

``Reader.shared(lake)`` is the process's reader of the newest version: the CLI, the jobs and the
trainer ask it for SQL, and for similarity search (schema.vectors), instead of opening DuckDB
again. A reader pinned to a version (``Reader(lake, version)``) never moves. A reader is for one
thread; the server's snapshot (which copies the tables into native DuckDB for many threads)
builds on the same pieces.
"""

from __future__ import annotations

import os
import threading

import duckdb
import lance
import numpy as np
import pyarrow as pa

from songlake import sql as sql_files
from songlake.schema import tables
from songlake.schema.errors import LakeError, QueryError
from songlake.schema.lake import Lake, LakeVersion
from songlake.schema.vectors import VectorIndex


def sql_tables() -> dict[str, pa.Schema]:
    """The tables SQL sees: all but the blob tables (their bytes are served by song_id)."""
    return {name: schema for name, schema in tables.TABLES.items() if name not in tables.BLOB_TABLES}


class Reader:
    """One DuckDB connection over the lake at a version (the newest, kept current, by default)."""

    def __init__(self, lake: Lake, version: int | str | None = None):
        self.lake = lake
        self.pinned = version is not None
        self.con = duckdb.connect(":memory:")
        register_functions(self.con)
        self.state: LakeVersion | None = None
        self._held: dict[str, int | None] = {}
        self._vectors = VectorIndex()
        self._move(lake.state(version))
        for view in sql_files.VIEWS:
            self.con.execute(sql_files.text(view))

    _shared: dict[tuple[int, str], "Reader"] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, lake: Lake) -> "Reader":
        """This process's reader of the lake's newest version, refreshed."""
        key = (os.getpid(), str(lake.root))
        with cls._shared_lock:
            reader = cls._shared.get(key)
            if reader is None:
                reader = cls._shared[key] = cls(lake)
        reader.refresh()
        return reader

    @property
    def version(self) -> int:
        return self.state.version

    def refresh(self) -> int:
        """Move to the lake's newest version (a pinned reader stays); returns the version held."""
        if not self.pinned:
            head = self.lake.head()
            if head.version != self.state.version:
                self._move(head)
        return self.state.version

    def _move(self, state: LakeVersion) -> None:
        for name, schema in sql_tables().items():
            number = state.table_versions.get(name)
            if name in self._held and self._held[name] == number:
                continue
            source = _conformed(self.lake.table_at(name, state), schema) if number is not None else schema.empty_table()
            self.con.register(f"lake_{name}", source)
            self._held[name] = number
        self.con.register("lake_catalog", self.lake.catalog.dataset())
        self.con.execute(f"CREATE OR REPLACE VIEW lake_commits AS SELECT * FROM lake_catalog "
                         f"WHERE version <= {int(state.version)}")
        self.state = state

    # --- SQL -----------------------------------------------------------------------------

    def run(self, query: str, max_rows: int | None = None, params: list | None = None) -> pa.Table:
        """One query over the held version (values as $1, $2 ... parameters)."""
        return run(self.con, query, max_rows, params)

    # --- similarity ----------------------------------------------------------------------

    def vectors(self) -> VectorIndex:
        """The embeddings at the held version, loaded (incrementally) on first use after a move."""
        number = self.state.table_versions.get("embeddings")
        return self._vectors.load(self.lake.table_at("embeddings", self.state) if number is not None else None)

    def similar(self, song_id: str, k: int = 10) -> list[tuple[str, float]]:
        """The k songs nearest to song_id by embedding, as (song_id, cosine similarity), best first."""
        index = self.vectors()
        found = index.vector(song_id)
        if found is None:
            raise LakeError(f"no song {song_id} with an embedding at lake version {self.version}")
        vector, model = found
        return index.search(vector, k, model=model, exclude=(song_id,))

    def similar_to_vector(self, vector: np.ndarray, k: int = 10, exclude: tuple[str, ...] = (),
                          model: str | None = None) -> list[tuple[str, float]]:
        return self.vectors().search(vector, k, model=model, exclude=exclude)


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """The column-shaped udfs as SQL functions: roman(chord, key), transpose(chord, semitones),
    progression_patterns(chord_labels, key). They return NULL for NULL input."""
    from songlake.udfs.theory import SQL_FUNCTIONS

    for name, (function, arguments, returns) in SQL_FUNCTIONS.items():
        con.create_function(name, function, arguments, returns, null_handling="special")


def run(con: duckdb.DuckDBPyConnection, query: str, max_rows: int | None = None, params: list | None = None) -> pa.Table:
    """Run one query (values as $1, $2 ... parameters); the result as an Arrow table of at most max_rows rows."""
    try:
        relation = con.sql(query, params=params) if params else con.sql(query)
        if relation is None:  # a statement without a result (SET, CREATE VIEW, ...)
            return pa.table({})
        if max_rows is not None:
            relation = relation.limit(max_rows)
        return relation.to_arrow_reader(10_000).read_all()
    except duckdb.Error as exc:
        raise QueryError(str(exc).strip()) from None


def _conformed(ds: lance.LanceDataset, schema: pa.Schema):
    """The dataset itself, or when it predates columns of the current schema, a widened copy."""
    have = set(ds.schema.names)
    missing = [f for f in schema if f.name not in have]
    if not missing:
        return ds
    table = ds.to_table()
    for field in missing:
        table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table
