"""The web UI's pages through Litestar's test client, over the real app and a real lake.

What a browser would get: status, redirects, the login cookie's flags, the rendered content
(the library's filters and sorting, the song page's players and data, the dashboard's charts),
and that nothing a user wrote reaches the page unescaped. The chromium tests that click
through the pages are in test_browser.py.
"""

from __future__ import annotations

import html as html_text
import json
import os
import re
import shutil

import pytest
from litestar.testing import TestClient

from songlake.schema.lake import Lake
from songlake.schema.report import record_training_throughput
from songlake.server import ServerSettings, create_app
from songlake.server.auth import TokenStore

SCALES = ("1K songs", "10K songs", "100K songs")
_BYTES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}
_SECONDS = {"s": 1, "min": 60, "h": 3600, "days": 86400}


@pytest.fixture(scope="module")
def client(lake_copy, token):
    with TestClient(create_app(lake_copy, settings=ServerSettings(snapshot_interval=0.2))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def songs(client) -> list[dict]:
    """The lake's songs (id, bpm, key), slowest first."""
    return client.get("/songs", params={"sort": "bpm", "limit": 100}).json()["songs"]


def rows_of(html: str) -> list[str]:
    """The song ids of the library table's rows, in order."""
    return re.findall(r'<a href="/ui/songs/([0-9a-f]+)" class="song-link">', html)


def test_root_redirects_to_the_library(client):
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code in (301, 302, 303, 307, 308)
    assert answer.headers["location"] == "/ui"


def test_library_lists_sorts_and_filters(client, songs):
    page = client.get("/ui")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert set(rows_of(page.text)) == {s["song_id"] for s in songs}

    by_bpm = [s["song_id"] for s in songs]
    assert rows_of(client.get("/ui", params={"sort": "bpm"}).text) == by_bpm
    descending = client.get("/ui", params={"sort": "bpm", "order": "desc"}).text
    assert rows_of(descending) == by_bpm[::-1]
    # the sorted header flips the order on the next click
    assert 'href="/ui?sort=bpm"' in descending

    slowest = songs[0]
    one = client.get("/ui", params={"bpm_max": slowest["bpm"] + 0.01}).text
    assert rows_of(one) == [slowest["song_id"]]
    assert rows_of(client.get("/ui", params={"key": slowest["key"], "bpm_min": slowest["bpm"] - 0.01}).text)[0] == slowest["song_id"]
    assert rows_of(client.get("/ui", params={"q": "no such words anywhere"}).text) == []
    assert set(rows_of(client.get("/ui", params={"stems": "done"}).text)) == set(by_bpm)
    assert rows_of(client.get("/ui", params={"stems": "failed"}).text) == []
    # an unknown sort column falls back to the default view instead of reaching SQL
    assert client.get("/ui", params={"sort": "bpm; DROP TABLE songs"}).status_code == 200


def test_song_page_has_players_timelines_and_similar_songs(client, songs):
    song = songs[1]
    page = client.get(f"/ui/songs/{song['song_id']}")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="stem-audio"') == 4 and 'id="audio-mix"' in html
    for stem in ("vocals", "drums", "bass", "other"):
        assert f'src="/songs/{song["song_id"]}/stems/{stem}"' in html
    data = json.loads(re.search(r'<script type="application/json" id="song-data">(.*?)</script>', html, re.DOTALL).group(1))
    assert data["song_id"] == song["song_id"] and data["stems_ready"] is True
    assert len(data["beats"]) > 4 and set(data["downbeats"]) <= set(data["beats"])
    assert data["urls"]["waveform"] == f"/songs/{song['song_id']}/waveform"
    assert 'id="chord-timeline"' in html and 'id="section-timeline"' in html
    assert song["key"] in html
    linked = set(re.findall(r'<a href="/ui/songs/([0-9a-f]+)" class="similar-link">', html))
    assert linked == {s["song_id"] for s in songs} - {song["song_id"]}
    # the API the page's script calls is there
    assert client.get(data["urls"]["waveform"]).status_code == 200


def test_missing_song_is_an_html_404(client):
    page = client.get("/ui/songs/0123456789abcdef")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "no song 0123456789abcdef" in page.text


def test_dashboard_draws_the_report(client):
    page = client.get("/ui/dashboard")
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") >= 3
    assert re.search(r"<strong>3</strong> songs", html)
    for genre in ("pop", "rock", "hip-hop", "jazz", "electronic", "other"):
        assert f'class="label">{genre}</text>' in html
    assert "bitrate &gt;= 320 kbps" in html
    assert 'id="training-approach">not enough songs<' in html


def estimates_of(html: str) -> dict[str, dict]:
    """The dashboard's estimates table: {row name: {cells, source}} and its header."""
    table = re.search(r'<table class="estimates" id="estimates">(.*?)</table>', html, re.DOTALL).group(1)
    rows = {"header": re.findall(r'<th class="num">(.*?)</th>', table)}
    for name, body in re.findall(r'<tr class="[\w-]+" data-estimate="(\w+)">(.*?)</tr>', table, re.DOTALL):
        rows[name] = {"cells": re.findall(r'<td class="num"[^>]*>(.*?)</td>', body),
                      "source": html_text.unescape(re.search(r'<td class="source">(.*?)</td>', body, re.DOTALL).group(1))}
    return rows


def figure(text: str, units: dict[str, float]) -> float:
    number, unit = text.split(" ")
    return float(number.replace(",", "")) * units[unit]


def test_dashboard_estimates_are_a_table_by_collection_size(client, lake_copy):
    html = client.get("/ui/dashboard").text
    # not the nested dump of the report's keys it once was
    assert "measured</dt>" not in html and "seconds per audio hour</dt>" not in html
    table = estimates_of(html)
    assert table["header"] == list(SCALES)
    assert set(table) == {"header", "storage", "processing", "training"}

    # storage: the lake folder's bytes per song (measured here, apart from the report) times 1K, 10K, 100K
    folder = sum(os.lstat(os.path.join(d, f)).st_size for d, _, names in os.walk(lake_copy) for f in names)
    storage = [figure(cell, _BYTES) for cell in table["storage"]["cells"]]
    assert len(storage) == 3
    assert storage[0] == pytest.approx(1000 * folder / 3, rel=0.1)
    assert storage[1] == pytest.approx(10 * storage[0], rel=0.02) and storage[2] == pytest.approx(100 * storage[0], rel=0.02)
    assert "for 3 songs" in table["storage"]["source"]

    # processing: timed stages of this lake, scaled; what was and was not timed is named
    hours = [figure(cell, _SECONDS) for cell in table["processing"]["cells"]]
    assert len(hours) == 3 and hours[0] > 0
    assert hours[1] == pytest.approx(10 * hours[0], rel=0.06) and hours[2] == pytest.approx(100 * hours[0], rel=0.06)
    source = table["processing"]["source"]
    stages = dict(re.findall(r'data-stage="(\w+)">\s*<th>\w+</th><td class="num">(.*?)</td>', html))
    assert {"ingest", "separate", "analyze", "embed", "genre"} <= set(stages)
    assert stages["genre"] == "not measured" and figure(stages["analyze"], _SECONDS) > 0
    assert "analyze (3 runs in stage_runs)" in source
    left_out = source.split("not counted, having no measured time (by stage, below): ")[1].split(", ")
    assert set(left_out) == {name for name, cell in stages.items() if cell == "not measured"} >= {"genre"}

    # training: this lake has no recorded throughput, and the row says so and how to get one
    assert table["training"]["cells"] == ["not measured"]
    assert "songlake train" in table["training"]["source"]


def test_dashboard_training_cost_comes_from_a_recorded_throughput(client, lake_copy, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(lake_copy, lake)
    record_training_throughput(Lake.open(lake), audio_seconds=3600.0, gpu_seconds=60.0, gpu="H200")  # 60x real time
    durations = [s["duration"] for s in client.get("/songs", params={"limit": 100}).json()["songs"]]
    with TestClient(create_app(lake, settings=ServerSettings(snapshot_interval=0.2), workers=0)) as other:
        training = estimates_of(other.get("/ui/dashboard").text)["training"]
    mean_seconds = sum(durations) / len(durations)
    for cell, songs in zip(training["cells"], (1_000, 10_000, 100_000), strict=True):
        assert figure(cell, _SECONDS) == pytest.approx(songs * mean_seconds / 60.0, rel=0.06)
    assert "60 s of audio per GPU second (gpu H200)" in training["source"]


def test_annotation_queue_and_upload_pages(client, songs):
    queue = client.get("/ui/annotate")
    assert queue.status_code == 200
    assert {s["song_id"] for s in songs} <= set(re.findall(r'<tr data-song="([0-9a-f]+)"', queue.text))
    assert "missing license" in queue.text
    upload = client.get("/ui/upload")
    assert upload.status_code == 200 and 'type="file"' in upload.text and "multiple" in upload.text


def test_static_files_are_served(client):
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "initPlayers" in script.text
    assert client.get("/static/app.css").status_code == 200


def test_login_sets_a_strict_httponly_cookie(client, token):
    bad = client.post("/ui/login", data={"token": "sl_wrong", "next": "/ui"}, follow_redirects=False)
    assert bad.status_code == 401 and "not valid" in bad.text
    good = client.post("/ui/login", data={"token": token, "next": "/ui/annotate"}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/ui/annotate"
    cookie = good.headers["set-cookie"]
    assert cookie.startswith(f"songlake_token={token}")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    # an off-site target is not followed
    away = client.post("/ui/login", data={"token": token, "next": "//evil.example/"}, follow_redirects=False)
    assert away.headers["location"] == "/ui"
    client.cookies.set("songlake_token", token)
    try:
        assert "signed in as <strong id=\"user-name\">curator</strong>" in client.get("/ui").text
    finally:
        client.cookies.clear()


def test_labels_written_by_the_ui_show_escaped(client, songs, token):
    song_id = songs[0]["song_id"]
    answer = client.patch(f"/songs/{song_id}/labels", json={"labels": {"title": "<b>Bold</b> & co", "key": "A minor"}},
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    page = client.get(f"/ui/songs/{song_id}").text
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in page and "<b>Bold</b>" not in page
    assert "A minor (1.00)" in page
    assert '<label class="labelled"><span>Key <small>(human label)</small></span>' in page


def test_reads_behind_a_token_send_the_browser_to_login(lake_copy, token):
    settings = ServerSettings(reads="token", snapshot_interval=0.2)
    with TestClient(create_app(lake_copy, settings=settings, workers=0)) as locked:
        answer = locked.get("/ui/dashboard", follow_redirects=False)
        assert answer.status_code in (302, 303, 307) and answer.headers["location"] == "/ui/login?next=/ui/dashboard"
        assert locked.get("/ui/login").status_code == 200
        locked.cookies.set("songlake_token", token)
        assert locked.get("/ui/dashboard").status_code == 200


def test_library_filter_pages_and_links():
    from songlake.server._ui_library import PAGE_SIZE, LibraryFilter

    view = LibraryFilter(q="  Blue ", genre="jazz", bpm_min=90, sort="bpm", order="desc", page=3)
    sql, params = view.page_query()
    assert f"ORDER BY bpm DESC NULLS LAST, song_id LIMIT {PAGE_SIZE} OFFSET {2 * PAGE_SIZE}" in sql
    assert params == ["blue", "jazz", 90.0] and "blue" not in sql  # values travel as parameters
    assert view.url(page=4) == "/ui?q=Blue&genre=jazz&bpm_min=90&sort=bpm&order=desc&page=4"
    assert view.header_url("bpm").endswith("sort=bpm")  # flips desc -> asc (the default order)
    assert LibraryFilter(sort="title; DROP TABLE songs", order="sideways", page=-2).url() == "/ui"
