"""The job queue: one Huey queue per stage, so machines take the stages they are good at.

Stages run in this order for every song::

    ingest (files -> tracks, originals, embedding)  ->  separate (Demucs stems)  ->  analyze
    (MIR and theory, on the stems when there are any)  ->  genre (the collection's classifier)

and, beside separation, ``duplicates`` (each new song's copies by fingerprint, jobs/duplicates.py).

``embed`` recomputes embeddings on its own when asked. Each stage is a Huey queue of the same
name: a GPU machine runs ``songlake worker --stages separate`` and CPU machines
``--stages ingest,duplicates,analyze``. The embedded default keeps the queues in SQLite inside the lake
folder (``LAKE/queue/huey.db``); ``SONGLAKE_QUEUE=redis://host:port/db`` puts them on Redis.

Tasks carry a stage, the lake's path and a list of keys (a chunk of songs, so separation can
batch). A task stages its rows for the committer (commit.py), which makes one lake version of
every worker's staged rows at most every few seconds. Transient errors (I/O) are retried by
Huey with exponential backoff; the ledger (ledger.py) tracks what is queued and who holds what,
so work lost with a killed worker is found again (worker.resume).

The task function is registered here and calls stages.run_stage with this lake's Queue, so
stages.py needs nothing from this module: the import goes one way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from songlake.jobs import stages
from songlake.jobs.ledger import Ledger, RedisLedger, SqliteLedger
from songlake.schema import Lake

STAGES = ("ingest", "duplicates", "separate", "analyze", "embed", "genre")
SONG_STAGES = ("separate", "analyze", "embed")
RETRIES = 3
RETRY_DELAY = 1.0  # seconds before the first retry; doubled for each next one
GENRE_DELAY = 2.0  # a genre refit waits this long, so a burst of analysed chunks refits once
GENRE_FLAG = "genre-pending"


def chunk_size(stage: str) -> int:
    """Keys per task: small enough to spread over workers, large enough to batch commits."""
    return {"ingest": 4, "separate": 4, "analyze": 8, "embed": 32, "duplicates": 16}.get(stage, 8)


def queue_url(env: dict[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return env.get("SONGLAKE_QUEUE") or None


@dataclass
class Queue:
    """The stage queues and the ledger of one lake."""

    lake_root: Path
    url: str | None
    hueys: dict[str, Huey]
    tasks: dict[str, Any]  # stage -> Huey's task wrapper of run_stage on that stage's queue
    ledger: Ledger

    @classmethod
    def open(cls, lake_root: str | Path, url: str | None = None) -> "Queue":
        root = Path(lake_root).expanduser().resolve()
        url = queue_url() if url is None else url
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"SONGLAKE_QUEUE must be a redis:// URL, got {url!r}")
        hueys, tasks = {}, {}
        for stage in STAGES:
            if url:
                hueys[stage] = RedisHuey(f"songlake-{stage}", url=url, blocking=False)
            else:
                (root / "queue").mkdir(parents=True, exist_ok=True)
                hueys[stage] = SqliteHuey(f"songlake-{stage}", filename=str(root / "queue" / "huey.db"), timeout=60)
            tasks[stage] = _register(hueys[stage])
        ledger = RedisLedger(url) if url else SqliteLedger(root / "queue" / "ledger.db")
        return cls(root, url, hueys, tasks, ledger)

    @property
    def where(self) -> str:
        return self.url or f"sqlite:{self.lake_root / 'queue'}"

    def submit(self, stage: str, keys: Iterable[str], *, delay: float | None = None, **options: Any) -> list:
        """Queue keys for a stage in chunks; returns Huey's result handles, one per chunk."""
        keys = list(dict.fromkeys(keys))
        size = chunk_size(stage)
        results = []
        for start in range(0, len(keys), size):
            chunk = keys[start:start + size]
            self.ledger.mark_queued(stage, chunk)
            args = (stage, str(self.lake_root), chunk, options)
            task = self.tasks[stage]
            results.append(task(*args) if delay is None else task.schedule(args=args, delay=delay))
        return results

    def request_genre(self) -> None:
        """Ask for one genre refit soon; requests while one is pending fold into it."""
        if self.ledger.set_flag(GENRE_FLAG):
            self.submit("genre", ["collection"], delay=GENRE_DELAY)

    def defer_genre(self, keys: list[str]) -> None:
        """A genre request that found a refit running elsewhere: it follows that one."""
        self.submit("genre", keys, delay=GENRE_DELAY)

    def genre_started(self) -> None:
        """A refit has begun: requests from now on schedule another."""
        self.ledger.clear_flag(GENRE_FLAG)

    def pending(self, stages: Iterable[str] = STAGES) -> int:
        """Units of work queued, held, scheduled for retry or staged but not yet committed:
        zero when everything is done and visible."""
        total = Lake(self.lake_root).pending()
        for stage in stages:
            total += len(self.ledger.queued(stage)) + len(self.ledger.claims(stage))
            total += self.hueys[stage].scheduled_count()
        return total


_queues: dict[str, Queue] = {}


def queue_for(lake_root: str) -> Queue:
    """The Queue of a lake in this process (one per process and lake, opened on first use)."""
    key = f"{os.getpid()}:{lake_root}"
    if key not in _queues:
        _queues[key] = Queue.open(lake_root)
    return _queues[key]


def stage_task(stage: str, lake_root: str, keys: list[str], options: dict[str, Any], task=None) -> list[dict]:
    """Huey's task function for every stage queue (the stage comes with the arguments)."""
    return stages.run_stage(queue_for(lake_root), stage, lake_root, keys, options, task)


def _register(huey: Huey):
    return huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, retry_backoff=2.0, context=True, name="stage")(stage_task)
