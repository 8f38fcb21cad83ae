"""Shared fixtures. All audio is generated at test time; nothing is committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from songlake import synth


@pytest.fixture(scope="session")
def song() -> synth.Rendered:
    """A 20-second C major song at 120 BPM with drums."""
    return synth.render_song(synth.SongSpec(tonic="C", mode="major", bpm=120, degrees=(1, 4, 5, 1), bars=10))


@pytest.fixture(scope="session")
def other_song() -> synth.Rendered:
    """A 20-second E major song at 95 BPM."""
    return synth.render_song(synth.SongSpec(tonic="E", mode="major", bpm=95, degrees=(1, 6, 4, 5), bars=8, seed=7))


@pytest.fixture
def write(tmp_path):
    """write(name, bytes) -> the path of a new file in a fresh input folder."""

    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture(scope="session")
def ingest_with_tiny_demucs():
    """ingest(lake_root, folder) -> the ingest report: every stage run for real, stems from Demucs'
    tiny test model (demucs_unittest, built by Demucs itself, no download)."""
    import os

    from songlake.jobs.batch import ingest
    from songlake.schema import Lake

    def _ingest(lake_root: Path, folder: Path):
        previous = os.environ.get("SONGLAKE_DEMUCS_MODEL")
        os.environ["SONGLAKE_DEMUCS_MODEL"] = "demucs_unittest"
        try:
            return ingest(Lake.open(lake_root, create=True), [folder], workers=1)
        finally:
            if previous is None:
                os.environ.pop("SONGLAKE_DEMUCS_MODEL", None)
            else:
                os.environ["SONGLAKE_DEMUCS_MODEL"] = previous

    return _ingest
