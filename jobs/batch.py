"""An ingest batch: find the files, examine them in worker processes, commit once.

Files already in the lake are skipped twice over: by file hash before any decoding, and by
song_id (the decoded audio) after it, so a renamed or re-tagged copy is recognised. Workers are
processes (analysis is CPU-bound and holds the GIL); at most two files per worker are in flight,
so memory does not grow with the batch. A worker that dies (a decoder crash, the OOM killer)
breaks the pool: the files it may have held are retried one at a time in a fresh pool, and only
a file that kills its worker again is refused.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from songlake.jobs.examine import Examined, Provenance, Refused, examine, sha256_of
from songlake.schema import BatchWriter, Lake, connect

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
    with audio names are examined and the rest (cover art, playlists, notes) passed over."""
    chosen: list[Path] = []
    passed: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            for path in sorted(p for p in entry.rglob("*") if p.is_file()):
                if path.name.startswith("."):
                    continue
                suffix = path.suffix.lower()
                (chosen if suffix in AUDIO_EXTENSIONS | UNSUPPORTED_AUDIO else passed).append(path)
        else:
            chosen.append(entry)
    seen: set[Path] = set()
    unique = [p for p in chosen if not (p.resolve() in seen or seen.add(p.resolve()))]
    return unique, [p for p in passed if p.resolve() not in seen]


def _pool(workers: int) -> ProcessPoolExecutor:
    # forkserver: children start from a clean process, not a fork of one holding Lance's threads
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))


def _examine_all(files: list[Path], provenance: Provenance, workers: int) -> Iterable[Examined | Refused]:
    if workers <= 1:
        for path in files:
            yield examine(path, provenance)
        return
    queue = list(reversed(files))
    suspects: list[Path] = []
    pool = _pool(workers)
    running: dict[Future, Path] = {}
    try:
        while queue or running:
            while queue and len(running) < 2 * workers:
                path = queue.pop()
                running[pool.submit(examine, path, provenance)] = path
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                path = running.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    suspects.append(path)
            if suspects and running:
                suspects.extend(running.values())  # the pool is broken: everything in it failed
                running.clear()
            if suspects:
                pool.shutdown(cancel_futures=True)
                yield from _isolate(suspects, provenance)
                suspects = []
                pool = _pool(workers)
    finally:
        pool.shutdown(cancel_futures=True)


def _isolate(paths: list[Path], provenance: Provenance) -> Iterable[Examined | Refused]:
    """Retry each file alone; one that kills its worker again is refused."""
    for path in paths:
        with _pool(1) as pool:
            try:
                yield pool.submit(examine, path, provenance).result()
            except BrokenProcessPool:
                yield Refused(str(path), None, "analysing this file crashed the worker process twice")


def _already_known(lake: Lake) -> tuple[dict[str, str], set[str], set[tuple[str | None, str]]]:
    con = connect(lake)
    by_sha = dict(con.execute("SELECT file_sha256, song_id FROM lake_tracks").fetchall())
    song_ids = set(by_sha.values())
    errors = set(con.execute("SELECT file_sha256, reason FROM lake_ingest_errors").fetchall())
    return by_sha, song_ids, errors


def ingest(
    lake: Lake,
    paths: Iterable[str | Path],
    provenance: Provenance = Provenance(),
    workers: int | None = None,
    on_file: Callable[[Outcome, int, int], None] | None = None,
) -> IngestReport:
    """Ingest files and folders into the lake as one batch (one new lake version at most)."""
    started = time.perf_counter()
    files, passed_over = discover(paths)
    report = IngestReport(passed_over=[str(p) for p in passed_over])
    by_sha, song_ids, known_errors = _already_known(lake)
    writer = BatchWriter(lake)
    total = len(files)

    def note(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        if on_file:
            on_file(outcome, len(report.outcomes), total)

    fresh: list[Path] = []
    for path in files:
        try:
            sha = sha256_of(path)
        except OSError as exc:
            note(_refuse(writer, known_errors, Refused(str(path), None, f"cannot read the file: {exc.strerror or exc}")))
            continue
        if sha in by_sha:
            note(Outcome(str(path), "present", f"same file as song {by_sha[sha]}"))
        else:
            fresh.append(path)

    for result in _examine_all(fresh, provenance, workers or os.cpu_count() or 1):
        if isinstance(result, Refused):
            note(_refuse(writer, known_errors, result))
        elif result.song_id in song_ids:
            note(Outcome(result.path, "present", f"same audio as song {result.song_id}"))
        else:
            song_ids.add(result.song_id)
            for table, row in result.rows.items():
                writer.add(table, row)
            report.audio_seconds += result.audio_seconds
            note(Outcome(result.path, "ingested", result.song_id))

    ingested = len(report.of("ingested"))
    report.version = writer.commit(
        "ingest",
        f"ingested {ingested} songs, refused {len(report.of('refused'))}",
        {"songs": ingested, "refused": len(report.of("refused"))},
    )
    report.seconds = time.perf_counter() - started
    return report


def _refuse(writer: BatchWriter, known: set[tuple[str | None, str]], refused: Refused) -> Outcome:
    """Record a refusal once: the same file refused for the same reason is not recorded again."""
    if (refused.file_sha256, refused.reason) not in known:
        known.add((refused.file_sha256, refused.reason))
        writer.add("ingest_errors", {
            "filename": refused.filename,
            "path": str(Path(refused.path).resolve()),
            "file_sha256": refused.file_sha256,
            "reason": refused.reason,
            "refused_at": datetime.now(timezone.utc),
        })
    return Outcome(refused.path, "refused", refused.reason)
