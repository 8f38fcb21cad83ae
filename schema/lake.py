"""The gateway to the lake: open or create it, list versions, tag, and open tables at a version.

A lake is a folder::

    LAKE/tables/commits.lance      the catalog: its Lance version is the lake version
    LAKE/tables/<table>.lance      one Lance dataset per table in schema.tables.TABLES

A lake version is a consistent snapshot of every table: the catalog row committed at version N
records which version of each table belongs to it. Writers append their data to the tables first
and the catalog row last, so a crash between the two leaves the new rows invisible to readers of
the lake (the next commit adopts them; the views take each song once, so nothing is doubled).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import lance
import pyarrow as pa

from songlake.schema import tables
from songlake.schema.errors import NotALake, SchemaTooNew, UnknownVersion, LakeError

log = logging.getLogger(__name__)
CATALOG = "commits"


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


class Lake:
    """A lake folder. Cheap to create; every read opens the tables it needs at a version."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.tables_dir = self.root / "tables"

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path, *, create: bool = False, migrate: bool = True) -> "Lake":
        """Open the lake at root; with create=True make it when absent. Older lakes are migrated."""
        lake = cls(root)
        if not lake.exists():
            if not create:
                raise NotALake(f"no songlake lake at {lake.root} (run `songlake ingest` to make one)")
            lake._create()
        found = lake.schema_version()
        if found > tables.SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the lake at {lake.root} has schema version {found}, newer than this songlake "
                f"understands ({tables.SCHEMA_VERSION}); upgrade songlake"
            )
        if found < tables.SCHEMA_VERSION and migrate:
            from songlake.schema.migrations import migrate as run_migrations

            run_migrations(lake)
        return lake

    def exists(self) -> bool:
        return (self.tables_dir / f"{CATALOG}.lance").exists()

    def uri(self, table: str) -> str:
        return str(self.tables_dir / f"{table}.lance")

    def _create(self) -> None:
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        versions = {}
        for name, schema in tables.TABLES.items():
            ds = lance.write_dataset(schema.empty_table(), self.uri(name), schema=schema, mode="create")
            versions[name] = ds.version
        row = _catalog_row("init", f"created lake (schema {tables.SCHEMA_VERSION})", versions, {})
        lance.write_dataset(row, self.uri(CATALOG), schema=tables.COMMITS, mode="create")
        log.info("created lake at %s", self.root)

    # --- versions ------------------------------------------------------------------------

    def catalog(self, version: int | None = None) -> lance.LanceDataset:
        return lance.dataset(self.uri(CATALOG), version=version)

    def version(self) -> int:
        """The latest lake version."""
        return self.catalog().version

    def resolve(self, version: int | str | None) -> int:
        """A lake version number from a number, a tag name, or None (the latest)."""
        if version is None:
            return self.version()
        if isinstance(version, str) and not version.lstrip("-").isdigit():
            tags = self.tags()
            if version not in tags:
                known = ", ".join(sorted(tags)) or "none"
                raise UnknownVersion(f"no tag '{version}' in the lake (tags: {known})")
            return tags[version]
        number = int(version)
        latest = self.version()
        if not 1 <= number <= latest:
            raise UnknownVersion(f"no version {number}: the lake has versions 1 to {latest}")
        return number

    def state(self, version: int | str | None = None) -> LakeVersion:
        """The lake at one version: which table versions belong to it.

        UnknownVersion when there is no such version, or when optimize removed it."""
        number = self.resolve(version)
        try:
            catalog = self.catalog(number)
        except (ValueError, OSError):  # Lance: "Dataset at path ... was not found"
            removed = self._removed(number)
            if removed is None:
                raise
            raise removed from None
        rows = catalog.to_table().to_pylist()
        return _as_version(number, rows[-1], (), _newest_tables(rows))

    def readable_versions(self) -> list[int]:
        """The lake versions that can still be read: all of them, less those optimize removed."""
        return sorted(v["version"] for v in self.catalog().versions())

    def _removed(self, number: int) -> UnknownVersion | None:
        """The error for a lake version that optimize cleaned up; None when it still exists."""
        readable = self.readable_versions()
        if number in readable:
            return None
        return UnknownVersion(
            f"version {number} was removed by optimize, which cleans up untagged versions older than "
            f"its window (versions that can be read: {_ranges(readable)}); tag a version to keep it")

    def schema_version(self) -> int:
        return self.state().schema_version

    def versions(self) -> list[LakeVersion]:
        """The whole history, oldest first, with the tags that point at each version."""
        by_version: dict[int, list[str]] = {}
        for name, number in self.tags().items():
            by_version.setdefault(number, []).append(name)
        history, newest = [], {}
        for i, row in enumerate(self.catalog().to_table().to_pylist()):
            newest = _newest_tables([{"table_versions": json.dumps(newest)}, row])
            history.append(_as_version(i + 1, row, tuple(sorted(by_version.get(i + 1, ()))), newest))
        return history

    def dataset(self, table: str, version: int | str | None = None) -> lance.LanceDataset:
        """One table as it was at a lake version."""
        if table not in tables.TABLES:
            raise LakeError(f"no table '{table}' (tables: {', '.join(tables.TABLES)})")
        state = self.state(version)
        if table not in state.table_versions:
            raise LakeError(f"table '{table}' did not exist yet at lake version {state.version} "
                            f"(schema {state.schema_version})")
        return self.table_at(table, state)

    def table_at(self, table: str, state: LakeVersion) -> lance.LanceDataset:
        """One table at the version a lake state records; UnknownVersion when optimize removed it."""
        try:
            return lance.dataset(self.uri(table), version=state.table_versions[table])
        except (ValueError, OSError) as exc:
            if state.table_versions[table] in {v["version"] for v in lance.dataset(self.uri(table)).versions()}:
                raise
            raise UnknownVersion(
                f"version {state.version} was removed by optimize: its '{table}' table version "
                f"{state.table_versions[table]} was cleaned up") from exc

    # --- tags ----------------------------------------------------------------------------

    def tags(self) -> dict[str, int]:
        return {name: info["version"] for name, info in self.catalog().tags.list().items()}

    def tag(self, name: str, version: int | str | None = None) -> int:
        """Name a lake version. The tag pins every table's version, so cleanup keeps it."""
        if not name or name.isdigit() or not all(c.isalnum() or c in "-_." for c in name):
            raise LakeError(f"tag names are letters, digits, '-', '_' and '.', not all digits: {name!r}")
        if name in self.tags():
            raise LakeError(f"tag '{name}' already exists (at version {self.tags()[name]})")
        state = self.state(version)
        for table, table_version in state.table_versions.items():
            lance.dataset(self.uri(table)).tags.create(name, table_version)
        self.catalog().tags.create(name, state.version)
        return state.version

    # --- committing ----------------------------------------------------------------------

    def commit(self, kind: str, message: str, fragments: dict[str, list], counts: dict[str, int],
               schema_version: int | None = None) -> int:
        """Append written fragments to their tables, then record the lake version. Returns it."""
        versions = dict(self.state().table_versions)
        for table, frags in fragments.items():
            if frags:
                ds = lance.dataset(self.uri(table))
                ds = lance.LanceDataset.commit(self.uri(table), lance.LanceOperation.Append(frags), read_version=ds.version)
                versions[table] = ds.version
        return self.record(kind, message, versions, counts, schema_version)

    def record(self, kind: str, message: str, versions: dict[str, int], counts: dict[str, int],
               schema_version: int | None = None) -> int:
        """Append one catalog row; its Lance version is the new lake version.

        Table versions only grow, so each table's entry is the newer of ours and the latest
        recorded one: a writer that committed after we read the catalog is not hidden."""
        latest = self.state().table_versions
        versions = {t: max(versions.get(t, 0), latest.get(t, 0)) for t in latest.keys() | versions.keys()}
        row = _catalog_row(kind, message, versions, counts, schema_version)
        frags = lance.fragment.write_fragments(row, self.uri(CATALOG), schema=tables.COMMITS)
        ds = lance.LanceDataset.commit(self.uri(CATALOG), lance.LanceOperation.Append(frags), read_version=self.version())
        return ds.version


def _catalog_row(kind: str, message: str, versions: dict[str, int], counts: dict[str, int],
                 schema_version: int | None = None) -> pa.Table:
    return pa.Table.from_pylist([{
        "committed_at": datetime.now(timezone.utc),
        "kind": kind,
        "message": message,
        "schema_version": schema_version or tables.SCHEMA_VERSION,
        "table_versions": json.dumps(versions, sort_keys=True),
        "counts": json.dumps(counts, sort_keys=True),
    }], schema=tables.COMMITS)


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)


def _newest_tables(rows: list[dict]) -> dict[str, int]:
    """Each table's newest version recorded in the catalog rows up to a lake version.

    Writers commit concurrently: one may record its row after another that committed its
    tables later, with older table versions in it. Table versions only grow and each contains
    every earlier one, so the newest recorded version of each table is the consistent answer."""
    newest: dict[str, int] = {}
    for row in rows:
        for table, number in json.loads(row["table_versions"]).items():
            newest[table] = max(number, newest.get(table, 0))
    return newest


def _as_version(number: int, row: dict, tags: tuple[str, ...], table_versions: dict[str, int]) -> LakeVersion:
    return LakeVersion(
        version=number,
        committed_at=row["committed_at"],
        kind=row["kind"],
        message=row["message"],
        schema_version=row["schema_version"],
        table_versions=table_versions,
        counts=json.loads(row["counts"]),
        tags=tags,
    )
