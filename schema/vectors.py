"""Similarity search over the lake's embeddings: an exact cosine search held in memory.

Why exact and in memory: a collection of 100,000 songs has 100,000 x 64 float32 values (25 MB).
One matrix-vector product over them takes about a millisecond, which is faster than the
approximate indexes' own overhead at this size, and its recall is 1. The matrix is read from the
``embeddings`` table once per table version; when the table only gained fragments since (the
pipeline appends), only the new fragments are read.

An index holds one table version and never changes: ``load`` returns a new index for a new
version (sharing the fragments both hold), so a reader in another thread keeps searching the
version it started with, and a holder swaps versions with one reference assignment.

Each song is searched with its own model's vectors: a lake whose embeddings come from two
models (a re-embedding in progress) never compares vectors of different models. A song's vector
is found through a dictionary from song_id, not a scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lance
import numpy as np

from songlake.schema.errors import LakeError


@dataclass(frozen=True)
class _Block:
    """The rows of one fragment, or all of them merged."""

    ids: np.ndarray  # song ids (object array)
    models: np.ndarray  # model names (object array)
    vectors: np.ndarray  # (n, dim) float32, rows of unit length


@dataclass(frozen=True)
class _Merged:
    """Every row of a table version, ready to search."""

    ids: np.ndarray
    vectors: np.ndarray
    model_names: tuple[str, ...]  # sorted
    model_codes: np.ndarray  # per row, its model's position in model_names
    rows: dict[str, int] = field(repr=False)  # song_id -> its row (of the first model by name)

    @property
    def mixed(self) -> bool:
        return len(self.model_names) > 1


class VectorIndex:
    """The embeddings of one table version (or none), searchable by cosine similarity."""

    def __init__(self, table_version: int | None = None, fragments: dict[int, _Block] | None = None) -> None:
        self.table_version = table_version
        self._fragments = fragments or {}
        self._all = _merge([self._fragments[i] for i in sorted(self._fragments)])

    def load(self, ds: lance.LanceDataset | None) -> "VectorIndex":
        """The index of ds (a table version; None: no table): this one when it holds that version
        already, else a new one that reads only the fragments this one does not hold."""
        if ds is None:
            return self if self.table_version is None and not self._fragments else VectorIndex()
        if ds.version == self.table_version:
            return self
        wanted = {f.fragment_id: f for f in ds.get_fragments()}
        deleted = any(f.metadata.deletion_file is not None for f in wanted.values())
        kept = {i: b for i, b in self._fragments.items() if i in wanted and not deleted}
        for fid, fragment in wanted.items():
            if fid not in kept:
                kept[fid] = _read(fragment)
        return VectorIndex(ds.version, kept)

    def __len__(self) -> int:
        return len(self._all.ids)

    def vector(self, song_id: str) -> tuple[np.ndarray, str] | None:
        """A song's vector and model (the first model by name when it has several); None if absent."""
        row = self._all.rows.get(song_id)
        if row is None:
            return None
        return self._all.vectors[row], self._all.model_names[self._all.model_codes[row]]

    def search(self, vector: np.ndarray, k: int, model: str | None = None,
               exclude: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        """The k nearest songs as (song_id, cosine similarity), best first; one entry per song.
        With ``model``, only that model's vectors (when the lake holds several)."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(vector).all() or norm == 0.0:
            raise LakeError("a query vector must be finite and not all zero")
        every = self._all
        if len(every.ids) == 0:
            return []
        if vector.shape[0] != every.vectors.shape[1]:
            raise LakeError(f"the query vector has {vector.shape[0]} values; the lake's embeddings have "
                            f"{every.vectors.shape[1]}")
        scores = every.vectors @ (vector / norm)
        if model is not None and every.mixed:
            code = every.model_names.index(model) if model in every.model_names else -1
            scores = np.where(every.model_codes == code, scores, -np.inf)
        want = min(len(scores), k + len(exclude) + 8)  # room for excluded songs and duplicate rows
        top = np.argpartition(scores, len(scores) - want)[-want:] if want < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        out: dict[str, float] = {}
        for i in top:
            sid = every.ids[i]
            if sid in exclude or sid in out or not np.isfinite(scores[i]):
                continue
            out[sid] = round(float(scores[i]), 6)
            if len(out) == k:
                break
        return list(out.items())


def _merge(blocks: list[_Block]) -> _Merged:
    """One searchable block of the fragments' rows (done once per table version, not per query)."""
    if not blocks:
        empty = np.array([], dtype=object)
        return _Merged(empty, np.zeros((0, 0), np.float32), (), np.zeros(0, np.int32), {})
    ids = np.concatenate([b.ids for b in blocks])
    names, codes = np.unique(np.concatenate([b.models for b in blocks]).astype(str), return_inverse=True)
    codes = codes.astype(np.int32)
    rows: dict[str, int] = {}
    for code in reversed(range(len(names))):  # the first model by name is written last, so it wins
        chosen = np.flatnonzero(codes == code) if len(names) > 1 else np.arange(len(ids))
        rows.update(zip(ids[chosen].tolist(), chosen.tolist()))
    return _Merged(ids, np.concatenate([b.vectors for b in blocks]), tuple(names.tolist()), codes, rows)


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
