"""Workers: processes that take tasks from the stage queues, and the resume that finds lost work.

A worker is songlake's own small loop over Huey's API (``dequeue``, ``execute``,
``read_schedule``): Huey's consumer serves one queue, and a songlake worker serves the stages it
was given, in pipeline order, so one process can take separation and analysis alike. Huey does
the rest: serialising tasks, retries with backoff, delayed tasks, results.

``songlake worker --workers N`` runs N such processes (started with ``spawn``: Lance is not
fork-safe), each with a heartbeat thread, and restarts one that dies. Before they start it runs
``resume``, so work lost with a killed worker is queued again whenever workers come up.

Workers also commit (commit.py): after each task, from the heartbeat thread while a long task
runs, and everything at once when idle, so staged rows become visible within seconds.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from songlake.jobs import commit
from songlake.jobs.examine import sha256_of
from songlake.jobs.ledger import HEARTBEAT_SECONDS, STAGED, STALE_SECONDS, WorkerInfo, pid_alive, worker_name
from songlake.jobs.queue import GENRE_FLAG, SONG_STAGES, STAGES, Queue
from songlake.jobs.stages import COLLECTION, set_worker, stage_run
from songlake.schema import BatchWriter, Lake, connect
from songlake.udfs import ANALYSIS_VERSION

log = logging.getLogger(__name__)
IDLE_SLEEP = 0.2
MAX_CRASHES = 2  # a key whose processing killed its worker this often is recorded as failed


class Worker:
    """One worker: serves the given stages from one process until stopped (or idle)."""

    def __init__(self, queue: Queue, stages: Iterable[str] = STAGES, name: str | None = None):
        self.queue = queue
        self.stages = tuple(s for s in STAGES if s in set(stages))
        self.name = name or worker_name()
        self.started = time.time()
        self._stop = threading.Event()

    def beat(self) -> None:
        host, pid = self.name.split(":")[0], int(self.name.split(":")[1])
        self.queue.ledger.heartbeat(WorkerInfo(self.name, host, pid, self.stages, time.time()))

    def _beating(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.beat()
            except Exception:  # a missed beat is not fatal; a stale one makes us look dead
                log.exception("heartbeat of %s failed", self.name)
            try:  # while the main thread runs a long task, staged rows still become visible
                commit.commit_round(self.queue, compact=False)
            except Exception:
                log.exception("commit from the heartbeat of %s failed", self.name)

    def step(self) -> bool:
        """Run one task if any stage has one; True when it did."""
        for stage in self.stages:
            huey = self.queue.hueys[stage]
            for due in huey.read_schedule():  # delayed tasks and retries whose time has come
                huey.enqueue(due)
            task = huey.dequeue()
            if task is not None:
                huey.execute(task)
                return True
        return False

    def run(self, until_idle: bool = False, on_step: Callable[[], None] | None = None,
            stop: threading.Event | None = None) -> None:
        """Serve tasks until stop is set, or (until_idle) until no stage has work anywhere."""
        set_worker(self.name)
        self.beat()
        beating = threading.Thread(target=self._beating, daemon=True)
        beating.start()
        try:
            while not (stop is not None and stop.is_set()):
                worked = self.step()
                if on_step:
                    on_step()
                if not worked:
                    commit.flush(self.queue)  # idle: nobody else's work will join a version now
                    if until_idle and self.queue.pending() == 0:
                        return
                    time.sleep(IDLE_SLEEP)
        finally:
            self._stop.set()
            self.queue.ledger.forget_worker(self.name)


def _process_main(lake_root: str, url: str | None, stages: tuple[str, ...], index: int, until_idle: bool,
                  stop, threads: int) -> None:
    import torch

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(threads)  # the workers share the cores; oversubscribed torch is ten times slower
    queue = Queue.open(lake_root, url or "")
    Worker(queue, stages, worker_name(index)).run(until_idle=until_idle, stop=stop)


@dataclass
class Pool:
    """N worker processes; ``supervise`` restarts any that die until stopped."""

    queue: Queue
    stages: tuple[str, ...]
    size: int
    until_idle: bool = False
    processes: list = field(default_factory=list)

    def __post_init__(self):
        self._ctx = multiprocessing.get_context("spawn")
        self.stop = self._ctx.Event()

    def _start(self, index: int):
        process = self._ctx.Process(target=_process_main, daemon=True, name=f"songlake-worker-{index}", args=(
            str(self.queue.lake_root), self.queue.url, self.stages, index, self.until_idle, self.stop,
            max(1, (os.cpu_count() or 1) // self.size)))
        process.start()
        return process

    def start(self) -> "Pool":
        self.processes = [self._start(i) for i in range(self.size)]
        return self

    def alive(self) -> bool:
        return any(p.is_alive() for p in self.processes)

    def restart_dead(self) -> int:
        """Start a fresh process for each that died (killed, crashed); their claims go to resume."""
        restarted = 0
        for i, process in enumerate(self.processes):
            if not process.is_alive() and process.exitcode not in (0, None) and not self.stop.is_set():
                log.warning("worker %d died (exit %s); restarting it", i, process.exitcode)
                resume(self.queue)
                self.processes[i] = self._start(i)
                restarted += 1
        return restarted

    def shutdown(self, timeout: float = 30.0) -> None:
        self.stop.set()
        deadline = time.time() + timeout
        for process in self.processes:
            process.join(max(0.1, deadline - time.time()))
            if process.is_alive():
                process.terminate()


# --- resume ----------------------------------------------------------------------------------

@dataclass
class ResumeReport:
    released: dict[str, int] = field(default_factory=dict)  # stage -> claims of dead workers requeued
    orphans: dict[str, int] = field(default_factory=dict)  # stage -> songs found unfinished in the lake
    dead_workers: list[str] = field(default_factory=list)


def resume(queue: Queue, scan_lake: bool = True) -> ResumeReport:
    """Queue again the work held by dead workers, and (scan_lake) songs the lake shows unfinished
    that nobody has queued or holds. Safe to run any time, also while workers run."""
    report = ResumeReport()
    ledger = queue.ledger
    now = time.time()
    infos = {w.worker: w for w in ledger.workers()}
    live = {name for name, info in infos.items() if info.alive(now)}
    report.dead_workers = sorted(set(infos) - live)
    staged = commit.staged_holders(Lake(queue.lake_root))  # claims a staged set holds until committed
    for stage in STAGES + ("file", "audio"):
        lost = [c for c in ledger.claims(stage) if c.worker not in live and c.worker not in staged
                and (c.worker in infos or now - c.since > STALE_SECONDS or _local_dead(c.worker))]
        if not lost:
            continue
        ledger.release(stage, [c.key for c in lost])
        if stage == "genre" and [c.key for c in lost] == [COLLECTION]:
            ledger.clear_flag(GENRE_FLAG)
            queue.request_genre()
        elif stage in STAGES:
            for claim in lost:
                # Alone this time, so one poisonous file cannot take its chunk down with it again.
                crashes = claim.options.get("crashes", 0) + 1
                if crashes >= MAX_CRASHES:
                    _give_up(queue, stage, claim.key, f"processing it killed the worker {crashes} times")
                else:
                    queue.submit(stage, [claim.key], **{**claim.options, "crashes": crashes})
        report.released[stage] = len(lost)
    for name in report.dead_workers:
        ledger.forget_worker(name)
    if scan_lake:
        report.orphans = _requeue_orphans(queue)
    return report


def _give_up(queue: Queue, stage: str, key: str, reason: str) -> None:
    writer = BatchWriter(Lake.open(queue.lake_root))
    if stage == "ingest":
        writer.add("ingest_errors", {"filename": Path(key).name, "path": key, "file_sha256": _sha_or_none(key),
                                     "reason": reason, "refused_at": datetime.now(timezone.utc)})
    else:
        writer.add("stage_runs", stage_run(key, stage, "failed", reason=reason, attempts=MAX_CRASHES))
    writer.commit(stage, f"{stage}: gave up on {key}")


def _sha_or_none(path: str) -> str | None:
    """The file's hash, so an ingest driver finds this refusal by it (hashing reads, never decodes)."""
    try:
        return sha256_of(Path(path))
    except OSError:
        return None


def _local_dead(worker: str) -> bool:
    if worker.startswith(STAGED):  # a staged set's claim with no set: lost once stale
        return False
    host, pid, _ = worker.split(":")
    return host == socket.gethostname() and not pid_alive(int(pid))


def _requeue_orphans(queue: Queue) -> dict[str, int]:
    """Songs the lake shows unfinished (no separation, or no current analysis) that are neither
    queued nor held: their task was lost before any claim was taken."""
    lake = Lake.open(queue.lake_root)
    busy = {stage: set(queue.ledger.queued(stage)) | {c.key for c in queue.ledger.claims(stage)} for stage in SONG_STAGES}
    con = connect(lake)
    failed = {(sid, stage) for sid, stage in con.execute(
        "SELECT song_id, stage FROM stage_status WHERE status = 'failed'").fetchall()}
    rows = con.execute("SELECT song_id, stems_status, analysis_version FROM songs").fetchall()
    unseparated = [sid for sid, stems, _ in rows if stems == "pending"
                   and sid not in busy["separate"] and (sid, "separate") not in failed]
    unanalysed = [sid for sid, stems, version in rows if stems != "pending" and version != ANALYSIS_VERSION
                  and sid not in busy["analyze"] and sid not in busy["separate"] and (sid, "analyze") not in failed]
    if unseparated:
        queue.submit("separate", unseparated)
    if unanalysed:
        queue.submit("analyze", unanalysed)
    found = {"separate": len(unseparated), "analyze": len(unanalysed)}
    return {stage: n for stage, n in found.items() if n}


# --- status ----------------------------------------------------------------------------------

@dataclass
class StageStatus:
    stage: str
    queued: int = 0
    running: int = 0
    lost: int = 0  # held by a dead worker: `songlake resume` queues it again
    retrying: int = 0
    done: int = 0
    failed: int = 0
    unavailable: int = 0
    reasons: list[tuple[str, int]] = field(default_factory=list)  # most common failure reasons


def status(queue: Queue) -> tuple[list[StageStatus], list[WorkerInfo]]:
    """Queued, running, done and failed per stage (failures with their reasons), and the workers."""
    now = time.time()
    workers = queue.ledger.workers()
    live = {w.worker for w in workers if w.alive(now)}
    con = connect(Lake.open(queue.lake_root))
    counts = {(stage, st): n for stage, st, n in con.execute(
        "SELECT stage, status, count(*) FROM stage_status GROUP BY ALL").fetchall()}
    reasons: dict[str, list[tuple[str, int]]] = {}
    for stage, reason, n in con.execute(
            "SELECT stage, reason, count(*) AS n FROM stage_status WHERE status IN ('failed', 'unavailable') "
            "GROUP BY ALL ORDER BY n DESC").fetchall():
        reasons.setdefault(stage, []).append((reason, n))
    songs = con.execute("SELECT count(*) FROM songs").fetchone()[0]
    refused = con.execute("SELECT count(*) FROM ingest_errors").fetchone()[0]
    refusals = con.execute("SELECT reason, count(*) AS n FROM ingest_errors GROUP BY ALL ORDER BY n DESC LIMIT 5").fetchall()
    table = []
    for stage in STAGES:
        claims = queue.ledger.claims(stage)
        row = StageStatus(stage, queued=len(queue.ledger.queued(stage)),
                          running=sum(c.worker in live or c.worker.startswith(STAGED) for c in claims),
                          lost=sum(c.worker not in live and not c.worker.startswith(STAGED) for c in claims),
                          retrying=queue.hueys[stage].scheduled_count(),
                          done=counts.get((stage, "done"), 0), failed=counts.get((stage, "failed"), 0),
                          unavailable=counts.get((stage, "unavailable"), 0), reasons=reasons.get(stage, [])[:5])
        if stage == "ingest":
            row.done, row.failed, row.reasons = songs, refused, [(r, n) for r, n in refusals]
        table.append(row)
    return table, workers
