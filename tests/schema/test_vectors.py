"""The exact in-memory vector index: its answers against a brute-force search made here with
numpy in float64, its incremental loading by fragment, and its models kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from songlake.schema import BatchWriter, Lake, LakeError
from songlake.schema import vectors as vectors_module
from songlake.schema.vectors import VectorIndex
from songlake.udfs.embedding import DIM


def _write(lake: Lake, ids: list[str], vectors: np.ndarray, model: str = "m1") -> None:
    writer = BatchWriter(lake)
    for song_id, vector in zip(ids, vectors):
        writer.add("embeddings", {"song_id": song_id, "model": model, "embedding": vector.tolist()})
    writer.commit("embed", f"{len(ids)} embeddings")


def _brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    unit = vectors.astype(np.float64) / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    order = np.argsort(-scores)[:k]
    return order.tolist(), scores[order]


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake.open(tmp_path / "lake", create=True)


def test_search_equals_a_brute_force_search(lake):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, DIM)).astype(np.float32)
    ids = [f"song{i:03d}" for i in range(300)]
    _write(lake, ids, vectors)
    index = VectorIndex().load(lake.dataset("embeddings"))
    assert len(index) == 300
    query = rng.normal(size=DIM)
    order, scores = _brute_force(vectors, query, 10)
    found = index.search(query, 10)
    assert [song_id for song_id, _ in found] == [ids[i] for i in order]
    np.testing.assert_allclose([s for _, s in found], scores, atol=1e-5)
    vector, model = index.vector("song042")
    assert model == "m1" and np.allclose(vector, vectors[42] / np.linalg.norm(vectors[42]), atol=1e-6)
    near = index.search(vectors[42], 5, exclude=("song042",))
    assert "song042" not in [s for s, _ in near] and len(near) == 5
    assert index.vector("nope") is None


def test_a_new_version_reads_only_the_new_fragments_and_the_old_index_stays(lake, monkeypatch):
    rng = np.random.default_rng(4)
    first = rng.normal(size=(50, DIM)).astype(np.float32)
    _write(lake, [f"a{i}" for i in range(50)], first)
    old = VectorIndex().load(lake.dataset("embeddings"))
    _write(lake, [f"b{i}" for i in range(20)], rng.normal(size=(20, DIM)).astype(np.float32))
    reads = []
    real = vectors_module._read
    monkeypatch.setattr(vectors_module, "_read", lambda fragment: reads.append(fragment.fragment_id) or real(fragment))
    ds = lake.dataset("embeddings")
    new = old.load(ds)
    assert len(reads) == 1 and len(new) == 70 and len(old) == 50  # one new fragment; the old index unchanged
    assert new.load(ds) is new and len(reads) == 1  # the same version: nothing read
    assert new.search(first[7], 1)[0][0] == "a7" and old.search(first[7], 1)[0][0] == "a7"


def test_each_model_is_searched_apart(lake):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(30, DIM)).astype(np.float32), rng.normal(size=(30, DIM)).astype(np.float32)
    ids = [f"s{i}" for i in range(30)]
    _write(lake, ids, a, model="zeta")
    _write(lake, ids, b, model="alpha")
    index = VectorIndex().load(lake.dataset("embeddings"))
    vector, model = index.vector("s3")
    assert model == "alpha" and np.allclose(vector, b[3] / np.linalg.norm(b[3]), atol=1e-6)  # first model by name
    order, _ = _brute_force(a, a[3], 4)
    found = index.search(a[3], 4, model="zeta")
    assert [s for s, _ in found] == [ids[i] for i in order]  # zeta's vectors only
    assert index.search(a[3], 4, model="unknown") == []


def test_degenerate_and_bad_queries(lake):
    empty = VectorIndex().load(lake.dataset("embeddings"))
    assert len(empty) == 0 and empty.search(np.ones(DIM), 5) == []
    assert VectorIndex().load(None).search(np.ones(DIM), 5) == []
    _write(lake, ["x", "y"], np.eye(2, DIM, dtype=np.float32))
    index = empty.load(lake.dataset("embeddings"))
    assert [s for s, _ in index.search(np.eye(1, DIM)[0], 5)] == ["x", "y"]  # fewer songs than k: all of them
    with pytest.raises(LakeError, match="not all zero"):
        index.search(np.zeros(DIM), 3)
    with pytest.raises(LakeError, match="3 values"):
        index.search(np.ones(3), 3)
