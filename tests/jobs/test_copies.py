"""Copies of training songs in a real lake: two songs ingested as the ingest stage writes them
(tracks, originals, embeddings, fingerprints and their index), then generations added that are a
re-encode of one, an excerpt of it, and an unrelated song; the generations view says which copy
what. Then the check restricted to the songs a model was trained on, and the lakes and audio it
cannot compare, each NULL with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from songlake import synth
from songlake.jobs.copies import EMBEDDING_COPY, CopyChecker
from songlake.jobs.examine import examine
from songlake.jobs.generations import Generation, add
from songlake.schema import BatchWriter, Lake, connect, run
from songlake.udfs import fingerprint as fp
from songlake.udfs.audio import decode
from songlake.udfs.embedding import embed

SR = synth.SAMPLE_RATE


def _render(tonic: str, mode: str, bpm: float, seed: int, bars: int = 16) -> np.ndarray:
    degrees = tuple(int(d) for d in np.random.default_rng(seed).choice([1, 2, 4, 5, 6], size=bars))
    return synth.render_song(synth.SongSpec(tonic=tonic, mode=mode, bpm=bpm, degrees=degrees, bars=bars,
                                            seed=seed)).samples


@pytest.fixture(scope="module")
def songs() -> dict[str, np.ndarray]:
    """Two lake songs of 32-40 s and one the lake does not have, each its own key, tempo and chords."""
    return {"a": _render("C", "major", 120.0, 1), "b": _render("E", "minor", 96.0, 2),
            "unrelated": _render("G", "major", 132.0, 3, bars=20)}


@pytest.fixture(scope="module")
def lake(songs, tmp_path_factory) -> tuple[Lake, dict[str, str]]:
    """A lake holding songs a (FLAC) and b (MP3), written as the ingest stage writes them."""
    folder = tmp_path_factory.mktemp("in")
    (folder / "a.flac").write_bytes(synth.encode(songs["a"], "flac"))
    (folder / "b.mp3").write_bytes(synth.encode_mp3(songs["b"], kbps=192))
    lake = Lake.open(tmp_path_factory.mktemp("lake") / "lake", create=True)
    writer = BatchWriter(lake)
    ids = {}
    for name in ("a", "b"):
        examined = examine(folder / f"{name}.{'flac' if name == 'a' else 'mp3'}")
        assert examined.rows["fingerprints"]["status"] == "done"
        for table in ("originals", "embeddings", "tracks", "fingerprints"):
            writer.add(table, examined.rows[table])
        for row in examined.index_rows:
            writer.add("fingerprint_index", row)
        ids[name] = examined.song_id
    writer.commit("ingest", "two songs")
    return lake, ids


@pytest.fixture(scope="module")
def checked(lake, songs) -> dict[str, dict]:
    """The generations view's rows of three generations added together, by name."""
    lake, _ = lake
    a = songs["a"]
    made = {
        "mp3 of a": Generation(synth.encode_mp3(a, kbps=128), "copycat", filename="a.mp3"),
        "excerpt of a": Generation.from_samples(a[:, 6 * SR:30 * SR], SR, "copycat", filename="excerpt.flac"),
        "unrelated": Generation.from_samples(songs["unrelated"], SR, "copycat", filename="unrelated.flac"),
    }
    added = add(lake, made.values())
    rows = {r["generation_id"]: r for r in run(connect(lake), "SELECT * FROM generations").to_pylist()}
    return {name: rows[gid] for name, gid in zip(made, added.added)}


def test_a_re_encode_of_a_lake_song_is_flagged_with_that_song(checked, lake):
    _, ids = lake
    row = checked["mp3 of a"]
    assert row["copies_training"] is True and row["copy_reference"] == "lake"
    assert row["fingerprint_song_id"] == ids["a"] and row["fingerprint_kind"] == "same_audio"
    assert row["fingerprint_shared_seconds"] >= 25 and row["fingerprint_score"] > 0.5
    assert row["nearest_song_id"] == ids["a"] and row["nearest_similarity"] >= 0.95
    assert any(r.startswith("copies_training: fingerprint same_audio of " + ids["a"]) for r in row["copy_reasons"])
    assert "trained_on not recorded" in row["copy_reference_detail"] and row["copy_threshold"] == EMBEDDING_COPY


def test_an_excerpt_of_a_lake_song_is_flagged_as_an_edit_where_it_starts(checked, lake):
    _, ids = lake
    row = checked["excerpt of a"]
    assert row["copies_training"] is True
    assert row["fingerprint_song_id"] == ids["a"] and row["fingerprint_kind"] == "edit"
    assert row["fingerprint_offset"] == pytest.approx(6.0, abs=0.3)  # its start is 6 s into song a
    assert 20 <= row["fingerprint_shared_seconds"] <= 24.5


def test_an_unrelated_generation_is_not_flagged(checked):
    row = checked["unrelated"]
    assert row["copies_training"] is False
    assert row["fingerprint_song_id"] is None and row["nearest_song_id"] is not None
    assert row["nearest_similarity"] < EMBEDDING_COPY
    assert "fingerprint_song_id: no song in the lake shares 20 s of audio with it" in row["copy_reasons"]


def test_generations_are_measured_as_songs_are(checked):
    row = checked["unrelated"]
    assert -30 < row["loudness_lufs"] < -5 and row["primary_genre"] and row["genre_model"] == "prior"
    assert len(row["embedding"]) == 64 and abs(np.linalg.norm(row["embedding"]) - 1) < 1e-3


def _vector(mono: np.ndarray) -> np.ndarray:
    return embed(mono).vector


def test_the_check_keeps_to_the_songs_the_model_was_trained_on(lake, songs):
    lake, ids = lake
    mono = decode(synth.encode_mp3(songs["a"], kbps=128)).mono_at(SR)
    checker = CopyChecker(lake)
    without_a = {"lake": str(lake.root), "lake_version": lake.version(),
                 "query": f"SELECT song_id FROM songs WHERE song_id <> '{ids['a']}'"}
    row = checker.check("g1", mono, SR, _vector(mono), without_a)
    assert row["reference"] == "trained_on" and row["reference_songs"] == 1
    assert f"the trained_on query at lake version {lake.version()}: 1 songs" == row["reference_detail"]
    assert row["fingerprint_song_id"] is None and row["nearest_song_id"] == ids["b"]
    assert row["copies_training"] is False
    elsewhere = checker.check("g1", mono, SR, _vector(mono), {"lake": "/lakes/another", "lake_version": 3})
    assert elsewhere["reference"] == "lake"
    assert "trained on another lake (/lakes/another)" in elsewhere["reference_detail"]
    assert elsewhere["copies_training"] is True and elsewhere["fingerprint_song_id"] == ids["a"]
    gone = checker.check("g1", mono, SR, _vector(mono), {"lake_version": 999})
    assert gone["reference"] == "lake" and "lake version 999 cannot be read here" in gone["reference_detail"]
    broken = checker.check("g1", mono, SR, _vector(mono), {"query": "SELECT nothing FROM nowhere"})
    assert broken["reference"] == "lake" and "the trained_on query fails" in broken["reference_detail"]


def test_a_lake_without_songs_leaves_the_columns_null_with_reasons(tmp_path, songs):
    empty = Lake.open(tmp_path / "lake", create=True)
    mono = decode(synth.encode(songs["a"], "wav")).mono_at(SR)
    row = CopyChecker(empty).check("g1", mono, SR, _vector(mono), None)
    assert row["nearest_song_id"] is None and row["fingerprint_song_id"] is None and row["copies_training"] is None
    assert row["fingerprint_status"] == "done" and row["fingerprint"]  # its own fingerprint is kept
    assert row["copy_reasons"] == [
        "nearest_song_id: the lake has no embeddings of its songs",
        "fingerprint_song_id: the lake has no fingerprints of its songs (songlake duplicates --backfill makes them)",
        "copies_training: neither the embedding nor the fingerprint could be compared"]


def test_without_chromaprint_the_embedding_still_decides(lake, songs, monkeypatch):
    lake, ids = lake

    def missing():
        raise fp.FingerprintUnavailable(f"Chromaprint is not available (test): {fp.INSTALL}")

    monkeypatch.setattr(fp, "_library", missing)
    mono = decode(synth.encode(songs["a"] * 0.5, "wav")).mono_at(SR)  # a, 6 dB quieter
    row = CopyChecker(lake).check("g1", mono, SR, _vector(mono), None)
    assert row["fingerprint_status"] == "unavailable" and row["fingerprint"] is None
    assert any(r.startswith("fingerprint_song_id: the generation's fingerprint is unavailable") and "apt-get" in r
               for r in row["copy_reasons"])
    assert row["nearest_song_id"] == ids["a"] and row["nearest_similarity"] >= EMBEDDING_COPY
    assert row["copies_training"] is True


def test_silence_is_compared_with_nothing_and_says_so(lake):
    lake, _ = lake
    silence = np.zeros(10 * SR, np.float32)
    row = CopyChecker(lake).check("g1", silence, SR, _vector(silence), None)
    assert row["fingerprint_status"] == "empty" and row["copies_training"] is None
    assert row["copy_reasons"][0] == "nearest_song_id: the generation has no embedding (silent, or too short to embed)"


def test_the_command_names_the_copies_it_added(lake, songs, tmp_path):
    import json

    from click.testing import CliRunner

    from songlake.cli import main

    lake, ids = lake
    (tmp_path / "quieter b.wav").write_bytes(synth.encode(songs["b"] * 0.5, "wav"))
    (tmp_path / "m.jsonl").write_text(json.dumps({"file": "quieter b.wav", "model": "copycat"}) + "\n")
    result = CliRunner().invoke(main, ["generations", "add", str(tmp_path), "--manifest", str(tmp_path / "m.jsonl"),
                                       "--lake", str(lake.root), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert f"copies a training song: quieter b.wav is song {ids['b']}" in result.stderr


def test_a_silent_generation_is_added_with_every_hole_named(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    added = add(lake, [Generation.from_samples(np.zeros((2, 6 * SR), np.float32), SR, "quiet")])
    row = run(connect(lake), "SELECT * FROM generations").to_pylist()[0]
    assert row["generation_id"] == added.added[0]
    assert row["loudness_lufs"] is None and row["embedding"] is None and row["copies_training"] is None
    assert {"loudness_lufs", "embedding"} <= set(row["analysis_failures"])
    named = {reason.partition(":")[0] for reason in row["adherence_reasons"]}
    assert set(row["analysis_failures"]) <= named  # each NULL column's reason is queryable too
    assert "loudness_lufs: silent (BS.1770 loudness is undefined)" in row["adherence_reasons"]
    assert "embedding: silent (the zero vector)" in row["copy_reasons"]


def test_generations_never_checked_say_so_and_check_copies_checks_them(lake, songs, monkeypatch):
    """A generation added before the copy check existed has no check: the view says so, and
    `songlake generations check-copies` checks it (and only what needs it, unless --all)."""
    from click.testing import CliRunner

    from songlake.cli import main
    from songlake.jobs import generations as jobs

    lake, ids = lake

    class Before(BatchWriter):  # the writer as it was before schema 12: no generation_copies rows
        def add(self, table, row):
            if table != "generation_copies":
                super().add(table, row)

    monkeypatch.setattr(jobs, "BatchWriter", Before)
    old = add(lake, [Generation(synth.encode(songs["b"][:, : 25 * SR], "flac"), "older", filename="b.flac")])
    monkeypatch.undo()
    query = "SELECT * FROM generations WHERE generation_id = $1"
    row = run(connect(lake), query, params=[old.added[0]]).to_pylist()[0]
    assert row["copies_training"] is None and row["copy_checked_at"] is None
    assert row["copy_reasons"] == ["copies_training: not checked (added before the copy check existed): "
                                   "run `songlake generations check-copies`"]

    first = CliRunner().invoke(main, ["generations", "check-copies", "--lake", str(lake.root)])
    assert first.exit_code == 0, first.output
    assert "1 generations checked, 1 copy a training song" in first.stderr
    row = run(connect(lake), query, params=[old.added[0]]).to_pylist()[0]
    assert row["copies_training"] is True and row["fingerprint_song_id"] == ids["b"]
    assert row["fingerprint_kind"] in ("same_audio", "edit") and not any("not checked" in r for r in row["copy_reasons"])

    again = CliRunner().invoke(main, ["generations", "check-copies", "--lake", str(lake.root)])
    assert again.exit_code == 0 and "no generation needed checking" in again.stderr
    every = run(connect(lake), "SELECT count(*) AS n FROM generations").to_pylist()[0]["n"]
    everything = CliRunner().invoke(main, ["generations", "check-copies", "--all", "--lake", str(lake.root)])
    assert everything.exit_code == 0 and f"{every} generations checked" in everything.stderr


def test_a_whole_song_a_little_faster_is_flagged_as_a_near_copy(lake, songs):
    """A training song played 3 % faster: its keys are not the song's and its cosine (about 0.96)
    is below the threshold, so only matching at other speeds finds it."""
    lake, ids = lake
    faster = fp.at_speed(songs["a"].mean(axis=0), SR, 1.03)
    row = CopyChecker(lake).check("g-faster", faster, SR, _vector(faster), None)
    assert row["nearest_song_id"] == ids["a"] and row["nearest_similarity"] < EMBEDDING_COPY
    assert (row["fingerprint_kind"], row["fingerprint_song_id"]) == ("near", ids["a"])
    assert row["fingerprint_shared_seconds"] >= fp.MIN_SHARED and row["copies_training"] is True
    assert any(r.startswith("copies_training: fingerprint near") for r in row["copy_reasons"])
