"""Genre at ingest in a collection too small for a classifier: each song's own tag counts.

Three tagged songs and one untagged through the real pipeline (no stems); the genre stage fits
no classifier (fewer than 10 tags), so before tags counted the conventions prior alone decided.
"""

import pytest

from songlake.jobs import ingest
from songlake.schema import Lake, connect, run
from songlake.synth import encode, tag_id3
from songlake.udfs.genre import GenreInputs, prior_genre


@pytest.mark.slow
def test_tagged_songs_get_their_tags_genre_and_an_untagged_one_the_prior(tmp_path, write, song, other_song):
    lake = Lake.open(tmp_path / "lake", create=True)
    for name, samples, tag in (("a.mp3", song.samples, "Bebop"), ("b.mp3", other_song.samples, "Heavy Metal"),
                               ("c.mp3", other_song.samples[:, ::-1].copy(), "Hip Hop")):
        tag_id3(write(name, encode(samples, "mp3")), genre=tag)
    write("d.mp3", encode(song.samples[:, ::-1].copy(), "mp3"))  # untagged
    ingest(lake, [tmp_path / "in"], workers=1, separate=False)
    rows = {r["filename"]: r for r in run(connect(lake), "SELECT * FROM songs").to_pylist()}
    assert {f: rows[f]["genre_tag"] for f in rows} == {"a.mp3": "Bebop", "b.mp3": "Heavy Metal",
                                                         "c.mp3": "Hip Hop", "d.mp3": None}
    assert [rows[f]["primary_genre"] for f in ("a.mp3", "b.mp3", "c.mp3")] == ["jazz", "metal", "hip-hop"]
    untagged = rows["d.mp3"]
    assert untagged["primary_genre"] == prior_genre(GenreInputs.from_row(untagged)).primary_genre
    assert run(connect(lake), "SELECT DISTINCT model FROM lake_genres").to_pylist() == [{"model": "prior"}]
