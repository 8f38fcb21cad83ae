"""Genre for the whole collection: learned from the collection's own tags, refitted as it grows.

Genre is the one analysis that depends on every song: the classifier learns from the songs
that carry genre tags. Refitting it costs time in proportion to the collection, so it is not
done per batch:

- ``classify`` (a full refit) fits the model on every song, gives every song a fresh prediction
  row in ``genres`` (the newest row per song counts) and saves the model in the lake folder
  (``LAKE/models/genre.pkl``) with the collection's size and label count at the fit;
- ``predict_songs`` predicts just-analysed songs with the saved model (a cost per song that does
  not depend on the collection);
- ``refit_due``: a full refit is due when there is no model yet, when the collection has grown
  by ``REFIT_GROWTH`` since the fit, or when human labels changed. The pipeline then asks for
  one (debounced) refit. The collection's sizes at successive refits double, so all refits
  together fit about twice the collection: a constant per song.

Each song's own tag (or the genre a human labelled) is evidence for that song's genre from
the first song on, weighted as udfs/genre.py documents (``TAG_RELIABILITY``), so a tagged song
in a collection too small for a classifier is not left to the conventions prior alone. Tags that
the audio confidently contradicts are flagged ``tag_suspicious``, judged without the tag: out of
fold for the songs a classifier was fitted on, by its plain prediction for songs predicted later,
and by the prior while no classifier is fitted.

Human labels (schema.labels) are training labels too: a song whose ``primary_genre`` a human
labelled is fitted as that genre, whatever its tag says, and a labelled ``genre_tag`` stands
for the file's tag. The model's prediction row is written as usual; the songs view shows the
human label over it, so a refit never overrides a correction.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

import lance

from songlake.schema import BatchWriter, Lake, connect, lookup, run
from songlake.udfs.genre import GenreInputs, GenreModel

log = logging.getLogger(__name__)

COLUMNS = ("song_id", "genre_tag", "embedding", "bpm", "key", "time_signature", "syncopation_index",
           "rhythmic_complexity", "loudness_lufs", "chords", "progression_complexity", "common_patterns",
           "duration", "format")
REFIT_GROWTH = 2.0  # a full refit is due once the collection is this many times its size at the last fit
MODEL_FILE = "models/genre.pkl"


@dataclass
class Fitted:
    """The collection's genre model as last fitted, and the collection it was fitted on."""

    model: GenreModel
    name: str  # e.g. 'classifier(212 tagged)' or 'prior'
    songs: int  # tracks rows at the fit
    labels: int  # labels rows at the fit


def load_fitted(lake: Lake) -> Fitted | None:
    """The saved model; None when there is none (or it cannot be read: then a refit makes one)."""
    try:
        with open(lake.root / MODEL_FILE, "rb") as handle:
            fitted = pickle.load(handle)  # the lake's own file, written by save_fitted
    except FileNotFoundError:
        return None
    except Exception as exc:  # an unreadable model is replaced by the next refit
        log.warning("cannot read the genre model %s: %s; a refit will replace it", lake.root / MODEL_FILE, exc)
        return None
    return fitted if isinstance(fitted, Fitted) else None


def _save_fitted(lake: Lake, fitted: Fitted) -> None:
    path = lake.root / MODEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with open(aside, "wb") as handle:
        pickle.dump(fitted, handle)
    os.replace(aside, path)


def _sizes(lake: Lake) -> tuple[int, int]:
    """(tracks rows, labels rows) at the newest version: manifest counts, no scan."""
    state = lake.head()
    return tuple(lance.dataset(lake.uri(t), version=state.table_versions[t]).count_rows()
                 if t in state.table_versions else 0 for t in ("tracks", "labels"))


def refit_due(lake: Lake, fitted: Fitted | None) -> bool:
    if fitted is None:
        return True
    songs, labels = _sizes(lake)
    return songs >= REFIT_GROWTH * max(fitted.songs, 1) or labels != fitted.labels


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
    The model is saved for ``predict_songs``.

    ``batch`` holds the batch's songs (``song_row`` dicts); ``replaced`` names committed songs
    whose batch row supersedes the committed one (a re-analysis)."""
    sizes = _sizes(lake)
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
        predictions = model.predict(inputs, tags)
        flags = model.suspicious(inputs, tags)
    labelled = sum(r["song_id"] in human for r in rows)
    by_humans = f", {labelled} of them by human labels" if labelled else ""
    name = f"classifier({sum(model.counts.values())} tagged{by_humans})" if model.uses_classifier else "prior"
    _write(writer, rows, predictions, flags, name)
    _save_fitted(lake, Fitted(model, name, *sizes))
    return len(rows)


def predict_songs(lake: Lake, writer: BatchWriter, song_ids: list[str], fitted: Fitted) -> int:
    """Predict some songs with the saved model and add their genre rows; returns the count."""
    rows = genre_rows(lake, song_ids)
    if not rows:
        return 0
    inputs = [_inputs(r) for r in rows]
    tags = [r["human_genre"] or r["genre_tag"] for r in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictions = fitted.model.predict(inputs, tags)
        flags = fitted.model.contradicts(inputs, tags)
    _write(writer, rows, predictions, flags, fitted.name)
    return len(rows)


def _write(writer: BatchWriter, rows: list[dict], predictions, flags, name: str) -> None:
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


_LABELLED = ("genre_tag", "bpm", "key", "time_signature")  # labelled inputs that replace computed ones


def genre_rows(lake: Lake, song_ids: list[str]) -> list[dict]:
    """``song_row`` dicts (plus ``human_genre``) for some songs, from keyed lookups of their
    track, newest analysis, embedding and labels: the songs view's values, without its scan."""
    tracks = lookup.tracks(lake, song_ids, ["genre_tag", "loudness_lufs", "duration", "format"])
    analysis = lookup.newest(lake, "analysis", song_ids, [c for c in COLUMNS if c in _ANALYSIS],
                             ["analysis_version", "analyzed_at"])
    vectors = lookup.by_key(lookup.table_at(lake, "embeddings"), "song_id", song_ids, ["song_id", "model", "embedding"])
    embedding: dict[str, tuple[str, list]] = {}
    for row in ([] if vectors is None else vectors.to_pylist()):
        if row["song_id"] not in embedding or row["model"] < embedding[row["song_id"]][0]:
            embedding[row["song_id"]] = (row["model"], row["embedding"])
    labels = _labels(lake, song_ids)
    out = []
    for sid in song_ids:
        if sid not in tracks:
            continue
        row = {name: None for name in COLUMNS} | tracks[sid] | analysis.get(sid, {})
        row["song_id"], row["embedding"] = sid, embedding.get(sid, (None, None))[1]
        mine = labels.get(sid, {})
        for field in _LABELLED:
            if field in mine and mine[field] is not None:
                row[field] = mine[field]
        row["human_genre"] = mine.get("primary_genre") or mine.get("genre_tag")
        out.append({name: row.get(name) for name in (*COLUMNS, "human_genre")})
    return out


_ANALYSIS = {"bpm", "key", "time_signature", "syncopation_index", "rhythmic_complexity", "chords",
             "progression_complexity", "common_patterns"}


def _labels(lake: Lake, song_ids: list[str]) -> dict[str, dict]:
    """song_id -> {field: value} of its newest label per field (withdrawn labels are None)."""
    found = lookup.by_key(lookup.table_at(lake, "labels"), "song_id", song_ids,
                          ["song_id", "field", "value", "labeled_at"])
    newest: dict[tuple[str, str], dict] = {}
    for row in ([] if found is None else found.to_pylist()):
        key = (row["song_id"], row["field"])
        if key not in newest or row["labeled_at"] >= newest[key]["labeled_at"]:
            newest[key] = row
    out: dict[str, dict] = {}
    for (sid, field), row in newest.items():
        out.setdefault(sid, {})[field] = json.loads(row["value"])
    return out


def human_genres(con) -> dict[str, str]:
    """song_id -> the genre a human gave it: the labelled primary_genre, else a labelled genre_tag.

    Read from the songs view, where labels already replace the computed columns; a batch's
    re-analysed rows (which carry the file's own tag) get their labels from here too."""
    rows = run(con, "SELECT song_id, primary_genre, genre_tag, labeled_fields FROM songs "
                    "WHERE list_has_any(labeled_fields, ['primary_genre', 'genre_tag'])").to_pylist()
    return {r["song_id"]: r["primary_genre"] if "primary_genre" in r["labeled_fields"] else r["genre_tag"]
            for r in rows}
