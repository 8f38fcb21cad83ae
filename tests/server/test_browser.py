"""The web UI in a real browser: `songlake serve` in a subprocess, Debian's chromium driven by
Playwright, over a lake of real songs (stems from Demucs' tiny test model).

Each test does what a curator does: run a query in the SQL box, play a stem, open a similar song,
sign in and fix a label, upload a file and watch it being analysed. Every page is saved as a
screenshot under tests/artifacts/screenshots/ (git-ignored) to look at after a run.

Select or skip these with the `browser` marker (`pytest -m browser`, `-m "not browser"`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _songlake(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "songlake.cli", *args], start_new_session=True,
                            env={**os.environ, "SONGLAKE_DEMUCS_MODEL": "demucs_unittest"}, **kwargs)


@pytest.fixture(scope="module")
def lake_dir(served_lake, tmp_path_factory) -> Path:
    """A copy of the served lake that the browser's uploads and labels may change."""
    target = tmp_path_factory.mktemp("browser") / "lake"
    shutil.copytree(served_lake, target)
    return target


@pytest.fixture(scope="module")
def token(lake_dir) -> str:
    """A token made the way a user makes one: `songlake token create NAME`."""
    made = _songlake("token", "create", "browser-curator", "--lake", str(lake_dir),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = made.communicate(timeout=60)
    assert made.returncode == 0, err
    return re.search(r"sl_\S+", out).group(0)


@pytest.fixture(scope="module")
def server(lake_dir, token, tmp_path_factory) -> str:
    """`songlake serve` on a free port with one pipeline worker; its base URL."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
    process = _songlake("serve", "--lake", str(lake_dir), "--port", str(port), "--workers", "1",
                        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(base + "/health", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail(f"songlake serve did not start: {Path(log.name).read_text()[-3000:]}")
            time.sleep(0.3)
    yield base
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; `bash scripts/setup.sh --test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                          args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def page(browser, server):
    """A fresh browser tab (its own cookies); script errors on the page fail the test."""
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, token: str) -> None:
    page.goto("/ui/login?next=/ui")
    shot(page, "login")
    page.fill("#token", token)
    page.click("#login-submit")
    page.wait_for_url("**/ui")
    assert page.text_content("#user-name") == "browser-curator"


def song_ids(page) -> list[str]:
    return [href.rsplit("/", 1)[-1] for href in page.eval_on_selector_all(
        "#songs-table a.song-link", "links => links.map(a => a.getAttribute('href'))")]


def test_sql_box_replaces_the_table(page):
    page.goto("/ui")
    assert len(song_ids(page)) >= 3
    shot(page, "library")
    page.click("#sql-panel summary")
    page.fill("#sql-text", "SELECT song_id, bpm, key FROM songs ORDER BY bpm DESC LIMIT 2")
    page.click("#sql-run")
    page.wait_for_function("document.querySelector('#songs-table').classList.contains('sql-result')")
    headers = page.eval_on_selector_all("#songs-table thead th", "ths => ths.map(th => th.textContent)")
    assert headers == ["song_id", "bpm", "key"]
    assert page.locator("#songs-table tbody tr").count() == 2
    assert "2 rows" in page.text_content("#sql-status")
    assert page.is_hidden("#pager")
    shot(page, "library-sql")
    # a refused statement is shown, not swallowed
    page.fill("#sql-text", "COPY songs TO 'out.csv'")
    page.keyboard.press("Control+Enter")  # the textarea's shortcut runs it too
    page.wait_for_selector("#sql-error:not([hidden])")
    assert page.text_content("#sql-error").strip()


def test_a_stem_plays_in_sync(page):
    page.goto("/ui")
    page.click("#songs-table a.song-link >> nth=0")
    page.wait_for_selector("#waveform[data-ready='true']")
    shot(page, "song")
    page.click("button.solo[data-stem='drums']")
    page.click("#play")
    page.wait_for_function(
        "(() => { const a = document.querySelector(\"audio[data-stem='drums']\");"
        " return a.currentTime > 0.5 && a.readyState >= 2; })()", timeout=20_000)
    state = page.evaluate("""() => Array.from(document.querySelectorAll('audio.stem-audio')).map(a =>
        ({stem: a.dataset.stem, t: a.currentTime, muted: a.muted, paused: a.paused}))""")
    drums = next(s for s in state if s["stem"] == "drums")
    assert not drums["muted"] and not drums["paused"]
    for other in state:
        assert not other["paused"], other  # every stem runs on the one clock ...
        assert abs(other["t"] - drums["t"]) < 0.3, state
        assert other["muted"] == (other["stem"] != "drums")  # ... and solo only silences the rest
    assert page.evaluate("document.getElementById('audio-mix').paused")
    page.click("#play")
    assert page.evaluate("Array.from(document.querySelectorAll('audio')).every(a => a.paused)")


def test_similar_song_opens_from_a_song_page(page):
    page.goto("/ui")
    first = song_ids(page)[0]
    page.goto(f"/ui/songs/{first}")
    link = page.locator("a.similar-link").first
    target = link.get_attribute("href")
    assert target != f"/ui/songs/{first}"
    link.click()
    page.wait_for_url(f"**{target}")
    assert page.locator("#song-title").count() == 1
    assert page.locator(f"a.similar-link[href='/ui/songs/{first}']").count() == 1  # and back again


def test_fix_a_label_after_signing_in(page, token):
    page.goto("/ui")
    song_id = song_ids(page)[0]
    page.goto(f"/ui/songs/{song_id}")
    page.fill("#label-form input[name='key']", "A minor")
    page.click("#label-save")
    page.wait_for_selector("#label-status.error")
    assert "sign in" in page.text_content("#label-status")  # no token yet: refused

    sign_in(page, token)
    page.goto(f"/ui/songs/{song_id}")
    page.fill("#label-form input[name='key']", "A minor")
    page.fill("#label-form input[name='note']", "heard it")
    page.click("#label-save")
    page.wait_for_selector("#label-status.ok")
    page.reload()
    assert page.input_value("#label-form input[name='key']") == "A minor"
    assert "A minor (1.00)" in page.text_content("#theory")
    shot(page, "song-labelled")

    page.goto("/ui/annotate")
    shot(page, "annotate")
    row = page.locator("#queue tr[data-song]").first
    row.locator("input[name='year']").fill("1999")
    row.locator("button.fix").click()
    page.wait_for_selector("#queue tr.fixed")
    assert "saved" in row.locator(".status").text_content()


def test_dashboard_estimates_read_as_a_table(page):
    page.goto("/ui/dashboard")
    table = page.locator("#estimates")
    assert table.is_visible()
    headers = page.eval_on_selector_all("#estimates thead th", "ths => ths.map(th => th.textContent.trim())")
    assert headers == ["", "1K songs", "10K songs", "100K songs", "measured from"]
    rows = page.eval_on_selector_all("#estimates tbody tr", """trs => trs.map(tr => ({
        name: tr.dataset.estimate, cells: Array.from(tr.querySelectorAll('td.num')).map(td => td.innerText.trim()),
        source: tr.querySelector('td.source').innerText.trim()}))""")
    assert [r["name"] for r in rows] == ["storage", "processing", "training"]
    storage, processing, training = rows
    assert len(storage["cells"]) == 3 and all(re.fullmatch(r"[\d.,]+ (KB|MB|GB|TB)", c) for c in storage["cells"])
    assert len(processing["cells"]) == 3 and all(re.fullmatch(r"[\d.,]+ (s|min|h|days)", c) for c in processing["cells"])
    assert training["cells"] == ["not measured"] and "songlake train" in training["source"]
    assert "for 3 songs" in storage["source"] and "stage_runs" in processing["source"]
    # the table fits its panel: nothing runs off to the right at a laptop's width
    fits = page.evaluate("""() => { const t = document.getElementById('estimates');
        return t.getBoundingClientRect().right <= t.closest('section').getBoundingClientRect().right + 1; }""")
    assert fits
    assert page.locator("#stage-estimates tr[data-stage='genre'] td.num").inner_text() == "not measured"
    table.scroll_into_view_if_needed()
    shot(page, "dashboard-estimates")


def test_upload_is_analysed(page, token, new_songs, tmp_path):
    sign_in(page, token)
    page.goto("/ui")
    before = set(song_ids(page))
    [path] = new_songs(tmp_path / "upload", 1, seed=7)
    page.goto("/ui/upload")
    page.set_input_files("#files", str(path))
    page.click("#upload-start")
    page.wait_for_selector("tr.upload-row progress")
    page.wait_for_selector("tr.upload-row[data-state]", timeout=240_000)
    row = page.locator("tr.upload-row").first
    assert row.get_attribute("data-state") == "done", row.text_content()
    assert page.evaluate("document.querySelector('tr.upload-row progress').value") == 100
    shot(page, "upload")
    row.locator("a.song-link").click()
    page.wait_for_selector("#waveform[data-ready='true']")
    page.goto("/ui")
    after = set(song_ids(page))
    assert len(after - before) == 1

    page.goto("/ui/dashboard")
    assert page.locator("svg.chart").count() >= 3
    shot(page, "dashboard")


def test_ab_listening_plays_a_pair_on_one_clock_and_stores_the_vote(page, token, lake_dir):
    """Three models' clips for one prompt: the page plays a pair, switching A/B keeps the position,
    the vote is stored with the rater, and the next pair is another one."""
    import hashlib

    import numpy as np

    from songlake.jobs.generations import Generation, add
    from songlake.schema import connect, run
    from songlake.schema.lake import Lake

    rate = 22050
    t = np.arange(6 * rate) / rate
    lake = Lake.open(lake_dir)
    add(lake, [Generation.from_samples((0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32), rate, model,
                                       prompt="a browser's prompt")
               for model, f in (("model-x", 262.0), ("model-y", 330.0), ("model-z", 392.0))])
    sign_in(page, token)
    page.goto("/ui/ab")
    page.wait_for_selector("#ab[data-state='ready']")
    assert page.text_content("#ab-prompt") == "a browser's prompt"

    def clips() -> set[str]:
        urls = page.evaluate("[document.getElementById('ab-audio-a').src, document.getElementById('ab-audio-b').src]")
        return {hashlib.sha256(page.request.get(url).body()).hexdigest() for url in urls}

    first = clips()
    assert len(first) == 2
    page.click("#ab-play")
    page.wait_for_function("document.getElementById('ab-audio-a').currentTime > 1.0", timeout=20_000)
    page.click("#ab-listen-b")
    state = page.evaluate("""() => ['a', 'b'].map(s => { const p = document.getElementById('ab-audio-' + s);
        return {t: p.currentTime, muted: p.muted, paused: p.paused}; })""")
    assert state[0]["muted"] and not state[1]["muted"]  # B is heard now ...
    assert not state[0]["paused"] and not state[1]["paused"]
    assert abs(state[0]["t"] - state[1]["t"]) < 0.3 and state[1]["t"] > 1.0, state  # ... from where A was
    shot(page, "ab")
    ticket = page.get_attribute("#ab", "data-ticket")
    page.fill("#ab-note", "A is cleaner")
    page.click("#ab-vote-a")
    page.wait_for_selector("#ab[data-votes='1'][data-state='ready']")
    assert page.get_attribute("#ab", "data-ticket") != ticket
    assert clips() != first  # the next pair is another pair
    stored = run(connect(Lake.open(lake_dir)), "SELECT * FROM votes").to_pylist()
    assert len(stored) == 1
    vote = stored[0]
    assert (vote["rater"], vote["choice"], vote["note"]) == ("browser-curator", "a", "A is cleaner")
    assert {vote["a_model"], vote["b_model"]} <= {"model-x", "model-y", "model-z"}
    assert vote["prompt"] == "a browser's prompt"


def test_duplicate_review_plays_both_copies_aligned_and_stores_a_drop(page, token, lake_dir):
    """A pair whose copy B is 1.5 s later: the review page plays both on one clock, switching to B
    lands on A's time + 1.5 s, and a drop is a label with the curator's name and nothing deleted."""
    from datetime import datetime, timezone

    from songlake.schema import BatchWriter, connect, run
    from songlake.schema.lake import Lake

    lake = Lake.open(lake_dir)
    ids = run(connect(lake), "SELECT song_id FROM songs ORDER BY song_id").column("song_id").to_pylist()[:2]
    songs_before = len(run(connect(lake), "SELECT song_id FROM songs"))
    writer = BatchWriter(lake)
    writer.add("duplicate_pairs", {"song_a": ids[0], "song_b": ids[1], "kind": "edit", "score": 0.8,
                                   "offset_seconds": 1.5, "shared_seconds": 5.0, "speed": 1.0,
                                   "method": "fingerprint", "found_at": datetime.now(timezone.utc)})
    writer.commit("test", "a duplicate pair")
    sign_in(page, token)
    page.goto("/ui/duplicates")
    page.wait_for_selector(f"a.dup-review[href='/ui/duplicates/{ids[0]}/{ids[1]}']", timeout=20_000)
    assert "+1.50" in page.text_content("#dup-pairs")
    shot(page, "duplicates")
    page.click(f"a.dup-review[href='/ui/duplicates/{ids[0]}/{ids[1]}']")
    page.wait_for_selector("#dup[data-state='ready']")
    page.click("#dup-play")
    page.wait_for_function("document.getElementById('dup-audio-a').currentTime > 1.0", timeout=20_000)
    page.click("#dup-listen-b")
    state = page.evaluate("""() => ['a', 'b'].map(s => { const p = document.getElementById('dup-audio-' + s);
        return {t: p.currentTime, muted: p.muted, paused: p.paused}; })""")
    assert state[0]["muted"] and not state[1]["muted"] and not state[1]["paused"]  # B is heard now ...
    assert abs(state[1]["t"] - (state[0]["t"] + 1.5)) < 0.3, state  # ... at A's time + the offset
    page.click("#dup-listen-a")
    back = page.evaluate("[document.getElementById('dup-audio-a').currentTime, "
                         "document.getElementById('dup-audio-b').currentTime]")
    assert abs(back[1] - (back[0] + 1.5)) < 0.3, back  # and back again
    shot(page, "duplicate-pair")
    page.fill("#dup-note", "the shorter edit")
    page.click("#dup-drop-b")
    page.wait_for_selector("#dup-status.ok")
    assert page.text_content("#dup-choice-b").startswith("drop")
    con = connect(Lake.open(lake_dir))
    stored = run(con, "SELECT value, author, note, labeled_at FROM label_history "
                      "WHERE song_id = $1 AND field = 'duplicate_choice'", params=[ids[1]]).to_pylist()
    assert len(stored) == 1, stored
    assert (stored[0]["author"], stored[0]["note"]) == ("browser-curator", "the shorter edit")
    assert "drop" in str(stored[0]["value"]) and stored[0]["labeled_at"] is not None
    assert len(run(con, "SELECT song_id FROM songs")) == songs_before  # nothing deleted
    page.reload()
    page.wait_for_selector("#dup[data-state='ready']")
    assert page.text_content("#dup-choice-b").strip() == "drop"  # the page shows the stored choice
