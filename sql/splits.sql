-- title: splits
-- answers: which split (train, valid, test) each song is in, per split scheme
-- parameters: none
--
-- songlake.trainer.splits assigns whole artists to one split, seeded, and appends the rows; a
-- song's first assignment in a scheme is final, so a later assignment (another process racing,
-- or a re-run) never moves it. Filter on split_name ('default' unless a run chose another).
-- The one exception keeps duplicates together: when a song's copies are found in another split,
-- a row with moved_for moves it (schema/split_groups.py), and a song's newest move counts over
-- its first assignment; moved_for says why (NULL for a first assignment).
CREATE OR REPLACE VIEW splits AS
SELECT split_name, song_id, split, group_key, seed, fractions, assigned_at, moved_for
FROM lake_splits
QUALIFY row_number() OVER (PARTITION BY split_name, song_id
                           ORDER BY moved_for IS NOT NULL DESC,
                                    CASE WHEN moved_for IS NOT NULL THEN assigned_at END DESC,
                                    assigned_at, split) = 1;
