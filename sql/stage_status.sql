-- title: stage_status
-- answers: where each song stands in each pipeline stage: the newest outcome, and why it failed
-- parameters: none
--
-- One row per song and stage (separate, analyze, embed, genre) from the stage_runs log: the
-- newest run's status (done, failed, unavailable), its reason, which version of the stage it
-- ran (stage_version, e.g. 'analysis-3' or 'htdemucs'), the worker and its attempts.
CREATE OR REPLACE VIEW stage_status AS
SELECT song_id, stage, status, reason, stage_version, worker, attempts, finished_at
FROM lake_stage_runs
QUALIFY row_number() OVER (PARTITION BY song_id, stage ORDER BY finished_at DESC) = 1
ORDER BY song_id, stage;
