"""Examining one file: the ingest stage's work on it, as one pure step.

``examine(path)`` reads the file, decodes it by content, and returns either the rows the lake
needs (tracks, originals, embeddings, fingerprints and their index rows) or a ``Refused`` with the reason. It touches no lake
state; the ingest stage decides what is new. The analysis comes later, from the stored
original and its stems (stages.py).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from songlake.jobs.analyze import ANALYSIS_RATE, Stems, analyze_audio
from songlake.jobs.duplicates import fingerprint_rows
from songlake.udfs.audio import UnreadableAudio, decode, song_id
from songlake.udfs.embedding import MODEL, embed
from songlake.udfs.quality import assess
from songlake.udfs.tags import read_tags


@dataclass(frozen=True)
class Provenance:
    """What the user says about a batch: it overrides what the files' tags say."""

    license: str | None = None
    source: str | None = None


@dataclass
class Examined:
    path: str
    song_id: str
    file_sha256: str
    audio_seconds: float
    rows: dict[str, dict] = field(default_factory=dict)  # table name -> row
    index_rows: list[dict] = field(default_factory=list)  # fingerprint_index rows (jobs/duplicates.py)


@dataclass
class Refused:
    path: str
    file_sha256: str | None
    reason: str

    @property
    def filename(self) -> str:
        return Path(self.path).name

    def row(self) -> dict:
        """The ingest_errors row that records this refusal."""
        return {"filename": self.filename, "path": str(Path(self.path).resolve()), "file_sha256": self.file_sha256,
                "reason": self.reason, "refused_at": datetime.now(timezone.utc)}


class NotARegularFile(OSError):
    """A FIFO, a device, a socket or a folder where a file was expected: reading it could block
    forever (a FIFO with no writer) or never end (/dev/zero), so it is not read at all."""


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def _check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise NotARegularFile(errno.EINVAL, f"it is {kind}, not a regular file")


def open_regular(path: str | Path):
    """The file opened for reading in binary, or NotARegularFile (an OSError) without blocking.

    It is checked before opening (a socket cannot be opened at all) and again on the open file,
    opened without blocking, so a file swapped for a FIFO in between cannot hang the reader."""
    _check_regular(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        _check_regular(os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def unreadable(exc: OSError) -> str:
    """Why a file could not be read, without its path (the refusal names the file already)."""
    return f"cannot read the file: {exc.strerror or type(exc).__name__}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def examine(path: str | Path, provenance: Provenance = Provenance()) -> Examined | Refused:
    """Everything ingest learns about one file, or why it was refused."""
    path = Path(path)
    try:
        with open_regular(path) as handle:
            data = handle.read()
    except OSError as exc:
        return Refused(str(path), None, unreadable(exc))
    sha = hashlib.sha256(data).hexdigest()
    try:
        audio = decode(data)
    except UnreadableAudio as exc:
        return Refused(str(path), sha, str(exc))

    stage = "tags"
    try:
        tags = read_tags(data)
        stage = "quality"
        quality = assess(audio)
        stage = "embedding"
        mono = audio.mono_at(ANALYSIS_RATE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # silence gives the zero vector
            vector = embed(mono)
    except Exception as exc:  # a bug in one stage must not stop the batch; the reason is kept
        return Refused(str(path), sha, f"analysis failed in the {stage} stage: {type(exc).__name__}: {exc}")

    now = datetime.now(timezone.utc)
    sid = song_id(audio)
    printed = fingerprint_rows(sid, mono, ANALYSIS_RATE)  # never raises: a failure is its row's reason
    track = {
        "song_id": sid,
        "file_sha256": sha,
        "filename": path.name,
        "path": str(path.resolve()),
        "format": audio.format,
        "codec": audio.codec,
        "bitrate_kbps": audio.bitrate_kbps,
        "sample_rate": audio.sample_rate,
        "channels": audio.channels,
        "duration": round(audio.duration, 4),
        "title": tags.title,
        "artist": tags.artist,
        "album": tags.album,
        "year": tags.year,
        "genre_tag": tags.genre_tag,
        "track": tags.track,
        "license": provenance.license or tags.license,
        "source": provenance.source,
        "loudness_lufs": _round(quality.loudness_lufs, 2),
        "peak_dbfs": _round(quality.peak_dbfs, 2),
        "clipping_ratio": quality.clipping_ratio,
        "silence_ratio": quality.silence_ratio,
        "bandwidth_hz": _round(quality.bandwidth_hz, 0),
        "suspected_transcode": quality.suspected_transcode,
        "quality_flags": list(quality.quality_flags),
        "ingested_at": now,
    }
    return Examined(
        path=str(path),
        song_id=sid,
        file_sha256=sha,
        audio_seconds=audio.duration,
        rows={
            "tracks": track,
            "originals": {"song_id": sid, "file_sha256": sha, "filename": path.name,
                          "format": audio.format, "size_bytes": len(data), "data": data},
            "embeddings": {"song_id": sid, "model": MODEL, "embedding": vector.vector.tolist()},
            "fingerprints": printed.row,
        },
        index_rows=printed.index,
    )


def analysis_row(sid: str, mono, stems: Stems | None = None) -> dict:
    """The analysis table's row for one song from its mono 44.1 kHz audio (and stems)."""
    analysis = analyze_audio(mono, ANALYSIS_RATE, stems)
    return {"song_id": sid, "analyzed_at": datetime.now(timezone.utc), **analysis.values,
            "failed_stages": analysis.failed or None}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
