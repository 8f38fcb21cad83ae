"""Uploads: files streamed to disk, checked by decoding, queued for ingest, followed as jobs.

``receive`` parses a multipart body as it arrives (the field ``files``, once per file; the text
fields ``license`` and ``source`` apply to the batch) and writes each file straight to its own
folder under ``LAKE/uploads/<job id>/``, counting bytes against the per-file limit, so memory
holds one network chunk at a time whatever the upload's size. A file's name is reduced to a
plain file name (no folders, no dots in front, no control characters): a name cannot choose
where the file lands. Each saved file is then checked by decoding its first frames with FFmpeg,
whatever its extension says; a refused file (empty, over the limit, not audio) gets a job that
says why, a row in ``ingest_errors``, and is deleted.

Accepted files go to the ingest queue like ``songlake ingest`` does. The ``JobStore`` (SQLite in
``LAKE/server/jobs.db``) remembers each file's job; ``JobWatcher`` collects the ingest outcomes
from Huey's results, records them, and deletes the uploaded copy once the lake holds the original.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import sqlite3
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

import av
from multipart import MultipartSegment, ParserError, PushMultipartParser

from songlake.server.errors import BadRequest

log = logging.getLogger(__name__)
MAX_FILES = 100  # files per request
_NAME = re.compile(r"[^\w.\-()+ ,&']+")


def safe_name(name: str | None) -> str:
    """A plain file name from what a client sent: the last path component, with nothing that
    could reach outside the upload folder ('..', separators, leading dots) or confuse a shell."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _NAME.sub("_", name).strip(" .")
    return name[:200] or "upload"


@dataclass
class Received:
    """One file of an upload request, saved (path set) or refused (reason set)."""

    job_id: str
    filename: str  # the safe name
    sent_name: str  # what the client called it
    size: int = 0
    sha256: str | None = None
    path: Path | None = None
    reason: str | None = None
    too_large: bool = False


@dataclass
class Upload:
    files: list[Received] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


async def receive(stream: AsyncIterator[bytes], boundary: bytes, folder: Path, max_bytes: int) -> Upload:
    """Parse a multipart body from its stream, writing each `files` part to folder/<job>/<name>."""
    upload = Upload()
    current: Received | None = None
    handle = None
    digest = None
    text: bytearray | None = None
    name = ""
    try:
        with PushMultipartParser(boundary, max_segment_count=MAX_FILES + 10) as parser:
            async for chunk in stream:
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        name = part.name
                        if part.filename is not None or name == "files":
                            if name != "files":
                                raise BadRequest(f"upload files in the field 'files', not {name!r}")
                            if len(upload.files) >= MAX_FILES:
                                raise BadRequest(f"at most {MAX_FILES} files per request")
                            job = uuid.uuid4().hex
                            current = Received(job, safe_name(part.filename), part.filename or "")
                            target = folder / job
                            target.mkdir(parents=True)
                            current.path = target / current.filename
                            handle = open(target / f".{current.filename}.partial", "wb")
                            digest = hashlib.sha256()
                            upload.files.append(current)
                        else:
                            text = bytearray()
                    elif part:  # a chunk of the current part's body
                        if current is not None:
                            current.size += len(part)
                            if current.size > max_bytes:
                                current.too_large = True
                            elif handle is not None:
                                handle.write(part)
                                digest.update(part)
                        elif text is not None:
                            text.extend(part)
                            if len(text) > 10_000:
                                raise BadRequest(f"the form field {name!r} is too long")
                    else:  # the end of a part
                        if current is not None:
                            _finish(current, handle, digest, max_bytes)
                        elif text is not None:
                            upload.fields[name] = text.decode("utf-8", "replace")
                        current, handle, digest, text = None, None, None, None
    except ParserError as exc:
        raise BadRequest(f"the body is not valid multipart/form-data: {exc}") from None
    finally:
        if handle is not None:  # the body ended inside a file
            handle.close()
            if current is not None and current.reason is None:
                current.reason = "the upload ended before the file did (connection cut?)"
                _discard(current)
    return upload


def _finish(got: Received, handle, digest, max_bytes: int) -> None:
    handle.close()
    partial = got.path.with_name(f".{got.filename}.partial")
    if got.too_large:
        got.reason = f"larger than the upload limit of {max_bytes / 1048576:g} MB"
    elif got.size == 0:
        got.reason = "empty file (0 bytes)"
    if got.reason:
        partial.unlink(missing_ok=True)
        _discard(got)
        return
    got.sha256 = digest.hexdigest()
    partial.rename(got.path)


def _discard(got: Received) -> None:
    if got.path is not None:
        shutil.rmtree(got.path.parent, ignore_errors=True)
        got.path = None


def probe(got: Received, seconds: float = 2.0) -> None:
    """Check a saved file by decoding its first seconds; set got.reason and delete it when it is not audio."""
    if got.reason or got.path is None:
        return
    try:
        with av.open(str(got.path)) as container:
            if not container.streams.audio:
                raise ValueError("it has no audio stream")
            stream = container.streams.audio[0]
            decoded = 0.0
            for frame in container.decode(stream):
                decoded += frame.samples / max(1, frame.sample_rate)
                if decoded >= seconds:
                    break
            if decoded == 0.0:
                raise ValueError("no audio could be decoded from it")
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else type(exc).__name__.replace("Error", " error")
        got.reason = f"not an audio file that songlake can decode ({detail})"
        _discard(got)


# --- jobs ------------------------------------------------------------------------------------

@dataclass
class Job:
    id: str
    filename: str
    status: str  # queued, refused, ingested, present, failed
    detail: str | None
    song_id: str | None
    size: int
    author: str | None
    created_at: str
    updated_at: str
    task_id: str | None = None
    stage: str = "ingest"


class JobStore:
    """Each uploaded file's job: its ingest task and, once known, the outcome and song."""

    COLUMNS = "id, filename, status, detail, song_id, size, author, created_at, updated_at, task_id, stage"

    def __init__(self, lake_root: str | Path):
        self.path = Path(lake_root) / "server" / "jobs.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, filename TEXT, status TEXT, detail TEXT, "
                       "song_id TEXT, size INTEGER, author TEXT, created_at TEXT, updated_at TEXT, task_id TEXT, "
                       "stage TEXT, upload_dir TEXT)")
            db.execute("CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status)")

    def _db(self) -> sqlite3.Connection:
        if getattr(self._local, "db", None) is None:
            self._local.db = sqlite3.connect(self.path, timeout=30)
        return self._local.db

    def add(self, got: Received, status: str, author: str | None, task_id: str | None = None) -> Job:
        now = _now()
        with self._db() as db:
            db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, 'ingest', ?)",
                       (got.job_id, got.filename, status, got.reason, got.size, author, now, now, task_id,
                        str(got.path.parent) if got.path else None))
        return self.get(got.job_id)

    def get(self, job_id: str) -> Job | None:
        row = self._db().execute(f"SELECT {self.COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job(*row) if row else None

    def waiting(self) -> list[tuple[str, str, str | None]]:
        """(job id, task id, upload folder) of the jobs whose ingest outcome is not known yet."""
        return self._db().execute("SELECT id, task_id, upload_dir FROM jobs WHERE status = 'queued'").fetchall()

    def settle(self, job_id: str, status: str, detail: str | None, song_id: str | None) -> None:
        with self._db() as db:
            db.execute("UPDATE jobs SET status = ?, detail = ?, song_id = ?, updated_at = ? WHERE id = ?",
                       (status, detail, song_id, _now(), job_id))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class JobWatcher:
    """Collects ingest outcomes from the queue's results into the JobStore, and removes the
    uploaded copies the lake no longer needs. ``poll()`` once, or ``start()`` a thread."""

    def __init__(self, jobs: JobStore, queue, interval: float = 0.5):
        self.jobs = jobs
        self.queue = queue
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Settle every job whose ingest task has finished; returns how many were settled."""
        from huey.exceptions import TaskException

        huey = self.queue.hueys["ingest"]
        settled = 0
        by_task: dict[str, list[tuple[str, str | None]]] = {}
        for job_id, task_id, folder in self.jobs.waiting():
            by_task.setdefault(task_id, []).append((job_id, folder))
        for task_id, jobs in by_task.items():
            try:
                outcomes = huey.result(task_id, preserve=True)
            except TaskException as exc:  # the task failed for good (after its retries)
                outcomes = [{"key": None, "status": "failed", "detail": str(exc.metadata.get("error") or exc)}]
            if outcomes is None:
                continue
            found = {Path(o["key"]).parent.name: o for o in outcomes if o.get("key")}
            for job_id, folder in jobs:
                outcome = found.get(job_id) if found else outcomes[0]  # no keys: the whole task failed
                if outcome is None:
                    continue
                song = outcome["detail"] if outcome["status"] == "ingested" else _song_in(outcome["detail"])
                self.jobs.settle(job_id, outcome["status"], None if outcome["status"] == "ingested" else outcome["detail"], song)
                if folder:
                    shutil.rmtree(folder, ignore_errors=True)
                settled += 1
            huey.get(task_id)  # consume the result: it is recorded in the JobStore now
        return settled

    def start(self) -> "JobWatcher":
        self._thread = threading.Thread(target=self._run, name="songlake-jobs", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # the watcher must outlive one bad poll
                log.exception("collecting upload outcomes failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _song_in(detail: str | None) -> str | None:
    """The song id named in a 'present' outcome ('same audio as song 1a2b...')."""
    match = re.search(r"song ([0-9a-f]{8,})", detail or "")
    return match.group(1) if match else None
