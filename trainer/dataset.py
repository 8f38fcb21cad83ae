"""A map-style PyTorch dataset of clips from the lake, and the collate function for its batches.

An item is one clip of one song, a dict of tensors:

- ``mix``: float32 (2, n) when the mix is asked for;
- ``stems``: float32 (S, 2, n), the chosen stems in the order given;
- the chosen conditioning (songlake.trainer.conditioning): ``key`` and ``genre`` int64 scalars,
  ``bpm`` a float32 scalar, ``chords`` and ``sections`` int64 (F,), ``beats`` and
  ``downbeats`` float32 (F,), where F = n // hop frames of hop = round(sample_rate / frame_rate)
  samples (the clip's frames line up with the samples exactly);
- ``info``: a small dict (song_id, clip: the item's index, start in seconds, duration of the
  song, split).

Clips: each song gives max(1, floor(duration / clip_seconds)) clips, the k-th starting at
k * clip_seconds. With ``random_start`` (training) the k-th clip starts anywhere in
[k * clip_seconds, min((k + 1) * clip_seconds, duration - clip_seconds)], drawn from torch's
random generator, which DataLoader workers seed per epoch and Lightning's seed_everything makes
reproducible. A song shorter than a clip is padded with silence at the end.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from songlake.trainer import conditioning as cond
from songlake.trainer.audio import LakeAudio

# The songs-view columns an item needs; everything else stays out of what workers receive.
_COLUMNS = ("song_id", "duration", "split", "key", "bpm", "primary_genre", "chords", "sections", "beats", "downbeats")


class SongClips(Dataset):
    """Clips of songs read from the lake (see the module docstring)."""

    def __init__(self, audio: LakeAudio, songs: Sequence[dict], *, clip_seconds: float = 10.0,
                 sample_rate: int = 44100, mix: bool = True, stems: Sequence[str] = (),
                 conditioning: Sequence[str] = (), frame_rate: float = 50.0, random_start: bool = False):
        if clip_seconds <= 0:
            raise ValueError(f"clip_seconds is a positive length in seconds, not {clip_seconds}")
        if sample_rate <= 0 or frame_rate <= 0 or frame_rate > sample_rate:
            raise ValueError(f"sample_rate {sample_rate} and frame_rate {frame_rate} must be positive, frames "
                             f"no faster than samples")
        if not mix and not stems:
            raise ValueError("a clip needs audio: ask for the mix, some stems, or both")
        self.audio = audio
        self.songs = [{k: song.get(k) for k in _COLUMNS} for song in songs]
        self.clip_seconds = float(clip_seconds)
        self.sample_rate = int(sample_rate)
        self.tracks = (("mix",) if mix else ()) + tuple(stems)
        self.stems = tuple(stems)
        self.conditioning = cond.check(conditioning)
        self.hop = max(1, round(sample_rate / frame_rate))
        self.frame_rate = self.sample_rate / self.hop
        self.num_samples = round(self.clip_seconds * self.sample_rate)
        self.num_frames = self.num_samples // self.hop
        self.random_start = random_start
        self.clips = [(i, k) for i, song in enumerate(self.songs)
                      for k in range(max(1, math.floor((song["duration"] or 0.0) / self.clip_seconds)))]

    def __len__(self) -> int:
        return len(self.clips)

    def start_of(self, index: int) -> float:
        song_index, k = self.clips[index]
        start = k * self.clip_seconds
        if not self.random_start:
            return start
        latest = min(start + self.clip_seconds, (self.songs[song_index]["duration"] or 0.0) - self.clip_seconds)
        if latest <= start:
            return start
        return start + float(torch.rand(()).item()) * (latest - start)

    def __getitem__(self, index: int) -> dict:
        song = self.songs[self.clips[index][0]]
        start = self.start_of(index)
        audio = self.audio.read(song["song_id"], self.tracks, start, self.clip_seconds, self.sample_rate)
        item: dict = {}
        if "mix" in audio:
            item["mix"] = torch.from_numpy(audio["mix"])
        if self.stems:
            item["stems"] = torch.from_numpy(np.stack([audio[s] for s in self.stems]))
        for name, value in cond.frames(song, self.conditioning, start, self.num_frames, self.frame_rate).items():
            item[name] = torch.as_tensor(value)
        item["info"] = {"song_id": song["song_id"], "clip": index, "start": start, "duration": song["duration"],
                        "split": song["split"]}
        return item


def collate(items: list[dict]) -> dict:
    """Stack the tensors of items into a batch; ``info`` stays a list of dicts."""
    batch = {name: torch.stack([item[name] for item in items]) for name in items[0] if name != "info"}
    batch["info"] = [item["info"] for item in items]
    return batch
