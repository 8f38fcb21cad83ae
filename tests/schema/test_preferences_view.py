"""The preferences view: the listening votes under the data contract's name, in the lake's SQL
at every version, row for row the votes view."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from songlake.schema import connect, run
from songlake.schema.lake import Lake
from songlake.schema.materialized import Materialized
from songlake.schema.votes import write_vote
from songlake.schema.writer import BatchWriter

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake)
    for gid, model, checkpoint in (("g1", "clipgen", "step1000"), ("g2", "other", None)):
        writer.add("generations", {"generation_id": gid, "model": model, "checkpoint": checkpoint,
                                   "prompt": "calm piano", "added_at": T0})
    writer.commit("generations", "two generations")
    return lake


def test_preferences_are_the_votes_with_rater_and_time(lake):
    before = lake.version()
    assert run(connect(lake), "SELECT count(*) AS n FROM preferences").to_pylist() == [{"n": 0}]
    write_vote(lake, "g1", "g2", "a", "ana", prompt="calm piano", note="warmer")
    write_vote(lake, "g2", "g1", "tie", "ben", prompt="calm piano")
    reader = connect(lake)
    rows = run(reader, "SELECT rater, a_model, b_model, choice, note FROM preferences ORDER BY rater").to_pylist()
    assert rows == [{"rater": "ana", "a_model": "clipgen", "b_model": "other", "choice": "a", "note": "warmer"},
                    {"rater": "ben", "a_model": "other", "b_model": "clipgen", "choice": "tie", "note": None}]
    votes = run(reader, "SELECT * FROM votes ORDER BY vote_id")
    preferences = run(reader, "SELECT * FROM preferences ORDER BY vote_id")
    assert preferences.column_names == votes.column_names and "voted_at" in preferences.column_names
    assert preferences.to_pylist() == votes.to_pylist()
    assert run(connect(lake, before), "SELECT count(*) AS n FROM preferences").to_pylist() == [{"n": 0}]


def test_the_servers_copy_has_preferences_too(lake):
    write_vote(lake, "g1", "g2", "b", "ana")
    copy = Materialized(lake)
    assert copy.run("SELECT rater, choice, b_model FROM preferences").to_pylist() == [
        {"rater": "ana", "choice": "b", "b_model": "other"}]
