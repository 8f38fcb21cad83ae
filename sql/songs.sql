-- title: songs
-- answers: every song in the lake with its public columns (the data contract of ARCHITECTURE.md)
-- parameters: none
--
-- Each song appears once: the first file ingested for its audio, its newest analysis and its
-- embedding. Columns whose stage songlake does not compute yet are typed NULLs so that queries
-- written against the contract already run; README.md lists which ones.
CREATE OR REPLACE VIEW songs AS
WITH tracks AS (
    SELECT * FROM lake_tracks
    QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY ingested_at, file_sha256) = 1
), analysis AS (
    SELECT * FROM lake_analysis
    QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY analysis_version DESC, analyzed_at DESC) = 1
), embeddings AS (
    SELECT * FROM lake_embeddings
    QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY model) = 1
)
SELECT
    t.song_id, t.file_sha256, t.filename, t.format, t.bitrate_kbps, t.sample_rate, t.channels,
    t.duration,
    t.title, t.artist, t.album, t.year, t.genre_tag, t.track, t.license, t.source,
    a.bpm, a.beats,
    CAST(NULL AS DOUBLE[]) AS downbeats,
    CAST(NULL AS VARCHAR) AS time_signature,
    CAST(NULL AS DOUBLE) AS syncopation_index,
    CAST(NULL AS DOUBLE) AS rhythmic_complexity,
    CAST(NULL AS INTEGER[]) AS strong_beats,
    CAST(NULL AS INTEGER[]) AS weak_beats,
    a.key, a.key_confidence,
    CAST(NULL AS STRUCT("start" DOUBLE, "end" DOUBLE, label VARCHAR)[]) AS chords,
    CAST(NULL AS VARCHAR[]) AS roman_numerals,
    CAST(NULL AS VARCHAR[]) AS functional_harmony,
    CAST(NULL AS VARCHAR[]) AS common_patterns,
    CAST(NULL AS STRUCT("type" VARCHAR, strength DOUBLE, "time" DOUBLE)[]) AS cadences,
    CAST(NULL AS DOUBLE) AS progression_complexity,
    CAST(NULL AS STRUCT("start" DOUBLE, "end" DOUBLE, label VARCHAR)[]) AS sections,
    CAST(NULL AS VARCHAR) AS primary_genre,
    CAST(NULL AS DOUBLE) AS genre_confidence,
    CAST(NULL AS STRUCT(genre VARCHAR, confidence DOUBLE)[]) AS predicted_genres,
    t.loudness_lufs, t.peak_dbfs, t.clipping_ratio, t.silence_ratio, t.bandwidth_hz,
    t.suspected_transcode, t.quality_flags,
    'pending' AS stems_status,
    e.embedding,
    a.analysis_version, t.ingested_at
FROM tracks t
LEFT JOIN analysis a USING (song_id)
LEFT JOIN embeddings e USING (song_id);
