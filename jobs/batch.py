"""An ingest batch: find the files, examine them in worker processes, commit once.

Files already in the lake are skipped twice over: by file hash before any decoding, and by
song_id (the decoded audio) after it, so a renamed or re-tagged copy is recognised. Workers are
processes (analysis is CPU-bound and holds the GIL) from a bounded pool, so memory does not grow
with the batch; a file that crashes its worker twice is refused and the others go on (_pool.py).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

from songlake.jobs._pool import WorkerCrashed, parallel_map
from songlake.jobs.examine import Provenance, Refused, examine, reanalyze, sha256_of
from songlake.jobs.genre import classify, song_row
from songlake.schema import BatchWriter, Lake, connect, run

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

    batch_songs: list[dict] = []  # genre inputs of the songs this batch adds
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

    for path, result in parallel_map(partial(examine, provenance=provenance), fresh, workers or os.cpu_count() or 1):
        if isinstance(result, WorkerCrashed):
            result = Refused(str(path), None, "analysing this file crashed the worker process twice")
        if isinstance(result, Refused):
            note(_refuse(writer, known_errors, result))
        elif result.song_id in song_ids:
            note(Outcome(result.path, "present", f"same audio as song {result.song_id}"))
        else:
            song_ids.add(result.song_id)
            for table, row in result.rows.items():
                writer.add(table, row)
            batch_songs.append(song_row(result.rows))
            report.audio_seconds += result.audio_seconds
            note(Outcome(result.path, "ingested", result.song_id))

    ingested = len(report.of("ingested"))
    if batch_songs:
        classify(lake, writer, batch_songs)
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


def reanalyze_lake(
    lake: Lake,
    everything: bool = False,
    workers: int | None = None,
    on_song: Callable[[int, int], None] | None = None,
) -> tuple[int, int | None, list[str]]:
    """Analyse again, from their original files, the songs whose analysis is older than this
    songlake's (or every song); one new lake version. Returns (songs, version, failures)."""
    from songlake.udfs import ANALYSIS_VERSION

    con = connect(lake)
    where = "" if everything else f"WHERE analysis_version IS NULL OR analysis_version < {int(ANALYSIS_VERSION)}"
    wanted = {row[0] for row in con.execute(f"SELECT song_id FROM songs {where}").fetchall()}
    originals = lake.dataset("originals")
    ids = originals.to_table(columns=["song_id"]).column("song_id").to_pylist()
    positions = {sid: i for i, sid in enumerate(ids) if sid in wanted}

    def items():
        for sid, position in positions.items():
            yield sid, originals.take_blobs("data", indices=[position])[0].read()

    writer = BatchWriter(lake)
    failures: list[str] = []
    analysed: dict[str, dict] = {}
    done = 0
    for (sid, _), row in parallel_map(_reanalyze_item, items(), workers or os.cpu_count() or 1):
        done += 1
        if isinstance(row, Exception):
            failures.append(f"{sid}: {row}")
        else:
            writer.add("analysis", row)
            analysed[sid] = row
        if on_song:
            on_song(done, len(positions))
    if analysed:
        rows = run(connect(lake), "SELECT * FROM songs WHERE list_contains($1, song_id)", params=[list(analysed)])
        base = {r["song_id"]: r for r in rows.to_pylist()}
        batch = [song_row({"tracks": base[sid], "analysis": row, "embeddings": {"embedding": base[sid]["embedding"]}})
                 for sid, row in analysed.items()]
        classify(lake, writer, batch, replaced=set(analysed))
    version = writer.commit("analyze", f"re-analysed {done - len(failures)} songs", {"songs": done - len(failures)})
    return done - len(failures), version, failures


def _reanalyze_item(item: tuple[str, bytes]):
    try:
        return reanalyze(*item)
    except Exception as exc:  # recorded per song; the others go on
        return exc
