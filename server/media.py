"""Audio over HTTP: a song's original file, each stem as a WAV made on the fly, waveform peaks.

Players seek with Range requests (RFC 7233). One range is answered with 206 and exactly those
bytes; several ranges in one request get the whole file with 200, which the RFC allows and
every player handles; a range past the end is 416 (errors.RangeNotSatisfiable).

The original file's bytes are a Lance blob: read with seek/read in blocks as the client takes
them, never whole into memory.

A stem is kept as ~30 s FLAC parts (schema.stems), and served as ONE 16-bit PCM WAV file: a
44-byte header, then interleaved samples. Its bytes are computed, not stored: byte b >= 44 lies
in sample frame (b - 44) // (2 * channels), so a range maps to the frames it covers and only the
parts holding them are decoded, one part at a time as the body is sent. A browser seeking in a
5-minute stem asks for ``bytes=N-`` and costs one part's decode before sound, not the song's.
The handlers are blocking (Lance reads, decoding): run them in a worker thread.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import quote

import numpy as np
from litestar.response import Stream

from songlake.schema.errors import LakeError
from songlake.schema.lake import Lake
from songlake.schema.stems import STEMS, StemLayout, read_stem, stem_layout
from songlake.server import errors

BLOCK = 256 * 1024  # bytes per chunk of a streamed body
WAV_HEADER = 44
CONTENT_TYPES = {"mp3": "audio/mpeg", "flac": "audio/flac", "wav": "audio/wav", "ogg": "audio/ogg",
                 "oga": "audio/ogg", "opus": "audio/ogg", "m4a": "audio/mp4", "mp4": "audio/mp4", "aac": "audio/mp4"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single-range Range header, clipped to the size;
    None to send the whole resource (no header, several ranges, another unit, or a malformed
    one: the RFC says to ignore those). RangeNotSatisfiable when it starts past the end."""
    if not header or "," in header:
        return None
    found = _RANGE.match(header)
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first == "":  # "bytes=-N": the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise errors.RangeNotSatisfiable(size)
        return max(0, size - suffix), size - 1
    start = int(first)
    if last != "" and int(last) < start:
        return None  # not a valid byte-range-spec: ignored
    if start >= size:
        raise errors.RangeNotSatisfiable(size)
    return start, size - 1 if last == "" else min(int(last), size - 1)


def _ranged(body: Iterator[bytes], size: int, span: tuple[int, int] | None, media_type: str,
            headers: dict[str, str] | None = None) -> Stream:
    """A 200 (whole) or 206 (span) streamed answer with the headers players rely on."""
    out = {"Accept-Ranges": "bytes", **(headers or {})}
    if span is None:
        out["Content-Length"] = str(size)
        return Stream(body, status_code=200, media_type=media_type, headers=out)
    out["Content-Length"] = str(span[1] - span[0] + 1)
    out["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
    return Stream(body, status_code=206, media_type=media_type, headers=out)


# --- the original file ------------------------------------------------------------------------

def original_audio(lake: Lake, song_id: str, range_header: str | None = None) -> Stream:
    """The song's original file as uploaded, whole (200) or one byte range (206)."""
    ds, row = _original(lake, song_id)
    return stored_file(ds, row["_rowid"], range_header, row["format"], row["filename"], row["file_sha256"])


def stored_file(ds, row_id: int, range_header: str | None, fmt: str | None, filename: str | None = None,
                etag: str | None = None) -> Stream:
    """A file kept as a blob (the ``data`` column of ds's row row_id), whole (200) or one byte
    range (206), streamed in blocks: a player's many Range requests never read the whole file."""
    blob = ds.take_blobs("data", ids=[row_id])[0]
    try:
        size = blob.size()
        span = parse_range(range_header, size)
    except BaseException:
        blob.close()
        raise
    start, end = span or (0, size - 1)
    headers = {"ETag": f'"{etag}"'} if etag else {}
    if filename:
        headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
    media_type = CONTENT_TYPES.get((fmt or "").lower(), "application/octet-stream")
    return _ranged(_blob_chunks(blob, start, end), size, span, media_type, headers)


def _original(lake: Lake, song_id: str):
    """The originals dataset at the latest version and the song's row (the first file ingested)."""
    state = lake.state()
    if "originals" in state.table_versions:
        ds = lake.table_at("originals", state)
        rows = ds.to_table(columns=["format", "filename", "file_sha256"], filter=f"song_id = '{_quote(song_id)}'",
                           with_row_id=True)
        if rows.num_rows:
            return ds, rows.slice(0, 1).to_pylist()[0]
    raise errors.NotFound(f"no song {song_id} with an original file at lake version {state.version}")


def _blob_chunks(blob, start: int, end: int) -> Iterator[bytes]:
    try:
        blob.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = blob.read(min(BLOCK, left))
            if not chunk:
                raise LakeError(f"the original file ended {left} bytes early: the blob is damaged")
            left -= len(chunk)
            yield chunk
    finally:
        blob.close()


# --- stems as WAV -----------------------------------------------------------------------------

def wav_header(sample_rate: int, channels: int, frames: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV file holding `frames` sample frames."""
    block = 2 * channels
    data = frames * block
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, channels,
                       sample_rate, sample_rate * block, block, 16, b"data", data)


def stem_audio(lake: Lake, song_id: str, stem: str, range_header: str | None = None) -> Stream:
    """One stem as a 16-bit WAV, whole (200) or one byte range (206), decoding only the parts
    the range touches. NotFound, saying the song's stems_status, when it has no such stem."""
    if stem not in STEMS:
        raise errors.NotFound(f"no stem {stem!r}: the stems are {', '.join(STEMS)}")
    version = lake.version()  # every part of one answer comes from the same lake version
    try:
        layout = stem_layout(lake, song_id, stem, version)
    except LakeError:
        raise errors.NotFound(_no_stem(lake, song_id, stem, version)) from None
    size = WAV_HEADER + layout.num_samples * 2 * layout.channels
    span = parse_range(range_header, size)
    start, end = span or (0, size - 1)
    body = _wav_bytes(lake, song_id, stem, version, layout, start, end)
    return _ranged(body, size, span, "audio/wav", {"Content-Disposition": f'inline; filename="{stem}.wav"'})


def _wav_bytes(lake: Lake, song_id: str, stem: str, version: int, layout: StemLayout,
               start: int, end: int) -> Iterator[bytes]:
    """Bytes start..end (inclusive) of the stem's WAV file, part by part."""
    if start < WAV_HEADER:
        yield wav_header(layout.sample_rate, layout.channels, layout.num_samples)[start:end + 1]
    if end < WAV_HEADER:
        return
    block = 2 * layout.channels
    first, last = max(start, WAV_HEADER) - WAV_HEADER, end - WAV_HEADER  # data bytes wanted, inclusive
    frame_lo, frame_hi = first // block, last // block + 1  # the frames holding them, [lo, hi)
    for part_start, part_frames in layout.parts:
        lo, hi = max(frame_lo, part_start), min(frame_hi, part_start + part_frames)
        if lo >= hi:
            continue
        samples = read_stem(lake, song_id, stem, lo / layout.sample_rate, hi / layout.sample_rate, version=version)
        if samples.shape != (layout.channels, hi - lo):
            raise LakeError(f"the {stem} stem of {song_id} read {samples.shape[1]} frames for [{lo}, {hi})")
        pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").T.tobytes()
        cut = memoryview(pcm)[max(first, lo * block) - lo * block:min(last + 1, hi * block) - lo * block]
        for offset in range(0, len(cut), BLOCK):
            yield bytes(cut[offset:offset + BLOCK])


def _no_stem(lake: Lake, song_id: str, stem: str, version: int) -> str:
    """Why a song has no stem: no such song, or its newest separation attempt's status."""
    state = lake.state(version)
    where = f"song_id = '{_quote(song_id)}'"
    if lake.table_at("tracks", state).count_rows(filter=where) == 0:
        return f"no song {song_id} at lake version {version}"
    status = "pending"
    if "separations" in state.table_versions:
        rows = lake.table_at("separations", state).to_table(columns=["status", "separated_at"], filter=where)
        attempts = sorted(rows.to_pylist(), key=lambda r: (r["separated_at"] is not None, r["separated_at"] or _EPOCH))
        if attempts:  # the newest attempt, as the songs view's stems_status has it
            status = attempts[-1]["status"]
    return f"song {song_id} has no {stem} stem (stems_status: {status})"


# --- waveform ---------------------------------------------------------------------------------

def waveform(lake: Lake, song_id: str, points: int = 1200) -> dict:
    """Peaks of the original for drawing: {duration, sample_rate, peaks: [[min, max], ...]},
    `points` pairs over the whole song (fewer for a song shorter than that many samples).
    Cached by song (a song_id is its audio, so the peaks never change)."""
    if not 1 <= int(points) <= 20_000:
        raise errors.BadRequest(f"points is how many peaks to draw, 1 to 20000, not {points}")
    return dict(_waveform(lake.root, song_id, int(points)))


@lru_cache(maxsize=256)
def _waveform(root, song_id: str, points: int) -> dict:
    from songlake.udfs.audio import decode

    lake = Lake(root)
    ds, row = _original(lake, song_id)
    with ds.take_blobs("data", ids=[row["_rowid"]])[0] as blob:
        audio = decode(blob.read())
    low, high = audio.samples.min(axis=0), audio.samples.max(axis=0)  # across channels
    points = min(points, low.shape[0])
    edges = np.linspace(0, low.shape[0], points + 1).astype(np.int64)[:-1]
    mins = np.round(np.minimum.reduceat(low, edges), 4)
    maxs = np.round(np.maximum.reduceat(high, edges), 4)
    return {"duration": audio.duration, "sample_rate": audio.sample_rate,
            "peaks": np.stack([mins, maxs], axis=1).tolist()}


def _quote(value: str) -> str:
    return value.replace("'", "''")
