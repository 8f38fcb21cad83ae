"""Clips of a song's mix and stems, read from the lake at one version.

Conventions: a clip is float32 (2, n), stereo always (mono is duplicated, more channels are
averaged), n = round(seconds * sample_rate), zero padded at the end when the song ends first.
Track names are ``TRACKS``: the mix and the four stems. All tracks of one read cover the same
time span, sample for sample.

Where the audio comes from:

- the mix is the original file (the ``originals`` blob), decoded with libsndfile, which seeks
  sample-exactly in MP3 (through mpg123, gapless), FLAC, WAV and Ogg and so decodes only the
  clip. Its samples equal FFmpeg's decoding of the whole file, which the separation used, so the
  mix lines up with the stems sample for sample. A constant-bitrate MP3 gets a frame index
  (trainer/_mp3_index.py, kept for ``_INDEXES`` songs a process): a clip then reads only its
  frames' bytes from the blob, not the whole file, and skips mpg123's walk over every frame
  header before the clip. A format libsndfile does not read (AAC, WMA, ...) is decoded whole
  with FFmpeg and kept in a small per-process cache, which is slower for random clips and says
  so once in the log;
- stems are the song's current run of parts (schema.stems); only the parts the clip overlaps
  are taken, in one blob request for all the stems asked for. A FLAC part is decoded from the
  clip's first sample (libsndfile seeks in the part), not from the part's start; a WAV part
  (``SONGLAKE_STEM_CODEC=wav``, 16-bit PCM) is read as the clip's bytes only;
- audio at another rate than asked for is resampled per clip with soxr.

A ``LakeAudio`` holds only the lake's root and the version, so it pickles into DataLoader
workers; Lance datasets are opened in each process on first use (Lance is not fork-safe, so a
handle must never cross a fork).
"""

from __future__ import annotations

import io
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
import soxr

from songlake.schema import Lake, LakeError
from songlake.schema.stems import STEMS, current_runs
from songlake.trainer._mp3_index import Mp3Index, frame_index

log = logging.getLogger(__name__)
TRACKS = ("mix",) + STEMS
_DECODED_CACHE = 4  # songs whose whole decoded mix a process keeps (formats libsndfile cannot seek)
_INDEXES = 1024  # songs whose MP3 frame index a process keeps (about 30 kB for 3 minutes)


class LakeAudio:
    """Reads clips of songs' tracks from a lake at one version. See the module docstring."""

    def __init__(self, root: str | Path, version: int):
        self.root = str(root)
        self.version = int(version)
        self._open: _Handles | None = None

    def __getstate__(self) -> dict:
        return {"root": self.root, "version": self.version}  # never a Lance handle across processes

    def __setstate__(self, state: dict) -> None:
        self.root, self.version, self._open = state["root"], state["version"], None

    @property
    def _handles(self) -> "_Handles":
        if self._open is None or self._open.pid != os.getpid():
            self._open = _Handles(Lake.open(self.root, migrate=False), self.version)
        return self._open

    # --- what a song has -------------------------------------------------------------------

    def duration(self, song_id: str) -> float:
        """Seconds of the song: its stems' length when separated, else its original file's."""
        runs = self._handles.runs(song_id)
        if runs:
            run = next(iter(runs.values()))
            return (run[-1]["start_sample"] + run[-1]["num_samples"]) / run[0]["sample_rate"]
        return self._handles.original(song_id).duration

    def has_stems(self, song_id: str) -> bool:
        return set(STEMS) <= set(self._handles.runs(song_id))

    # --- reading ----------------------------------------------------------------------------

    def read(self, song_id: str, tracks: Sequence[str], start: float = 0.0, seconds: float | None = None,
             sample_rate: int = 44100) -> dict[str, np.ndarray]:
        """The tracks of a song from start for seconds (None: to the end), as {track: (2, n)}."""
        unknown = [t for t in tracks if t not in TRACKS]
        if unknown:
            raise ValueError(f"unknown track {unknown[0]!r}; tracks are {', '.join(TRACKS)}")
        if start < 0 or (seconds is not None and seconds <= 0):
            raise ValueError(f"a clip starts at a time >= 0 s and lasts > 0 s, not start={start}, seconds={seconds}")
        if seconds is None:
            seconds = max(self.duration(song_id) - start, 0.0) or 1.0 / sample_rate
        n = round(seconds * sample_rate)
        native = self._handles.stems_clip(song_id, [t for t in tracks if t != "mix"], start, seconds)
        if "mix" in tracks:
            native["mix"] = self._handles.mix(song_id, start, seconds)
        return {track: _fit(_resampled(*native[track], sample_rate), n) for track in tracks}


class _Original:
    """A song's original file in one process: the blob's row and what libsndfile makes of it."""

    def __init__(self, handles: "_Handles", song_id: str):
        rows = handles.originals.to_table(columns=["song_id", "format"], filter=f"song_id = '{_quote(song_id)}'",
                                          with_row_id=True).to_pylist()
        if not rows:
            raise LakeError(f"song {song_id} is not in the lake at version {handles.version}")
        self.row_id = rows[0]["_rowid"]
        self.format = rows[0]["format"]
        self._handles = handles
        data = self.data()
        try:
            info = sf.info(io.BytesIO(data))
            self.rate, self.frames, self.seekable = info.samplerate, info.frames, True
        except (sf.LibsndfileError, RuntimeError):
            self.rate, self.frames, self.seekable = None, None, False
        self.indexable = self.seekable and self.rate == 44100 and self.format == "mp3"
        if self.indexable:
            handles.remember_index(song_id, frame_index(data, self.frames))

    @property
    def duration(self) -> float:
        if self.seekable:
            return self.frames / self.rate
        samples, rate = self._handles.decoded(self)
        return samples.shape[1] / rate

    def data(self, offset: int = 0, length: int | None = None) -> bytes:
        blob = self._handles.originals.take_blobs("data", ids=[self.row_id])[0]
        with blob:
            return blob.read() if length is None else blob.read_range(offset, length)


class _Handles:
    """Lance datasets and per-song metadata opened in one process."""

    def __init__(self, lake: Lake, version: int):
        self.pid = os.getpid()
        self.lake, self.version = lake, version
        self.state = lake.state(version)
        self.originals = lake.table_at("originals", self.state)
        self.stems = lake.table_at("stems", self.state) if "stems" in self.state.table_versions else None
        self._runs: dict[str, dict] = {}
        self._originals: dict[str, _Original] = {}
        self._decoded: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()
        self._indexes: OrderedDict[str, Mp3Index | None] = OrderedDict()
        self._warned = False

    def runs(self, song_id: str) -> dict[str, list[dict]]:
        if song_id not in self._runs:
            self._runs[song_id] = {} if self.stems is None else current_runs(self.lake, self.state, song_id, self.stems)
        return self._runs[song_id]

    def original(self, song_id: str) -> _Original:
        if song_id not in self._originals:
            self._originals[song_id] = _Original(self, song_id)
        return self._originals[song_id]

    def mix(self, song_id: str, start: float, seconds: float) -> tuple[np.ndarray, int]:
        original = self.original(song_id)
        if not original.seekable:
            samples, rate = self.decoded(original)
            first = round(start * rate)
            return samples[:, first:first + round(seconds * rate)], rate
        first, n = min(round(start * original.rate), original.frames), round(seconds * original.rate)
        index = self.index(song_id, original)
        span = index.span(first, min(n, original.frames - first)) if index is not None else None
        if span is not None:
            offset, length, skip = span
            data, first = original.data(offset, length), skip
        else:
            data = original.data()
        with sf.SoundFile(io.BytesIO(data)) as f:
            f.seek(first)
            samples = f.read(n, dtype="float32", always_2d=True).T
        return _stereo(samples), original.rate

    def index(self, song_id: str, original: _Original) -> Mp3Index | None:
        if not original.indexable:
            return None
        if song_id not in self._indexes:
            self.remember_index(song_id, frame_index(original.data(), original.frames))
        self._indexes.move_to_end(song_id)
        return self._indexes[song_id]

    def remember_index(self, song_id: str, index: Mp3Index | None) -> None:
        self._indexes[song_id] = index
        while len(self._indexes) > _INDEXES:
            self._indexes.popitem(last=False)

    def stems_clip(self, song_id: str, stems: Sequence[str], start: float,
                   seconds: float) -> dict[str, tuple[np.ndarray, int]]:
        """{stem: (samples at the stem's rate, rate)} for the clip, every part in one blob request."""
        out, wanted = {}, []
        for stem in stems:
            run = self.runs(song_id).get(stem)
            if run is None:
                raise LakeError(f"song {song_id} has no {stem} stem at lake version {self.version} "
                                f"(select songs with stems_status = 'done', or ask for the mix only)")
            rate = run[0]["sample_rate"]
            first, last = round(start * rate), round((start + seconds) * rate)
            out[stem] = (np.zeros((2, last - first), dtype=np.float32), rate)
            wanted += [(stem, first, last, p) for p in run
                       if p["start_sample"] < last and p["start_sample"] + p["num_samples"] > first]
        if wanted:
            blobs = self.stems.take_blobs("data", ids=[part["_rowid"] for *_, part in wanted])
            for (stem, first, last, part), blob in zip(wanted, blobs):
                lo = max(first, part["start_sample"])
                hi = min(last, part["start_sample"] + part["num_samples"])
                with blob:
                    samples = self._part_samples(part, blob, lo - part["start_sample"], hi - lo)
                out[stem][0][:, lo - first:lo - first + samples.shape[1]] = _stereo(samples)
        return out

    def _part_samples(self, part: dict, blob, skip: int, n: int) -> np.ndarray:
        """Samples [skip, skip + n) of one part, (channels, n)."""
        channels = part["channels"]
        if part["codec"] == "wav":  # 16-bit PCM at a fixed place: read only the clip's bytes
            data_starts = _wav_data_offset(blob.read_range(0, min(4096, blob.size())))
            raw = blob.read_range(data_starts + 2 * channels * skip, 2 * channels * n)
            return np.frombuffer(raw, "<i2").reshape(-1, channels).T * np.float32(1 / 32768)  # float32
        with sf.SoundFile(io.BytesIO(blob.read())) as f:
            f.seek(skip)
            return f.read(n, dtype="float32", always_2d=True).T

    def decoded(self, original: _Original) -> tuple[np.ndarray, int]:
        """The whole mix decoded by FFmpeg, for formats libsndfile cannot seek in (cached)."""
        from songlake.udfs.separation import decode_stream

        key = str(original.row_id)
        if key not in self._decoded:
            if not self._warned:
                log.warning("the original of a song is %s, which libsndfile cannot seek in: its mix is decoded "
                            "whole for each new song, which makes random clips slow", original.format)
                self._warned = True
            samples = np.concatenate(list(decode_stream(original.data(), 44100, 2)), axis=1)
            self._decoded[key] = (samples, 44100)
            while len(self._decoded) > _DECODED_CACHE:
                self._decoded.popitem(last=False)
        self._decoded.move_to_end(key)
        return self._decoded[key]


def _stereo(samples: np.ndarray) -> np.ndarray:
    if samples.shape[0] == 2:
        return samples
    if samples.shape[0] == 1:
        return np.repeat(samples, 2, axis=0)
    return np.repeat(samples.mean(axis=0, keepdims=True), 2, axis=0)


def _resampled(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target or samples.shape[1] == 0:
        return samples
    return np.ascontiguousarray(soxr.resample(samples.T, rate, target).T, dtype=np.float32)


def _fit(samples: np.ndarray, n: int) -> np.ndarray:
    if samples.shape[1] >= n:
        return np.ascontiguousarray(samples[:, :n])
    return np.pad(samples, ((0, 0), (0, n - samples.shape[1])))


def _wav_data_offset(head: bytes) -> int:
    """Where the samples start in a WAV file of 16-bit PCM: after the 'data' chunk's header."""
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if chunk == b"fmt " and int.from_bytes(head[pos + 22:pos + 24], "little") != 16:
            raise LakeError("a WAV stem part is not 16-bit PCM")
        if chunk == b"data":
            return pos + 8
        pos += 8 + size + (size & 1)
    raise LakeError("a WAV stem part has no data chunk in its first 4 kB")


def _quote(value: str) -> str:
    return value.replace("'", "''")
