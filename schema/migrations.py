"""Schema migrations: bring a lake written by an older songlake up to tables.SCHEMA_VERSION.

``MIGRATIONS[n]`` takes a lake from schema n-1 to n. Each migration changes tables through
Lance's own schema evolution (adding columns is a metadata change, no data is rewritten) and
returns the table versions it produced; ``migrate`` then records one lake version of kind
'migrate' per step, so the history shows when a lake changed shape and time travel to before
it still works (older table versions are read widened with NULLs).
"""

from __future__ import annotations

import logging
from typing import Callable

import lance
import pyarrow as pa

from songlake.schema import tables
from songlake.schema.lake import Lake

log = logging.getLogger(__name__)

Migration = Callable[[Lake], dict[str, int]]


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


MIGRATIONS: dict[int, Migration] = {2: _v2, 3: _v3, 4: _v4, 5: _v5}


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
    current = lake.schema_version()
    recorded = []
    for step in range(current + 1, target + 1):
        if step not in MIGRATIONS:
            raise RuntimeError(f"no migration to schema {step}; songlake's MIGRATIONS table is incomplete")
        log.info("migrating %s from schema %d to %d", lake.root, step - 1, step)
        versions = MIGRATIONS[step](lake)
        recorded.append(lake.record("migrate", f"schema {step - 1} -> {step}", versions, {}, schema_version=step))
    return recorded
