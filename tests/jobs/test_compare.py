"""A model's generations against a slice of a real lake (jobs.compare, `songlake generations
compare`). The rows are drawn from known distributions rather than analysed from audio, so the
answer is known: the lake holds 120 songs of one style (keys around C and G, about 110 BPM, rock
and pop, about -12 LUFS, sections of about 20 s, embeddings around one direction) and 40
classical songs the models were not trained on. 'faithful' made 80 generations drawn from the
training songs' distribution; 'shifted' made 80 with every key a tritone away, every tempo 1.3
times as fast, the genre electronic and the embeddings around another direction, at the same
loudness and section lengths."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import numpy as np
import pytest
from click.testing import CliRunner

from songlake.cli import main
from songlake.jobs.compare import compare_model
from songlake.schema import BatchWriter, Lake
from songlake.udfs.key import PITCH_CLASSES
from songlake.udfs.embedding import DIM, MODEL

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
STYLE_KEYS = ("C major", "G major", "D major", "F major", "A minor", "E minor")
TRAINED = "SELECT song_id FROM songs WHERE primary_genre <> 'classical'"


def _direction(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM)
    return v / np.linalg.norm(v)


def _draw(rng: np.random.Generator, n: int, style: str) -> list[dict]:
    """n rows of one distribution: 'training', 'shifted' or 'classical'."""
    centre = _direction({"training": 1, "shifted": 2, "classical": 3}[style])
    rows = []
    for _ in range(n):
        tonic, mode = STYLE_KEYS[int(rng.integers(len(STYLE_KEYS)))].split()
        bpm = float(np.exp(rng.normal(np.log(110), 0.06)))
        genre = str(rng.choice(["rock", "pop"], p=[0.6, 0.4]))
        if style == "shifted":
            tonic, bpm, genre = PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + 6) % 12], bpm * 1.3, "electronic"
        elif style == "classical":
            bpm, genre = bpm * 0.6, "classical"
        lengths = np.clip(rng.normal(20, 4, size=int(rng.integers(4, 7))), 4, None)
        ends = np.cumsum(lengths)
        vector = centre + rng.normal(0, 0.08, size=DIM)
        rows.append({"key": f"{tonic} {mode}", "bpm": bpm, "primary_genre": genre,
                     "loudness_lufs": float(rng.normal(-12, 1.5)),
                     "sections": [{"start": float(e - d), "end": float(e), "label": "verse"}
                                  for d, e in zip(lengths, ends)],
                     "embedding": (vector / np.linalg.norm(vector)).astype(np.float32).tolist()})
    return rows


def _songs(writer: BatchWriter, rows: list[dict], prefix: str) -> None:
    for n, row in enumerate(rows):
        sid = hashlib.sha256(f"{prefix}{n}".encode()).hexdigest()[:16]
        writer.add("tracks", {"song_id": sid, "file_sha256": sid * 4, "filename": f"{prefix}{n}.mp3",
                              "loudness_lufs": row["loudness_lufs"], "quality_flags": [], "ingested_at": NOW})
        writer.add("analysis", {"song_id": sid, "analysis_version": 3, "analyzed_at": NOW, "bpm": row["bpm"],
                                "key": row["key"], "sections": row["sections"], "failed_stages": []})
        writer.add("genres", {"song_id": sid, "model": "test", "primary_genre": row["primary_genre"],
                              "genre_confidence": 0.9, "predicted_genres": [], "predicted_at": NOW})
        writer.add("embeddings", {"song_id": sid, "model": MODEL, "embedding": row["embedding"]})


def _generations(writer: BatchWriter, rows: list[dict], model: str, trained_on: dict) -> None:
    for n, row in enumerate(rows):
        gid = hashlib.sha256(f"{model}{n}".encode()).hexdigest()[:32]
        writer.add("generations", {"generation_id": gid, "model": model, "checkpoint": f"step-{n % 2}",
                                   "conditioning": "{}", "trained_on_lake": trained_on["lake"],
                                   "trained_on_version": trained_on["lake_version"],
                                   "trained_on_query": trained_on["query"], "added_at": NOW})
        writer.add("adherence", {"generation_id": gid, "analysis_version": 3, "bpm": row["bpm"], "key": row["key"],
                                 "sections": row["sections"], "loudness_lufs": row["loudness_lufs"],
                                 "primary_genre": row["primary_genre"], "genre_model": "test",
                                 "embedding": row["embedding"], "scored_at": NOW})


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    rng = np.random.default_rng(0)
    lake = Lake.open(tmp_path_factory.mktemp("lake") / "lake", create=True)
    writer = BatchWriter(lake)
    _songs(writer, _draw(rng, 120, "training"), "train")
    _songs(writer, _draw(rng, 40, "classical"), "classical")
    version = writer.commit("ingest", "160 songs")
    trained_on = {"lake": str(lake.root), "lake_version": version, "query": TRAINED}
    writer = BatchWriter(lake)
    _generations(writer, _draw(rng, 80, "training"), "faithful", trained_on)
    _generations(writer, _draw(rng, 80, "shifted"), "shifted", trained_on)
    writer.commit("generations", "two models")
    return lake


@pytest.fixture(scope="module")
def compared(lake):
    return {model: compare_model(lake, model) for model in ("faithful", "shifted")}


def _by(comparison) -> dict:
    return {h.attribute: h for h in comparison.attributes}


def test_the_default_reference_is_the_songs_the_model_was_trained_on(compared, lake):
    faithful = compared["faithful"]
    assert faithful.reference == "the songs it was trained on" and faithful.n_reference == 120
    assert faithful.reference_detail == "the trained_on query at lake version 2: 120 songs"
    assert faithful.n_generations == 80 and _by(faithful)["key"].n_generated == 80


def test_generations_from_the_training_distribution_score_low(compared):
    found = _by(compared["faithful"])
    for attribute in ("key", "tempo", "genre", "loudness", "section_length"):
        assert found[attribute].js < 0.12, attribute  # sampling noise only
    assert found["tempo"].wasserstein < 4.0 and found["loudness"].wasserstein < 0.8
    assert found["section_length"].wasserstein < 1.5 and found["key"].wasserstein is None


def test_shifted_generations_score_measurably_higher(compared):
    faithful, shifted = _by(compared["faithful"]), _by(compared["shifted"])
    assert shifted["key"].js == pytest.approx(1.0) and shifted["genre"].js == pytest.approx(1.0)  # disjoint
    assert shifted["tempo"].js > 0.6 and shifted["tempo"].wasserstein == pytest.approx(0.3 * 110, rel=0.15)
    assert shifted["loudness"].js < 0.12 and shifted["section_length"].js < 0.12  # what did not move
    for attribute in ("key", "tempo", "genre"):
        assert shifted[attribute].js > faithful[attribute].js + 0.5, attribute


def test_frechet_over_the_lake_embedding_separates_them(compared):
    faithful, shifted = compared["faithful"].frechet, compared["shifted"].frechet
    assert faithful.name == "frechet_songlake_embedding" and "not FAD" in faithful.note
    assert (faithful.n_generated, faithful.n_reference, faithful.dim) == (80, 120, 64)
    assert faithful.shrinkage_generated == 0.0  # 80 vectors in 64 dimensions: the sample covariance
    # the two centres are random unit directions, about sqrt(2) apart: |mu1 - mu2|^2 near 2 (shrunk by the noise)
    assert shifted.distance > 1.0 and faithful.distance < 0.2 * shifted.distance


def test_a_reference_query_and_a_checkpoint(lake):
    against_classical = compare_model(lake, "faithful", reference="SELECT song_id FROM songs "
                                                                   "WHERE primary_genre = 'classical'")
    assert against_classical.n_reference == 40 and _by(against_classical)["genre"].js == pytest.approx(1.0)
    one = compare_model(lake, "faithful", checkpoint="step-0")
    assert one.n_generations == 40 and any("40 generations in 64 dimensions" in w for w in one.warnings)
    assert one.frechet.shrinkage_generated > 0


def test_what_cannot_be_compared_is_refused_with_the_cause(lake):
    with pytest.raises(ValueError, match="no generations of model 'nobody'; models in the lake: faithful, shifted"):
        compare_model(lake, "nobody")
    with pytest.raises(ValueError, match="the reference query cannot be run"):
        compare_model(lake, "faithful", reference="SELECT title FROM nowhere")


def test_the_comparison_as_arrow_and_as_json(compared):
    summary = compared["shifted"].summary().to_pylist()
    assert [r["measure"] for r in summary] == ["key", "tempo", "genre", "loudness", "section_length",
                                               "frechet_songlake_embedding"]
    assert summary[-1]["frechet"] == compared["shifted"].frechet.distance and summary[1]["unit"] == "BPM"
    histograms = compared["shifted"].histograms()
    keys = histograms.filter(np.array(histograms["attribute"].to_pylist()) == "key")
    assert keys.num_rows == 24 and sum(keys["generated"].to_pylist()) == 80
    data = json.loads(json.dumps(compared["shifted"].as_dict()))
    assert data["attributes"][0]["n_reference"] == 120 and data["frechet"]["name"] == "frechet_songlake_embedding"


def test_the_command_prints_a_table_and_json(lake):
    runner = CliRunner()
    result = runner.invoke(main, ["generations", "compare", "--model", "shifted", "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    assert "frechet_songlake_embedding" in result.stdout and "not FAD" in result.stdout
    assert "the songs it was trained on" in result.stdout and "electronic" in result.stdout
    result = runner.invoke(main, ["generations", "compare", "--model", "faithful", "--checkpoint", "step-1",
                                  "--reference", "SELECT song_id FROM songs", "--json", "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_generations"] == 40 and data["n_reference"] == 160 and data["checkpoint"] == "step-1"
    result = runner.invoke(main, ["generations", "compare", "--model", "nobody", "--lake", str(lake.root)])
    assert result.exit_code != 0 and "no generations of model 'nobody'" in result.output
