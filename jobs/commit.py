"""The pipeline's committer: many workers' staged rows become one lake version every few seconds.

A task does its work, writes its rows to Lance fragments, hands its claims to the staged set and
stages it (``hand_over``); it does not commit. Whoever next finds the commit lock free and the
oldest staged set older than ``COMMIT_INTERVAL`` commits every staged set as one lake version:
a worker after its task, a worker's heartbeat thread while it runs a long task, an idle worker,
and the process that drives an embedded ingest. So a version is a few seconds of the whole
pipeline's work, not one task's, however many workers there are, and a staged set waits about
``COMMIT_INTERVAL`` plus one commit to become visible.

After the commit (``after_commit``) each set's follow-ups run: the next stage is queued for its
songs, a genre refit is requested, and only then are its claims released, so a key is never
picked up again before its rows are visible. Then the lake compacts what has become small
(schema.optimize.compact_small), without holding the commit lock.
"""

from __future__ import annotations

import logging
import uuid

from songlake.jobs.ledger import STAGED
from songlake.schema import BatchWriter, Lake
from songlake.schema.optimize import compact_small

log = logging.getLogger(__name__)

COMMIT_INTERVAL = 2.0  # seconds a staged set waits for others to join its version


def hand_over(queue, writer: BatchWriter, kind: str, message: str, claims: dict[str, list[str]],
              submit: list[tuple[str, list[str], dict]] = (), genre: bool = False,
              counts: dict[str, int] | None = None) -> str | None:
    """Stage a task's rows with its follow-ups; its claims pass to the staged set. A task that
    wrote nothing has nothing to wait for: its follow-ups run and its claims go at once."""
    holder = f"{STAGED}{uuid.uuid4().hex}"
    meta = {"holder": holder, "release": {stage: list(keys) for stage, keys in claims.items() if keys},
            "submit": [[stage, list(keys), dict(options)] for stage, keys, options in submit if keys],
            "genre": genre}
    if not writer.counts:
        after_commit(queue, [meta])
        return None
    for stage, keys in claims.items():
        queue.ledger.transfer(stage, keys, holder)
    return writer.stage(kind, message, counts, meta=meta)


def commit_round(queue, lake: Lake | None = None, *, wait: bool = False, min_age: float | None = None,
                 compact: bool = True) -> int | None:
    """Commit what is staged if this process gets the lock and the oldest set is old enough
    (min_age, by default COMMIT_INTERVAL); the new lake version or None."""
    lake = lake or Lake(queue.lake_root)
    min_age = COMMIT_INTERVAL if min_age is None else min_age
    if not wait and not lake.pending():
        return None
    version = lake.commit_staged(wait=wait, min_age=min_age,
                                 on_committed=lambda number, metas: after_commit(queue, metas))
    if version is not None and compact:
        compact_small(lake)
    return version


def flush(queue, lake: Lake | None = None) -> int | None:
    """Commit everything staged now, waiting for the lock (the end of a batch, an idle worker)."""
    lake = lake or Lake(queue.lake_root)
    version = None
    while lake.pending():
        version = commit_round(queue, lake, wait=True, min_age=0.0) or version
    return version


def after_commit(queue, metas: list[dict]) -> None:
    """The committed sets' follow-ups, then their claims released. May run twice for a set (a
    committer that died before finishing): queuing a song whose work is done is harmless."""
    genre = False
    for meta in metas:
        for stage, keys, options in meta.get("submit", []):
            queue.submit(stage, keys, **options)
        genre = genre or meta.get("genre", False)
    if genre:
        queue.request_genre()
    for meta in metas:
        for stage, keys in meta.get("release", {}).items():
            queue.ledger.release(stage, keys)


def staged_holders(lake: Lake) -> set[str]:
    """The claim holders of the sets staged or being committed (their claims are not lost)."""
    holders = set()
    intent = lake.staging.intent()
    if intent is not None:
        holders |= {m.get("holder") for m in intent.metas}
    for set_id in lake.staging.ids():
        staged = lake.staging.load(set_id)
        if staged is not None:
            holders.add(staged.meta.get("holder"))
    return holders - {None}
