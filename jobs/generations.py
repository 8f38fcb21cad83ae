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
and scored (``udfs.adherence.score_adherence``). It is measured as songs are, too: loudness
(``udfs.quality``), the lake's embedding (``udfs.embedding``) and genre (the lake's fitted genre
model, jobs/genre.py, else the conventions prior), so that a model's generations can be compared
with a slice of the lake (jobs/compare.py); and it is checked for copies of the songs it was
trained on, by embedding and by fingerprint (jobs/copies.py). Its rows go to ``generations``
(what was asked, by whom), ``generation_audio`` (the file's bytes), ``adherence`` (the analysis,
the measurements and the scores) and ``generation_copies`` (the copy check), all in one lake
version. The id is the audio's (``udfs.audio.song_id``): the same audio
added again is skipped, so a manifest can be re-run.

Every line is checked before anything is analysed or written: a bad line raises ValueError
naming the line and the cause, and nothing is added.

From Python, after sampling: ``add(lake, [Generation.from_samples(samples, 32000, "clipgen",
conditioning={...}), ...])`` does the same for audio in memory (kept in the lake as FLAC).
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from songlake.jobs.analyze import ANALYSIS_RATE, analyze_audio
from songlake.jobs.copies import CopyChecker
from songlake.jobs.genre import Fitted, load_fitted
from songlake.schema import lookup
from songlake.schema.lake import Lake
from songlake.schema.writer import BatchWriter
from songlake.udfs import ANALYSIS_VERSION
from songlake.udfs.adherence import check_conditioning, score_adherence
from songlake.udfs.audio import Audio, UnreadableAudio, decode, song_id
from songlake.udfs.embedding import embed
from songlake.udfs.genre import GenreInputs, prior_genre
from songlake.udfs.quality import assess

log = logging.getLogger(__name__)
LINE_FIELDS = ("file", "model", "checkpoint", "prompt", "conditioning", "trained_on")
TRAINED_ON = ("lake", "lake_version", "tag", "query")
DATAMODULE_KEY = "SonglakeDataModule"  # where songlake's trainer records its data in a checkpoint


@dataclass(frozen=True)
class Generation:
    """One piece of audio a model made, and what it was asked for. ``audio`` is an audio file's
    bytes (WAV, FLAC, MP3, ...); ``from_samples`` makes one from a sampler's output."""

    audio: bytes
    model: str
    checkpoint: str | None = None
    prompt: str | None = None
    conditioning: Mapping | None = None  # key, bpm, beats, chords, sections, genre, text, duration
    trained_on: Mapping | None = None  # lake, lake_version, tag, query
    filename: str | None = None
    where: str = "generation"  # how errors name it (a manifest line)

    @classmethod
    def from_samples(cls, samples: np.ndarray, sample_rate: int, model: str, **fields) -> "Generation":
        """From float samples shaped (channels, frames) or (frames,), kept as 16-bit FLAC."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim not in (1, 2) or samples.size == 0:
            raise ValueError(f"samples are shaped (channels, frames) or (frames,), not {samples.shape}")
        frames = samples.T if samples.ndim == 2 and samples.shape[0] <= 8 else samples  # soundfile: (frames, channels)
        buffer = io.BytesIO()
        sf.write(buffer, np.clip(frames, -1, 1), sample_rate, format="FLAC", subtype="PCM_16")
        return cls(buffer.getvalue(), model, **fields)


@dataclass(frozen=True)
class Added:
    version: int | None  # the lake version that holds them; None when nothing was new
    added: tuple[str, ...]  # generation ids added
    skipped: tuple[str, ...]  # ids already in the lake


def add_generations(lake: Lake, folder: str | Path, manifest: str | Path,
                    progress: Callable[[int, int], None] | None = None) -> Added:
    """Add the manifest's generations (see the module docstring); one lake version for all."""
    lines = read_manifest(Path(folder), Path(manifest))
    records = (Generation(line["path"].read_bytes(), line["model"], line["checkpoint"], line["prompt"],
                          line["conditioning"], line["trained_on"], line["path"].name, line["where"])
               for line in lines)
    return add(lake, records, f"from {Path(manifest).name}", progress, total=len(lines))


def add(lake: Lake, generations: Iterable[Generation], source: str = "from Python",
        progress: Callable[[int, int], None] | None = None, total: int | None = None) -> Added:
    """Analyse, score and add generations (one lake version for all; audio already in the lake
    is skipped). The Python way in, after sampling: ``add(lake, [Generation.from_samples(...)])``.
    ValueError names a generation whose fields or audio cannot be right; nothing is added then."""
    writer = BatchWriter(lake)
    added, skipped = [], []
    now = datetime.now(timezone.utc)
    checker: CopyChecker | None = None  # made on the first new generation: it reads the lake's embeddings
    genres = load_fitted(lake)
    for done, generation in enumerate(generations, 1):
        conditioning = _checked(generation)
        try:
            audio = decode(generation.audio)
        except UnreadableAudio as exc:
            raise ValueError(f"{generation.where}: {generation.filename or 'the audio'} is not readable audio "
                             f"({exc})") from None
        generation_id = song_id(audio)
        if generation_id in added or _known(lake, generation_id):
            skipped.append(generation_id)
        else:
            checker = checker or CopyChecker(lake)
            _add_one(writer, generation, conditioning, audio, generation_id, now, checker, genres)
            added.append(generation_id)
        if progress:
            progress(done, total or done)
    version = writer.commit("generations", f"added {len(added)} generations {source}") if added else None
    return Added(version, tuple(added), tuple(skipped))


@dataclass(frozen=True)
class Checked:
    version: int | None  # the lake version that holds the new checks; None when none was needed
    checked: tuple[str, ...]  # generation ids checked
    copies: tuple[str, ...]  # those flagged copies_training


def check_copies(lake: Lake, everything: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> Checked:
    """Check generations for copies of training songs (jobs/copies.py) again: those never checked
    (added before the check existed), or with ``everything`` all of them (after the lake has
    gained songs, fingerprints or embeddings). One lake version for all; each generation's audio
    is read from the lake one at a time, and its embedding from its adherence row where it has
    one (else measured again)."""
    from songlake.schema import connect, run

    unchecked = "" if everything else "WHERE copy_checked_at IS NULL"
    rows = run(connect(lake), "SELECT generation_id, trained_on_lake, trained_on_version, trained_on_tag, "
                              f"trained_on_query, embedding FROM generations {unchecked} ORDER BY added_at").to_pylist()
    if not rows:
        return Checked(None, (), ())
    writer, checker, copies = BatchWriter(lake), CopyChecker(lake), []
    for done, row in enumerate(rows, 1):
        audio = decode(audio_bytes(lake, row["generation_id"]))
        mono = audio.mono_at(ANALYSIS_RATE)
        failed: list[str] = []
        vector = row["embedding"]
        if vector is None:  # generations added before the lake measured them (schema 12)
            vector, why = _embedding(mono)
            failed = [why] if why else []
        trained_on = {field: row[f"trained_on_{'version' if field == 'lake_version' else field}"]
                      for field in TRAINED_ON}
        found = checker.check(row["generation_id"], mono, ANALYSIS_RATE, vector, trained_on)
        writer.add("generation_copies", found | {"copy_reasons": found["copy_reasons"] + failed})
        if found["copies_training"]:
            copies.append(row["generation_id"])
        if progress:
            progress(done, len(rows))
    version = writer.commit("generations", f"checked {len(rows)} generations for copies of training songs")
    return Checked(version, tuple(r["generation_id"] for r in rows), tuple(copies))


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
        checkpoint = row.get("checkpoint")
        line = {"where": where, "path": path, "model": row["model"].strip(), "checkpoint": checkpoint,
                "prompt": row.get("prompt"), "conditioning": row.get("conditioning") or {},
                "trained_on": row.get("trained_on") or _from_checkpoint(folder, checkpoint) or {}}
        _checked(Generation(b"", line["model"], checkpoint, line["prompt"], line["conditioning"], line["trained_on"],
                            path.name, where))  # every line checked before any audio is analysed
        lines.append(line)
    if not lines:
        raise ValueError(f"{manifest} lists no generations")
    return lines


def _checked(generation: Generation) -> dict:
    """The generation's conditioning (its prompt as the text where none is given), checked with
    its model and trained_on; ValueError names the generation."""
    where = generation.where
    if not isinstance(generation.model, str) or not generation.model.strip():
        raise ValueError(f"{where}: 'model' (its name) is required")
    if not isinstance(generation.audio, (bytes, bytearray)):
        raise ValueError(f"{where}: audio is an audio file's bytes (Generation.from_samples takes samples)")
    conditioning = dict(generation.conditioning or {})
    if generation.prompt and "text" not in conditioning:
        conditioning["text"] = generation.prompt
    try:
        check_conditioning(conditioning)
    except ValueError as exc:
        raise ValueError(f"{where}: conditioning: {exc}") from None
    trained_on = generation.trained_on or {}
    if not isinstance(trained_on, Mapping):
        raise ValueError(f"{where}: trained_on is an object with {', '.join(TRAINED_ON)}, not a "
                         f"{type(trained_on).__name__}")
    unknown = [k for k in trained_on if k not in TRAINED_ON]
    if unknown:
        raise ValueError(f"{where}: trained_on has {unknown[0]!r}; its fields are {', '.join(TRAINED_ON)}")
    for field, value in trained_on.items():
        wanted = int if field == "lake_version" else str
        if value is not None and (not isinstance(value, wanted) or isinstance(value, bool)):
            kind = "a whole number" if wanted is int else "text"
            raise ValueError(f"{where}: trained_on {field} is {kind}, not {value!r}")
    return conditioning


def _add_one(writer: BatchWriter, generation: Generation, conditioning: dict, audio: Audio, generation_id: str,
             now: datetime, checker: CopyChecker, genres: Fitted | None) -> None:
    duration = audio.samples.shape[1] / audio.sample_rate
    trained_on = generation.trained_on or {}
    filename = generation.filename or f"{generation_id}.{audio.format}"
    writer.add("generations", {
        "generation_id": generation_id, "model": generation.model.strip(), "checkpoint": generation.checkpoint,
        "prompt": generation.prompt, "conditioning": json.dumps(conditioning, sort_keys=True),
        "trained_on_lake": trained_on.get("lake"), "trained_on_version": trained_on.get("lake_version"),
        "trained_on_tag": trained_on.get("tag"), "trained_on_query": trained_on.get("query"),
        "filename": filename, "format": audio.format, "duration": duration,
        "sample_rate": audio.sample_rate, "added_at": now,
    })
    writer.add("generation_audio", {"generation_id": generation_id, "filename": filename, "format": audio.format,
                                    "size_bytes": len(generation.audio), "data": bytes(generation.audio)})
    mono = audio.mono_at(ANALYSIS_RATE)
    with warnings.catch_warnings():  # degenerate audio is legal: analysis and scores say what is missing
        warnings.simplefilter("ignore")
        analysis = analyze_audio(mono)
        scores = score_adherence(analysis, conditioning, duration=duration)
        measured, failed = _measured(audio, mono, analysis.values, genres)
    values = analysis.values
    row = scores.as_row()
    writer.add("adherence", {
        "generation_id": generation_id, "analysis_version": ANALYSIS_VERSION,
        **{k: values.get(k) for k in ("bpm", "key", "beats", "chords", "sections")},
        "analysis_failures": list(analysis.failures) + [f.partition(":")[0] for f in failed], **row,
        # why each NULL is NULL: the scores', then the analysis's and the measurements' 'column: why'
        "adherence_reasons": row["adherence_reasons"] + list(analysis.failed) + failed,
        "scored_at": now, **measured,
    })
    copies = checker.check(generation_id, mono, ANALYSIS_RATE, measured["embedding"], trained_on)
    why_no_embedding = [f for f in failed if f.startswith("embedding:")]
    writer.add("generation_copies", copies | {"copy_reasons": copies["copy_reasons"] + why_no_embedding})


def _measured(audio: Audio, mono: np.ndarray, values: dict, genres: Fitted | None) -> tuple[dict, list[str]]:
    """The generation's loudness, embedding and genre, measured as songs' are (adherence's
    columns), and 'column: why' for each left NULL."""
    failed: list[str] = []

    def attempt(column: str, measure):
        try:
            return measure()
        except Exception as exc:  # recorded with the generation, which is added all the same
            failed.append(f"{column}: {type(exc).__name__}: {exc}")
            return None

    loudness = attempt("loudness_lufs", lambda: assess(audio).loudness_lufs)
    if (loudness is None or not np.isfinite(loudness)) and not failed:
        loudness = None
        failed.append("loudness_lufs: silent (BS.1770 loudness is undefined)")
    vector, why = _embedding(mono)
    if why:
        failed.append(why)
    out = {"loudness_lufs": None if loudness is None else round(float(loudness), 2), "embedding": vector}
    inputs = {**values, **out, "format": audio.format, "duration": audio.samples.shape[1] / audio.sample_rate}
    genre = attempt("primary_genre", lambda: (genres.model.predict([GenreInputs.from_row(inputs)])[0] if genres
                                              else prior_genre(GenreInputs.from_row(inputs))))
    out |= {"primary_genre": genre and genre.primary_genre,
            "genre_confidence": genre and round(float(genre.genre_confidence), 4),
            "genre_model": genre and (genres.name if genres else "prior")}
    return out, failed


def _embedding(mono: np.ndarray) -> tuple[list[float] | None, str | None]:
    """The lake's embedding of a generation's analysis audio, or None with 'embedding: why'."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vector = embed(mono, ANALYSIS_RATE).vector
    except Exception as exc:  # recorded with the generation, which is added all the same
        return None, f"embedding: {type(exc).__name__}: {exc}"
    if not np.any(vector):
        return None, "embedding: silent (the zero vector)"
    return [float(x) for x in vector], None


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


def audio_bytes(lake: Lake, generation_id: str) -> bytes | None:
    """A generation's file as it was added (generation_audio's blob), or None when the lake has
    no such generation."""
    return lookup.blobs(lake, "generation_audio", "generation_id", [generation_id]).get(generation_id)


def _known(lake: Lake, generation_id: str) -> bool:
    """Whether the lake holds this generation (through the id's index, not a scan)."""
    rows = lookup.by_key(lookup.table_at(lake, "generations"), "generation_id", [generation_id], ["generation_id"])
    return rows is not None and rows.num_rows > 0

