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
--
-- Human labels (lake_labels, written by songlake.schema.labels) win over computed values: for
-- each song and field the newest label counts, and its value (JSON text) replaces the column of
-- the same name; a value of 'null' withdraws the label. A labelled primary_genre has
-- genre_confidence 1.0, a labelled key has key_confidence 1.0, and a labelled primary_genre or
-- genre_tag clears genre_tag_suspicious (a human has settled the question). Labels live in
-- their own table, so a genre refit or a re-analysis never overrides them. labeled_fields lists
-- the fields with a human label ([] when none), labeled_at is when the song's labels last
-- changed (NULL when never). A labelled bpm has tempo_confidence 1.0.
--
-- analysis_failures lists the names of the stages (beats, rhythm, chords, key, sections, theory)
-- or single columns (time_signature, progression_complexity, ...) that the newest analysis left
-- NULL, so `WHERE 'beats' IN analysis_failures` finds the songs without beats; NULL when nothing
-- was left out. analysis_reasons gives each name's reason as {stage, reason}, in the same order.
-- Both come from lake_analysis.failed_stages ('name: reason'), so rows of every analysis version
-- read alike.
--
-- duplicate_group and is_preferred_copy come from duplicate_groups (duplicates.sql): a song
-- without duplicates is its own group and its preferred copy; duplicate_choice is a reviewer's
-- label on it (preferred, keep, drop) or NULL.
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
), newest_labels AS (
    SELECT song_id, field, value, labeled_at FROM lake_labels
    QUALIFY row_number() OVER (PARTITION BY song_id, field ORDER BY labeled_at DESC) = 1
), labels AS (
    SELECT
        song_id,
        list(field ORDER BY field) FILTER (WHERE value <> 'null') AS labeled_fields,
        max(labeled_at) AS labeled_at,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'title') AS title,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'artist') AS artist,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'album') AS album,
        any_value(from_json(value, '"INTEGER"')) FILTER (WHERE field = 'year') AS year,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'genre_tag') AS genre_tag,
        any_value(from_json(value, '"INTEGER"')) FILTER (WHERE field = 'track') AS track,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'license') AS license,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'source') AS source,
        any_value(from_json(value, '"DOUBLE"')) FILTER (WHERE field = 'bpm') AS bpm,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'time_signature') AS time_signature,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'key') AS key,
        any_value(from_json(value, '[{"start": "DOUBLE", "end": "DOUBLE", "label": "VARCHAR"}]'))
            FILTER (WHERE field = 'sections') AS sections,
        any_value(json_extract_string(value, '$')) FILTER (WHERE field = 'primary_genre') AS primary_genre,
        any_value(from_json(value, '"BOOLEAN"')) FILTER (WHERE field = 'is_instrumental') AS is_instrumental
    FROM newest_labels
    GROUP BY song_id
)
SELECT
    t.song_id, t.file_sha256, t.filename, t.format, t.bitrate_kbps, t.sample_rate, t.channels,
    t.duration,
    coalesce(l.title, t.title) AS title, coalesce(l.artist, t.artist) AS artist,
    coalesce(l.album, t.album) AS album, coalesce(l.year, t.year) AS year,
    coalesce(l.genre_tag, t.genre_tag) AS genre_tag, coalesce(l.track, t.track) AS track,
    coalesce(l.license, t.license) AS license, coalesce(l.source, t.source) AS source,
    coalesce(l.bpm, a.bpm) AS bpm,
    CASE WHEN l.bpm IS NOT NULL THEN 1.0 ELSE a.tempo_confidence END AS tempo_confidence,
    a.beats, a.beat_confidence, a.downbeats,
    coalesce(l.time_signature, a.time_signature) AS time_signature, a.syncopation_index, a.rhythmic_complexity,
    a.strong_beats, a.weak_beats,
    coalesce(l.key, a.key) AS key, CASE WHEN l.key IS NOT NULL THEN 1.0 ELSE a.key_confidence END AS key_confidence,
    a.chords, a.roman_numerals, a.functional_harmony, a.common_patterns,
    a.cadences, a.progression_complexity,
    coalesce(l.sections, a.sections) AS sections,
    coalesce(l.primary_genre, g.primary_genre) AS primary_genre,
    CASE WHEN l.primary_genre IS NOT NULL THEN 1.0 ELSE g.genre_confidence END AS genre_confidence,
    g.predicted_genres,
    CASE WHEN l.primary_genre IS NOT NULL OR l.genre_tag IS NOT NULL THEN false ELSE g.tag_suspicious END
        AS genre_tag_suspicious,
    t.loudness_lufs, t.peak_dbfs, t.clipping_ratio, t.silence_ratio, t.bandwidth_hz,
    t.suspected_transcode, t.quality_flags,
    coalesce(sa.status, 'pending') AS stems_status, sd.stem_stats,
    coalesce(l.is_instrumental, sd.is_instrumental) AS is_instrumental,
    e.embedding,
    coalesce(dg.duplicate_group, t.song_id) AS duplicate_group,
    coalesce(dg.is_preferred_copy, true) AS is_preferred_copy, dg.duplicate_choice,
    a.analysis_version,
    list_transform(a.failed_stages, lambda f: split_part(f, ':', 1)) AS analysis_failures,
    list_transform(a.failed_stages, lambda f: {'stage': split_part(f, ':', 1),
                                               'reason': trim(substr(f, strpos(f, ':') + 1))}) AS analysis_reasons,
    t.ingested_at,
    coalesce(l.labeled_fields, []::VARCHAR[]) AS labeled_fields, l.labeled_at
FROM tracks t
LEFT JOIN analysis a USING (song_id)
LEFT JOIN embeddings e USING (song_id)
LEFT JOIN genres g USING (song_id)
LEFT JOIN attempts sa USING (song_id)
LEFT JOIN separations sd USING (song_id)
LEFT JOIN labels l USING (song_id)
LEFT JOIN duplicate_groups dg USING (song_id);
