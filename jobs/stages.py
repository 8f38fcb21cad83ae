"""The stages as Huey tasks: each takes a chunk of keys, does what is not yet done, commits once.

``run_stage(stage, lake, keys, options)`` is the one task function every stage queue runs. It
claims the keys in the ledger (a key another worker holds is left to it), looks at the lake to
skip what is already done at the current version, does the rest, writes the rows to Lance
fragments and commits them as one lake version, queues the next stage, and only then releases
its claims. So:

- idempotent: a key done at the current version (a song's analysis at ANALYSIS_VERSION with its
  stems, its separation by this model, a file already ingested) is not redone;
- transient errors (I/O, a commit race) raise out of the task, and Huey retries it with
  backoff; on the last attempt the keys are recorded as failed in ``stage_runs`` instead;
- permanent errors (an undecodable original, a stage bug) are recorded per song and stage in
  ``stage_runs`` with the reason, and the rest of the chunk goes on;
- a worker killed mid-chunk commits nothing and leaves its claims behind for ``resume``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from songlake.schema import BatchWriter, Lake, connect, run

log = logging.getLogger(__name__)

TRANSIENT = (OSError, TimeoutError, ConnectionError)
_current_worker = {"name": None}


def set_worker(name: str) -> None:
    """The ledger name of the worker running tasks in this process."""
    _current_worker["name"] = name


def worker() -> str:
    from songlake.jobs.ledger import worker_name

    return _current_worker["name"] or worker_name()


def run_stage(stage: str, lake_root: str, keys: list[str], options: dict[str, Any], task=None) -> list[dict]:
    """Huey's task function for every stage; returns one outcome dict per key it handled."""
    from songlake.jobs.queue import GENRE_DELAY, GENRE_FLAG

    queue = _queue(lake_root)
    mine = queue.ledger.claim(stage, keys, worker(), options)
    if stage == "genre":
        if not mine:  # a refit is running elsewhere: this request's refit follows it
            queue.submit("genre", keys, delay=GENRE_DELAY)
            return []
        queue.ledger.clear_flag(GENRE_FLAG)  # requests from now on schedule another refit
    started = time.perf_counter()
    try:
        outcomes = STAGES[stage](Lake.open(lake_root), queue, mine, options)
    except TRANSIENT as exc:
        if task is not None and task.retries:
            queue.ledger.mark_queued(stage, mine)  # Huey runs the task again after a backoff
            raise
        outcomes = _record_failures(lake_root, stage, mine, f"gave up after retries: {type(exc).__name__}: {exc}")
    finally:
        queue.ledger.release(stage, mine)
    log.info("%s: %d keys in %.1fs", stage, len(mine), time.perf_counter() - started)
    return outcomes


_queues: dict[str, Any] = {}


def _queue(lake_root: str):
    from songlake.jobs.queue import Queue

    key = f"{os.getpid()}:{lake_root}"
    if key not in _queues:
        _queues[key] = Queue.open(lake_root)
    return _queues[key]


# --- shared pieces ---------------------------------------------------------------------------

def stage_run(song_id: str, stage: str, status: str, *, reason: str | None = None, version: str = "",
              seconds: float = 0.0, attempts: int = 1) -> dict:
    return {"song_id": song_id, "stage": stage, "status": status, "reason": reason, "stage_version": version,
            "worker": worker(), "attempts": attempts, "seconds": round(seconds, 3),
            "finished_at": datetime.now(timezone.utc)}


def _record_failures(lake_root: str, stage: str, keys: list[str], reason: str) -> list[dict]:
    if stage in ("ingest", "genre"):
        return [{"key": k, "status": "failed", "detail": reason} for k in keys]
    writer = BatchWriter(Lake.open(lake_root))
    for key in keys:
        writer.add("stage_runs", stage_run(key, stage, "failed", reason=reason))
    writer.commit(stage, f"{stage}: {len(keys)} songs failed")
    return [{"key": k, "status": "failed", "detail": reason} for k in keys]


def originals(lake: Lake, song_ids: list[str]) -> dict[str, bytes]:
    """The original files' bytes of some songs, read as Lance blobs."""
    ds = lake.dataset("originals")
    ids = ds.to_table(columns=["song_id"]).column("song_id").to_pylist()
    wanted = set(song_ids)
    positions: dict[str, int] = {}
    for i, sid in enumerate(ids):
        if sid in wanted and sid not in positions:
            positions[sid] = i
    return {sid: ds.take_blobs("data", indices=[i])[0].read() for sid, i in positions.items()}


def _songs(lake: Lake, song_ids: list[str], columns: str) -> dict[str, dict]:
    rows = run(connect(lake), f"SELECT song_id, {columns} FROM songs WHERE list_contains($1, song_id)",
               params=[list(song_ids)]).to_pylist()
    return {r["song_id"]: r for r in rows}


# --- ingest ----------------------------------------------------------------------------------

def ingest_files(lake: Lake, queue, paths: list[str], options: dict) -> list[dict]:
    """Files -> tracks, originals and embeddings (or a refusal), then queue their separation."""
    from songlake.jobs.examine import Provenance, Refused, examine, sha256_of

    provenance = Provenance(license=options.get("license"), source=options.get("source"))
    con = connect(lake)
    known_errors = set(con.execute("SELECT file_sha256, reason FROM lake_ingest_errors").fetchall())
    writer = BatchWriter(lake)
    outcomes, fresh, held_files, held_audio = [], [], [], []
    try:
        for path in paths:
            try:
                sha = sha256_of(Path(path))
            except OSError as exc:
                refused = Refused(path, None, f"cannot read the file: {exc.strerror or exc}")
                outcomes.append(_refuse(writer, known_errors, refused))
                continue
            if not queue.ledger.claim("file", [sha], worker()):
                outcomes.append({"key": path, "status": "present", "detail": "being ingested by another worker"})
                continue
            held_files.append(sha)
            fresh.append((path, sha))
        # Looked up after claiming: a worker that held these files before us has committed them.
        by_sha = dict(connect(lake).execute(
            "SELECT file_sha256, song_id FROM lake_tracks WHERE list_contains($1, file_sha256)",
            [[sha for _, sha in fresh]]).fetchall())
        song_ids: list[str] = []
        seconds = 0.0
        for path, sha in fresh:
            if sha in by_sha:
                outcomes.append({"key": path, "status": "present", "detail": f"same file as song {by_sha[sha]}"})
                continue
            began = time.perf_counter()
            result = examine(path, provenance=provenance)
            if isinstance(result, Refused):
                outcomes.append(_refuse(writer, known_errors, result))
                continue
            if result.song_id in song_ids or not queue.ledger.claim("audio", [result.song_id], worker()):
                outcomes.append({"key": path, "status": "present", "detail": f"same audio as song {result.song_id}"})
                continue
            held_audio.append(result.song_id)
            if _present(lake, result.song_id):
                outcomes.append({"key": path, "status": "present", "detail": f"same audio as song {result.song_id}"})
                continue
            for table in ("originals", "embeddings", "tracks"):  # tracks last: it makes the song visible
                writer.add(table, result.rows[table])
            writer.add("stage_runs", stage_run(result.song_id, "ingest", "done", version=result.rows["embeddings"]["model"],
                                               seconds=time.perf_counter() - began))
            song_ids.append(result.song_id)
            seconds += result.audio_seconds
            outcomes.append({"key": path, "status": "ingested", "detail": result.song_id,
                             "audio_seconds": result.audio_seconds})
        refused = sum(o["status"] == "refused" for o in outcomes)
        writer.commit("ingest", f"ingested {len(song_ids)} songs, refused {refused}",
                      {"songs": len(song_ids), "refused": refused})
        if song_ids:
            queue.submit("separate" if options.get("separate", True) else "analyze", song_ids)
    finally:
        queue.ledger.release("file", held_files)
        queue.ledger.release("audio", held_audio)
    return outcomes


def _present(lake: Lake, song_id: str) -> bool:
    return bool(connect(lake).execute("SELECT count(*) FROM lake_tracks WHERE song_id = ?", [song_id]).fetchone()[0])


def _refuse(writer: BatchWriter, known: set, refused) -> dict:
    from songlake.jobs.batch import refusal_row

    if (refused.file_sha256, refused.reason) not in known:
        known.add((refused.file_sha256, refused.reason))
        writer.add("ingest_errors", refusal_row(refused))
    return {"key": refused.path, "status": "refused", "detail": refused.reason}


# --- separate --------------------------------------------------------------------------------

def separate_songs(lake: Lake, queue, song_ids: list[str], options: dict) -> list[dict]:
    """Demucs stems for songs not yet separated by this model; then queue their analysis."""
    from songlake.schema.stems import encode_part
    from songlake.udfs.separation import (STEMS, SeparationSettings, Separator, StemMeter, WeightsUnavailable,
                                          decode_stream, is_instrumental, load_model, pick_device)

    settings = SeparationSettings.from_env()
    if "SONGLAKE_SEPARATION_BATCH" not in os.environ and pick_device(settings.device).type == "cpu":
        settings = dataclasses.replace(settings, batch_size=1)  # batching only pays on a GPU
    codec = os.environ.get("SONGLAKE_STEM_CODEC", "flac")
    current = _songs(lake, song_ids, "stems_status, loudness_lufs")
    newest = _newest_separation(lake, song_ids)
    todo = [sid for sid in song_ids if sid in current
            and (options.get("force") or newest.get(sid) != ("done", settings.key()))]
    outcomes = [{"key": sid, "status": "skipped", "detail": "already separated"} for sid in song_ids if sid not in todo]
    writer = BatchWriter(lake)
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    try:
        if todo:  # the model is loaded (once per process) only when there is something to separate
            separator = Separator(load_model(settings), settings, pick_device(settings.device))
    except WeightsUnavailable as exc:
        for sid in todo:
            writer.add("separations", _separation(sid, settings.key(), "unavailable", str(exc), now()))
            writer.add("stage_runs", stage_run(sid, "separate", "unavailable", reason=str(exc), version=settings.key()))
            outcomes.append({"key": sid, "status": "unavailable", "detail": str(exc)})
        todo = []
    data = originals(lake, todo) if todo else {}
    for sid in todo:
        started = time.perf_counter()
        song = BatchWriter(lake)  # this song's parts: committed only if it separates to the end
        try:
            meters = {stem: StemMeter(stem, separator.samplerate) for stem in STEMS}
            part = 0
            start = 0
            for parts in separator.separate(decode_stream(data[sid], separator.samplerate, separator.channels)):
                length = next(iter(parts.values())).shape[-1]
                for stem in STEMS:
                    meters[stem].add(parts[stem])
                    song.add("stems", {
                        "song_id": sid, "stem": stem, "model": settings.key(), "part": part, "start_sample": start,
                        "num_samples": length, "sample_rate": separator.samplerate,
                        "channels": separator.channels, "codec": codec,
                        "data": encode_part(parts[stem], separator.samplerate, codec),
                    })
                part += 1
                start += length
        except Exception as exc:  # a song that cannot be separated is recorded; the others go on
            reason = f"{type(exc).__name__}: {exc}"
            writer.add("separations", _separation(sid, settings.key(), "failed", reason, now()))
            writer.add("stage_runs", stage_run(sid, "separate", "failed", reason=reason, version=settings.key()))
            outcomes.append({"key": sid, "status": "failed", "detail": reason})
            continue
        writer.absorb(song)
        stats = {stem: meters[stem].result() for stem in STEMS}
        seconds = time.perf_counter() - started
        row = _separation(sid, settings.key(), "done", None, now(), device=str(separator.device), seconds=seconds,
                          duration=start / separator.samplerate)
        row["stem_stats"] = [{"stem": s.stem, "loudness_lufs": s.loudness_lufs, "peak_dbfs": s.peak_dbfs,
                              "rms_dbfs": s.rms_dbfs, "active_ratio": s.active_ratio} for s in stats.values()]
        row["is_instrumental"] = bool(is_instrumental(stats["vocals"], current[sid]["loudness_lufs"]))
        writer.add("separations", row)
        writer.add("stage_runs", stage_run(sid, "separate", "done", version=settings.key(), seconds=seconds))
        outcomes.append({"key": sid, "status": "done", "detail": f"{part} parts in {seconds:.1f}s"})
    writer.commit("separate", f"separated {sum(o['status'] == 'done' for o in outcomes)} songs")
    follow = [o["key"] for o in outcomes if o["status"] in ("done", "unavailable", "failed")]
    if follow and options.get("analyze", True):
        queue.submit("analyze", follow)
    return outcomes


def _separation(sid: str, model: str, status: str, message: str | None, at: datetime, **extra) -> dict:
    return {"song_id": sid, "model": model, "status": status, "message": message, "separated_at": at,
            "device": None, "seconds": None, "duration": None, "stem_stats": None, "is_instrumental": None} | extra


def _newest_separation(lake: Lake, song_ids: list[str]) -> dict[str, tuple[str, str]]:
    rows = connect(lake).execute(
        "SELECT song_id, status, model FROM lake_separations WHERE list_contains($1, song_id) "
        "QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY separated_at DESC) = 1", [list(song_ids)]).fetchall()
    return {sid: (status, model) for sid, status, model in rows}


# --- analyze ---------------------------------------------------------------------------------

def analyze_songs(lake: Lake, queue, song_ids: list[str], options: dict) -> list[dict]:
    """The full analysis, on the stems when the song has them; then ask for a genre refit."""
    from songlake.jobs.analyze import ANALYSIS_RATE, Stems
    from songlake.jobs.examine import analysis_row
    from songlake.schema.stems import read_stem
    from songlake.udfs import ANALYSIS_VERSION
    from songlake.udfs.audio import decode

    current = _songs(lake, song_ids, "analysis_version, stems_status")
    used = _used_stems(lake, song_ids)

    def done(sid: str) -> bool:
        row = current[sid]
        return row["analysis_version"] == ANALYSIS_VERSION and (used.get(sid) or row["stems_status"] != "done")

    todo = [sid for sid in song_ids if sid in current and (options.get("force") or not done(sid))]
    outcomes = [{"key": sid, "status": "skipped", "detail": "analysis is current"} for sid in song_ids if sid not in todo]
    data = originals(lake, todo) if todo else {}
    writer = BatchWriter(lake)
    for sid in todo:
        started = time.perf_counter()
        try:
            mono = decode(data[sid]).mono_at(ANALYSIS_RATE)
            stems = None
            if current[sid]["stems_status"] == "done":
                stems = Stems(**{stem: _mono(read_stem(lake, sid, stem), ANALYSIS_RATE, mono.size)
                                 for stem in ("vocals", "drums", "bass", "other")})
            row = analysis_row(sid, mono, stems)
        except Exception as exc:  # recorded per song; the others go on
            reason = f"{type(exc).__name__}: {exc}"
            writer.add("stage_runs", stage_run(sid, "analyze", "failed", reason=reason, version=f"analysis-{ANALYSIS_VERSION}"))
            outcomes.append({"key": sid, "status": "failed", "detail": reason})
            continue
        row["used_stems"] = stems is not None
        writer.add("analysis", row)
        writer.add("stage_runs", stage_run(sid, "analyze", "done", version=f"analysis-{ANALYSIS_VERSION}",
                                           seconds=time.perf_counter() - started))
        outcomes.append({"key": sid, "status": "done", "detail": "with stems" if stems else "on the mix"})
    writer.commit("analyze", f"analysed {sum(o['status'] == 'done' for o in outcomes)} songs")
    if any(o["status"] == "done" for o in outcomes):
        queue.request_genre()
    return outcomes


def _mono(stereo: np.ndarray, rate: int, length: int) -> np.ndarray:
    """A stem as mono at the analysis rate, the mix's length (stems are stored at the model's rate)."""
    mono = stereo.mean(axis=0) if stereo.ndim == 2 else stereo
    out = np.zeros(length, dtype=np.float32)
    out[:min(length, mono.size)] = mono[:length]
    return out


def _used_stems(lake: Lake, song_ids: list[str]) -> dict[str, bool]:
    rows = connect(lake).execute(
        "SELECT song_id, used_stems FROM lake_analysis WHERE list_contains($1, song_id) "
        "QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY analysis_version DESC, analyzed_at DESC) = 1",
        [list(song_ids)]).fetchall()
    return {sid: bool(flag) for sid, flag in rows}


# --- embed and genre -------------------------------------------------------------------------

def embed_songs(lake: Lake, queue, song_ids: list[str], options: dict) -> list[dict]:
    """Embeddings for songs that have none from the current embedding model."""
    from songlake.jobs.analyze import ANALYSIS_RATE
    from songlake.udfs.audio import decode
    from songlake.udfs.embedding import MODEL, embed

    have = {r[0] for r in connect(lake).execute(
        "SELECT song_id FROM lake_embeddings WHERE model = ? AND list_contains(?, song_id)", [MODEL, list(song_ids)]).fetchall()}
    todo = [sid for sid in song_ids if options.get("force") or sid not in have]
    writer = BatchWriter(lake)
    outcomes = [{"key": sid, "status": "skipped", "detail": f"has a {MODEL} embedding"} for sid in song_ids if sid not in todo]
    for sid, data in originals(lake, todo).items():
        began = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vector = embed(decode(data).mono_at(ANALYSIS_RATE))
        except Exception as exc:
            writer.add("stage_runs", stage_run(sid, "embed", "failed", reason=f"{type(exc).__name__}: {exc}", version=MODEL))
            outcomes.append({"key": sid, "status": "failed", "detail": str(exc)})
            continue
        writer.add("embeddings", {"song_id": sid, "model": MODEL, "embedding": vector.vector.tolist()})
        writer.add("stage_runs", stage_run(sid, "embed", "done", version=MODEL, seconds=time.perf_counter() - began))
        outcomes.append({"key": sid, "status": "done", "detail": MODEL})
    writer.commit("embed", f"embedded {sum(o['status'] == 'done' for o in outcomes)} songs")
    return outcomes


def refit_genres(lake: Lake, queue, keys: list[str], options: dict) -> list[dict]:
    """Refit the collection's genre model and predict every song (one row each, newest counts)."""
    from songlake.jobs.genre import classify

    writer = BatchWriter(lake)
    count = classify(lake, writer, [])
    writer.commit("genre", f"genre model refitted on {count} songs")
    return [{"key": "collection", "status": "done", "detail": f"{count} songs"}]


STAGES: dict[str, Callable[..., list[dict]]] = {
    "ingest": ingest_files,
    "separate": separate_songs,
    "analyze": analyze_songs,
    "embed": embed_songs,
    "genre": refit_genres,
}
