"""Export for audiocraft (MusicGen's training code): manifests, sidecars and a dset config.

Layout under the export folder::

    audio/<split>/<name>.flac            the mix of a song or clip
    audio/<split>/<name>.json            its MusicInfo sidecar
    audio/<split>/<name>.<stem>.flac     its stems, when asked for
    egs/<export name>/{train,valid,test}/data.jsonl
    config/dset/audio/<export name>.yaml
    export.json

What audiocraft expects (audiocraft/data/audio_dataset.py, music_dataset.py):

- ``AudioDataset.from_meta(dir)`` reads ``dir/data.jsonl``: one JSON object per line with the
  ``AudioMeta`` fields ``path``, ``duration`` (seconds), ``sample_rate``, ``amplitude``, ``weight``
  and ``info_path`` (the last three may be null). A relative path is resolved against the
  original working directory only when dora is installed, so paths here are absolute.
- ``MusicDataset`` reads ``Path(meta.path).with_suffix('.json')`` beside each audio file and
  builds ``MusicInfo.from_dict`` with ``info_fields_required=True`` by default: every MusicInfo
  field but ``keywords`` must be present (null is allowed). The fields are title, artist, key,
  bpm (float), genre, moods (list), keywords (list), description, name and instrument, where
  genre, name and instrument go through ``get_keyword``, which drops anything but a string, so
  the instrument list is written as one string ('vocals, drums'). Other keys are ignored, so the
  sidecar also carries songlake's fields (song_id, split, clip start, ...) and ``stems``: the
  stems' file names, relative to the sidecar's folder.
- Stems are named ``<name>.<stem>.flac`` so that nothing else is named like a sidecar (their
  ``with_suffix('.json')`` would be ``<name>.<stem>.json``, which does not exist) and they are
  not listed in data.jsonl, so audiocraft never samples them as training audio.
- ``config/dset/audio/<name>.yaml`` follows audiocraft's dset configs (``datasource`` with
  ``max_sample_rate``, ``max_channels`` and the train / valid / evaluate / generate manifest
  folders; evaluate and generate are the test split). Copy it into audiocraft's
  ``config/dset/audio/`` and train with ``dset=audio/<name>``. audiocraft refuses an empty
  manifest, so a split with no songs needs another source in that config.
"""

from __future__ import annotations

import json
from pathlib import Path

from songlake.trainer.export._common import SPLITS, Clip, Options, Walk, read, record, write_flac, write_json

AUDIO_META_FIELDS = ("path", "duration", "sample_rate", "amplitude", "weight", "info_path")
MUSIC_INFO_FIELDS = ("title", "artist", "key", "bpm", "genre", "moods", "keywords", "description", "name",
                     "instrument")


def write(out: Path, walk: Walk) -> dict:
    """Write the audio, sidecars, manifests and dset config; return the layout for export.json."""
    options = walk.options
    egs = out / "egs" / options.name
    for split in SPLITS:
        lines = []
        for clip in walk.items(split):
            folder = out / "audio" / split
            tracks = read(walk.audio, clip, options)
            mix = folder / f"{clip.name}.flac"
            write_flac(mix, tracks["mix"], options.sample_rate)
            stems = {}
            for stem in options.stems:
                stems[stem] = f"{clip.name}.{stem}.flac"
                write_flac(folder / stems[stem], tracks[stem], options.sample_rate)
            write_json(mix.with_suffix(".json"), sidecar(clip, options, stems))
            lines.append({"path": str(mix), "duration": tracks["mix"].shape[1] / options.sample_rate,
                          "sample_rate": options.sample_rate, "amplitude": None, "weight": None, "info_path": None})
        (egs / split).mkdir(parents=True, exist_ok=True)
        (egs / split / "data.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = out / "config" / "dset" / "audio" / f"{options.name}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(dset_config(egs, options.sample_rate))
    return {"audio": "audio/<split>/<name>.flac", "sidecar": "audio/<split>/<name>.json",
            "stems": "audio/<split>/<name>.<stem>.flac" if options.stems else None,
            "manifests": {split: str((egs / split / "data.jsonl").relative_to(out)) for split in SPLITS},
            "dset_config": str(config.relative_to(out))}


def sidecar(clip: Clip, options: Options, stems: dict[str, str]) -> dict:
    """The JSON beside a clip's audio: MusicInfo's fields first, then songlake's."""
    info = record(clip, options)
    info["instrument"] = ", ".join(info["instrument"]) or None  # get_keyword keeps strings only
    info["stems"] = stems
    return info


def dset_config(egs: Path, sample_rate: int) -> str:
    """An audiocraft dset config (Hydra YAML) over the manifests (absolute folder paths)."""
    folder = {split: json.dumps(str(egs / split)) for split in SPLITS}  # a JSON string is a YAML string
    return ("# @package __global__\n\n"
            "# written by songlake export; evaluate and generate use the test split\n"
            "datasource:\n"
            f"  max_sample_rate: {sample_rate}\n"
            "  max_channels: 2\n\n"
            f"  train: {folder['train']}\n"
            f"  valid: {folder['valid']}\n"
            f"  evaluate: {folder['test']}\n"
            f"  generate: {folder['test']}\n")
