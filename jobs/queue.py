"""The job queue: one Huey queue per stage, so machines take the stages they are good at.

Stages run in this order for every song::

    ingest (files -> tracks, originals, embedding)  ->  separate (Demucs stems)  ->  analyze
    (MIR and theory, on the stems when there are any)  ->  genre (the collection's classifier)

``embed`` recomputes embeddings on its own when asked. Each stage is a Huey queue of the same
name: a GPU machine runs ``songlake worker --stages separate`` and CPU machines
``--stages analyze,ingest``. The embedded default keeps the queues in SQLite inside the lake
folder (``LAKE/queue/huey.db``); ``SONGLAKE_QUEUE=redis://host:port/db`` puts them on Redis.

Tasks carry a stage, the lake's path and a list of keys (a chunk of songs, so a commit covers
several songs and separation can batch). Transient errors (I/O, a lost commit race) are retried
by Huey with exponential backoff; the ledger (ledger.py) tracks what is queued and who holds
what, so work lost with a killed worker is found again (worker.resume).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from songlake.jobs.ledger import Ledger, RedisLedger, SqliteLedger

STAGES = ("ingest", "separate", "analyze", "embed", "genre")
SONG_STAGES = ("separate", "analyze", "embed")
RETRIES = 3
RETRY_DELAY = 1.0  # seconds before the first retry; doubled for each next one
GENRE_DELAY = 2.0  # a genre refit waits this long, so a burst of analysed chunks refits once
GENRE_FLAG = "genre-pending"


def chunk_size(stage: str) -> int:
    """Keys per task: small enough to spread over workers, large enough to batch commits."""
    return {"ingest": 4, "separate": 4, "analyze": 8, "embed": 32}.get(stage, 8)


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

    def pending(self, stages: Iterable[str] = STAGES) -> int:
        """Units of work queued, held or scheduled for retry: zero when everything is done."""
        total = 0
        for stage in stages:
            total += len(self.ledger.queued(stage)) + len(self.ledger.claims(stage))
            total += self.hueys[stage].scheduled_count()
        return total


def _register(huey: Huey):
    """Every stage queue runs the same task function; the stage comes with the arguments."""
    from songlake.jobs.stages import run_stage

    return huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, retry_backoff=2.0, context=True, name="stage")(run_stage)
