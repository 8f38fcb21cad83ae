"""Export for stable-audio-tools: an audio folder, dataset configs and a custom metadata module.

Layout under the export folder::

    audio/<split>/<name>.flac          the mix of a song or clip (what the dataset trains on)
    stems/<split>/<name>.<stem>.flac   stems, when asked for (outside audio/, see below)
    metadata.json                      per file name: prompt, timing and songlake's record
    metadata.py                        get_custom_metadata(info, audio), standard library only
    dataset_config.json                the train split; dataset_config.{valid,test}.json likewise
    export.json

What stable-audio-tools expects (stable_audio_tools/data/dataset.py, docs/datasets.md):

- a dataset config JSON with ``dataset_type: "audio_dir"``, ``datasets``: a list of ``{id, path,
  custom_metadata_module}`` and ``random_crop``. ``SampleDataset`` takes every audio file under
  ``path``, recursively, which is why stems live outside ``audio/``; paths are absolute because
  the trainer resolves them against its own working directory.
- the module at ``custom_metadata_module`` is loaded with ``importlib.util.spec_from_file_location``
  and its ``get_custom_metadata(info, audio)`` must return a dict that is merged into ``info``.
  ``info`` holds ``path``, ``relpath``, ``timestamps``, ``seconds_start``, ``seconds_total``,
  ``padding_mask``, ``sample_rate`` and ``load_time``; ``seconds_start`` is the crop's offset
  (whole seconds, floor) and ``seconds_total`` the file's length (whole seconds, ceiling), the
  timing conditioners of stable-audio-open. Text conditioners read ``prompt``.
- our ``get_custom_metadata`` returns ``prompt`` (songlake's description of the song) and the
  timing of the crop in the *song*: ``seconds_start`` = the clip's start in the song + the crop's
  offset in the clip, ``seconds_total`` = the song's length, both whole seconds as above. For
  whole-song exports that equals what the dataset computed; for clip exports it keeps the meaning
  the timing conditioners were trained with. The module reads ``metadata.json`` beside it, once
  per process, keyed by the audio file's name, so it needs nothing but the standard library.
"""

from __future__ import annotations

import math
from pathlib import Path

from songlake.trainer.export._common import SPLITS, Walk, read, record, write_flac, write_json

METADATA_MODULE = '''"""Custom metadata for stable-audio-tools, written by songlake export.

get_custom_metadata(info, audio) returns the prompt and the timing of the crop within the song
(seconds_start, seconds_total), from metadata.json beside this file, keyed by the file's name.
"""

import json
import math
import os

_METADATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metadata.json")
_cache = {}


def _entries():
    if "entries" not in _cache:  # read on first use, in the process that uses it
        with open(_METADATA, encoding="utf-8") as f:
            _cache["entries"] = json.load(f)
    return _cache["entries"]


def get_custom_metadata(info, audio):
    name = os.path.basename(info.get("relpath") or info["path"])
    entry = _entries().get(name)
    if entry is None:
        raise KeyError(f"{name} is not in {_METADATA}: is this the export it was written for?")
    offset = info.get("seconds_start") or 0
    return {
        "prompt": entry["prompt"],
        "seconds_start": int(math.floor(entry["clip_start"] + offset)),
        "seconds_total": int(entry["seconds_total"]),
    }
'''


def write(out: Path, walk: Walk) -> dict:
    """Write the audio, metadata.json, metadata.py and the configs; return the layout."""
    options, entries, configs = walk.options, {}, {}
    module = out / "metadata.py"
    for split in SPLITS:
        (out / "audio" / split).mkdir(parents=True, exist_ok=True)
        for clip in walk.items(split):
            tracks = read(walk.audio, clip, options)
            file = f"{clip.name}.flac"
            write_flac(out / "audio" / split / file, tracks["mix"], options.sample_rate)
            stems = {}
            for stem in options.stems:
                stems[stem] = f"stems/{split}/{clip.name}.{stem}.flac"
                write_flac(out / stems[stem], tracks[stem], options.sample_rate)
            info = record(clip, options)
            entries[file] = {"prompt": info["description"], "clip_start": clip.start,
                             "seconds_total": math.ceil(clip.song_seconds), "stems": stems, **info}
        configs[split] = "dataset_config.json" if split == "train" else f"dataset_config.{split}.json"
        write_json(out / configs[split], dataset_config(f"{options.name}_{split}", out / "audio" / split, module))
    write_json(out / "metadata.json", entries)
    module.write_text(METADATA_MODULE, encoding="utf-8")
    return {"audio": "audio/<split>/<name>.flac",
            "stems": "stems/<split>/<name>.<stem>.flac" if options.stems else None,
            "metadata": "metadata.json", "custom_metadata_module": "metadata.py", "dataset_configs": configs}


def dataset_config(dataset_id: str, folder: Path, module: Path) -> dict:
    """stable-audio-tools' local audio_dir dataset config over one folder."""
    return {"dataset_type": "audio_dir",
            "datasets": [{"id": dataset_id, "path": str(folder), "custom_metadata_module": str(module)}],
            "random_crop": True}
