-- title: quality_compliance
-- answers: which songs meet the training-data quality guidelines, and which check each one fails
-- parameters: none
--
-- One row per song with four checks (the guidelines of songlake.udfs.quality.GUIDELINES):
-- bitrate_ok 'bitrate >= 320 kbps' (lossless files pass; 318 kbps is allowed for VBR rounding,
-- as the ingest flag does), duration_ok '2-6 minutes' (120-360 s), transcode_ok 'no suspected
-- transcode', clipping_ok 'not clipped' (at most 0.01 % of samples at full scale). A check is
-- NULL when its input is unknown. compliant is true when all four pass; failed_checks names
-- the checks that failed or could not be made.
CREATE OR REPLACE VIEW quality_compliance AS
WITH checked AS (
    SELECT song_id, title, artist, format, bitrate_kbps, duration, suspected_transcode, clipping_ratio,
           CASE WHEN lower(format) IN ('flac', 'wav', 'aiff', 'aif', 'alac') THEN true
                ELSE bitrate_kbps >= 318 END AS bitrate_ok,
           duration BETWEEN 120.0 AND 360.0 AS duration_ok,
           NOT suspected_transcode AS transcode_ok,
           clipping_ratio <= 1e-4 AS clipping_ok
    FROM songs
)
SELECT *,
       coalesce(bitrate_ok AND duration_ok AND transcode_ok AND clipping_ok, false) AS compliant,
       list_filter([
           CASE WHEN NOT coalesce(bitrate_ok, false) THEN 'bitrate >= 320 kbps' END,
           CASE WHEN NOT coalesce(duration_ok, false) THEN '2-6 minutes' END,
           CASE WHEN NOT coalesce(transcode_ok, false) THEN 'no suspected transcode' END,
           CASE WHEN NOT coalesce(clipping_ok, false) THEN 'not clipped' END
       ], lambda c: c IS NOT NULL) AS failed_checks
FROM checked
ORDER BY song_id;
