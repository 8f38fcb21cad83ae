"""Similarity search over the lake's embeddings: an exact cosine search held in memory.

Why exact and in memory: a collection of 100,000 songs has 100,000 x 64 float32 values (25 MB).
One matrix-vector product over them takes a few milliseconds, which is faster than the
approximate indexes' own overhead at this size, and its recall is 1. The matrix is read from the
``embeddings`` table once per table version; when the table only gained fragments since (the
pipeline appends), only the new fragments are read.

Each song is searched with its own model's vectors: a lake whose embeddings come from two
models (a re-embedding in progress) never compares vectors of different models.
"""

from __future__ import annotations

from dataclasses import dataclass

import lance
import numpy as np

from songlake.schema.errors import LakeError


@dataclass
class _Block:
    ids: np.ndarray  # song ids (object array)
    models: np.ndarray  # model names (object array)
    vectors: np.ndarray  # (n, dim) float32, rows of unit length
    mixed: bool = False  # more than one model


class VectorIndex:
    """The embeddings of one table version, searchable by cosine similarity."""

    def __init__(self) -> None:
        self.table_version: int | None = None
        self._fragments: dict[int, _Block] = {}
        self._merged: _Block | None = None

    def load(self, ds: lance.LanceDataset | None) -> "VectorIndex":
        """Hold the embeddings of ds (a table version); reads only fragments not held yet."""
        if ds is None:
            self.table_version, self._fragments, self._merged = None, {}, None
            return self
        if ds.version == self.table_version:
            return self
        wanted = {f.fragment_id: f for f in ds.get_fragments()}
        deleted = any(f.metadata.deletion_file is not None for f in wanted.values())
        kept = {i: b for i, b in self._fragments.items() if i in wanted and not deleted}
        for fid, fragment in wanted.items():
            if fid not in kept:
                kept[fid] = _read(fragment)
        self._fragments, self.table_version, self._merged = kept, ds.version, None
        return self

    def __len__(self) -> int:
        return len(self._block().ids)

    def _block(self) -> _Block:
        if self._merged is None:
            blocks = [self._fragments[i] for i in sorted(self._fragments)]
            if not blocks:
                self._merged = _Block(np.array([], dtype=object), np.array([], dtype=object), np.zeros((0, 0), np.float32))
            else:
                models = np.concatenate([b.models for b in blocks])
                self._merged = _Block(np.concatenate([b.ids for b in blocks]), models,
                                      np.concatenate([b.vectors for b in blocks]), len(set(models)) > 1)
        return self._merged

    def vector(self, song_id: str) -> tuple[np.ndarray, str] | None:
        """A song's vector and model (the first model by name when it has several); None if absent."""
        block = self._block()
        where = np.flatnonzero(block.ids == song_id)
        if where.size == 0:
            return None
        best = min(where, key=lambda i: block.models[i])
        return block.vectors[best], str(block.models[best])

    def search(self, vector: np.ndarray, k: int, model: str | None = None,
               exclude: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        """The k nearest songs as (song_id, cosine similarity), best first; one entry per song."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(vector).all() or norm == 0.0:
            raise LakeError("a query vector must be finite and not all zero")
        block = self._block()
        if len(block.ids) == 0:
            return []
        if vector.shape[0] != block.vectors.shape[1]:
            raise LakeError(f"the query vector has {vector.shape[0]} values; the lake's embeddings have "
                            f"{block.vectors.shape[1]}")
        scores = block.vectors @ (vector / norm)
        if model is not None and block.mixed:
            scores = np.where(block.models == model, scores, -np.inf)
        want = min(len(scores), k + len(exclude) + 8)
        top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        out: dict[str, float] = {}
        for i in top:
            sid = block.ids[i]
            if sid in exclude or sid in out or not np.isfinite(scores[i]):
                continue
            out[sid] = round(float(scores[i]), 6)
            if len(out) == k:
                break
        return list(out.items())


def _read(fragment) -> _Block:
    table = fragment.to_table(columns=["song_id", "model", "embedding"], filter="embedding IS NOT NULL")
    ids = np.asarray(table.column("song_id").to_pylist(), dtype=object)
    models = np.asarray(table.column("model").to_pylist(), dtype=object)
    column = table.column("embedding").combine_chunks()
    if len(column) == 0:
        return _Block(ids, models, np.zeros((0, column.type.list_size), np.float32))
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    vectors = flat.reshape(len(column), column.type.list_size)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return _Block(ids, models, (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32))
