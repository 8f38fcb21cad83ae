"""The files baseline of bench/loader.py: each song's tracks as audio files, and the plain PyTorch
dataset that reads clips of them.

Layout: ``folder/{flac,wav}/{song_id}/{track}.{flac,wav}``, one file per track per song, 16-bit
PCM, the samples the lake gives for the whole song (the mix is the lake's original decoded, the
stems are the lake's stems). ``FileClips`` numbers and places its clips exactly as
songlake.trainer.dataset.SongClips does, drawing random starts from torch's generator in the same
order, so with the same sampler and seed both read the same clips.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

TRACKS = ("mix", "vocals", "drums", "bass", "other")
FORMATS = {"flac": "FLAC", "wav": "WAV"}


def path_of(folder: Path, fmt: str, song_id: str, track: str) -> Path:
    return Path(folder) / fmt / song_id / f"{track}.{fmt}"


def write_files(audio, song_ids: Sequence[str], folder: Path, sample_rate: int = 44100) -> bool:
    """Write every track of every song as 16-bit FLAC and WAV (skipping files already there).
    ``audio`` is a LakeAudio. True when anything was written."""
    wrote = False
    for song_id in song_ids:
        if all(path_of(folder, fmt, song_id, t).exists() for fmt in FORMATS for t in TRACKS):
            continue
        tracks = audio.read(song_id, TRACKS, 0.0, None, sample_rate)
        for fmt, name in FORMATS.items():
            for track, samples in tracks.items():
                path = path_of(folder, fmt, song_id, track)
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".partial")
                sf.write(partial, samples.T, sample_rate, format=name, subtype="PCM_16")
                os.replace(partial, path)  # a killed run leaves no truncated file behind
        wrote = True
    return wrote


def bytes_under(path: Path, suffix: str = "") -> int:
    """Bytes of the files under a folder (or one file), those ending in suffix when given."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name.endswith(suffix))


class FileClips(Dataset):
    """Clips of songs' tracks read with soundfile from one file per track: open, seek, read.

    ``songs`` are dicts with song_id and duration. Items are {"mix": (2, n)} and/or
    {"stems": (S, 2, n)} float32 tensors plus an ``info`` dict, as SongClips' items."""

    def __init__(self, folder: Path, fmt: str, songs: Sequence[dict], *, mix: bool = True,
                 stems: Sequence[str] = (), clip_seconds: float = 10.0, sample_rate: int = 44100,
                 random_start: bool = True):
        self.folder, self.fmt = str(folder), fmt
        self.songs = [{"song_id": s["song_id"], "duration": s["duration"]} for s in songs]
        self.mix, self.stems = mix, tuple(stems)
        self.clip_seconds, self.sample_rate = float(clip_seconds), int(sample_rate)
        self.num_samples = round(self.clip_seconds * self.sample_rate)
        self.random_start = random_start
        self.clips = [(i, k) for i, song in enumerate(self.songs)
                      for k in range(max(1, math.floor((song["duration"] or 0.0) / self.clip_seconds)))]

    def __len__(self) -> int:
        return len(self.clips)

    def start_of(self, index: int) -> float:  # SongClips' rule, the same draws from torch's generator
        song_index, k = self.clips[index]
        start = k * self.clip_seconds
        if not self.random_start:
            return start
        latest = min(start + self.clip_seconds, (self.songs[song_index]["duration"] or 0.0) - self.clip_seconds)
        if latest <= start:
            return start
        return start + float(torch.rand(()).item()) * (latest - start)

    def read(self, song_id: str, track: str, start: float) -> np.ndarray:
        with sf.SoundFile(path_of(Path(self.folder), self.fmt, song_id, track)) as f:
            f.seek(min(round(start * f.samplerate), f.frames))
            samples = f.read(self.num_samples, dtype="float32", always_2d=True).T
        if samples.shape[1] < self.num_samples:
            samples = np.pad(samples, ((0, 0), (0, self.num_samples - samples.shape[1])))
        return samples

    def __getitem__(self, index: int) -> dict:
        song = self.songs[self.clips[index][0]]
        start = self.start_of(index)
        item: dict = {}
        if self.mix:
            item["mix"] = torch.from_numpy(self.read(song["song_id"], "mix", start))
        if self.stems:
            item["stems"] = torch.from_numpy(np.stack([self.read(song["song_id"], s, start) for s in self.stems]))
        item["info"] = {"song_id": song["song_id"], "clip": index, "start": start, "duration": song["duration"]}
        return item
