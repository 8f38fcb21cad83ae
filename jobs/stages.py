"""The stages as Huey tasks: each takes a chunk of keys, does what is not yet done, stages its rows.

``run_stage(queue, stage, lake, keys, options)`` is what every stage queue runs (queue.py
registers it). It claims the keys in the ledger (a key another worker holds is left to it),
looks the keys up in the lake (through the tables' indexes, never a scan of the collection)
to skip what is already done, does the rest, writes the rows to Lance fragments and hands them
to the committer with its claims and its follow-ups (commit.py): the next stage is queued, and
the claims released, once the rows are visible. So:

- idempotent: a key done at the newest version (a song's analysis at ANALYSIS_VERSION with its
  stems, its separation by this model, a file already ingested) is not redone;
- transient errors (I/O) raise out of the task, and Huey retries it with backoff; on the last
  attempt the keys are recorded as failed in ``stage_runs`` instead;
- permanent errors (an undecodable original, a stage bug) are recorded per song and stage in
  ``stage_runs`` with the reason, and the rest of the chunk goes on;
- a worker killed mid-chunk stages nothing and leaves its claims behind for ``resume``.

This module takes the queue as an argument and imports nothing from queue.py, batch.py or
worker.py, which import it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from songlake.jobs import commit, duplicates
from songlake.jobs.analyze import ANALYSIS_RATE, Stems
from songlake.jobs.examine import Provenance, Refused, analysis_row, examine, sha256_of
from songlake.jobs.genre import classify, load_fitted, predict_songs, refit_due
from songlake.jobs.ledger import worker_name
from songlake.schema import BatchWriter, Lake, lookup
from songlake.udfs import ANALYSIS_VERSION
from songlake.udfs.audio import decode
from songlake.udfs.embedding import MODEL, embed

log = logging.getLogger(__name__)

TRANSIENT = (OSError, TimeoutError, ConnectionError)
COLLECTION = "collection"  # the genre stage's key for a full refit (its other keys are songs)
_current_worker = {"name": None}


def set_worker(name: str) -> None:
    """The ledger name of the worker running tasks in this process."""
    _current_worker["name"] = name


def worker() -> str:
    return _current_worker["name"] or worker_name()


@dataclass
class Done:
    """What a stage did with its chunk: outcomes for the caller, rows and follow-ups for the committer."""

    outcomes: list[dict]
    writer: BatchWriter
    kind: str
    message: str
    counts: dict[str, int] = field(default_factory=dict)
    claims: dict[str, list[str]] = field(default_factory=dict)  # claims beyond the chunk's own keys
    submit: list[tuple[str, list[str], dict]] = field(default_factory=list)  # next stages, once visible
    genre: bool = False  # ask for a genre refit once visible


def run_stage(queue, stage: str, lake_root: str, keys: list[str], options: dict[str, Any], task=None) -> list[dict]:
    """One task of any stage; returns one outcome dict per key it handled."""
    mine = queue.ledger.claim(stage, keys, worker(), options)
    if stage == "genre" and keys == [COLLECTION]:
        if not mine:  # a refit is running elsewhere: this request's refit follows it
            queue.defer_genre(keys)
            return []
        queue.genre_started()
    started = time.perf_counter()
    lake = Lake.open(lake_root)
    try:
        done = STAGES[stage](lake, queue, mine, options)
        commit.hand_over(queue, done.writer, done.kind, done.message, {stage: mine} | done.claims,
                         done.submit, done.genre, done.counts)
    except TRANSIENT as exc:
        if task is not None and task.retries:
            queue.ledger.mark_queued(stage, mine)  # Huey runs the task again after a backoff
            queue.ledger.release(stage, mine)
            raise
        queue.ledger.release(stage, mine)
        return _record_failures(lake, stage, mine, f"gave up after retries: {type(exc).__name__}: {exc}")
    except BaseException:
        queue.ledger.release(stage, mine)
        raise
    log.info("%s: %d keys in %.1fs", stage, len(mine), time.perf_counter() - started)
    try:
        commit.commit_round(queue, lake)
    except Exception:  # the rows are staged: the next committer takes them
        log.exception("commit after a %s task failed; its rows stay staged", stage)
    return done.outcomes


# --- shared pieces ---------------------------------------------------------------------------

def stage_run(song_id: str, stage: str, status: str, *, reason: str | None = None, version: str = "",
              seconds: float = 0.0, attempts: int = 1) -> dict:
    return {"song_id": song_id, "stage": stage, "status": status, "reason": reason, "stage_version": version,
            "worker": worker(), "attempts": attempts, "seconds": round(seconds, 3),
            "finished_at": datetime.now(timezone.utc)}


def _record_failures(lake: Lake, stage: str, keys: list[str], reason: str) -> list[dict]:
    if stage not in ("ingest", "genre"):
        writer = BatchWriter(lake)
        for key in keys:
            writer.add("stage_runs", stage_run(key, stage, "failed", reason=reason))
        writer.commit(stage, f"{stage}: {len(keys)} songs failed")
    return [{"key": k, "status": "failed", "detail": reason} for k in keys]


def _skipped(song_id: str, present, why: str) -> dict:
    """The outcome of a key the stage passes over: done already, or not a song of the lake."""
    return {"key": song_id, "status": "skipped", "detail": why if song_id in present else "no such song in the lake"}


def _stems_status(lake: Lake, song_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """song_id -> (status, model) of its newest separation attempt ('pending', None when never)."""
    newest = lookup.newest(lake, "separations", song_ids, ["status", "model"], ["separated_at"])
    return {sid: (newest[sid]["status"], newest[sid]["model"]) if sid in newest else ("pending", None)
            for sid in song_ids}


# --- ingest ----------------------------------------------------------------------------------

def ingest_files(lake: Lake, queue, paths: list[str], options: dict) -> Done:
    """Files -> tracks, originals and embeddings (or a refusal); then their separation or analysis."""
    provenance = Provenance(license=options.get("license"), source=options.get("source"))
    writer = BatchWriter(lake)
    outcomes, fresh, held_files, held_audio = [], [], [], []
    try:
        for path in paths:
            try:
                sha = sha256_of(Path(path))
            except OSError as exc:
                fresh.append((path, None, Refused(path, None, f"cannot read the file: {exc.strerror or exc}")))
                continue
            if not queue.ledger.claim("file", [sha], worker()):
                outcomes.append({"key": path, "status": "present", "detail": "being ingested by another worker",
                                 "provisional": True})  # that worker decides; the ingest driver asks the lake
                continue
            held_files.append(sha)
            fresh.append((path, sha, None))
        # Looked up after claiming: a worker that held these files before us has committed them.
        shas = [sha for _, sha, _ in fresh if sha]
        by_sha = lookup.song_ids_of_files(lake, shas)
        errors = lookup.by_key(lookup.table_at(lake, "ingest_errors"), "file_sha256", shas, ["file_sha256", "reason"])
        known = set() if errors is None else set(zip(*(errors.column(c).to_pylist() for c in ("file_sha256", "reason"))))
        song_ids: list[str] = []
        for path, sha, unreadable in fresh:
            if unreadable is not None:
                outcomes.append(_refuse(writer, known, unreadable))
                continue
            if sha in by_sha:
                outcomes.append({"key": path, "status": "present", "detail": f"same file as song {by_sha[sha]}"})
                continue
            began = time.perf_counter()
            result = examine(path, provenance=provenance)
            if isinstance(result, Refused):
                outcomes.append(_refuse(writer, known, result))
                continue
            if result.song_id in song_ids or not queue.ledger.claim("audio", [result.song_id], worker()):
                outcomes.append({"key": path, "status": "present", "detail": f"same audio as song {result.song_id}"})
                continue
            held_audio.append(result.song_id)
            if lookup.present(lake, [result.song_id]):
                outcomes.append({"key": path, "status": "present", "detail": f"same audio as song {result.song_id}"})
                continue
            for table in ("originals", "embeddings", "tracks", "fingerprints"):
                writer.add(table, result.rows[table])
            for row in result.index_rows:
                writer.add("fingerprint_index", row)
            printed = result.rows["fingerprints"]
            if printed["status"] in ("unavailable", "failed"):  # the song is ingested; the reason is queryable
                writer.add("stage_runs", stage_run(result.song_id, "fingerprint", printed["status"],
                                                   reason=printed["reason"], version=printed["algorithm"]))
            writer.add("stage_runs", stage_run(result.song_id, "ingest", "done", version=result.rows["embeddings"]["model"],
                                               seconds=time.perf_counter() - began))
            song_ids.append(result.song_id)
            outcomes.append({"key": path, "status": "ingested", "detail": result.song_id,
                             "audio_seconds": result.audio_seconds})
    except BaseException:
        queue.ledger.release("file", held_files)
        queue.ledger.release("audio", held_audio)
        raise
    refused = sum(o["status"] == "refused" for o in outcomes)
    following = "separate" if options.get("separate", True) else "analyze"
    return Done(outcomes, writer, "ingest", f"ingested {len(song_ids)} songs, refused {refused}",
                {"songs": len(song_ids), "refused": refused}, claims={"file": held_files, "audio": held_audio},
                submit=[(following, song_ids, {}), ("duplicates", song_ids, {})])


def _refuse(writer: BatchWriter, known: set, refused: Refused) -> dict:
    if refused.file_sha256 is None or (refused.file_sha256, refused.reason) not in known:  # no hash: not the same file
        known.add((refused.file_sha256, refused.reason))
        writer.add("ingest_errors", refused.row())
    return {"key": refused.path, "status": "refused", "detail": refused.reason}


# --- separate --------------------------------------------------------------------------------

def separate_songs(lake: Lake, queue, song_ids: list[str], options: dict) -> Done:
    """Demucs stems for songs not yet separated by this model; then their analysis."""
    from songlake.schema.stems import encode_part  # Demucs and torch load only where separation runs
    from songlake.udfs.separation import (STEMS, SeparationSettings, Separator, StemMeter, WeightsUnavailable,
                                          decode_stream, is_instrumental, load_model, pick_device)

    settings = SeparationSettings.from_env()
    if "SONGLAKE_SEPARATION_BATCH" not in os.environ and pick_device(settings.device).type == "cpu":
        settings = dataclasses.replace(settings, batch_size=1)  # batching only pays on a GPU
    codec = os.environ.get("SONGLAKE_STEM_CODEC", "flac")
    current = lookup.tracks(lake, song_ids, ["loudness_lufs"])
    newest = _stems_status(lake, song_ids)
    todo = [sid for sid in song_ids if sid in current
            and (options.get("force") or newest[sid] != ("done", settings.key()))]
    outcomes = [_skipped(sid, current, "already separated") for sid in song_ids if sid not in todo]
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
    data = lookup.originals(lake, todo) if todo else {}
    for sid in todo:
        started = time.perf_counter()
        song = BatchWriter(lake)  # this song's parts: kept only if it separates to the end
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
    follow = [o["key"] for o in outcomes if o["status"] in ("done", "unavailable", "failed")]
    done = sum(o["status"] == "done" for o in outcomes)
    return Done(outcomes, writer, "separate", f"separated {done} songs", {"songs": done},
                submit=[("analyze", follow, {})] if options.get("analyze", True) else [])


def _separation(sid: str, model: str, status: str, message: str | None, at: datetime, **extra) -> dict:
    return {"song_id": sid, "model": model, "status": status, "message": message, "separated_at": at,
            "device": None, "seconds": None, "duration": None, "stem_stats": None, "is_instrumental": None} | extra


# --- analyze ---------------------------------------------------------------------------------

def analyze_songs(lake: Lake, queue, song_ids: list[str], options: dict) -> Done:
    """The full analysis, on the stems when the song has them; then a genre refit."""
    from songlake.schema.stems import read_stem

    present = lookup.tracks(lake, song_ids, [])
    status = _stems_status(lake, song_ids)
    newest = lookup.newest(lake, "analysis", song_ids, ["analysis_version", "used_stems"],
                           ["analysis_version", "analyzed_at"])

    def current(sid: str) -> bool:
        row = newest.get(sid)
        return row is not None and row["analysis_version"] == ANALYSIS_VERSION \
            and (bool(row["used_stems"]) or status[sid][0] != "done")

    todo = [sid for sid in song_ids if sid in present and (options.get("force") or not current(sid))]
    outcomes = [_skipped(sid, present, "analysis is current") for sid in song_ids if sid not in todo]
    data = lookup.originals(lake, todo) if todo else {}
    writer = BatchWriter(lake)
    for sid in todo:
        started = time.perf_counter()
        try:
            mono = decode(data[sid]).mono_at(ANALYSIS_RATE)
            stems = None
            if status[sid][0] == "done":
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
    done = [o["key"] for o in outcomes if o["status"] == "done"]
    return Done(outcomes, writer, "analyze", f"analysed {len(done)} songs", {"songs": len(done)},
                submit=[("genre", done, {})])


def _mono(stereo: np.ndarray, rate: int, length: int) -> np.ndarray:
    """A stem as mono at the analysis rate, the mix's length (stems are stored at the model's rate)."""
    mono = stereo.mean(axis=0) if stereo.ndim == 2 else stereo
    out = np.zeros(length, dtype=np.float32)
    out[:min(length, mono.size)] = mono[:length]
    return out


# --- embed and genre -------------------------------------------------------------------------

def embed_songs(lake: Lake, queue, song_ids: list[str], options: dict) -> Done:
    """Embeddings for songs that have none from the current embedding model."""

    found = lookup.by_key(lookup.table_at(lake, "embeddings"), "song_id", song_ids, ["song_id", "model"])
    have = set() if found is None else {sid for sid, model in zip(found.column("song_id").to_pylist(),
                                                                 found.column("model").to_pylist()) if model == MODEL}
    todo = [sid for sid in song_ids if options.get("force") or sid not in have]
    writer = BatchWriter(lake)
    outcomes = [{"key": sid, "status": "skipped", "detail": f"has a {MODEL} embedding"} for sid in song_ids if sid not in todo]
    originals = lookup.originals(lake, todo)
    outcomes += [_skipped(sid, originals, "") for sid in todo if sid not in originals]
    for sid, data in originals.items():
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
    done = sum(o["status"] == "done" for o in outcomes)
    return Done(outcomes, writer, "embed", f"embedded {done} songs", {"songs": done})


def refit_genres(lake: Lake, queue, keys: list[str], options: dict) -> Done:
    """Genre rows: for the collection key, a full refit that predicts every song; for song keys,
    predictions by the saved model, and a full refit requested when one is due (jobs/genre.py)."""
    writer = BatchWriter(lake)
    if keys == [COLLECTION]:
        count = classify(lake, writer, [])
        return Done([{"key": COLLECTION, "status": "done", "detail": f"{count} songs"}], writer, "genre",
                    f"genre model refitted on {count} songs", {"songs": count})
    fitted = load_fitted(lake)
    if refit_due(lake, fitted):
        queue.request_genre()  # one debounced full refit, which predicts these songs too
    count = predict_songs(lake, writer, keys, fitted) if fitted is not None else 0
    outcomes = [{"key": k, "status": "done" if fitted else "skipped",
                 "detail": fitted.name if fitted else "waits for the first genre refit"} for k in keys]
    return Done(outcomes, writer, "genre", f"predicted the genre of {count} songs", {"songs": count})


def find_duplicates(lake: Lake, queue, song_ids: list[str], options: dict) -> Done:
    """Each song's duplicates by fingerprint (jobs/duplicates.py); fingerprints first where a song
    has none (a backfill)."""
    outcomes, writer, pairs = duplicates.find_duplicates(lake, song_ids, options, stage_run)
    done = sum(o["status"] == "done" for o in outcomes)
    return Done(outcomes, writer, "duplicates", f"searched duplicates of {done} songs: {pairs} pairs",
                {"songs": done, "pairs": pairs})


STAGES: dict[str, Callable[..., Done]] = {
    "ingest": ingest_files,
    "duplicates": find_duplicates,
    "separate": separate_songs,
    "analyze": analyze_songs,
    "embed": embed_songs,
    "genre": refit_genres,
}
