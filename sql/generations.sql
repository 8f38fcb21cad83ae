-- title: generations
-- answers: what each model made, what it was asked for, how well it followed that, and whether it copies a song
-- parameters: none
--
-- One row per generation (audio a model made, added by `songlake generations add`): the model,
-- checkpoint, prompt and conditioning (JSON text: key, bpm, chords, sections, genre, text), the
-- lake version and query it was trained on, the file's name, format and duration; with its
-- newest analysis (bpm, key, beats, chords, sections, analysis_failures), what it measures as a
-- song would (loudness_lufs, primary_genre with genre_confidence and the genre_model that said
-- so, the lake's embedding) and its adherence scores (tempo_acc1, key_weighted, chord_majmin,
-- beat_f, section_f, each NULL where the conditioning did not ask for it), with adherence_reasons
-- saying why each NULL is NULL ('column: why', for the scores, the analysis columns named in
-- analysis_failures and the measurements). The audio itself is in the generation_audio table, served by generation_id.
--
-- The copy check (jobs/copies.py), newest first: copy_reference is 'trained_on' when the songs
-- it was trained on could be found in this lake, else 'lake' (copy_reference_detail says how or
-- why not) over copy_reference_songs songs; nearest_song_id and nearest_similarity (cosine, the
-- lake's embedding); the generation's fingerprint_status (done, empty, unavailable, failed) and
-- fingerprint_song_id with fingerprint_kind (same_audio, edit, or near: the whole song at
-- another speed), fingerprint_score, fingerprint_shared_seconds and fingerprint_offset;
-- copies_training (true on a same_audio, edit or near fingerprint match, or a cosine of at least
-- copy_threshold; NULL when neither check could run) and copy_reasons ('column: why' for each NULL and for the flag). A generation added before
-- the copy check existed has no check yet: its copy columns are NULL and copy_reasons says so
-- (`songlake generations check-copies` checks it).
CREATE OR REPLACE VIEW generations AS
SELECT g.generation_id, g.model, g.checkpoint, g.prompt, g.conditioning,
       g.trained_on_lake, g.trained_on_version, g.trained_on_tag, g.trained_on_query,
       g.filename, g.format, g.duration, g.sample_rate, g.added_at,
       a.bpm, a.key, a.beats, a.chords, a.sections, a.analysis_failures, a.analysis_version,
       a.loudness_lufs, a.primary_genre, a.genre_confidence, a.genre_model, a.embedding,
       a.tempo_acc1, a.key_weighted, a.chord_majmin, a.beat_f, a.section_f, a.adherence_reasons, a.scored_at,
       c.reference AS copy_reference, c.reference_detail AS copy_reference_detail,
       c.reference_songs AS copy_reference_songs, c.fingerprint_status, c.nearest_song_id, c.nearest_similarity, c.fingerprint_song_id, c.fingerprint_kind, c.fingerprint_score,
       c.fingerprint_shared_seconds, c.fingerprint_offset, c.copies_training, c.copy_threshold,
       coalesce(c.copy_reasons, CASE WHEN c.checked_at IS NULL THEN
           ['copies_training: not checked (added before the copy check existed): run `songlake generations check-copies`']
       END) AS copy_reasons,
       c.checked_at AS copy_checked_at
FROM lake_generations g
LEFT JOIN (
    SELECT * FROM lake_adherence
    QUALIFY row_number() OVER (PARTITION BY generation_id ORDER BY scored_at DESC) = 1
) a USING (generation_id)
LEFT JOIN (
    SELECT * EXCLUDE (fingerprint) FROM lake_generation_copies
    QUALIFY row_number() OVER (PARTITION BY generation_id ORDER BY checked_at DESC) = 1
) c USING (generation_id)
QUALIFY row_number() OVER (PARTITION BY g.generation_id ORDER BY g.added_at) = 1;
