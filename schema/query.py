"""SQL and similarity over the lake, through the read gateway (schema.reader).

- ``connect(lake, version)``: a DuckDB connection of its own over one version (the newest when
  None), with the public views: for a caller that keeps it, or pins an old version;
- ``run(con, query)``: one query, errors as QueryError;
- ``sql(lake, query)``: one query over the newest version on this process's shared reader;
- ``similar(lake, song_id, k)``: the nearest songs by embedding.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from songlake.schema.lake import Lake
from songlake.schema.reader import Reader, register_functions, run

__all__ = ["connect", "register_functions", "run", "similar", "sql"]


def connect(lake: Lake, version: int | str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB connection with the lake's tables and views at one version."""
    return Reader(lake, version if version is not None else lake.version()).con


def sql(lake: Lake, query: str, max_rows: int | None = None, params: list | None = None) -> pa.Table:
    """One query over the lake's newest version, on the process's shared reader."""
    return Reader.shared(lake).run(query, max_rows, params)


def similar(lake: Lake, song_id: str, k: int = 10, version: int | str | None = None) -> list[tuple[str, float]]:
    """The k songs nearest to song_id by embedding, as (song_id, cosine similarity), best first."""
    reader = Reader.shared(lake) if version is None else Reader(lake, version)
    return reader.similar(song_id, k)
