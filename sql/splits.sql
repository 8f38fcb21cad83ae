-- title: splits
-- answers: which split (train, valid, test) each song is in, per split scheme
-- parameters: none
--
-- songlake.trainer.splits assigns whole artists to one split, seeded, and appends the rows; a
-- song's first assignment in a scheme is final, so a later assignment (another process racing,
-- or a re-run) never moves it. Filter on split_name ('default' unless a run chose another).
CREATE OR REPLACE VIEW splits AS
SELECT split_name, song_id, split, group_key, seed, fractions, assigned_at
FROM lake_splits
QUALIFY row_number() OVER (PARTITION BY split_name, song_id ORDER BY assigned_at, split) = 1;
