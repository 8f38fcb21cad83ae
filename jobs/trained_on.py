"""The songs a model was trained on, from the lineage a generation records (``trained_on``: lake,
lake_version, tag, query; see jobs/generations.py), where this lake can say.

``training_set(lake, trained_on) -> TrainingSet``: the song ids the query gives at the recorded
version (a tag stands for its version; with no query, every song at that version; with no
version, the query at the newest version). ``song_ids`` is None, and ``detail`` says why, when
the lineage is not recorded, names another lake, a version this lake no longer has (optimize
removed it), or a query that fails there: callers then compare with the whole lake and say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from songlake.schema import Lake, QueryError, Reader, UnknownVersion

ALL_SONGS = "SELECT song_id FROM songs"


@dataclass(frozen=True)
class TrainingSet:
    song_ids: frozenset[str] | None  # None: not known here, so the whole lake stands in
    detail: str  # how the songs were found, or why they could not be

    @property
    def scope(self) -> str:
        """'trained_on' (the recorded training songs) or 'lake' (every song in the lake)."""
        return "lake" if self.song_ids is None else "trained_on"


def training_set(lake: Lake, trained_on: Mapping | None) -> TrainingSet:
    """The songs a model was trained on, or None with the reason (see the module docstring)."""
    trained_on = trained_on or {}
    version, tag, query = trained_on.get("lake_version"), trained_on.get("tag"), trained_on.get("query")
    if version is None and tag is None and not query:
        return TrainingSet(None, "trained_on not recorded: compared with the whole lake")
    named = trained_on.get("lake")
    if named and not _same_lake(named, lake):
        return TrainingSet(None, f"trained on another lake ({named}): compared with the whole lake")
    at = version if version is not None else tag
    try:
        reader = Reader(lake, at) if at is not None else Reader.shared(lake)
    except (UnknownVersion, KeyError, ValueError) as exc:
        return TrainingSet(None, f"lake version {at} cannot be read here ({exc}): compared with the whole lake")
    where = f"lake version {reader.version}" if at is not None else f"the newest lake version ({reader.version}; " \
                                                                       "no version recorded)"
    try:
        found = reader.run(query or ALL_SONGS)
    except QueryError as exc:
        return TrainingSet(None, f"the trained_on query fails at {where} ({exc}): compared with the whole lake")
    if "song_id" not in found.column_names:
        return TrainingSet(None, "the trained_on query returns no song_id column: compared with the whole lake")
    ids = frozenset(sid for sid in found.column("song_id").to_pylist() if sid is not None)
    what = "the trained_on query" if query else "every song"
    return TrainingSet(ids, f"{what} at {where}: {len(ids)} songs")


def _same_lake(named, lake: Lake) -> bool:
    if not isinstance(named, str):
        return False
    try:
        return Path(named).expanduser().resolve() == Path(lake.root).resolve()
    except (OSError, RuntimeError):
        return False
