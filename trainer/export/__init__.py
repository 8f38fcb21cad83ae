"""Exports of a selection to other trainers' formats.

``export(selection, format, out, ...)`` writes the selected songs (whole, or cut into clips), with
their stems when asked, in one of ``FORMATS``:

- ``audiocraft``: audio with MusicInfo JSON sidecars, ``egs/<name>/{train,valid,test}/data.jsonl``
  and a dset config (``export.audiocraft``);
- ``stable-audio``: an audio folder, dataset configs and a custom metadata module
  (``export.stable_audio``);
- ``hf``: a Hugging Face ``datasets`` DatasetDict with Audio columns and the analysis as columns
  (``export.hf``; needs ``pip install datasets``);
- ``webdataset``: tar shards of FLAC audio and JSON metadata (``export.webdataset``).

Every export ends with ``export.json`` (see ``_common``): the format, the lake and its version,
the query, the split scheme and seed, the counts, the clip length, sample rate and stems, so the
export can be traced back to, and rebuilt from, the lake. The description each item carries is
``songlake.trainer.describe``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from songlake.trainer.audio import LakeAudio
from songlake.trainer.export import _common, audiocraft, hf, stable_audio, webdataset
from songlake.trainer.export._common import MANIFEST, STEMS, Options, Progress

FORMATS = ("audiocraft", "stable-audio", "hf", "webdataset")

__all__ = ["FORMATS", "MANIFEST", "STEMS", "ExportResult", "export"]


@dataclass(frozen=True)
class ExportResult:
    out: Path  # the export folder (absolute)
    manifest: Path  # its export.json
    counts: dict[str, int]  # songs, clips, and items per split (train, valid, test)


def export(selection, format: str, out: str | Path, *, stems: Sequence[str] = (), clip_seconds: float | None = None,
           sample_rate: int = 44100, name: str = "songlake", shard_size: int = 1000,
           progress: Progress | None = None, overwrite: bool = False) -> ExportResult:
    """Write ``selection`` (a ``songlake.trainer.selection.Selection``) to ``out`` in ``format``.

    stems: stem names (vocals, drums, bass, other) to write beside the mix; every selected song
    must have stems (stems_status 'done'). clip_seconds: cut songs into consecutive clips of this
    length (None: whole songs). sample_rate: of the written audio. name: the dataset's name where
    a format names it (audiocraft's egs/<name>, stable-audio's dataset ids). shard_size: samples
    per WebDataset shard. progress(songs done, songs in all) is called after each song. ``out``
    must be empty or absent; overwrite=True replaces an earlier songlake export there, finished or
    not. ValueError names what is wrong with the arguments, the stems or the
    folder before anything is written.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; formats are {', '.join(FORMATS)}")
    options = Options.check(stems, clip_seconds, sample_rate, name, shard_size)
    if format == "hf":
        hf.require()
    _common.check_stems(selection.songs, options)
    out = _common.prepare_out(Path(out), overwrite, format)
    walk = _common.Walk(selection.songs, LakeAudio(selection.lake.root, selection.version), options, progress)
    writer = {"audiocraft": audiocraft, "stable-audio": stable_audio, "hf": hf, "webdataset": webdataset}[format]
    layout = writer.write(out, walk)
    manifest = _common.manifest(selection, format, walk, layout)
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")  # last: marks it done
    return ExportResult(out, path, manifest["counts"])
