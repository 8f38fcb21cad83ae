"""Fixtures for the trainer tests: a small lake of tagged songs by three artists, every stage
run for real (stems from Demucs' tiny test model)."""

from __future__ import annotations

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
def trainer_lake(tmp_path_factory, ingest_with_tiny_demucs) -> Path:
    """A lake of 6 songs by 3 artists through every stage, stems included. Tests that write
    (splits, labels, tags) use ``lake_for_test``, a copy."""
    root = tmp_path_factory.mktemp("trainer")
    make_tagged_songs(root / "music")
    report = ingest_with_tiny_demucs(root / "lake", root / "music")
    assert len(report.of("ingested")) == len(ARTISTS), report.outcomes
    return (root / "lake").resolve()


@pytest.fixture
def lake_for_test(trainer_lake, tmp_path) -> Path:
    """A private copy of the trainer lake that a test may write to."""
    target = tmp_path / "lake"
    shutil.copytree(trainer_lake, target)
    return target
