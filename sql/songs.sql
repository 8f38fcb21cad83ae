-- title: songs
-- answers: every song in the lake with its public columns (the data contract of ARCHITECTURE.md)
-- parameters: none
--
-- Each song appears once: the first file ingested for its audio, its newest analysis (highest
-- analysis_version, then latest), its embedding and its newest genre prediction. Columns of a
-- stage songlake does not run yet are typed NULLs so queries written against the contract
-- already run; README.md says which.
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
    'pending' AS stems_status,
    e.embedding,
    a.analysis_version, a.failed_stages AS analysis_failures, t.ingested_at
FROM tracks t
LEFT JOIN analysis a USING (song_id)
LEFT JOIN embeddings e USING (song_id)
LEFT JOIN genres g USING (song_id);
