"""Train / valid / test splits that keep each artist on one side, seeded and stored in the lake.

Conventions:

- a split scheme has a name ('default'), a seed and fractions (train, valid, test) that sum to 1;
- songs are grouped by artist: the songs view's ``artist`` (a human label wins over the tag),
  case-folded, with featured artists and a leading 'the' dropped, so 'The Beatles' and
  'beatles feat. X' are one group. A song with no artist is a group of its own;
- and by recording: a song's duplicates (its ``duplicate_group``: re-encodes, edits, copies at
  another speed) join its group whatever their tags say (schema.split_groups);
- every song of a group goes to one split, so no artist and no recording is heard in both
  training and test. Duplicates found after their songs were assigned move the fewest songs
  needed to make the group whole (a ``moved_for`` row: the one change to a stored assignment);
- assignments are appended to the ``splits`` table and never changed: a song's first
  assignment in a scheme is final (the ``splits`` view). New songs by an artist already
  assigned join that artist's split; new artists are dealt out by the same seeded rule, to the
  split furthest below its share. So every run and every export sees the same split, and a
  growing collection keeps the old songs where they were.

The deal: groups in order of size (largest first), ties broken by a seeded hash of the group, each
to the split whose song count is furthest below its target, relative to the target. That keeps
the shares close for large collections and gives each split with a non-zero fraction at least
one group as soon as there are three groups.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Sequence

from songlake.schema import Lake, split_groups
from songlake.schema.query import connect
from songlake.schema.split_groups import SPLITS, artist_key
from songlake.schema.writer import BatchWriter

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
__all__ = ["SPLITS", "DEFAULT_FRACTIONS", "artist_key", "assign", "check_scheme", "deal", "read"]


def check_scheme(name: str, fractions: Sequence[float]) -> tuple[float, float, float]:
    """The fractions as a tuple, or ValueError naming what is wrong with the scheme."""
    if not _NAME.match(name or ""):
        raise ValueError(f"a split name is 1 to 64 letters, digits, '-', '_' or '.', not {name!r}")
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions are three shares (train, valid, test) >= 0 that sum to 1, "
                         f"not {list(fractions)}")
    return fractions


def read(lake: Lake, name: str = "default") -> dict[str, str]:
    """The stored assignments of a scheme: {song_id: split}. Read at the latest lake version, since
    assignments are final once written (a pinned older version simply has fewer of them)."""
    with connect(lake) as con:
        rows = con.sql("SELECT song_id, split FROM splits WHERE split_name = ?", params=[name]).fetchall()
    return dict(rows)


def assign(lake: Lake, name: str = "default", seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS,
           version: int | str | None = None) -> dict[str, str]:
    """Every song of the lake at ``version`` with its split in the scheme, assigning (and storing,
    as one lake commit) the songs that have none yet. Returns {song_id: split}."""
    fractions = check_scheme(name, fractions)
    with connect(lake, version) as con:
        songs = con.sql("SELECT song_id, artist, duplicate_group FROM songs ORDER BY song_id").fetchall()
    with connect(lake) as con:
        stored = con.sql("SELECT song_id, split, group_key, seed, fractions FROM splits WHERE split_name = ?",
                         params=[name]).fetchall()
    _check_same_scheme(name, seed, fractions, stored)
    component = split_groups.components(songs)
    assigned = {sid: split for sid, split, *_ in stored}
    moved = split_groups.moves(component, {sid: split for sid, split in assigned.items() if sid in component})
    assigned |= moved
    by_group = {key: split for _, split, key, *_ in stored if key}
    by_group |= {component[sid]: split for sid, split in assigned.items() if sid in component}
    new = [(sid, component[sid]) for sid, _, _ in songs if sid not in assigned]
    if not new and not moved:
        return {sid: assigned[sid] for sid, _, _ in songs}
    counts = {split: 0 for split in SPLITS}
    for split in assigned.values():
        counts[split] += 1
    groups: dict[str, list[str]] = {}
    for sid, key in new:
        groups.setdefault(key, []).append(sid)
    by_group = deal({key: len(ids) for key, ids in groups.items()}, fractions, seed, counts, by_group)
    _store(lake, name, seed, fractions, [(sid, by_group[key], key) for sid, key in new],
           split_groups.move_rows(name, seed, json.dumps(list(fractions)), moved, component))
    final = read(lake, name)  # a concurrent assigner may have been first: the stored rows decide
    return {sid: final[sid] for sid, _, _ in songs}


def deal(sizes: dict[str, int], fractions: Sequence[float], seed: int, counts: dict[str, int] | None = None,
         known: dict[str, str] | None = None) -> dict[str, str]:
    """Groups (key -> songs in it) dealt to splits (see the module docstring). ``counts`` are the
    songs already in each split, ``known`` the groups already assigned (they keep their split)."""
    counts = dict(counts or {split: 0 for split in SPLITS})
    known = known or {}
    total = sum(counts.values()) + sum(sizes.values())
    dealt = {}
    for key in sorted(sizes, key=lambda k: (-sizes[k], _hash(seed, k))):
        dealt[key] = known.get(key) or _furthest_below(counts, tuple(fractions), total)
        counts[dealt[key]] += sizes[key]
    return dealt


def _furthest_below(counts: dict[str, int], fractions: tuple[float, ...], total: int) -> str:
    def room(item):
        split, fraction = item
        target = fraction * total
        return (target - counts[split]) / target if target else float("-inf")
    return max(zip(SPLITS, fractions), key=room)[0]


def _hash(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def _check_same_scheme(name: str, seed: int, fractions: tuple, stored: list) -> None:
    """A scheme keeps the seed and fractions it was made with; asking for others is an error."""
    for _, _, _, old_seed, old_fractions in stored[:1]:
        if old_seed != seed or tuple(json.loads(old_fractions)) != fractions:
            raise ValueError(
                f"split scheme {name!r} was made with seed {old_seed} and fractions {json.loads(old_fractions)}, "
                f"not seed {seed} and {list(fractions)}; use those, or another split name for a new scheme")


def _store(lake: Lake, name: str, seed: int, fractions: tuple, rows: list[tuple[str, str, str]],
           moves: list[dict] = ()) -> None:
    writer = BatchWriter(lake)
    for row in moves:
        writer.add("splits", row)
    now = datetime.now(timezone.utc)
    for sid, split, key in rows:
        writer.add("splits", {"split_name": name, "song_id": sid, "split": split, "group_key": key,
                              "seed": int(seed), "fractions": json.dumps(list(fractions)), "assigned_at": now})
    counts = {split: sum(1 for _, s, _ in rows if s == split) for split in SPLITS}
    moved = f", moved {len(moves)} to join their duplicates" if moves else ""
    writer.commit("split", f"split scheme '{name}': assigned {len(rows)} songs "
                           f"({', '.join(f'{k} {v}' for k, v in counts.items())}){moved}")
