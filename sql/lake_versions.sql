-- title: lake_versions
-- answers: the lake's history up to the version being queried: when, what, how much
-- parameters: none
CREATE OR REPLACE VIEW lake_versions AS
SELECT version, committed_at, kind, message, schema_version, counts
FROM lake_commits ORDER BY version;
