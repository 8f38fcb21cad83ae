"""Rows by key: a table's rows for some song_ids (or file hashes), through its BTREE index.

Lance answers ``song_id IN (...)`` from the index for the fragments it covers and scans only the
fragments written since (the compactor folds those in), so a lookup costs the same in a lake
of 1,000 songs as in one of 100,000. The job pipeline uses these instead of SQL over the whole
``songs`` view, which would join every table for every task.
"""

from __future__ import annotations

from typing import Iterable

import lance
import pyarrow as pa

from songlake.schema.lake import Lake, LakeVersion

_CHUNK = 512  # keys per IN list


def table_at(lake: Lake, table: str, state: LakeVersion | None = None) -> lance.LanceDataset | None:
    """A table at a lake state (the newest when None); None when the table did not exist then."""
    state = state or lake.head()
    return lake.table_at(table, state) if table in state.table_versions else None


def by_key(ds: lance.LanceDataset | None, column: str, keys: Iterable[str | int], columns: list[str] | None = None,
           *, with_row_id: bool = False) -> pa.Table | None:
    """The rows of ds whose column is one of keys (all matching rows, in table order)."""
    keys = list(dict.fromkeys(k for k in keys if k is not None))
    if ds is None or not keys:
        return None
    parts = []
    for start in range(0, len(keys), _CHUNK):
        chunk = ", ".join(_literal(k) for k in keys[start:start + _CHUNK])
        parts.append(ds.to_table(columns=columns, filter=f"{column} IN ({chunk})", with_row_id=with_row_id))
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def newest(lake: Lake, table: str, song_ids: Iterable[str], columns: list[str], order_by: list[str],
           state: LakeVersion | None = None) -> dict[str, dict]:
    """Each song's newest row of a table: the greatest by order_by (None sorts first), later rows
    winning ties; songs without a row are absent."""
    found = by_key(table_at(lake, table, state), "song_id", song_ids, list(dict.fromkeys(["song_id", *columns, *order_by])))
    best: dict[str, dict] = {}
    if found is None:
        return best
    for row in found.to_pylist():
        key = tuple((row[c] is not None, row[c]) for c in order_by)
        held = best.get(row["song_id"])
        if held is None or key >= tuple((held[c] is not None, held[c]) for c in order_by):
            best[row["song_id"]] = row
    return best


def tracks(lake: Lake, song_ids: Iterable[str], columns: list[str], state: LakeVersion | None = None) -> dict[str, dict]:
    """Each song's first ingested track row (the one the songs view shows); absent songs are missing."""
    found = by_key(table_at(lake, "tracks", state), "song_id", song_ids,
                   list(dict.fromkeys(["song_id", "ingested_at", "file_sha256", *columns])))
    rows: dict[str, dict] = {}
    for row in ([] if found is None else found.to_pylist()):
        held = rows.get(row["song_id"])
        if held is None or (row["ingested_at"] is not None and (held["ingested_at"] is None or (
                row["ingested_at"], row["file_sha256"]) < (held["ingested_at"], held["file_sha256"]))):
            rows[row["song_id"]] = row
    return rows


def song_ids_of_files(lake: Lake, shas: Iterable[str], state: LakeVersion | None = None) -> dict[str, str]:
    """{file_sha256: song_id} for the files already in the lake."""
    found = by_key(table_at(lake, "tracks", state), "file_sha256", shas, ["file_sha256", "song_id"])
    return {} if found is None else dict(zip(found.column("file_sha256").to_pylist(), found.column("song_id").to_pylist()))


def present(lake: Lake, song_ids: Iterable[str], state: LakeVersion | None = None) -> set[str]:
    """The song_ids that the lake has."""
    found = by_key(table_at(lake, "tracks", state), "song_id", song_ids, ["song_id"])
    return set() if found is None else set(found.column("song_id").to_pylist())


def originals(lake: Lake, song_ids: Iterable[str], state: LakeVersion | None = None) -> dict[str, bytes]:
    """The original files' bytes of some songs, read as Lance blobs (the first copy of each)."""
    return blobs(lake, "originals", "song_id", song_ids, state)


def blobs(lake: Lake, table: str, column: str, keys: Iterable[str], state: LakeVersion | None = None
          ) -> dict[str, bytes]:
    """The ``data`` blobs of a blob table (originals, generation_audio) for some keys, through
    the key's index (the first row of each key); keys the table lacks are left out."""
    ds = table_at(lake, table, state)
    found = by_key(ds, column, keys, [column], with_row_id=True)
    if found is None:
        return {}
    first: dict[str, int] = {}
    for key, row_id in zip(found.column(column).to_pylist(), found.column("_rowid").to_pylist()):
        first.setdefault(key, row_id)
    return {key: blob.read() for key, blob in zip(first, ds.take_blobs("data", ids=list(first.values())))}


def _literal(value: str | int) -> str:
    if isinstance(value, int) and not isinstance(value, bool):  # an integer key (fingerprint_index.hash)
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"
