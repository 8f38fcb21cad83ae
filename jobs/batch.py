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
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from songlake.jobs import commit
from songlake.jobs.examine import Provenance, Refused, open_regular, sha256_of, unreadable
from songlake.jobs.queue import Queue
from songlake.jobs.worker import Pool, Worker, resume
from songlake.schema import Lake, LakeVersion, connect, lookup
from songlake.udfs import ANALYSIS_VERSION
from songlake.udfs.audio import UnreadableAudio, decode, song_id

log = logging.getLogger(__name__)
AUDIO_EXTENSIONS = {".mp3", ".flac", ".wav", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac"}
# Audio that songlake does not take; in a folder these are refused rather than passed over.
UNSUPPORTED_AUDIO = {".wma", ".aiff", ".aif", ".ape", ".wv", ".mka", ".ac3", ".dts", ".mid", ".midi"}


@dataclass
class Outcome:
    """What happened to one file."""

    path: str
    status: str  # ingested, present, refused; failed (its task failed), unaccounted (no outcome, nothing in the lake)
    detail: str = ""  # the song_id, or why it was present, refused, failed or unaccounted


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
    """Ingest files and folders: queue them, run the pipeline to the end, report per file.

    Every file gets one outcome. Most come back as the results of the tasks this call queued; a
    file whose result never comes (its worker was killed and another finished its work, or a
    concurrent ingest's worker took it) is looked up in the lake at the end (``_account``)."""
    started = time.perf_counter()
    files, passed_over = discover(paths)
    report = IngestReport(passed_over=[str(p) for p in passed_over])
    queue = Queue.open(lake.root)
    before = lake.head()
    keys = [str(p.resolve()) if p.exists() else str(p) for p in files]
    named = dict(zip(keys, map(str, files)))
    options = {"license": provenance.license, "source": provenance.source, "separate": separate}
    pending = list(queue.submit("ingest", keys, **options))
    settled: dict[str, tuple[Outcome, float]] = {}  # key -> (outcome, seconds of audio)
    unsure: set[str] = set()  # failed, or only "another worker holds the file": the lake has the last word

    def record(key: str, outcome: Outcome, seconds: float = 0.0, sure: bool = True) -> None:
        if key in settled and key not in unsure:
            return  # a resumed task reports its file again
        if key not in settled and on_file:
            on_file(outcome, len(settled) + 1, len(files))
        settled[key] = (outcome, seconds)
        (unsure.discard if sure else unsure.add)(key)

    def collect() -> None:
        for result in list(pending):
            try:
                outcomes = result.get()
            except Exception as exc:  # the task failed for good (no refusal was recorded)
                reason = f"its ingest task failed: {_without_paths(str(exc))}"
                outcomes = [{"key": k, "status": "failed", "detail": reason} for k in result.task.args[2]]
            if outcomes is None:
                continue
            pending.remove(result)
            for o in outcomes:
                key = o["key"]
                record(key, Outcome(named.get(key, key), o["status"], o["detail"]), o.get("audio_seconds", 0.0),
                       sure=o["status"] != "failed" and not o.get("provisional"))

    _drive(queue, workers, run_workers, collect, on_wait)
    collect()
    unsettled = [k for k in keys if k not in settled or k in unsure]
    if unsettled:
        ingested = {o.detail for k, (o, _) in settled.items() if o.status == "ingested" and k not in unsure}
        for key, (found, seconds) in _account(lake, before, unsettled, ingested).items():
            if found.status == "unaccounted" and settled.get(key, (found,))[0].status == "failed":
                found = settled[key][0]  # the lake knows nothing of it: the task's failure says why
            record(key, Outcome(named.get(key, key), found.status, found.detail), seconds)
    report.outcomes = [settled[k][0] for k in keys if k in settled]
    report.audio_seconds = sum(settled[k][1] for k in keys if k in settled)
    latest = lake.version()
    report.version = latest if latest > before.version else None
    report.seconds = time.perf_counter() - started
    return report


def _account(lake: Lake, before: LakeVersion, keys: list[str], ingested: set[str]) -> dict[str, tuple[Outcome, float]]:
    """What the lake says happened to files whose tasks' outcomes never came back: (outcome,
    seconds of audio) per key. A file is found by its hash: stored before the batch (present),
    stored during it (ingested, unless another file of this batch already counts for that song),
    or refused (ingest_errors); failing those, by its decoded audio (present as the same audio);
    else it is unaccounted. Costs a few indexed lookups, and one decode per file not found."""
    found: dict[str, tuple[Outcome, float]] = {}
    shas: dict[str, str] = {}
    for key in keys:
        try:
            shas[key] = sha256_of(Path(key))
        except OSError as exc:  # what the ingest stage refuses the file for, too
            found[key] = (Outcome(key, "refused", unreadable(exc)), 0.0)
    head = lake.head()
    now = lookup.song_ids_of_files(lake, shas.values(), head)
    earlier = lookup.song_ids_of_files(lake, shas.values(), before)
    durations = {sid: row["duration"] or 0.0 for sid, row in lookup.tracks(lake, now.values(), ["duration"], head).items()}
    refusals = lookup.by_key(lookup.table_at(lake, "ingest_errors", head), "file_sha256", shas.values(),
                             ["file_sha256", "reason", "refused_at"])
    reasons = {row["file_sha256"]: row["reason"] for row in
               sorted([] if refusals is None else refusals.to_pylist(), key=lambda r: r["refused_at"].timestamp() if r["refused_at"] else 0.0)}
    for key, sha in shas.items():
        if sha in now:
            sid = now[sha]
            if sha in earlier or sid in ingested:
                found[key] = (Outcome(key, "present", f"same file as song {sid}"), 0.0)
            else:
                ingested.add(sid)
                found[key] = (Outcome(key, "ingested", sid), durations.get(sid, 0.0))
        elif sha in reasons:
            found[key] = (Outcome(key, "refused", reasons[sha]), 0.0)
        else:
            found[key] = (_by_audio(lake, key, head), 0.0)
    return found


def _by_audio(lake: Lake, key: str, head: LakeVersion) -> Outcome:
    """A file the lake has no record of by hash: present if the lake has its audio, else unaccounted."""
    lost = Outcome(key, "unaccounted", "no outcome came back for it and the lake has neither the file nor a "
                                       "refusal of it (run `songlake resume`, then ingest it again)")
    try:
        with open_regular(key) as handle:
            sid = song_id(decode(handle.read()))
    except (OSError, UnreadableAudio):
        return lost
    return Outcome(key, "present", f"same audio as song {sid}") if lookup.present(lake, [sid], head) else lost


def _without_paths(text: str) -> str:
    """text with each absolute path cut to its last part (a file's own name is enough)."""
    text = re.sub(r"(['\"])/(?:[^'\"]*/)?([^'\"/]*)\1", r"\1\2\1", text)  # quoted, spaces and all
    return re.sub(r"(?<![\w.])(?:/[^/\s'\"]+)+/([^/\s'\"]+)", r"\1", text)


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
