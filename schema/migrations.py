"""Schema migrations: bring a lake written by an older songlake up to tables.SCHEMA_VERSION.

``MIGRATIONS[n]`` takes a lake from schema n-1 to n. Each migration changes tables through
Lance's own schema evolution (adding columns is a metadata change, no data is rewritten) and
returns the table versions it produced; ``migrate`` then records one lake version of kind
'migrate' per step, so the history shows when a lake changed shape and time travel to before
it still works (older table versions are read widened with NULLs).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from typing import TYPE_CHECKING, Callable

import lance
import pyarrow as pa

from songlake.schema import tables
from songlake.schema.catalog import NAME as CATALOG, Catalog, catalog_row

if TYPE_CHECKING:
    from songlake.schema.lake import Lake

log = logging.getLogger(__name__)

Migration = Callable[["Lake"], dict[str, int]]

# The key columns that lookups filter on, each with a BTREE index (schema 6). Fragments written
# after an index was last extended are scanned until the compactor extends it.
INDEXED: dict[str, tuple[str, ...]] = {
    "tracks": ("song_id", "file_sha256"),
    "originals": ("song_id",),
    "analysis": ("song_id",),
    "embeddings": ("song_id",),
    "separations": ("song_id",),
    "stage_runs": ("song_id",),
    "stems": ("song_id",),
    "labels": ("song_id",),
    "splits": ("song_id",),
    "ingest_errors": ("file_sha256",),
    "fingerprints": ("song_id",),
    "fingerprint_index": ("hash",),
    "duplicate_pairs": ("song_a", "song_b"),
    "generations": ("generation_id",),
    "generation_audio": ("generation_id",),
    "adherence": ("generation_id",),
    "votes": ("rater",),
    "generation_copies": ("generation_id",),
}


def _v2(lake: Lake) -> dict[str, int]:
    """Schema 2: the full analysis columns and the genres table."""
    versions = add_columns(lake, "analysis", tables.ANALYSIS_V2_COLUMNS)
    return versions | ensure_table(lake, "genres", tables.GENRES)


def _v3(lake: Lake) -> dict[str, int]:
    """Schema 3: stems, their separations, the pipeline's stage log, and analysis.used_stems."""
    versions = add_columns(lake, "analysis", tables.ANALYSIS_V3_COLUMNS)
    for name in ("stems", "separations", "stage_runs"):
        versions |= ensure_table(lake, name, tables.TABLES[name])
    return versions


def _v4(lake: Lake) -> dict[str, int]:
    """Schema 4: the labels table (human corrections and their history)."""
    return ensure_table(lake, "labels", tables.LABELS)


def _v5(lake: Lake) -> dict[str, int]:
    """Schema 5: the splits table (train / valid / test assignments by artist)."""
    return ensure_table(lake, "splits", tables.SPLITS)


def _v6(lake: Lake) -> dict[str, int]:
    """Schema 6: the catalog with version numbers (converted before this step runs) and BTREE
    indexes on the key columns."""
    return {table: ensure_indexes(lake, table) for table in INDEXED
            if (lake.tables_dir / f"{table}.lance").exists()}  # later schemas' tables index themselves


def _v7(lake: Lake) -> dict[str, int]:
    """Schema 7: analysis.tempo_confidence and beat_confidence. Older rows read them as NULL; their
    failed_stages ('stage: reason') already give the songs view's analysis_failures names."""
    return add_columns(lake, "analysis", tables.ANALYSIS_V7_COLUMNS)


def _v8(lake: Lake) -> dict[str, int]:
    """Schema 8: fingerprints, their inverted index and duplicate pairs (issue 15), indexed. Songs
    already in the lake get their fingerprints from ``songlake duplicates --backfill``."""
    return _new_tables(lake, "fingerprints", "fingerprint_index", "duplicate_pairs")


def _v9(lake: Lake) -> dict[str, int]:
    """Schema 9: splits.moved_for, and the splits made before moved so that no duplicate group
    (with its artists) straddles two splits (schema.split_groups)."""
    from songlake.schema.split_groups import regroup  # it reads the songs view, which imports the gateway

    versions = add_columns(lake, "splits", tables.SPLITS_V9_COLUMNS)
    return versions | regroup(lake)


def _v10(lake: Lake) -> dict[str, int]:
    """Schema 10: generations, their audio and their adherence scores (issue 16), indexed."""
    return _new_tables(lake, "generations", "generation_audio", "adherence")


def _v11(lake: Lake) -> dict[str, int]:
    """Schema 11: A/B listening votes (issue 16), indexed by rater."""
    return _new_tables(lake, "votes")


def _v12(lake: Lake) -> dict[str, int]:
    """Schema 12: adherence's loudness, genre and embedding of each generation, and the
    generation_copies table (issue 16), indexed. Generations added before have NULL there; adding
    them again is skipped (the same audio), so their rows stay as they were; ``songlake
    generations check-copies`` checks them for copies."""
    return add_columns(lake, "adherence", tables.ADHERENCE_V12_COLUMNS) | _new_tables(lake, "generation_copies")


def _new_tables(lake: Lake, *names: str) -> dict[str, int]:
    """New tables, empty, with their key columns indexed; their versions."""
    versions: dict[str, int] = {}
    for name in names:
        ensure_table(lake, name, tables.TABLES[name])
        versions[name] = ensure_indexes(lake, name)
    return versions


MIGRATIONS: dict[int, Migration] = {2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6, 7: _v7, 8: _v8, 9: _v9, 10: _v10,
                                    11: _v11, 12: _v12}


def ensure_indexes(lake: Lake, table: str) -> int:
    """The table's key columns indexed, new fragments folded into existing indexes; its version."""
    ds = lance.dataset(lake.uri(table))
    indexed = {name for i in ds.describe_indices() for name in i.field_names}
    missing = [c for c in INDEXED.get(table, ()) if c not in indexed and c in ds.schema.names]
    for column in missing:
        ds.create_scalar_index(column, index_type="BTREE")
        ds = lance.dataset(lake.uri(table))
    if indexed and not missing:
        ds.optimize.optimize_indices()  # no new version when every fragment is indexed
    return lance.dataset(lake.uri(table)).version


def convert_legacy_catalog(lake: Lake) -> None:
    """Turn a schema 1-5 lake's ``commits`` table into the ``catalog`` (the caller holds the commit
    lock). Version n is the commits table's Lance version n; each row gets the full table versions
    (the newest recorded up to it); versions that optimize removed stay removed; tags carry over."""
    legacy = lance.dataset(lake.uri("commits"))
    readable = {v["version"] for v in legacy.versions()}
    tags = {name: info["version"] for name, info in legacy.tags.list().items()}
    rows, newest = [], {}
    for number, row in enumerate(legacy.to_table().to_pylist(), start=1):
        for table, version in json.loads(row["table_versions"]).items():
            newest[table] = max(version, newest.get(table, 0))
        rows.append(catalog_row(number, row["kind"], row["message"], dict(newest), json.loads(row["counts"]),
                                row["schema_version"], None, at=row["committed_at"]))
    aside = lake.tables_dir / f"{CATALOG}.lance.converting"
    shutil.rmtree(aside, ignore_errors=True)  # from a conversion that was interrupted
    catalog = Catalog.create(str(aside), rows)
    catalog.mark_removed([r["version"] for r in rows if r["version"] not in readable])
    for name, number in tags.items():
        catalog.set_tag(name, number)
    os.replace(aside, lake.tables_dir / f"{CATALOG}.lance")
    shutil.rmtree(lake.uri("commits"), ignore_errors=True)
    log.info("converted the catalog of %s: %d versions, %d tags", lake.root, len(rows), len(tags))


def add_columns(lake: Lake, table: str, fields: list[pa.Field]) -> dict[str, int]:
    """Add all-NULL columns to a table (a metadata-only change); returns {table: new version}."""
    ds = lance.dataset(lake.uri(table))
    new = [f for f in fields if f.name not in ds.schema.names]
    if new:
        ds.add_columns(new)
    return {table: lance.dataset(lake.uri(table)).version}


def create_table(lake: Lake, table: str, schema: pa.Schema) -> dict[str, int]:
    """Create a new empty table; returns {table: its version}."""
    ds = lance.write_dataset(schema.empty_table(), lake.uri(table), schema=schema, mode="create")
    return {table: ds.version}


def ensure_table(lake: Lake, table: str, schema: pa.Schema) -> dict[str, int]:
    """The table, created empty when absent (a migration interrupted before its lake version was
    recorded may have made it already); returns {table: its version}."""
    if (lake.tables_dir / f"{table}.lance").exists():
        return {table: lance.dataset(lake.uri(table)).version}
    return create_table(lake, table, schema)


def migrate(lake: Lake, target: int | None = None) -> list[int]:
    """Run every pending migration up to target; returns the lake versions recorded."""
    target = target or tables.SCHEMA_VERSION
    current = lake.schema_version()  # the caller holds the commit lock: nobody migrates meanwhile
    recorded = []
    for step in range(current + 1, target + 1):
        if step not in MIGRATIONS:
            raise RuntimeError(f"no migration to schema {step}; songlake's MIGRATIONS table is incomplete")
        log.info("migrating %s from schema %d to %d", lake.root, step - 1, step)
        versions = MIGRATIONS[step](lake)
        recorded.append(lake.record("migrate", f"schema {step - 1} -> {step}", versions, {}, schema_version=step))
    return recorded
