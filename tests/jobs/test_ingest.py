import numpy as np
import pytest

from songlake.jobs import Provenance, discover, ingest
from songlake.schema import Lake, connect, run
from songlake.synth import encode, tag_id3
from songlake.udfs import ANALYSIS_VERSION


@pytest.fixture
def lake(tmp_path):
    return Lake.open(tmp_path / "lake", create=True)


def _rows(lake, query, version=None):
    return run(connect(lake, version), query).to_pylist()


@pytest.fixture
def collection(write, song, other_song):
    """A folder with two good songs, five kinds of bad input, and cover art."""
    good = write("album/01 good.mp3", encode(song.samples, "mp3"))
    tag_id3(good, title="Good", artist="Band", year="2001-03-04", genre="Pop")
    write("album/02 other.flac", encode(other_song.samples, "flac"))
    truncated = encode(other_song.samples, "mp3")
    write("bad/empty.mp3", b"")
    write("bad/truncated.mp3", truncated[: len(truncated) // 2 + 11])
    write("bad/random.mp3", np.random.default_rng(0).bytes(64_000))
    write("bad/notes.mp3", b"this is a text file with an mp3 name\n" * 100)
    write("bad/sound.aiff", encode(song.samples, "aiff"))
    write("album/cover.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
    return good.parent.parent


def test_a_batch_lands_good_songs_refuses_bad_ones_and_goes_on(lake, collection):
    report = ingest(lake, [collection], workers=1, separate=False)
    assert sorted(o.path.split("/")[-1] for o in report.of("ingested")) == ["01 good.mp3", "02 other.flac"]
    reasons = {o.path.split("/")[-1]: o.detail for o in report.of("refused")}
    assert reasons["empty.mp3"].startswith("empty file")
    assert reasons["truncated.mp3"].startswith("truncated")
    assert reasons["random.mp3"].startswith("not audio")
    assert reasons["notes.mp3"].startswith("not audio")
    assert reasons["sound.aiff"].startswith("unsupported format")
    assert [p.split("/")[-1] for p in report.passed_over] == ["cover.jpg"]
    assert report.version == lake.version()
    kinds = [v.kind for v in lake.versions()]  # a version per task: ingest chunks, analysis, genre
    assert set(kinds) == {"init", "ingest", "analyze", "genre"} and kinds[-1] == "genre"

    songs = _rows(lake, "SELECT filename, title, artist, year, genre_tag, format, bpm, key FROM songs ORDER BY filename")
    assert songs[0] == {"filename": "01 good.mp3", "title": "Good", "artist": "Band", "year": 2001,
                        "genre_tag": "Pop", "format": "mp3", "bpm": pytest.approx(120, abs=1), "key": "C major"}
    assert songs[1]["format"] == "flac" and songs[1]["title"] is None
    errors = _rows(lake, "SELECT filename, reason, file_sha256, refused_at FROM ingest_errors")
    assert sorted(e["filename"] for e in errors) == ["empty.mp3", "notes.mp3", "random.mp3", "sound.aiff", "truncated.mp3"]
    assert all(e["file_sha256"] and e["refused_at"] for e in errors)


def test_reingesting_adds_nothing_and_makes_no_version(lake, collection):
    ingest(lake, [collection], workers=1, separate=False)
    before = lake.version()
    again = ingest(lake, [collection], workers=1, separate=False)
    assert again.version is None and lake.version() == before
    assert len(again.of("present")) == 2 and len(again.of("refused")) == 5
    assert _rows(lake, "SELECT count(*) AS n FROM ingest_errors") == [{"n": 5}]


def test_a_renamed_retagged_copy_is_already_present(lake, write, song):
    first = write("a.mp3", encode(song.samples, "mp3"))
    tag_id3(first, title="One")
    ingest(lake, [first], workers=1, separate=False)
    copy = write("elsewhere/renamed.mp3", encode(song.samples, "mp3"))
    tag_id3(copy, title="Another title", artist="Someone")
    report = ingest(lake, [copy], workers=1, separate=False)
    assert [o.status for o in report.outcomes] == ["present"]
    assert "same audio" in report.outcomes[0].detail and report.version is None


def test_a_wav_named_mp3_is_decoded_by_content(lake, write, song):
    path = write("actually-a-wav.mp3", encode(song.samples, "wav"))
    report = ingest(lake, [path], workers=1, separate=False)
    assert report.of("ingested")
    assert _rows(lake, "SELECT format, bitrate_kbps FROM songs") == [{"format": "wav", "bitrate_kbps": 1411}]


def test_provenance_and_quality_columns(lake, write, song):
    path = write("a.mp3", encode(song.samples, "mp3", kbps=192))
    ingest(lake, [path], Provenance(license="CC-BY-4.0", source="unit-test"), workers=1, separate=False)
    row = _rows(lake, "SELECT * FROM songs")[0]
    assert (row["license"], row["source"]) == ("CC-BY-4.0", "unit-test")
    assert row["bitrate_kbps"] == 192 and row["sample_rate"] == 44100 and row["channels"] == 2
    assert "bitrate_below_320" in row["quality_flags"] and "shorter_than_2min" in row["quality_flags"]
    assert -40 < row["loudness_lufs"] < 0 and row["peak_dbfs"] < 0 and row["suspected_transcode"] is False
    assert len(row["embedding"]) == 64 and len(row["beats"]) > 30 and row["analysis_version"] == ANALYSIS_VERSION
    assert row["stems_status"] == "pending"


def test_worker_processes_give_the_same_result(lake, collection):
    report = ingest(lake, [collection], workers=2, separate=False)
    assert len(report.of("ingested")) == 2 and len(report.of("refused")) == 5
    assert _rows(lake, "SELECT count(*) AS n FROM songs") == [{"n": 2}]


def test_the_original_file_is_kept_byte_for_byte(lake, write, song):
    path = write("keep.mp3", encode(song.samples, "mp3"))
    ingest(lake, [path], workers=1, separate=False)
    original = lake.dataset("originals").to_table(columns=["song_id", "size_bytes"]).to_pylist()[0]
    blob = lake.dataset("originals").take_blobs("data", indices=[0])[0]
    assert blob.read() == path.read_bytes() and original["size_bytes"] == path.stat().st_size


def test_discover_takes_named_files_whatever_their_name(write, song):
    odd = write("no-extension", encode(song.samples, "wav"))
    files, passed = discover([odd, odd.parent])
    assert files == [odd] and passed == []


def test_songs_get_genres_and_the_whole_analysis(lake, write, song, other_song):
    a = write("a.mp3", encode(song.samples, "mp3"))
    tag_id3(a, genre="Pop")
    write("b.mp3", encode(other_song.samples, "mp3"))
    ingest(lake, [a.parent], workers=1, separate=False)
    rows = _rows(lake, "SELECT primary_genre, genre_confidence, predicted_genres, genre_tag_suspicious, "
                       "time_signature, chords, roman_numerals, sections, analysis_failures FROM songs")
    assert len(rows) == 2
    for row in rows:
        assert row["primary_genre"] in {g["genre"] for g in row["predicted_genres"]}
        assert 0 < row["genre_confidence"] <= 1 and row["genre_tag_suspicious"] is False
        assert row["time_signature"] and row["chords"] and row["sections"] and row["analysis_failures"] is None
        assert len(row["roman_numerals"]) == len(row["chords"])
    models = _rows(lake, "SELECT DISTINCT model FROM lake_genres")
    assert models == [{"model": "prior"}]  # one tagged song teaches nothing yet


def test_reanalysis_reads_the_originals(lake, write, song):
    from songlake.jobs import reanalyze_lake

    ingest(lake, [write("a.mp3", encode(song.samples, "mp3"))], workers=1, separate=False)
    assert reanalyze_lake(lake, everything=False, workers=1)[:2] == (0, None)  # nothing is outdated
    before = lake.version()
    songs, version, failures = reanalyze_lake(lake, everything=True, workers=1)
    assert (songs, version, failures) == (1, lake.version(), []) and version > before
    assert [v.kind for v in lake.versions()[before:]] == ["analyze", "genre"]
    assert _rows(lake, "SELECT count(*) AS n FROM lake_analysis") == [{"n": 2}]
    assert _rows(lake, "SELECT count(*) AS n FROM songs") == [{"n": 1}]
