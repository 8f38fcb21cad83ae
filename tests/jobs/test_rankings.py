"""Bradley–Terry rankings, rater agreement and the next-pair choice, on simulated raters whose
true strengths are known, and on hand-computed agreement examples."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import datetime, timezone

import json

import numpy as np
import pytest
from click.testing import CliRunner

from songlake.cli import main
from songlake.jobs.rankings import (Candidate, Vote, agreement, choose_pair, cohen_kappa, fit_bradley_terry,
                                    model_rankings)
from songlake.schema import connect, run
from songlake.schema.lake import Lake
from songlake.schema.votes import write_vote
from songlake.schema.writer import BatchWriter


def simulate(strengths: dict[str, float], per_pair: int, rng: np.random.Generator) -> list[Vote]:
    """Votes of raters who prefer i to j with probability σ(θi − θj)."""
    votes = []
    names = sorted(strengths)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            p = 1 / (1 + math.exp(-(strengths[a] - strengths[b])))
            for won in rng.random(per_pair) < p:
                votes.append(Vote(a, b, "a" if won else "b"))
    return votes


TRUTH = {"small": -1.0, "base": -0.3, "large": 0.4, "huge": 0.9}  # sums to 0, as the fit's scores do


def test_the_fit_recovers_the_true_order_and_its_intervals_hold_the_truth():
    rankings = fit_bradley_terry(simulate(TRUTH, 400, np.random.default_rng(1)))
    assert [r.entrant for r in rankings] == ["huge", "large", "base", "small"]
    assert [r.rank for r in rankings] == [1, 2, 3, 4]
    for r in rankings:
        assert r.lower < TRUTH[r.entrant] < r.upper, r
        assert r.score == pytest.approx(TRUTH[r.entrant], abs=0.15)
        assert r.upper - r.lower < 0.5 and r.votes == 1200
    assert sum(r.score for r in rankings) == pytest.approx(0, abs=1e-9)


def test_95_percent_intervals_cover_the_truth_about_95_percent_of_the_time():
    truth = {"a": -0.5, "b": 0.0, "c": 0.5}
    rng = np.random.default_rng(7)
    covered = [r.lower <= truth[r.entrant] <= r.upper
               for _ in range(300) for r in fit_bradley_terry(simulate(truth, 40, rng))]
    assert 0.90 <= np.mean(covered) <= 0.99


def test_identical_models_tie():
    exact = [Vote("x", "y", "a")] * 30 + [Vote("x", "y", "b")] * 30
    x, y = fit_bradley_terry(exact)
    assert x.score == pytest.approx(y.score, abs=1e-12) == pytest.approx(0, abs=1e-12)
    simulated = fit_bradley_terry(simulate({"twin1": 0.0, "twin2": 0.0}, 300, np.random.default_rng(3)))
    for r in simulated:
        assert r.lower < 0 < r.upper  # neither is told apart from the other


def test_a_tie_is_half_a_win_and_both_bad_counts_no_win():
    with_ties = fit_bradley_terry([Vote("p", "q", "a"), Vote("p", "q", "tie"), Vote("p", "q", "tie")])
    as_wins = fit_bradley_terry([Vote("p", "q", "a"), Vote("p", "q", "a"), Vote("p", "q", "b")])
    assert [r.score for r in with_ties] == pytest.approx([r.score for r in as_wins])
    assert with_ties[0].entrant == "p" and with_ties[0].wins == 2.0 and with_ties[0].ties == 2
    base = [Vote("p", "q", "a")] * 5 + [Vote("p", "q", "b")] * 3
    bad = fit_bradley_terry(base + [Vote("q", "p", "both_bad")] * 4)
    assert [r.score for r in bad] == pytest.approx([r.score for r in fit_bradley_terry(base)])
    assert {r.entrant: (r.votes, r.both_bad) for r in bad} == {"p": (8, 4), "q": (8, 4)}


def test_an_entrant_that_won_every_vote_gets_a_finite_score_and_a_wide_interval():
    first, second = fit_bradley_terry([Vote("w", "l", "a")] * 3)
    assert first.entrant == "w" and math.isfinite(first.score) and first.score > 0 > second.score
    assert first.lower < 0  # three votes do not make it sure


def test_degenerate_and_bad_input():
    assert fit_bradley_terry([]) == [] and fit_bradley_terry([Vote("m", "m", "a")]) == []
    with pytest.raises(ValueError, match="a, b, tie or both_bad"):
        fit_bradley_terry([Vote("m", "n", "A")])
    with pytest.raises(ValueError, match="level"):
        fit_bradley_terry([Vote("m", "n", "a")], level=95)


# --- agreement: hand-computed examples ---------------------------------------------------------

def test_cohen_and_fleiss_kappa_on_a_hand_computed_example():
    # two raters, four items: agree on 3 of 4. Cohen: po 3/4, pe .5*.25 + .5*.75 = .5 -> 0.5.
    # Fleiss: P-bar 3/4, p = (3/8, 5/8), Pe = 34/64 -> (48/64 - 34/64) / (30/64) = 14/30.
    judgements = [("i1", "ana", "first"), ("i1", "ben", "first"), ("i2", "ana", "first"), ("i2", "ben", "second"),
                  ("i3", "ana", "second"), ("i3", "ben", "second"), ("i4", "ana", "second"), ("i4", "ben", "second"),
                  ("i5", "ana", "tie")]  # judged by one rater: not counted
    result = agreement(judgements)
    assert result.items == 4 and result.judgements == 8
    assert result.percent == pytest.approx(75.0)
    assert result.cohen_kappa == {("ana", "ben"): pytest.approx(0.5)}
    assert result.fleiss_kappa == pytest.approx(14 / 30)


def test_agreement_of_three_raters_and_the_degenerate_cases():
    # one item, three raters: two agree -> 1 agreeing pair of 3
    result = agreement([("i", "a", "tie"), ("i", "b", "tie"), ("i", "c", "both_bad")])
    assert result.percent == pytest.approx(100 / 3) and set(result.cohen_kappa) == {("a", "b"), ("a", "c"), ("b", "c")}
    perfect = agreement([("i", "a", "first"), ("i", "b", "first"), ("j", "a", "second"), ("j", "b", "second")])
    assert perfect.fleiss_kappa == pytest.approx(1.0) and perfect.cohen_kappa[("a", "b")] == pytest.approx(1.0)
    assert agreement([("i", "a", "tie")]) == agreement([])
    assert agreement([]).percent is None
    assert cohen_kappa([("tie", "tie")]) is None  # chance agreement is 1: kappa is undefined


# --- the next pair -------------------------------------------------------------------------------

def _candidates():
    return [Candidate("g1", "g2", "m1", "m2", "p"), Candidate("g3", "g4", "m1", "m3", "p"),
            Candidate("g5", "g6", "m2", "m3", "q"), Candidate("g7", "g8", "m1", "m1", "q")]


def test_the_next_pair_is_the_closest_least_voted_one_never_one_the_rater_judged():
    rankings = fit_bradley_terry([Vote("m1", "m2", "a")] * 9 + [Vote("m1", "m3", "a")] * 5
                                 + [Vote("m1", "m3", "b")] * 4)
    votes = Counter({frozenset(("m1", "m2")): 9, frozenset(("m1", "m3")): 9})
    rng = random.Random(0)
    chosen = choose_pair(_candidates(), rankings, set(), votes, rng)
    assert {chosen.a_id, chosen.b_id} == {"g5", "g6"}  # m2 - m3: never voted on
    chosen = choose_pair(_candidates(), rankings, {("g5", "g6")}, votes, rng)
    assert {chosen.a_id, chosen.b_id} == {"g3", "g4"}  # m1 - m3 are close; m1 - m2 are not
    assert choose_pair(_candidates(), rankings, {("g1", "g2"), ("g3", "g4"), ("g5", "g6")}, votes, rng) is None


def test_the_order_of_a_pair_is_random():
    firsts = Counter(choose_pair(_candidates()[:1], [], set(), Counter(), random.Random(seed)).a_id
                     for seed in range(200))
    assert 70 < firsts["g1"] < 130 and firsts["g1"] + firsts["g2"] == 200


# --- from the lake's votes view -----------------------------------------------------------------

def test_model_rankings_read_the_votes_view_by_model_and_by_checkpoint(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for gid, model, checkpoint in (("a1", "clipgen", "s1"), ("a2", "clipgen", "s2"), ("b1", "other", "s1"),
                                   ("b2", "other", "s1")):
        writer.add("generations", {"generation_id": gid, "model": model, "checkpoint": checkpoint, "added_at": t0})
    writer.add("tracks", {"song_id": "ref", "file_sha256": "refref", "duration": 10.0, "ingested_at": t0})
    writer.commit("generations", "four generations and a song")
    write_vote(lake, "a1", "b1", "a", "ana")
    write_vote(lake, "b1", "a1", "b", "ben")  # agrees with ana: a1 preferred
    write_vote(lake, "a2", "b2", "a", "ana")
    write_vote(lake, "ref", "a2", "a", "ana")
    write_vote(lake, "a1", "a2", "tie", "ana")  # same model: out of the model fit, in the checkpoint fit
    read = lambda sql: run(connect(lake), sql)  # noqa: E731
    by_model, agreed = model_rankings(read)
    assert [r.entrant for r in by_model] == ["reference", "clipgen", "other"]
    assert {r.entrant: r.votes for r in by_model} == {"reference": 1, "clipgen": 4, "other": 3}
    assert agreed.items == 1 and agreed.percent == 100.0
    by_checkpoint, _ = model_rankings(read, by="checkpoint")
    assert {r.entrant for r in by_checkpoint} == {"reference", "clipgen @ s1", "clipgen @ s2", "other @ s1"}
    assert next(r for r in by_checkpoint if r.entrant == "clipgen @ s1").ties == 1
    # the command prints the same fit
    result = CliRunner().invoke(main, ["generations", "rank", "--lake", str(lake.root), "--format", "json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert [r["entrant"] for r in printed] == ["reference", "clipgen", "other"]
    assert printed[1]["score"] == pytest.approx(by_model[1].score, abs=1e-6)
    assert printed[1]["lower"] < printed[1]["score"] < printed[1]["upper"]
    assert "Agreement on 1 pairs" in result.stderr
    result = CliRunner().invoke(main, ["generations", "rank", "--lake", str(lake.root), "--by", "checkpoint"])
    assert result.exit_code == 0 and "clipgen @ s2" in result.stdout
