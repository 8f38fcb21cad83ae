"""Copies: does a generation hand back a song its model was trained on?

Each generation is checked when it is added (jobs/generations.py), against the songs it was
trained on where its ``trained_on`` can be evaluated here (jobs/trained_on.py), else against the
whole lake; the ``generation_copies`` row says which (``reference``, ``reference_detail``). Two
checks, each the lake's own:

- by embedding: the nearest song by cosine similarity of the lake's embedding (udfs.embedding,
  the vectors songs have; schema.vectors' exact search), ``nearest_song_id`` and
  ``nearest_similarity``;
- by fingerprint: the generation's Chromaprint fingerprint (udfs.fingerprint, as songs get at
  ingest), its candidates looked up through the songs' inverted key index and its nearest song
  by embedding, each aligned and matched as jobs/duplicates.py does; the best match is
  ``fingerprint_song_id`` with its kind (same_audio or edit; near below), score, shared seconds and offset.
  When neither is found and the nearest song by embedding is about as long as the generation,
  the generation is also matched at the speeds within ±3.5 % that the lengths suggest
  (``fp.match_near``, as the duplicates stage does for near copies): kind ``near``, a whole
  song played a little faster or slower, which the keys of another speed do not find.

``copies_training`` is true when the fingerprint says same_audio, edit or near (20 s or more of
the same recording, near at another speed), or when the nearest song's cosine similarity is at least ``EMBEDDING_COPY``
(0.99). The threshold was measured with bench/copies.py on the 75 rendered corpus songs and 12
real recordings (87 songs, 3,741 distinct pairs): the closest two distinct songs reach 0.9829
(99th percentile 0.9475; the pairs of one corpus style, 155, also top out at 0.9829), so 0.99
leaves a margin and flags none of them. At 0.99 the embedding alone catches a 128 kbps MP3 of a
song 90.8 % of the time, the song 6 dB quieter always, a 30 s excerpt 36.8 % (34.5 % as MP3),
a 64 kbps MP3 3.4 % (which cuts the treble the timbre statistics read) and the song 3 % faster
never; lower thresholds catch more only by coming within reach of distinct songs (0.98 flags one
distinct pair). So the fingerprint is the check that finds copies (the song 3 % faster as a
near match), and the embedding is its backstop where a song or the generation has no
fingerprint (Chromaprint missing, a lake not yet backfilled). In a larger lake the closest distinct songs come closer; the threshold is a
constant here (and in each row, ``copy_threshold``) so that it can be measured again.

No silent holes: a column left NULL has its reason in ``copy_reasons`` ('column: why': the
lake has no embeddings or fingerprints, the generation is silent or too short to fingerprint,
Chromaprint is missing), and the reasons for a flag are there too ('copies_training: ...').
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from songlake.jobs.duplicates import candidates, fingerprint_rows, fingerprint_rows_of, lengths_near, stored
from songlake.jobs.trained_on import TrainingSet, training_set
from songlake.schema import Lake, Reader, lookup
from songlake.udfs import fingerprint as fp
from songlake.udfs.embedding import MODEL

EMBEDDING_COPY = 0.99  # cosine similarity to a training song at which a generation is a copy (bench/copies.py)
COPY_KINDS = ("same_audio", "edit", "near")  # fingerprint matches that are copies (jobs/duplicates.py's kinds)


class CopyChecker:
    """Checks generations against the lake's newest version, as it is when the checker is made
    (one per batch of generations: the training sets and their vectors are read once)."""

    def __init__(self, lake: Lake):
        self.lake = lake
        self.reader = Reader.shared(lake)
        self.index = self.reader.vectors()
        self._sets: dict[tuple, tuple[TrainingSet, list[str], np.ndarray | None]] = {}
        printed = lookup.table_at(lake, "fingerprints")
        self.fingerprinted = 0 if printed is None else printed.count_rows()
        tracks = lookup.table_at(lake, "tracks")
        self.songs = 0 if tracks is None else tracks.count_rows()

    def check(self, generation_id: str, mono: np.ndarray, sample_rate: int, vector: np.ndarray | None,
              trained_on: dict | None) -> dict:
        """The generation_copies row of one generation (mono audio, and its embedding)."""
        scope, ids, vectors = self._scope(trained_on or {})
        reasons: list[str] = []
        row = {"generation_id": generation_id, "lake_version": self.reader.version, "reference": scope.scope,
               "reference_detail": scope.detail,
               "reference_songs": self.songs if scope.song_ids is None else len(scope.song_ids),
               "embedding_model": MODEL, "copy_threshold": EMBEDDING_COPY}
        row |= self._nearest(vector, scope, ids, vectors, reasons)
        printed = fingerprint_rows(generation_id, mono, sample_rate)
        row |= {"fingerprint_status": printed.status, "fingerprint": printed.row["values"]}
        row |= self._fingerprint(generation_id, printed.row, scope, row.get("nearest_song_id"), reasons,
                                 (mono, sample_rate))
        compared = row["nearest_similarity"] is not None or (printed.status == "done" and self.fingerprinted > 0)
        row["copies_training"] = _verdict(row, compared, reasons)
        return row | {"copy_reasons": reasons, "checked_at": datetime.now(timezone.utc)}

    # --- by embedding ---------------------------------------------------------------------

    def _scope(self, trained_on: dict) -> tuple[TrainingSet, list[str], np.ndarray | None]:
        key = tuple(trained_on.get(k) for k in ("lake", "lake_version", "tag", "query"))
        if key not in self._sets:
            scope = training_set(self.lake, trained_on)
            ids, vectors = [], None
            if scope.song_ids is not None:
                found = [(sid, self.index.vector(sid)) for sid in sorted(scope.song_ids)]
                found = [(sid, v[0]) for sid, v in found if v is not None and v[1] == MODEL]
                ids = [sid for sid, _ in found]
                vectors = np.stack([v for _, v in found]) if found else None
            self._sets[key] = (scope, ids, vectors)
        return self._sets[key]

    def _nearest(self, vector, scope: TrainingSet, ids: list[str], vectors, reasons: list[str]) -> dict:
        none = {"nearest_song_id": None, "nearest_similarity": None}
        if vector is None or not np.any(vector):
            reasons.append("nearest_song_id: the generation has no embedding (silent, or too short to embed)")
            return none
        if scope.song_ids is None:
            found = self.index.search(vector, 1, model=MODEL) if len(self.index) else []
            if not found:
                reasons.append("nearest_song_id: the lake has no embeddings of its songs")
                return none
            sid, similarity = found[0]
        else:
            if vectors is None:
                reasons.append(f"nearest_song_id: none of the {len(scope.song_ids)} training songs has a {MODEL} "
                               "embedding")
                return none
            scores = vectors @ (np.asarray(vector, np.float32) / np.linalg.norm(vector))
            best = int(np.argmax(scores))
            sid, similarity = ids[best], round(float(scores[best]), 6)
        return {"nearest_song_id": sid, "nearest_similarity": similarity}

    # --- by fingerprint -------------------------------------------------------------------

    def _fingerprint(self, generation_id: str, printed: dict, scope: TrainingSet, nearest: str | None,
                     reasons: list[str], audio: tuple[np.ndarray, int]) -> dict:
        none = {"fingerprint_song_id": None, "fingerprint_kind": None, "fingerprint_score": None,
                "fingerprint_shared_seconds": None, "fingerprint_offset": None}
        if printed["status"] != "done":
            reasons.append(f"fingerprint_song_id: the generation's fingerprint is {printed['status']}: "
                           f"{printed['reason']}")
            return none
        if not self.fingerprinted:
            reasons.append("fingerprint_song_id: the lake has no fingerprints of its songs "
                           "(songlake duplicates --backfill makes them)")
            return none
        mine = stored(printed)
        proposed = candidates(self.lake, generation_id, mine.values)
        if nearest is not None and nearest not in proposed:
            proposed.append(nearest)
        if scope.song_ids is not None:
            proposed = [sid for sid in proposed if sid in scope.song_ids]
        best, best_id = fp.NO_MATCH, None
        rows = fingerprint_rows_of(self.lake, proposed)
        for sid, row in rows.items():
            if row["status"] != "done":
                continue
            found = fp.match(mine, stored(row))
            if found.found and _rank(found) > _rank(best):
                best, best_id = found, sid
        near = rows.get(nearest) if best_id is None and nearest is not None else None
        if near is not None and near["status"] == "done" and lengths_near(mine, stored(near)):
            found = fp.match_near(*audio, mine, stored(near))  # the whole song at another speed
            if found.found:
                best, best_id = found, nearest
        if best_id is None:
            where = "training song" if scope.song_ids is not None else "song in the lake"
            reasons.append(f"fingerprint_song_id: no {where} shares {fp.MIN_SHARED:.0f} s of audio with it")
            return none
        # offset: a moment at time t in the generation is at time t + offset in the song
        return {"fingerprint_song_id": best_id, "fingerprint_kind": best.kind, "fingerprint_score": best.score,
                "fingerprint_shared_seconds": best.shared_seconds, "fingerprint_offset": best.offset}


def _rank(found: fp.Match) -> tuple:
    return (found.kind == "same_audio", found.shared_seconds, found.score)


def _verdict(row: dict, compared: bool, reasons: list[str]) -> bool | None:
    """copies_training, with its reasons: true on either check, NULL when neither could run."""
    why = []
    if row["fingerprint_kind"] in COPY_KINDS:
        why.append(f"fingerprint {row['fingerprint_kind']} of {row['fingerprint_song_id']} over "
                   f"{row['fingerprint_shared_seconds']:.0f} s (score {row['fingerprint_score']:.2f})")
    similarity = row["nearest_similarity"]
    if similarity is not None and similarity >= EMBEDDING_COPY:
        why.append(f"embedding cosine {similarity:.4f} >= {EMBEDDING_COPY} with {row['nearest_song_id']}")
    if why:
        reasons.append("copies_training: " + "; ".join(why))
        return True
    if not compared:
        reasons.append("copies_training: neither the embedding nor the fingerprint could be compared")
        return None
    return False
