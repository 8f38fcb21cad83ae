"""What every export shares: the options, cutting songs into items (``cut``, ``Walk``), audio
encoding, the per-item metadata record and the ``export.json`` manifest.

Conventions:

- **clips**: with no clip length a song is one item, the whole song. With ``clip_seconds`` a
  song is cut into consecutive clips from 0 s, ``clip_seconds`` each; the last, shorter one is
  kept when it lasts at least half a clip, at its own length (not padded), so a song shorter
  than half a clip gives no item and is listed under ``skipped`` in the manifest. Durations are
  LakeAudio's (the decoded audio), not the tag's.
- **names**: an item's name is its ``song_id`` (hex, no dots), with ``_<index>`` (three digits or
  more) for clips: ``d429..c6_002``. Names are file stems and WebDataset keys, which must hold no
  dot (WebDataset splits a file name at its first dot).
- **audio**: FLAC, 16-bit, stereo, at the export's sample rate, as LakeAudio reads it (mix from
  the original file, stems from the lake, resampled with soxr). Samples are clipped to [-1, 1]
  before quantising so that a hot master cannot wrap around.
- **manifest**: ``export.json`` at the top of the export, written last, so a folder without it
  is an export that did not finish; ``.songlake-export``, written first, marks the folder as
  an export (finished or not) that ``overwrite`` may replace.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import soundfile as sf

from songlake import __version__
from songlake.trainer import describe as text

STEMS = ("vocals", "drums", "bass", "other")
SPLITS = ("train", "valid", "test")
MANIFEST = "export.json"
MARKER = ".songlake-export"  # written first: lets overwrite recognise an export that did not finish
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Options:
    """The export's settings, checked once (``check``)."""

    stems: tuple[str, ...] = ()
    clip_seconds: float | None = None
    sample_rate: int = 44100
    name: str = "songlake"
    shard_size: int = 1000

    @classmethod
    def check(cls, stems: Sequence[str], clip_seconds: float | None, sample_rate: int, name: str,
              shard_size: int) -> "Options":
        if isinstance(stems, str):  # 'vocals' would otherwise read as five one-letter stems
            stems = [stems]
        unknown = [s for s in stems if s not in STEMS]
        if unknown:
            raise ValueError(f"unknown stem {unknown[0]!r}; stems are {', '.join(STEMS)}")
        if clip_seconds is not None and not (isinstance(clip_seconds, (int, float)) and clip_seconds > 0
                                              and math.isfinite(clip_seconds)):
            raise ValueError(f"clip_seconds is a positive number of seconds, or None for whole songs, "
                             f"not {clip_seconds!r}")
        if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or not 8000 <= sample_rate <= 192000:
            raise ValueError(f"sample_rate is a whole number of Hz from 8000 to 192000, not {sample_rate!r}")
        if not _NAME.match(name or ""):
            raise ValueError(f"the export name {name!r} must be 1-64 letters, digits, '_' or '-' (it names folders)")
        if not isinstance(shard_size, int) or shard_size < 1:
            raise ValueError(f"shard_size is a whole number of samples per shard >= 1, not {shard_size!r}")
        return cls(tuple(dict.fromkeys(stems)), None if clip_seconds is None else float(clip_seconds),
                   sample_rate, name, shard_size)


@dataclass(frozen=True)
class Clip:
    """One exported item: a whole song or one clip of it."""

    song: dict = field(repr=False)
    index: int | None  # None for a whole song
    start: float  # seconds into the song
    seconds: float  # length of the item
    song_seconds: float  # length of the whole song (decoded)

    @property
    def song_id(self) -> str:
        return self.song["song_id"]

    @property
    def split(self) -> str:
        return self.song["split"]

    @property
    def name(self) -> str:
        return self.song_id if self.index is None else f"{self.song_id}_{self.index:03d}"


def prepare_out(out: Path, overwrite: bool, format: str) -> Path:
    """The export folder, created and marked as an export in progress (``MARKER``). A non-empty
    folder is refused unless ``overwrite`` and it holds an earlier songlake export, finished or
    not (its export.json or marker), whose content is then removed."""
    out = Path(out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; exports go to a folder")
    if out.is_dir() and any(out.iterdir()):
        earlier = (out / MANIFEST).is_file() or (out / MARKER).is_file()
        if not overwrite:
            raise ValueError(f"{out} is not empty; export to a new folder"
                             + (", or pass overwrite to replace the songlake export there" if earlier else ""))
        if not earlier:
            raise ValueError(f"{out} holds files that are not a songlake export (no {MANIFEST}); "
                             "overwrite only replaces an earlier export, so choose a new folder")
        for entry in out.iterdir():  # the content only: the folder itself may be a mount point
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(json.dumps({"format": format, "started_at": _now()}) + "\n")
    return out


def check_stems(songs: Sequence[dict], options: Options) -> None:
    """Refuse stems for a selection with songs that have none, before anything is written. Uses
    the songs view's stems_status, which costs no audio I/O (LakeAudio.read would still refuse)."""
    if not options.stems:
        return
    missing = [s["song_id"] for s in songs if s.get("stems_status") != "done"]
    if missing:
        raise ValueError(f"{len(missing)} selected song(s) have no stems (first: {missing[0]}); add "
                         "\"WHERE stems_status = 'done'\" to the query, or export without stems")


def cut(song: dict, total: float, options: Options) -> tuple[list[Clip], str | None]:
    """A song of ``total`` seconds as items: (clips, None), or ([], why it gives none)."""
    if total <= 0:
        return [], "no audio"
    if options.clip_seconds is None:
        return [Clip(song, None, 0.0, total, total)], None
    length = options.clip_seconds
    count = int(total // length)
    if total - count * length >= length / 2:
        count += 1
    if count == 0:
        return [], f"{total:.2f} s is shorter than half a clip ({length / 2:g} s)"
    return [Clip(song, i, i * length, min(length, total - i * length), total) for i in range(count)], None


class Walk:
    """Goes through the selected songs split by split, cutting each into items as it comes (its
    duration is looked up then, not in a pass of its own), and keeps what it gave and skipped
    for the manifest. progress(songs done, songs in all) after each song."""

    def __init__(self, songs: Sequence[dict], audio, options: Options, progress: Progress | None):
        self.songs, self.audio, self.options, self.progress = list(songs), audio, options, progress
        self.clips: list[Clip] = []
        self.skipped: list[dict] = []
        self._done = 0

    def items(self, split: str) -> Iterator[Clip]:
        for song in (s for s in self.songs if s["split"] == split):
            clips, reason = cut(song, self.audio.duration(song["song_id"]), self.options)
            if reason:
                self.skipped.append({"song_id": song["song_id"], "reason": reason})
            for clip in clips:
                self.clips.append(clip)
                yield clip
            self._done += 1
            if self.progress:
                self.progress(self._done, len(self.songs))


def read(audio, clip: Clip, options: Options) -> dict[str, np.ndarray]:
    """{'mix': (2, n), stem: (2, n), ...} float32 for the clip at the export's rate."""
    return audio.read(clip.song_id, ("mix",) + options.stems, clip.start, clip.seconds, options.sample_rate)


def flac_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit FLAC of float samples shaped (channels, n)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1.0, 1.0).T, sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def write_flac(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(flac_bytes(samples, sample_rate))


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")


def record(clip: Clip, options: Options) -> dict:
    """The clip's metadata: audiocraft's MusicInfo fields (title, artist, key, bpm, genre, moods,
    keywords, description, name, instrument) with instrument as a list, then songlake's own."""
    song = clip.song
    tags = text.tags(song)
    return {
        "title": song.get("title"), "artist": song.get("artist"), "key": song.get("key"),
        "bpm": None if song.get("bpm") is None else float(song["bpm"]), "genre": text.genre(song),
        "moods": tags["moods"], "keywords": tags["keywords"], "description": text.describe(song),
        "name": clip.name, "instrument": tags["instrument"],
        "song_id": clip.song_id, "split": clip.split, "album": song.get("album"), "year": song.get("year"),
        "time_signature": song.get("time_signature"), "clip_index": clip.index, "start": clip.start,
        "duration": clip.seconds, "song_duration": clip.song_seconds, "sample_rate": options.sample_rate,
    }


def manifest(selection, format: str, walk: Walk, layout: dict) -> dict:
    """The export.json content: how to reproduce the export and what it holds."""
    chosen, options, clips = selection.manifest(), walk.options, walk.clips
    counts = {"songs": len({c.song_id for c in clips}), "clips": len(clips)}
    counts |= {split: sum(1 for c in clips if c.split == split) for split in SPLITS}
    return {
        "format": format, "lake": chosen["lake"], "lake_version": chosen["lake_version"], "tag": chosen["tag"],
        "query": chosen["query"], "split": chosen["split"], "counts": counts, "selected": chosen["counts"],
        "duplicates": chosen["duplicates"], "duplicates_left_out": chosen["duplicates_left_out"],
        "skipped": walk.skipped, "sample_rate": options.sample_rate, "clip_seconds": options.clip_seconds,
        "stems": list(options.stems), "name": options.name, "layout": layout,
        "created_at": _now(), "songlake_version": __version__,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
