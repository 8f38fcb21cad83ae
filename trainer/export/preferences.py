"""Export the A/B votes as preference pairs: a Hugging Face ``datasets`` Dataset of
``(prompt, conditioning, chosen, rejected)`` rows, the shape DPO-style trainers read.

Layout of the export folder, which is itself the saved Dataset::

    data-*.arrow, dataset_info.json, state.json   Dataset.save_to_disk
    export.json                                   the votes and raters behind it

Load it with ``datasets.load_from_disk(OUT)``. One row per vote that chose A or B (ties and
both_bad say nothing about which is better: they are left out and counted in export.json).
Columns:

- ``prompt``: the prompt both clips were made for; ``conditioning``: the chosen clip's
  conditioning (JSON text; the rejected clip's where the chosen one is a reference song);
- ``chosen`` and ``rejected``: ``Audio`` columns holding each clip's file as it is in the lake
  (a generation's audio, or the reference song's original file); ``Audio(decode=False)`` gives
  the bytes without torchcodec;
- ``chosen_id``, ``rejected_id``, ``chosen_kind``, ``rejected_kind`` ('generation' or 'song'),
  ``chosen_model``, ``rejected_model`` ('reference' for a song), ``chosen_checkpoint``,
  ``rejected_checkpoint``;
- the vote: ``vote_id``, ``rater``, ``note``, ``voted_at`` (ISO 8601 text).

``export.json`` holds the format, the lake and version, the counts (votes, rows, ties, both_bad
left out), the votes per rater, and every exported vote's id with its rater, so the export can be
traced back to the lake's votes. The Arrow is written directly (see ``export.hf`` for why).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from songlake.schema import connect, lookup, run
from songlake.schema.lake import Lake
from songlake.trainer.export import hf
from songlake.trainer.export._common import MANIFEST, MARKER, prepare_out

FORMAT = "preferences"


@dataclass(frozen=True)
class PreferencesResult:
    out: Path
    manifest: Path
    counts: dict[str, int]


def export_preferences(lake: Lake, out: str | Path, *, version: int | str | None = None,
                       overwrite: bool = False) -> PreferencesResult:
    """Write the lake's votes (at ``version``, the latest by default) to ``out`` as preference
    pairs (see the module docstring). ValueError when datasets is missing or the folder is not
    usable; nothing is written then."""
    datasets = hf.require()
    state = lake.state(version)
    votes = run(connect(lake, state.version), "SELECT v.*, ga.conditioning AS a_conditioning, "
                "gb.conditioning AS b_conditioning FROM votes v "
                "LEFT JOIN generations ga ON v.a_kind = 'generation' AND ga.generation_id = v.a_id "
                "LEFT JOIN generations gb ON v.b_kind = 'generation' AND gb.generation_id = v.b_id "
                "ORDER BY v.voted_at, v.vote_id").to_pylist()
    decided = [v for v in votes if v["choice"] in ("a", "b")]
    audio = _audio(lake, state, decided)  # raises when a clip's audio is missing: before the folder is made
    out = prepare_out(Path(out), overwrite, FORMAT)
    features = datasets.Features({
        "prompt": datasets.Value("string"), "conditioning": datasets.Value("string"),
        "chosen": datasets.Audio(), "rejected": datasets.Audio(),
        **{f"{side}_{column}": datasets.Value("string") for side in ("chosen", "rejected")
           for column in ("id", "kind", "model", "checkpoint")},
        "vote_id": datasets.Value("string"), "rater": datasets.Value("string"), "note": datasets.Value("string"),
        "voted_at": datasets.Value("string"),
    })
    rows = [_row(v, audio) for v in decided]
    scratch = out / ".arrow"
    scratch.mkdir()
    path = scratch / "preferences.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, features.arrow_schema) as stream:
        stream.write_table(pa.Table.from_pylist(rows, schema=features.arrow_schema))
    dataset = datasets.Dataset.from_file(str(path), info=datasets.DatasetInfo(features=features))
    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        dataset.save_to_disk(str(out), num_shards=1)
    finally:
        if shown:
            datasets.enable_progress_bars()
    del dataset
    shutil.rmtree(scratch)
    choices = Counter(v["choice"] for v in votes)
    counts = {"votes": len(votes), "rows": len(rows), "ties": choices["tie"], "both_bad": choices["both_bad"]}
    manifest = {
        "format": FORMAT, "lake": str(lake.root), "lake_version": state.version,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "counts": counts,
        "left_out": "ties and both_bad votes (they prefer neither clip)",
        "raters": dict(sorted(Counter(v["rater"] for v in decided).items())),
        "raters_of_all_votes": dict(sorted(Counter(v["rater"] for v in votes).items())),
        "votes": [{"vote_id": v["vote_id"], "rater": v["rater"], "choice": v["choice"]} for v in decided],
        "columns": list(features),
    }
    manifest_path = out / MANIFEST
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / MARKER).unlink(missing_ok=True)
    return PreferencesResult(out, manifest_path, counts)


def _audio(lake: Lake, state, votes: list[dict]) -> dict[str, bytes]:
    """Each clip's file: generations' from generation_audio, reference songs' originals."""
    generations = {v[f"{s}_id"] for v in votes for s in "ab" if v[f"{s}_kind"] == "generation"}
    songs = {v[f"{s}_id"] for v in votes for s in "ab" if v[f"{s}_kind"] == "song"}
    found = lookup.originals(lake, songs, state) | lookup.blobs(lake, "generation_audio", "generation_id",
                                                                generations, state)
    missing = (generations | songs) - set(found)
    if missing:
        raise ValueError(f"the lake at version {state.version} has no audio for {', '.join(sorted(missing))}")
    return found


def _row(vote: dict, audio: dict[str, bytes]) -> dict:
    chosen, rejected = ("a", "b") if vote["choice"] == "a" else ("b", "a")
    conditioning = vote[f"{chosen}_conditioning"] or vote[f"{rejected}_conditioning"]
    row = {"prompt": vote["prompt"], "conditioning": conditioning}
    for name, side in (("chosen", chosen), ("rejected", rejected)):
        clip = vote[f"{side}_id"]
        row[name] = {"bytes": audio[clip], "path": clip}
        row |= {f"{name}_id": clip, f"{name}_kind": vote[f"{side}_kind"], f"{name}_model": vote[f"{side}_model"],
                f"{name}_checkpoint": vote[f"{side}_checkpoint"]}
    voted_at = vote["voted_at"]
    return row | {"vote_id": vote["vote_id"], "rater": vote["rater"], "note": vote["note"],
                  "voted_at": voted_at.isoformat() if voted_at else None}
