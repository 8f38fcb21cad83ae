"""Tags: what the file says about itself (ID3v1, ID3v2.3/2.4, Vorbis comments, MP4 atoms).

Conventions: every field is None when the file does not carry it; nothing is guessed from the
file name. ``year`` is parsed from whichever date field is present (ID3v2.4 TDRC, v2.3 TYER,
Vorbis DATE, MP4 ©day), accepting '1999', '1999-05-01' and '1999/05/01'. ``track`` is the
track number alone ('3/12' gives 3).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import mutagen
from mutagen.id3 import ID3
from mutagen.mp4 import MP4

_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d|21\d\d)(?!\d)")
_TRACK = re.compile(r"^\s*(\d+)")


@dataclass(frozen=True)
class Tags:
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    year: int | None = None
    genre_tag: str | None = None
    track: int | None = None
    license: str | None = None


def parse_year(text: str | None) -> int | None:
    """First plausible four-digit year in a date string, or None."""
    if not text:
        return None
    match = _YEAR.search(str(text))
    return int(match.group(1)) if match else None


def parse_track(text: str | int | None) -> int | None:
    if text is None:
        return None
    match = _TRACK.match(str(text))
    return int(match.group(1)) if match else None


def read_tags(data: bytes) -> Tags:
    """Tags of a file held in memory. Unreadable or absent tags give an empty Tags."""
    try:
        found = mutagen.File(io.BytesIO(data))
    except Exception:  # mutagen raises many types on damaged tags; tags are optional
        found = None
    if found is None or found.tags is None:
        return Tags()
    if isinstance(found.tags, ID3):
        return _from_id3(found.tags)
    if isinstance(found, MP4):
        return _from_mp4(found.tags)
    return _from_vorbis(found.tags)


def _clean(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _from_id3(tags: ID3) -> Tags:
    def text(frame_id: str) -> str | None:
        frame = tags.get(frame_id)
        return _clean(frame.text[0]) if frame is not None and frame.text else None

    genre = None
    if "TCON" in tags and tags["TCON"].genres:
        genre = _clean(tags["TCON"].genres[0])  # resolves '(17)' and '17' to 'Rock'
    date = text("TDRC") or text("TYER") or text("TDOR") or text("TORY")
    licence = text("TCOP")
    if licence is None:
        urls = tags.getall("WCOP")
        licence = _clean(urls[0].url) if urls else None
    return Tags(
        title=text("TIT2"),
        artist=text("TPE1") or text("TPE2"),
        album=text("TALB"),
        year=parse_year(date),
        genre_tag=genre,
        track=parse_track(text("TRCK")),
        license=licence,
    )


def _from_vorbis(tags) -> Tags:
    def text(*keys: str) -> str | None:
        for key in keys:
            values = tags.get(key) or tags.get(key.upper())
            if values:
                return _clean(values[0] if isinstance(values, list) else values)
        return None

    return Tags(
        title=text("title"),
        artist=text("artist", "albumartist"),
        album=text("album"),
        year=parse_year(text("date", "year", "originaldate")),
        genre_tag=text("genre"),
        track=parse_track(text("tracknumber")),
        license=text("license", "copyright"),
    )


def _from_mp4(tags) -> Tags:
    def text(key: str) -> str | None:
        values = tags.get(key)
        return _clean(values[0]) if values else None

    track = tags.get("trkn")
    return Tags(
        title=text("\xa9nam"),
        artist=text("\xa9ART") or text("aART"),
        album=text("\xa9alb"),
        year=parse_year(text("\xa9day")),
        genre_tag=text("\xa9gen"),
        track=track[0][0] if track and track[0] else None,
        license=text("cprt"),
    )
