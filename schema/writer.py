"""Writing a batch: rows go to Lance fragments as they arrive, and one commit publishes them.

Buffers are flushed to fragment files every ``flush_rows`` rows, so memory stays flat however
large the batch (the original files are the bulk of it). Nothing is visible until ``commit``,
which appends every table's fragments and records a single new lake version; a batch that adds
nothing makes no version at all.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from lance.fragment import write_fragments

from songlake.schema import tables
from songlake.schema.lake import Lake


class BatchWriter:
    def __init__(self, lake: Lake, flush_rows: int = 16):
        self.lake = lake
        self.flush_rows = flush_rows
        self._rows: dict[str, list[dict]] = {name: [] for name in tables.TABLES}
        self._fragments: dict[str, list] = {name: [] for name in tables.TABLES}
        self.counts: Counter[str] = Counter()

    def add(self, table: str, row: dict) -> None:
        self._rows[table].append(row)
        self.counts[table] += 1
        if len(self._rows[table]) >= self.flush_rows:
            self._flush(table)

    def _flush(self, table: str) -> None:
        rows = self._rows[table]
        if not rows:
            return
        data = pa.Table.from_pylist(rows, schema=tables.TABLES[table])
        self._fragments[table].extend(write_fragments(data, self.lake.uri(table), schema=tables.TABLES[table]))
        rows.clear()

    def commit(self, kind: str, message: str, extra_counts: dict[str, int] | None = None) -> int | None:
        """Publish everything added as one lake version; None when nothing was added."""
        for table in self._rows:
            self._flush(table)
        if not any(self._fragments.values()):
            return None
        counts = dict(self.counts) | (extra_counts or {})
        version = self.lake.commit(kind, message, self._fragments, counts)
        self._fragments = {name: [] for name in tables.TABLES}
        self.counts.clear()
        return version
