"""POST /generations: audio a model made, with what it was asked for, added over HTTP.

The request is multipart/form-data, like an upload (server.uploads): the audio in the field
``files``, and the text fields

- ``model`` (required): the name of the model that made it;
- ``checkpoint``, ``prompt``: text;
- ``conditioning``: a JSON object (key, bpm, beats, chords, sections, genre, text, duration,
  reference; see songlake.udfs.adherence); the prompt is its ``text`` when that is not given;
- ``trained_on``: a JSON object (lake, lake_version, tag, query).

Each text field may be up to SONGLAKE_JSON_MAX_KB long (a conditioning with every beat and
chord of a long piece is longer than an upload's text fields need to be).

Several ``files`` in one request are several samples made for the same request: they share the
fields, and are added in one lake version.

Each file is streamed to its own folder under ``LAKE/uploads/`` within SONGLAKE_UPLOAD_MAX_MB
(413 past it, the request ended at once) and SONGLAKE_UPLOAD_TIMEOUT, and checked by decoding
its first seconds (uploads.probe); then ``jobs.generations.add`` checks the fields, analyses,
scores and commits them exactly as ``songlake generations add`` does: audio already in the lake
is not added again. That work takes seconds of CPU per file, so it runs on low-priority threads,
SONGLAKE_GENERATION_CONCURRENCY requests at a time; a request that finds them busy waits up to
SONGLAKE_GENERATION_WAIT seconds, then gets 503 with Retry-After. The uploaded copies are removed whatever the outcome (the lake keeps the
bytes in ``generation_audio``), and a refused request writes nothing to the lake.

Answers: 201 ``{"version", "added", "present", "generations": [...]}`` when at least one is new,
each generation with its id, status ('added', or 'present': already in the lake), analysis (bpm,
key) and adherence scores (NULL where the conditioning did not ask); 200 when every one was in
the lake already; 400 naming the field (JSON that is not an object, bad conditioning, no model,
an unknown field) or the file (not audio); 413 past the size limit; 401 without a valid token;
503 when the analysis is busy past the wait.
Who may: any API token, like uploads (``songlake token create NAME``): adding a generation is a
write like uploading a song.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
from litestar import Controller, Request, Response, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from songlake.jobs.generations import LINE_FIELDS, Generation, add
from songlake.server.auth import require_token
from songlake.server.deps import GatesDep, LakeDep, SettingsDep, SnapshotDep
from songlake.server.errors import BadRequest
from songlake.server.snapshot import Snapshot
from songlake.server.uploads import Received, Upload, probe, receive_request

FIELDS = ("files", *(name for name in LINE_FIELDS if name != "file"))  # the manifest's fields, `file` as `files`
JSON_FIELDS = ("conditioning", "trained_on")
SCORES = ("tempo_acc1", "key_weighted", "chord_majmin", "beat_f", "section_f")


class GenerationsController(Controller):
    path = "/generations"
    tags = ["generations"]

    @post("/", guards=[require_token], status_code=HTTP_201_CREATED, request_max_body_size=None)
    async def add_generations(self, request: Request, lake: LakeDep, snapshot: SnapshotDep,
                              settings: SettingsDep, gates: GatesDep) -> Response[dict]:
        """Add audio a model made (multipart: the field `files`, and the text fields `model`,
        `checkpoint`, `prompt`, `conditioning` and `trained_on`, the last two JSON objects). It is
        analysed and scored for adherence as `songlake generations add` does; answers 201 with
        each generation's id, the lake version and the scores, or 200 when the audio was in the
        lake already."""
        folder = lake.root / "uploads" / f"generations-{uuid.uuid4().hex}"
        try:
            upload = await receive_request(request, folder, settings.upload_max_bytes, settings.upload_timeout,
                                           max_files=settings.upload_max_files, whole=True,
                                           max_field_bytes=settings.json_max_kb * 1024)
            fields = await anyio.to_thread.run_sync(_checked, upload)
            try:  # analysis and the commit: seconds of CPU per file, gated, at low priority
                added = await gates.generations.run(add, lake, _read(upload.files, fields, folder), "over HTTP")
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        answer = await anyio.to_thread.run_sync(_answer, snapshot, added.added, added.skipped)
        return Response(answer | {"version": added.version or answer["version"]},
                        status_code=HTTP_201_CREATED if added.added else HTTP_200_OK)


def _checked(upload: Upload) -> dict:
    """The generation's fields as Generation takes them, with the files probed; BadRequest names
    the field or the file that cannot be right. The fields' values are checked by add."""
    if not upload.files:
        raise BadRequest("no audio: send the generation's audio file in the multipart field 'files'")
    unknown = [name for name in upload.fields if name not in FIELDS]
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
    text = {name: value.strip() or None for name, value in upload.fields.items()}
    fields = {name: text.get(name) for name in ("model", "checkpoint", "prompt")}
    fields |= {name: _json_object(name, text.get(name)) for name in JSON_FIELDS}
    for got in upload.files:
        probe(got)
        if got.reason:
            raise BadRequest(f"{got.filename}: {got.reason}")
    return fields


def _json_object(name: str, text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{name} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                         f"send a JSON object, such as {{\"key\": \"C major\", \"bpm\": 120}}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{name} is a JSON object, not {type(value).__name__} ({text[:40]!r})")
    return value


def _read(files: list[Received], fields: dict, folder: Path) -> Iterator[Generation]:
    """The generations, each file read as add reaches it (a request may carry many files: one is
    held in memory at a time). Each read marks the request's folder as in use, so the sweep of
    orphaned uploads, which goes by age, leaves it alone however long the analysis takes."""
    for got in files:
        os.utime(folder)
        yield Generation(got.path.read_bytes(), **fields, filename=got.filename)


def _answer(snapshot: Snapshot, added: tuple[str, ...], present: tuple[str, ...]) -> dict:
    """Each generation as the generations view holds it: the new ones first, in the order sent,
    then those that were in the lake already; with the lake version read."""
    snapshot.refresh()
    ids = [*added, *present]
    rows = snapshot.read(f"SELECT generation_id, model, checkpoint, filename, duration, bpm, key, "
                         f"{', '.join(SCORES)}, adherence_reasons FROM generations "
                         f"WHERE list_contains($1, generation_id)", [ids]).to_pylist()
    found = {row["generation_id"]: row for row in rows}
    generations = []
    for at, generation_id in enumerate(ids):
        row = found.get(generation_id, {})
        new = at < len(added)
        generations.append({
            "generation_id": generation_id,
            "status": "added" if new else "present",
            "detail": None if new else ("the same audio as another file of this request" if generation_id in added
                                        else "already in the lake"),
            **{k: _finite(row.get(k)) for k in ("model", "checkpoint", "filename", "duration", "bpm", "key")},
            "adherence": {**{k: _finite(row.get(k)) for k in SCORES}, "reasons": row.get("adherence_reasons") or []},
        })
    return {"version": snapshot.version, "added": len(added), "present": len(present), "generations": generations}


def _finite(value):
    """NaN and infinities as null: JSON has neither."""
    return None if isinstance(value, float) and not math.isfinite(value) else value
