"""POST /generations through the real app (Litestar's test client) over a real lake: audio a
model made, sent with its conditioning, is analysed and scored as `songlake generations add`
does, shows in the generations and model_report views, and is not added twice; a refused
request (bad fields, not audio, too large, no token) changes no lake version and leaves nothing
in LAKE/uploads.

The generations are songs rendered by songlake.synth at test time; the model is credited with
the conditioning each song was rendered from, so its tempo and key adherence are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from litestar.testing import TestClient

from songlake import synth
from songlake.schema import connect, run
from songlake.schema.lake import Lake
from songlake.server import ServerSettings, create_app
from songlake.server.auth import TokenStore

LIMIT_MB = 4


def render(tonic: str, bpm: float, seed: int) -> tuple[bytes, dict]:
    """A 4-bar song as WAV bytes (~1.4 MB), and the conditioning it follows."""
    rendered = synth.render_song(synth.SongSpec(tonic=tonic, mode="major", bpm=bpm, degrees=(1, 4, 5, 1), bars=4,
                                                seed=seed))
    conditioning = {"key": rendered.key, "bpm": rendered.bpm,
                    "chords": [{"start": s, "end": e, "label": label} for s, e, label in rendered.chords]}
    return synth.encode(rendered.samples, "wav"), conditioning


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generations-api") / "lake"


@pytest.fixture(scope="module")
def client(lake_root):
    settings = ServerSettings(upload_max_mb=LIMIT_MB, snapshot_interval=0.2)
    with TestClient(create_app(lake_root, settings=settings, workers=0)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def headers(client, lake_root) -> dict:
    return {"Authorization": f"Bearer {TokenStore(lake_root).create('composer')}"}


@pytest.fixture(scope="module")
def first(client, headers) -> dict:
    """The first generation, posted once: its audio, its fields and the answer."""
    audio, conditioning = render("D", 112.0, seed=1)
    fields = {"model": "clipgen", "checkpoint": "step1000", "prompt": "bright pop in D",
              "conditioning": json.dumps(conditioning),
              "trained_on": json.dumps({"lake": "/lakes/main", "lake_version": 7,
                                        "query": "SELECT song_id FROM songs"})}
    answer = client.post("/generations", files={"files": ("first.wav", audio, "audio/wav")}, data=fields,
                         headers=headers)
    return {"audio": audio, "fields": fields, "answer": answer}


def sql(client, query: str) -> list[dict]:
    answer = client.post("/sql", json={"sql": query})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [dict(zip(body["columns"], row)) for row in body["rows"]]


def lake_version(lake_root: Path) -> int:
    return Lake.open(lake_root).version()


def leftovers(lake_root: Path) -> list[Path]:
    return list((lake_root / "uploads").rglob("*"))


def test_a_generation_is_added_with_its_scores(client, first, lake_root):
    answer = first["answer"]
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["version"] == lake_version(lake_root) and (body["added"], body["present"]) == (1, 0)
    [made] = body["generations"]
    assert made["status"] == "added" and made["filename"] == "first.wav" and made["model"] == "clipgen"
    assert made["adherence"]["tempo_acc1"] == 1.0 and made["adherence"]["key_weighted"] == 1.0
    assert made["adherence"]["chord_majmin"] > 0.8
    assert made["adherence"]["beat_f"] > 0.8  # against the grid the bpm implies
    assert made["adherence"]["section_f"] is None  # not asked for
    assert Lake.open(lake_root).head().kind == "generations"
    assert leftovers(lake_root) == []  # the lake keeps the audio; the uploaded copy is gone


def test_it_shows_in_the_generations_view_and_the_model_report(client, first):
    made = first["answer"].json()["generations"][0]
    [row] = sql(client, f"SELECT * FROM generations WHERE generation_id = '{made['generation_id']}'")
    assert (row["model"], row["checkpoint"], row["prompt"]) == ("clipgen", "step1000", "bright pop in D")
    assert (row["trained_on_lake"], row["trained_on_version"]) == ("/lakes/main", 7)
    assert json.loads(row["conditioning"])["key"] == "D major"
    assert json.loads(row["conditioning"])["text"] == "bright pop in D"  # the prompt, as jobs.generations does
    assert row["key"] == made["key"] and row["tempo_acc1"] == made["adherence"]["tempo_acc1"]
    [report] = sql(client, "SELECT * FROM model_report WHERE model = 'clipgen'")
    assert (report["checkpoint"], report["generations"], report["tempo_scored"]) == ("step1000", 1, 1)
    assert report["key_weighted"] == made["adherence"]["key_weighted"]
    assert report["trained_on_versions"] == [7]


def test_the_same_audio_again_is_not_added_twice(client, first, headers, lake_root):
    before = lake_version(lake_root)
    again = client.post("/generations", files={"files": ("renamed.wav", first["audio"], "audio/wav")},
                        data=first["fields"], headers=headers)
    assert again.status_code == 200, again.text
    [made] = again.json()["generations"]
    assert made["status"] == "present" and made["detail"] == "already in the lake"
    assert made["generation_id"] == first["answer"].json()["generations"][0]["generation_id"]
    assert made["adherence"]["tempo_acc1"] == 1.0  # the scores it has in the lake
    assert lake_version(lake_root) == before and again.json()["version"] == before
    stored = run(connect(Lake.open(lake_root)), "SELECT count(*) AS n FROM lake_generations").to_pylist()
    assert stored == [{"n": 1}]  # the table, not only the view, has one row
    assert leftovers(lake_root) == []


def test_samples_of_one_request_share_its_fields_and_one_version(client, first, headers, lake_root):
    before = lake_version(lake_root)
    audio, conditioning = render("F", 96.0, seed=2)
    files = [("files", ("second.wav", audio, "audio/wav")), ("files", ("first-again.wav", first["audio"], "audio/wav"))]
    conditioning["text"] = "calm " * 3000  # longer than an upload's text fields may be
    answer = client.post("/generations", files=files, headers=headers,
                         data={"model": "clipgen", "checkpoint": "step2000", "conditioning": json.dumps(conditioning)})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["added"], body["present"]) == (1, 1) and body["version"] == before + 1 == lake_version(lake_root)
    assert [(g["filename"], g["status"]) for g in body["generations"]] == [("second.wav", "added"),
                                                                           ("first.wav", "present")]
    assert body["generations"][0]["checkpoint"] == "step2000"
    assert leftovers(lake_root) == []


def short_wav() -> bytes:
    """Half a second: readable, but shorter than the analysis takes (jobs.generations refuses it)."""
    return synth.encode(synth.click_track(120.0, 0.5), "wav")


def test_a_refused_file_in_a_batch_keeps_the_others_out_too(client, headers, lake_root):
    before = lake_version(lake_root)
    audio, _ = render("A", 130.0, seed=3)
    files = [("files", ("fine.wav", audio, "audio/wav")), ("files", ("blip.wav", short_wav(), "audio/wav"))]
    answer = client.post("/generations", files=files, data={"model": "clipgen"}, headers=headers)
    assert answer.status_code == 400 and "blip.wav" in answer.json()["error"], answer.text
    assert lake_version(lake_root) == before
    assert sql(client, "SELECT count(*) AS n FROM generations WHERE filename = 'fine.wav'") == [{"n": 0}]
    assert leftovers(lake_root) == []


GOOD = {"model": "clipgen", "conditioning": json.dumps({"key": "C major", "bpm": 120})}


@pytest.mark.parametrize("name, fields, filename, data, status, words", [
    ("bad JSON", GOOD | {"conditioning": '{"key": "C major", bpm: 120}'}, "g.wav", None, 400,
     ("conditioning", "not JSON")),
    ("a list", GOOD | {"conditioning": "[120]"}, "g.wav", None, 400, ("conditioning", "JSON object")),
    ("an unknown conditioning", GOOD | {"conditioning": '{"tempo": 120}'}, "g.wav", None, 400,
     ("conditioning", "tempo")),
    ("a bad key", GOOD | {"conditioning": '{"key": "H dorian"}'}, "g.wav", None, 400, ("conditioning", "H dorian")),
    ("bad trained_on", GOOD | {"trained_on": "{lake"}, "g.wav", None, 400, ("trained_on", "not JSON")),
    ("no model", {"prompt": "pop"}, "g.wav", None, 400, ("model",)),
    ("an unknown field", GOOD | {"modle": "x"}, "g.wav", None, 400, ("modle",)),
    ("not audio", GOOD, "notes.wav", b"these are not the notes you are looking for\n" * 50, 400,
     ("notes.wav", "not an audio file")),
    ("an empty file", GOOD, "empty.wav", b"", 400, ("empty.wav", "empty")),
    ("too short", GOOD, "blip.wav", "short", 400, ("blip.wav", "not readable audio")),
    ("too large", GOOD, "huge.wav", b"\0" * ((LIMIT_MB + 1) << 20), 413, ("huge.wav", "limit")),
    ("a field too long", GOOD | {"prompt": "x" * (1025 << 10)}, "g.wav", None, 400, ("'prompt'", "too long")),
])
def test_refused_requests_change_nothing(client, headers, lake_root, name, fields, filename, data, status, words):
    before = lake_version(lake_root)
    if data is None:
        data = render("C", 120.0, seed=9)[0]  # good audio: the fields are what is refused
    elif data == "short":
        data = short_wav()
    answer = client.post("/generations", files={"files": (filename, data, "audio/wav")}, data=fields, headers=headers)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert all(word in error for word in words), error
    assert lake_version(lake_root) == before
    assert leftovers(lake_root) == []


@pytest.mark.parametrize("trained_on", [{"lake_version": "twelve"}, {"lake": 5}])
def test_trained_on_of_the_wrong_types_is_refused_naming_it(client, headers, lake_root, trained_on):
    before = lake_version(lake_root)
    answer = client.post("/generations", files={"files": ("g.wav", render("C", 120.0, seed=9)[0], "audio/wav")},
                         data=GOOD | {"trained_on": json.dumps(trained_on)}, headers=headers)
    assert answer.status_code == 400 and "trained_on" in answer.json()["error"], answer.text
    assert lake_version(lake_root) == before and leftovers(lake_root) == []


def test_a_request_without_audio_or_not_multipart_is_refused(client, headers, lake_root):
    before = lake_version(lake_root)
    no_audio = client.post("/generations", files={"model": (None, "clipgen")}, headers=headers)
    assert no_audio.status_code == 400 and "'files'" in no_audio.json()["error"]
    raw = client.post("/generations", content=b"RIFF....", headers=headers | {"Content-Type": "audio/wav"})
    assert raw.status_code == 400 and "multipart" in raw.json()["error"]
    assert lake_version(lake_root) == before and leftovers(lake_root) == []


def test_writing_generations_needs_a_valid_token(client, lake_root):
    store = TokenStore(lake_root)
    revoked = store.create("former")
    assert store.revoke("former")
    before = lake_version(lake_root)
    audio, conditioning = render("E", 100.0, seed=4)
    for given in ({}, {"Authorization": "Bearer sl_not-a-token"}, {"Authorization": f"Bearer {revoked}"}):
        answer = client.post("/generations", files={"files": ("g.wav", audio, "audio/wav")},
                             data={"model": "clipgen", "conditioning": json.dumps(conditioning)}, headers=given)
        assert answer.status_code == 401 and "token" in answer.json()["error"], answer.text
    assert lake_version(lake_root) == before and leftovers(lake_root) == []


def test_the_schema_documents_the_endpoint(client):
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "post" in paths["/generations"]


def test_a_request_past_the_analysis_gate_gets_503_and_leaves_nothing(tmp_path, monkeypatch):
    """One request analysed at a time: a second that finds the slot taken past its wait gets 503
    with Retry-After, writes nothing and leaves no upload behind; the first is added."""
    import threading

    from songlake.server import generations as endpoint

    analysing, answered = threading.Event(), threading.Event()
    real_add = endpoint.add

    def add_holding_the_slot(*args, **kwargs):  # the real analysis, once the late request was answered
        analysing.set()
        answered.wait(30)
        return real_add(*args, **kwargs)

    monkeypatch.setattr(endpoint, "add", add_holding_the_slot)
    root = tmp_path / "lake"
    settings = ServerSettings(upload_max_mb=LIMIT_MB, snapshot_interval=0.2, generation_concurrency=1,
                              generation_wait=0.3)
    samples = [render("A", 96.0, seed=s) for s in (21, 22, 23)]
    with TestClient(create_app(root, settings=settings, workers=0)) as test_client:
        auth = {"Authorization": f"Bearer {TokenStore(root).create('composer')}"}
        before = lake_version(root)
        answers = {}

        def post(name, files):
            answers[name] = test_client.post("/generations", files=files, headers=auth,
                                             data={"model": "clipgen", "conditioning": json.dumps(samples[0][1])})

        batch = threading.Thread(target=post, args=("batch", [("files", (f"{i}.wav", audio, "audio/wav"))
                                                              for i, (audio, _) in enumerate(samples[:2])]))
        batch.start()
        assert analysing.wait(30)  # the batch holds the one slot
        post("single", [("files", ("late.wav", samples[2][0], "audio/wav"))])
        answered.set()
        batch.join()
        assert answers["batch"].status_code == 201, answers["batch"].text
        late = answers["single"]
        assert late.status_code == 503, late.text
        assert "generation" in late.json()["error"] and int(late.headers["Retry-After"]) >= 1
        assert lake_version(root) == before + 1  # the batch's one version, nothing from the refused one
        assert leftovers(root) == []
