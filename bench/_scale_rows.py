"""bench/scale.py's synthetic songs: every row the pipeline writes for one song, without audio.

bench/_synthetic_lake.py gives a song's tracks, analysis (beats, downbeats, a chord a bar,
six sections over 90-420 s at 60-180 bpm: about 500 beats and 130 chords on average),
embedding and genre rows; this adds what ingest and analysis also write: the original file
(a few kB of random bytes standing in for the MP3) and the stage runs. Rows depend only on the
seed and the song's number, so any process can make any song.
"""

from __future__ import annotations

import hashlib
import importlib.util
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from songlake.udfs.embedding import MODEL

_spec = importlib.util.spec_from_file_location("_synthetic_lake", Path(__file__).with_name("_synthetic_lake.py"))
synthetic_lake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic_lake)

ORIGINAL_BYTES = (2048, 6144)  # the stand-in original file's size range


def song_id(seed: int, n: int) -> str:
    return hashlib.sha256(f"synthetic-{seed}-{n}".encode()).hexdigest()[:16]


def song_rows(seed: int, n: int, now: datetime | None = None) -> dict[str, list[dict]]:
    """Every table's rows for song n (table -> rows)."""
    rng = np.random.default_rng([seed, n])
    now = now or datetime.now(timezone.utc)
    sid = song_id(seed, n)
    base = synthetic_lake._song(sid, n, rng, now)
    tracks = base["tracks"]
    data = rng.bytes(int(rng.integers(*ORIGINAL_BYTES)))
    original = {"song_id": sid, "file_sha256": tracks["file_sha256"], "filename": tracks["filename"],
                "format": "mp3", "size_bytes": len(data), "data": data}
    runs = [{"song_id": sid, "stage": stage, "status": "done", "reason": None, "stage_version": version,
             "worker": "scale-bench", "attempts": 1, "seconds": float(rng.uniform(0.05, 2.0)), "finished_at": now}
            for stage, version in (("ingest", MODEL), ("analyze", "analysis-2"))]
    return {name: [row] for name, row in base.items()} | {"originals": [original], "stage_runs": runs}


def write_songs(writer, seed: int, first: int, count: int) -> None:
    """Add songs first .. first+count-1 to a BatchWriter."""
    now = datetime.now(timezone.utc)
    for n in range(first, first + count):
        for table, rows in song_rows(seed, n, now).items():
            for row in rows:
                writer.add(table, row)


def describe(seed: int, sample: int = 200) -> str:
    """The average list lengths and original size of the songs, for the report's header."""
    beats = chords = sections = size = 0
    for n in range(sample):
        rows = song_rows(seed, n)
        analysis = rows["analysis"][0]
        beats += len(analysis["beats"])
        chords += len(analysis["chords"])
        sections += len(analysis["sections"])
        size += rows["originals"][0]["size_bytes"]
    return (f"per song: {beats / sample:.0f} beats, {chords / sample:.0f} chords, {sections / sample:.0f} sections, "
            f"a {size / sample / 1024:.1f} kB original, 64-d embedding, a genre row, 2 stage runs")
