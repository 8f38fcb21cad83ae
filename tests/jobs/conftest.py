"""Fixtures for the pipeline tests: a real Redis server, and helpers to run songlake commands."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server():
    """The URL of a real Redis server: $SONGLAKE_TEST_REDIS (.ci/run starts one), or one this
    fixture starts from Debian's redis-server. Missing redis-server fails the tests, loudly."""
    url = os.environ.get("SONGLAKE_TEST_REDIS")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; `bash scripts/setup.sh --test` installs it (Debian's redis-server)")
    port = _free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture
def redis_url(redis_server):
    """A flushed Redis database for one test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    yield redis_server
    client.flushdb()


def songlake(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """Start the songlake command in a new process group (so a test can kill it whole)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "songlake.cli", *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


@pytest.fixture
def songs_folder(tmp_path):
    """make(n, seed) -> a folder of n short distinct MP3 songs."""
    from songlake import synth

    def make(n: int, name: str = "songs", seconds_bars: int = 4, seed: int = 0) -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        keys = ["C", "D", "E", "F", "G", "A", "B", "Bb", "Eb", "Ab"]
        for i in range(n):
            spec = synth.SongSpec(tonic=keys[(i + seed) % len(keys)], mode="major", bpm=100 + 7 * i + seed,
                                  degrees=(1, 4, 5, 1), bars=seconds_bars, seed=i + 100 * seed)
            rendered = synth.render_song(spec)
            (folder / f"song{seed}_{i:02d}.mp3").write_bytes(synth.encode(rendered.samples, "mp3"))
        return folder

    return make
