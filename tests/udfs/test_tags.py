import pytest
from mutagen.flac import FLAC
from mutagen.mp4 import MP4

from songlake.synth import encode, tag_id3
from songlake.udfs.tags import Tags, parse_track, parse_year, read_tags


@pytest.fixture(scope="module")
def mp3(song):
    return encode(song.samples, "mp3")


def test_id3v24(write, mp3):
    path = write("a.mp3", mp3)
    tag_id3(path, title="Song", artist="Band", album="LP", year="1999-05-01", genre="Rock", track="3/12",
            copyright="CC-BY-4.0")
    assert read_tags(path.read_bytes()) == Tags("Song", "Band", "LP", 1999, "Rock", 3, "CC-BY-4.0")


def test_id3v23_year_from_tyer(write, mp3):
    path = write("a.mp3", mp3)
    tag_id3(path, id3_version=3, title="Old", year="1987")
    tags = read_tags(path.read_bytes())
    assert (tags.title, tags.year) == ("Old", 1987)


def test_id3v1_only(write, mp3):
    from mutagen.id3 import ID3

    path = write("a.mp3", mp3)
    tag_id3(path, v1=True, title="Vee One", artist="Retro", year="1995", genre="Jazz")
    ID3(path).delete(path, delete_v1=False, delete_v2=True)  # leave only the v1 tag at the end
    assert path.read_bytes()[-128:-125] == b"TAG"
    tags = read_tags(path.read_bytes())
    assert (tags.title, tags.artist, tags.year, tags.genre_tag) == ("Vee One", "Retro", 1995, "Jazz")


def test_numeric_id3_genre_is_resolved(write, mp3):
    path = write("a.mp3", mp3)
    tag_id3(path, genre="(17)")
    assert read_tags(path.read_bytes()).genre_tag == "Rock"


def test_vorbis_comments(write, song):
    path = write("a.flac", encode(song.samples, "flac"))
    flac = FLAC(path)
    flac.update({"title": "Fluss", "artist": "Band", "date": "2004/02/01", "genre": "Folk", "tracknumber": "7"})
    flac.save()
    assert read_tags(path.read_bytes()) == Tags("Fluss", "Band", None, 2004, "Folk", 7, None)


def test_mp4_atoms(write, song):
    path = write("a.m4a", encode(song.samples, "m4a"))
    mp4 = MP4(path)
    mp4.update({"\xa9nam": ["Atom"], "\xa9ART": ["Quartz"], "\xa9day": ["2021-06-01T00:00:00Z"], "trkn": [(2, 9)]})
    mp4.save()
    tags = read_tags(path.read_bytes())
    assert (tags.title, tags.artist, tags.year, tags.track) == ("Atom", "Quartz", 2021, 2)


def test_missing_tags_stay_null_and_nothing_is_guessed(write, mp3):
    path = write("Artist - Title (1999).mp3", mp3)
    assert read_tags(path.read_bytes()) == Tags()


def test_not_audio_gives_empty_tags():
    assert read_tags(b"no tags here") == Tags()


@pytest.mark.parametrize("text, year", [("1999", 1999), ("1999-05-01", 1999), ("2004/02/01", 2004),
                                        ("May 1971", 1971), ("", None), (None, None), ("12345", None)])
def test_parse_year(text, year):
    assert parse_year(text) == year


def test_parse_track():
    assert (parse_track("3/12"), parse_track("07"), parse_track("x"), parse_track(None)) == (3, 7, None, None)
