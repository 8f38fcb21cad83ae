"""The pipeline's commits: a batch makes one version per stage, not one per task; genre costs a
constant per song; claims held by staged sets are not lost work."""

import time

from songlake.jobs import commit, ingest
from songlake.jobs.genre import REFIT_GROWTH, load_fitted
from songlake.jobs.queue import Queue
from songlake.jobs.worker import resume
from songlake.schema import BatchWriter, Lake, connect, run
from songlake.synth import SongSpec, encode, render_song, tag_id3

KEYS = ("C", "E", "G", "A", "D", "F", "B", "Eb", "Ab", "C#", "F#", "Bb")
GENRES = ("Rock", "Jazz", "Pop")


def _songs(folder, first: int, count: int):
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(first, first + count):
        rendered = render_song(SongSpec(tonic=KEYS[n % len(KEYS)], bpm=96 + 9 * n, bars=2, seed=n))
        path = folder / f"song{n}.mp3"
        path.write_bytes(encode(rendered.samples, "mp3", kbps=128))
        tag_id3(path, title=f"Song {n}", genre=GENRES[n % len(GENRES)])
    return folder


def _genre_rows(lake) -> dict[str, int]:
    rows = run(connect(lake), "SELECT song_id, count(*) AS n FROM lake_genres GROUP BY song_id").to_pylist()
    return {r["song_id"]: r["n"] for r in rows}


def test_a_batch_is_one_version_per_stage_and_genre_is_refitted_as_the_collection_grows(tmp_path, monkeypatch):
    monkeypatch.setattr(commit, "COMMIT_INTERVAL", 600.0)  # only the idle worker's flushes commit
    lake = Lake.open(tmp_path / "lake", create=True)
    report = ingest(lake, [_songs(tmp_path / "a", 0, 6)], workers=1, separate=False)
    assert len(report.of("ingested")) == 6
    # 6 files are two ingest tasks, two analyze tasks and genre tasks: one version per stage
    assert [v.kind for v in lake.versions()] == ["init", "ingest", "analyze", "genre"]
    fitted = load_fitted(lake)
    assert fitted is not None and fitted.songs == 6
    assert _genre_rows(lake) == {sid: 1 for sid in _genre_rows(lake)} and len(_genre_rows(lake)) == 6

    # one more song (7 < 2 x 6): predicted by the saved model; the others are not predicted again
    ingest(lake, [_songs(tmp_path / "b", 6, 1)], workers=1, separate=False)
    rows = _genre_rows(lake)
    assert len(rows) == 7 and sorted(rows.values()) == [1] * 7
    assert load_fitted(lake).songs == 6

    # five more (12 >= 2 x 6): one full refit predicts every song again
    assert 12 >= REFIT_GROWTH * 6 > 11
    ingest(lake, [_songs(tmp_path / "c", 7, 5)], workers=1, separate=False)
    rows = _genre_rows(lake)
    assert len(rows) == 12 and load_fitted(lake).songs == 12
    assert sum(n == 2 for n in rows.values()) >= 7  # the songs that were there got a second row
    songs = run(connect(lake), "SELECT primary_genre FROM songs").to_pylist()
    assert len(songs) == 12 and all(s["primary_genre"] for s in songs)


def test_claims_handed_to_a_staged_set_are_not_lost_work(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    queue = Queue.open(lake.root, url="")
    writer = BatchWriter(lake)
    writer.add("stage_runs", {"song_id": "s1", "stage": "analyze", "status": "done"})
    assert queue.ledger.claim("analyze", ["s1"], "somehost:1:0") == ["s1"]
    commit.hand_over(queue, writer, "analyze", "one song", {"analyze": ["s1"]})
    (claim,) = queue.ledger.claims("analyze")
    assert claim.worker.startswith("staged:")
    report = resume(queue, scan_lake=False)
    assert report.released == {} and [c.key for c in queue.ledger.claims("analyze")] == ["s1"]
    assert queue.pending() >= 2  # the staged set and its claim: an ingest waits for them
    assert commit.flush(queue) == 2
    assert queue.ledger.claims("analyze") == [] and lake.pending() == 0


def test_a_claim_whose_staged_set_vanished_is_resumed_once_stale(tmp_path, monkeypatch):
    from songlake.jobs import worker as worker_module

    lake = Lake.open(tmp_path / "lake", create=True)
    queue = Queue.open(lake.root, url="")
    queue.ledger.claim("analyze", ["s2"], "somehost:1:0")
    queue.ledger.transfer("analyze", ["s2"], "staged:gone")  # the worker died before it staged
    assert resume(queue, scan_lake=False).released == {}  # not yet stale
    monkeypatch.setattr(worker_module, "STALE_SECONDS", -1.0)
    assert resume(queue, scan_lake=False).released == {"analyze": 1}
    assert queue.ledger.queued("analyze") == ["s2"]  # queued again for the next worker


def test_a_commit_round_waits_for_the_interval_then_commits(tmp_path, monkeypatch):
    monkeypatch.setattr(commit, "COMMIT_INTERVAL", 0.3)
    lake = Lake.open(tmp_path / "lake", create=True)
    queue = Queue.open(lake.root, url="")
    writer = BatchWriter(lake)
    writer.add("stage_runs", {"song_id": "s3", "stage": "analyze", "status": "done"})
    commit.hand_over(queue, writer, "analyze", "one song", {})
    assert commit.commit_round(queue) is None  # younger than the interval: others may join it
    time.sleep(0.35)
    assert commit.commit_round(queue) == 2


def test_a_key_that_is_no_song_is_said_so_by_every_song_stage(tmp_path):
    from songlake.jobs.stages import analyze_songs, embed_songs

    lake = Lake.open(tmp_path / "lake", create=True)
    queue = Queue.open(lake.root, url="")
    for stage in (analyze_songs, embed_songs):
        done = stage(lake, queue, ["nosuchsong"], {})
        assert done.outcomes == [{"key": "nosuchsong", "status": "skipped", "detail": "no such song in the lake"}]
        assert not done.writer.counts
