"""Human labels: corrections of a song's public columns, kept with their history.

A label sets one column of the ``songs`` view for one song: the field name is the column's name
(``LABEL_FIELDS``), the value is validated and normalised here and stored as JSON text in the
``labels`` table with its author, an optional note and the time. Every change is a new row: the
newest row per song and field counts, the older ones are the history (view ``label_history``).
A value of None withdraws the label, so the computed value counts again.

What the songs view does with them (sql/songs.sql): the label replaces the computed value, a
labelled ``primary_genre`` comes with ``genre_confidence`` 1.0 and a labelled ``key`` with
``key_confidence`` 1.0, and ``labeled_fields`` / ``labeled_at`` say what a human set and when.
Labels live in their own table, so a genre refit or a re-analysis (which append new rows to
``genres`` and ``analysis``) never overrides them; the genre refit learns from labelled genres
(jobs/genre.py).

Value conventions (what ``validate`` accepts and what it stores):

- ``primary_genre``: a genre of the vocabulary (songlake.udfs.genre.GENRES); common spellings
  are mapped onto it ('Hip Hop' -> 'hip-hop', 'R&B' -> 'r&b');
- ``genre_tag``, ``title``, ``artist``, ``album``, ``license``, ``source``: non-empty text;
- ``key``: tonic and mode, 'A minor' or 'F# major', stored in the lake's spelling (C C# D Eb E F
  F# G Ab A Bb B: 'Gb major' -> 'F# major'); 'A min' and 'A:min' are read too;
- ``bpm``: beats per minute in [20, 400]; ``time_signature``: '4/4', '6/8' ...;
- ``sections``: a list of {start, end, label} in seconds with labels from intro, verse,
  pre-chorus, chorus, bridge, solo, outro, non-overlapping within the song's duration (stored
  sorted by start);
- ``year``: 1900 to 2100; ``track``: 1 to 999; ``is_instrumental``: true or false;
- ``duplicate_choice``: what a reviewer decided about a song that has duplicates (sql/duplicates.sql):
  'preferred' (the copy its group trains on, whatever the quality rules say), 'keep' (trained on
  beside the preferred copy) or 'drop' (never preferred, left out of training; never deleted).

Usage::

    from songlake.schema.labels import write_labels
    version = write_labels(lake, song_id, {"primary_genre": "rock", "key": "A minor"}, author="ana",
                           note="checked by ear")
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from songlake.schema.errors import LakeError
from songlake.schema.lake import Lake
from songlake.schema.writer import BatchWriter

_TEXT_FIELDS = ("title", "artist", "album", "genre_tag", "license", "source")
LABEL_FIELDS = ("primary_genre", "key", "bpm", "time_signature", "sections", "title", "artist", "album", "year",
                "track", "genre_tag", "license", "source", "is_instrumental", "duplicate_choice")
DUPLICATE_CHOICES = ("preferred", "keep", "drop")

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")  # the lake's spelling
_LETTER = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_KEY = re.compile(r"^\s*(?P<letter>[A-Ga-g])(?P<accidental>[#b\u266f\u266d]?)\s*:?\s*(?P<mode>major|minor|maj|min)\s*$",
                  re.IGNORECASE)
_TIME_SIGNATURE = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{1,2})\s*$")
MAX_TEXT = 1000  # characters of a text label
_OVERLAP = 1e-6  # seconds two sections may overlap by rounding
_PAST_END = 0.5  # seconds a section may end after the file's measured duration (decoder padding)


# --- validation ------------------------------------------------------------------------------

def validate(field: str, value: Any, *, duration: float | None = None) -> Any:
    """The normalised value of one label, or ValueError naming the field and what is allowed.

    ``duration`` (seconds) bounds the sections; None (unknown) checks only their order. None as
    the value withdraws the label and is returned as is."""
    if field not in LABEL_FIELDS:
        raise ValueError(f"'{field}' cannot be labelled; the fields that can: {', '.join(LABEL_FIELDS)}")
    if value is None:
        return None
    if field == "sections":
        return _sections(value, duration)
    return _VALIDATORS[field](field, value)


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} is text, got {type(value).__name__} {value!r}")
    text = " ".join(value.split())  # newlines and runs of spaces collapse: a tag is one line
    if not text:
        raise ValueError(f"{field} is empty: give a value, or null to withdraw the label")
    if len(text) > MAX_TEXT:
        raise ValueError(f"{field} is {len(text)} characters long; at most {MAX_TEXT} are allowed")
    return text


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{field} is a number, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} is a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{field} is a finite number, got {value!r}")
    return number


def _integer(field: str, value: Any, low: int, high: int, what: str) -> int:
    number = _number(field, value)
    if number != int(number):
        raise ValueError(f"{field} is a whole number, got {value!r}")
    if not low <= number <= high:
        raise ValueError(f"{field} must be {what} from {low} to {high}, got {int(number)}")
    return int(number)


def _year(field: str, value: Any) -> int:
    return _integer(field, value, 1900, 2100, "a year")


def _track(field: str, value: Any) -> int:
    return _integer(field, value, 1, 999, "a track number")


def _bpm(field: str, value: Any) -> float:
    number = _number(field, value)
    if not 20.0 <= number <= 400.0:
        raise ValueError(f"bpm must be beats per minute from 20 to 400, got {number:g} (seconds per beat given?)")
    return round(number, 3)


def _key(field: str, value: Any) -> str:
    match = _KEY.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"key is a tonic and a mode like 'A minor' or 'F# major', got {value!r}")
    sign = match["accidental"]
    shift = 1 if sign in ("#", "\u266f") else -1 if sign else 0  # b, B (the match ignores case) or flat sign
    tonic = PITCH_CLASSES[(_LETTER[match["letter"].lower()] + shift) % 12]
    mode = "major" if match["mode"].lower().startswith("maj") else "minor"
    return f"{tonic} {mode}"


def _time_signature(field: str, value: Any) -> str:
    match = _TIME_SIGNATURE.match(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match[1]) <= 32 or int(match[2]) not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"time_signature is beats over a note value like '4/4', '3/4' or '6/8', got {value!r}")
    return f"{int(match[1])}/{int(match[2])}"


def _genre(field: str, value: Any) -> str:
    from songlake.udfs.genre import GENRES, normalize_genre_tag

    if isinstance(value, str):
        name = value.strip().lower()
        if name in GENRES:
            return name
        mapped = normalize_genre_tag(value)
        if mapped is not None and mapped != "other":  # 'other' is what any unknown word maps to
            return mapped
    raise ValueError(f"primary_genre is one of {', '.join(GENRES)}; got {value!r}")


def _boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{field} is true or false, got {value!r}")
    return value


def _sections(value: Any, duration: float | None) -> list[dict]:
    from songlake.udfs.sections import LABELS

    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError("sections is a non-empty list of {start, end, label} (null withdraws the label)")
    spans = []
    for i, span in enumerate(value):
        if not isinstance(span, dict) or set(span) != {"start", "end", "label"}:
            raise ValueError(f"sections[{i}] must be an object with exactly start, end and label, got {span!r}")
        start, end = _number(f"sections[{i}].start", span["start"]), _number(f"sections[{i}].end", span["end"])
        label = span["label"].strip().lower() if isinstance(span["label"], str) else span["label"]
        if label not in LABELS:
            raise ValueError(f"sections[{i}].label is one of {', '.join(LABELS)}; got {span['label']!r}")
        if not 0.0 <= start < end:
            raise ValueError(f"sections[{i}] must start at 0 s or later and end after it starts "
                             f"(seconds, not beats?): start {start:g}, end {end:g}")
        if duration is not None and (end > duration + _PAST_END or start >= duration):
            raise ValueError(f"sections[{i}] ends at {end:g} s, after the song's end ({duration:g} s)")
        spans.append({"start": round(start, 3), "end": round(min(end, duration or end), 3), "label": label})
    spans.sort(key=lambda s: s["start"])
    for before, after in zip(spans, spans[1:]):
        if after["start"] < before["end"] - _OVERLAP:
            raise ValueError(f"sections overlap: {before['label']} {before['start']:g}-{before['end']:g} s and "
                             f"{after['label']} {after['start']:g}-{after['end']:g} s")
    return spans


def _duplicate_choice(field: str, value: Any) -> str:
    choice = value.strip().lower() if isinstance(value, str) else value
    if choice not in DUPLICATE_CHOICES:
        raise ValueError(f"{field} is one of {', '.join(DUPLICATE_CHOICES)}, got {value!r}")
    return choice


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "primary_genre": _genre, "key": _key, "bpm": _bpm, "time_signature": _time_signature,
    "year": _year, "track": _track, "is_instrumental": _boolean, "duplicate_choice": _duplicate_choice,
    **{name: _text for name in _TEXT_FIELDS},
}  # sections are checked against the song's duration: validate calls _sections itself
assert set(_VALIDATORS) | {"sections"} == set(LABEL_FIELDS)


# --- writing ---------------------------------------------------------------------------------

def write_labels(lake: Lake, song_id: str, labels: dict, author: str, note: str | None = None) -> int:
    """Validate every label of one song, then write them all as one lake version (kind 'label').

    Returns the new lake version. LakeError when the lake has no such song; ValueError (naming
    every invalid field) when any label is invalid, and then nothing is written."""
    if not isinstance(author, str) or not author.strip():
        raise ValueError("author is who made the labels (a user or token name), not empty")
    if note is not None and not isinstance(note, str):
        raise ValueError(f"note is text or None, got {type(note).__name__}")
    if not isinstance(labels, dict) or not labels:
        raise ValueError(f"labels is a non-empty mapping of field to value; fields: {', '.join(LABEL_FIELDS)}")
    duration, newest = _song(lake, song_id)
    values, problems = {}, []
    for field, value in labels.items():
        try:
            values[field] = validate(field, value, duration=duration)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("invalid labels: " + "; ".join(problems))
    # Labels of one song are ordered by time: never write one at or before the song's newest.
    at = datetime.now(timezone.utc)
    if newest is not None and at <= newest:
        at = newest + timedelta(microseconds=1)
    writer = BatchWriter(lake)
    for field, value in values.items():
        writer.add("labels", {"song_id": song_id, "field": field, "value": json.dumps(value, ensure_ascii=False),
                              "author": author.strip(), "note": note.strip() if note and note.strip() else None,
                              "labeled_at": at})
    fields = ", ".join(values)
    version = writer.commit("label", f"{author.strip()} labelled {song_id}: {fields}", {"songs": 1})
    assert version is not None  # at least one row was added
    return version


def _song(lake: Lake, song_id: str) -> tuple[float | None, datetime | None]:
    """(duration, time of its newest label) of a song at the latest version; LakeError when absent."""
    if not isinstance(song_id, str) or not song_id:
        raise LakeError(f"no song {song_id!r}: a song id is a non-empty string")
    quoted = song_id.replace("'", "''")
    tracks = lake.dataset("tracks").to_table(columns=["duration"], filter=f"song_id = '{quoted}'")
    if tracks.num_rows == 0:
        raise LakeError(f"no song {song_id} in the lake at version {lake.version()}")
    durations = [d for d in tracks.column("duration").to_pylist() if d is not None]  # one per file of the audio
    times = lake.dataset("labels").to_table(columns=["labeled_at"], filter=f"song_id = '{quoted}'")
    stamps = [t for t in times.column("labeled_at").to_pylist() if t is not None]
    return (max(durations) if durations else None), (max(stamps) if stamps else None)
