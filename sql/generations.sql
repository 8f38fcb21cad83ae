-- title: generations
-- answers: what each model made, what it was asked for, and how well it followed that
-- parameters: none
--
-- One row per generation (audio a model made, added by `songlake generations add`): the model,
-- checkpoint, prompt and conditioning (JSON text: key, bpm, chords, sections, genre, text), the
-- lake version and query it was trained on, the file's name, format and duration; with its
-- newest analysis (bpm, key, beats, chords, sections, analysis_failures) and adherence scores
-- (tempo_acc1, key_weighted, chord_majmin, beat_f, section_f, each NULL where the conditioning
-- did not ask for it, and adherence_reasons saying why). The audio itself is in the
-- generation_audio table, served by generation_id.
CREATE OR REPLACE VIEW generations AS
SELECT g.generation_id, g.model, g.checkpoint, g.prompt, g.conditioning,
       g.trained_on_lake, g.trained_on_version, g.trained_on_tag, g.trained_on_query,
       g.filename, g.format, g.duration, g.sample_rate, g.added_at,
       a.bpm, a.key, a.beats, a.chords, a.sections, a.analysis_failures, a.analysis_version,
       a.tempo_acc1, a.key_weighted, a.chord_majmin, a.beat_f, a.section_f, a.adherence_reasons, a.scored_at
FROM lake_generations g
LEFT JOIN (
    SELECT * FROM lake_adherence
    QUALIFY row_number() OVER (PARTITION BY generation_id ORDER BY scored_at DESC) = 1
) a USING (generation_id)
QUALIFY row_number() OVER (PARTITION BY g.generation_id ORDER BY g.added_at) = 1;
