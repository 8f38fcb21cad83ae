"""The job pipeline for real: Huey queues on SQLite and Redis, worker processes, a killed worker,
concurrent ingests, Demucs stems through a tiny model, and resume."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from songlake.jobs import ingest
from songlake.jobs.batch import run_stage_batch
from songlake.jobs.ledger import SqliteLedger, RedisLedger
from songlake.jobs.queue import Queue
from songlake.jobs.worker import resume, status
from songlake.schema import Lake, connect

from .conftest import songlake

TINY = {"SONGLAKE_DEMUCS_MODEL": "demucs_unittest"}  # demucs' own test model: real code, no weights to fetch


@pytest.fixture
def lake(tmp_path):
    return Lake.open(tmp_path / "lake", create=True)


@pytest.fixture
def tiny_model(monkeypatch):
    for name, value in TINY.items():
        monkeypatch.setenv(name, value)


def _one(lake, sql, params=None):
    return connect(lake).execute(sql, params or []).fetchall()


def _assert_complete_and_unique(lake, n):
    """Every song ingested once, separated once and analysed once."""
    assert _one(lake, "SELECT count(*), count(DISTINCT song_id) FROM lake_tracks")[0] == (n, n)
    runs = _one(lake, "SELECT stage, count(*), count(DISTINCT song_id) FROM lake_stage_runs "
                      "WHERE status IN ('done', 'unavailable') GROUP BY stage ORDER BY stage")
    assert runs == [("analyze", n, n), ("ingest", n, n), ("separate", n, n)]
    assert _one(lake, "SELECT count(*), count(DISTINCT song_id) FROM lake_analysis")[0] == (n, n)
    assert _one(lake, "SELECT count(*) FROM songs WHERE analysis_version IS NULL OR stems_status = 'pending'")[0] == (0,)


def test_embedded_ingest_without_weights_analyses_everything_and_says_how_to_get_stems(lake, songs_folder, monkeypatch):
    monkeypatch.setenv("SONGLAKE_DEMUCS_MODEL", "htdemucs")
    monkeypatch.setenv("HF_HOME", str(lake.root / "empty-hf-cache"))
    report = ingest(lake, [songs_folder(3)], workers=1)
    assert [o.status for o in report.outcomes] == ["ingested"] * 3
    _assert_complete_and_unique(lake, 3)
    rows = _one(lake, "SELECT DISTINCT stems_status FROM songs")
    assert rows == [("unavailable",)]
    message = _one(lake, "SELECT message FROM lake_separations LIMIT 1")[0][0]
    assert "htdemucs" in message and "SONGLAKE_MODEL_DIR" in message
    assert _one(lake, "SELECT count(*) FROM songs WHERE primary_genre IS NULL")[0] == (0,)
    kinds = [v.kind for v in lake.versions()]
    assert {"ingest", "separate", "analyze", "genre"} <= set(kinds)
    stages, _ = status(Queue.open(lake.root))
    by_stage = {s.stage: s for s in stages}
    assert by_stage["analyze"].done == 3 and by_stage["separate"].unavailable == 3
    assert all(s.queued == s.running == s.lost == 0 for s in stages)


def test_stages_are_idempotent(lake, songs_folder, tiny_model):
    ingest(lake, [songs_folder(2)], workers=1)
    version = lake.version()
    ids = [r[0] for r in _one(lake, "SELECT song_id FROM songs")]
    for stage in ("separate", "analyze", "embed"):
        outcomes = run_stage_batch(lake, stage, ids, workers=1)
        assert {o["status"] for o in outcomes} == {"skipped"}, stage
    assert lake.version() == version  # nothing redone, nothing committed


def test_tiny_demucs_stems_are_stored_used_and_exported(lake, songs_folder, tiny_model, tmp_path):
    ingest(lake, [songs_folder(2)], workers=1)
    _assert_complete_and_unique(lake, 2)
    rows = _one(lake, "SELECT stems_status, is_instrumental IS NOT NULL, len(stem_stats) FROM songs")
    assert rows == [("done", True, 4)] * 2
    import duckdb

    stems = lake.dataset("stems").to_table(columns=["song_id", "stem", "num_samples"])  # noqa: F841 (read by DuckDB)
    parts = duckdb.sql("SELECT stem, count(*), sum(num_samples) FROM stems GROUP BY stem ORDER BY stem").fetchall()
    assert [p[0] for p in parts] == ["bass", "drums", "other", "vocals"]
    assert len({p[2] for p in parts}) == 1  # every stem as long as the others
    assert _one(lake, "SELECT bool_and(used_stems) FROM lake_analysis")[0] == (True,)
    sid = _one(lake, "SELECT song_id FROM songs LIMIT 1")[0][0]
    result = songlake("stems", sid, "--out", str(tmp_path / "out"), "--lake", str(lake.root))
    out, errors = result.communicate(timeout=120)
    assert result.returncode == 0, errors
    assert sorted(Path(p).name for p in out.split()) == sorted(f"{sid}_{s}.flac" for s in ("vocals", "drums", "bass", "other"))


def test_separate_missing_fills_stems_in_later_and_reanalyses(lake, songs_folder, monkeypatch):
    monkeypatch.setenv("SONGLAKE_DEMUCS_MODEL", "htdemucs")
    monkeypatch.setenv("HF_HOME", str(lake.root / "empty-hf-cache"))
    ingest(lake, [songs_folder(2)], workers=1)
    assert _one(lake, "SELECT DISTINCT stems_status FROM songs") == [("unavailable",)]
    monkeypatch.setenv("SONGLAKE_DEMUCS_MODEL", "demucs_unittest")
    ids = [r[0] for r in _one(lake, "SELECT song_id FROM songs WHERE stems_status <> 'done'")]
    outcomes = run_stage_batch(lake, "separate", ids, workers=1)
    assert sorted(o["status"] for o in outcomes) == ["done", "done"]
    assert _one(lake, "SELECT DISTINCT stems_status FROM songs") == [("done",)]
    newest = _one(lake, "SELECT used_stems FROM lake_analysis QUALIFY row_number() OVER "
                        "(PARTITION BY song_id ORDER BY analyzed_at DESC) = 1")
    assert newest == [(True,), (True,)]


def test_a_bad_file_is_refused_and_the_rest_goes_on(lake, songs_folder):
    folder = songs_folder(2)
    (folder / "broken.mp3").write_bytes(b"ID3" + os.urandom(2000))
    (folder / "empty.mp3").write_bytes(b"")
    report = ingest(lake, [folder], workers=1, separate=False)
    assert sorted(o.status for o in report.outcomes) == ["ingested", "ingested", "refused", "refused"]
    assert _one(lake, "SELECT count(*) FROM ingest_errors")[0] == (2,)
    assert _one(lake, "SELECT count(*) FROM songs WHERE analysis_version IS NOT NULL")[0] == (2,)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_claims_are_exclusive(kind, tmp_path, request):
    ledger = SqliteLedger(tmp_path / "ledger.db") if kind == "sqlite" else RedisLedger(request.getfixturevalue("redis_url"))
    ledger.mark_queued("analyze", ["a", "b", "c"])
    assert ledger.claim("analyze", ["a", "b"], "w1") == ["a", "b"]
    assert ledger.claim("analyze", ["b", "c"], "w2", {"force": True}) == ["c"]
    assert ledger.queued("analyze") == []  # taken: by w1, or b by w1 for w2's task
    assert sorted((c.key, c.worker) for c in ledger.claims("analyze")) == [("a", "w1"), ("b", "w1"), ("c", "w2")]
    ledger.release("analyze", ["a", "b"])
    assert ledger.claim("analyze", ["a"], "w2") == ["a"]
    assert ledger.set_flag("genre") and not ledger.set_flag("genre")


def test_resume_requeues_the_work_of_a_dead_worker(lake, songs_folder):
    ingest(lake, [songs_folder(1)], workers=1, separate=False)
    sid = _one(lake, "SELECT song_id FROM songs")[0][0]
    queue = Queue.open(lake.root)
    dead = f"{os.uname().nodename}:999999:0"  # no such process on this host
    queue.ledger.claim("analyze", [sid], dead, {"force": True})
    stages, _ = status(queue)
    assert {s.stage: s.lost for s in stages}["analyze"] == 1
    report = resume(queue, scan_lake=False)
    assert report.released == {"analyze": 1}
    assert queue.ledger.queued("analyze") == [sid] and queue.ledger.claims("analyze") == []


# --- scaled out: Redis and worker processes --------------------------------------------------

def _wait(process, timeout=240):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode in (0, 1), f"exit {process.returncode}\n{out}\n{err}"
    return out, err


def test_two_worker_processes_on_redis_do_every_song_exactly_once(lake, songs_folder, redis_url):
    folder = songs_folder(6)
    env = {"SONGLAKE_QUEUE": redis_url, **TINY}
    queued = songlake("ingest", str(folder), "--lake", str(lake.root), env=env)  # queues and waits for workers
    workers = songlake("worker", "--lake", str(lake.root), "--workers", "2", "--until-idle", env=env)
    out, err = _wait(queued)
    assert "6 ingested" in err, err
    _wait(workers)
    _assert_complete_and_unique(lake, 6)
    assert len({r[0] for r in _one(lake, "SELECT DISTINCT worker FROM lake_stage_runs")}) >= 2


def test_a_worker_killed_mid_song_loses_nothing_after_resume(lake, songs_folder, redis_url):
    folder = songs_folder(4)
    env = {"SONGLAKE_QUEUE": redis_url, **TINY}
    queue = Queue.open(lake.root, redis_url)
    from songlake.jobs.batch import discover

    files, _ = discover([folder])
    queue.submit("ingest", [str(p.resolve()) for p in files], separate=True)
    worker = songlake("worker", "--lake", str(lake.root), "--workers", "1", env=env)
    deadline = time.time() + 180
    victim = None
    while time.time() < deadline and victim is None:  # kill it while it holds a song
        claims = queue.ledger.claims("separate") + queue.ledger.claims("analyze")
        victim = claims[0] if claims else None
        time.sleep(0.01)
    assert victim is not None, "the worker never took a song"
    os.killpg(worker.pid, signal.SIGKILL)  # the whole `songlake worker`, supervisor included
    worker.wait(10)
    assert any(c.worker == victim.worker for c in queue.ledger.claims(victim.stage))  # the song is held by the dead
    result = songlake("resume", "--lake", str(lake.root), env=env)
    out, err = _wait(result, 120)
    assert "resumed" in err and "dead workers" in err, err
    finisher = songlake("worker", "--lake", str(lake.root), "--workers", "1", "--until-idle", env=env)
    _wait(finisher)
    _assert_complete_and_unique(lake, 4)


def test_two_ingests_of_overlapping_folders_at_once_leave_no_duplicates(lake, songs_folder):
    a = songs_folder(3, name="a")
    b = songs_folder(2, name="b", seed=5)
    (b / "copy_of_a0.mp3").write_bytes((a / "song0_00.mp3").read_bytes())
    env = {"SONGLAKE_DEMUCS_MODEL": "htdemucs", "HF_HOME": str(lake.root / "empty-hf-cache")}
    first = songlake("ingest", str(a), "--lake", str(lake.root), "--workers", "1", env=env)
    second = songlake("ingest", str(a), str(b), "--lake", str(lake.root), "--workers", "1", env=env)
    _wait(first)
    _wait(second)
    assert _one(lake, "SELECT count(*), count(DISTINCT song_id), count(DISTINCT file_sha256) FROM lake_tracks")[0] == (5, 5, 5)
    _assert_complete_and_unique(lake, 5)
