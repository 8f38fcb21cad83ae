"""Reviewing duplicates (issue 15): the pairs sql/duplicates.sql found, for a person to judge.

GET /duplicates lists the pairs (the newest finding of each, from the ``duplicates`` view through
the snapshot), paged, the least reviewed first (pairs where neither copy carries a
``duplicate_choice`` label, then one, then both; newest first within each) or simply the newest
first. GET /duplicates/{song_a}/{song_b} is one pair. Each pair says which copy its group
prefers and why (the first rule of ``duplicate_groups`` on which the two differ).

A choice is written the way every label is: PATCH /songs/{song_id}/labels with
``{"labels": {"duplicate_choice": "keep" | "drop" | "preferred" | null}}`` and a token; the label
keeps the token's name and the time, and nothing is deleted (a drop leaves the song out of
training, that is all).
"""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.params import Parameter

from songlake.server.auth import require_reader
from songlake.server.deps import SnapshotDep
from songlake.server.errors import NotFound
from songlake.server.snapshot import Snapshot

PAGE_SIZE = 50
MAX_PAGE = 1_000_000  # pages past any collection's end stay far inside DuckDB's OFFSET range (400 beyond)
LOSSLESS = ("flac", "wav")

# One row per pair with both copies' facts; $1 and $2 pick one pair (or NULL, NULL for all).
PAIRS_QUERY = """
SELECT d.song_a, d.song_b, d.kind, d.score, d.offset_seconds, d.shared_seconds, d.speed, d.found_at,
       ga.duplicate_group, ga.group_size,
       ga.is_preferred_copy AS a_is_preferred, ga.duplicate_choice AS a_choice,
       gb.is_preferred_copy AS b_is_preferred, gb.duplicate_choice AS b_choice,
       (ga.duplicate_choice IS NOT NULL)::INT + (gb.duplicate_choice IS NOT NULL)::INT AS choices,
       sa.filename AS a_filename, sa.format AS a_format, sa.bitrate_kbps AS a_bitrate_kbps,
       sa.duration AS a_duration, sa.bandwidth_hz AS a_bandwidth_hz, sa.suspected_transcode AS a_transcode,
       sa.quality_flags AS a_quality_flags,
       sb.filename AS b_filename, sb.format AS b_format, sb.bitrate_kbps AS b_bitrate_kbps,
       sb.duration AS b_duration, sb.bandwidth_hz AS b_bandwidth_hz, sb.suspected_transcode AS b_transcode,
       sb.quality_flags AS b_quality_flags
FROM duplicates d
JOIN duplicate_groups ga ON ga.song_id = d.song_a
JOIN duplicate_groups gb ON gb.song_id = d.song_b
LEFT JOIN songs sa ON sa.song_id = d.song_a
LEFT JOIN songs sb ON sb.song_id = d.song_b
WHERE ($1 IS NULL OR d.song_a = $1) AND ($2 IS NULL OR d.song_b = $2)
"""
ORDERS = {"least_reviewed": "choices, found_at DESC, song_a, song_b", "newest": "found_at DESC, song_a, song_b"}


def why_preferred(row: dict) -> str:
    """Why the group prefers the copy it prefers, as far as this pair tells (the rules of
    duplicate_groups in order); a preferred copy outside the pair is named as such."""
    if row["a_is_preferred"] == row["b_is_preferred"]:
        return "the group prefers another copy"
    win, lose = ("a", "b") if row["a_is_preferred"] else ("b", "a")
    if row[f"{win}_choice"] == "preferred":
        return "a reviewer made it the preferred copy"
    if row[f"{lose}_choice"] == "drop":
        return "the other copy was dropped"
    fmt = {side: (row[f"{side}_format"] or "").lower() for side in (win, lose)}
    if (fmt[win] in LOSSLESS) != (fmt[lose] in LOSSLESS):
        return f"lossless ({fmt[win]}) over lossy ({fmt[lose]})"
    khz = {side: round((row[f"{side}_bandwidth_hz"] or 0) / 1000) for side in (win, lose)}
    if khz[win] != khz[lose]:
        return f"wider true bandwidth ({khz[win]} kHz over {khz[lose]} kHz)"
    if bool(row[f"{win}_transcode"]) != bool(row[f"{lose}_transcode"]):
        return "the other copy is a suspected transcode"
    clipped = {side: "clipped" in (row[f"{side}_quality_flags"] or []) for side in (win, lose)}
    if clipped[win] != clipped[lose]:
        return "the other copy clips"
    if (row[f"{win}_duration"] or 0) != (row[f"{lose}_duration"] or 0):
        return f"longer ({row[f'{win}_duration'] or 0:.1f} s over {row[f'{lose}_duration'] or 0:.1f} s)"
    return "every rule ties: the smaller song id"


def _copy(row: dict, side: str) -> dict:
    return {"song_id": row[f"song_{side}"], "filename": row[f"{side}_filename"], "format": row[f"{side}_format"],
            "bitrate_kbps": row[f"{side}_bitrate_kbps"], "duration": row[f"{side}_duration"],
            "is_preferred": bool(row[f"{side}_is_preferred"]), "choice": row[f"{side}_choice"],
            "audio": f"/songs/{row[f'song_{side}']}/audio"}


def pair_record(row: dict) -> dict:
    """A pair as the API and the pages show it (offset: time t in a is time t + offset in b)."""
    return {"song_a": row["song_a"], "song_b": row["song_b"], "kind": row["kind"], "score": row["score"],
            "offset_seconds": row["offset_seconds"], "shared_seconds": row["shared_seconds"],
            "speed": row["speed"], "found_at": row["found_at"].isoformat() if row["found_at"] else None,
            "group": row["duplicate_group"], "group_size": row["group_size"], "choices": row["choices"],
            "a": _copy(row, "a"), "b": _copy(row, "b"), "why_preferred": why_preferred(row)}


def list_pairs(snapshot: Snapshot, order: str = "least_reviewed", page: int = 1,
               page_size: int = PAGE_SIZE) -> tuple[list[dict], int]:
    """One page of pairs and the number of pairs in all."""
    if order not in ORDERS:
        raise ValueError(f"order is one of {sorted(ORDERS)}, not {order!r}")
    total = snapshot.read("SELECT count(*) AS n FROM duplicates").column("n")[0].as_py()
    rows = snapshot.read(f"{PAIRS_QUERY} ORDER BY {ORDERS[order]} LIMIT {int(page_size)} "
                         f"OFFSET {int((page - 1) * page_size)}", [None, None]).to_pylist()
    return [pair_record(r) for r in rows], total


def one_pair(snapshot: Snapshot, song_a: str, song_b: str) -> dict:
    song_a, song_b = sorted((song_a, song_b))
    rows = snapshot.read(PAIRS_QUERY, [song_a, song_b]).to_pylist()
    if not rows:
        raise NotFound(f"songs {song_a} and {song_b} are not a duplicate pair at lake version {snapshot.version}")
    return pair_record(rows[0])


class DuplicatesController(Controller):
    """Duplicate pairs to review; choices are labels (PATCH /songs/{song_id}/labels)."""

    path = "/duplicates"
    tags = ["duplicates"]

    @get("/", guards=[require_reader], sync_to_thread=True)
    def pairs(self, snapshot: SnapshotDep, order: Literal["least_reviewed", "newest"] = "least_reviewed",
              page: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 1,
              page_size: Annotated[int, Parameter(ge=1, le=500)] = PAGE_SIZE) -> dict:
        """Duplicate pairs, the least reviewed (or the newest) first: kind, score, offset (time t
        in song_a is t + offset_seconds in song_b), shared seconds, both copies and their choices,
        which one the group prefers and why."""
        snapshot.refresh()
        found, total = list_pairs(snapshot, order, page, page_size)
        return {"version": snapshot.version, "order": order, "page": page, "page_size": page_size,
                "total": total, "pairs": found}

    @get("/{song_a:str}/{song_b:str}", guards=[require_reader], sync_to_thread=True)
    def pair(self, song_a: str, song_b: str, snapshot: SnapshotDep) -> dict:
        """One pair (either order of the two song ids)."""
        snapshot.refresh()
        return one_pair(snapshot, song_a, song_b)
