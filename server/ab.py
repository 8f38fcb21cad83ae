"""A/B listening: the pairs a rater is played, their audio, and the votes (issue 16).

A pair is two clips made for the same prompt by two entrants (jobs.rankings: two models, two
checkpoints of one model, or a model and the reference song its conditioning names). GET
/ab/next picks the pair where the current Bradley–Terry fit is least sure and that has been
voted on least (jobs.rankings.choose_pair), never one the rater voted on or was served, and
puts the two clips in a random order. The server keeps which clip is A under an opaque ticket
(per process, ``PairStore``): the page plays the clips as /ab/pairs/{ticket}/a and .../b, so
it never learns which model made which, and POST /ab/votes sends the ticket and the choice.

Loudness: each clip's gain (dB, never above 0, so nothing clips) brings both to the quieter
one's integrated loudness (BS.1770, udfs.quality): a lake song's figure is its
``loudness_lufs``, a generation's is measured on its audio once and kept with the store.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Literal

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from songlake.jobs.rankings import Candidate, Ranking, Vote, choose_pair, entrant, fit_bradley_terry, model_rankings
from songlake.jobs.generations import audio_bytes
from songlake.schema import Lake, LakeError, lookup
from songlake.schema.votes import AlreadyVoted, pair_key, pairs_judged, write_vote
from songlake.server import media
from songlake.server.auth import caller, require_reader, require_token
from songlake.server.deps import LakeDep, SnapshotDep
from songlake.server.errors import BadRequest, NotFound
from songlake.server.snapshot import Snapshot
from songlake.udfs.audio import UnreadableAudio, decode
from songlake.udfs.quality import integrated_loudness

MAX_TICKETS = 10_000  # pairs served and not yet voted on, per process (the oldest are forgotten)
NO_TICKET = "no such pair for you: it was voted on, or the server restarted; load the next pair"


@dataclass(frozen=True)
class Served:
    rater: str
    pair: Candidate  # a is the clip shown as A
    issued: float


@dataclass
class PairStore:
    """The pairs served, by ticket; and the loudness measured on generations."""

    tickets: OrderedDict = field(default_factory=OrderedDict)
    loudness: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.SystemRandom)

    def issue(self, rater: str, pair: Candidate) -> str:
        ticket = secrets.token_urlsafe(18)
        with self.lock:
            self.tickets[ticket] = Served(rater, pair, time.time())
            while len(self.tickets) > MAX_TICKETS:
                self.tickets.popitem(last=False)
        return ticket

    def get(self, ticket: str, rater: str) -> Served:
        with self.lock:
            served = self.tickets.get(ticket)
        if served is None or served.rater != rater:
            raise NotFound(NO_TICKET)
        return served

    def take(self, ticket: str, rater: str) -> Served:
        """The ticket's pair, the ticket spent at once: of two votes sent on one ticket at the
        same moment, one is written (``give_back`` returns it when the vote could not be)."""
        with self.lock:
            served = self.tickets.get(ticket)
            if served is None or served.rater != rater:
                raise NotFound(NO_TICKET)
            del self.tickets[ticket]
        return served

    def give_back(self, ticket: str, served: Served) -> None:
        with self.lock:
            self.tickets[ticket] = served

    def served_to(self, rater: str) -> set[tuple[str, str]]:
        with self.lock:
            return {pair_key(s.pair.a_id, s.pair.b_id) for s in self.tickets.values() if s.rater == rater}


def store(request: Request) -> PairStore:
    state = request.app.state
    with _STORE_LOCK:
        if "ab_pairs" not in state:
            state["ab_pairs"] = PairStore()
        return state["ab_pairs"]


_STORE_LOCK = threading.Lock()


def candidates(lake: Lake, snapshot: Snapshot) -> list[Candidate]:
    """Every pair of clips made for one prompt by two entrants (by checkpoint), and each
    generation with the reference song its conditioning names (where the lake has it)."""
    rows = snapshot.read("SELECT generation_id, model, checkpoint, prompt, conditioning FROM generations "
                         "WHERE prompt IS NOT NULL ORDER BY prompt, generation_id").to_pylist()
    references = {}
    for row in rows:
        reference = json.loads(row["conditioning"] or "{}").get("reference")
        if reference:
            references[row["generation_id"]] = reference
    known = lookup.present(lake, set(references.values())) if references else set()  # through the key index
    by_prompt: dict[str, list[dict]] = {}
    for row in rows:
        by_prompt.setdefault(row["prompt"], []).append(row)
    pairs = []
    for prompt, clips in by_prompt.items():
        for i, first in enumerate(clips):
            one = entrant(first["model"], first["checkpoint"], "checkpoint")
            if references.get(first["generation_id"]) in known:
                pairs.append(Candidate(first["generation_id"], references[first["generation_id"]], one,
                                       "reference", prompt))
            for second in clips[i + 1:]:
                two = entrant(second["model"], second["checkpoint"], "checkpoint")
                if one != two:
                    pairs.append(Candidate(first["generation_id"], second["generation_id"], one, two, prompt))
    return pairs


def next_pair(lake: Lake, snapshot: Snapshot, pairs: PairStore, rater: str) -> Candidate | None:
    """The most informative pair this rater has neither voted on nor been served."""
    votes = snapshot.read("SELECT a_model, a_checkpoint, b_model, b_checkpoint, choice FROM votes").to_pylist()
    fitted = [Vote(entrant(v["a_model"], v["a_checkpoint"], "checkpoint"),
                   entrant(v["b_model"], v["b_checkpoint"], "checkpoint"), v["choice"]) for v in votes]
    counts = Counter(frozenset((v.a, v.b)) for v in fitted)
    judged = pairs_judged(lake, rater) | pairs.served_to(rater)
    return choose_pair(candidates(lake, snapshot), fit_bradley_terry(fitted), judged, counts, pairs.rng)


def _loudness(lake: Lake, snapshot: Snapshot, pairs: PairStore, clip_id: str, kind: str) -> float | None:
    """The clip's integrated loudness (LUFS) as the lake measured it; a generation added before
    the lake measured generations (schema 12) is measured once here and remembered."""
    if kind == "reference":
        rows = snapshot.read("SELECT loudness_lufs FROM songs WHERE song_id = $1", [clip_id]).to_pylist()
        return rows[0]["loudness_lufs"] if rows else None
    rows = snapshot.read("SELECT loudness_lufs FROM generations WHERE generation_id = $1", [clip_id]).to_pylist()
    if rows and rows[0]["loudness_lufs"] is not None:
        return rows[0]["loudness_lufs"]
    if clip_id not in pairs.loudness:
        data = _generation_bytes(lake, clip_id)
        try:
            audio = decode(data)
            pairs.loudness[clip_id] = integrated_loudness(audio.samples, audio.sample_rate)
        except (UnreadableAudio, ValueError):
            pairs.loudness[clip_id] = None
    return pairs.loudness[clip_id]


def gains(loudness: tuple[float | None, float | None]) -> tuple[float, float]:
    """The gains (dB, at most 0) that bring both clips to the quieter one's loudness; 0 where
    a loudness is unknown (silence, or no figure)."""
    if None in loudness:
        return 0.0, 0.0
    target = min(loudness)
    return round(target - loudness[0], 2), round(target - loudness[1], 2)


def _generation_bytes(lake: Lake, generation_id: str) -> bytes:
    data = audio_bytes(lake, generation_id)
    if data is None:
        raise NotFound(f"no audio of generation {generation_id} at lake version {lake.version()}")
    return data


def generation_audio(lake: Lake, generation_id: str, range_header: str | None) -> Response:
    """A generation's file, whole or one byte range (so players can seek), streamed from its blob."""
    ds = lookup.table_at(lake, "generation_audio")
    rows = lookup.by_key(ds, "generation_id", [generation_id], ["format"], with_row_id=True)
    if rows is None or not rows.num_rows:
        raise NotFound(f"no audio of generation {generation_id} at lake version {lake.version()}")
    row = rows.slice(0, 1).to_pylist()[0]
    return media.stored_file(ds, row["_rowid"], range_header, row["format"])


# --- the API ---------------------------------------------------------------------------------

@dataclass
class VoteBody:
    ticket: str
    choice: Literal["a", "b", "tie", "both_bad"]
    note: str | None = None


class ABController(Controller):
    """A/B listening: pairs to judge, their audio, votes, and the rankings they make."""

    path = "/ab"
    tags = ["a/b listening"]

    @get("/next", guards=[require_token], sync_to_thread=True)
    def next(self, request: Request, lake: LakeDep, snapshot: SnapshotDep) -> dict:
        """The next pair for the caller: {ticket, prompt, a: {audio, gain_db}, b: {...}}, in a
        random order and blind; {ticket: null} when the caller has judged every pair."""
        pairs = store(request)
        rater = caller(request)
        snapshot.refresh()
        pair = next_pair(lake, snapshot, pairs, rater)
        if pair is None:
            return {"ticket": None, "message": "you have judged every pair there is; thank you"}
        loud = (_loudness(lake, snapshot, pairs, pair.a_id, "reference" if pair.a_entrant == "reference" else "gen"),
                _loudness(lake, snapshot, pairs, pair.b_id, "reference" if pair.b_entrant == "reference" else "gen"))
        gain_a, gain_b = gains(loud)
        ticket = pairs.issue(rater, pair)
        return {"ticket": ticket, "prompt": pair.prompt,
                "a": {"audio": f"/ab/pairs/{ticket}/a", "gain_db": gain_a},
                "b": {"audio": f"/ab/pairs/{ticket}/b", "gain_db": gain_b}}

    @get("/pairs/{ticket:str}/{side:str}", guards=[require_token])
    async def audio(self, ticket: str, side: str, request: Request, lake: LakeDep) -> Response:
        """Clip A or B of a pair served to the caller, with Range support."""
        if side not in ("a", "b"):
            raise NotFound("a pair has clips a and b")
        pair = store(request).get(ticket, caller(request)).pair
        clip, reference = (pair.a_id, pair.a_entrant) if side == "a" else (pair.b_id, pair.b_entrant)
        range_header = request.headers.get("range")
        if reference == "reference":
            return await anyio.to_thread.run_sync(media.original_audio, lake, clip, range_header)
        return await anyio.to_thread.run_sync(generation_audio, lake, clip, range_header)

    @post("/votes", guards=[require_token])
    async def vote(self, data: VoteBody, request: Request, lake: LakeDep, snapshot: SnapshotDep) -> dict:
        """The caller's vote on a pair it was served: {ticket, choice: a|b|tie|both_bad, note}.
        Stored with the token's name and the time; the pair is not served to the caller again."""
        pairs = store(request)
        rater = caller(request)
        served = pairs.take(data.ticket, rater)
        pair = served.pair
        try:
            version = await anyio.to_thread.run_sync(
                lambda: write_vote(lake, pair.a_id, pair.b_id, data.choice, rater, prompt=pair.prompt, note=data.note))
        except AlreadyVoted as exc:
            raise BadRequest(str(exc)) from None
        except LakeError as exc:
            pairs.give_back(data.ticket, served)
            raise NotFound(str(exc)) from None
        except ValueError as exc:
            pairs.give_back(data.ticket, served)
            raise BadRequest(str(exc)) from None
        await anyio.to_thread.run_sync(snapshot.refresh)
        return {"version": version, "choice": data.choice, "rater": rater}

    @get("/rankings", guards=[require_reader], sync_to_thread=True)
    def rankings(self, snapshot: SnapshotDep, by: Literal["model", "checkpoint"] = "model",
                 level: Annotated[float, Parameter(gt=0.5, lt=1.0)] = 0.95) -> dict:
        """Bradley–Terry scores per model (or checkpoint) with intervals, and rater agreement."""
        fitted, agreed = model_rankings(snapshot.read, by=by, level=level)
        return {"by": by, "level": level, "version": snapshot.version,
                "rankings": [_ranking(r) for r in fitted],
                "agreement": {"items": agreed.items, "judgements": agreed.judgements, "percent": agreed.percent,
                              "fleiss_kappa": agreed.fleiss_kappa,
                              "cohen_kappa": [{"raters": list(k), "kappa": v} for k, v in agreed.cohen_kappa.items()]}}


def _ranking(r: Ranking) -> dict:
    return {"entrant": r.entrant, "rank": r.rank, "score": r.score, "lower": r.lower, "upper": r.upper,
            "votes": r.votes, "wins": r.wins, "ties": r.ties, "both_bad": r.both_bad}
