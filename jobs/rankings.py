"""Rankings of models from A/B votes: a Bradley–Terry fit with confidence intervals, agreement
between raters, and the choice of the next pair to judge.

Conventions:

- An *entrant* is what is ranked: a generation's model (``by="model"``), or its model and
  checkpoint (``by="checkpoint"``, named 'model @ checkpoint'); a lake song played as the
  reference is the entrant 'reference'. A vote between two clips of the same entrant says
  nothing about the ranking and is left out of the fit (counted in ``same_entrant``).
- Bradley–Terry: P(i beats j) = σ(θi − θj). A choice of A or B is a win; a tie is half a win to
  each side; 'both_bad' is recorded (per entrant) but counts as no win. θ is fitted by Newton's
  method on the log-likelihood with a weak Gaussian prior (``PRIOR``: θ ~ N(0, 1/PRIOR)), which
  fixes the scale's origin (scores sum to 0) and keeps θ finite when an entrant won or lost all
  its votes. Scores are in logits: a difference of 1 is a 73 % chance to be preferred.
- Intervals come from the Fisher information: the covariance of the centred scores is
  P (I + PRIOR·Id)⁻¹ P with P the centring projection; a score's interval is θ ± z·sd at the
  given level (normal approximation; it is wide, as it should be, with few votes).
- Agreement is measured on the pairs of clips that several raters judged, with each judgement
  read whichever clip was shown first ('first', 'second', 'tie', 'both_bad', the first being the
  smaller id): percent agreement is the mean share of rater pairs that agree on an item
  (Fleiss' P̄), Fleiss' kappa corrects it for chance over all raters, and Cohen's kappa is given
  for each two raters with shared items. Kappa is None where chance agreement is 1.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist

import numpy as np

from songlake.schema.votes import pair_key

PRIOR = 0.1  # precision of the Gaussian prior on each score (logits^-2)
REFERENCE = "reference"
CATEGORIES = ("first", "second", "tie", "both_bad")


@dataclass(frozen=True)
class Vote:
    """One judgement: the entrants of clip A and clip B and the choice ('a', 'b', 'tie', 'both_bad')."""

    a: str
    b: str
    choice: str


@dataclass(frozen=True)
class Ranking:
    entrant: str
    rank: int  # 1 is the best score
    score: float  # θ in logits, centred (the scores sum to 0)
    lower: float  # the interval at the fit's level
    upper: float
    votes: int  # votes against another entrant
    wins: float  # ties count half
    ties: int
    both_bad: int


@dataclass(frozen=True)
class Agreement:
    items: int  # pairs of clips judged by two raters or more
    judgements: int  # judgements on those pairs
    percent: float | None  # mean share of agreeing rater pairs per item, 0-100
    fleiss_kappa: float | None
    cohen_kappa: dict[tuple[str, str], float | None]  # (rater, rater) -> kappa over their shared items


def fit_bradley_terry(votes: Iterable[Vote], level: float = 0.95, prior: float = PRIOR) -> list[Ranking]:
    """The Bradley–Terry scores of every entrant in the votes, best first (see the module
    docstring). Votes between an entrant and itself are ignored; no votes give an empty list."""
    if not 0 < level < 1:
        raise ValueError(f"level is a probability in (0, 1) such as 0.95, got {level!r}")
    if prior <= 0:
        raise ValueError(f"prior is a positive precision, got {prior!r}")
    votes = [v for v in votes if v.a != v.b]
    for v in votes:
        if v.choice not in ("a", "b", "tie", "both_bad"):
            raise ValueError(f"a vote's choice is a, b, tie or both_bad, got {v.choice!r}")
    names = sorted({v.a for v in votes} | {v.b for v in votes})
    if not names:
        return []
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    wins = np.zeros((n, n))  # wins[i, j]: how often i was preferred to j (ties: 0.5 each)
    ties, both_bad, counted = Counter(), Counter(), Counter()
    for v in votes:
        i, j = index[v.a], index[v.b]
        if v.choice == "both_bad":
            both_bad[v.a] += 1
            both_bad[v.b] += 1
            continue
        counted[v.a] += 1
        counted[v.b] += 1
        if v.choice == "a":
            wins[i, j] += 1
        elif v.choice == "b":
            wins[j, i] += 1
        else:
            wins[i, j] += 0.5
            wins[j, i] += 0.5
            ties[v.a] += 1
            ties[v.b] += 1
    games = wins + wins.T
    theta = np.zeros(n)
    for _ in range(100):
        p = 1 / (1 + np.exp(-(theta[:, None] - theta[None, :])))
        gradient = (wins - games * p).sum(axis=1) - prior * theta
        weight = games * p * (1 - p)
        information = np.diag(weight.sum(axis=1)) - weight + prior * np.eye(n)
        step = np.linalg.solve(information, gradient)
        theta += step
        if np.abs(step).max() < 1e-10:
            break
    p = 1 / (1 + np.exp(-(theta[:, None] - theta[None, :])))
    weight = games * p * (1 - p)
    information = np.diag(weight.sum(axis=1)) - weight + prior * np.eye(n)
    centre = np.eye(n) - np.full((n, n), 1 / n)
    covariance = centre @ np.linalg.inv(information) @ centre
    z = NormalDist().inv_cdf((1 + level) / 2)
    sd = np.sqrt(np.clip(np.diag(covariance), 0, None))
    theta = theta - theta.mean()
    order = sorted(range(n), key=lambda i: (-theta[i], names[i]))
    return [Ranking(names[i], rank, float(theta[i]), float(theta[i] - z * sd[i]), float(theta[i] + z * sd[i]),
                    counted[names[i]], float(wins[i].sum()), ties[names[i]], both_bad[names[i]])
            for rank, i in enumerate(order, 1)]


def agreement(judgements: Iterable[tuple[str, str, str]]) -> Agreement:
    """Agreement between raters from (item, rater, category) judgements (see the module
    docstring); only items judged by two raters or more count. A rater's repeat on an item
    counts once (the last)."""
    by_item: dict[str, dict[str, str]] = defaultdict(dict)
    for item, rater, category in judgements:
        by_item[item][rater] = category
    shared = {item: raters for item, raters in by_item.items() if len(raters) >= 2}
    if not shared:
        return Agreement(0, 0, None, None, {})
    shares, totals = [], Counter()
    for raters in shared.values():
        counts = Counter(raters.values())
        m = len(raters)
        shares.append(sum(c * (c - 1) for c in counts.values()) / (m * (m - 1)))
        totals.update(counts)
    observed = sum(shares) / len(shares)
    judged = sum(totals.values())
    expected = sum((c / judged) ** 2 for c in totals.values())
    fleiss = None if expected >= 1 else (observed - expected) / (1 - expected)
    cohen = {}
    everyone = sorted({r for raters in shared.values() for r in raters})
    for first, second in combinations(everyone, 2):
        pairs = [(raters[first], raters[second]) for raters in shared.values() if first in raters and second in raters]
        if pairs:
            cohen[(first, second)] = cohen_kappa(pairs)
    return Agreement(len(shared), judged, 100 * observed, fleiss, cohen)


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' categories on the same items; None when chance agreement is 1."""
    if not pairs:
        raise ValueError("Cohen's kappa needs at least one item both raters judged")
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def category(a_id: str, b_id: str, choice: str) -> str:
    """A judgement read whichever clip was shown first: 'first' is the clip with the smaller id."""
    if choice in ("tie", "both_bad"):
        return choice
    chosen = a_id if choice == "a" else b_id
    return "first" if chosen == min(a_id, b_id) else "second"


def entrant(model: str | None, checkpoint: str | None, by: str = "model") -> str:
    """The name a clip is ranked under (see the module docstring)."""
    if by not in ("model", "checkpoint"):
        raise ValueError(f"rank by 'model' or 'checkpoint', not {by!r}")
    if model is None or model == REFERENCE:
        return REFERENCE
    return f"{model} @ {checkpoint}" if by == "checkpoint" and checkpoint else model


def model_rankings(read: Callable, by: str = "model", level: float = 0.95) -> tuple[list[Ranking], Agreement]:
    """The rankings and the raters' agreement from the lake's votes view; ``read(sql)`` runs SQL
    through the read gateway (``lambda sql: run(connect(lake), sql)``, a snapshot's read) and
    returns an Arrow table."""
    rows = read("SELECT a_id, a_model, a_checkpoint, b_id, b_model, b_checkpoint, choice, rater FROM votes "
                "ORDER BY voted_at").to_pylist()
    votes = [Vote(entrant(r["a_model"], r["a_checkpoint"], by), entrant(r["b_model"], r["b_checkpoint"], by),
                  r["choice"]) for r in rows]
    judgements = [("|".join(sorted((r["a_id"], r["b_id"]))), r["rater"], category(r["a_id"], r["b_id"], r["choice"]))
                  for r in rows]
    return fit_bradley_terry(votes, level), agreement(judgements)


# --- the next pair ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """Two clips made for the same prompt, and the entrants that made them."""

    a_id: str
    b_id: str
    a_entrant: str
    b_entrant: str
    prompt: str | None


def choose_pair(candidates: Iterable[Candidate], rankings: list[Ranking], judged: set[tuple[str, str]],
                pair_votes: Counter, rng: random.Random) -> Candidate | None:
    """The most informative pair a rater has not judged, shown in a random order; None when none is left.

    Informative means the outcome is least certain and least voted on: the Bernoulli variance
    p(1 − p) of the current fit's P(a beats b) (entrants without votes score 0), divided by one
    plus the votes already cast between the two entrants. Ties are broken at random."""
    scores = {r.entrant: r.score for r in rankings}
    best, best_value = [], -1.0
    for c in candidates:
        if c.a_entrant == c.b_entrant or pair_key(c.a_id, c.b_id) in judged:
            continue
        p = 1 / (1 + math.exp(-(scores.get(c.a_entrant, 0.0) - scores.get(c.b_entrant, 0.0))))
        value = p * (1 - p) / (1 + pair_votes[frozenset((c.a_entrant, c.b_entrant))])
        if value > best_value + 1e-12:
            best, best_value = [c], value
        elif abs(value - best_value) <= 1e-12:
            best.append(c)
    if not best:
        return None
    chosen = rng.choice(best)
    if rng.random() < 0.5:  # blind: which clip is A is random
        chosen = Candidate(chosen.b_id, chosen.a_id, chosen.b_entrant, chosen.a_entrant, chosen.prompt)
    return chosen
