"""Reviewing duplicates through the real app (Litestar's test client) over a real lake: the three
served songs joined by duplicate pairs (written the way jobs/duplicates.py writes them), listed
with kind, score and offset, the least reviewed first; a choice is a label with who and when,
and a drop deletes nothing. The browser test that plays a pair on one clock is in test_browser.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from litestar.testing import TestClient

from songlake.schema import BatchWriter, connect, run
from songlake.schema.lake import Lake
from songlake.server import ServerSettings, create_app

FOUND = datetime(2026, 12, 1, tzinfo=timezone.utc)


def add_pairs(lake_dir) -> list[str]:
    """Two pairs over the lake's first three songs: (1, 2) an edit 1.5 s in, found later, and
    (1, 3) a re-encode; the song ids in order."""
    lake = Lake.open(lake_dir)
    ids = run(connect(lake), "SELECT song_id FROM songs ORDER BY song_id").column("song_id").to_pylist()[:3]
    writer = BatchWriter(lake)
    writer.add("duplicate_pairs", {"song_a": ids[0], "song_b": ids[1], "kind": "edit", "score": 0.81,
                                   "offset_seconds": 1.5, "shared_seconds": 5.0, "speed": 1.0,
                                   "method": "fingerprint", "found_at": FOUND + timedelta(minutes=5)})
    writer.add("duplicate_pairs", {"song_a": ids[0], "song_b": ids[2], "kind": "same_audio", "score": 0.93,
                                   "offset_seconds": 0.0, "shared_seconds": 7.0, "speed": 1.0,
                                   "method": "fingerprint", "found_at": FOUND})
    writer.commit("test", "duplicate pairs")
    return ids


@pytest.fixture(scope="module")
def ids(lake_copy) -> list[str]:
    return add_pairs(lake_copy)


@pytest.fixture(scope="module")
def client(lake_copy, ids):
    with TestClient(create_app(lake_copy, settings=ServerSettings(snapshot_interval=0.2))) as test_client:
        yield test_client


def test_the_api_lists_the_pairs_with_their_offset(client, ids):
    body = client.get("/duplicates", params={"order": "newest"}).json()
    assert body["total"] == 2
    pairs = [(p["song_a"], p["song_b"], p["kind"], p["offset_seconds"], p["shared_seconds"]) for p in body["pairs"]]
    assert pairs == [(ids[0], ids[1], "edit", 1.5, 5.0), (ids[0], ids[2], "same_audio", 0.0, 7.0)]
    first = body["pairs"][0]
    assert first["a"]["audio"] == f"/songs/{ids[0]}/audio" and first["group"] == ids[0] and first["group_size"] == 3
    assert not (first["a"]["is_preferred"] and first["b"]["is_preferred"])  # one preferred copy per group
    assert first["why_preferred"]
    one = client.get(f"/duplicates/{ids[1]}/{ids[0]}").json()  # either order
    assert (one["song_a"], one["offset_seconds"]) == (ids[0], 1.5)
    assert client.get(f"/duplicates/{ids[1]}/{ids[2]}").status_code == 404  # not a pair
    assert client.get("/duplicates", params={"page_size": 1, "page": 2}).json()["pairs"][0]["song_b"] in ids[1:]
    far = client.get("/duplicates", params={"page_size": 500, "page": 10**15})  # an OFFSET past DuckDB's range
    assert far.status_code == 400 and "page" in far.text


def test_the_pages_show_the_pairs_and_a_pair_on_one_clock(client, ids, token):
    page = client.get("/ui/duplicates").text
    assert 'href="/ui/duplicates"' in page  # the nav link
    assert f'href="/ui/duplicates/{ids[0]}/{ids[1]}"' in page and f'href="/ui/duplicates/{ids[0]}/{ids[2]}"' in page
    assert "+1.50" in page and "edit" in page and "same_audio" in page
    review = client.get(f"/ui/duplicates/{ids[0]}/{ids[1]}").text
    assert 'data-offset="1.5"' in review and f'data-audio-b="/songs/{ids[1]}/audio"' in review
    assert 'id="dup-signin"' in review and 'id="dup-drop-a"' not in review  # no token: no buttons
    client.cookies.set("songlake_token", token)
    try:
        review = client.get(f"/ui/duplicates/{ids[0]}/{ids[1]}").text
    finally:
        client.cookies.clear()
    for element in ('id="dup-drop-a"', 'id="dup-keep-b"', 'id="dup-preferred-b"', "/static/clock.js",
                    "/static/duplicates.js"):
        assert element in review
    assert client.get("/static/duplicates.js").status_code == 200
    assert client.get("/ui/duplicates/nope/nothing").status_code == 404


def test_a_drop_is_a_label_with_who_and_when_and_deletes_nothing(client, ids, token, lake_copy):
    before = run(connect(Lake.open(lake_copy)), "SELECT count(*) AS n FROM songs").column("n")[0].as_py()
    label = {"labels": {"duplicate_choice": "drop"}, "note": "the edit"}
    assert client.patch(f"/songs/{ids[1]}/labels", json=label).status_code == 401  # a token is needed
    started = datetime.now(timezone.utc)
    answer = client.patch(f"/songs/{ids[1]}/labels", json=label, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    con = connect(Lake.open(lake_copy))
    stored = run(con, "SELECT value, author, note, labeled_at FROM label_history "
                      "WHERE song_id = $1 AND field = 'duplicate_choice'", params=[ids[1]]).to_pylist()
    assert len(stored) == 1 and stored[0]["author"] == "curator" and stored[0]["note"] == "the edit"
    assert "drop" in str(stored[0]["value"])
    assert stored[0]["labeled_at"] >= started - timedelta(seconds=5)
    assert run(con, "SELECT count(*) AS n FROM songs").column("n")[0].as_py() == before  # nothing deleted
    assert run(con, "SELECT count(*) AS n FROM duplicates").column("n")[0].as_py() == 2
    for _ in range(50):  # the snapshot follows the lake
        pair = client.get(f"/duplicates/{ids[0]}/{ids[1]}").json()
        if pair["b"]["choice"] == "drop":
            break
    assert pair["b"]["choice"] == "drop" and pair["choices"] == 1
    assert not pair["b"]["is_preferred"]
    listed = client.get("/duplicates").json()["pairs"]  # least reviewed first: the untouched pair
    assert (listed[0]["song_b"], listed[0]["choices"]) == (ids[2], 0)
    assert client.get(f"/ui/duplicates/{ids[0]}/{ids[1]}").text.count(">drop<") >= 1
