"""One song as a nested document, in the shape of the product brief.

``basic_info`` (identity, tags, provenance), ``quality``, ``audio_stems``, ``music_theory`` with
``harmonic_analysis``, ``rhythmic_analysis`` and ``genre_analysis``, ``structure``, and
``curation`` (which fields carry a human label; the values shown are the corrected ones). The same
document backs `songlake show` and the HTTP API's `GET /songs/{id}`.
"""

from __future__ import annotations

from typing import Callable

import pyarrow as pa

from songlake.schema.errors import LakeError
from songlake.schema.lake import Lake
from songlake.schema.query import connect, run

_BASIC = ("song_id", "file_sha256", "filename", "format", "bitrate_kbps", "sample_rate", "channels", "duration",
          "title", "artist", "album", "year", "genre_tag", "track", "license", "source", "ingested_at")
_QUALITY = ("loudness_lufs", "peak_dbfs", "clipping_ratio", "silence_ratio", "bandwidth_hz",
            "suspected_transcode", "quality_flags")
_HARMONY = ("key", "key_confidence", "chords", "roman_numerals", "functional_harmony", "common_patterns",
            "cadences", "progression_complexity")
_RHYTHM = ("bpm", "tempo_confidence", "time_signature", "beats", "beat_confidence", "downbeats", "syncopation_index", "rhythmic_complexity",
           "strong_beats", "weak_beats")
_GENRE = ("primary_genre", "genre_confidence", "predicted_genres", "genre_tag", "genre_tag_suspicious")


def song_document(lake: Lake, song_id: str, version: int | str | None = None, *,
                  read: Callable[[str, list], pa.Table] | None = None, lake_version: int | None = None) -> dict:
    """The nested document of one song at a lake version; LakeError when there is no such song.

    ``read(sql, params)`` runs the queries instead of a fresh connection at ``version`` (the
    server passes its snapshot's reader, and the snapshot's version as ``lake_version``)."""
    if read is None:
        con = connect(lake, version)
        read = lambda sql, params: run(con, sql, params=params)  # noqa: E731
        lake_version = lake.resolve(version)
    rows = read("SELECT * FROM songs WHERE song_id = $1", [song_id]).to_pylist()
    if not rows:
        raise LakeError(f"no song {song_id} at lake version {lake_version}")
    song = rows[0]
    pick = lambda names: {name: song.get(name) for name in names}  # noqa: E731
    return {
        "basic_info": pick(_BASIC),
        "quality": pick(_QUALITY),
        "audio_stems": _stems(read, song),
        "music_theory": {
            "harmonic_analysis": pick(_HARMONY),
            "rhythmic_analysis": pick(_RHYTHM),
            "genre_analysis": pick(_GENRE),
        },
        "structure": {"sections": song.get("sections")},
        "curation": {"labeled_fields": song.get("labeled_fields") or [], "labeled_at": song.get("labeled_at")},
        "lineage": {"analysis_version": song.get("analysis_version"),
                    "analysis_failures": song.get("analysis_failures"),
                    "analysis_reasons": song.get("analysis_reasons"),
                    "lake_version": lake_version},
    }


def _stems(read, song: dict) -> dict:
    """The separation's status and message, and per stem its statistics."""
    newest = read("SELECT model, message, device FROM lake_separations WHERE song_id = $1 "
                  "ORDER BY separated_at DESC LIMIT 1", [song["song_id"]]).to_pylist()
    model, message, device = (newest[0]["model"], newest[0]["message"], newest[0]["device"]) if newest else (None, None, None)
    stats = {s["stem"]: {k: v for k, v in s.items() if k != "stem"} for s in song.get("stem_stats") or []}
    return {"status": song.get("stems_status"), "model": model, "device": device, "message": message,
            "is_instrumental": song.get("is_instrumental"), "stems": stats}
