"""A lake of synthetic song rows without audio, for benchmarks of the query paths at scale.

Every song gets a tracks row (tags, quality), an analysis row (beats, chords, sections, theory),
an embedding and a genre prediction with plausible values drawn from a seeded generator; there
are no originals or stems, so the lake is small on disk while its tables have the shape and
row counts of a real collection.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import numpy as np

from songlake.schema import BatchWriter, Lake
from songlake.udfs.embedding import DIM, MODEL

GENRES = ("pop", "rock", "hip-hop", "jazz", "electronic", "classical", "folk", "metal", "r&b", "country")
KEYS = [f"{tonic} {mode}" for tonic in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
        for mode in ("major", "minor")]
CHORDS = ("C:maj", "G:maj", "A:min", "F:maj", "D:min", "E:min", "N")
SECTIONS = ("intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "outro")


def build(root: str, songs: int, seed: int = 0, chunk: int = 5000) -> Lake:
    """Make (or extend) a lake at root with `songs` synthetic songs; returns the lake."""
    lake = Lake.open(root, create=True)
    rng = np.random.default_rng(seed)
    now = datetime.now(timezone.utc)
    for start in range(0, songs, chunk):
        writer = BatchWriter(lake, flush_rows=chunk)
        for n in range(start, min(start + chunk, songs)):
            sid = hashlib.sha256(f"synthetic-{seed}-{n}".encode()).hexdigest()[:16]
            for table, row in _song(sid, n, rng, now).items():
                writer.add(table, row)
        writer.commit("ingest", f"synthetic songs {start}-{min(start + chunk, songs)}")
    return lake


def _song(sid: str, n: int, rng: np.random.Generator, now: datetime) -> dict[str, dict]:
    duration = float(rng.uniform(90, 420))
    bpm = float(rng.uniform(60, 180))
    beats = np.arange(0.3, duration, 60.0 / bpm)
    genre = GENRES[int(rng.integers(len(GENRES)))]
    chord_times = np.arange(0.0, duration, 4 * 60.0 / bpm)
    chords = [{"start": float(a), "end": float(min(a + 240 / bpm, duration)),
               "label": CHORDS[int(rng.integers(len(CHORDS)))]} for a in chord_times]
    edges = np.linspace(0, duration, 7)
    sections = [{"start": float(a), "end": float(b), "label": SECTIONS[i % len(SECTIONS)]}
                for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]
    vector = rng.normal(size=DIM).astype(np.float32)
    confidence = float(rng.uniform(0.2, 0.99))
    return {
        "tracks": {
            "song_id": sid, "file_sha256": hashlib.sha256(sid.encode()).hexdigest(), "filename": f"song{n:06d}.mp3",
            "path": f"/music/song{n:06d}.mp3", "format": "mp3", "codec": "mp3",
            "bitrate_kbps": int(rng.choice([128, 192, 256, 320])), "sample_rate": 44100, "channels": 2,
            "duration": duration, "title": f"Song {n}", "artist": f"Artist {n % 7919}", "album": f"Album {n % 20011}",
            "year": int(rng.integers(1960, 2026)), "genre_tag": genre, "track": int(n % 12 + 1),
            "license": "CC-BY", "source": "synthetic", "loudness_lufs": float(rng.uniform(-20, -6)),
            "peak_dbfs": float(rng.uniform(-6, 0)), "clipping_ratio": float(rng.uniform(0, 0.002)),
            "silence_ratio": float(rng.uniform(0, 0.1)), "bandwidth_hz": float(rng.uniform(15000, 20000)),
            "suspected_transcode": bool(rng.random() < 0.05), "quality_flags": [], "ingested_at": now,
        },
        "analysis": {
            "song_id": sid, "analysis_version": 2, "analyzed_at": now, "bpm": bpm, "beats": beats.tolist(),
            "key": KEYS[int(rng.integers(len(KEYS)))], "key_confidence": float(rng.uniform(0.3, 0.95)),
            "downbeats": beats[::4].tolist(), "time_signature": "4/4",
            "syncopation_index": float(rng.uniform(0, 1)), "rhythmic_complexity": float(rng.uniform(0, 1)),
            "strong_beats": [1, 3], "weak_beats": [2, 4], "chords": chords,
            "roman_numerals": ["I"] * len(chords), "functional_harmony": ["T"] * len(chords),
            "common_patterns": ["I-V-vi-IV"], "cadences": [], "progression_complexity": float(rng.uniform(0, 1)),
            "sections": sections, "failed_stages": [], "used_stems": False,
        },
        "embeddings": {"song_id": sid, "model": MODEL, "embedding": vector.tolist()},
        "genres": {"song_id": sid, "model": "synthetic", "primary_genre": genre, "genre_confidence": confidence,
                   "predicted_genres": [{"genre": genre, "confidence": confidence}], "tag_suspicious": False,
                   "predicted_at": now},
    }
