"""The JSON API through Litestar's test client, over a real lake (Lance, DuckDB, Huey on SQLite).

Every endpoint is called for real: uploads are parsed, checked, queued and run by a songlake
worker in this process; audio and stems come from the lake's blobs with Range support; SQL runs
in the locked-down DuckDB of the server's snapshot.
"""

from __future__ import annotations

import io
import time
import wave

import pyarrow as pa
import pytest
from litestar.testing import TestClient

from songlake.server import ServerSettings, create_app
from songlake.server.auth import TokenStore


@pytest.fixture(scope="module")
def client(lake_copy, token):
    settings = ServerSettings(upload_max_mb=2, sql_timeout=2.0, sql_max_rows=1000, snapshot_interval=0.2)
    with TestClient(create_app(lake_copy, settings=settings, workers=0)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def ids(client) -> list[str]:
    songs = client.get("/songs", params={"sort": "bpm"}).json()["songs"]
    return [s["song_id"] for s in songs]


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def run_pipeline(client) -> None:
    """Run the queued work to the end with a songlake worker in this process."""
    from songlake.jobs.worker import Worker

    Worker(client.app.state.queue).run(until_idle=True)


# --- reading -------------------------------------------------------------------------------

def test_versions_are_paged_newest_first(client):
    first = client.get("/versions", params={"limit": 2}).json()
    numbers = [v["version"] for v in first["versions"]]
    assert len(numbers) == 2 and numbers[0] > numbers[1] and first["next_before"] == numbers[1]
    back = client.get("/versions", params={"limit": 1000, "before": first["next_before"]}).json()
    assert [v["version"] for v in back["versions"]] == list(range(numbers[1] - 1, 0, -1))
    assert back["next_before"] is None and back["versions"][-1]["kind"] == "init"
    assert client.get("/versions", params={"limit": 0}).status_code == 400


def test_openapi_schema_lists_the_endpoints(client):
    schema = client.get("/schema/openapi.json").json()
    for path in ("/songs", "/songs/{song_id}", "/songs/{song_id}/audio", "/songs/{song_id}/stems/{stem}",
                 "/songs/{song_id}/similar", "/search/similar", "/sql", "/songs/{song_id}/labels", "/report",
                 "/jobs/{job_id}"):
        assert path in schema["paths"], path


def test_songs_are_listed_with_filters_sorting_and_paging(client, ids):
    everything = client.get("/songs", params={"sort": "bpm", "order": "desc"}).json()
    assert everything["total"] == 3 and len(ids) == 3
    bpms = [s["bpm"] for s in everything["songs"]]
    assert bpms == sorted(bpms, reverse=True) and all(b > 0 for b in bpms)
    page = client.get("/songs", params={"sort": "bpm", "limit": 2, "offset": 1}).json()
    assert [s["song_id"] for s in page["songs"]] == ids[1:3] and page["total"] == 3
    slow = client.get("/songs", params={"bpm_max": everything["songs"][1]["bpm"] + 0.01}).json()
    assert slow["total"] == 2
    key = everything["songs"][0]["key"]
    assert all(s["key"] == key for s in client.get("/songs", params={"key": key}).json()["songs"])
    named = client.get("/songs", params={"q": "zzz-no-such-title"}).json()
    assert named["total"] == 0 and named["songs"] == []
    bad = client.get("/songs", params={"sort": "1; DROP TABLE songs"})
    assert bad.status_code == 400 and "cannot sort by" in bad.json()["error"]
    assert client.get("/songs", params={"limit": 100000}).status_code == 400


def test_a_song_is_one_nested_document(client, ids):
    document = client.get(f"/songs/{ids[0]}").json()
    assert document["basic_info"]["song_id"] == ids[0]
    assert document["audio_stems"]["status"] == "done" and set(document["audio_stems"]["stems"]) == {
        "vocals", "drums", "bass", "other"}
    harmony = document["music_theory"]["harmonic_analysis"]
    assert harmony["key"] and harmony["chords"] and len(harmony["roman_numerals"]) == len(harmony["chords"])
    assert document["music_theory"]["rhythmic_analysis"]["bpm"] > 0
    assert document["music_theory"]["genre_analysis"]["primary_genre"]
    missing = client.get("/songs/0123456789abcdef")
    assert missing.status_code == 404 and missing.json()["error"].startswith("no song 0123456789abcdef")
    assert str(client.app.state.lake.root) not in missing.text


def test_original_audio_answers_ranges(client, ids, song_files):
    full = client.get(f"/songs/{ids[0]}/audio")
    assert full.status_code == 200 and full.headers["content-type"] == "audio/mpeg"
    assert full.headers["accept-ranges"] == "bytes"
    assert full.content in {p.read_bytes() for p in song_files}
    size = len(full.content)
    part = client.get(f"/songs/{ids[0]}/audio", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == full.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{size}" and part.headers["content-length"] == "1000"
    tail = client.get(f"/songs/{ids[0]}/audio", headers={"Range": "bytes=-300"})
    assert tail.status_code == 206 and tail.content == full.content[-300:]
    rest = client.get(f"/songs/{ids[0]}/audio", headers={"Range": f"bytes={size - 10}-"})
    assert rest.content == full.content[-10:]
    beyond = client.get(f"/songs/{ids[0]}/audio", headers={"Range": f"bytes={size + 5}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"


def test_stems_are_seekable_wav(client, ids):
    from songlake.schema import Lake
    from songlake.schema.stems import read_stem

    full = client.get(f"/songs/{ids[0]}/stems/drums")
    assert full.status_code == 200 and full.headers["content-type"].startswith("audio/wav")
    with wave.open(io.BytesIO(full.content)) as w:
        rate, channels, frames = w.getframerate(), w.getnchannels(), w.getnframes()
        pcm = w.readframes(frames)
    samples = read_stem(Lake(client.app.state.lake.root), ids[0], "drums")
    assert (channels, frames) == samples.shape and rate == 44100
    part = client.get(f"/songs/{ids[0]}/stems/drums", headers={"Range": "bytes=44-4043"})
    assert part.status_code == 206 and part.content == pcm[:4000]
    assert client.get(f"/songs/{ids[0]}/stems/kazoo").status_code in (400, 404)


def test_similar_songs_by_id_and_by_clip(client, ids, song_files):
    found = client.get(f"/songs/{ids[0]}/similar", params={"k": 2}).json()["similar"]
    assert len(found) == 2 and ids[0] not in [s["song_id"] for s in found]
    assert found[0]["similarity"] >= found[1]["similarity"]
    clip = song_files[1].read_bytes()
    by_clip = client.post("/search/similar", files={"files": ("clip.mp3", clip, "audio/mpeg")}, params={"k": 3})
    assert by_clip.status_code == 200, by_clip.text
    best = by_clip.json()["similar"][0]
    expected = client.post("/sql", json={"sql": f"SELECT song_id FROM songs WHERE filename = '{song_files[1].name}'"})
    assert best["song_id"] == expected.json()["rows"][0][0] and best["similarity"] > 0.99
    not_audio = client.post("/search/similar", files={"files": ("clip.mp3", b"hello" * 100, "audio/mpeg")})
    assert not_audio.status_code == 400


# --- SQL -----------------------------------------------------------------------------------

def test_sql_answers_json_csv_and_arrow(client):
    query = "SELECT song_id, title, bpm FROM songs ORDER BY bpm"
    as_json = client.post("/sql", json={"sql": query}).json()
    assert as_json["columns"] == ["song_id", "title", "bpm"] and as_json["row_count"] == 3
    assert as_json["truncated"] is False
    as_csv = client.post("/sql", json={"sql": query, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0] == "song_id,title,bpm" and len(as_csv.text.splitlines()) == 4
    as_arrow = client.post("/sql", json={"sql": query, "format": "arrow"})
    table = pa.ipc.open_stream(as_arrow.content).read_all()
    assert table.column_names == ["song_id", "title", "bpm"] and table.num_rows == 3
    capped = client.post("/sql", json={"sql": "SELECT * FROM range(5000)", "max_rows": 10}).json()
    assert capped["row_count"] == 10 and capped["truncated"] is True
    limit = client.post("/sql", json={"sql": "SELECT * FROM range(5000)"}).json()
    assert limit["row_count"] == 1000 and limit["truncated"] is True  # the server's cap


@pytest.mark.parametrize("query, status", [
    ("SELECT * FROM read_csv('/etc/passwd')", 403),
    ("SELECT * FROM read_text('/etc/passwd')", 403),
    ("COPY (SELECT 1) TO '/tmp/songlake-escape.csv'", 403),
    ("ATTACH '/tmp/songlake-escape.db' AS other", 403),
    ("INSTALL httpfs", 403),
    ("LOAD httpfs", 403),
    ("SET enable_external_access = true", 403),
    ("CREATE TABLE t AS SELECT 1", 403),
    ("DROP VIEW songs", 403),
    ("SELECT 1; SELECT 2", 403),
    ("SELEC nonsense", 400),
])
def test_sql_refuses_what_is_not_a_read(client, query, status):
    answer = client.post("/sql", json={"sql": query})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] and "Traceback" not in answer.text
    assert not __import__("os").path.exists("/tmp/songlake-escape.csv")


def test_sql_that_runs_forever_is_stopped(client):
    started = time.perf_counter()
    answer = client.post("/sql", json={"sql": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
                                              "SELECT count(*) FROM r"})
    assert answer.status_code == 400 and "longer than" in answer.json()["error"]
    assert time.perf_counter() - started < 10
    assert client.post("/sql", json={"sql": "SELECT count(*) AS n FROM songs"}).json()["rows"] == [[3]]


# --- tokens --------------------------------------------------------------------------------

def test_writes_need_a_valid_token(client, ids, lake_copy):
    store = TokenStore(lake_copy)
    revoked = store.create("former")
    assert store.revoke("former")
    body = {"labels": {"license": "CC-BY-4.0"}}
    for headers in ({}, auth("sl_not-a-token"), auth(revoked)):
        answer = client.patch(f"/songs/{ids[0]}/labels", json=body, headers=headers)
        assert answer.status_code == 401 and "token" in answer.json()["error"]
        upload = client.post("/songs", files={"files": ("a.mp3", b"x", "audio/mpeg")}, headers=headers)
        assert upload.status_code == 401


def test_reads_can_require_a_token(lake_copy, token):
    settings = ServerSettings(reads="token")
    with TestClient(create_app(lake_copy, settings=settings)) as locked:
        assert locked.get("/songs").status_code == 401
        assert locked.post("/sql", json={"sql": "SELECT 1"}).status_code == 401
        assert locked.get("/songs", headers=auth(token)).status_code == 200
        locked.cookies.set("songlake_token", token)
        assert locked.get("/report").status_code == 200


# --- labels --------------------------------------------------------------------------------

def test_labels_correct_the_songs_view_and_keep_their_history(client, ids, token):
    song = ids[1]
    before = client.get(f"/songs/{song}").json()
    new_genre = "jazz" if before["music_theory"]["genre_analysis"]["primary_genre"] != "jazz" else "rock"
    answer = client.patch(f"/songs/{song}/labels", headers=auth(token),
                          json={"labels": {"primary_genre": new_genre, "key": "F# minor"}, "note": "listened"})
    assert answer.status_code == 200, answer.text
    after = client.get(f"/songs/{song}").json()
    assert after["music_theory"]["genre_analysis"]["primary_genre"] == new_genre
    assert after["music_theory"]["harmonic_analysis"]["key"] == "F# minor"
    row = client.post("/sql", json={"sql": f"SELECT primary_genre, genre_confidence, key FROM songs "
                                           f"WHERE song_id = '{song}'"}).json()["rows"][0]
    assert row == [new_genre, 1.0, "F# minor"]
    client.patch(f"/songs/{song}/labels", headers=auth(token), json={"labels": {"key": "A minor"}})
    history = client.get(f"/songs/{song}/labels").json()["history"]
    assert [h["field"] for h in history].count("key") == 2 and all(h["author"] == "curator" for h in history)
    assert client.post("/sql", json={"sql": f"SELECT key FROM songs WHERE song_id = '{song}'"}).json()["rows"] == [["A minor"]]
    bad = client.patch(f"/songs/{song}/labels", headers=auth(token), json={"labels": {"key": "H dorian"}})
    assert bad.status_code == 400 and "key" in bad.json()["error"]
    unknown = client.patch("/songs/0123456789abcdef/labels", headers=auth(token), json={"labels": {"key": "A minor"}})
    assert unknown.status_code == 404


def test_report_answers_the_collection_questions(client):
    report = client.get("/report").json()
    assert report["songs"] == 3
    assert {row["genre"] for row in report["genre_balance"]} >= {"pop", "rock", "hip-hop", "jazz", "electronic", "other"}
    assert report["training"]["approach"] == "not enough songs"
    assert report["estimates"]["storage_bytes"] > 0


# --- uploads -------------------------------------------------------------------------------

def test_bad_uploads_are_refused_with_reasons_and_recorded(client, token, lake_copy, tmp_path):
    files = [
        ("files", ("empty.mp3", b"", "audio/mpeg")),
        ("files", ("notes.mp3", b"these are not the notes you are looking for\n" * 50, "audio/mpeg")),
        ("files", ("huge.mp3", b"\0" * (3 * 1024 * 1024), "audio/mpeg")),
    ]
    answer = client.post("/songs", files=files, headers=auth(token))
    assert answer.status_code == 413, answer.text  # nothing accepted, one file over the limit
    jobs = {j["filename"]: j for j in answer.json()["jobs"]}
    assert jobs["empty.mp3"]["status"] == "refused" and "empty" in jobs["empty.mp3"]["detail"]
    assert "not an audio file" in jobs["notes.mp3"]["detail"]
    assert "upload limit" in jobs["huge.mp3"]["detail"]
    assert client.get(f"/jobs/{jobs['notes.mp3']['id']}").json()["state"] == "refused"
    errors = client.post("/sql", json={"sql": "SELECT filename, reason FROM ingest_errors"}).json()["rows"]
    assert {"empty.mp3", "notes.mp3", "huge.mp3"} <= {name for name, _ in errors}
    assert not any((lake_copy / "uploads").rglob("*.mp3"))  # refused files are not kept
    not_multipart = client.post("/songs", content=b"raw", headers=auth(token) | {"Content-Type": "audio/mpeg"})
    assert not_multipart.status_code == 400


def test_an_upload_is_ingested_and_followed_to_done(client, token, lake_copy, tmp_path, new_songs):
    new, clone = new_songs(tmp_path / "new", 2, seed=7)
    escape = "../../../../tmp/songlake-escape.mp3"
    files = [("files", (escape, new.read_bytes(), "audio/mpeg")),
             ("files", ("again.mp3", clone.read_bytes(), "audio/mpeg")),
             ("files", ("copy-of-again.mp3", clone.read_bytes(), "audio/mpeg"))]
    answer = client.post("/songs", files=files, data={"stems": "false", "license": "CC0"}, headers=auth(token))
    assert answer.status_code == 202, answer.text
    jobs = answer.json()["jobs"]
    assert [j["status"] for j in jobs] == ["queued"] * 3
    assert jobs[0]["filename"] == "songlake-escape.mp3"
    assert not __import__("os").path.exists("/tmp/songlake-escape.mp3")
    saved = list((lake_copy / "uploads").rglob("*.mp3"))
    assert saved and all(p.resolve().is_relative_to((lake_copy / "uploads").resolve()) for p in saved)
    assert client.get(f"/jobs/{jobs[0]['id']}").json()["state"] == "queued"

    run_pipeline(client)
    done = [wait_for(lambda j=j: (r := client.get(f"/jobs/{j['id']}").json())["done"] and r, what=f"job {j['id']}")
            for j in jobs]
    assert [d["state"] for d in done] == ["done", "done", "done"], done
    assert done[0]["status"] == "ingested" and done[0]["stages"]["analyze"] == "done"
    assert {done[1]["status"], done[2]["status"]} == {"ingested", "present"}  # the same file twice: one song
    assert done[1]["song_id"] == done[2]["song_id"]
    listed = wait_for(lambda: client.get("/songs").json()["total"] == 5, what="the new songs in /songs")
    assert listed
    song = client.get(f"/songs/{done[0]['song_id']}").json()["basic_info"]
    assert song["filename"] == "songlake-escape.mp3" and song["license"] == "CC0"
    assert not any((lake_copy / "uploads").rglob("*.mp3"))  # the lake keeps the originals now
