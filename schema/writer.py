"""Writing a batch: rows go to Lance fragments as they arrive, and one commit publishes them.

A table's buffer is flushed to a fragment file when it holds ``flush_rows`` rows or
``flush_bytes`` of binary data (the original files are the bulk of a batch), so memory stays flat
however large the batch, and small tables are not split into thousands of tiny fragments. Nothing is visible until ``commit``,
which appends every table's fragments and records a single new lake version; a batch that adds
nothing makes no version at all. ``stage`` hands the fragments to the lake's next committer
instead (the distributed write: many workers' batches become one version).
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from lance.fragment import write_fragments

from songlake.schema import tables
from songlake.schema.lake import Lake


class BatchWriter:
    def __init__(self, lake: Lake, flush_rows: int = 1024, flush_bytes: int = 32 << 20):
        self.lake = lake
        self.flush_rows = flush_rows
        self.flush_bytes = flush_bytes
        self._rows: dict[str, list[dict]] = {name: [] for name in tables.TABLES}
        self._bytes: Counter[str] = Counter()
        self._fragments: dict[str, list] = {name: [] for name in tables.TABLES}
        self.counts: Counter[str] = Counter()

    def add(self, table: str, row: dict) -> None:
        self._rows[table].append(row)
        self.counts[table] += 1
        self._bytes[table] += sum(len(v) for v in row.values() if isinstance(v, bytes))
        if len(self._rows[table]) >= self.flush_rows or self._bytes[table] >= self.flush_bytes:
            self._flush(table)

    def _flush(self, table: str) -> None:
        rows = self._rows[table]
        if not rows:
            return
        data = pa.Table.from_pylist(rows, schema=tables.TABLES[table])
        self._fragments[table].extend(write_fragments(data, self.lake.uri(table), schema=tables.TABLES[table]))
        rows.clear()
        self._bytes[table] = 0

    def absorb(self, other: "BatchWriter") -> None:
        """Take another writer's rows into this one's commit (a song's rows once it has all of them)."""
        for table in other._rows:
            other._flush(table)
            self._fragments[table].extend(other._fragments[table])
        self.counts.update(other.counts)

    def commit(self, kind: str, message: str, extra_counts: dict[str, int] | None = None) -> int | None:
        """Publish everything added as one lake version; None when nothing was added."""
        fragments, counts = self._take(extra_counts)
        if not any(fragments.values()):
            return None
        return self.lake.commit(kind, message, fragments, counts)

    def stage(self, kind: str, message: str, extra_counts: dict[str, int] | None = None,
              meta: dict | None = None) -> str | None:
        """Hand everything added to the lake's next committer (Lake.commit_staged); the set's id,
        or None when there is neither a row nor a meta to hand over."""
        fragments, counts = self._take(extra_counts)
        return self.lake.stage(kind, message, fragments, counts, meta)

    def _take(self, extra_counts: dict[str, int] | None) -> tuple[dict[str, list], dict[str, int]]:
        for table in self._rows:
            self._flush(table)
        fragments, counts = self._fragments, dict(self.counts) | (extra_counts or {})
        self._fragments = {name: [] for name in tables.TABLES}
        self.counts.clear()
        return fragments, counts
