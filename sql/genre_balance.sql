-- title: genre_balance
-- answers: how the collection's genres compare with the target mix for a training set
-- parameters: none
--
-- One row per target bucket, in this order: pop 25-30 %, rock 20-25 %, hip-hop 15-20 %,
-- jazz 10-15 %, electronic 10-15 %, other 10-15 % (every other genre of the vocabulary, and
-- songs without a genre, count as other). Genres are the songs view's primary_genre, so human
-- labels count. share is the bucket's fraction of all songs (0 when the lake is empty); status
-- is 'under' below target_min, 'over' above target_max, else 'ok'.
CREATE OR REPLACE VIEW genre_balance AS
WITH targets(genre, target_min, target_max, position) AS (
    VALUES ('pop', 0.25, 0.30, 1), ('rock', 0.20, 0.25, 2), ('hip-hop', 0.15, 0.20, 3),
           ('jazz', 0.10, 0.15, 4), ('electronic', 0.10, 0.15, 5), ('other', 0.10, 0.15, 6)
), bucketed AS (
    SELECT CASE WHEN primary_genre IN ('pop', 'rock', 'hip-hop', 'jazz', 'electronic') THEN primary_genre
                ELSE 'other' END AS genre
    FROM songs
), counted AS (
    SELECT t.genre, t.target_min::DOUBLE AS target_min, t.target_max::DOUBLE AS target_max, t.position,
           count(b.genre) AS songs,
           coalesce(count(b.genre) / nullif(sum(count(b.genre)) OVER (), 0), 0.0) AS share
    FROM targets t
    LEFT JOIN bucketed b USING (genre)
    GROUP BY ALL
)
SELECT genre, songs, share, target_min, target_max,
       CASE WHEN share < target_min THEN 'under' WHEN share > target_max THEN 'over' ELSE 'ok' END AS status
FROM counted
ORDER BY position;
