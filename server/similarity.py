"""Similarity search for the API and the UI: the nearest songs with their titles and artists.

The search itself is schema.vectors' exact cosine search over the embeddings the materialised
copy holds (loaded by its refresh, so a query never reads Lance); this module checks the
request, answers in the caller's terms (NotFound, BadRequest) and adds each hit's title and
artist with one indexed lookup of the k songs.
"""

from __future__ import annotations

import numpy as np

from songlake.schema.materialized import Materialized
from songlake.server import errors
from songlake.udfs.embedding import DIM

MAX_K = 1000


def similar(copy: Materialized, song_id: str, k: int = 10) -> list[dict]:
    """The k songs nearest to song_id by embedding (cosine), best first, with title and artist."""
    _check_k(k)
    index = copy.vectors()
    found = index.vector(song_id)
    if found is None:
        if copy.run("SELECT 1 FROM songs WHERE song_id = $1", params=[song_id]).num_rows == 0:
            raise errors.NotFound(f"no song {song_id} at lake version {copy.version}")
        raise errors.NotFound(f"song {song_id} has no embedding yet (the embed stage has not run for it)")
    vector, model = found
    return _named(copy, index.search(vector, int(k), model=model, exclude=(song_id,)))


def similar_to_vector(copy: Materialized, vector: np.ndarray, k: int = 10, exclude: tuple[str, ...] = (),
                      model: str | None = None) -> list[dict]:
    """The k songs nearest to a vector (cosine), best first; songs in `exclude` left out."""
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vector.shape != (DIM,) or not np.isfinite(vector).all() or not np.any(vector):
        raise errors.BadRequest(f"the query vector must be {DIM} finite numbers, not all zero "
                                f"(got {vector.shape[0]} values)")
    _check_k(k)
    return _named(copy, copy.vectors().search(vector, int(k), model=model, exclude=tuple(exclude)))


def _check_k(k: int) -> None:
    if not 1 <= int(k) <= MAX_K:
        raise errors.BadRequest(f"k is how many similar songs to return, 1 to {MAX_K}, not {k}")


def _named(copy: Materialized, hits: list[tuple[str, float]]) -> list[dict]:
    """The hits with each song's title and artist (one lookup of the k songs on the songs index)."""
    if not hits:
        return []
    listed = ", ".join("'" + song_id.replace("'", "''") + "'" for song_id, _ in hits)  # constants: an index scan
    names = {row["song_id"]: row for row in copy.run(
        f"SELECT song_id, title, artist FROM songs WHERE song_id IN ({listed})").to_pylist()}
    return [{"song_id": song_id, "title": names.get(song_id, {}).get("title"),
             "artist": names.get(song_id, {}).get("artist"), "similarity": similarity}
            for song_id, similarity in hits]
