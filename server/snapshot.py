"""The server's read side, handed to every handler: one object over the lake, kept current.

It puts together what the handlers read through, each a module of its own:

- the lake held as native DuckDB tables and kept current by the read gateway
  (schema.materialized), on a database locked down for untrusted SQL, with the file paths the
  lake records redacted on their way in (server.redact);
- untrusted SQL (server.sandbox): one read-only SELECT, a time limit, a row and a byte cap;
- similarity with titles and artists (server.similarity), over the gateway's vector index;
- the collection report, once per version (server.report_cache);
- results for the wire (server.encoding).

Thread-safe: readers take a fresh cursor per query; one refresher writes.
"""

from __future__ import annotations

from functools import partial

import duckdb
import numpy as np
import pyarrow as pa

from songlake.schema.lake import Lake
from songlake.schema.materialized import Materialized
from songlake.server import redact, similarity
from songlake.server.report_cache import ReportCache
from songlake.server.sandbox import UserResult, lock_down, run_user_sql

__all__ = ["Snapshot", "UserResult", "lock_down"]


class Snapshot:
    """The lake as the server reads it. ``version`` is the lake version held; ``copy`` is the
    materialised copy (schema.materialized) it reads from."""

    def __init__(self, lake: Lake, *, memory_limit: str = "4GB", threads: int | None = None):
        self.lake = lake
        self._lock_down = partial(lock_down, memory_limit=memory_limit, threads=threads)
        self.copy = Materialized(lake, prepare=self._lock_down, conform=redact.rows)
        self._reports = ReportCache(self.copy)

    # --- freshness ---------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.copy.version

    @property
    def last_refresh_kind(self) -> str:
        return self.copy.last_refresh_kind

    @property
    def last_refresh_seconds(self) -> float:
        return self.copy.last_refresh_seconds

    @property
    def last_error(self) -> str | None:
        return self.copy.last_error

    @property
    def watching(self) -> bool:
        return self.copy.watching

    def refresh(self) -> int:
        """Bring the copy to the lake's newest version (incremental when it can); returns it."""
        return self.copy.refresh()

    def start(self, interval: float = 1.0) -> None:
        """Refresh in the background whenever the lake version moves."""
        self.copy.start(interval)

    def stop(self, timeout: float = 30.0) -> None:
        self.copy.stop(timeout)

    # --- reads -------------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the held version for trusted code that runs several queries."""
        return self.copy.cursor()

    def read(self, sql: str, params: list | None = None, max_rows: int | None = None) -> pa.Table:
        """A trusted internal query ($1, $2 ... parameters) on the held version, as Arrow."""
        return self.copy.run(sql, max_rows, params)

    def run_user_sql(self, sql: str, *, max_rows: int, timeout: float, version: int | str | None = None,
                     max_bytes: int = 32 << 20, deadline: float | None = None,
                     budget: float | None = None) -> UserResult:
        """One read-only SELECT from a user (server.sandbox), at the held version or at `version`."""
        return run_user_sql(self.copy, sql, max_rows=max_rows, timeout=timeout, version=version,
                            lock=self._lock_down, max_bytes=max_bytes, deadline=deadline, budget=budget)

    def similar(self, song_id: str, k: int = 10) -> list[dict]:
        """The k songs nearest to song_id by embedding (cosine), best first, with title and artist."""
        return similarity.similar(self.copy, song_id, k)

    def similar_to_vector(self, vector: np.ndarray, k: int = 10, exclude=(), model: str | None = None) -> list[dict]:
        """The k songs nearest to a vector (cosine), best first; songs in `exclude` left out."""
        return similarity.similar_to_vector(self.copy, vector, k, tuple(exclude), model)

    def report(self) -> dict:
        """The collection report (schema.report) at the held version, computed once per version."""
        return self._reports.get()
