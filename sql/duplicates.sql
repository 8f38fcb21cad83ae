-- title: duplicates
-- answers: which songs are the same recording (a re-encode, an edit, a copy at another speed), with
--          the kind, score and alignment of each pair; and each song's duplicate group and
--          whether it is the copy its group trains on
-- parameters: none
--
-- duplicates: one row per pair (song_a < song_b), the newest finding (jobs/duplicates.py):
--   kind            same_audio (re-encode, other format or bitrate, gain, trimmed silence, fade),
--                   edit (one holds a long stretch of the other: radio edit, intro cut, excerpt) or
--                   near (the same at another speed, within 3.5 %)
--   score           1 - 2 x the bit error rate of the fingerprints over the shared stretch:
--                   1 identical, 0 unrelated (re-encodes score about 0.9, matches need about 0.6)
--   offset_seconds  time t in song_a is time t + offset_seconds in song_b
--   shared_seconds  the longest stretch the two share; speed: song_b's speed relative to song_a
--
-- duplicate_groups: every song that has a duplicate, with its group (the connected pairs; the
-- group is named by its smallest song_id), the group's size, the reviewer's duplicate_choice
-- label and is_preferred_copy, true for exactly one song per group, chosen by these rules in
-- order: a 'preferred' label (the newest wins), not a 'drop' label, lossless (flac, wav) over
-- lossy, higher true bandwidth (to the nearest kHz), not a suspected transcode, not clipped,
-- longer (the complete version over an edit), then the smallest song_id. Songs without
-- duplicates are absent: the songs view gives them their own song_id as group, preferred.
CREATE OR REPLACE VIEW duplicates AS
SELECT song_a, song_b, kind, score, offset_seconds, shared_seconds, speed, method, found_at
FROM lake_duplicate_pairs
QUALIFY row_number() OVER (PARTITION BY song_a, song_b ORDER BY found_at DESC) = 1;

CREATE OR REPLACE VIEW duplicate_groups AS
WITH RECURSIVE edges AS (
    SELECT song_a AS here, song_b AS there FROM duplicates
    UNION
    SELECT song_b, song_a FROM duplicates
), reach(song_id, member) AS (
    SELECT DISTINCT here, here FROM edges
    UNION
    SELECT r.song_id, e.there FROM reach r JOIN edges e ON e.here = r.member
), grouped AS (
    SELECT song_id, min(member) AS duplicate_group FROM reach GROUP BY song_id
), tracks AS (
    SELECT song_id, format, bandwidth_hz, suspected_transcode, clipping_ratio, quality_flags, duration
    FROM lake_tracks
    WHERE song_id IN (SELECT song_id FROM grouped)
    QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY ingested_at, file_sha256) = 1
), choices AS (
    SELECT song_id, json_extract_string(value, '$') AS duplicate_choice, labeled_at
    FROM lake_labels
    WHERE field = 'duplicate_choice'
    QUALIFY row_number() OVER (PARTITION BY song_id ORDER BY labeled_at DESC) = 1
)
SELECT
    g.song_id, g.duplicate_group,
    count(*) OVER (PARTITION BY g.duplicate_group) AS group_size,
    c.duplicate_choice,
    row_number() OVER (PARTITION BY g.duplicate_group ORDER BY
        coalesce(c.duplicate_choice = 'preferred', false) DESC,
        CASE WHEN c.duplicate_choice = 'preferred' THEN c.labeled_at END DESC NULLS LAST,
        coalesce(c.duplicate_choice = 'drop', false),
        t.format IN ('flac', 'wav') DESC,
        round(coalesce(t.bandwidth_hz, 0) / 1000) DESC,
        coalesce(t.suspected_transcode, false),
        coalesce(list_contains(t.quality_flags, 'clipped'), false),
        t.duration DESC NULLS LAST,
        g.song_id) = 1 AS is_preferred_copy
FROM grouped g
LEFT JOIN tracks t USING (song_id)
LEFT JOIN choices c USING (song_id);
