-- title: votes
-- answers: who preferred which clip for which prompt, and which models made the clips
-- parameters: none
--
-- One row per A/B listening vote (schema.votes): the two clips as they were shown (a_id, b_id;
-- each a generation id, or a lake song id when the kind is 'song', a reference), the prompt
-- they share, the choice ('a', 'b', 'tie' or 'both_bad'), the note, the rater (the token's name)
-- and the time. a_model / b_model are the generations' models ('reference' for a lake song) and
-- a_checkpoint / b_checkpoint their checkpoints (NULL for a song or where none was recorded).
CREATE OR REPLACE VIEW votes AS
SELECT v.vote_id, v.prompt,
       v.a_id, v.a_kind, CASE WHEN v.a_kind = 'song' THEN 'reference' ELSE ga.model END AS a_model,
       ga.checkpoint AS a_checkpoint,
       v.b_id, v.b_kind, CASE WHEN v.b_kind = 'song' THEN 'reference' ELSE gb.model END AS b_model,
       gb.checkpoint AS b_checkpoint,
       v.choice, v.note, v.rater, v.voted_at
FROM lake_votes v
LEFT JOIN generations ga ON v.a_kind = 'generation' AND ga.generation_id = v.a_id
LEFT JOIN generations gb ON v.b_kind = 'generation' AND gb.generation_id = v.b_id;
