-- title: songs
-- answers: every song in the lake with its public columns (the data contract of ARCHITECTURE.md)
-- parameters: none
--
-- Each song appears once: the first file ingested for its audio, its newest analysis (highest
-- analysis_version, then latest), its embedding, its newest genre prediction and its newest
-- separation attempt. stems_status is that attempt's status (done, unavailable, failed), or
-- 'pending' when the song was never separated; stem_stats and is_instrumental come from the
-- newest separation that succeeded, NULL when none did. The stems' audio is read through the
-- gateway (songlake.schema.stems), not through SQL.
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
), genres AS (
    SELECT * FROM lake_genres
    QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY predicted_at DESC) = 1
), attempts AS (
    SELECT song_id, status FROM lake_separations
    QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY separated_at DESC) = 1
), separations AS (
    SELECT song_id, stem_stats, is_instrumental FROM lake_separations
    WHERE status = 'done'
    QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY separated_at DESC) = 1
)
SELECT
    t.song_id, t.file_sha256, t.filename, t.format, t.bitrate_kbps, t.sample_rate, t.channels,
    t.duration,
    t.title, t.artist, t.album, t.year, t.genre_tag, t.track, t.license, t.source,
    a.bpm, a.beats, a.downbeats, a.time_signature, a.syncopation_index, a.rhythmic_complexity,
    a.strong_beats, a.weak_beats,
    a.key, a.key_confidence, a.chords, a.roman_numerals, a.functional_harmony, a.common_patterns,
    a.cadences, a.progression_complexity,
    a.sections,
    g.primary_genre, g.genre_confidence, g.predicted_genres, g.tag_suspicious AS genre_tag_suspicious,
    t.loudness_lufs, t.peak_dbfs, t.clipping_ratio, t.silence_ratio, t.bandwidth_hz,
    t.suspected_transcode, t.quality_flags,
    coalesce(sa.status, 'pending') AS stems_status, sd.stem_stats, sd.is_instrumental,
    e.embedding,
    a.analysis_version, a.failed_stages AS analysis_failures, t.ingested_at
FROM tracks t
LEFT JOIN analysis a USING (song_id)
LEFT JOIN embeddings e USING (song_id)
LEFT JOIN genres g USING (song_id)
LEFT JOIN attempts sa USING (song_id)
LEFT JOIN separations sd USING (song_id);
