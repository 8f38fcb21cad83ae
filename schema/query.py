"""Reading the lake: DuckDB over the Lance tables at a lake version, and vector search.

DuckDB scans the Lance datasets in place (Arrow datasets, with projection and filter pushdown);
nothing is copied. The views from songlake.sql are created over them, so `songs` and the other
public names work the same at every version. A table read at a version older than a migration
is widened with typed NULL columns so the views still bind.
"""

from __future__ import annotations

import duckdb
import lance
import numpy as np
import pyarrow as pa

from songlake import sql as sql_files
from songlake.schema import tables
from songlake.schema.errors import LakeError, QueryError
from songlake.schema.lake import Lake


def connect(lake: Lake, version: int | str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB connection with the lake's tables and views at one version."""
    state = lake.state(version)
    con = duckdb.connect(":memory:")
    for name, schema in tables.TABLES.items():
        if name in tables.BLOB_TABLES:
            continue  # file and stem bytes stay out of SQL; the gateway serves them by song_id
        if name not in state.table_versions:  # a version from before the table existed
            con.register(f"lake_{name}", schema.empty_table())
            continue
        ds = lake.table_at(name, state)
        con.register(f"lake_{name}", _conformed(ds, schema))
    con.register("lake_commits", lake.catalog(state.version).to_table())
    register_functions(con)
    for view in sql_files.VIEWS:
        con.execute(sql_files.text(view))
    return con


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """The column-shaped udfs as SQL functions: roman(chord, key), transpose(chord, semitones),
    progression_patterns(chord_labels, key). They return NULL for NULL input."""
    from songlake.udfs.theory import SQL_FUNCTIONS

    for name, (function, arguments, returns) in SQL_FUNCTIONS.items():
        con.create_function(name, function, arguments, returns, null_handling="special")


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


def similar(lake: Lake, song_id: str, k: int = 10, version: int | str | None = None) -> list[tuple[str, float]]:
    """The k songs nearest to song_id by embedding, as (song_id, cosine similarity), best first."""
    import lancedb

    state = lake.state(version)
    own = lake.table_at("embeddings", state)
    hit = own.to_table(columns=["embedding"], filter=f"song_id = '{_quote(song_id)}'")
    if hit.num_rows == 0:
        raise LakeError(f"no song {song_id} with an embedding at lake version {state.version}")
    vector = np.asarray(hit.column("embedding")[0].as_py(), dtype=np.float32)
    table = lancedb.connect(str(lake.tables_dir)).open_table("embeddings")
    table.checkout(state.table_versions["embeddings"])
    found = table.search(vector).metric("cosine").limit(k + 8).to_arrow()
    out: list[tuple[str, float]] = []
    seen = {song_id}
    for other, distance in zip(found.column("song_id").to_pylist(), found.column("_distance").to_pylist()):
        if other not in seen:
            seen.add(other)
            out.append((other, round(1.0 - float(distance), 6)))
    return out[:k]


def _quote(value: str) -> str:
    return value.replace("'", "''")
