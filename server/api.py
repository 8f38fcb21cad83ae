"""The JSON API: one controller per resource.

Reads go through the server's snapshot of the lake (snapshot.py): the read gateway's
materialised DuckDB copy, kept current with the latest lake version, so a request never scans
Lance itself. Writes (uploads, labels) go through the lake's gateway and the job queue, like the
command line's, and need a token (auth.py). Errors are raised as server.errors classes; app.py
turns them into JSON.
"""

from __future__ import annotations

import math
import shutil
import time
import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal

import anyio
import numpy as np
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from songlake.jobs.queue import Queue
from songlake.schema import Lake, LakeError
from songlake.server import media, redact
from songlake.server.auth import caller, require_reader, require_token
from songlake.server.clip import clip_vector
from songlake.server.deps import GatesDep, JobsDep, LakeDep, QueueDep, SettingsDep, SnapshotDep
from songlake.server.encoding import FORMATS, encode
from songlake.server.errors import BadRequest, NotFound, PayloadTooLarge
from songlake.server.sandbox import check_version
from songlake.server.snapshot import Snapshot
from songlake.server.uploads import JobStore, Upload, discard, probe, receive_request

# The columns GET /songs answers with: the scalar ones, so a page of songs stays small.
LIST_COLUMNS = ("song_id", "title", "artist", "album", "year", "duration", "bpm", "key", "key_confidence",
                "time_signature", "primary_genre", "genre_confidence", "genre_tag", "stems_status",
                "is_instrumental", "bitrate_kbps", "loudness_lufs", "suspected_transcode", "license",
                "analysis_version", "ingested_at")
SORTABLE = frozenset(LIST_COLUMNS) - {"ingested_at"} | {"ingested_at", "progression_complexity",
                                                        "syncopation_index", "rhythmic_complexity", "clipping_ratio"}
MAX_PAGE = 500
MAX_OFFSET = 1_000_000_000  # GET /songs: past any collection's end, and far inside DuckDB's BIGINT
MAX_VERSION = 1 << 53


class SongsController(Controller):
    path = "/songs"
    tags = ["songs"]

    @post("/", guards=[require_token], status_code=HTTP_202_ACCEPTED, request_max_body_size=None)
    async def upload(self, request: Request, lake: LakeDep, queue: QueueDep, jobs: JobsDep, snapshot: SnapshotDep,
                     settings: SettingsDep) -> Response[dict]:
        """Upload audio files (multipart, the field `files` once per file; optional text fields
        `license` and `source`). Answers 202 with one job per file; GET /jobs/{id} follows it.
        A request that is refused as a whole, cut or late keeps none of its files."""
        upload = await receive_request(request, lake.root / "uploads", settings.upload_max_bytes,
                                       settings.upload_timeout, max_files=settings.upload_max_files)
        try:
            if not upload.files:
                raise BadRequest("no files: send each file in a multipart field named 'files'")
            for got in upload.files:
                await anyio.to_thread.run_sync(probe, got)
            author = caller(request)
            answer = await anyio.to_thread.run_sync(_queue_upload, lake, queue, jobs, upload, author)
        except BaseException:  # not queued: nothing of it stays
            for got in upload.files:
                discard(got)
            raise
        if any(g.reason for g in upload.files):  # the refusals were committed: let the caller read them
            await anyio.to_thread.run_sync(snapshot.refresh)
        accepted = [j for j in answer if j["status"] == "queued"]
        if accepted:
            status = HTTP_202_ACCEPTED
        else:
            status = PayloadTooLarge.status_code if any(g.too_large for g in upload.files) else BadRequest.status_code
        return Response({"jobs": answer, "accepted": len(accepted), "refused": len(answer) - len(accepted)},
                        status_code=status)

    @get("/", guards=[require_reader], sync_to_thread=True)
    def list_songs(
        self, snapshot: SnapshotDep,
        q: Annotated[str | None, Parameter(description="text in the title, artist, album or file name")] = None,
        genre: str | None = None, key: str | None = None, stems_status: str | None = None,
        bpm_min: float | None = None, bpm_max: float | None = None,
        year_min: int | None = None, year_max: int | None = None,
        sort: str = "title", order: Literal["asc", "desc"] = "asc",
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict:
        """Songs with filters, sorting and paging: {songs, total, limit, offset, version}."""
        if sort not in SORTABLE:
            raise BadRequest(f"cannot sort by {sort!r}; sortable columns: {', '.join(sorted(SORTABLE))}")
        where, params = ["TRUE"], []

        def add(clause: str, value: Any) -> None:
            params.append(value)
            where.append(clause.replace("?", f"${len(params)}"))

        if q:
            add("concat_ws(' ', title, artist, album, filename) ILIKE ?", f"%{q}%")
        for column, value in (("primary_genre", genre), ("key", key), ("stems_status", stems_status)):
            if value:
                add(f"{column} = ?", value)
        for clause, value in (("bpm >= ?", bpm_min), ("bpm <= ?", bpm_max), ("year >= ?", year_min), ("year <= ?", year_max)):
            if value is not None:
                add(clause, value)
        condition = " AND ".join(where)
        version = snapshot.version
        total = snapshot.read(f"SELECT count(*) AS n FROM songs WHERE {condition}", params).column(0)[0].as_py()
        rows = snapshot.read(
            f"SELECT {', '.join(LIST_COLUMNS)} FROM songs WHERE {condition} "
            f"ORDER BY {sort} {order.upper()} NULLS LAST, song_id LIMIT {int(limit)} OFFSET {int(offset)}", params)
        return {"songs": _json_rows(rows.to_pylist()), "total": total, "limit": limit, "offset": offset, "version": version}

    @get("/{song_id:str}", guards=[require_reader], sync_to_thread=True)
    def song(self, song_id: str, lake: LakeDep, snapshot: SnapshotDep) -> dict:
        """One song as the nested document: basic_info, quality, audio_stems, music_theory, structure."""
        from songlake.schema.document import song_document

        try:
            document = song_document(lake, song_id, read=snapshot.read, lake_version=snapshot.version)
        except LakeError as exc:
            raise NotFound(str(exc)) from None
        return _json_value(document)

    @get("/{song_id:str}/audio", guards=[require_reader])
    async def audio(self, song_id: str, request: Request, lake: LakeDep) -> Response:
        """The original file, with Range support (206, Content-Range) so players can seek."""
        return await anyio.to_thread.run_sync(media.original_audio, lake, song_id, request.headers.get("range"))

    @get("/{song_id:str}/stems/{stem:str}", guards=[require_reader])
    async def stem(self, song_id: str, stem: str, request: Request, lake: LakeDep) -> Response:
        """One stem (vocals, drums, bass, other) as 16-bit WAV, with Range support."""
        return await anyio.to_thread.run_sync(media.stem_audio, lake, song_id, stem, request.headers.get("range"))

    @get("/{song_id:str}/waveform", guards=[require_reader])
    async def waveform(self, song_id: str, lake: LakeDep, gates: GatesDep,
                       points: Annotated[int, Parameter(ge=10, le=10_000)] = 1200) -> dict:
        """Min/max peaks of the original for drawing: {duration, sample_rate, peaks}."""
        return await gates.waveforms.run(media.waveform, lake, song_id, points)  # a whole decode: gated

    @get("/{song_id:str}/similar", guards=[require_reader], sync_to_thread=True)
    def similar(self, song_id: str, snapshot: SnapshotDep,
                      k: Annotated[int, Parameter(ge=1, le=100)] = 10) -> dict:
        """The k songs nearest by embedding (cosine similarity), best first."""
        return {"song_id": song_id, "similar": _json_value(snapshot.similar(song_id, k)), "version": snapshot.version}

    @patch("/{song_id:str}/labels", guards=[require_token])
    async def label(self, song_id: str, data: JSONBody[dict[str, Any]], request: Request, lake: LakeDep,
                    snapshot: SnapshotDep) -> dict:
        """Human corrections: {"labels": {"primary_genre": "rock", "key": "A minor", ...}, "note": "..."}.
        Stored with who and when; the songs view shows the corrected values from now on."""
        from songlake.schema.labels import write_labels

        labels, note = data.get("labels"), data.get("note")
        if not isinstance(labels, dict) or not labels:
            raise BadRequest('send {"labels": {"field": value, ...}, "note": "why"} with at least one field')
        if note is not None and not isinstance(note, str):
            raise BadRequest("note must be text")
        try:
            version = await anyio.to_thread.run_sync(lambda: write_labels(lake, song_id, labels, caller(request), note))
        except LakeError as exc:
            raise NotFound(str(exc)) from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        await anyio.to_thread.run_sync(snapshot.refresh)
        history = await anyio.to_thread.run_sync(_history, snapshot, song_id)
        return {"song_id": song_id, "version": version, "labels": list(labels), "history": history}

    @get("/{song_id:str}/labels", guards=[require_reader], sync_to_thread=True)
    def labels(self, song_id: str, snapshot: SnapshotDep) -> dict:
        """Every human label of the song, newest first, with who and when."""
        return {"song_id": song_id, "history": _history(snapshot, song_id)}


def _history(snapshot: Snapshot, song_id: str) -> list[dict]:
    rows = snapshot.read("SELECT field, value, author, note, labeled_at FROM label_history WHERE song_id = $1 "
                         "ORDER BY labeled_at DESC", [song_id])
    return _json_rows(rows.to_pylist())


def _queue_upload(lake: Lake, queue: Queue, jobs: JobStore, upload: Upload, author: str | None) -> list[dict]:
    """Record the refused files, queue the accepted ones for ingest; one job per file."""
    from songlake.jobs.batch import refusal_row
    from songlake.jobs.examine import Refused
    from songlake.schema import BatchWriter

    refused = [g for g in upload.files if g.reason]
    if refused:
        writer = BatchWriter(lake)
        for got in refused:
            writer.add("ingest_errors", refusal_row(Refused(got.filename, got.sha256, got.reason)) | {"path": None})
        writer.commit("ingest", f"refused {len(refused)} uploaded files", {"refused": len(refused)})
    accepted = [g for g in upload.files if not g.reason]
    options = {"license": upload.fields.get("license") or None, "source": upload.fields.get("source") or "upload",
               "separate": upload.fields.get("stems", "true").lower() not in ("0", "false", "no")}
    task_of: dict[str, str] = {}
    for result in queue.submit("ingest", [str(g.path) for g in accepted], **options):
        for key in result.task.args[2]:
            task_of[key] = result.id
    answer = []
    for got in upload.files:
        job = jobs.add(got, "refused" if got.reason else "queued", author, task_of.get(str(got.path)))
        answer.append({"id": job.id, "filename": got.filename, "sent_name": got.sent_name, "size": got.size,
                       "status": job.status, "detail": job.detail, "url": f"/jobs/{job.id}"})
    return answer


class JobsController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @get("/{job_id:str}", guards=[require_reader], sync_to_thread=True)
    def job(self, job_id: str, jobs: JobsDep, snapshot: SnapshotDep) -> dict:
        """An upload's progress: queued, then the song's stages (separate, analyze, genre), or
        why it was refused or failed. `done` is true when nothing more will happen."""
        job = jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        out = asdict(job)
        out.pop("task_id")
        stages = {"ingest": {"queued": "queued", "refused": "refused", "failed": "failed"}.get(job.status, "done")}
        state = job.status
        if job.song_id:
            rows = snapshot.read("SELECT stems_status, analysis_version, primary_genre, title, artist FROM songs "
                                 "WHERE song_id = $1", [job.song_id]).to_pylist()
            failed = snapshot.read("SELECT stage, reason FROM stage_status WHERE song_id = $1 AND status = 'failed'",
                                   [job.song_id]).to_pylist()
            song = rows[0] if rows else {}
            stages["separate"] = song.get("stems_status", "pending")
            stages["analyze"] = "done" if song.get("analysis_version") is not None else "pending"
            stages["genre"] = "done" if song.get("primary_genre") else "pending"
            for row in failed:
                stages[row["stage"]] = "failed"
            out["failures"] = failed
            out["song"] = {k: song.get(k) for k in ("title", "artist", "primary_genre")} if song else None
            finished = stages["analyze"] != "pending" and stages["genre"] != "pending"
            state = "done" if finished else "processing"
        out["stages"] = stages
        out["state"] = state
        out["done"] = state in ("done", "refused", "failed")
        out["version"] = snapshot.version
        return out


class SearchController(Controller):
    path = "/search"
    tags = ["search"]

    @post("/similar", guards=[require_reader], request_max_body_size=None, status_code=200)
    async def similar_to_clip(self, request: Request, lake: LakeDep, snapshot: SnapshotDep, settings: SettingsDep,
                              gates: GatesDep, k: Annotated[int, Parameter(ge=1, le=100)] = 10) -> dict:
        """Songs like an uploaded clip (multipart, the field `files`, one file): its first
        SONGLAKE_CLIP_MAX_SECONDS are embedded the way songs are, and the nearest songs by cosine
        similarity are returned, with how much of the clip was used."""
        folder = lake.root / "server" / "clips" / uuid.uuid4().hex
        try:
            started = time.monotonic()
            upload = await receive_request(request, folder, settings.clip_max_bytes, settings.clip_timeout,
                                           max_files=1, whole=True)
            if len(upload.files) != 1:
                raise BadRequest("send one audio clip in the multipart field 'files'")
            got = upload.files[0]
            if got.reason:
                raise BadRequest(f"{got.filename}: {got.reason}")
            clip = await gates.clips.run(lambda: clip_vector(got.path, got.filename, max_seconds=settings.clip_max_seconds,
                                                             deadline=started + settings.clip_timeout))
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        found = await anyio.to_thread.run_sync(lambda: snapshot.similar_to_vector(clip.vector, k))
        return {"similar": _json_value(found), "version": snapshot.version,
                "clip_seconds": round(clip.seconds, 3), "clip_whole": clip.whole}


class SqlController(Controller):
    path = "/sql"
    tags = ["sql"]

    @post("/", guards=[require_reader], status_code=200)
    async def sql(self, data: JSONBody[dict[str, Any]], snapshot: SnapshotDep, settings: SettingsDep,
                  gates: GatesDep) -> Response:
        """Read-only SQL over the views: {"sql": "...", "format": "json" | "csv" | "arrow",
        "version": N or "tag" (optional), "max_rows": N (optional, at most the server's cap)}.
        The answer is cut at SONGLAKE_SQL_MAX_ROWS rows or SONGLAKE_SQL_MAX_MB (``truncated``)."""
        query, fmt = data.get("sql"), data.get("format", "json")
        if not isinstance(query, str) or not query.strip():
            raise BadRequest('send {"sql": "SELECT ...", "format": "json"}')
        if not isinstance(fmt, str) or fmt not in FORMATS:
            raise BadRequest(f"format is json, csv or arrow, not {str(fmt)[:40]!r}")
        max_rows = data.get("max_rows")
        if max_rows is None:
            max_rows = settings.sql_max_rows
        elif isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise BadRequest("max_rows must be a positive whole number")
        version = check_version(data.get("version"))
        if isinstance(version, int) and not 0 < version <= MAX_VERSION:
            raise NotFound(f"no version {version}: lake versions are numbered from 1")

        spent = 0.0  # seconds run in the quick lane: they count against the time limit in the slow one

        def run(budget: float | None):
            nonlocal spent
            started = time.monotonic()
            try:
                result = snapshot.run_user_sql(
                    query, max_rows=min(max_rows, settings.sql_max_rows), timeout=settings.sql_timeout,
                    version=version, max_bytes=settings.sql_max_bytes,
                    deadline=started + settings.sql_timeout - spent, budget=budget)
                return result, encode(result, fmt, settings.sql_max_bytes)
            finally:
                spent += time.monotonic() - started

        result, encoded = await gates.sql.run(run, query)
        headers = {"X-Songlake-Version": str(result.version), "X-Songlake-Truncated": str(encoded.truncated).lower()}
        return Response(encoded.body, media_type=FORMATS[fmt], headers=headers)


class ReportController(Controller):
    path = "/report"
    tags = ["report"]

    @get("/", guards=[require_reader])
    async def report(self, snapshot: SnapshotDep) -> dict:
        """The collection report: genre and era balance against the targets, quality
        compliance, the training approach the size supports, and estimates from this lake's
        measured throughput."""
        report = await anyio.to_thread.run_sync(snapshot.report)
        return _json_value(report) | {"version": snapshot.version}


class LakeController(Controller):
    path = "/"
    tags = ["lake"]

    @get("/health", guards=[])
    async def health(self, snapshot: SnapshotDep) -> dict:
        return {"status": "ok", "version": snapshot.version}

    @get("/versions", guards=[require_reader])
    async def versions(self, lake: LakeDep,
                       limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
                       before: Annotated[int | None, Parameter(ge=1, le=MAX_VERSION)] = None) -> dict:
        """The lake's history, newest first, one page at a time: what made each version and its
        tags. ``next_before`` pages back (null on the last page)."""
        history = await anyio.to_thread.run_sync(lambda: lake.history(limit, before))
        oldest = history[-1].version if history else None
        versions = [asdict(v) | {"message": redact.text(v.message)} for v in history]
        return {"versions": _json_value(versions),
                "next_before": oldest if oldest is not None and oldest > 1 else None}


# --- JSON-safe values ------------------------------------------------------------------------

def _json_value(value: Any) -> Any:
    """Timestamps as ISO text, NaN and infinities as null, tuples as lists."""
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _json_rows(rows: list[dict]) -> list[dict]:
    return [_json_value(row) for row in rows]
