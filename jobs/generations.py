"""Generations: audio a model made, added to the lake with what it was asked for, analysed as
songs are and scored for adherence to its conditioning.

``add_generations(lake, folder, manifest)`` reads a JSONL manifest, one generation a line::

    {"file": "a/001.wav", "model": "clipgen", "checkpoint": "runs/first/last.ckpt",
     "prompt": "upbeat pop in C# major", "conditioning": {"key": "C# major", "bpm": 110,
     "chords": [{"start": 0.26, "end": 2.44, "label": "C#:maj"}, ...], "sections": [...],
     "genre": "pop"}, "trained_on": {"lake": "...", "lake_version": 12, "query": "SELECT ..."}}

``file`` is relative to ``folder`` (or absolute); ``model`` is required; ``checkpoint``,
``prompt``, ``conditioning`` and ``trained_on`` are optional. Where ``trained_on`` is absent and
``checkpoint`` names a file that songlake's trainer wrote, the lake, version, tag and query are
read from it (``checkpoint["SonglakeDataModule"]``, loaded with ``weights_only``). The prompt is
also the conditioning's ``text`` when that is not given.

Each generation is decoded, analysed at 44.1 kHz mono (``jobs.analyze.analyze_audio``, no stems)
and scored (``udfs.adherence.score_adherence``). Its rows go to ``generations`` (what was asked,
by whom), ``generation_audio`` (the file's bytes) and ``adherence`` (the analysis and the
scores), all in one lake version. The id is the audio's (``udfs.audio.song_id``): the same audio
added again is skipped, so a manifest can be re-run.

Every line is checked before anything is analysed or written: a bad line raises ValueError
naming the line and the cause, and nothing is added.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from songlake.jobs.analyze import ANALYSIS_RATE, analyze_audio
from songlake.schema import lookup
from songlake.schema.lake import Lake
from songlake.schema.writer import BatchWriter
from songlake.udfs import ANALYSIS_VERSION
from songlake.udfs.adherence import check_conditioning, score_adherence
from songlake.udfs.audio import UnreadableAudio, decode, song_id

log = logging.getLogger(__name__)
LINE_FIELDS = ("file", "model", "checkpoint", "prompt", "conditioning", "trained_on")
TRAINED_ON = ("lake", "lake_version", "tag", "query")
DATAMODULE_KEY = "SonglakeDataModule"  # where songlake's trainer records its data in a checkpoint


@dataclass(frozen=True)
class Added:
    version: int | None  # the lake version that holds them; None when nothing was new
    added: tuple[str, ...]  # generation ids added
    skipped: tuple[str, ...]  # ids already in the lake


def add_generations(lake: Lake, folder: str | Path, manifest: str | Path,
                    progress: Callable[[int, int], None] | None = None) -> Added:
    """Add the manifest's generations (see the module docstring); one lake version for all."""
    folder = Path(folder)
    lines = read_manifest(folder, Path(manifest))
    writer = BatchWriter(lake)
    added, skipped = [], []
    now = datetime.now(timezone.utc)
    for done, line in enumerate(lines, 1):
        data = line["path"].read_bytes()
        try:
            audio = decode(data)
        except UnreadableAudio as exc:
            raise ValueError(f"{line['where']}: {line['path'].name} is not readable audio ({exc})") from None
        generation_id = song_id(audio)
        if generation_id in added or _known(lake, generation_id):
            skipped.append(generation_id)
        else:
            _add_one(writer, line, data, audio, generation_id, now)
            added.append(generation_id)
        if progress:
            progress(done, len(lines))
    version = writer.commit("generations", f"added {len(added)} generations from {Path(manifest).name}") \
        if added else None
    return Added(version, tuple(added), tuple(skipped))


def read_manifest(folder: Path, manifest: Path) -> list[dict]:
    """The manifest's lines, checked: each {where, path, model, checkpoint, prompt, conditioning,
    trained_on}. ValueError names the first bad line and what is wrong with it."""
    if not manifest.is_file():
        raise ValueError(f"no manifest at {manifest}")
    lines = []
    for number, text in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        where = f"{manifest.name} line {number}"
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where} is not JSON ({exc.msg}); a manifest has one JSON object a line") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where} is a {type(row).__name__}, not a JSON object")
        unknown = [k for k in row if k not in LINE_FIELDS]
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r}; fields are {', '.join(LINE_FIELDS)}")
        if not isinstance(row.get("file"), str) or not isinstance(row.get("model"), str) or not row["model"].strip():
            raise ValueError(f"{where}: 'file' (the audio, relative to the folder) and 'model' (its name) are required")
        path = Path(row["file"]) if Path(row["file"]).is_absolute() else folder / row["file"]
        if not path.is_file():
            raise ValueError(f"{where}: no file {path}")
        conditioning = dict(row.get("conditioning") or {})
        if row.get("prompt") and "text" not in conditioning:
            conditioning["text"] = row["prompt"]
        try:
            check_conditioning(conditioning)
        except ValueError as exc:
            raise ValueError(f"{where}: conditioning: {exc}") from None
        checkpoint = row.get("checkpoint")
        trained_on = row.get("trained_on") or _from_checkpoint(folder, checkpoint)
        unknown = [k for k in (trained_on or {}) if k not in TRAINED_ON]
        if unknown:
            raise ValueError(f"{where}: trained_on has {unknown[0]!r}; its fields are {', '.join(TRAINED_ON)}")
        lines.append({"where": where, "path": path, "model": row["model"].strip(), "checkpoint": checkpoint,
                      "prompt": row.get("prompt"), "conditioning": conditioning, "trained_on": trained_on or {}})
    if not lines:
        raise ValueError(f"{manifest} lists no generations")
    return lines


def _add_one(writer: BatchWriter, line: dict, data: bytes, audio, generation_id: str, now: datetime) -> None:
    duration = audio.samples.shape[1] / audio.sample_rate
    trained_on = line["trained_on"]
    writer.add("generations", {
        "generation_id": generation_id, "model": line["model"], "checkpoint": line["checkpoint"],
        "prompt": line["prompt"], "conditioning": json.dumps(line["conditioning"], sort_keys=True),
        "trained_on_lake": trained_on.get("lake"), "trained_on_version": trained_on.get("lake_version"),
        "trained_on_tag": trained_on.get("tag"), "trained_on_query": trained_on.get("query"),
        "filename": line["path"].name, "format": audio.format, "duration": duration,
        "sample_rate": audio.sample_rate, "added_at": now,
    })
    writer.add("generation_audio", {"generation_id": generation_id, "filename": line["path"].name,
                                    "format": audio.format, "size_bytes": len(data), "data": data})
    with warnings.catch_warnings():  # degenerate audio is legal: analysis and scores say what is missing
        warnings.simplefilter("ignore")
        analysis = analyze_audio(audio.mono_at(ANALYSIS_RATE))
        scores = score_adherence(analysis, line["conditioning"], duration=duration)
    values = analysis.values
    writer.add("adherence", {
        "generation_id": generation_id, "analysis_version": ANALYSIS_VERSION,
        **{k: values.get(k) for k in ("bpm", "key", "beats", "chords", "sections")},
        "analysis_failures": list(analysis.failures), **scores.as_row(), "scored_at": now,
    })


def _from_checkpoint(folder: Path, checkpoint) -> dict | None:
    """The data a songlake training run recorded in its checkpoint, or None."""
    if not isinstance(checkpoint, str):
        return None
    path = Path(checkpoint) if Path(checkpoint).is_absolute() else folder / checkpoint
    if not path.is_file():
        return None
    try:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, or one weights_only refuses: the lineage stays unknown
        log.warning("could not read %s for the data it was trained on: %s", path, exc)
        return None
    data = state.get(DATAMODULE_KEY) if isinstance(state, dict) else None
    return {k: data.get(k) for k in TRAINED_ON} if isinstance(data, dict) else None


def _known(lake: Lake, generation_id: str) -> bool:
    """Whether the lake holds this generation (through the id's index, not a scan)."""
    rows = lookup.by_key(lookup.table_at(lake, "generations"), "generation_id", [generation_id], ["generation_id"])
    return rows is not None and rows.num_rows > 0

