-- title: ingest_errors
-- answers: which files were refused, and why
-- parameters: none
CREATE OR REPLACE VIEW ingest_errors AS
SELECT filename, file_sha256, reason, refused_at, path
FROM lake_ingest_errors
ORDER BY refused_at, filename;
