"""An ingest batch: find the files, queue them, run the workers until the pipeline is done.

``ingest`` is the embedded default of the job pipeline (queue.py): it queues the files on the
lake's queue and runs workers itself (in this process for one worker, else worker processes
that are restarted, and their lost work resumed, if they die) until every stage of every file
is done, reporting each file's outcome as its ingest task finishes. With ``SONGLAKE_QUEUE`` on
Redis and ``songlake worker`` running elsewhere, it queues and waits (``run_workers=False``).
Files already in the lake are recognised by file hash and by song_id (the decoded audio), so a
renamed or re-tagged copy is not added twice.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from songlake.jobs import commit
from songlake.jobs.examine import Provenance, Refused
from songlake.jobs.queue import Queue
from songlake.jobs.worker import Pool, Worker, resume
from songlake.schema import Lake, connect
from songlake.udfs import ANALYSIS_VERSION

log = logging.getLogger(__name__)
AUDIO_EXTENSIONS = {".mp3", ".flac", ".wav", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac"}
# Audio that songlake does not take; in a folder these are refused rather than passed over.
UNSUPPORTED_AUDIO = {".wma", ".aiff", ".aif", ".ape", ".wv", ".mka", ".ac3", ".dts", ".mid", ".midi"}


@dataclass
class Outcome:
    """What happened to one file."""

    path: str
    status: str  # ingested, present, refused
    detail: str = ""  # the song_id, or why it was present or refused


@dataclass
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)
    passed_over: list[str] = field(default_factory=list)  # files in folders that are not audio
    version: int | None = None
    seconds: float = 0.0
    audio_seconds: float = 0.0

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(files to examine, files passed over) from files and folders, folders searched recursively.

    A file named on the command line is always examined, whatever its name; in folders, files
    with audio names are examined and the rest (cover art, playlists, notes) passed over. Only
    names are looked at here, never contents: a FIFO, device or socket is examined like a file
    and refused there, without being read (examine.open_regular)."""
    chosen: list[Path] = []
    passed: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            for path in sorted(p for p in entry.rglob("*") if not p.is_dir()):
                if path.name.startswith("."):
                    continue
                suffix = path.suffix.lower()
                (chosen if suffix in AUDIO_EXTENSIONS | UNSUPPORTED_AUDIO else passed).append(path)
        else:
            chosen.append(entry)
    seen: set[Path] = set()
    unique = [p for p in chosen if not (p.resolve() in seen or seen.add(p.resolve()))]
    return unique, [p for p in passed if p.resolve() not in seen]


def ingest(
    lake: Lake,
    paths: Iterable[str | Path],
    provenance: Provenance = Provenance(),
    workers: int | None = None,
    on_file: Callable[[Outcome, int, int], None] | None = None,
    *,
    separate: bool = True,
    run_workers: bool = True,
    on_wait: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest files and folders: queue them, run the pipeline to the end, report per file."""
    started = time.perf_counter()
    files, passed_over = discover(paths)
    report = IngestReport(passed_over=[str(p) for p in passed_over])
    queue = Queue.open(lake.root)
    first = lake.version()
    keys = [str(p.resolve()) if p.exists() else str(p) for p in files]
    named = dict(zip(keys, map(str, files)))
    options = {"license": provenance.license, "source": provenance.source, "separate": separate}
    pending = list(queue.submit("ingest", keys, **options))

    def collect() -> None:
        for result in list(pending):
            try:
                outcomes = result.get()
            except Exception as exc:  # the task failed for good; its files are refused with the reason
                outcomes = [{"key": k, "status": "refused", "detail": str(exc)} for k in result.task.args[2]]
            if outcomes is None:
                continue
            pending.remove(result)
            for o in outcomes:
                report.outcomes.append(Outcome(named.get(o["key"], o["key"]), o["status"], o["detail"]))
                report.audio_seconds += o.get("audio_seconds", 0.0)
                if on_file:
                    on_file(report.outcomes[-1], len(report.outcomes), len(files))

    _drive(queue, workers, run_workers, collect, on_wait)
    collect()
    latest = lake.version()
    report.version = latest if latest > first else None
    report.seconds = time.perf_counter() - started
    return report


def _drive(queue: Queue, workers: int | None, run_workers: bool, tick: Callable[[], None],
           on_wait: Callable[[int], None] | None) -> None:
    """Run (or wait for) the workers until no stage has work left, calling tick as things finish."""
    workers = workers or os.cpu_count() or 1

    def waited() -> None:
        tick()
        if on_wait:
            on_wait(queue.pending())

    def committed() -> None:  # the driving process is idle: it commits what the workers staged
        try:
            commit.commit_round(queue)
        except Exception:
            log.exception("commit from the ingest driver failed; the rows stay staged")

    if run_workers and workers <= 1:
        Worker(queue).run(until_idle=True, on_step=waited)
        return
    pool = Pool(queue, tuple(queue.hueys), workers, until_idle=True).start() if run_workers else None
    warned = False
    try:
        while queue.pending() > 0 or (pool is not None and pool.alive()):
            waited()
            committed()
            if pool is not None:
                pool.restart_dead()
            elif not any(w.alive() for w in queue.ledger.workers()):
                if not warned:
                    log.warning("no worker is alive on %s: start `songlake worker` (or pass --workers N)", queue.where)
                    warned = True
                resume(queue, scan_lake=False)
            time.sleep(0.25)
    finally:
        if pool is not None:
            pool.shutdown()
    commit.flush(queue)
    waited()


def refusal_row(refused: Refused) -> dict:
    """The ingest_errors row of a refusal (for refusals made outside the pipeline, e.g. uploads)."""
    return refused.row()


def run_stage_batch(lake: Lake, stage: str, keys: list[str], workers: int | None = None,
                    on_progress: Callable[[int, int], None] | None = None, **options) -> list[dict]:
    """Queue keys for one stage, run the pipeline until done; the stage's outcome per key."""
    queue = Queue.open(lake.root)
    results = queue.submit(stage, keys, **options)
    outcomes: list[dict] = []

    def collect() -> None:
        for result in list(results):
            try:
                got = result.get()
            except Exception as exc:  # the task failed for good
                got = [{"key": k, "status": "failed", "detail": str(exc)} for k in result.task.args[2]]
            if got is not None:
                results.remove(result)
                outcomes.extend(got)
                if on_progress:
                    on_progress(len(outcomes), len(keys))

    _drive(queue, workers, True, collect, None)
    collect()
    return outcomes


def reanalyze_lake(
    lake: Lake,
    everything: bool = False,
    workers: int | None = None,
    on_song: Callable[[int, int], None] | None = None,
) -> tuple[int, int | None, list[str]]:
    """Analyse again, from their original files (and stems), the songs whose analysis is older
    than this songlake's (or every song). Returns (songs analysed, latest version, failures)."""
    con = connect(lake)
    where = "" if everything else f"WHERE analysis_version IS NULL OR analysis_version < {int(ANALYSIS_VERSION)}"
    wanted = [row[0] for row in con.execute(f"SELECT song_id FROM songs {where}").fetchall()]
    first = lake.version()
    outcomes = run_stage_batch(lake, "analyze", wanted, workers, on_song, force=True)
    failures = [f"{o['key']}: {o['detail']}" for o in outcomes if o["status"] == "failed"]
    latest = lake.version()
    return sum(o["status"] == "done" for o in outcomes), latest if latest > first else None, failures
