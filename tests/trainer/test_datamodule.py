"""SonglakeDataModule: batches, conditioning on the clip's clock, pinning, splits, workers."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from songlake.schema import Lake, LakeError, QueryError
from songlake.schema.labels import write_labels
from songlake.trainer import conditioning as cond
from songlake.trainer.datamodule import SonglakeDataModule
from songlake.trainer.splits import artist_key

ALL = ["key", "bpm", "genre", "chords", "sections", "beats", "downbeats"]


def _module(root, **kwargs) -> SonglakeDataModule:
    dm = SonglakeDataModule(root, **({"clip_seconds": 2.0, "batch_size": 3} | kwargs))
    dm.prepare_data()
    dm.setup()
    return dm


def test_a_batch_holds_mix_stems_and_conditioning(lake_for_test):
    dm = _module(lake_for_test, stems=["drums", "bass"], conditioning=ALL)
    batch = next(iter(dm.val_dataloader()))
    assert batch["mix"].shape == (3, 2, 88200) and batch["mix"].dtype == torch.float32
    assert batch["stems"].shape == (3, 2, 2, 88200)
    assert batch["chords"].shape == batch["sections"].shape == (3, 100) and batch["chords"].dtype == torch.int64
    assert batch["beats"].shape == batch["downbeats"].shape == (3, 100) and batch["beats"].dtype == torch.float32
    assert batch["key"].shape == batch["bpm"].shape == batch["genre"].shape == (3,)
    assert [set(i) for i in batch["info"]] == [{"song_id", "clip", "start", "duration", "split"}] * 3
    assert all(i["split"] == "valid" for i in batch["info"])
    assert batch["mix"].abs().max() > 0.01 and batch["beats"].sum() > 0


def test_chord_frames_are_the_lakes_chords_in_every_split(lake_for_test):
    """Every clip of every split: frame f holds the chord the lake has at the frame's centre, and
    the lake's chords (not only N) reach the batches."""
    dm = _module(lake_for_test, conditioning=["chords"])
    songs = {s["song_id"]: s for s in dm.selection.songs}
    chord_frames = 0
    for dataset in dm.datasets.values():
        for i in range(len(dataset)):
            item = dataset[i]
            song, start = songs[item["info"]["song_id"]], item["info"]["start"]
            expected = []
            for frame in range(100):
                centre = start + (frame + 0.5) / 50
                span = next((c for c in song["chords"] or [] if c["start"] <= centre < c["end"]), None)
                expected.append(cond.chord_index(span["label"] if span else None))
            assert item["chords"].tolist() == expected, item["info"]
            chord_frames += sum(e > 0 for e in expected)
    assert chord_frames > 0, "the fixture's analysis found no chord (only N) in any song"


def test_conditioning_follows_the_clip_clock(lake_for_test):
    """Frame f of a clip starting at s covers [s + f/50, s + (f+1)/50): beats land in the frame of
    their time, chords and sections are read at the frame's centre."""
    dm = _module(lake_for_test, conditioning=ALL)
    dataset = dm.datasets["valid"]
    item = dataset[1]  # the second clip: starts at 2.0 s
    song = next(s for s in dm.selection.songs if s["song_id"] == item["info"]["song_id"])
    start = item["info"]["start"]
    assert start == 2.0
    beats = [b for b in song["beats"] if start <= b < start + 2.0]
    assert beats, "the fixture's songs have beats in every clip"
    expected = np.zeros(100, dtype=np.float32)
    expected[[int((b - start) * 50) for b in beats]] = 1.0
    np.testing.assert_array_equal(item["beats"].numpy(), expected)
    assert set(np.flatnonzero(item["downbeats"].numpy())) <= set(np.flatnonzero(expected))
    for frame in (0, 37, 99):
        centre = start + (frame + 0.5) / 50
        span = next((c for c in song["chords"] if c["start"] <= centre < c["end"]), None)
        assert int(item["chords"][frame]) == cond.chord_index(span["label"] if span else None)
    assert int(item["key"]) == cond.key_index(song["key"]) > 0
    assert float(item["bpm"]) == pytest.approx(song["bpm"])
    assert int(item["genre"]) == cond.genre_index(song["primary_genre"])


def test_chord_and_key_vocabularies():
    assert cond.chord_index("N") == cond.chord_index(None) == cond.chord_index("not a chord") == 0
    assert cond.CHORDS[cond.chord_index("A:min7")] == "A:min7"
    assert cond.CHORDS[cond.chord_index("G:9")] == "G:7"  # colour tones dropped
    assert cond.CHORDS[cond.chord_index("C:maj/3")] == "C:maj"  # inversions too
    assert cond.CHORDS[cond.chord_index("Db:maj")] == "C#:maj"
    assert cond.KEYS[cond.key_index("Bb minor")] == "Bb minor" and cond.key_index(None) == 0
    assert cond.SECTIONS[cond.section_index("chorus")] == "chorus" and cond.section_index("coda") == 0
    with pytest.raises(ValueError, match="unknown conditioning 'mood'"):
        cond.check(["key", "mood"])


def test_the_version_is_pinned_and_recorded(lake_for_test):
    lake = Lake.open(lake_for_test)
    lake.tag("before-labels")
    sid = Lake.open(lake_for_test) and _module(lake_for_test).selection.songs[0]["song_id"]
    write_labels(lake, sid, {"bpm": 177.0}, author="test", note="a correction after the tag")
    pinned = _module(lake_for_test, version="before-labels", conditioning=["bpm"])
    latest = _module(lake_for_test, conditioning=["bpm"])
    bpm = {dm.version: {s["song_id"]: s["bpm"] for s in dm.selection.songs} for dm in (pinned, latest)}
    assert bpm[latest.version][sid] == 177.0 and bpm[pinned.version][sid] != 177.0
    state = pinned.state_dict()
    assert state["lake_version"] == lake.tags()["before-labels"] and state["tag"] == "before-labels"
    assert state["split"] == {"name": "default", "seed": 0, "fractions": [0.8, 0.1, 0.1]}
    assert sum(state["counts"].values()) == 6
    with pytest.raises(LakeError, match="build it with version="):
        latest.load_state_dict(state)
    pinned.load_state_dict(state)


def test_splits_keep_artists_apart_in_every_loader(lake_for_test):
    dm = _module(lake_for_test)
    artists = {split: {artist_key(s["artist"], s["song_id"]) for s in dm.selection.of_split(split)}
               for split in ("train", "valid", "test")}
    assert all(artists.values())
    assert not (artists["train"] & artists["valid"] or artists["train"] & artists["test"]
                or artists["valid"] & artists["test"])
    seen = {i["song_id"] for batch in dm.test_dataloader() for i in batch["info"]}
    assert seen == {s["song_id"] for s in dm.selection.of_split("test")}


def test_spawned_workers_read_the_same_clips(lake_for_test):
    """Two DataLoader workers (spawn: each opens Lance itself) give the same batches as none."""
    serial = _module(lake_for_test, stems=["vocals"], conditioning=["chords"])
    parallel = _module(lake_for_test, stems=["vocals"], conditioning=["chords"], num_workers=2)
    loader = parallel.val_dataloader()
    assert loader.multiprocessing_context.get_start_method() == "spawn"
    for one, other in zip(serial.val_dataloader(), loader, strict=True):
        assert one["info"] == other["info"]
        torch.testing.assert_close(one["mix"], other["mix"])
        torch.testing.assert_close(one["stems"], other["stems"])


def test_songs_without_stems_are_left_out_when_stems_are_asked_for(lake_for_test, caplog):
    lake = Lake.open(lake_for_test)
    before_stems = next(v.version for v in lake.versions() if v.kind == "ingest")
    songs = _module(lake_for_test, version=before_stems).selection.counts()["songs"]  # the mix alone is fine
    assert songs > 0
    with caplog.at_level(logging.WARNING), pytest.raises(LakeError, match="selects no songs with stems"):
        _module(lake_for_test, version=before_stems, stems=["drums"])
    assert f"{songs} of {songs} selected songs have no stems" in caplog.text


def test_bad_arguments_are_refused(lake_for_test):
    with pytest.raises(QueryError, match="must return a song_id"):
        _module(lake_for_test, query="SELECT title FROM songs")
    with pytest.raises(QueryError, match="training query failed"):
        _module(lake_for_test, query="SELECT song_id FROM nowhere")
    with pytest.raises(ValueError, match="unknown stem 'piano'"):
        SonglakeDataModule(lake_for_test, stems=["piano"])
    with pytest.raises(LakeError, match="selects no songs"):
        _module(lake_for_test, query="SELECT song_id FROM songs WHERE bpm > 1000")
