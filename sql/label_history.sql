-- title: label_history
-- answers: every human label ever given, newest first: which song, which field, what value, who, why and when
-- parameters: none
--
-- One row per change (songlake.schema.labels writes them; the newest per song and field is the
-- one the songs view shows). value is the JSON text of the label; 'null' means the label was
-- withdrawn and the computed value counts again. title is the song's current (corrected) title.
CREATE OR REPLACE VIEW label_history AS
SELECT l.song_id, s.title, l.field, l.value, l.author, l.note, l.labeled_at
FROM lake_labels l
LEFT JOIN songs s USING (song_id)
ORDER BY l.labeled_at DESC, l.song_id, l.field;
