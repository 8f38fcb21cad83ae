"""Which songs must share a split: the same artist, or the same recording.

A split keeps an artist on one side (``artist_key``) and, since schema 9, a duplicate group too
(sql/duplicates.sql): a re-encode in train and its original in test would make the test scores
worth nothing. The two join: an artist's songs and every copy of them, whatever the copies'
tags say, are one *component*, and a component is never split (``components``).

Duplicates found after a song was assigned can leave a component across splits. ``moves`` says
which songs to move so that each component is whole again: to the split that holds most of the
component's songs (ties: train, then valid, then test), so as few songs as possible move. A move
is a new ``splits`` row with ``moved_for`` set; the ``splits`` view takes a song's newest move
over its first assignment. ``trainer.splits.assign`` applies the moves whenever it runs, and the
migration to schema 9 applies them to the splits made before (``regroup``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import lance
import pyarrow as pa

from songlake.schema.query import connect
from songlake.schema.tables import SPLITS as SCHEMA

SPLITS = ("train", "valid", "test")
_FEATURING = re.compile(r"\s+(feat\.?|ft\.?|featuring|&|vs\.?)\s+.*$", re.IGNORECASE)


def artist_key(artist: str | None, song_id: str) -> str:
    """The group a song is split with: its normalised artist, or the song itself."""
    name = " ".join((artist or "").split()).casefold()
    name = _FEATURING.sub("", name)
    name = re.sub(r"^the\s+", "", name).strip()
    return f"artist:{name}" if name else f"song:{song_id}"


def components(songs: list[tuple[str, str | None, str | None]]) -> dict[str, str]:
    """{song_id: component key} for (song_id, artist, duplicate_group) rows. A song without
    duplicates keeps its artist key; a component's key is the smallest artist key in it."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    keys = {sid: artist_key(artist, sid) for sid, artist, _ in songs}
    for sid, _, group in songs:
        a, b = find(keys[sid]), find(f"dup:{group or sid}")
        if a != b:
            parent[max(a, b)] = min(a, b)  # 'artist:' and 'song:' sort before 'dup:': an artist key names it
    return {sid: find(keys[sid]) for sid in keys}


def moves(component: dict[str, str], assigned: dict[str, str]) -> dict[str, str]:
    """{song_id: new split} for the assigned songs whose component straddles splits."""
    by_component: dict[str, list[str]] = {}
    for sid, key in component.items():
        if sid in assigned:
            by_component.setdefault(key, []).append(sid)
    out = {}
    for members in by_component.values():
        counts = {split: sum(assigned[s] == split for s in members) for split in SPLITS}
        if sum(1 for n in counts.values() if n) <= 1:
            continue
        target = max(SPLITS, key=lambda split: (counts[split], -SPLITS.index(split)))
        out.update({s: target for s in members if assigned[s] != target})
    return out


def move_rows(name: str, seed: int, fractions: str, moved: dict[str, str], component: dict[str, str]) -> list[dict]:
    """The splits rows that record moves (``moved_for`` says why)."""
    now = datetime.now(timezone.utc)
    return [{"split_name": name, "song_id": sid, "split": split, "group_key": component[sid], "seed": seed,
             "fractions": fractions, "assigned_at": now,
             "moved_for": f"duplicates: with its component {component[sid]}"}
            for sid, split in sorted(moved.items())]


def regroup(lake) -> dict[str, int]:
    """The migration's fix (schema 9): every scheme's splits made whole again. Appends the move
    rows to ``splits`` directly (the caller holds the commit lock); returns {splits: version}."""
    with connect(lake) as con:
        songs = con.sql("SELECT song_id, artist, duplicate_group FROM songs").fetchall()
        stored = con.sql("SELECT split_name, song_id, split, seed, fractions FROM splits").fetchall()
    component = components(songs)
    rows = []
    for name in sorted({r[0] for r in stored}):
        scheme = [r for r in stored if r[0] == name]
        assigned = {sid: split for _, sid, split, _, _ in scheme if sid in component}
        rows += move_rows(name, scheme[0][3], scheme[0][4], moves(component, assigned), component)
    uri = lake.uri("splits")
    if rows:
        lance.write_dataset(pa.Table.from_pylist(rows, schema=SCHEMA), uri, mode="append")
    return {"splits": lance.dataset(uri).version}
