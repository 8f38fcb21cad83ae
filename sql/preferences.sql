-- title: preferences
-- answers: which of two clips made for the same prompt each rater preferred, and when
-- parameters: none
--
-- The listening votes under the name the architecture's data contract gives them (pairwise
-- listening votes with rater and time): the rows and columns of the votes view, one row per
-- A/B vote (schema.votes). Defined over votes so the two names can never disagree.
CREATE OR REPLACE VIEW preferences AS
SELECT * FROM votes;
