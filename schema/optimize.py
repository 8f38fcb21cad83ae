"""Keeping a lake small and fast: compact fragments, drop superseded rows, clean up old versions.

Every commit appends fragments, so a busy lake ends up with thousands of small files, and every
genre refit appends a row per song that supersedes the last. ``optimize``:

1. drops the superseded ``genres`` rows (the newest row per song is kept: latest
   ``predicted_at``, then the one written last), which no view reads;
2. compacts every table's small fragments with Lance's compaction (insertion order is kept, so
   the stems' runs of parts stay in order), and indexes the columns that readers filter on
   (``stems.song_id``: every stem read looks up one song's parts);
3. records one lake version of kind ``optimize`` with the tables it changed;
4. with ``cleanup``, removes the lake versions older than ``older_than``, except tagged ones and
   the latest, together with every table version that no remaining lake version needs, and the
   data files only they used. Removed versions can no longer be read: ``Lake.state`` says so.

``compact_small`` is the part that runs by itself: the job pipeline calls it after its commits,
and it merges a table's small fragments once there are ``AUTO_COMPACT`` of them and extends
the key indexes over them (schema.migrations.INDEXED). It takes its own lock, not the commit
lock, and Lance resolves its rewrites against concurrent appends, so writers never wait for it.

Lance resolves compaction and deletion against concurrent appends, so workers may keep
committing while optimize runs. Table versions younger than ``older_than`` are never removed, so
a writer between its table commit and its catalog row loses nothing as long as the window is
longer than a commit takes: use ``older_than=timedelta(0)`` only when no writer runs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime, timedelta, timezone

import lance

from songlake.schema import tables
from songlake.schema._commit import COMPACT_LOCK
from songlake.schema.catalog import NAME as CATALOG
from songlake.schema.lake import Lake
from songlake.schema.migrations import ensure_indexes

log = logging.getLogger(__name__)

# Rows per fragment after compaction. Lance's compaction rewrites every fragment smaller than
# the target, so the target bounds what one compaction rewrites: with a million rows the one
# big fragment would be rewritten each time (a cost that grows with the collection); at 8,192
# rows a compaction rewrites at most a few MB of the small-row tables, and a table of 100,000
# songs has about a dozen fragments. The blob tables (an original file, a 30 s stem part per
# row) are sized in bytes instead: the background compaction merges their fragments smaller
# than half of BLOB_TARGET_BYTES into fragments of about BLOB_TARGET_BYTES, so a collection of
# real songs gets fragments of ~256 MB and few-kB test files do not make thousands of fragments.
TARGET_ROWS = {"originals": 64, "stems": 256}  # for optimize's full compaction
DEFAULT_TARGET = 8192
BLOB_TARGET_BYTES = 256 << 20
AUTO_COMPACT = 16  # small fragments in one table before compact_small merges them
_DELETE_CHUNK = 5000  # row ids per delete predicate


@dataclass
class OptimizeReport:
    compacted: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> fragments before, after
    removed_versions: dict[str, int] = field(default_factory=dict)  # table (and 'commits') -> versions removed
    bytes_removed: int = 0
    genres_dropped: int = 0
    version: int | None = None  # the lake version recorded; None when nothing changed


def optimize(lake: Lake, older_than: timedelta = timedelta(days=7), cleanup: bool = True) -> OptimizeReport:
    """Compact, deduplicate genres, record one 'optimize' lake version, then clean up old versions."""
    if older_than < timedelta(0):
        raise ValueError(f"older_than is an age, not {older_than}")
    report = OptimizeReport()
    before = {name: _fragments(lake, name) for name in tables.TABLES}
    recorded = lake.state().table_versions
    versions = {}
    report.genres_dropped = drop_superseded_genres(lake)
    for name in tables.TABLES:
        ds = lance.dataset(lake.uri(name))
        if len(ds.get_fragments()) > 1 or _has_deletions(ds):
            ds.optimize.compact_files(target_rows_per_fragment=TARGET_ROWS.get(name), materialize_deletions=True)
        ensure_indexes(lake, name)
        after = lance.dataset(lake.uri(name))
        report.compacted[name] = (before[name], len(after.get_fragments()))
        if after.version != recorded.get(name):  # compacted, deduplicated (or adopted a crashed commit)
            versions[name] = after.version
    if versions:
        shrunk = {n: f"{a}->{b}" for n, (a, b) in report.compacted.items() if a != b}
        message = f"compacted {', '.join(f'{n} {c}' for n, c in shrunk.items()) or 'nothing'}; " \
                  f"dropped {report.genres_dropped} superseded genre rows"
        report.version = lake.record("optimize", message, versions, {"genres_dropped": report.genres_dropped})
    if cleanup:
        report.removed_versions, report.bytes_removed = cleanup_versions(lake, older_than)
    log.info("optimize %s: %s", lake.root, report)
    return report


def drop_superseded_genres(lake: Lake) -> int:
    """Delete every genres row but the newest per song; returns how many were deleted.

    Each refit writes one row per song with one timestamp, so rows older than the oldest of the
    songs' newest rows are all superseded: one predicate deletes them. What is left (a song
    refitted twice since, ties) goes by row id."""
    ds = lance.dataset(lake.uri("genres"))
    table = ds.to_table(columns=["song_id", "predicted_at"], with_row_id=True)
    songs = table.column("song_id").to_pylist()
    times = table.column("predicted_at").to_pylist()
    ids = table.column("_rowid").to_pylist()
    newest: dict[str, int] = {}  # song -> index of its newest row; scan order breaks ties (later wins)
    for i, (song, at) in enumerate(zip(songs, times)):
        j = newest.get(song)
        if j is None or at is not None and (times[j] is None or at >= times[j]):
            newest[song] = i
    dropped = len(songs) - len(newest)
    if not dropped:
        return 0
    dated = [times[i] for i in newest.values() if times[i] is not None]
    cutoff = min(dated) if dated else None
    if cutoff is not None:
        ds.delete(f"predicted_at < TIMESTAMP '{cutoff.astimezone(timezone.utc).isoformat()}'")
    keep = set(newest.values())
    rest = [ids[i] for i in range(len(ids)) if i not in keep and not (cutoff and times[i] and times[i] < cutoff)]
    for start in range(0, len(rest), _DELETE_CHUNK):
        lance.dataset(lake.uri("genres")).delete(f"_rowid IN ({', '.join(map(str, rest[start:start + _DELETE_CHUNK]))})")
    return dropped


def compact_small(lake: Lake, threshold: int = AUTO_COMPACT) -> dict[str, tuple[int, int]]:
    """Merge the small fragments of every table that has ``threshold`` of them, and extend its
    indexes over the result; {table: (fragments before, after)} for the tables merged. Returns {}
    at once when another process is compacting. Records no lake version: the rows are the same,
    and the next commit records the compacted table versions."""
    merged: dict[str, tuple[int, int]] = {}
    with lake.staging.lock(COMPACT_LOCK, wait=False) as got:
        if not got:
            return merged
        known = lake.known_versions()  # opened at a known version: nothing lists a table's history
        made = {}
        for name in tables.TABLES:
            if name not in known:
                continue
            ds = lance.dataset(lake.uri(name), version=known[name])
            fragments = ds.get_fragments()
            if name in tables.BLOB_TABLES:
                target, small = _blob_target(lake.uri(name), fragments)
            else:
                target = DEFAULT_TARGET
                small = sum(f.metadata.physical_rows < target // 2 for f in fragments)
            if small < threshold:
                continue
            ds.optimize.compact_files(target_rows_per_fragment=target, materialize_deletions=False)
            made[name] = ensure_indexes(lake, name)
            merged[name] = (len(fragments), len(lance.dataset(lake.uri(name), version=made[name]).get_fragments()))
        lake.staging.note_compacted(made)
    if merged:
        log.info("compacted %s", ", ".join(f"{n} {a}->{b}" for n, (a, b) in merged.items()))
    return merged


_BYTES: dict[str, int] = {}  # data file -> bytes with its blobs (data files never change)


def _blob_target(uri: str, fragments: list) -> tuple[int, int]:
    """(rows per merged fragment for about BLOB_TARGET_BYTES, fragments smaller than half that)
    for a blob table, from the sizes of its fragments' files (blobs live in a folder beside each
    data file)."""
    small_rows = small_bytes = small = 0
    for fragment in fragments:
        size = sum(_file_bytes(uri, f) for f in fragment.metadata.files)
        if size < BLOB_TARGET_BYTES // 2:
            small, small_rows, small_bytes = small + 1, small_rows + fragment.metadata.physical_rows, small_bytes + size
    if not small_rows:
        return 1, 0
    return max(1, int(BLOB_TARGET_BYTES * small_rows / max(small_bytes, 1))), small


def _file_bytes(uri: str, data_file) -> int:
    key = f"{uri}/data/{data_file.path}"
    if key not in _BYTES:
        size = data_file.file_size_bytes or 0
        beside = Path(uri) / "data" / Path(data_file.path).stem
        if beside.is_dir():
            size += sum(entry.stat().st_size for entry in os.scandir(beside) if entry.is_file())
        _BYTES[key] = size
    return _BYTES[key]


def fragment_counts(lake: Lake) -> dict[str, int]:
    """Fragments per table at the newest table versions, the catalog included."""
    counts = {name: _fragments(lake, name) for name in tables.TABLES}
    counts[CATALOG] = len(lake.catalog.dataset().get_fragments())
    return counts


def cleanup_versions(lake: Lake, older_than: timedelta) -> tuple[dict[str, int], int]:
    """Remove lake versions older than older_than (not tagged, not the latest) and the table
    versions no remaining lake version needs; returns (versions removed per table, bytes freed)."""
    now_utc, now_local = datetime.now(timezone.utc), datetime.now()  # Lance reports naive local times
    with lake.staging.lock():  # no commit meanwhile: the newest version is the one kept
        history = lake.versions()
        latest = history[-1].version
        readable = set(lake.readable_versions())
        kept = [v for v in history if v.version in readable
                and (v.version == latest or v.tags or v.committed_at >= now_utc - older_than)]
        dropped = sorted(readable - {v.version for v in kept})
        lake.catalog.mark_removed(dropped)
    needed: dict[str, set[int]] = {}
    for state in kept:
        for name, number in state.table_versions.items():
            needed.setdefault(name, set()).add(number)
    removed, freed = {}, 0
    for name in tables.TABLES:
        ds = lance.dataset(lake.uri(name))
        old = [v["version"] for v in ds.versions() if v["version"] != ds.version
               and v["version"] not in needed.get(name, ()) and v["timestamp"] < now_local - older_than]
        removed[name], bytes_ = _cleanup(ds, old)
        freed += bytes_
    removed[CATALOG] = len(dropped)
    lake.catalog.compact()
    bytes_ = 0
    if dropped:
        log.info("removed lake versions %s", dropped)
    return removed, freed + bytes_


def _cleanup(ds: lance.LanceDataset, versions: list[int]) -> tuple[int, int]:
    if not versions:
        return 0, 0
    stats = ds.cleanup_old_versions(versions=versions, error_if_tagged_old_versions=False)
    return stats.old_versions, stats.bytes_removed


def _fragments(lake: Lake, name: str) -> int:
    return len(lance.dataset(lake.uri(name)).get_fragments())


def _has_deletions(ds: lance.LanceDataset) -> bool:
    return any(f.metadata.deletion_file is not None for f in ds.get_fragments())
