"""Uploads: files streamed to disk, checked by decoding, queued for ingest, followed as jobs.

``receive`` parses a multipart body as it arrives (the field ``files``, once per file; the text
fields ``license`` and ``source`` apply to the batch) and writes each file straight to its own
folder under ``LAKE/uploads/<job id>/``, counting bytes against the per-file limit, so memory
holds one network chunk at a time whatever the upload's size. A file's name is reduced to a
plain file name (no folders, no dots in front, no control characters): a name cannot choose
where the file lands; a name longer than MAX_NAME_BYTES is refused (file systems stop at 255).
Each saved file is then checked by decoding its first frames with FFmpeg, whatever its
extension says; a refused file (empty, over the limit, not audio, badly named) gets a job that
says why, a row in ``ingest_errors``, and is deleted.

All or nothing: a request that does not arrive whole (too many files, a malformed body, the
connection cut, the time limit passed) keeps none of its files, and a file is kept only while
its job waits for ingest. ``sweep`` removes whatever no waiting job owns, at start and on a
schedule (JobWatcher), so a crash between writing and queueing orphans nothing for long.

Accepted files go to the ingest queue like ``songlake ingest`` does. The ``JobStore`` (SQLite in
``LAKE/server/jobs.db``) remembers each file's job; ``JobWatcher`` collects the ingest outcomes
from Huey's results, records them (reasons without the server's folders: server.redact), and
deletes the uploaded copy once the lake holds the original.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import sqlite3
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

import anyio
import av
from litestar import Request
from litestar.exceptions import InternalServerException
from multipart import MultipartSegment, ParserError, PushMultipartParser

from songlake.server import redact
from songlake.server.errors import BadRequest, PayloadTooLarge, RequestTimeout
from songlake.udfs.audio import SUPPORTED_FORMATS

log = logging.getLogger(__name__)
MAX_FILES = 100  # files per request, unless the caller says otherwise (settings.upload_max_files)
MAX_NAME_BYTES = 200  # a saved file's name, UTF-8 (file systems allow 255; the name is refused past this)
MAX_FIELD_BYTES = 10_000  # a text field's value, unless the caller says otherwise (a JSON field may need more)
_PARTIAL = ".partial"  # a file's bytes while they arrive, renamed to its name when whole
_NAME = re.compile(r"[^\w.\-()+ ,&']+")


def safe_name(name: str | None) -> str:
    """A plain file name from what a client sent: the last path component, with nothing that
    could reach outside the upload folder ('..', separators, leading dots) or confuse a shell."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _NAME.sub("_", name).strip(" .")
    return name or "upload"


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


async def receive_request(request: Request, folder: Path, max_bytes: int, timeout: float, **options) -> Upload:
    """``receive`` over a request's multipart body, within `timeout` s: a body that is not
    multipart, is cut or is late keeps no file (BadRequest, RequestTimeout)."""
    try:
        with anyio.fail_after(timeout):
            return await receive(request.stream(), _boundary(request), folder, max_bytes, **options)
    except TimeoutError:
        raise RequestTimeout(f"the upload did not arrive within {timeout:g} s; nothing was kept") from None
    except InternalServerException:  # Litestar's word for a client that went away mid-body
        raise BadRequest("the connection closed before the upload was complete; nothing was kept") from None


def _boundary(request: Request) -> bytes:
    content_type, options = request.content_type
    boundary = options.get("boundary", "")
    if content_type != "multipart/form-data" or not 0 < len(boundary) <= 200:
        raise BadRequest("send the files as multipart/form-data")
    return boundary.encode("utf-8", "replace")


async def receive(stream: AsyncIterator[bytes], boundary: bytes, folder: Path, max_bytes: int, *,
                  max_files: int = MAX_FILES, whole: bool = False, max_field_bytes: int = MAX_FIELD_BYTES) -> Upload:
    """Parse a multipart body from its stream, writing each `files` part to folder/<job>/<name>.

    A file over max_bytes is refused (its bytes are read and dropped) and the others go on;
    with ``whole`` (one clip, nothing to go on with) it ends the request at once with
    PayloadTooLarge. More than max_files files is BadRequest before the extra one is written,
    and a text field longer than max_field_bytes is BadRequest.
    Whatever ends the request early (those, a malformed body, the connection cut, a time limit
    around the call) removes every file it wrote."""
    upload = Upload()
    written: list[Path] = []  # the job folders this request made
    current: Received | None = None
    handle = None
    digest = None
    text: bytearray | None = None
    name = ""
    try:
        with PushMultipartParser(boundary, max_segment_count=max_files + 10) as parser:
            async for chunk in stream:
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        name = part.name
                        if part.filename is not None or name == "files":
                            if name != "files":
                                raise BadRequest(f"upload files in the field 'files', not {name!r}")
                            if len(upload.files) >= max_files:
                                raise BadRequest(f"at most {max_files} file{'s' if max_files > 1 else ''} per request: "
                                                 f"nothing was kept; send the rest in another request")
                            current = Received(uuid.uuid4().hex, safe_name(part.filename), part.filename or "")
                            upload.files.append(current)
                            if len(current.filename.encode("utf-8")) > MAX_NAME_BYTES:
                                current.reason = (f"the file name is longer than {MAX_NAME_BYTES} bytes "
                                                  f"({len(current.filename.encode('utf-8'))}); rename it and send it again")
                            else:
                                target = folder / current.job_id
                                target.mkdir(parents=True)
                                written.append(target)
                                current.path = target / current.filename
                                handle = open(target / _PARTIAL, "wb")
                                digest = hashlib.sha256()
                        else:
                            text = bytearray()
                    elif part:  # a chunk of the current part's body
                        if current is not None:
                            current.size += len(part)
                            if current.size > max_bytes:
                                current.too_large = True
                                if whole:
                                    raise PayloadTooLarge(f"{current.filename} is larger than the limit of "
                                                          f"{max_bytes / 1048576:g} MB")
                            elif handle is not None:
                                handle.write(part)
                                digest.update(part)
                        elif text is not None:
                            text.extend(part)
                            if len(text) > max_field_bytes:
                                raise BadRequest(f"the form field {name!r} is too long (at most "
                                                 f"{max_field_bytes} bytes)")
                    else:  # the end of a part
                        if current is not None:
                            _finish(current, handle, digest, max_bytes)
                        elif text is not None:
                            upload.fields[name] = text.decode("utf-8", "replace")
                        current, handle, digest, text = None, None, None, None
    except ParserError as exc:
        _remove(written, handle)
        raise BadRequest(f"the body is not valid multipart/form-data: {exc}") from None
    except BaseException:  # refused, cut, timed out or cancelled: nothing of it stays
        _remove(written, handle)
        raise
    return upload


def _remove(folders: list[Path], handle) -> None:
    if handle is not None:
        handle.close()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _finish(got: Received, handle, digest, max_bytes: int) -> None:
    if handle is None:  # refused before a byte was written (its name)
        return
    handle.close()
    partial = got.path.with_name(_PARTIAL)
    if got.too_large:
        got.reason = f"larger than the upload limit of {max_bytes / 1048576:g} MB"
    elif got.size == 0:
        got.reason = "empty file (0 bytes)"
    if got.reason:
        partial.unlink(missing_ok=True)
        discard(got)
        return
    got.sha256 = digest.hexdigest()
    partial.rename(got.path)


def discard(got: Received) -> None:
    """Delete a received file and its job folder."""
    if got.path is not None:
        shutil.rmtree(got.path.parent, ignore_errors=True)
        got.path = None


def sweep(folder: Path, keep: set[str], min_age: float = 0.0) -> int:
    """Remove what is in `folder` (LAKE/uploads) but no waiting job owns: entries not named in
    `keep` and untouched for `min_age` s (an upload still arriving is younger). Returns how many."""
    removed = 0
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return 0
    now = time.time()
    for entry in entries:
        if entry.name in keep:
            continue
        try:
            if now - entry.lstat().st_mtime < min_age:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError as exc:
            log.warning("could not remove the orphan %s: %s", entry.name, exc.strerror or exc)
    return removed


def probe(got: Received, seconds: float = 2.0, time_limit: float = 10.0) -> None:
    """Check a saved file by decoding its first seconds (at most `time_limit` s of work); set
    got.reason and delete it when it is not audio songlake reads. The reason names no path."""
    if got.reason or got.path is None:
        return
    started = time.monotonic()
    try:
        with av.open(str(got.path)) as container:
            if container.format.name not in SUPPORTED_FORMATS:
                raise ValueError(f"unsupported format '{container.format.long_name}'")
            if not container.streams.audio:
                raise ValueError("it has no audio stream")
            stream = container.streams.audio[0]
            decoded = 0.0
            for frame in container.decode(stream):
                decoded += frame.samples / max(1, frame.sample_rate)
                if decoded >= seconds or time.monotonic() - started > time_limit:
                    break
            if decoded == 0.0:
                raise ValueError("no audio could be decoded from it")
    except av.error.FFmpegError as exc:  # its message quotes the file's path: say what kind of error only
        got.reason = f"not an audio file that songlake can decode ({_ffmpeg_kind(exc)})"
        discard(got)
    except (ValueError, UnicodeDecodeError) as exc:
        got.reason = f"not an audio file that songlake can decode ({redact.text(str(exc))})"
        discard(got)


def _ffmpeg_kind(exc: Exception) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__.replace("Error", "")).lower().strip()
    return f"{words or 'ffmpeg'} error"


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
                       (got.job_id, got.filename, status, redact.text(got.reason), got.size, author, now, now, task_id,
                        str(got.path.parent) if got.path else None))
        return self.get(got.job_id)

    def get(self, job_id: str) -> Job | None:
        row = self._db().execute(f"SELECT {self.COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job(*row) if row else None

    def owned(self) -> set[str]:
        """The names of the upload folders that waiting jobs own (kept by the sweep)."""
        rows = self._db().execute("SELECT upload_dir FROM jobs WHERE status = 'queued' AND upload_dir IS NOT NULL")
        return {Path(folder).name for (folder,) in rows}

    def waiting(self) -> list[tuple[str, str, str | None]]:
        """(job id, task id, upload folder) of the jobs whose ingest outcome is not known yet."""
        return self._db().execute("SELECT id, task_id, upload_dir FROM jobs WHERE status = 'queued'").fetchall()

    def settle(self, job_id: str, status: str, detail: str | None, song_id: str | None) -> None:
        with self._db() as db:
            db.execute("UPDATE jobs SET status = ?, detail = ?, song_id = ?, updated_at = ? WHERE id = ?",
                       (status, redact.text(detail), song_id, _now(), job_id))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class JobWatcher:
    """Collects ingest outcomes from the queue's results into the JobStore, and removes the
    uploaded copies the lake no longer needs. ``poll()`` once, or ``start()`` a thread.

    ``scratch`` maps folders to how old an entry must be before it counts as an orphan:
    ``sweep()`` removes from each what no waiting job owns (``sweep(at_start=True)`` whatever
    its age: no request is in flight then), and the thread sweeps every ``sweep_every`` s."""

    def __init__(self, jobs: JobStore, queue, interval: float = 0.5, *, scratch: dict[Path, float] | None = None,
                 sweep_every: float = 300.0):
        self.jobs = jobs
        self.queue = queue
        self.interval = interval
        self.scratch = scratch or {}
        self.sweep_every = sweep_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self, at_start: bool = False) -> int:
        """Remove the orphans of every scratch folder; returns how many entries went."""
        owned = self.jobs.owned()
        removed = sum(sweep(folder, owned, 0.0 if at_start else min_age) for folder, min_age in self.scratch.items())
        if removed:
            log.info("removed %d orphaned upload%s", removed, "" if removed == 1 else "s")
        return removed

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
                log.warning("ingest task %s failed: %s", task_id, exc.metadata.get("error") or exc)
                outcomes = [{"key": None, "status": "failed",
                             "detail": "ingest failed on the server (the server's log has the details)"}]
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
        swept = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                self.poll()
                if time.monotonic() - swept >= self.sweep_every:
                    swept = time.monotonic()
                    self.sweep()
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
