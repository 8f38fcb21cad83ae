"""Fixtures for the trainer tests: a small lake of tagged songs by three artists, every stage
run for real (stems from Demucs' tiny test model)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from mutagen.id3 import ID3, TCON, TIT2, TPE1

from songlake import synth

ARTISTS = ("Ada Lovelace", "The Babbage Engines", "Ada Lovelace feat. Grace", "Babbage Engines", "Curie", "Curie")
KEYS = ("C", "D", "E", "F", "G", "A")
GENRE_TAGS = ("Rock", "Rock", "Pop", "Pop", "Jazz", "Jazz")


def make_tagged_songs(folder: Path) -> list[Path]:
    """Six short MP3 songs with ID3 title, artist and genre: three artists, two songs each
    (spelled differently, as real tags are)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (artist, tonic, genre) in enumerate(zip(ARTISTS, KEYS, GENRE_TAGS)):
        spec = synth.SongSpec(tonic=tonic, mode="major" if i % 2 == 0 else "minor", bpm=90 + 8 * i,
                              degrees=(1, 5, 6, 4), bars=6, seed=i)
        path = folder / f"track{i}.mp3"
        path.write_bytes(synth.encode(synth.render_song(spec).samples, "mp3"))
        tags = ID3()
        tags.add(TIT2(encoding=3, text=f"Song {i}"))
        tags.add(TPE1(encoding=3, text=artist))
        tags.add(TCON(encoding=3, text=genre))
        tags.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def trainer_lake(tmp_path_factory) -> Path:
    """A lake of 6 songs by 3 artists through every stage, stems included. Read-only: tests that
    write (splits, exports into the lake's folder) use ``lake_for_test``."""
    from songlake.jobs.batch import ingest
    from songlake.schema import Lake

    root = tmp_path_factory.mktemp("trainer")
    make_tagged_songs(root / "music")
    previous = os.environ.get("SONGLAKE_DEMUCS_MODEL")
    os.environ["SONGLAKE_DEMUCS_MODEL"] = "demucs_unittest"
    try:
        lake = Lake.open(root / "lake", create=True)
        report = ingest(lake, [root / "music"], workers=1)
    finally:
        if previous is None:
            os.environ.pop("SONGLAKE_DEMUCS_MODEL", None)
        else:
            os.environ["SONGLAKE_DEMUCS_MODEL"] = previous
    assert len(report.of("ingested")) == len(ARTISTS), report.outcomes
    return lake.root


@pytest.fixture
def lake_for_test(trainer_lake, tmp_path) -> Path:
    """A private copy of the trainer lake that a test may write to."""
    target = tmp_path / "lake"
    shutil.copytree(trainer_lake, target)
    return target
