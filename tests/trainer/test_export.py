"""Exports, loaded back the way their consumers load them: datasets.load_from_disk and
webdataset.WebDataset where those libraries install here; audiocraft's and stable-audio-tools'
documented contracts (AudioMeta / MusicInfo fields, the audio_dir config and the custom metadata
module) where they do not. Audio must round-trip: what a file decodes to equals LakeAudio.read
of the same span within 16-bit quantisation."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import io
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from songlake.trainer import describe as text
from songlake.trainer.audio import LakeAudio
from songlake.trainer.export import FORMATS, export
from songlake.trainer.export._common import Options, check_stems, cut
from songlake.trainer.selection import select

# libsndfile writes float as round(x * 32767) and reads int16 as n / 32768: at most ~1.5 LSB apart
QUANTUM = 2.0 / 32768
CLIP = 5.0
# one export per format, each exercising different options
SETTINGS = {
    "audiocraft": dict(stems=("vocals",), clip_seconds=CLIP, name="lakemix"),
    "stable-audio": dict(stems=("drums",), clip_seconds=CLIP),
    "hf": dict(stems=("vocals", "drums"), sample_rate=32000),  # whole songs, resampled
    "webdataset": dict(stems=("bass",), clip_seconds=CLIP, shard_size=2),
}
MUSIC_INFO_FIELDS = ("title", "artist", "key", "bpm", "genre", "moods", "keywords", "description", "name",
                     "instrument")
AUDIO_META_FIELDS = ("path", "duration", "sample_rate", "amplitude", "weight", "info_path")


@pytest.fixture(scope="module")
def selection(trainer_lake, tmp_path_factory):
    lake = tmp_path_factory.mktemp("export_lake") / "lake"
    shutil.copytree(trainer_lake, lake)  # select() records the split scheme in the lake
    return select(lake, "SELECT song_id FROM songs ORDER BY title", seed=3)


@pytest.fixture(scope="module")
def lake_audio(selection):
    return LakeAudio(selection.lake.root, selection.version)


@pytest.fixture(scope="module")
def exports(selection, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    calls = {}
    results = {}
    for format, options in SETTINGS.items():
        calls[format] = []
        record = calls[format].append
        results[format] = export(selection, format, root / format, progress=lambda d, t, r=record: r((d, t)),
                                 **options)
    return results, calls


def manifest_of(exports, format) -> dict:
    return json.loads(exports[0][format].manifest.read_text())


def expected_clips(selection, lake_audio, clip_seconds) -> dict[str, list[tuple[float, float]]]:
    """song_id -> [(start, seconds)] by the rule: consecutive clips, the last kept if >= half."""
    out = {}
    for song in selection.songs:
        total = lake_audio.duration(song["song_id"])
        if clip_seconds is None:
            out[song["song_id"]] = [(0.0, total)]
            continue
        starts = np.arange(0, total, clip_seconds)
        out[song["song_id"]] = [(s, min(clip_seconds, total - s)) for s in starts if total - s >= clip_seconds / 2]
    return out


def assert_round_trip(data: bytes, lake_audio, song_id, track, start, seconds, sample_rate):
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert rate == sample_rate
    expected = lake_audio.read(song_id, [track], start, seconds, sample_rate)[track]
    assert decoded.T.shape == expected.shape
    assert np.abs(decoded.T - np.clip(expected, -1, 1)).max() <= QUANTUM
    assert np.abs(expected).max() > 1e-3 or track != "mix"  # the mix is real audio, not silence


# --- every format ----------------------------------------------------------------------------


def test_the_fixture_has_every_split(selection):
    assert all(n > 0 for n in selection.counts().values()), selection.counts()


@pytest.mark.parametrize("format", FORMATS)
def test_manifest_says_what_and_from_where(format, selection, lake_audio, exports):
    manifest = manifest_of(exports, format)
    options = SETTINGS[format]
    assert manifest["format"] == format
    assert manifest["lake"] == str(selection.lake.root) and manifest["lake_version"] == selection.version
    assert manifest["query"] == selection.query and manifest["tag"] is None
    assert manifest["split"] == {"name": "default", "seed": 3, "fractions": list(selection.fractions)}
    assert manifest["selected"] == selection.counts()
    assert manifest["sample_rate"] == options.get("sample_rate", 44100)
    assert manifest["clip_seconds"] == options.get("clip_seconds")
    assert manifest["stems"] == list(options["stems"])
    assert manifest["created_at"] and manifest["songlake_version"]
    clips = expected_clips(selection, lake_audio, options.get("clip_seconds"))
    counts = manifest["counts"]
    assert counts["clips"] == sum(map(len, clips.values())) == counts["train"] + counts["valid"] + counts["test"]
    assert counts["songs"] == len(selection.songs)
    for split in ("train", "valid", "test"):
        assert counts[split] == sum(len(clips[s["song_id"]]) for s in selection.of_split(split))
    assert exports[0][format].counts == counts
    n = len(selection.songs)  # progress counts songs
    assert exports[1][format] == [(done, n) for done in range(1, n + 1)]


# --- audiocraft ------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_audiocraft_manifests_follow_audio_meta(selection, lake_audio, exports):
    out = exports[0]["audiocraft"].out
    clips = expected_clips(selection, lake_audio, CLIP)
    for split in ("train", "valid", "test"):
        lines = read_jsonl(out / "egs" / "lakemix" / split / "data.jsonl")
        ids = {s["song_id"] for s in selection.of_split(split)}
        assert len(lines) == sum(len(clips[i]) for i in ids)
        for line in lines:
            assert tuple(line) == AUDIO_META_FIELDS  # AudioMeta.from_dict's fields, in its order
            assert line["amplitude"] is None and line["weight"] is None and line["info_path"] is None
            path = Path(line["path"])
            assert path.is_absolute() and path.parent == out / "audio" / split
            info = sf.info(str(path))
            assert info.samplerate == line["sample_rate"] == 44100 and info.channels == 2
            assert line["duration"] == pytest.approx(info.frames / info.samplerate)
            assert path.stem.split("_")[0] in ids


def test_audiocraft_sidecars_have_every_music_info_field(selection, exports):
    out = exports[0]["audiocraft"].out
    by_id = {s["song_id"]: s for s in selection.songs}
    lines = read_jsonl(out / "egs" / "lakemix" / "train" / "data.jsonl")
    for line in lines:
        sidecar = json.loads(Path(line["path"]).with_suffix(".json").read_text())  # as MusicDataset finds it
        # MusicInfo.from_dict(fields_required=True) wants every field but keywords present
        assert set(MUSIC_INFO_FIELDS) <= set(sidecar)
        # and its getters keep only these types: get_keyword / get_string str, get_bpm a number,
        # get_keyword_list a list of str
        for name in ("title", "artist", "key", "genre", "name", "instrument", "description"):
            assert sidecar[name] is None or isinstance(sidecar[name], str), name
        assert isinstance(sidecar["bpm"], float)
        assert all(isinstance(w, str) for w in sidecar["moods"] + sidecar["keywords"])
        song = by_id[sidecar["song_id"]]
        assert sidecar["name"] == Path(line["path"]).stem
        assert sidecar["title"] == song["title"] and sidecar["artist"] == song["artist"]
        assert sidecar["description"] == text.describe(song)
        assert sidecar["instrument"] == (", ".join(text.tags(song)["instrument"]) or None)
        assert sidecar["split"] == "train" == song["split"]


def test_audiocraft_audio_and_stems_round_trip(lake_audio, exports):
    out = exports[0]["audiocraft"].out
    listed = {Path(line["path"]) for split in ("train", "valid", "test")
              for line in read_jsonl(out / "egs" / "lakemix" / split / "data.jsonl")}
    stems = {p for p in (out / "audio").rglob("*.flac") if p not in listed}
    assert stems and all(p.name.endswith(".vocals.flac") for p in stems)  # stems are never training items
    for path in sorted(listed)[:4]:
        sidecar = json.loads(path.with_suffix(".json").read_text())
        args = (sidecar["song_id"], sidecar["start"], sidecar["duration"], 44100)
        assert_round_trip(path.read_bytes(), lake_audio, args[0], "mix", *args[1:])
        stem = path.parent / sidecar["stems"]["vocals"]
        assert stem in stems
        assert_round_trip(stem.read_bytes(), lake_audio, args[0], "vocals", *args[1:])


def test_audiocraft_dset_config(exports):
    yaml = pytest.importorskip("yaml")
    out = exports[0]["audiocraft"].out
    text_ = (out / "config" / "dset" / "audio" / "lakemix.yaml").read_text()
    assert text_.startswith("# @package __global__")
    source = yaml.safe_load(text_)["datasource"]
    assert source["max_sample_rate"] == 44100 and source["max_channels"] == 2
    assert Path(source["train"]) == out / "egs" / "lakemix" / "train"
    assert Path(source["valid"]) == out / "egs" / "lakemix" / "valid"
    assert Path(source["evaluate"]) == Path(source["generate"]) == out / "egs" / "lakemix" / "test"
    assert all((Path(source[k]) / "data.jsonl").is_file() for k in ("train", "valid", "evaluate"))


# --- stable-audio-tools ----------------------------------------------------------------------


def load_metadata_module(path: str):
    """As stable-audio-tools' create_dataloader_from_config loads custom_metadata_module."""
    spec = importlib.util.spec_from_file_location("metadata_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scan_audio(folder: str) -> list[str]:
    """As SampleDataset's get_audio_filenames: every audio file under the folder, recursively."""
    exts = (".wav", ".mp3", ".flac", ".ogg", ".aif", ".opus", ".aiff")
    return sorted(str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in exts and not p.name.startswith("."))


def test_stable_audio_configs_cover_each_split(selection, lake_audio, exports):
    out = exports[0]["stable-audio"].out
    clips = expected_clips(selection, lake_audio, CLIP)
    for split, file in (("train", "dataset_config.json"), ("valid", "dataset_config.valid.json"),
                        ("test", "dataset_config.test.json")):
        config = json.loads((out / file).read_text())
        assert config["dataset_type"] == "audio_dir" and isinstance(config["random_crop"], bool)
        (dataset,) = config["datasets"]
        assert set(dataset) == {"id", "path", "custom_metadata_module"}
        assert Path(dataset["path"]).is_absolute() and Path(dataset["custom_metadata_module"]).is_file()
        files = scan_audio(dataset["path"])  # stems must not be among them
        ids = {s["song_id"] for s in selection.of_split(split)}
        assert len(files) == sum(len(clips[i]) for i in ids)
        assert {Path(f).name.split("_")[0] for f in files} == ids


def test_stable_audio_metadata_module_gives_prompt_and_song_timing(selection, lake_audio, exports):
    out = exports[0]["stable-audio"].out
    config = json.loads((out / "dataset_config.json").read_text())
    module_path = config["datasets"][0]["custom_metadata_module"]
    tree = ast.parse(Path(module_path).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in (n.names if isinstance(n, ast.Import) else [ast.alias(n.module or "")])}
    assert imported <= set(sys.stdlib_module_names)  # it runs in the trainer's environment
    get_custom_metadata = load_metadata_module(module_path).get_custom_metadata
    try:  # SampleDataset ships the function to its workers with dill; do the same where dill is
        import dill

        get_custom_metadata = dill.loads(dill.dumps(get_custom_metadata))
    except ImportError:
        pass
    by_id = {s["song_id"]: s for s in selection.songs}
    root = config["datasets"][0]["path"]
    for path in scan_audio(root):
        song_id, index = Path(path).stem.split("_")
        clip_start = int(index) * CLIP
        song_seconds = lake_audio.duration(song_id)
        # SampleDataset's info for a crop 1.5 s into the file (its timing is whole seconds)
        info = {"path": path, "relpath": str(Path(path).relative_to(root)), "timestamps": (0.3, 0.9),
                "seconds_start": 1, "seconds_total": 5, "padding_mask": None, "sample_rate": 44100,
                "load_time": 0.01}
        meta = get_custom_metadata(info, None)
        assert set(meta) == {"prompt", "seconds_start", "seconds_total"}
        assert meta["prompt"] == text.describe(by_id[song_id])
        assert meta["seconds_start"] == math.floor(clip_start + 1)
        assert meta["seconds_total"] == math.ceil(song_seconds)
    with pytest.raises(KeyError, match="not in"):
        get_custom_metadata({"path": "/elsewhere/unknown.flac"}, None)


def test_stable_audio_audio_and_stems_round_trip(lake_audio, exports):
    out = exports[0]["stable-audio"].out
    entries = json.loads((out / "metadata.json").read_text())
    for file, entry in sorted(entries.items())[:3]:
        path = out / "audio" / entry["split"] / file
        assert_round_trip(path.read_bytes(), lake_audio, entry["song_id"], "mix", entry["start"], entry["duration"],
                          44100)
        stem = out / entry["stems"]["drums"]
        assert stem.is_file() and "audio" not in stem.relative_to(out).parts
        assert_round_trip(stem.read_bytes(), lake_audio, entry["song_id"], "drums", entry["start"],
                          entry["duration"], 44100)


# --- Hugging Face datasets -------------------------------------------------------------------


def test_hf_loads_with_datasets(selection, lake_audio, exports):
    datasets = pytest.importorskip("datasets")
    out = exports[0]["hf"].out
    dd = datasets.load_from_disk(str(out))  # the --out folder itself, the first thing a user tries
    assert set(dd) == {"train", "validation", "test"}
    assert isinstance(dd, datasets.DatasetDict)
    # songlake's manifest sits beside the splits; the scratch batches are gone
    assert sorted(p.name for p in out.iterdir()) == [".songlake-export", "dataset_dict.json", "export.json",
                                                    "test", "train", "validation"]
    for split, name in (("train", "train"), ("valid", "validation"), ("test", "test")):
        ds = dd[name]
        assert sorted(ds["song_id"]) == sorted(s["song_id"] for s in selection.of_split(split))
        assert set(ds["split"]) <= {split}
    ds = dd["train"]
    for column in ("audio", "audio_vocals", "audio_drums"):
        assert isinstance(ds.features[column], datasets.Audio)
        assert ds.features[column].sampling_rate == 32000
    for column in ("description", "moods", "keywords", "instrument", "bpm", "key", "chords", "sections",
                   "primary_genre", "predicted_genres", "beats", "title", "artist", "clip_start", "clip_seconds"):
        assert column in ds.column_names, column
    assert ds.features["chords"] == datasets.List({"start": datasets.Value("float64"),
                                                   "end": datasets.Value("float64"), "label": datasets.Value("string")})
    by_id = {s["song_id"]: s for s in selection.songs}
    plain = ds.remove_columns([c for c in ds.column_names if c.startswith("audio")])
    for row in plain:
        song = by_id[row["song_id"]]
        assert row["description"] == text.describe(song) and row["bpm"] == song["bpm"]
        assert row["chords"] == song["chords"] and row["clip_index"] is None


def test_hf_audio_round_trips(lake_audio, exports):
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_from_disk(str(exports[0]["hf"].out))["validation"]
    # datasets 5 decodes Audio with torchcodec; without it, read the stored FLAC bytes ourselves
    raw = ds.cast_column("audio", datasets.Audio(decode=False)).cast_column("audio_drums", datasets.Audio(decode=False))
    for row in raw.select_columns(["song_id", "clip_start", "clip_seconds", "audio", "audio_drums"]):
        span = (row["clip_start"], row["clip_seconds"], 32000)
        assert_round_trip(row["audio"]["bytes"], lake_audio, row["song_id"], "mix", *span)
        assert_round_trip(row["audio_drums"]["bytes"], lake_audio, row["song_id"], "drums", *span)
    if importlib.util.find_spec("torchcodec") is not None:  # where it installs, the consumer's own decoding
        first = ds[0]["audio"]
        samples = first.get_all_samples()
        assert samples.sample_rate == 32000


def test_hf_empty_splits_load_as_empty_datasets(selection, tmp_path):
    datasets = pytest.importorskip("datasets")
    train_only = dataclasses.replace(selection, songs=selection.of_split("train")[:1])
    result = export(train_only, "hf", tmp_path / "out", clip_seconds=CLIP)
    dd = datasets.load_from_disk(str(result.out))
    assert len(dd["train"]) == result.counts["clips"] > 0
    assert len(dd["validation"]) == len(dd["test"]) == 0
    assert dd["test"].features == dd["train"].features


# --- WebDataset ------------------------------------------------------------------------------


def test_webdataset_shards_load_with_webdataset(selection, lake_audio, exports):
    wds = pytest.importorskip("webdataset")
    out = exports[0]["webdataset"].out
    layout = manifest_of(exports, "webdataset")["layout"]
    clips = expected_clips(selection, lake_audio, CLIP)
    by_id = {s["song_id"]: s for s in selection.songs}
    for split in ("train", "valid", "test"):
        shards = [str(out / s) for s in layout["shards"][split]]
        ids = {s["song_id"] for s in selection.of_split(split)}
        n = sum(len(clips[i]) for i in ids)
        assert len(shards) == math.ceil(n / 2) and all(Path(s).name.startswith(f"{split}-") for s in shards)
        samples = list(wds.WebDataset(shards, shardshuffle=False, empty_check=False))
        assert len(samples) == n
        for sample in samples:
            assert {"__key__", "flac", "json", "bass.flac"} <= set(sample)
            assert "." not in sample["__key__"]
            meta = json.loads(sample["json"])
            assert meta["split"] == split and meta["song_id"] in ids
            assert meta["prompt"] == meta["description"] == text.describe(by_id[meta["song_id"]])
            assert meta["song"]["song_id"] == meta["song_id"] and meta["song"]["bpm"] == by_id[meta["song_id"]]["bpm"]
            assert sample["__key__"] == meta["name"]
        first = samples[0]
        meta = json.loads(first["json"])
        for field, track in (("flac", "mix"), ("bass.flac", "bass")):
            assert_round_trip(first[field], lake_audio, meta["song_id"], track, meta["start"], meta["duration"], 44100)


def test_webdataset_decoders_read_the_json(exports):
    wds = pytest.importorskip("webdataset")
    shards = sorted(str(p) for p in (exports[0]["webdataset"].out / "shards").glob("train-*.tar"))
    sample = next(iter(wds.WebDataset(shards, shardshuffle=False).decode()))
    assert isinstance(sample["json"], dict) and sample["json"]["name"] == sample["__key__"]
    # stable-audio-tools takes the first member ending in an audio extension: the mix comes first
    assert [k for k in sample if k.endswith("flac")][0] == "flac"


# --- refusals and the clip rule -----------------------------------------------------------------


def test_cut_keeps_a_last_clip_of_half_or_more():
    song = {"song_id": "a", "split": "train"}
    clips, reason = cut(song, 25.0, Options(clip_seconds=10.0))
    assert [(c.name, c.start, c.seconds, c.song_seconds) for c in clips] == [
        ("a_000", 0.0, 10.0, 25.0), ("a_001", 10.0, 10.0, 25.0), ("a_002", 20.0, 5.0, 25.0)] and reason is None
    assert [(c.start, c.seconds) for c in cut(song, 24.9, Options(clip_seconds=10.0))[0]] == [(0.0, 10.0), (10.0, 10.0)]
    assert cut(song, 4.0, Options(clip_seconds=10.0)) == ([], "4.00 s is shorter than half a clip (5 s)")
    (whole,), _ = cut(song, 4.0, Options())
    assert (whole.name, whole.index, whole.start, whole.seconds) == ("a", None, 0.0, 4.0)
    assert cut(song, 0.0, Options()) == ([], "no audio")


def test_stems_of_songs_without_stems_are_refused(selection, tmp_path):
    songs = [{"song_id": "a", "stems_status": "done"}, {"song_id": "b", "stems_status": "unavailable"}]
    check_stems(songs, Options())  # the mix alone needs no stems
    with pytest.raises(ValueError, match="1 selected song.*first: b.*stems_status = 'done'"):
        check_stems(songs, Options(stems=("vocals",)))
    unseparated = dataclasses.replace(selection, songs=[s | {"stems_status": "pending"} for s in selection.songs[:1]])
    with pytest.raises(ValueError, match="no stems"):
        export(unseparated, "audiocraft", tmp_path / "out", stems=["drums"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(format="mp4"), "unknown export format"),
    (dict(stems=("guitar",)), "unknown stem"),
    (dict(clip_seconds=0), "clip_seconds"),
    (dict(sample_rate=44100.0), "sample_rate"),
    (dict(name="my set"), "export name"),
    (dict(shard_size=0), "shard_size"),
])
def test_bad_options_are_refused_before_writing(selection, tmp_path, kwargs, message):
    kwargs = {"format": "webdataset"} | kwargs
    with pytest.raises(ValueError, match=message):
        export(selection, out=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_hf_without_datasets_says_how_to_install(selection, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets now raises ImportError
    with pytest.raises(ValueError, match="pip install datasets"):
        export(selection, "hf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_non_empty_folders_are_refused_and_overwrite_replaces_only_exports(selection, tmp_path):
    one = dataclasses.replace(selection, songs=selection.songs[:1])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        export(one, "webdataset", busy)
    with pytest.raises(ValueError, match="not a songlake export"):
        export(one, "webdataset", busy, overwrite=True)
    assert (busy / "notes.txt").read_text() == "mine"
    first = export(one, "webdataset", tmp_path / "again", clip_seconds=CLIP)
    with pytest.raises(ValueError, match="overwrite"):
        export(one, "audiocraft", tmp_path / "again")
    second = export(one, "audiocraft", tmp_path / "again", overwrite=True)
    assert json.loads(second.manifest.read_text())["format"] == "audiocraft"
    assert not (first.out / "shards").exists()


def test_an_export_that_failed_has_no_manifest_and_can_be_overwritten(selection, tmp_path, monkeypatch):
    from songlake.trainer.export import webdataset as writer

    one = dataclasses.replace(selection, songs=selection.songs[:1])

    def broken(*args):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(writer, "sample", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            export(one, "webdataset", tmp_path / "out")
    assert not (tmp_path / "out" / "export.json").exists()
    with pytest.raises(ValueError, match="overwrite"):
        export(one, "webdataset", tmp_path / "out")
    result = export(one, "webdataset", tmp_path / "out", overwrite=True)
    assert result.counts["clips"] == 1
