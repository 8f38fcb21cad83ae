"""Duplicates in a real lake: fingerprints written at ingest, the duplicates stage through the
real queue, the duplicate_pairs, groups and preferred copies in SQL, labels that override the
choice, a lake without Chromaprint saying so, and the backfill."""

from __future__ import annotations

import sys

import lance
import numpy as np
import pytest

from songlake import synth
from songlake._cli_duplicates import backfill
from songlake.jobs import commit
from songlake.jobs.queue import Queue
from songlake.jobs.stages import set_worker
from songlake.jobs.worker import Worker
from songlake.schema import Lake, connect, lookup, run
from songlake.schema.labels import write_labels
from songlake.schema.migrations import ensure_indexes
from songlake.udfs.fingerprint import at_speed

SR = synth.SAMPLE_RATE
pytestmark = pytest.mark.slow  # a real ingest of five 40 s songs: about a minute on two busy cores


def _progression(seed: int, bars: int) -> tuple[int, ...]:
    return tuple(int(d) for d in np.random.default_rng(seed).choice([1, 2, 4, 5, 6], size=bars))


@pytest.fixture(scope="module")
def songs():
    """Two 40 s songs in C major at 120 BPM with drums: the same style, key and tempo."""
    return [synth.render_song(synth.SongSpec(degrees=_progression(seed, 20), bars=20, seed=seed)).samples
            for seed in (1, 2)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, songs):
    """The original as FLAC, an MP3 re-encode, a 25 s excerpt from 5 s on, the original 3 % faster,
    and another song of the same style, key and tempo."""
    a, b = songs
    folder = tmp_path_factory.mktemp("in")
    (folder / "a.flac").write_bytes(synth.encode(a, "flac"))
    (folder / "a 128k.mp3").write_bytes(synth.encode_mp3(a, kbps=128))
    (folder / "a excerpt.wav").write_bytes(synth.encode(a[:, 5 * SR:30 * SR], "wav"))
    (folder / "a faster.wav").write_bytes(synth.encode(np.stack([at_speed(ch, SR, 1.03) for ch in a]), "wav"))
    (folder / "b.mp3").write_bytes(synth.encode_mp3(b, kbps=192))
    return folder


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, folder) -> tuple[Lake, dict[str, str]]:
    """One lake with the folder ingested (the tests that share it leave it as they found it)."""
    lake = Lake.open(tmp_path_factory.mktemp("lake") / "lake", create=True)
    return lake, _ingest(lake, folder)


def _pipeline(lake: Lake, stages=("ingest", "duplicates")) -> None:
    """The real stages through the real queue, in this process, until they have no work (the
    analysis they queue is left queued: these tests are about duplicates)."""
    queue = Queue.open(lake.root)
    worker = Worker(queue, stages=stages)
    set_worker(worker.name)
    while True:
        worked = worker.step()
        commit.flush(queue, lake)
        if not worked and not worker.step():
            return


def _ingest(lake: Lake, folder) -> dict[str, str]:
    Queue.open(lake.root).submit("ingest", [str(p) for p in sorted(folder.iterdir())], separate=False)
    _pipeline(lake)
    return {r["filename"]: r["song_id"] for r in run(connect(lake), "SELECT filename, song_id FROM songs").to_pylist()}


def _pairs(lake: Lake, ids: dict[str, str]) -> dict[frozenset, dict]:
    names = {v: k for k, v in ids.items()}
    return {frozenset((names[r["song_a"]], names[r["song_b"]])): r
            for r in run(connect(lake), "SELECT * FROM duplicates").to_pylist()}


def _preferred(lake: Lake, ids: dict[str, str]) -> dict[str, tuple[str, bool]]:
    rows = run(connect(lake), "SELECT filename, duplicate_group, is_preferred_copy FROM songs").to_pylist()
    return {r["filename"]: (r["duplicate_group"], r["is_preferred_copy"]) for r in rows}


def test_ingest_finds_each_kind_groups_them_and_prefers_the_lossless_complete_copy(ingested):
    lake, ids = ingested
    assert len(ids) == 5
    pairs = _pairs(lake, ids)
    assert pairs[frozenset(("a.flac", "a 128k.mp3"))]["kind"] == "same_audio"
    excerpt = pairs[frozenset(("a.flac", "a excerpt.wav"))]
    assert excerpt["kind"] == "edit" and 18 < excerpt["shared_seconds"] <= 25
    # the excerpt starts at the original's 5 s: offset -5 when the original is song_a, +5 otherwise
    sign = 1 if excerpt["song_a"] == ids["a.flac"] else -1
    assert sign * excerpt["offset_seconds"] == pytest.approx(-5.0, abs=0.15)
    near = pairs[frozenset(("a.flac", "a faster.wav"))]
    assert near["kind"] == "near" and near["method"] == "embedding+fingerprint"
    assert near["speed"] ** (1 if near["song_a"] == ids["a.flac"] else -1) == pytest.approx(1.03, abs=0.006)
    assert not any("b.mp3" in pair for pair in pairs)  # same key, tempo and style: not a duplicate

    groups = _preferred(lake, ids)
    group_a = groups["a.flac"][0]
    members = {name for name, (group, _) in groups.items() if group == group_a}
    assert members == {"a.flac", "a 128k.mp3", "a excerpt.wav", "a faster.wav"}
    assert groups["b.mp3"] == (ids["b.mp3"], True)
    # lossless over lossy, then the longer: the FLAC, not the WAV excerpt nor the MP3
    assert [name for name, (group, preferred) in groups.items() if group == group_a and preferred] == ["a.flac"]


def test_without_chromaprint_the_reason_is_queryable_and_the_backfill_fills_it_in(tmp_path, folder, monkeypatch):
    lake = Lake.open(tmp_path / "lake", create=True)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "chromaprint", None)  # what Python does when the library is missing
        ids = _ingest(lake, folder)
    assert len(ids) == 5 and _pairs(lake, ids) == {}
    reasons = run(connect(lake), "SELECT status, reason FROM stage_status WHERE stage = 'fingerprint'").to_pylist()
    assert len(reasons) == 5 and {r["status"] for r in reasons} == {"unavailable"}
    assert all("apt-get install libchromaprint1" in r["reason"] for r in reasons)

    songs, pairs = backfill(lake, workers=1)
    assert songs == 5 and pairs >= 3
    kinds = {frozenset(p): r["kind"] for p, r in _pairs(lake, ids).items()}
    assert kinds[frozenset(("a.flac", "a 128k.mp3"))] == "same_audio"
    assert kinds[frozenset(("a.flac", "a excerpt.wav"))] == "edit"
    status = run(connect(lake), "SELECT DISTINCT status FROM stage_status WHERE stage = 'fingerprint'").to_pylist()
    assert status == [{"status": "done"}]
    assert backfill(lake, workers=1) == (0, 0)  # nothing left to do


def test_candidates_come_from_the_index_not_from_every_song(ingested):
    from songlake.jobs.duplicates import candidates, stored

    lake, ids = ingested
    row = lookup.newest(lake, "fingerprints", [ids["a.flac"]], ["algorithm", "status", "duration", "start", "values"],
                        ["fingerprinted_at"])[ids["a.flac"]]
    found = candidates(lake, ids["a.flac"], stored(row).values)
    assert ids["a 128k.mp3"] in found and ids["a excerpt.wav"] in found
    assert ids["a.flac"] not in found
    ensure_indexes(lake, "fingerprint_index")  # what the compactor does as fragments accumulate
    plan = lance.dataset(lake.uri("fingerprint_index")).scanner(filter="hash IN (1, 2)").explain_plan(True)
    assert "ScalarIndexQuery" in plan or "MaterializeIndex" in plan, plan  # answered by the BTREE index


def test_a_label_overrides_the_preferred_copy_and_a_drop_is_kept(ingested):
    lake, ids = ingested
    write_labels(lake, ids["a 128k.mp3"], {"duplicate_choice": "preferred"}, author="ana")
    assert [n for n, (_, p) in _preferred(lake, ids).items() if p and n != "b.mp3"] == ["a 128k.mp3"]
    write_labels(lake, ids["a 128k.mp3"], {"duplicate_choice": None}, author="ana")  # withdrawn
    write_labels(lake, ids["a.flac"], {"duplicate_choice": "drop"}, author="ben", note="clicks at 0:12")
    groups = _preferred(lake, ids)
    assert [n for n, (_, p) in groups.items() if p and n != "b.mp3"] == ["a faster.wav"]  # the other complete WAV
    assert "a.flac" in groups  # dropped, not deleted
    history = run(connect(lake), "SELECT song_id, field, value, author FROM label_history").to_pylist()
    assert {"song_id": ids["a.flac"], "field": "duplicate_choice", "value": '"drop"', "author": "ben"} in [
        {k: r[k] for k in ("song_id", "field", "value", "author")} for r in history]
    write_labels(lake, ids["a.flac"], {"duplicate_choice": None}, author="ben")
    assert [n for n, (_, p) in _preferred(lake, ids).items() if p and n != "b.mp3"] == ["a.flac"]
