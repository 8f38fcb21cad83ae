"""The dashboard's estimates as people read them: what 1K, 10K and 100K songs would take.

``estimates_table(report)`` turns the collection report's ``estimates`` (``schema.report``) into
two small tables for the template:

- ``rows``: storage, processing time and training cost, one figure per collection size in
  ``SCALES``, each with a sentence saying what it was measured from, or, where the lake has not
  measured it, "not measured" and why;
- ``stages``: the processing time of each pipeline stage per hour of audio, with its source
  (stage_runs or separations, how many runs) or why it is missing.

Figures are display text (``human_bytes``, ``human_seconds``); the report itself keeps numbers.
"""

from __future__ import annotations

from typing import Any

from songlake.schema.report import SCALES
from songlake.server._ui_charts import human_bytes, human_seconds


def estimates_table(report: dict[str, Any]) -> dict[str, Any]:
    """{scales: ["1K songs", ...], rows: [{name, unit, cells, measured, source}], stages: [...]}."""
    estimates = report.get("estimates") or {}
    processing = estimates.get("processing") or {}
    return {
        "scales": [_scale_name(n) for n in SCALES],
        "rows": [_storage(estimates, report.get("songs") or 0), _processing(processing),
                 _training(estimates.get("training") or {})],
        "stages": [_stage(name, stage) for name, stage in (processing.get("stages") or {}).items()],
    }


def _storage(estimates: dict, songs: int) -> dict[str, Any]:
    row = {"name": "Storage", "unit": "on disk"}
    scaled = estimates.get("storage_for")
    if not _measured(scaled):
        return row | _missing(scaled)
    per_hour = estimates.get("bytes_per_audio_hour")
    hourly = f", {human_bytes(per_hour)} an hour of audio" if isinstance(per_hour, (int, float)) else ""
    return row | {
        "measured": True,
        "cells": [human_bytes(_at(scaled, n)) for n in SCALES],
        "source": (f"this lake's folder now: {human_bytes(estimates['storage_bytes'])} for {songs:,} songs "
                   f"({human_bytes(estimates['bytes_per_song'])} a song{hourly}), every table with the "
                   "versions it keeps and the queue, scaled by the number of songs"),
    }


def _processing(processing: dict) -> dict[str, Any]:
    row = {"name": "Processing", "unit": "one worker, wall time"}
    if not _measured(processing):
        return row | _missing(processing)
    stages = processing.get("stages") or {}
    measured = [f"{name} ({_runs(stage)})" for name, stage in stages.items() if stage.get("measured")]
    left_out = processing.get("not_measured") or []
    source = (f"{', '.join(measured)}: {human_seconds(processing['seconds_per_song'])} a song of "
              f"{human_seconds(processing['mean_song_seconds'])} (this lake's mean length), one stage after "
              "another at the speed measured in this lake")
    if left_out:
        source += f"; not counted, having no measured time (by stage, below): {', '.join(left_out)}"
    return row | {"measured": True, "cells": [human_seconds(3600.0 * _at(processing["hours_for"], n)) for n in SCALES],
                  "source": source}


def _training(training: dict) -> dict[str, Any]:
    row = {"name": "Training", "unit": "one epoch, GPU time"}
    scaled = training.get("gpu_hours_per_epoch_for")
    if not _measured(scaled):
        return row | _missing(scaled if isinstance(scaled, dict) else training.get("throughput"))
    throughput = training.get("throughput") or {}
    rate = float(throughput["audio_seconds_per_gpu_second"])
    details = ", ".join(f"{key} {throughput[key]}" for key in ("gpu", "model", "batch_size") if throughput.get(key))
    when = throughput.get("measured_at")
    recorded = f", recorded {str(when)[:16].replace('T', ' ')}" if when else ""
    return row | {
        "measured": True,
        "cells": [human_seconds(3600.0 * _at(scaled, n)) for n in SCALES],
        "source": (f"a training run's throughput, {rate:.3g} s of audio per GPU second"
                   + (f" ({details})" if details else "") + recorded + ", over songs of this lake's mean length"),
    }


def _stage(name: str, stage: dict) -> dict[str, Any]:
    if not stage.get("measured"):
        return {"name": name, "measured": False, "per_audio_hour": "not measured",
                "source": stage.get("why") or "no measurement"}
    source = f"{_runs(stage)} over {human_seconds(3600.0 * float(stage.get('audio_hours') or 0))} of audio"
    if stage.get("devices"):
        source += f", on {', '.join(map(str, stage['devices']))}"
    return {"name": name, "measured": True, "per_audio_hour": human_seconds(float(stage["seconds_per_audio_hour"])),
            "source": source}


def _runs(stage: dict) -> str:
    runs = int(stage.get("runs") or 0)
    return f"{runs:,} {'run' if runs == 1 else 'runs'} in {stage.get('source', 'the logs')}"


def _measured(value) -> bool:
    return isinstance(value, dict) and value.get("measured") is not False


def _missing(value) -> dict[str, Any]:
    why = value.get("why") if isinstance(value, dict) else None
    return {"measured": False, "cells": ["not measured"] * len(SCALES), "source": why or "no measurement"}


def _at(scaled: dict, n: int) -> float:
    """A scaled figure by collection size; JSON round trips turn the int keys into text."""
    return float(scaled[n] if n in scaled else scaled[str(n)])


def _scale_name(n: int) -> str:
    return f"{n // 1000:,}K songs" if n % 1000 == 0 else f"{n:,} songs"
