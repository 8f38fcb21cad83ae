"""A/B listening through the real app (Litestar's test client) over a real lake: generations
from three entrants for two prompts plus a reference song, pairs served blind and
loudness-matched, votes stored with the rater, no pair served twice, rankings from the votes.
The browser test that plays a pair and votes is in test_browser.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from litestar.testing import TestClient

from songlake.jobs.generations import Generation, add
from songlake.schema import connect, run
from songlake.schema.lake import Lake
from songlake.server import ServerSettings, create_app
from songlake.server.auth import TokenStore

RATE = 22050


def tone(freq: float, amplitude: float, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# prompt -> (model, checkpoint, frequency, amplitude); 'quiet' is 20 dB below the others
CLIPS = {
    "calm piano": [("m1", "s1", 220.0, 0.5), ("m1", "s2", 330.0, 0.5), ("m2", None, 440.0, 0.05)],
    "fast drums": [("m1", "s1", 550.0, 0.5), ("m2", None, 660.0, 0.5)],
}


@pytest.fixture(scope="module")
def made(lake_copy):
    """{generation_id: (model, checkpoint, prompt, audio bytes)}, and the reference song's id."""
    lake = Lake.open(lake_copy)
    reference = run(connect(lake), "SELECT song_id FROM songs ORDER BY song_id LIMIT 1").column(0)[0].as_py()
    generations = [Generation.from_samples(tone(freq, amp), RATE, model, checkpoint=checkpoint, prompt=prompt,
                                           conditioning={"reference": reference} if prompt == "calm piano" else {})
                   for prompt, clips in CLIPS.items() for model, checkpoint, freq, amp in clips]
    added = add(lake, generations)
    assert len(added.added) == 5
    return {gid: (g.model, g.checkpoint, g.prompt, g.audio) for gid, g in zip(added.added, generations)}, reference


@pytest.fixture(scope="module")
def client(lake_copy, made):
    with TestClient(create_app(lake_copy, settings=ServerSettings(snapshot_interval=0.2))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def raters(lake_copy) -> dict[str, dict]:
    store = TokenStore(lake_copy)
    return {name: {"Authorization": f"Bearer {store.create(name)}"} for name in ("ana", "ben")}


# pairs a rater can be served: calm piano has 3 generation pairs and 3 with the reference,
# fast drums one generation pair
EXPECTED_PAIRS = 7


def votes(lake_copy) -> list[dict]:
    return run(connect(Lake.open(lake_copy)), "SELECT * FROM votes ORDER BY voted_at").to_pylist()


def test_the_page_asks_for_a_token_then_has_the_players(client, raters):
    page = client.get("/ui/ab")
    assert page.status_code == 200 and 'id="ab-signin"' in page.text and 'id="ab-audio-a"' not in page.text
    client.cookies.set("songlake_token", raters["ana"]["Authorization"][7:])
    try:
        page = client.get("/ui/ab").text
    finally:
        client.cookies.clear()
    for element in ('id="ab-audio-a"', 'id="ab-audio-b"', 'id="ab-play"', 'id="ab-seek"', 'value="both_bad"',
                    'id="ab-note"', "/static/ab.js"):
        assert element in page
    assert client.get("/static/ab.js").status_code == 200


def test_pairs_and_votes_need_a_token(client):
    assert client.get("/ab/next").status_code == 401
    assert client.post("/ab/votes", json={"ticket": "x", "choice": "a"}).status_code == 401


def test_a_pair_is_blind_loudness_matched_and_served_from_the_lake(client, raters, made):
    generations, reference = made
    pair = client.get("/ab/next", headers=raters["ben"]).json()
    text = json.dumps(pair)
    for gid, (model, checkpoint, _, _) in generations.items():
        assert gid not in text and f'"{model}"' not in text  # nothing names a clip or its model
    assert reference not in text
    assert pair["prompt"] in CLIPS
    served = client.app.state["ab_pairs"].tickets[pair["ticket"]].pair
    for side in ("a", "b"):
        answer = client.get(pair[side]["audio"], headers=raters["ben"])
        assert answer.status_code == 200
        clip = served.a_id if side == "a" else served.b_id
        if clip in generations:
            assert answer.content == generations[clip][3]
        else:
            assert clip == reference and answer.headers["content-type"] == "audio/mpeg"
    part = client.get(pair["a"]["audio"], headers={**raters["ben"], "Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert client.get(pair["a"]["audio"], headers=raters["ana"]).status_code == 404  # another rater's pair
    assert max(pair["a"]["gain_db"], pair["b"]["gain_db"]) <= 0


def test_gains_bring_a_loud_clip_to_the_quiet_ones_loudness(client, made, lake_copy):
    from songlake.server.ab import PairStore, _loudness, gains
    from songlake.server.snapshot import Snapshot

    generations, _ = made
    by_freq = {}
    for gid, (model, checkpoint, prompt, _) in generations.items():
        for m, c, freq, amp in CLIPS[prompt]:
            if (m, c) == (model, checkpoint):
                by_freq[freq] = gid
    lake = Lake.open(lake_copy)
    snapshot = Snapshot(lake)
    snapshot.refresh()
    store = PairStore()
    loud = _loudness(lake, snapshot, store, by_freq[330.0], "gen")
    quiet = _loudness(lake, snapshot, store, by_freq[440.0], "gen")
    assert loud - quiet == pytest.approx(20.0, abs=0.5)  # amplitudes 0.5 and 0.05
    gain_loud, gain_quiet = gains((loud, quiet))
    assert gain_loud == pytest.approx(-20.0, abs=0.5) and gain_quiet == 0.0
    assert gains((None, quiet)) == (0.0, 0.0)


def test_a_rater_votes_through_every_pair_once_and_the_server_records_which_was_a(client, raters, lake_copy, made):
    generations, reference = made
    choices = ["a", "b", "tie", "both_bad"]
    seen, served_order = set(), []
    for i in range(EXPECTED_PAIRS + 2):
        pair = client.get("/ab/next", headers=raters["ana"]).json()
        if pair["ticket"] is None:
            break
        served = client.app.state["ab_pairs"].tickets[pair["ticket"]].pair
        key = frozenset((served.a_id, served.b_id))
        assert key not in seen  # never the same pair twice
        seen.add(key)
        served_order.append((served.a_id, served.b_id))
        answer = client.post("/ab/votes", headers=raters["ana"],
                             json={"ticket": pair["ticket"], "choice": choices[i % 4], "note": f"pair {i}"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["rater"] == "ana"
        again = client.post("/ab/votes", headers=raters["ana"], json={"ticket": pair["ticket"], "choice": "a"})
        assert again.status_code == 404  # a ticket is spent by its vote
    assert len(seen) == EXPECTED_PAIRS
    stored = [v for v in votes(lake_copy) if v["rater"] == "ana"]
    assert [(v["a_id"], v["b_id"]) for v in stored] == served_order  # A and B as they were shown
    assert [v["choice"] for v in stored] == [choices[i % 4] for i in range(EXPECTED_PAIRS)]
    assert [v["note"] for v in stored] == [f"pair {i}" for i in range(EXPECTED_PAIRS)]
    assert sum(v["b_kind"] == "song" or v["a_kind"] == "song" for v in stored) == 3
    for v in stored:
        a_prompt = generations[v["a_id"]][2] if v["a_id"] in generations else None
        assert v["prompt"] == (a_prompt or generations[v["b_id"]][2])


def test_a_bad_choice_is_refused(client, raters):
    pair = client.get("/ab/next", headers=raters["ben"]).json()
    assert pair["ticket"] is not None
    answer = client.post("/ab/votes", headers=raters["ben"], json={"ticket": pair["ticket"], "choice": "A"})
    assert answer.status_code == 400


def test_rankings_come_from_the_votes(client, raters):
    answer = client.get("/ab/rankings", params={"by": "checkpoint"})
    assert answer.status_code == 200
    body = answer.json()
    entrants = {r["entrant"] for r in body["rankings"]}
    assert entrants == {"m1 @ s1", "m1 @ s2", "m2", "reference"}
    for r in body["rankings"]:
        assert r["lower"] <= r["score"] <= r["upper"] and r["votes"] + r["both_bad"] >= 1
    by_model = client.get("/ab/rankings").json()
    assert {r["entrant"] for r in by_model["rankings"]} == {"m1", "m2", "reference"}


def test_the_endpoints_are_in_the_openapi_schema_with_typed_bodies(client):
    schema = client.get("/schema/openapi.json").json()
    for path in ("/ab/next", "/ab/votes", "/ab/rankings", "/ab/pairs/{ticket}/{side}"):
        assert path in schema["paths"], path
    body = json.dumps(schema["paths"]["/ab/votes"]["post"]["requestBody"])
    components = json.dumps(schema.get("components", {}))
    assert "both_bad" in body + components and "ticket" in body + components


def test_a_ticket_is_spent_by_the_first_vote_that_takes_it():
    """Of two votes sent on one ticket at the same moment only one may be written: the first
    takes the ticket, the second finds it gone; a vote that could not be written gives it back."""
    from songlake.jobs.rankings import Candidate
    from songlake.server.ab import PairStore
    from songlake.server.errors import NotFound

    pairs = PairStore()
    ticket = pairs.issue("ann", Candidate("g1", "g2", "m1", "m2", "a prompt"))
    with pytest.raises(NotFound):
        pairs.take(ticket, "bob")  # not bob's
    served = pairs.take(ticket, "ann")
    with pytest.raises(NotFound):
        pairs.take(ticket, "ann")
    pairs.give_back(ticket, served)
    assert pairs.take(ticket, "ann").pair.b_id == "g2"
