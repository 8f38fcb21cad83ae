"""The collection report: balance, quality, readiness for training, and what more songs would cost.

``collection_report(con, lake)`` reads the named views (genre_balance, era_balance,
quality_compliance, annotation_queue, songs) and the pipeline's own logs through a DuckDB
connection with the lake's views (``schema.connect`` or the server's snapshot), and returns one
JSON-safe dict (the shape is in ``collection_report``'s docstring).

Every estimate comes from this lake's own measurements: storage from the lake folder's bytes,
processing from the seconds the stages recorded (``stage_runs.seconds``, and for separation
``separations.seconds`` against the audio seconds separated) against the songs' durations, and
training from a throughput that a training run recorded in ``LAKE/measurements/training.json``
(``record_training_throughput``). Where a measurement is missing the figure is
``{"measured": False, "why": ...}``: no constant stands in for it.
"""

from __future__ import annotations

import json
import math
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from songlake.schema.lake import Lake
from songlake.schema.query import run

SCALES = (1_000, 10_000, 100_000)  # collection sizes the estimates are scaled to
# Collection size -> the training approach it supports (songs at least, name, what it means).
APPROACHES = (
    (0, "not enough songs", "too few songs to adapt a model reliably; keep collecting"),
    (1_000, "fine-tuning", "adapt a pretrained music model to this collection"),
    (5_000, "hybrid", "fine-tune a pretrained model and train new parts (conditioning, adapters) from scratch"),
    (10_000, "custom training", "enough songs to train a model of this collection's own from scratch"),
)
QUALITY_CHECKS = (  # (name, quality_compliance column)
    ("bitrate >= 320 kbps", "bitrate_ok"),
    ("2-6 minutes", "duration_ok"),
    ("no suspected transcode", "transcode_ok"),
    ("not clipped", "clipping_ok"),
)
STAGES = ("ingest", "separate", "analyze", "embed", "genre")  # in pipeline order; stage_runs may name more
_NOT_LOGGED = {  # stages that, as the jobs are written now, leave no timed stage_runs rows
    "genre": "the genre refit runs once for the whole collection and records no stage_runs rows",
}
TRAINING_MEASUREMENT = Path("measurements") / "training.json"  # under the lake folder


def collection_report(con: duckdb.DuckDBPyConnection, lake: Lake) -> dict[str, Any]:
    """The report of the collection that ``con`` holds (its lake version), storage from ``lake``.

    Keys: ``lake_version``, ``generated_at`` (ISO text), ``songs``, ``audio_hours``,
    ``genre_balance`` (list of {genre, songs, share, target_min, target_max, status}),
    ``genre_unknown`` (songs without a genre, counted as other), ``era_balance`` (list of {era,
    songs, share, target, target_min, target_max, status}), ``era_unknown_year``, ``quality``
    ({compliant, share, checks: [{name, passed, failed, unknown}]}), ``training`` ({approach,
    description, songs, next: {approach, songs_needed} or None}), ``estimates`` ({storage_bytes,
    storage_by_table, bytes_per_song, bytes_per_audio_hour, storage_for, processing, training}),
    ``labels`` ({songs, changes, by_field}) and ``annotation_queue`` (a count)."""
    totals = _one(con, "SELECT count(*) AS songs, coalesce(sum(duration), 0) / 3600.0 AS audio_hours, "
                       "avg(duration) AS mean_seconds, count(*) FILTER (WHERE primary_genre IS NULL) AS genre_unknown "
                       "FROM songs")
    songs, audio_hours = int(totals["songs"]), float(totals["audio_hours"])
    eras = run(con, "SELECT * FROM era_balance").to_pylist()
    storage = storage_estimates(lake, songs, audio_hours)
    return {
        "lake_version": _one(con, "SELECT max(version) AS v FROM lake_versions")["v"],
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "songs": songs,
        "audio_hours": round(audio_hours, 3),
        "genre_balance": [_rounded(row) for row in run(con, "SELECT * FROM genre_balance").to_pylist()],
        "genre_unknown": int(totals["genre_unknown"]),
        "era_balance": [_rounded(row) for row in eras if row["era"] != "unknown"],
        "era_unknown_year": sum(row["songs"] for row in eras if row["era"] == "unknown"),
        "quality": quality_summary(con, songs),
        "training": training_approach(songs),
        "estimates": storage | {
            "processing": processing_estimates(con, totals["mean_seconds"]),
            "training": training_estimates(lake, audio_hours, totals["mean_seconds"]),
        },
        "labels": label_counts(con),
        "annotation_queue": _one(con, "SELECT count(*) AS n FROM annotation_queue")["n"],
    }


# --- the collection ----------------------------------------------------------------------

def quality_summary(con: duckdb.DuckDBPyConnection, songs: int) -> dict[str, Any]:
    """{compliant, share, checks: [{name, passed, failed, unknown}]} from the quality_compliance view."""
    counts = ", ".join(f"count(*) FILTER (WHERE {column}) AS {column}_passed, "
                       f"count(*) FILTER (WHERE NOT {column}) AS {column}_failed, "
                       f"count(*) FILTER (WHERE {column} IS NULL) AS {column}_unknown"
                       for _, column in QUALITY_CHECKS)
    row = _one(con, f"SELECT count(*) FILTER (WHERE compliant) AS compliant, {counts} FROM quality_compliance")
    return {
        "compliant": row["compliant"],
        "share": round(row["compliant"] / songs, 4) if songs else 0.0,
        "checks": [{"name": name, "passed": row[f"{column}_passed"], "failed": row[f"{column}_failed"],
                    "unknown": row[f"{column}_unknown"]} for name, column in QUALITY_CHECKS],
    }


def training_approach(songs: int) -> dict[str, Any]:
    """The approach the collection's size supports, and how many songs the next one needs."""
    reached = [a for a in APPROACHES if songs >= a[0]][-1]
    following = [a for a in APPROACHES if a[0] > songs]
    return {
        "approach": reached[1],
        "description": reached[2],
        "songs": songs,
        "next": {"approach": following[0][1], "songs_needed": following[0][0] - songs} if following else None,
    }


def label_counts(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """{songs: songs with a human label, changes: label rows ever written, by_field: {field: songs}}."""
    by_field = run(con, "SELECT field, count(*) AS songs FROM (SELECT unnest(labeled_fields) AS field FROM songs) "
                        "GROUP BY field ORDER BY songs DESC, field").to_pylist()
    return {
        "songs": _one(con, "SELECT count(*) AS n FROM songs WHERE len(labeled_fields) > 0")["n"],
        "changes": _one(con, "SELECT count(*) AS n FROM lake_labels")["n"],
        "by_field": {row["field"]: row["songs"] for row in by_field},
    }


# --- estimates from measurements --------------------------------------------------------

def storage_estimates(lake: Lake, songs: int, audio_hours: float) -> dict[str, Any]:
    """The lake folder's size now, per song and per audio hour, and scaled to SCALES songs.

    The size is every file under the lake folder (all tables with the versions not yet cleaned
    up by optimize, and the queue's database), so the scaled figures include that overhead."""
    by_table = {path.name.removesuffix(".lance"): _folder_bytes(path)
                for path in sorted(lake.tables_dir.glob("*.lance"))}
    total = _folder_bytes(lake.root)
    out: dict[str, Any] = {"storage_bytes": total, "storage_by_table": by_table}
    if not songs:
        missing = _unmeasured("the lake has no songs yet, so there is no size per song to scale")
        return out | {"bytes_per_song": missing, "bytes_per_audio_hour": missing, "storage_for": missing}
    per_song = total / songs
    out["bytes_per_song"] = round(per_song)
    out["bytes_per_audio_hour"] = (round(total / audio_hours) if audio_hours > 0
                                   else _unmeasured("no song has a measured duration"))
    out["storage_for"] = {n: round(per_song * n) for n in SCALES}
    return out


def processing_estimates(con: duckdb.DuckDBPyConnection, mean_song_seconds: float | None) -> dict[str, Any]:
    """Processing seconds per audio hour for each stage, as this lake measured them, and what
    they add up to per song and for SCALES songs on one worker running the stages in turn.

    Separation comes from ``separations`` (seconds against the audio seconds separated, with the
    devices it ran on); every other stage from its done ``stage_runs`` rows against the songs'
    durations. A stage without a recorded time is reported as not measured and left out of
    the totals (``not_measured`` names them)."""
    stages = {stage: _stage_from_runs(con, stage) for stage in _stage_names(con)}
    separated = _separation_measurement(con)  # the same time as stage_runs' 'separate' rows: one of them counts
    if separated["measured"]:
        stages["separate"] = separated
    elif not stages["separate"]["measured"]:
        stages["separate"] = _unmeasured(f"{stages['separate']['why']}; {separated['why']}")
    measured = {name: s for name, s in stages.items() if s["measured"]}
    out: dict[str, Any] = {"stages": stages, "not_measured": [name for name in stages if name not in measured]}
    if not measured:
        return out | _unmeasured("no stage has recorded a processing time yet (process some songs first)")
    if not mean_song_seconds:
        return out | _unmeasured("no song has a measured duration, so seconds per audio hour cannot be scaled to songs")
    per_audio_hour = sum(s["seconds_per_audio_hour"] for s in measured.values())
    per_song = per_audio_hour * mean_song_seconds / 3600.0
    return out | {
        "measured": True,
        "seconds_per_audio_hour": round(per_audio_hour, 2),
        "mean_song_seconds": round(mean_song_seconds, 2),
        "seconds_per_song": round(per_song, 3),
        "songs_per_hour": round(3600.0 / per_song, 2) if per_song > 0 else None,
        "hours_for": {n: round(n * per_song / 3600.0, 2) for n in SCALES},
        "basis": f"one worker running {', '.join(measured)} in turn, at the speed measured in this lake",
    }


def training_estimates(lake: Lake, audio_hours: float, mean_song_seconds: float | None) -> dict[str, Any]:
    """The set's audio hours, and GPU hours per epoch (now and for SCALES songs of this lake's mean
    length) from a recorded training throughput."""
    throughput = recorded_training_throughput(lake)
    out: dict[str, Any] = {"audio_hours": round(audio_hours, 3), "throughput": throughput}
    if not throughput["measured"]:
        missing = _unmeasured(throughput["why"])
        return out | {"gpu_hours_per_epoch": missing, "gpu_hours_per_epoch_for": missing}
    if audio_hours <= 0 or not mean_song_seconds:
        missing = _unmeasured("the lake holds no audio with a measured duration")
        return out | {"gpu_hours_per_epoch": missing, "gpu_hours_per_epoch_for": missing}
    rate = throughput["audio_seconds_per_gpu_second"]
    return out | {
        "gpu_hours_per_epoch": round(audio_hours / rate, 4),
        "gpu_hours_per_epoch_for": {n: round(n * mean_song_seconds / 3600.0 / rate, 4) for n in SCALES},
    }


# --- the training measurement hook ------------------------------------------------------

def recorded_training_throughput(lake: Lake) -> dict[str, Any]:
    """The training throughput a training run recorded in ``LAKE/measurements/training.json``.

    The file is a JSON object with ``audio_seconds_per_gpu_second`` (a positive number: seconds
    of audio one GPU trains on per second, one pass) and any details (gpu, model, batch_size,
    measured_at ...). Returns those keys with ``measured: True``, or ``{"measured": False,
    "why": ...}`` when there is no file or it is not readable."""
    path = lake.root / TRAINING_MEASUREMENT
    if not path.exists():
        return _unmeasured("no training throughput is recorded yet: a training run (`songlake train`) "
                           f"records it in {TRAINING_MEASUREMENT.as_posix()} in the lake folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rate = float(data["audio_seconds_per_gpu_second"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return _unmeasured(f"{TRAINING_MEASUREMENT.as_posix()} is not a JSON object with a number "
                           f"audio_seconds_per_gpu_second ({type(exc).__name__}: {exc})")
    if not (math.isfinite(rate) and rate > 0):
        return _unmeasured(f"{TRAINING_MEASUREMENT.as_posix()} records audio_seconds_per_gpu_second {rate!r}, "
                           "not a positive number")
    return {k: v for k, v in data.items() if isinstance(k, str)} | {"measured": True,
                                                                   "audio_seconds_per_gpu_second": rate}


def record_training_throughput(lake: Lake, audio_seconds: float, gpu_seconds: float, **details: Any) -> Path:
    """Record a training run's measured throughput for the report (the training side's hook).

    ``audio_seconds`` of audio trained on in ``gpu_seconds`` of GPU time (summed over GPUs);
    ``details`` (gpu, model, batch_size ...) are stored with it. Written atomically."""
    if not (audio_seconds > 0 and gpu_seconds > 0):
        raise ValueError(f"audio_seconds and gpu_seconds are positive durations in seconds, got "
                         f"{audio_seconds!r} and {gpu_seconds!r}")
    path = lake.root / TRAINING_MEASUREMENT
    path.parent.mkdir(parents=True, exist_ok=True)
    record = details | {"audio_seconds_per_gpu_second": audio_seconds / gpu_seconds, "audio_seconds": audio_seconds,
                        "gpu_seconds": gpu_seconds, "measured_at": datetime.now(timezone.utc).isoformat()}
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(temporary, path)
    return path


# --- helpers -------------------------------------------------------------------------------

def _stage_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    logged = [r["stage"] for r in run(con, "SELECT DISTINCT stage FROM lake_stage_runs WHERE stage IS NOT NULL "
                                           "ORDER BY stage").to_pylist()]
    return list(STAGES) + [s for s in logged if s not in STAGES]


def _stage_from_runs(con: duckdb.DuckDBPyConnection, stage: str) -> dict[str, Any]:
    row = _one(con, """
        SELECT count(*) AS runs,
               count(*) FILTER (WHERE r.seconds > 0) AS timed,
               count(*) FILTER (WHERE r.seconds > 0 AND s.duration > 0) AS usable,
               sum(r.seconds) FILTER (WHERE r.seconds > 0 AND s.duration > 0) AS seconds,
               sum(s.duration) FILTER (WHERE r.seconds > 0 AND s.duration > 0) AS audio_seconds
        FROM lake_stage_runs r LEFT JOIN songs s USING (song_id)
        WHERE r.stage = $1 AND r.status = 'done'""", [stage])
    if not row["runs"]:
        return _unmeasured(_NOT_LOGGED.get(stage, f"stage_runs records no finished '{stage}' run yet"))
    if not row["timed"]:
        return _unmeasured(f"the {row['runs']} finished '{stage}' runs in stage_runs record no processing time")
    if not row["usable"]:
        return _unmeasured(f"the songs of the timed '{stage}' runs have no measured duration")
    return {"measured": True, "source": "stage_runs", "runs": row["usable"],
            "audio_hours": round(row["audio_seconds"] / 3600.0, 4),
            "seconds_per_audio_hour": round(row["seconds"] / row["audio_seconds"] * 3600.0, 2)}


def _separation_measurement(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    row = _one(con, """
        SELECT count(*) AS runs, sum(seconds) AS seconds, sum(duration) AS audio_seconds,
               list(DISTINCT device ORDER BY device) FILTER (WHERE device IS NOT NULL) AS devices
        FROM lake_separations WHERE status = 'done' AND seconds > 0 AND duration > 0""")
    if not row["runs"]:
        return _unmeasured("separations records no finished separation with its seconds and duration")
    return {"measured": True, "source": "separations", "runs": row["runs"],
            "audio_hours": round(row["audio_seconds"] / 3600.0, 4),
            "seconds_per_audio_hour": round(row["seconds"] / row["audio_seconds"] * 3600.0, 2),
            "devices": row["devices"] or []}


def _folder_bytes(root: Path) -> int:
    """The size of every regular file under root (links not followed)."""
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:  # removed while we walk (a cleanup, a queue's journal)
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def _one(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> dict[str, Any]:
    rows = run(con, query, params=params).to_pylist()
    return rows[0] if rows else {}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def _unmeasured(why: str) -> dict[str, Any]:
    return {"measured": False, "why": why}
