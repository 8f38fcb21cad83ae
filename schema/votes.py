"""A/B listening votes: which of two clips made for the same prompt a rater preferred.

A clip is a generation (``generations.generation_id``) or a lake song (``tracks.song_id``) played
as the reference. A vote records the two clips in the order they were shown (A, B), the prompt
they share, the choice (``CHOICES``: 'a', 'b', 'tie', 'both_bad'), an optional note, the rater
(the API token's name) and the time, in the ``votes`` table; the ``votes`` view adds each clip's
model and checkpoint. Votes are written like labels: validated here, then one lake version of
kind 'vote' through the lake's commit path.

A rater judges a pair once, whichever clip was A: a second vote by the same rater on the same
two clips raises ``AlreadyVoted`` and writes nothing.

Usage::

    from songlake.schema.votes import write_vote
    version = write_vote(lake, "gen-a-id", "gen-b-id", "a", rater="ana", prompt="upbeat pop", note="cleaner")
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from songlake.schema import lookup
from songlake.schema.errors import LakeError
from songlake.schema.lake import Lake
from songlake.schema.writer import BatchWriter

CHOICES = ("a", "b", "tie", "both_bad")
KINDS = ("generation", "song")
MAX_NOTE = 2000  # characters


class AlreadyVoted(ValueError):
    """The rater has judged this pair of clips already."""


def clip_kind(lake: Lake, clip_id: str) -> str:
    """'generation' or 'song' (a reference), looked up by key; LakeError when the lake has neither."""
    if not isinstance(clip_id, str) or not clip_id:
        raise LakeError(f"no clip {clip_id!r}: a clip id is a generation id or a song id, non-empty text")
    state = lake.state()
    rows = lookup.by_key(lookup.table_at(lake, "generations", state), "generation_id", [clip_id], ["generation_id"])
    if rows is not None and rows.num_rows:
        return "generation"
    if lookup.present(lake, [clip_id], state):
        return "song"
    raise LakeError(f"no generation or song {clip_id} in the lake at version {state.version}")


def pair_key(a_id: str, b_id: str) -> tuple[str, str]:
    """The pair whichever clip was shown first."""
    return (a_id, b_id) if a_id <= b_id else (b_id, a_id)


def pairs_judged(lake: Lake, rater: str) -> set[tuple[str, str]]:
    """The pairs (pair_key) this rater has voted on, through the rater index."""
    ds = lookup.table_at(lake, "votes")
    if ds is None:
        return set()
    quoted = rater.replace("'", "''")
    rows = ds.to_table(columns=["a_id", "b_id"], filter=f"rater = '{quoted}'").to_pylist()
    return {pair_key(r["a_id"], r["b_id"]) for r in rows}


def write_vote(lake: Lake, a_id: str, b_id: str, choice: str, rater: str, *, prompt: str | None = None,
               note: str | None = None) -> int:
    """Validate one vote and write it as one lake version (kind 'vote'); the new lake version.

    LakeError when a clip is not in the lake; AlreadyVoted when the rater judged the pair before;
    ValueError (naming the field) for any other invalid value. Nothing is written on an error."""
    if not isinstance(rater, str) or not rater.strip():
        raise ValueError("rater is who voted (the token's name), not empty")
    if choice not in CHOICES:
        raise ValueError(f"choice is one of {', '.join(CHOICES)} (A, B, tie, both bad), got {choice!r}")
    if note is not None and not isinstance(note, str):
        raise ValueError(f"note is text or None, got {type(note).__name__}")
    note = " ".join(note.split()) if note else None
    if note and len(note) > MAX_NOTE:
        raise ValueError(f"note is {len(note)} characters long; at most {MAX_NOTE} are allowed")
    if prompt is not None and not isinstance(prompt, str):
        raise ValueError(f"prompt is text or None, got {type(prompt).__name__}")
    if a_id == b_id:
        raise ValueError(f"A and B are the same clip ({a_id}); a vote compares two clips")
    a_kind, b_kind = clip_kind(lake, a_id), clip_kind(lake, b_id)
    if a_kind == b_kind == "song":
        raise ValueError("at least one clip is a generation; two lake songs are not a model comparison")
    rater = rater.strip()
    if pair_key(a_id, b_id) in pairs_judged(lake, rater):
        raise AlreadyVoted(f"{rater} has voted on the pair {a_id} / {b_id} already; a rater judges a pair once")
    writer = BatchWriter(lake)
    writer.add("votes", {"vote_id": uuid.uuid4().hex, "prompt": prompt, "a_id": a_id, "a_kind": a_kind,
                         "b_id": b_id, "b_kind": b_kind, "choice": choice, "note": note or None, "rater": rater,
                         "voted_at": datetime.now(timezone.utc)})
    version = writer.commit("vote", f"{rater} voted {choice} on {a_id} / {b_id}")
    assert version is not None  # one row was added
    return version
