"""A/B votes in a real lake: validated, written as one lake version of kind 'vote', read back
through the votes view with each clip's model; a rater judges a pair once."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from songlake.schema import connect, run
from songlake.schema.errors import LakeError
from songlake.schema.lake import Lake
from songlake.schema.votes import AlreadyVoted, pairs_judged, write_vote
from songlake.schema.writer import BatchWriter

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake)
    for gid, model, checkpoint in (("g1", "clipgen", "step1000"), ("g2", "clipgen", "step2000"), ("g3", "other", None)):
        writer.add("generations", {"generation_id": gid, "model": model, "checkpoint": checkpoint,
                                   "prompt": "calm piano", "added_at": T0})
    writer.add("tracks", {"song_id": "ref1", "file_sha256": "ref1ref1", "filename": "ref1.mp3", "duration": 30.0,
                          "quality_flags": [], "ingested_at": T0})
    writer.commit("generations", "three generations and a song")
    return lake


def test_a_vote_is_stored_with_its_clips_models_rater_and_time(lake):
    before = lake.version()
    version = write_vote(lake, "g2", "ref1", "b", "ana", prompt="calm piano", note="  the reference\nis cleaner ")
    assert version == before + 1 and lake.head().kind == "vote"
    rows = run(connect(lake), "SELECT * FROM votes").to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert (row["a_id"], row["a_kind"], row["a_model"], row["a_checkpoint"]) == (
        "g2", "generation", "clipgen", "step2000")
    assert (row["b_id"], row["b_kind"], row["b_model"], row["b_checkpoint"]) == ("ref1", "song", "reference", None)
    assert (row["choice"], row["rater"], row["prompt"]) == ("b", "ana", "calm piano")
    assert row["note"] == "the reference is cleaner"
    assert (row["voted_at"] - datetime.now(timezone.utc)).total_seconds() < 60
    assert run(connect(lake, before), "SELECT count(*) AS n FROM votes").to_pylist() == [{"n": 0}]  # time travel


def test_a_rater_judges_a_pair_once_whichever_clip_was_a(lake):
    write_vote(lake, "g1", "g3", "tie", "ana")
    with pytest.raises(AlreadyVoted, match="once"):
        write_vote(lake, "g3", "g1", "a", "ana")
    write_vote(lake, "g3", "g1", "a", "ben")  # another rater may
    assert pairs_judged(lake, "ana") == {("g1", "g3")} and pairs_judged(lake, "ben") == {("g1", "g3")}
    assert pairs_judged(lake, "cleo") == set()
    assert run(connect(lake), "SELECT count(*) AS n FROM votes").to_pylist() == [{"n": 2}]


@pytest.mark.parametrize("a, b, choice, rater, error, match", [
    ("g1", "g2", "A", "ana", ValueError, "choice is one of a, b, tie, both_bad"),
    ("g1", "g2", "a", " ", ValueError, "rater"),
    ("g1", "g1", "a", "ana", ValueError, "same clip"),
    ("g1", "nope", "a", "ana", LakeError, "no generation or song nope"),
    ("ref1", "ref1x", "a", "ana", LakeError, "ref1x"),
])
def test_bad_votes_are_refused_and_nothing_is_written(lake, a, b, choice, rater, error, match):
    before = lake.version()
    with pytest.raises(error, match=match):
        write_vote(lake, a, b, choice, rater)
    assert lake.version() == before


def test_two_songs_are_not_a_model_comparison(lake):
    writer = BatchWriter(lake)
    writer.add("tracks", {"song_id": "ref2", "file_sha256": "ref2ref2", "duration": 30.0, "ingested_at": T0})
    writer.commit("ingest", "a second song")
    with pytest.raises(ValueError, match="at least one clip is a generation"):
        write_vote(lake, "ref1", "ref2", "a", "ana")
