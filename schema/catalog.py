"""The catalog: the lake's history, one row per lake version, with the version as a column.

``LAKE/tables/catalog.lance`` holds one row per lake version: its number, when and what made it,
the schema version, the full map of table versions that make it up, what it added, and the id
of the commit that wrote it (so a committer that died between its table commits and this row
can finish without writing the row twice). The lake version is the ``version`` column, not the
catalog's own Lance version, so the catalog can be compacted and cleaned up like any table and
every number stays what it was.

What each read costs, however long the history:

- ``head()``: the newest row is the last row (rows are appended in version order and Lance's
  compaction keeps row order): one ``take`` from a manifest that compaction keeps small;
- ``row(n)``: versions are dense and rows are never deleted (cleanup marks versions removed in
  the config instead), so version n is row n-1: one ``take``. Should a row not be where it
  belongs, a BTREE index on ``version`` finds it in log time;
- ``page(limit, before)``: the newest rows by position, or a bounded window of versions.

Tags (name -> lake version) live in the catalog's Lance config, which every new catalog version
carries forward, compacted or not, and so do the versions that optimize's cleanup removed (as
ranges): their rows stay, so the history reads whole, but their tables are gone. Only the committer (which holds the lake's commit lock)
writes the catalog.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import lance
import pyarrow as pa
from lance.fragment import write_fragments

from songlake.schema import tables

log = logging.getLogger(__name__)

NAME = "catalog"
TAG_PREFIX = "songlake.tag."
REMOVED = "songlake.removed"  # '1-3,7': lake versions whose table versions cleanup removed
COMPACT_AT = 32  # catalog fragments (one per commit) before the committer compacts them
KEEP_CATALOG_VERSIONS = timedelta(minutes=10)  # the catalog's own Lance versions; the rows keep the history


@dataclass(frozen=True)
class LakeVersion:
    """One entry of the lake's history."""

    version: int
    committed_at: datetime
    kind: str
    message: str
    schema_version: int
    table_versions: dict[str, int]
    counts: dict[str, int]
    tags: tuple[str, ...] = ()
    commit_id: str | None = None


class Catalog:
    """The catalog dataset of one lake. Cheap to create; each call opens the latest manifest."""

    def __init__(self, uri: str):
        self.uri = uri

    def dataset(self) -> lance.LanceDataset:
        return lance.dataset(self.uri)

    @classmethod
    def create(cls, uri: str, rows: list[dict]) -> "Catalog":
        """A new catalog with the given rows (oldest first), indexed on version."""
        ds = lance.write_dataset(pa.Table.from_pylist(rows, schema=tables.CATALOG), uri, schema=tables.CATALOG,
                                 mode="create")
        ds.create_scalar_index("version", index_type="BTREE")
        return cls(uri)

    # --- reading -------------------------------------------------------------------------

    def head(self) -> LakeVersion:
        """The newest lake version."""
        ds = self.dataset()
        count = ds.count_rows()
        if count == 0:
            raise ValueError(f"the catalog at {self.uri} has no rows")
        return as_version(ds.take([count - 1]).to_pylist()[0])

    def row(self, number: int) -> LakeVersion | None:
        """One lake version, or None when the catalog has no row for it."""
        ds = self.dataset()
        if 1 <= number <= ds.count_rows():
            at = ds.take([int(number) - 1]).to_pylist()[0]
            if at["version"] == number:
                return as_version(at)
        found = ds.to_table(filter=f"version = {int(number)}").to_pylist()
        return as_version(found[-1]) if found else None

    def page(self, limit: int, before: int | None = None) -> list[LakeVersion]:
        """Up to limit versions, newest first; with before, only versions older than it."""
        ds = self.dataset()
        if before is None:
            count = ds.count_rows()
            rows = ds.take(list(range(max(0, count - limit), count))).to_pylist() if limit > 0 else []
        else:
            window, rows = max(limit, 1) * 2, []
            while True:  # versions are dense unless cleanup removed some: widen the window until enough
                low = max(1, before - window)
                rows = ds.to_table(filter=f"version >= {low} AND version < {int(before)}").to_pylist()
                if len(rows) >= limit or low == 1:
                    break
                window *= 4
        rows.sort(key=lambda r: r["version"], reverse=True)
        return [as_version(r) for r in rows[:limit]]

    def all(self) -> list[LakeVersion]:
        """Every version still in the catalog, oldest first (reads the whole history: for cleanup)."""
        rows = self.dataset().to_table().to_pylist()
        return sorted((as_version(r) for r in rows), key=lambda v: v.version)

    def numbers(self) -> list[int]:
        """The numbers of every version that can still be read, ascending."""
        removed = self.removed()
        every = self.dataset().to_table(columns=["version"]).column("version").to_pylist()
        return sorted(n for n in every if not _within(n, removed))

    def removed(self) -> list[tuple[int, int]]:
        """The ranges of lake versions that cleanup removed, as (first, last)."""
        text = self.dataset().config().get(REMOVED, "")
        return [tuple(map(int, span.split("-"))) for span in text.split(",") if span]

    def is_removed(self, number: int) -> bool:
        return _within(number, self.removed())

    def tags(self) -> dict[str, int]:
        return {key[len(TAG_PREFIX):]: int(value) for key, value in self.dataset().config().items()
                if key.startswith(TAG_PREFIX)}

    # --- writing (the committer only) ------------------------------------------------------

    def append(self, row: dict) -> None:
        frags = write_fragments(pa.Table.from_pylist([row], schema=tables.CATALOG), self.uri, schema=tables.CATALOG)
        ds = self.dataset()
        ds = lance.LanceDataset.commit(self.uri, lance.LanceOperation.Append(frags), read_version=ds.version)
        if len(ds.get_fragments()) >= COMPACT_AT:
            self.compact()

    def set_tag(self, name: str, number: int) -> None:
        self.dataset().update_config({TAG_PREFIX + name: str(number)})

    def mark_removed(self, numbers: list[int]) -> None:
        """Note lake versions whose tables cleanup is about to remove."""
        if not numbers:
            return
        every = set(numbers) | {n for a, b in self.removed() for n in range(a, b + 1)}
        self.dataset().update_config({REMOVED: ",".join(f"{a}-{b}" for a, b in spans(every))})

    def compact(self) -> None:
        """Merge the catalog's fragments, extend its index, and drop its own old Lance versions."""
        ds = self.dataset()
        ds.optimize.compact_files(materialize_deletions=True)
        ds = self.dataset()
        ds.optimize.optimize_indices()
        self.dataset().cleanup_old_versions(older_than=KEEP_CATALOG_VERSIONS, error_if_tagged_old_versions=False)


def spans(numbers) -> list[tuple[int, int]]:
    """Runs of consecutive numbers as (first, last): {1, 2, 3, 7} -> [(1, 3), (7, 7)]."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return [(a, b) for a, b in runs]


def _within(number: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= number <= b for a, b in spans)


def catalog_row(number: int, kind: str, message: str, table_versions: dict[str, int], counts: dict,
                schema_version: int, commit_id: str | None = None, at: datetime | None = None) -> dict:
    return {
        "version": int(number),
        "committed_at": at or datetime.now(timezone.utc),
        "kind": kind,
        "message": message,
        "schema_version": int(schema_version),
        "table_versions": json.dumps(table_versions, sort_keys=True),
        "counts": json.dumps(counts, sort_keys=True),
        "commit_id": commit_id,
    }


def as_version(row: dict, tags: tuple[str, ...] = ()) -> LakeVersion:
    return LakeVersion(
        version=row["version"],
        committed_at=row["committed_at"],
        kind=row["kind"],
        message=row["message"],
        schema_version=row["schema_version"],
        table_versions=json.loads(row["table_versions"]),
        counts=json.loads(row["counts"]),
        tags=tags,
        commit_id=row.get("commit_id"),
    )
