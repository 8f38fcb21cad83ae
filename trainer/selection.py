"""The songs a training run or an export uses: a SQL query over the songs view at a pinned lake
version, each song with its split.

The query is any SELECT over the public views that returns a ``song_id`` column (other columns are
ignored; the songs' full rows are read from the ``songs`` view at the same version). The version
is resolved once, from a number, a tag or None (the latest), and everything after reads that
version, so a run can be reproduced from the (lake, version, query, split scheme) it records.

Duplicates: by default only each duplicate group's preferred copy is selected, with the copies a
reviewer labelled 'keep' (sql/duplicates.sql); ``duplicates=True`` selects every copy the query
returns. Either way the splits keep a group on one side, and the manifest says how many copies
were left out (``duplicates_left_out``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from songlake.schema import Lake, QueryError
from songlake.schema.query import connect
from songlake.trainer import splits as split_schemes

DEFAULT_QUERY = "SELECT song_id FROM songs"
# The songs training uses by default: each recording's preferred copy, and copies labelled 'keep'.
TRAINED_COPIES = "SELECT song_id FROM songs WHERE is_preferred_copy OR duplicate_choice = 'keep'"


@dataclass(frozen=True)
class Selection:
    """The selected songs (songs-view rows plus ``split``) and how they were selected."""

    lake: Lake
    version: int
    tag: str | None
    query: str
    split_name: str
    seed: int
    fractions: tuple[float, float, float]
    songs: list[dict] = field(repr=False)
    duplicates: bool = False  # every copy of a recording, not only the preferred ones
    duplicates_left_out: int = 0  # songs the query returned that are not their group's preferred copy

    def counts(self) -> dict[str, int]:
        counts = {"songs": len(self.songs)} | {split: 0 for split in split_schemes.SPLITS}
        for song in self.songs:
            counts[song["split"]] += 1
        return counts

    def of_split(self, split: str) -> list[dict]:
        return [song for song in self.songs if song["split"] == split]

    def manifest(self) -> dict:
        """What reproduces this selection: the lake, its version, the query and the split scheme."""
        return {"lake": str(self.lake.root), "lake_version": self.version, "tag": self.tag, "query": self.query,
                "split": {"name": self.split_name, "seed": self.seed, "fractions": list(self.fractions)},
                "counts": self.counts(), "duplicates": self.duplicates, "duplicates_left_out": self.duplicates_left_out}


def select(lake: Lake | str | Path, query: str = DEFAULT_QUERY, version: int | str | None = None, *,
           split_name: str = "default", seed: int = 0,
           fractions: tuple[float, float, float] = split_schemes.DEFAULT_FRACTIONS,
           duplicates: bool = False) -> Selection:
    """Run the query at the version, assign splits (stored in the lake), return the selection
    (only preferred copies of duplicates unless ``duplicates``)."""
    lake = lake if isinstance(lake, Lake) else Lake.open(lake)
    number = lake.resolve(version)
    tag = version if isinstance(version, str) and not version.lstrip("-").isdigit() else None
    ids = selected_ids(lake, query, number)
    left_out = 0
    if not duplicates:
        kept = set(selected_ids(lake, TRAINED_COPIES, number))
        left_out = sum(sid not in kept for sid in ids)
        ids = [sid for sid in ids if sid in kept]
    assigned = split_schemes.assign(lake, split_name, seed, fractions, version=number)
    songs = _rows(lake, ids, number)
    for song in songs:
        song["split"] = assigned[song["song_id"]]
    return Selection(lake, number, tag, query, split_name, seed, tuple(fractions), songs, duplicates, left_out)


def selected_ids(lake: Lake, query: str, version: int) -> list[str]:
    """The distinct song_ids the query returns, sorted: a query's row order is not stable across
    runs (DuckDB scans in parallel), and a seeded sampler must see the same clips at the same
    indices every time. QueryError when the query cannot run or has no song_id column."""
    text = query.strip().rstrip(";")
    with connect(lake, version) as con:
        try:
            columns = con.sql(f"SELECT * FROM ({text}) LIMIT 0").columns
        except Exception as exc:  # duckdb's errors carry the reason; the query is the user's
            raise QueryError(f"the training query failed: {exc}") from None
        if "song_id" not in columns:
            raise QueryError(f"the training query must return a song_id column (it returns {', '.join(columns)})")
        ids = con.sql(f"SELECT song_id FROM ({text}) WHERE song_id IS NOT NULL").fetchall()
    return sorted({sid for (sid,) in ids})


def _rows(lake: Lake, ids: list[str], version: int) -> list[dict]:
    with connect(lake, version) as con:
        con.register("wanted", pa.table({"song_id": pa.array(ids, pa.string()),
                                         "position": pa.array(range(len(ids)), pa.int64())}))
        table = con.sql(
            "SELECT s.* EXCLUDE (embedding) FROM songs s JOIN wanted w USING (song_id) ORDER BY w.position"
        ).to_arrow_reader(10000).read_all()
    return _plain(table).to_pylist()


def _plain(table: pa.Table) -> pa.Table:
    """Timestamps as ISO text, so rows are plain JSON-able values (and need no pytz)."""
    for i, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            table = table.set_column(i, column.name, table.column(i).cast(pa.string()))
    return table
