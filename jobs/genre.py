"""Genre for the whole collection: learned from the collection's own tags, refitted per batch.

Genre is the one analysis that depends on every song: the classifier learns from the songs
that carry genre tags. At the end of each ingest or re-analysis batch the model is refitted on
the committed songs plus the batch's own, and every song gets a fresh prediction row in the
``genres`` table (the newest row per song counts), in the same commit as the batch. Tags that
the model confidently contradicts, judged out of fold, are flagged ``tag_suspicious``.

Human labels (schema.labels) are training labels too: a song whose ``primary_genre`` a human
labelled is fitted as that genre, whatever its tag says, and a labelled ``genre_tag`` stands
for the file's tag. The model's prediction row is written as usual; the songs view shows the
human label over it, so a refit never overrides a correction.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime, timezone

from songlake.schema import BatchWriter, Lake, connect, run
from songlake.udfs.genre import GenreInputs, GenreModel

log = logging.getLogger(__name__)

COLUMNS = ("song_id", "genre_tag", "embedding", "bpm", "key", "time_signature", "syncopation_index",
           "rhythmic_complexity", "loudness_lufs", "chords", "progression_complexity", "common_patterns",
           "duration", "format")


def song_row(rows: dict[str, dict]) -> dict:
    """A songs-view-shaped dict of the genre inputs, from one examined song's table rows."""
    merged = {**rows["tracks"], **rows["analysis"], **rows["embeddings"]}
    return {name: merged.get(name) for name in COLUMNS}


def _inputs(row: dict) -> GenreInputs:
    try:
        return GenreInputs.from_row(row)
    except ValueError as exc:  # one odd value must not cost the song its genre
        log.warning("genre inputs of %s: %s; predicting from the rest", row.get("song_id"), exc)
        return GenreInputs(embedding=row.get("embedding"))


def classify(lake: Lake, writer: BatchWriter, batch: list[dict], replaced: set[str] = frozenset()) -> int:
    """Refit on the collection and add a genre row for every song to the writer; returns the count.

    ``batch`` holds the batch's songs (``song_row`` dicts); ``replaced`` names committed songs
    whose batch row supersedes the committed one (a re-analysis)."""
    con = connect(lake)
    committed = run(con, f"SELECT {', '.join(COLUMNS)} FROM songs").to_pylist()
    rows = [r for r in committed if r["song_id"] not in replaced] + batch
    if not rows:
        return 0
    inputs = [_inputs(r) for r in rows]
    human = human_genres(con)
    tags = [human.get(r["song_id"], r["genre_tag"]) for r in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few tags: the prior decides, and the model name says so
        model = GenreModel.fit(inputs, tags, seed=0)
        predictions = model.predict(inputs)
        flags = model.suspicious(inputs, tags) if model.uses_classifier else [False] * len(rows)
    labelled = sum(r["song_id"] in human for r in rows)
    by_humans = f", {labelled} of them by human labels" if labelled else ""
    name = f"classifier({sum(model.counts.values())} tagged{by_humans})" if model.uses_classifier else "prior"
    now = datetime.now(timezone.utc)
    for row, genre, flag in zip(rows, predictions, flags):
        writer.add("genres", {
            "song_id": row["song_id"],
            "model": name,
            "primary_genre": genre.primary_genre,
            "genre_confidence": round(float(genre.genre_confidence), 4),
            "predicted_genres": [{"genre": g, "confidence": round(float(c), 4)} for g, c in genre.predicted_genres],
            "tag_suspicious": bool(flag),
            "predicted_at": now,
        })
    return len(rows)


def human_genres(con) -> dict[str, str]:
    """song_id -> the genre a human gave it: the labelled primary_genre, else a labelled genre_tag.

    Read from the songs view, where labels already replace the computed columns; a batch's
    re-analysed rows (which carry the file's own tag) get their labels from here too."""
    rows = run(con, "SELECT song_id, primary_genre, genre_tag, labeled_fields FROM songs "
                    "WHERE list_has_any(labeled_fields, ['primary_genre', 'genre_tag'])").to_pylist()
    return {r["song_id"]: r["primary_genre"] if "primary_genre" in r["labeled_fields"] else r["genre_tag"]
            for r in rows}
