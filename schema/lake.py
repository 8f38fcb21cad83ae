"""The gateway to the lake: open or create it, list versions, tag, open tables at a version, commit.

A lake is a folder::

    LAKE/tables/catalog.lance      the history: one row per lake version (schema.catalog)
    LAKE/tables/<table>.lance      one Lance dataset per table in schema.tables.TABLES
    LAKE/tables/_staged/           fragment sets waiting for a committer, and its lock (schema._commit)

A lake version is a consistent snapshot of every table: its catalog row records which Lance
version of each table belongs to it. Writers append their rows to fragment files first, which
nobody sees; a commit appends them to their tables and then records the catalog row, under the
lake's commit lock, so versions are numbered 1, 2, 3 ... with no gaps and no races.

Two ways to commit:

- ``commit()``: now, as one version (a label, a split, an upload's refusals, a migration);
- ``stage()`` then ``commit_staged()``: the distributed write. Many workers stage fragment sets;
  whichever process next holds the lock commits all of them as one version. The job pipeline
  commits at most one version every few seconds this way, however many workers write.

Every read costs the same at any age of the lake: the latest version is the catalog's last row,
any other version one indexed lookup, and a table at a version opens its manifest directly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import lance

from songlake.schema import migrations, tables
from songlake.schema._commit import PROPERTY, Intent, Staging, new_commit_id
from songlake.schema.catalog import NAME as CATALOG, Catalog, LakeVersion, catalog_row, spans
from songlake.schema.errors import LakeError, NotALake, SchemaTooNew, UnknownVersion

log = logging.getLogger(__name__)
LEGACY_CATALOG = "commits"  # schema 1-5: the catalog's Lance version was the lake version

__all__ = ["CATALOG", "Lake", "LakeVersion"]


class Lake:
    """A lake folder. Cheap to create; every read opens the tables it needs at a version."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.tables_dir = self.root / "tables"
        self.catalog = Catalog(self.uri(CATALOG))
        self.staging = Staging(self.tables_dir)

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path, *, create: bool = False, migrate: bool = True) -> "Lake":
        """Open the lake at root; with create=True make it when absent. Older lakes are migrated."""
        lake = cls(root)
        if not lake.exists():
            if not create:
                raise NotALake(f"no songlake lake at {lake.root} (run `songlake ingest` to make one)")
            lake._create()
        if not lake._has_catalog():
            if not migrate:
                raise LakeError(f"the lake at {lake.root} predates schema 6 and must be migrated: open it with "
                                "a songlake that may write to it")
            with lake.staging.lock():
                if not lake._has_catalog():  # another process may have converted it meanwhile
                    migrations.convert_legacy_catalog(lake)
        found = lake.schema_version()
        if found > tables.SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the lake at {lake.root} has schema version {found}, newer than this songlake "
                f"understands ({tables.SCHEMA_VERSION}); upgrade songlake"
            )
        if found < tables.SCHEMA_VERSION and migrate:
            with lake.staging.lock():
                migrations.migrate(lake)  # a no-op when another process migrated it meanwhile
        return lake

    def exists(self) -> bool:
        return self._has_catalog() or (self.tables_dir / f"{LEGACY_CATALOG}.lance").exists()

    def _has_catalog(self) -> bool:
        return (self.tables_dir / f"{CATALOG}.lance").exists()

    def uri(self, table: str) -> str:
        return str(self.tables_dir / f"{table}.lance")

    def _create(self) -> None:
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        versions = {}
        for name, schema in tables.TABLES.items():
            lance.write_dataset(schema.empty_table(), self.uri(name), schema=schema, mode="create")
            versions[name] = migrations.ensure_indexes(self, name)
        Catalog.create(self.uri(CATALOG), [catalog_row(1, "init", f"created lake (schema {tables.SCHEMA_VERSION})",
                                                        versions, {}, tables.SCHEMA_VERSION)])
        log.info("created lake at %s", self.root)

    # --- versions ------------------------------------------------------------------------

    def head(self) -> LakeVersion:
        """The latest lake version (without its tags)."""
        return self.catalog.head()

    def version(self) -> int:
        """The latest lake version."""
        return self.head().version

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
        if version is None:
            return self.head()
        number = self.resolve(version)
        found = self.catalog.row(number)
        if found is None or self.catalog.is_removed(number):
            raise self._removed(number)
        return found

    def readable_versions(self) -> list[int]:
        """The lake versions that can still be read: all of them, less those optimize removed."""
        return self.catalog.numbers()

    def _removed(self, number: int) -> UnknownVersion:
        return UnknownVersion(
            f"version {number} was removed by optimize, which cleans up untagged versions older than "
            f"its window (versions that can be read: {_ranges(self.readable_versions())}); tag a version to keep it")

    def schema_version(self) -> int:
        return self.head().schema_version

    def versions(self) -> list[LakeVersion]:
        """The whole history, oldest first, with the tags that point at each version. Reads every
        catalog row: use ``history`` for the newest few."""
        return self._tagged(self.catalog.all())

    def history(self, limit: int = 20, before: int | None = None) -> list[LakeVersion]:
        """Up to limit versions, newest first (older than ``before`` when given), with their tags."""
        return self._tagged(self.catalog.page(limit, before))

    def _tagged(self, versions: list[LakeVersion]) -> list[LakeVersion]:
        by_version: dict[int, list[str]] = {}
        for name, number in self.tags().items():
            by_version.setdefault(number, []).append(name)
        return [LakeVersion(**{**v.__dict__, "tags": tuple(sorted(by_version.get(v.version, ())))}) for v in versions]

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
        return self.catalog.tags()

    def tag(self, name: str, version: int | str | None = None) -> int:
        """Name a lake version. The tag pins every table's version, so cleanup keeps it."""
        if not name or name.isdigit() or not all(c.isalnum() or c in "-_." for c in name):
            raise LakeError(f"tag names are letters, digits, '-', '_' and '.', not all digits: {name!r}")
        with self.staging.lock():
            tags = self.tags()
            if name in tags:
                raise LakeError(f"tag '{name}' already exists (at version {tags[name]})")
            state = self.state(version)
            for table, table_version in state.table_versions.items():
                ds = lance.dataset(self.uri(table))
                if name not in ds.tags.list():
                    ds.tags.create(name, table_version)
            self.catalog.set_tag(name, state.version)
        return state.version

    # --- committing ----------------------------------------------------------------------

    def commit(self, kind: str, message: str, fragments: dict[str, list], counts: dict[str, int],
               schema_version: int | None = None) -> int:
        """Append written fragments to their tables and record one lake version, now. Returns it."""
        with self.staging.lock():
            commit_id = new_commit_id()
            versions = self.known_versions()
            for table, frags in fragments.items():
                if frags:
                    versions[table] = _append(self.uri(table), frags, commit_id, versions.get(table))
            return self._record(kind, message, counts, schema_version, commit_id, versions)

    def record(self, kind: str, message: str, versions: dict[str, int] | None = None,
               counts: dict[str, int] | None = None, schema_version: int | None = None) -> int:
        """Record a lake version of the tables as they are now (after a migration or optimize
        changed them in place): each table's newest version, which contains ``versions``."""
        with self.staging.lock():
            newest = {name: lance.dataset(self.uri(name)).version for name in tables.TABLES
                      if (self.tables_dir / f"{name}.lance").exists()}
            return self._record(kind, message, counts or {}, schema_version, new_commit_id(), newest)

    def known_versions(self) -> dict[str, int]:
        """Each table's newest version that songlake knows of without listing its history: the
        newest lake version's, or a newer one the background compaction noted."""
        versions = dict(self.head().table_versions)
        for table, number in self.staging.compacted().items():
            versions[table] = max(number, versions.get(table, 0))
        return versions

    def _record(self, kind: str, message: str, counts: dict, schema_version: int | None, commit_id: str,
                versions: dict[str, int]) -> int:
        """The catalog row for the given table versions (the caller holds the commit lock). Table
        versions only grow and each contains the ones before, so the newest of ours, the head's
        and the compaction's is recorded for every table."""
        head = self.head()
        merged = dict(head.table_versions)
        for table, number in [*self.staging.compacted().items(), *versions.items()]:
            merged[table] = max(number, merged.get(table, 0))
        number = head.version + 1
        self.catalog.append(catalog_row(number, kind, message, merged, counts,
                                        schema_version or head.schema_version, commit_id))
        return number

    def stage(self, kind: str, message: str, fragments: dict[str, list], counts: dict[str, int],
              meta: dict | None = None) -> str | None:
        """Stage written fragments for the next committer; returns the set's id (None: nothing to stage).
        ``meta`` (JSON) comes back to the committer's ``on_committed`` once the set is visible."""
        if not any(fragments.values()) and not meta:
            return None
        return self.staging.put(kind, message, fragments, counts, meta or {})

    def commit_staged(self, *, wait: bool = False, min_age: float = 0.0, max_sets: int = 10_000,
                      on_committed: Callable[[int, list[dict]], None] | None = None) -> int | None:
        """Commit every staged set as one lake version, if this process gets the commit lock.

        wait=False returns None at once when another committer holds the lock; min_age leaves
        the sets alone until the oldest has waited that long (so a burst of small tasks makes one
        version). A commit another committer left half done is finished first. on_committed gets
        the new version and the sets' metas. Returns the version, or None when nothing was committed."""
        with self.staging.lock(wait=wait) as got:
            if not got:
                return None
            recovered = self.staging.intent()
            version = self._finish(recovered, on_committed, recovering=True) if recovered else None
            ids = self.staging.ids()
            age = self.staging.oldest_age()
            if not ids or (age is not None and age < min_age):
                return version
            sets = [s for s in map(self.staging.load, ids[:max_sets]) if s is not None]
            fragments: dict[str, list[str]] = {}
            counts: dict[str, int] = {}
            for s in sets:
                for table, frags in s.fragments.items():
                    fragments.setdefault(table, []).extend(frags)
                for key, n in s.counts.items():
                    counts[key] = counts.get(key, 0) + n
            known = self.known_versions()
            base = {t: known.get(t, 0) for t in fragments}
            kind, message = _summary(sets)
            intent = Intent(new_commit_id(), kind, message, fragments, counts, [s.meta for s in sets], base)
            self.staging.write_intent(intent)
            self.staging.drop([s.id for s in sets])
            return self._finish(intent, on_committed, recovering=False)

    def _finish(self, intent: Intent, on_committed, recovering: bool) -> int:
        """Steps 2-4 of a commit (see schema._commit); each is skipped when it already happened."""
        versions: dict[str, int] = {}
        for table, frags in intent.fragment_metadata().items():
            landed = _landed(self.uri(table), intent.commit_id, intent.base.get(table, 0)) if recovering else None
            if landed is None:
                versions[table] = _append(self.uri(table), frags, intent.commit_id, intent.base.get(table))
            else:
                versions[table] = landed
        head = self.head()
        if head.commit_id == intent.commit_id or not intent.fragments:  # recorded already, or nothing to record
            version = head.version
        else:
            version = self._record(intent.kind, intent.message, intent.counts, None, intent.commit_id, versions)
        if recovering:
            log.warning("finished commit %s that a committer left half done: lake version %d", intent.commit_id, version)
        if on_committed is not None:
            on_committed(version, intent.metas)
        self.staging.clear_intent()
        return version

    def pending(self) -> int:
        """Staged sets waiting for a committer."""
        return len(self.staging.ids()) + (1 if self.staging.intent() else 0)


def _append(uri: str, fragments: list, commit_id: str, read_version: int | None) -> int:
    """Append fragments as one transaction carrying the commit id; the table's new version.

    read_version is the newest version the committer knows of, so nothing lists the table's
    history: Lance writes the next version, and should a background compaction have committed
    meanwhile, it rebases the append onto it (an append and a rewrite do not conflict)."""
    if read_version is None:
        read_version = lance.dataset(uri).version
    transaction = lance.Transaction(read_version, lance.LanceOperation.Append(fragments),
                                    transaction_properties={PROPERTY: commit_id})
    return lance.LanceDataset.commit(uri, transaction).version


def _landed(uri: str, commit_id: str, base: int) -> int | None:
    """The version of a table whose transaction carries commit_id, after version base; None if
    there is none (recovery only: this reads the table's history since base)."""
    ds = lance.dataset(uri)
    for number in range(base + 1, ds.version + 1):
        transaction = ds.read_transaction(number)
        if transaction is not None and (transaction.transaction_properties or {}).get(PROPERTY) == commit_id:
            return ds.version
    return None


def _summary(sets: list) -> tuple[str, str]:
    """One kind and message for the sets committed together."""
    kinds = sorted({s.kind for s in sets})
    if len(sets) == 1:
        return sets[0].kind, sets[0].message
    by_kind: dict[str, int] = {}
    for s in sets:
        by_kind[s.kind] = by_kind.get(s.kind, 0) + 1
    parts = ", ".join(f"{kind} x{n}" for kind, n in sorted(by_kind.items()))
    return "+".join(kinds), f"{len(sets)} batches ({parts})"


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'."""
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans(numbers))

