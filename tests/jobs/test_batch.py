"""The ingest driver's report accounts for every file named: when a task's outcome never comes
back (its worker was killed, another ingest's worker took the file), the lake says what
happened; a worker killed mid-batch and two ingests of the same files at once both leave true
summaries and exit statuses."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from songlake.jobs import discover, ingest
from songlake.jobs.batch import _account
from songlake.jobs.queue import Queue
from songlake.jobs.worker import _give_up
from songlake.schema import Lake, connect
from songlake.synth import encode, tag_id3

from .conftest import songlake

NO_WEIGHTS = {"SONGLAKE_DEMUCS_MODEL": "htdemucs", "COLUMNS": "240"}  # stems unavailable: separation is instant


@pytest.fixture
def lake(tmp_path):
    return Lake.open(tmp_path / "lake", create=True)


def test_files_without_an_outcome_are_classified_from_the_lake(lake, write, song, other_song, tmp_path):
    before_file = write("before.mp3", encode(song.samples, "mp3"))
    ingest(lake, [before_file], workers=1, separate=False)
    before = lake.head()
    during = write("during.mp3", encode(other_song.samples, "mp3"))
    bad = write("bad.mp3", b"ID3" + bytes(3000))
    ingest(lake, [during, bad], workers=1, separate=False)
    retagged = write("retagged.mp3", encode(song.samples, "mp3"))  # other bytes, the same audio as before.mp3
    tag_id3(retagged, title="Another title")
    copy = write("copy-of-during.mp3", during.read_bytes())
    never = write("never.mp3", encode(song.samples[: len(song.samples) // 2], "mp3"))
    fifo = tmp_path / "in" / "pipe.mp3"
    os.mkfifo(fifo)
    keys = [str(p) for p in (before_file, during, copy, bad, retagged, never, fifo)]

    found = {os.path.basename(k): outcome for k, (outcome, _) in _account(lake, before, keys, set()).items()}
    sid = {r[0]: r[1] for r in connect(lake).execute("SELECT filename, song_id FROM songs").fetchall()}
    assert (found["before.mp3"].status, found["before.mp3"].detail) == ("present", f"same file as song {sid['before.mp3']}")
    assert (found["during.mp3"].status, found["during.mp3"].detail) == ("ingested", sid["during.mp3"])
    assert found["copy-of-during.mp3"].status == "present"  # the song counts once, for during.mp3
    assert found["bad.mp3"].status == "refused" and found["bad.mp3"].detail.startswith("not audio")
    assert (found["retagged.mp3"].status, found["retagged.mp3"].detail) == ("present", f"same audio as song {sid['before.mp3']}")
    assert found["never.mp3"].status == "unaccounted" and "songlake resume" in found["never.mp3"].detail
    assert found["pipe.mp3"].status == "refused" and "named pipe" in found["pipe.mp3"].detail
    # a song this report already counts as ingested (by another file) is present for the next one
    again = _account(lake, before, [str(during)], {sid["during.mp3"]})
    assert again[str(during)][0].status == "present"
    # a file that killed its worker twice is refused by resume, and found by its hash
    _give_up(Queue.open(lake.root, url=""), "ingest", str(never), "processing it killed the worker 2 times")
    (outcome, _), = _account(lake, before, [str(never)], set()).values()
    assert (outcome.status, outcome.detail) == ("refused", "processing it killed the worker 2 times")


def _summary(stderr: str) -> tuple[int, int, int]:
    found = re.search(r"(\d+) ingested .*?, (\d+) already present, (\d+) refused", stderr)
    assert found, stderr
    return tuple(map(int, found.groups()))


def _songs(lake) -> int:
    return connect(lake).execute("SELECT count(*) FROM songs").fetchone()[0]


def test_the_summary_counts_the_files_of_a_worker_killed_mid_batch(lake, songs_folder):
    folder = songs_folder(8)
    queue = Queue.open(lake.root, url="")
    batch = songlake("ingest", str(folder), "--lake", str(lake.root), "--workers", "2", "--no-stems", env=NO_WEIGHTS)
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline and batch.poll() is None:  # a worker process holding files
        holders = {c.worker for stage in ("ingest", "file") for c in queue.ledger.claims(stage)}
        pids = {int(w.split(":")[1]) for w in holders if not w.startswith("staged:")} - {batch.pid}
        victim = next(iter(pids), None)
        time.sleep(0.01)
    assert victim is not None, "no worker process took a file"
    os.kill(victim, signal.SIGKILL)
    out, err = batch.communicate(timeout=600)
    assert batch.returncode == 0, err
    assert _summary(err) == (8, 0, 0), err  # the killed worker's files, finished by others, are counted
    assert _songs(lake) == 8


def test_two_ingests_of_the_same_files_at_once_each_account_for_all_of_them(lake, songs_folder):
    folder = songs_folder(8)
    (folder / "broken.mp3").write_bytes(b"ID3" + bytes(3000))
    first = songlake("ingest", str(folder), "--lake", str(lake.root), "--workers", "1", "--no-stems", env=NO_WEIGHTS)
    second = songlake("ingest", str(folder), "--lake", str(lake.root), "--workers", "1", "--no-stems", env=NO_WEIGHTS)
    for batch in (first, second):
        out, err = batch.communicate(timeout=600)
        assert batch.returncode == 1 and "unaccounted" not in err, err  # 1: broken.mp3 is refused
        ingested, present, refused = _summary(err)
        assert (ingested + present, refused) == (8, 1), err
    assert _songs(lake) == 8
    assert connect(lake).execute("SELECT count(*) FROM ingest_errors").fetchone()[0] == 1


def test_discover_examines_special_files_with_audio_names(tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    (folder / "song.mp3").write_bytes(b"x")
    os.mkfifo(folder / "pipe.mp3")
    os.mkfifo(folder / "pipe.txt")
    files, passed = discover([folder])
    assert [p.name for p in files] == ["pipe.mp3", "song.mp3"] and [p.name for p in passed] == ["pipe.txt"]
