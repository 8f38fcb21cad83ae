-- title: annotation_queue
-- answers: which songs most need a human look: missing or low-confidence labels, doubtful tags, failed analysis
-- parameters: none
--
-- One row per song with at least one reason, the songs with the most reasons first. The reasons
-- (computed on the corrected values, so a human label that settles a question removes it):
-- 'genre unknown', 'genre confidence below 0.5', 'key unknown' (an analysed song without a key),
-- 'key confidence below 0.5', 'genre tag contradicts the audio' (genre_tag_suspicious),
-- 'missing title', 'missing artist', 'missing year', 'missing license', and one
-- 'analysis failed: <name>' per stage or column the newest analysis left without a value
-- (analysis_failures).
CREATE OR REPLACE VIEW annotation_queue AS
WITH reasoned AS (
    SELECT
        song_id, title, artist, year, license, primary_genre, genre_confidence, key, key_confidence,
        genre_tag, genre_tag_suspicious, labeled_fields,
        list_filter([
            CASE WHEN primary_genre IS NULL THEN 'genre unknown' END,
            CASE WHEN genre_confidence < 0.5 THEN 'genre confidence below 0.5' END,
            CASE WHEN key IS NULL AND analysis_version IS NOT NULL THEN 'key unknown' END,
            CASE WHEN key_confidence < 0.5 THEN 'key confidence below 0.5' END,
            CASE WHEN genre_tag_suspicious THEN 'genre tag contradicts the audio' END,
            CASE WHEN nullif(trim(title), '') IS NULL THEN 'missing title' END,
            CASE WHEN nullif(trim(artist), '') IS NULL THEN 'missing artist' END,
            CASE WHEN year IS NULL THEN 'missing year' END,
            CASE WHEN nullif(trim(license), '') IS NULL THEN 'missing license' END
        ], lambda r: r IS NOT NULL)
        || coalesce(list_transform(analysis_failures, lambda f: 'analysis failed: ' || f),
                    []::VARCHAR[]) AS reasons
    FROM songs
)
SELECT song_id, title, artist, year, license, primary_genre, genre_confidence, key, key_confidence,
       genre_tag, genre_tag_suspicious, labeled_fields, reasons, len(reasons) AS reason_count
FROM reasoned
WHERE len(reasons) > 0
ORDER BY reason_count DESC, song_id;
