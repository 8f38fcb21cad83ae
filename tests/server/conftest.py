"""Fixtures for the server tests: a small lake of real songs (with stems from Demucs' tiny test
model), the app over it in Litestar's test client, and API tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from songlake import synth

KEYS = ["C", "D", "E", "F", "G", "A", "B", "Bb"]


def make_songs(folder: Path, n: int, seed: int = 0, bars: int = 4) -> list[Path]:
    """n short, distinct MP3 songs in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        spec = synth.SongSpec(tonic=KEYS[(i + seed) % len(KEYS)], mode="major" if i % 2 == 0 else "minor",
                              bpm=96 + 9 * i + seed, degrees=(1, 4, 5, 1), bars=bars, seed=i + 100 * seed)
        path = folder / f"song{seed}_{i:02d}.mp3"
        path.write_bytes(synth.encode(synth.render_song(spec).samples, "mp3"))
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def served_lake(tmp_path_factory, ingest_with_tiny_demucs) -> Path:
    """A lake with 3 songs through every stage, stems included (tiny Demucs model, real code)."""
    root = tmp_path_factory.mktemp("served")
    songs = make_songs(root / "music", 3)
    report = ingest_with_tiny_demucs(root / "lake", root / "music")
    assert len(report.of("ingested")) == len(songs), report.outcomes
    return (root / "lake").resolve()


@pytest.fixture(scope="session")
def song_files(served_lake) -> list[Path]:
    return sorted((served_lake.parent / "music").glob("*.mp3"))


@pytest.fixture
def new_songs():
    """make(folder, n, seed) -> paths of n new MP3 songs."""
    return make_songs


@pytest.fixture(scope="module")
def lake_copy(served_lake, tmp_path_factory):
    """A copy of the served lake that one test module's writes (labels, uploads) may change."""
    import shutil

    target = tmp_path_factory.mktemp("copy") / "lake"
    shutil.copytree(served_lake, target)
    return target


@pytest.fixture(scope="module")
def token(lake_copy) -> str:
    """An API token for the module's lake copy."""
    from songlake.server.auth import TokenStore

    return TokenStore(lake_copy).create("curator")
