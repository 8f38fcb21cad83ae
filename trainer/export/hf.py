"""Export as a Hugging Face ``datasets`` DatasetDict saved with ``save_to_disk``.

Layout of the export folder, which is itself the saved DatasetDict::

    dataset_dict.json           DatasetDict.save_to_disk: the split names
    train/, validation/, test/  one saved Dataset each (Arrow shards, dataset_info.json, state.json)
    export.json                 songlake's manifest, beside them (load_from_disk ignores it)

Load it with ``datasets.load_from_disk(OUT)``, the folder given to ``--out``. Splits are named
as the Hub names them: train, validation (songlake's 'valid') and test; a split with no songs is
an empty dataset. Columns:

- ``audio``: an ``Audio(sampling_rate=<export rate>)`` column holding FLAC bytes (16-bit stereo);
  ``audio_<stem>`` likewise for each stem asked for;
- the item: ``name``, ``clip_index`` (null for whole songs), ``clip_start`` and ``clip_seconds``;
- the text: ``description``, ``moods``, ``keywords``, ``instrument`` (lists of strings);
- the analysis: every songs-view column of the selection (``song_id``, ``title``, ``bpm``,
  ``beats``, ``chords`` as a list of {start, end, label}, ``sections``, ``predicted_genres``,
  ``split``, ...), typed from the selection's rows; ``duration`` and ``sample_rate`` there are
  the original file's, as in the view.

Why the Arrow is written directly: datasets 5 encodes every value given to an ``Audio`` feature
with torchcodec, even bytes that need no encoding, and torchcodec does not install everywhere.
The rows are therefore written as Arrow record batches in the feature's storage type
(struct<bytes, path>), opened with ``Dataset.from_file`` and saved with ``save_to_disk``, which
copies tables without encoding. Decoding is the reader's business: ``Audio()`` decodes with
torchcodec; without it, ``cast_column("audio", Audio(decode=False))`` gives the FLAC bytes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa

from songlake.trainer import describe as text
from songlake.trainer.export._common import SPLITS, Clip, Options, Walk, flac_bytes, read

HF_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
# a record batch is written at 16 rows or 64 MB of audio, whichever comes first, so that whole
# songs with stems do not pile up in memory
_BATCH_ROWS, _BATCH_BYTES = 16, 64 << 20


def write(out: Path, walk: Walk) -> dict:
    """Write the DatasetDict into out itself, so that load_from_disk(out) opens it; return the
    layout."""
    datasets = require()
    features = _features(datasets, walk.songs, walk.options)
    schema = features.arrow_schema
    audio_columns = ["audio"] + [f"audio_{stem}" for stem in walk.options.stems]
    scratch = out / ".arrow"  # the batches before save_to_disk lays them out; removed after
    scratch.mkdir()
    parts = {}
    for split in SPLITS:
        path = scratch / f"{split}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as stream:
            rows, size = [], 0
            for clip in walk.items(split):
                rows.append(_row(clip, walk.audio, walk.options))
                size += sum(len(rows[-1][column]["bytes"]) for column in audio_columns)
                if len(rows) == _BATCH_ROWS or size >= _BATCH_BYTES:
                    stream.write_table(pa.Table.from_pylist(rows, schema=schema))
                    rows, size = [], 0
            if rows:
                stream.write_table(pa.Table.from_pylist(rows, schema=schema))
        parts[HF_SPLITS[split]] = datasets.Dataset.from_file(str(path), info=datasets.DatasetInfo(features=features))
    # An empty split saved with datasets' default shard count gets no shard at all, which
    # load_from_disk then fails on; one (empty) shard loads as an empty dataset.
    shards = {split: 1 if len(part) == 0 else None for split, part in parts.items()}
    shown = datasets.is_progress_bar_enabled()  # songlake shows its own progress
    datasets.disable_progress_bars()
    try:
        datasets.DatasetDict(parts).save_to_disk(str(out), num_shards=shards)
    finally:
        if shown:
            datasets.enable_progress_bars()
    del parts  # the memory maps of the scratch files
    shutil.rmtree(scratch)
    return {"dataset": ".", "splits": HF_SPLITS, "audio_columns": audio_columns}


def require():
    """The datasets module, or ValueError saying how to install it."""
    try:
        import datasets
    except ImportError:
        raise ValueError("the hf export needs the datasets library: pip install datasets") from None
    return datasets


def _features(datasets, songs: list[dict], options: Options):
    """The columns' features: item and text columns, the analysis typed from all selected rows
    (so a column that is null in the first rows still gets its type), the audio columns."""
    analysis = pa.Table.from_pylist(songs).schema if songs else pa.schema([])
    features = datasets.Features({
        "audio": datasets.Audio(sampling_rate=options.sample_rate),
        **{f"audio_{stem}": datasets.Audio(sampling_rate=options.sample_rate) for stem in options.stems},
        "name": datasets.Value("string"), "clip_index": datasets.Value("int64"),
        "clip_start": datasets.Value("float64"), "clip_seconds": datasets.Value("float64"),
        "description": datasets.Value("string"), "moods": datasets.List(datasets.Value("string")),
        "keywords": datasets.List(datasets.Value("string")), "instrument": datasets.List(datasets.Value("string")),
    })
    for name, feature in datasets.Features.from_arrow_schema(analysis).items():
        if name not in features:
            features[name] = feature
    return features


def _row(clip: Clip, audio, options: Options) -> dict:
    tracks = read(audio, clip, options)
    tags = text.tags(clip.song)
    row = {"audio": {"bytes": flac_bytes(tracks["mix"], options.sample_rate), "path": f"{clip.name}.flac"}}
    for stem in options.stems:
        row[f"audio_{stem}"] = {"bytes": flac_bytes(tracks[stem], options.sample_rate),
                                "path": f"{clip.name}.{stem}.flac"}
    row |= {"name": clip.name, "clip_index": clip.index, "clip_start": clip.start, "clip_seconds": clip.seconds,
            "description": text.describe(clip.song), **tags}
    return row | {k: v for k, v in clip.song.items() if k not in row}
