import json
import math
from datetime import datetime, timedelta, timezone

import lance
import numpy as np
import pytest

from songlake.schema import BatchWriter, Lake, connect, run, tables
from songlake.schema.errors import LakeError
from songlake.schema.labels import LABEL_FIELDS, validate, write_labels

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _song(writer: BatchWriter, song_id: str, **extra) -> None:
    writer.add("tracks", {"song_id": song_id, "file_sha256": song_id * 2, "filename": f"{song_id}.mp3",
                          "title": song_id.title(), "duration": 200.0, "quality_flags": [], "ingested_at": T0} | extra)


def _genre(song_id: str, genre: str | None, confidence: float, minutes: int, suspicious: bool = False) -> dict:
    return {"song_id": song_id, "model": "prior", "primary_genre": genre, "genre_confidence": confidence,
            "predicted_genres": [{"genre": genre, "confidence": confidence}] if genre else [],
            "tag_suspicious": suspicious, "predicted_at": T0 + timedelta(minutes=minutes)}


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake.open(tmp_path / "lake", create=True)
    writer = BatchWriter(lake)
    _song(writer, "aaaa", artist="Someone", year=2001, license="CC-BY")
    _song(writer, "bbbb")
    writer.add("analysis", {"song_id": "aaaa", "analysis_version": 3, "analyzed_at": T0, "bpm": 118.0,
                            "key": "C major", "key_confidence": 0.3, "time_signature": "4/4",
                            "sections": [{"start": 0.0, "end": 200.0, "label": "verse"}], "failed_stages": []})
    writer.add("genres", _genre("aaaa", "jazz", 0.4, 0, suspicious=True))
    writer.add("genres", _genre("bbbb", "pop", 0.9, 0))
    writer.commit("test", "two songs")
    return lake


def _songs(lake: Lake, columns: str) -> dict[str, dict]:
    return {r["song_id"]: r for r in run(connect(lake), f"SELECT song_id, {columns} FROM songs").to_pylist()}


# --- validate: known answers, bad input, degenerate input ----------------------------------

@pytest.mark.parametrize("field, value, expected", [
    ("key", "A minor", "A minor"),
    ("key", "f# MAJOR", "F# major"),
    ("key", "Gb major", "F# major"),  # stored in the lake's spelling
    ("key", "bb min", "Bb minor"),
    ("key", "A:min", "A minor"),
    ("primary_genre", "Rock", "rock"),
    ("primary_genre", "Hip Hop", "hip-hop"),
    ("primary_genre", "R&B", "r&b"),
    ("primary_genre", "other", "other"),
    ("bpm", 128, 128.0),
    ("bpm", "92.5", 92.5),
    ("year", 1999, 1999),
    ("year", "1987", 1987),
    ("year", 2001.0, 2001),
    ("track", 3, 3),
    ("time_signature", " 6/8 ", "6/8"),
    ("title", "  A   Song\n", "A Song"),
    ("is_instrumental", True, True),
    ("license", None, None),  # None withdraws a label
])
def test_validate_normalises(field, value, expected):
    assert validate(field, value) == expected


@pytest.mark.parametrize("field, value, message", [
    ("mood", "happy", "'mood' cannot be labelled.*primary_genre"),
    ("key", "H major", "key is a tonic and a mode like 'A minor'"),
    ("key", "A dorian", "key is a tonic and a mode"),
    ("key", 5, "key is a tonic"),
    ("primary_genre", "polka-step", "primary_genre is one of pop, rock"),
    ("primary_genre", "", "primary_genre is one of"),
    ("bpm", 0.5, "bpm must be beats per minute from 20 to 400.*seconds per beat"),
    ("bpm", 401, "from 20 to 400"),
    ("bpm", "fast", "bpm is a number"),
    ("bpm", float("nan"), "bpm is a finite number"),
    ("bpm", True, "bpm is a number"),
    ("year", 1899, "year must be a year from 1900 to 2100"),
    ("year", 1999.5, "year is a whole number"),
    ("track", 0, "track must be a track number from 1 to 999"),
    ("time_signature", "4", "time_signature is beats over a note value"),
    ("time_signature", "4/5", "time_signature"),
    ("title", "   ", "title is empty.*null to withdraw"),
    ("artist", 7, "artist is text"),
    ("album", "x" * 1001, "album is 1001 characters long"),
    ("is_instrumental", "yes", "is_instrumental is true or false"),
])
def test_validate_refuses_with_a_message_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        validate(field, value)


def test_validate_sections_sorts_and_checks_order_labels_and_duration():
    spans = [{"start": 30, "end": 60.0, "label": "Chorus"}, {"start": 0, "end": 30, "label": "intro"}]
    assert validate("sections", spans, duration=60.2) == [
        {"start": 0.0, "end": 30.0, "label": "intro"}, {"start": 30.0, "end": 60.0, "label": "chorus"}]
    # ending a little after the measured duration (decoder padding) is clamped to it
    assert validate("sections", [{"start": 0, "end": 60.3, "label": "verse"}], duration=60.0)[0]["end"] == 60.0
    bad = [
        ([{"start": 0, "end": 40, "label": "verse"}, {"start": 30, "end": 60, "label": "chorus"}], "sections overlap"),
        ([{"start": 0, "end": 90, "label": "verse"}], r"ends at 90 s, after the song's end \(60 s\)"),
        ([{"start": 10, "end": 5, "label": "verse"}], "end after it starts"),
        ([{"start": -1, "end": 5, "label": "verse"}], "start at 0 s or later"),
        ([{"start": 0, "end": 5, "label": "hook"}], r"sections\[0\].label is one of intro, verse, pre-chorus"),
        ([{"start": 0, "end": 5}], r"sections\[0\] must be an object with exactly start, end and label"),
        ([], "non-empty list"),
        ("intro", "non-empty list"),
    ]
    for value, message in bad:
        with pytest.raises(ValueError, match=message):
            validate("sections", value, duration=60.0)


def test_every_label_field_is_a_songs_column(lake):
    columns = run(connect(lake), "SELECT * FROM songs LIMIT 0").schema.names
    assert set(LABEL_FIELDS) <= set(columns)


# --- write_labels and the songs view -------------------------------------------------------

def test_labels_replace_computed_values_in_one_label_commit(lake):
    before = lake.version()
    version = write_labels(lake, "aaaa", {"primary_genre": "rock", "key": "a minor", "bpm": 121, "year": 1999,
                                          "sections": [{"start": 0, "end": 20, "label": "intro"},
                                                       {"start": 20, "end": 200, "label": "verse"}]},
                           author="ana", note="checked by ear")
    assert version == before + 1
    state = lake.versions()[-1]
    assert state.kind == "label" and "ana" in state.message and state.counts["labels"] == 5
    row = _songs(lake, "primary_genre, genre_confidence, key, key_confidence, bpm, year, sections, "
                       "genre_tag_suspicious, labeled_fields, labeled_at, predicted_genres")["aaaa"]
    assert (row["primary_genre"], row["genre_confidence"]) == ("rock", 1.0)
    assert (row["key"], row["key_confidence"], row["bpm"], row["year"]) == ("A minor", 1.0, 121.0, 1999)
    assert row["sections"][0] == {"start": 0.0, "end": 20.0, "label": "intro"}
    assert row["genre_tag_suspicious"] is False  # a human settled the genre
    assert row["predicted_genres"] == [{"genre": "jazz", "confidence": 0.4}]  # the model's view stays
    assert row["labeled_fields"] == ["bpm", "key", "primary_genre", "sections", "year"]
    assert row["labeled_at"] is not None
    other = _songs(lake, "primary_genre, genre_confidence, labeled_fields, labeled_at")["bbbb"]
    assert other == {"song_id": "bbbb", "primary_genre": "pop", "genre_confidence": 0.9, "labeled_fields": [],
                     "labeled_at": None}
    # the version before the labels still reads the computed values
    old = run(connect(lake, before), "SELECT primary_genre FROM songs WHERE song_id = 'aaaa'").to_pylist()
    assert old == [{"primary_genre": "jazz"}]


def test_nothing_is_written_unless_every_label_is_valid(lake):
    before = lake.version()
    with pytest.raises(ValueError, match="invalid labels: .*bpm must be.*; year must be"):
        write_labels(lake, "aaaa", {"primary_genre": "rock", "bpm": 2, "year": 3000}, author="ana")
    with pytest.raises(LakeError, match="no song zzzz"):
        write_labels(lake, "zzzz", {"primary_genre": "rock"}, author="ana")
    with pytest.raises(ValueError, match="author"):
        write_labels(lake, "aaaa", {"primary_genre": "rock"}, author=" ")
    with pytest.raises(ValueError, match="non-empty mapping"):
        write_labels(lake, "aaaa", {}, author="ana")
    with pytest.raises(ValueError, match=r"after the song's end \(200 s\)"):  # the song's own duration
        write_labels(lake, "aaaa", {"sections": [{"start": 0, "end": 500, "label": "verse"}]}, author="ana")
    assert lake.version() == before
    assert lance.dataset(lake.uri("labels")).count_rows() == 0


def test_the_newest_label_counts_the_history_keeps_all_and_none_withdraws(lake):
    write_labels(lake, "bbbb", {"primary_genre": "rock", "artist": "First Guess"}, author="ana", note="first pass")
    write_labels(lake, "bbbb", {"primary_genre": "metal"}, author="ben")
    assert _songs(lake, "primary_genre, artist")["bbbb"] == {"song_id": "bbbb", "primary_genre": "metal",
                                                              "artist": "First Guess"}
    history = run(connect(lake), "SELECT song_id, title, field, value, author, note FROM label_history").to_pylist()
    assert history == [
        {"song_id": "bbbb", "title": "Bbbb", "field": "primary_genre", "value": '"metal"', "author": "ben",
         "note": None},
        {"song_id": "bbbb", "title": "Bbbb", "field": "artist", "value": '"First Guess"', "author": "ana",
         "note": "first pass"},
        {"song_id": "bbbb", "title": "Bbbb", "field": "primary_genre", "value": '"rock"', "author": "ana",
         "note": "first pass"},
    ]
    write_labels(lake, "bbbb", {"primary_genre": None}, author="ana", note="the model was right")
    row = _songs(lake, "primary_genre, genre_confidence, labeled_fields")["bbbb"]
    assert row == {"song_id": "bbbb", "primary_genre": "pop", "genre_confidence": 0.9, "labeled_fields": ["artist"]}
    assert run(connect(lake), "SELECT count(*) AS n FROM label_history").to_pylist() == [{"n": 4}]


def test_labels_survive_a_genre_refit(lake):
    write_labels(lake, "aaaa", {"primary_genre": "rock"}, author="ana")
    writer = BatchWriter(lake)  # a refit appends a newer prediction for every song
    writer.add("genres", _genre("aaaa", "electronic", 0.95, 60))
    writer.add("genres", _genre("bbbb", "folk", 0.8, 60))
    writer.commit("genre", "refit")
    rows = _songs(lake, "primary_genre, genre_confidence")
    assert rows["aaaa"]["primary_genre"] == "rock" and rows["aaaa"]["genre_confidence"] == 1.0
    assert rows["bbbb"]["primary_genre"] == "folk"


def test_labels_written_in_the_same_instant_still_order(lake, monkeypatch):
    import songlake.schema.labels as labels_module

    frozen = datetime(2030, 1, 1, tzinfo=timezone.utc)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return frozen

    monkeypatch.setattr(labels_module, "datetime", Clock)
    write_labels(lake, "aaaa", {"bpm": 100}, author="ana")
    write_labels(lake, "aaaa", {"bpm": 101}, author="ana")
    assert _songs(lake, "bpm")["aaaa"]["bpm"] == 101.0


# --- the annotation queue ---------------------------------------------------------------

def test_the_annotation_queue_lists_reasons_and_labels_clear_them(lake):
    writer = BatchWriter(lake)
    writer.add("analysis", {"song_id": "bbbb", "analysis_version": 3, "analyzed_at": T0, "key": None,
                            "failed_stages": ["key: ValueError: silence", "chords: no beats"]})
    writer.commit("test", "a failed analysis")
    queue = run(connect(lake), "SELECT song_id, reasons, reason_count FROM annotation_queue").to_pylist()
    assert queue == [
        {"song_id": "bbbb", "reasons": ["key unknown", "missing artist", "missing year", "missing license",
                                        "analysis failed: key", "analysis failed: chords"], "reason_count": 6},
        {"song_id": "aaaa", "reasons": ["genre confidence below 0.5", "key confidence below 0.5",
                                        "genre tag contradicts the audio"], "reason_count": 3},
    ]
    write_labels(lake, "aaaa", {"primary_genre": "jazz", "key": "C major"}, author="ana")
    queue = run(connect(lake), "SELECT song_id FROM annotation_queue").to_pylist()
    assert queue == [{"song_id": "bbbb"}]


# --- genre refits learn from human labels -----------------------------------------------

def _feature_lake(root, songs_per_genre: int = 8) -> tuple[Lake, dict[str, str]]:
    """Songs of two well-separated kinds (embedding cluster and tempo), no genre tags."""
    rng = np.random.default_rng(0)
    lake = Lake.open(root, create=True)
    writer = BatchWriter(lake)
    truth = {}
    for genre, centre, bpm in (("rock", 1.0, 150.0), ("jazz", -1.0, 85.0)):
        for i in range(songs_per_genre):
            sid = f"{genre}{i:02d}"
            truth[sid] = genre
            _song(writer, sid)
            vector = (centre + 0.1 * rng.standard_normal(64)).astype(np.float32)
            writer.add("embeddings", {"song_id": sid, "model": "descriptor-v1", "embedding": vector.tolist()})
            writer.add("analysis", {"song_id": sid, "analysis_version": 3, "analyzed_at": T0, "bpm": bpm,
                                    "key": "C major" if genre == "rock" else "A minor", "failed_stages": []})
    writer.commit("test", "songs")
    return lake, truth


def test_human_genre_labels_train_the_classifier(tmp_path):
    from songlake.jobs.genre import classify, human_genres

    lake, truth = _feature_lake(tmp_path / "lake")

    def refit() -> str:
        writer = BatchWriter(lake)
        classify(lake, writer, [])
        writer.commit("genre", "refit")
        return run(connect(lake), "SELECT DISTINCT model FROM lake_genres "
                                  "QUALIFY predicted_at = max(predicted_at) OVER ()").to_pylist()[0]["model"]

    assert refit() == "prior"  # no tags: nothing to learn from
    labelled = [sid for sid in sorted(truth) if not sid.endswith(("06", "07"))]  # 12 of 16 songs
    for sid in labelled:
        write_labels(lake, sid, {"primary_genre": truth[sid]}, author="ana")
    assert human_genres(connect(lake)) == {sid: truth[sid] for sid in labelled}
    assert refit() == "classifier(12 tagged, 12 of them by human labels)"
    rows = _songs(lake, "primary_genre, genre_confidence, labeled_fields")
    for sid, genre in truth.items():  # unlabelled songs are predicted from what the labels taught
        assert rows[sid]["primary_genre"] == genre, sid
        if sid not in labelled:
            assert rows[sid]["labeled_fields"] == [] and rows[sid]["genre_confidence"] < 1.0


# --- schema 4: the labels table arrives by migration ------------------------------------

def test_a_schema_3_lake_migrates_and_its_old_versions_still_read(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:  # songlake as it was at schema 3: no labels table
        patch.setattr(tables, "SCHEMA_VERSION", 3)
        patch.delitem(tables.TABLES, "labels")
        old = Lake.open(tmp_path / "lake", create=True)
        writer = BatchWriter(old)
        _song(writer, "olds")
        writer.commit("ingest", "one song")
        assert old.schema_version() == 3 and not (old.tables_dir / "labels.lance").exists()
    before = old.version()
    lake = Lake.open(old.root)
    assert lake.schema_version() == tables.SCHEMA_VERSION == 12
    # 3 -> 4 (labels), 4 -> 5 (splits), 5 -> 6 (indexes), 6 -> 7 (tempo and beat confidences),
    # 7 -> 8 (fingerprints and duplicates), 8 -> 9 (splits keep duplicates together), 9 -> 10 (generations),
    # 10 -> 11 (votes), 11 -> 12 (copies of training songs)
    assert [v.kind for v in lake.versions()][before:] == ["migrate"] * 9
    assert lance.dataset(lake.uri("labels")).schema.names == tables.LABELS.names
    query = "SELECT title, labeled_fields, labeled_at FROM songs"
    unlabelled = [{"title": "Olds", "labeled_fields": [], "labeled_at": None}]
    assert run(connect(lake, before), query).to_pylist() == unlabelled
    assert run(connect(lake, before), "SELECT count(*) AS n FROM label_history").to_pylist() == [{"n": 0}]
    assert run(connect(lake, before), "SELECT count(*) AS n FROM splits").to_pylist() == [{"n": 0}]
    write_labels(lake, "olds", {"title": "Old Song"}, author="ana")
    assert run(connect(lake), "SELECT title FROM songs").to_pylist() == [{"title": "Old Song"}]
    assert run(connect(lake, before), "SELECT title FROM songs").to_pylist() == [{"title": "Olds"}]


def test_label_values_are_stored_as_json(lake):
    write_labels(lake, "aaaa", {"title": "Café \"Live\"", "bpm": 99.5}, author="ana")
    rows = run(connect(lake), "SELECT field, value FROM lake_labels ORDER BY field").to_pylist()
    assert [(r["field"], json.loads(r["value"])) for r in rows] == [("bpm", 99.5), ("title", 'Café "Live"')]
    assert _songs(lake, "title")["aaaa"]["title"] == 'Café "Live"'
    assert not math.isnan(_songs(lake, "bpm")["aaaa"]["bpm"])
