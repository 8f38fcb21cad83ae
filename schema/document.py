"""One song as a nested document, in the shape of the product brief.

``basic_info`` (identity, tags, provenance), ``quality``, ``audio_stems``, ``music_theory`` with
``harmonic_analysis``, ``rhythmic_analysis`` and ``genre_analysis``, and ``structure``. The same
document backs `songlake show` and the HTTP API's `GET /songs/{id}`.
"""

from __future__ import annotations

from songlake.schema.errors import LakeError
from songlake.schema.lake import Lake
from songlake.schema.query import connect, run

_BASIC = ("song_id", "file_sha256", "filename", "format", "bitrate_kbps", "sample_rate", "channels", "duration",
          "title", "artist", "album", "year", "genre_tag", "track", "license", "source", "ingested_at")
_QUALITY = ("loudness_lufs", "peak_dbfs", "clipping_ratio", "silence_ratio", "bandwidth_hz",
            "suspected_transcode", "quality_flags")
_HARMONY = ("key", "key_confidence", "chords", "roman_numerals", "functional_harmony", "common_patterns",
            "cadences", "progression_complexity")
_RHYTHM = ("bpm", "time_signature", "beats", "downbeats", "syncopation_index", "rhythmic_complexity",
           "strong_beats", "weak_beats")
_GENRE = ("primary_genre", "genre_confidence", "predicted_genres", "genre_tag", "genre_tag_suspicious")


def song_document(lake: Lake, song_id: str, version: int | str | None = None) -> dict:
    """The nested document of one song at a lake version; LakeError when there is no such song."""
    con = connect(lake, version)
    rows = run(con, "SELECT * FROM songs WHERE song_id = $1", params=[song_id]).to_pylist()
    if not rows:
        raise LakeError(f"no song {song_id} at lake version {lake.resolve(version)}")
    song = rows[0]
    pick = lambda names: {name: song.get(name) for name in names}  # noqa: E731
    return {
        "basic_info": pick(_BASIC),
        "quality": pick(_QUALITY),
        "audio_stems": _stems(con, song),
        "music_theory": {
            "harmonic_analysis": pick(_HARMONY),
            "rhythmic_analysis": pick(_RHYTHM),
            "genre_analysis": pick(_GENRE),
        },
        "structure": {"sections": song.get("sections")},
        "lineage": {"analysis_version": song.get("analysis_version"),
                    "analysis_failures": song.get("analysis_failures"),
                    "lake_version": lake.resolve(version)},
    }


def _stems(con, song: dict) -> dict:
    """The separation's status and message, and per stem its statistics and its parts' layout."""
    newest = con.execute(
        "SELECT model, message, device FROM lake_separations WHERE song_id = ? "
        "ORDER BY separated_at DESC LIMIT 1", [song["song_id"]]).fetchall()
    model, message, device = newest[0] if newest else (None, None, None)
    stats = {s["stem"]: {k: v for k, v in s.items() if k != "stem"} for s in song.get("stem_stats") or []}
    return {"status": song.get("stems_status"), "model": model, "device": device, "message": message,
            "is_instrumental": song.get("is_instrumental"), "stems": stats}
