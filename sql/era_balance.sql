-- title: era_balance
-- answers: how the collection's release years compare with the target mix of eras
-- parameters: none
--
-- One row per era, in this order, with its target share: '1960s-80s' 20 % (every year before
-- 1990, earlier decades included), '1990s-2000s' 30 % (1990-2009), '2010s' 40 % (2010-2019),
-- '2020s+' 10 % (2020 on), then 'unknown' for songs without a year (target, share and status
-- NULL). Years are the songs view's year, so human labels count. share is the era's fraction of
-- the songs with a known year (0 when none has one); status is 'ok' within 2.5 percentage points
-- of the target (the width of the genre targets' ranges), else 'under' or 'over'.
CREATE OR REPLACE VIEW era_balance AS
WITH eras(era, target, position) AS (
    VALUES ('1960s-80s', 0.20, 1), ('1990s-2000s', 0.30, 2), ('2010s', 0.40, 3), ('2020s+', 0.10, 4),
           ('unknown', NULL, 5)
), dated AS (
    SELECT CASE WHEN year IS NULL THEN 'unknown' WHEN year < 1990 THEN '1960s-80s'
                WHEN year < 2010 THEN '1990s-2000s' WHEN year < 2020 THEN '2010s' ELSE '2020s+' END AS era
    FROM songs
), counted AS (
    SELECT e.era, e.target::DOUBLE AS target, e.position, count(d.era) AS songs
    FROM eras e
    LEFT JOIN dated d USING (era)
    GROUP BY ALL
), shared AS (
    SELECT *, CASE WHEN era <> 'unknown' THEN coalesce(
                  songs / nullif(sum(songs) FILTER (WHERE era <> 'unknown') OVER (), 0), 0.0) END AS share
    FROM counted
)
SELECT era, songs, share, target, round(target - 0.025, 4) AS target_min, round(target + 0.025, 4) AS target_max,
       CASE WHEN target IS NULL THEN NULL WHEN share < target - 0.025 THEN 'under'
            WHEN share > target + 0.025 THEN 'over' ELSE 'ok' END AS status
FROM shared
ORDER BY position;
