-- title: model_report
-- answers: how well each model (and checkpoint) follows its conditioning
-- parameters: none
--
-- One row per model and checkpoint over the generations view: how many generations, and per
-- adherence metric the mean over the generations that asked for it (NULL scores, where the
-- conditioning did not ask, are left out) with the number of generations scored. tempo_acc1
-- is then the share of generations within 4 % of the requested tempo; key_weighted,
-- chord_majmin, beat_f and section_f are mean scores in [0, 1] (see songlake.udfs.adherence).
-- The lake versions the model was trained on are listed (NULL: not recorded).
CREATE OR REPLACE VIEW model_report AS
SELECT model, checkpoint,
       count(*) AS generations,
       avg(tempo_acc1) AS tempo_acc1, count(tempo_acc1) AS tempo_scored,
       avg(key_weighted) AS key_weighted, count(key_weighted) AS key_scored,
       avg(chord_majmin) AS chord_majmin, count(chord_majmin) AS chords_scored,
       avg(beat_f) AS beat_f, count(beat_f) AS beats_scored,
       avg(section_f) AS section_f, count(section_f) AS sections_scored,
       list(DISTINCT trained_on_version ORDER BY trained_on_version) FILTER (WHERE trained_on_version IS NOT NULL)
           AS trained_on_versions
FROM generations
GROUP BY model, checkpoint
ORDER BY model, checkpoint NULLS FIRST;
