"""The committer's mechanics: the lake's commit lock, staged fragment sets and the commit intent.

Workers write their rows to Lance fragment files (invisible to readers) and *stage* them: one
small JSON file per set under ``LAKE/tables/_staged/``, with the fragments' metadata, what they
add, and the caller's meta (for the job pipeline: which claims to release and which stage to
queue next once the set is visible). A committer, whoever holds the lake's commit lock, takes
every staged set, and makes them one lake version:

1. it writes the *intent* (``_staged/_intent.json``): a commit id, the sets' fragments merged
   per table, their counts and metas, and each table's version before the commit; then it
   removes the staged files (the intent now stands for them);
2. it appends each table's fragments as one Lance transaction carrying the commit id;
3. it records the catalog row, with the same commit id;
4. it hands the metas back (release claims, queue the next stages), then removes the intent.

A committer that dies anywhere leaves the intent behind; the next one finishes it first. Step
2 is skipped for a table whose history since the base version already has a transaction with
the commit id, step 3 when the newest catalog row has it: nothing is lost and nothing is
committed twice. Step 4 may run again, so what it does must be idempotent (the pipeline's is:
a queued song whose work is done is skipped).

The lock is an ``fcntl`` lock on ``_staged/_commit.lock``: the kernel releases it when its
holder dies, so a killed committer never blocks the lake. It serialises committers on one
machine and on a shared POSIX file system.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from lance.fragment import FragmentMetadata

STAGED_DIR = "_staged"
INTENT = "_intent.json"
COMPACTED = "_compacted.json"  # {table: version} the background compaction made, not yet recorded
LOCK = "_commit.lock"
COMPACT_LOCK = "_compact.lock"
PROPERTY = "songlake.commit"  # the Lance transaction property that carries the commit id


@dataclass
class StagedSet:
    """Fragments written by one task, waiting for a committer."""

    id: str
    kind: str
    message: str
    fragments: dict[str, list[str]]  # table -> FragmentMetadata JSON texts
    counts: dict[str, int] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    staged_at: float = 0.0

    def fragment_metadata(self) -> dict[str, list[FragmentMetadata]]:
        return {t: [FragmentMetadata.from_json(f) for f in frags] for t, frags in self.fragments.items() if frags}


@dataclass
class Intent:
    """A commit in progress: everything needed to finish it after a crash."""

    commit_id: str
    kind: str
    message: str
    fragments: dict[str, list[str]]
    counts: dict[str, int]
    metas: list[dict]
    base: dict[str, int]  # each table's Lance version before the commit

    def fragment_metadata(self) -> dict[str, list[FragmentMetadata]]:
        return {t: [FragmentMetadata.from_json(f) for f in frags] for t, frags in self.fragments.items() if frags}


def fragment_texts(fragments: dict[str, list]) -> dict[str, list[str]]:
    return {t: [json.dumps(f.to_json()) for f in frags] for t, frags in fragments.items() if frags}


class Staging:
    """The staging folder of one lake: staged sets, the intent and the locks."""

    def __init__(self, tables_dir: Path):
        self.dir = tables_dir / STAGED_DIR
        self._held = threading.local()  # lock names this thread holds: taking one again is a no-op

    # --- staged sets ---------------------------------------------------------------------

    def put(self, kind: str, message: str, fragments: dict[str, list], counts: dict[str, int], meta: dict) -> str:
        """Stage one set; returns its id. Written aside and renamed, so a set is whole or absent."""
        self.dir.mkdir(parents=True, exist_ok=True)
        set_id = f"{time.time():017.6f}-{uuid.uuid4().hex[:12]}"
        body = {"id": set_id, "kind": kind, "message": message, "fragments": fragment_texts(fragments),
                "counts": dict(counts), "meta": meta, "staged_at": time.time()}
        _write_atomic(self.dir / f"{set_id}.json", body)
        return set_id

    def ids(self) -> list[str]:
        """Staged set ids, oldest first (ids start with their staging time)."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("_"))

    def oldest_age(self) -> float | None:
        ids = self.ids()
        return None if not ids else max(0.0, time.time() - float(ids[0].split("-")[0]))

    def load(self, set_id: str) -> StagedSet | None:
        try:
            body = json.loads((self.dir / f"{set_id}.json").read_text())
        except FileNotFoundError:
            return None
        return StagedSet(**body)

    def drop(self, set_ids: list[str]) -> None:
        for set_id in set_ids:
            try:
                (self.dir / f"{set_id}.json").unlink()
            except FileNotFoundError:
                pass

    # --- the intent ----------------------------------------------------------------------

    def write_intent(self, intent: Intent) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.dir / INTENT, intent.__dict__)

    def intent(self) -> Intent | None:
        try:
            return Intent(**json.loads((self.dir / INTENT).read_text()))
        except FileNotFoundError:
            return None

    def clear_intent(self) -> None:
        try:
            (self.dir / INTENT).unlink()
        except FileNotFoundError:
            pass

    # --- the background compaction's table versions ------------------------------------------

    def note_compacted(self, versions: dict[str, int]) -> None:
        """Remember table versions a compaction made (the caller holds the compaction lock); the
        next commit records them. Versions only grow, so the newest of each is kept."""
        if versions:
            merged = self.compacted()
            for table, number in versions.items():
                merged[table] = max(number, merged.get(table, 0))
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.dir / COMPACTED, merged)

    def compacted(self) -> dict[str, int]:
        try:
            return json.loads((self.dir / COMPACTED).read_text())
        except FileNotFoundError:
            return {}

    # --- locks ---------------------------------------------------------------------------

    @contextmanager
    def lock(self, name: str = LOCK, wait: bool = True, timeout: float | None = None) -> Iterator[bool]:
        """Hold an exclusive lock; yields False (holding nothing) when wait is False and it is taken,
        or when timeout seconds passed. Re-entrant within a thread."""
        held = self._held.__dict__.setdefault("names", set())
        if name in held:
            yield True
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            got = _flock(fd, wait, timeout)
            if got:
                held.add(name)
            try:
                yield got
            finally:
                if got:
                    held.discard(name)
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def new_commit_id() -> str:
    return uuid.uuid4().hex


def _flock(fd: int, wait: bool, timeout: float | None) -> bool:
    if wait and timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + (timeout or 0.0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if not wait or time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _write_atomic(path: Path, body: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as f:
        json.dump(body, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
