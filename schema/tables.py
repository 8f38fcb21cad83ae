"""The lake's tables, as Arrow schemas.

One Lance table per pipeline stage, joined by ``song_id``, so a re-analysis appends analysis
rows without rewriting audio:

- ``tracks``: identity, tags, provenance and quality of each ingested file;
- ``originals``: the original file's bytes (a Lance blob column), so the lake alone can rebuild
  everything;
- ``analysis``: MIR results, one row per song and analysis version;
- ``embeddings``: one vector per song and embedding model;
- ``genres``: genre predictions, one row per song each time the collection's genre model is
  refitted (the newest row per song counts);
- ``ingest_errors``: every refused file with the reason;
- ``stems``: the separated stems (vocals, drums, bass, other) of each song as consecutive parts
  of about 30 s, each part an independent FLAC file in a Lance blob column (schema.stems reads
  and writes them);
- ``separations``: one row per song and separation attempt, with its outcome (done, unavailable,
  failed), per-stem loudness statistics and whether the song is instrumental (the newest row
  per song counts);
- ``stage_runs``: the pipeline's log, one row per song, stage and attempt outcome, so a failure
  is recorded with its reason and a stage knows which songs are current;
- ``labels``: human corrections, one row per field change (the newest per song and field
  counts, the rest is the history); the ``songs`` view shows the corrected values;
- ``splits``: train / valid / test assignments, one row per song and split scheme; a song's
  first assignment in a scheme is final (the ``splits`` view), so every run and export that
  uses the scheme sees the same split (songlake.trainer.splits writes them), unless it is moved
  to join its duplicates (a row with ``moved_for``; schema.split_groups);
- ``fingerprints``: each song's Chromaprint fingerprint (udfs.fingerprint), or why it has none
  (status unavailable or failed, with the reason); read by song_id, not through SQL;
- ``fingerprint_index``: the inverted index of the fingerprints, one row per (sampled
  sub-fingerprint hash, song), so a song's candidate duplicates are found by hash through a
  BTREE index, never by comparing it with every song (jobs/duplicates.py); not in SQL;
- ``duplicate_pairs``: two songs found to be the same recording, with the kind (same_audio,
  edit, near), score, offset and shared seconds; the ``duplicates`` view reads them;
- ``generations``: audio a model made (issue 16), with the model, checkpoint, prompt, the
  conditioning it was asked for (JSON text) and the lake version and query it was trained on;
  ``generation_audio`` holds the file's bytes (a blob column, like ``originals``) and
  ``adherence`` the generation's analysis and its adherence scores (udfs.adherence), one row
  per scoring (the newest counts); the ``generations`` and ``model_report`` views read them;
  schema 12 added to ``adherence`` the generation's loudness, genre and embedding (what its
  model's distributions are compared on, jobs/compare.py) and ``generation_copies``: whether a
  generation copies a song it was trained on, by embedding and by fingerprint (jobs/copies.py),
  one row per check (the newest counts), read by the ``generations`` view;
- ``votes``: A/B listening votes (issue 16, schema.votes), one row per vote: the two clips as
  they were shown (A and B, each a generation id or a lake song id as the reference), the prompt
  they share, the choice (a, b, tie, both_bad), an optional note, the rater's token name and
  the time; the ``votes`` view names each clip's model and checkpoint;
- ``catalog``: the lake's own log, one row per lake version with its number and the versions
  of the other tables at that lake version (schema.catalog). Lakes before schema 6 kept this in
  ``commits``, whose Lance version was the lake version; the migration to 6 converts it.
"""

from __future__ import annotations

import pyarrow as pa

from songlake.udfs.embedding import DIM as EMBEDDING_DIM

SCHEMA_VERSION = 12

_TIME = pa.timestamp("us", tz="UTC")

TRACKS = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("file_sha256", pa.string(), nullable=False),
    pa.field("filename", pa.string()),
    pa.field("path", pa.string()),
    pa.field("format", pa.string()),
    pa.field("codec", pa.string()),
    pa.field("bitrate_kbps", pa.int32()),
    pa.field("sample_rate", pa.int32()),
    pa.field("channels", pa.int16()),
    pa.field("duration", pa.float64()),
    pa.field("title", pa.string()),
    pa.field("artist", pa.string()),
    pa.field("album", pa.string()),
    pa.field("year", pa.int32()),
    pa.field("genre_tag", pa.string()),
    pa.field("track", pa.int32()),
    pa.field("license", pa.string()),
    pa.field("source", pa.string()),
    pa.field("loudness_lufs", pa.float64()),
    pa.field("peak_dbfs", pa.float64()),
    pa.field("clipping_ratio", pa.float64()),
    pa.field("silence_ratio", pa.float64()),
    pa.field("bandwidth_hz", pa.float64()),
    pa.field("suspected_transcode", pa.bool_()),
    pa.field("quality_flags", pa.list_(pa.string())),
    pa.field("ingested_at", _TIME),
])

ORIGINALS = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("file_sha256", pa.string(), nullable=False),
    pa.field("filename", pa.string()),
    pa.field("format", pa.string()),
    pa.field("size_bytes", pa.int64()),
    pa.field("data", pa.large_binary(), metadata={"lance-encoding:blob": "true"}),
])

SPAN = pa.struct([pa.field("start", pa.float64()), pa.field("end", pa.float64()), pa.field("label", pa.string())])
CADENCE = pa.struct([pa.field("type", pa.string()), pa.field("strength", pa.float64()), pa.field("time", pa.float64())])
GENRE_SCORE = pa.struct([pa.field("genre", pa.string()), pa.field("confidence", pa.float64())])

# Schema 1 had the first seven columns; schema 2 added the next ones, schema 3 used_stems, schema 7 the
# tempo and beat confidences (see migrations.py).
ANALYSIS_V1 = [
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("analysis_version", pa.int32(), nullable=False),
    pa.field("analyzed_at", _TIME),
    pa.field("bpm", pa.float64()),
    pa.field("beats", pa.list_(pa.float64())),
    pa.field("key", pa.string()),
    pa.field("key_confidence", pa.float64()),
]
ANALYSIS_V2_COLUMNS = [
    pa.field("downbeats", pa.list_(pa.float64())),
    pa.field("time_signature", pa.string()),
    pa.field("syncopation_index", pa.float64()),
    pa.field("rhythmic_complexity", pa.float64()),
    pa.field("strong_beats", pa.list_(pa.int32())),
    pa.field("weak_beats", pa.list_(pa.int32())),
    pa.field("chords", pa.list_(SPAN)),
    pa.field("roman_numerals", pa.list_(pa.string())),
    pa.field("functional_harmony", pa.list_(pa.string())),
    pa.field("common_patterns", pa.list_(pa.string())),
    pa.field("cadences", pa.list_(CADENCE)),
    pa.field("progression_complexity", pa.float64()),
    pa.field("sections", pa.list_(SPAN)),
    # 'name: reason' for each stage (or, when the stage filled some columns, each column) left NULL;
    # the songs view splits it into analysis_failures (the names) and analysis_reasons
    pa.field("failed_stages", pa.list_(pa.string())),
]
ANALYSIS_V3_COLUMNS = [
    pa.field("used_stems", pa.bool_()),  # the analysis ran on the separated stems, not on the mix
]
ANALYSIS_V7_COLUMNS = [
    pa.field("tempo_confidence", pa.float64()),  # 0..1: how clearly the audio repeats at the tracked tempo
    pa.field("beat_confidence", pa.float64()),  # 0..1: how many tracked beats fall on onsets
]
ANALYSIS = pa.schema(ANALYSIS_V1 + ANALYSIS_V2_COLUMNS + ANALYSIS_V3_COLUMNS + ANALYSIS_V7_COLUMNS)

EMBEDDINGS = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("model", pa.string(), nullable=False),
    pa.field("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)),
])

GENRES = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("model", pa.string()),  # e.g. 'prior' or 'classifier(212 tagged)'
    pa.field("primary_genre", pa.string()),
    pa.field("genre_confidence", pa.float64()),
    pa.field("predicted_genres", pa.list_(GENRE_SCORE)),
    pa.field("tag_suspicious", pa.bool_()),  # the model confidently contradicts the genre tag
    pa.field("predicted_at", _TIME),
])

INGEST_ERRORS = pa.schema([
    pa.field("filename", pa.string()),
    pa.field("path", pa.string()),
    pa.field("file_sha256", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("refused_at", _TIME),
])

STEMS = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("stem", pa.string(), nullable=False),  # vocals, drums, bass, other
    pa.field("model", pa.string()),  # the separation model's key, e.g. 'htdemucs'
    pa.field("part", pa.int32()),  # 0, 1, ... in time order
    pa.field("start_sample", pa.int64()),  # the part's first sample, counted from the song's start
    pa.field("num_samples", pa.int64()),  # per channel
    pa.field("sample_rate", pa.int32()),  # the model's rate (44100 for htdemucs), not the original's
    pa.field("channels", pa.int16()),
    pa.field("codec", pa.string()),  # flac or wav, both 16-bit PCM (see schema.stems)
    pa.field("data", pa.large_binary(), metadata={"lance-encoding:blob": "true"}),
])

STEM_STATS = pa.struct([
    pa.field("stem", pa.string()),
    pa.field("loudness_lufs", pa.float64()),
    pa.field("peak_dbfs", pa.float64()),
    pa.field("rms_dbfs", pa.float64()),
    pa.field("active_ratio", pa.float64()),
])

SEPARATIONS = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("model", pa.string()),
    pa.field("status", pa.string()),  # done, unavailable (no weights), failed
    pa.field("message", pa.string()),  # why, when not done; for unavailable, how to provide the weights
    pa.field("device", pa.string()),  # e.g. 'cuda:0', 'cpu'
    pa.field("seconds", pa.float64()),  # processing time
    pa.field("duration", pa.float64()),  # audio seconds separated
    pa.field("stem_stats", pa.list_(STEM_STATS)),
    pa.field("is_instrumental", pa.bool_()),
    pa.field("separated_at", _TIME),
])

STAGE_RUNS = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("stage", pa.string()),  # separate, analyze, embed, genre
    pa.field("status", pa.string()),  # done, failed, unavailable
    pa.field("reason", pa.string()),
    pa.field("stage_version", pa.string()),  # what 'current' means for the stage, e.g. 'analysis-3'
    pa.field("worker", pa.string()),
    pa.field("attempts", pa.int32()),
    pa.field("seconds", pa.float64()),
    pa.field("finished_at", _TIME),
])

LABELS = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("field", pa.string(), nullable=False),  # a songs column, one of schema.labels.LABEL_FIELDS
    pa.field("value", pa.string()),  # JSON text of the normalised value; 'null' withdraws the label
    pa.field("author", pa.string()),
    pa.field("note", pa.string()),
    pa.field("labeled_at", _TIME),
])

SPLITS = pa.schema([
    pa.field("split_name", pa.string(), nullable=False),  # the scheme, e.g. 'default'
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),  # train, valid or test
    pa.field("group_key", pa.string()),  # the artist the song was grouped by (no artist: the song itself)
    pa.field("seed", pa.int64()),
    pa.field("fractions", pa.string()),  # JSON [train, valid, test] the scheme was made with
    pa.field("assigned_at", _TIME),
    # schema 9: why a song was moved (its duplicates are in another split: schema.split_groups);
    # NULL for a first assignment. The newest move counts over the first assignment.
    pa.field("moved_for", pa.string()),
])
SPLITS_V9_COLUMNS = [SPLITS.field("moved_for")]

FINGERPRINTS = pa.schema([
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("algorithm", pa.string()),  # e.g. 'chromaprint-2'
    pa.field("status", pa.string()),  # done, empty (silence or too short), unavailable (no Chromaprint), failed
    pa.field("reason", pa.string()),  # why, when not done; for unavailable, how to install Chromaprint
    pa.field("duration", pa.float64()),  # seconds of the whole audio
    pa.field("start", pa.float64()),  # seconds of silence cut before the first sub-fingerprint
    pa.field("frames", pa.int32()),  # sub-fingerprints, one every udfs.fingerprint.HOP seconds
    pa.field("values", pa.binary()),  # the sub-fingerprints as little-endian uint32
    # near_keys is always NULL: left from an early design of schema 8, so lakes written then still
    # read; near copies are found by the embedding instead (jobs/duplicates.py).
    pa.field("near_keys", pa.binary()),
    pa.field("fingerprinted_at", _TIME),
])

FINGERPRINT_INDEX = pa.schema([
    pa.field("hash", pa.int64(), nullable=False),  # a sampled sub-fingerprint's top bits (jobs/duplicates.py)
    pa.field("song_id", pa.string(), nullable=False),
    pa.field("position", pa.int32()),  # its first sub-fingerprint in the song
])

DUPLICATE_PAIRS = pa.schema([
    pa.field("song_a", pa.string(), nullable=False),  # the smaller song_id of the two
    pa.field("song_b", pa.string(), nullable=False),
    pa.field("kind", pa.string()),  # same_audio, edit, near
    pa.field("score", pa.float64()),  # 1 - 2 x bit error rate over the shared stretch: 1 identical, 0 unrelated
    pa.field("offset_seconds", pa.float64()),  # time t in song_a is time t + offset_seconds in song_b
    pa.field("shared_seconds", pa.float64()),
    pa.field("speed", pa.float64()),  # song_b's speed relative to song_a (near; 1.0 otherwise)
    pa.field("method", pa.string()),  # 'fingerprint', or 'embedding+fingerprint' for near
    pa.field("found_at", _TIME),
])

GENERATIONS = pa.schema([
    pa.field("generation_id", pa.string(), nullable=False),  # udfs.audio.song_id of its audio
    pa.field("model", pa.string(), nullable=False),
    pa.field("checkpoint", pa.string()),
    pa.field("prompt", pa.string()),
    pa.field("conditioning", pa.string()),  # JSON text: key, bpm, beats, chords, sections, genre, text
    pa.field("trained_on_lake", pa.string()),
    pa.field("trained_on_version", pa.int64()),
    pa.field("trained_on_tag", pa.string()),
    pa.field("trained_on_query", pa.string()),
    pa.field("filename", pa.string()),
    pa.field("format", pa.string()),
    pa.field("duration", pa.float64()),
    pa.field("sample_rate", pa.int32()),
    pa.field("added_at", _TIME),
])

GENERATION_AUDIO = pa.schema([
    pa.field("generation_id", pa.string(), nullable=False),
    pa.field("filename", pa.string()),
    pa.field("format", pa.string()),
    pa.field("size_bytes", pa.int64()),
    pa.field("data", pa.large_binary(), metadata={"lance-encoding:blob": "true"}),
])

ADHERENCE = pa.schema([
    pa.field("generation_id", pa.string(), nullable=False),
    pa.field("analysis_version", pa.int32()),
    pa.field("bpm", pa.float64()),
    pa.field("key", pa.string()),
    pa.field("beats", pa.list_(pa.float64())),
    pa.field("chords", pa.list_(SPAN)),
    pa.field("sections", pa.list_(SPAN)),
    pa.field("analysis_failures", pa.list_(pa.string())),
    pa.field("tempo_acc1", pa.float64()),  # udfs.adherence's metrics; NULL where nothing was asked
    pa.field("key_weighted", pa.float64()),
    pa.field("chord_majmin", pa.float64()),
    pa.field("beat_f", pa.float64()),
    pa.field("section_f", pa.float64()),
    pa.field("adherence_reasons", pa.list_(pa.string())),  # 'column: why': each NULL score (and 0 from a gap), analysis column and measurement
    pa.field("scored_at", _TIME),
    # schema 12: measured as songs are (quality, genre, embedding); NULL in rows scored before
    pa.field("loudness_lufs", pa.float64()),
    pa.field("primary_genre", pa.string()),
    pa.field("genre_confidence", pa.float64()),
    pa.field("genre_model", pa.string()),  # the lake's genre model that predicted it, or 'prior'
    pa.field("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)),
])
ADHERENCE_V12_COLUMNS = [ADHERENCE.field(name) for name in
                         ("loudness_lufs", "primary_genre", "genre_confidence", "genre_model", "embedding")]

GENERATION_COPIES = pa.schema([
    pa.field("generation_id", pa.string(), nullable=False),
    pa.field("lake_version", pa.int64()),  # the lake version it was checked against
    pa.field("reference", pa.string()),  # 'trained_on' (the songs it was trained on) or 'lake' (every song)
    pa.field("reference_detail", pa.string()),  # how the training songs were found, or why not
    pa.field("reference_songs", pa.int64()),
    pa.field("embedding_model", pa.string()),
    pa.field("nearest_song_id", pa.string()),  # the nearest reference song by embedding
    pa.field("nearest_similarity", pa.float64()),  # its cosine similarity
    pa.field("fingerprint_status", pa.string()),  # the generation's: done, empty, unavailable, failed
    pa.field("fingerprint", pa.binary()),  # its sub-fingerprints as little-endian uint32 (udfs.fingerprint)
    pa.field("fingerprint_song_id", pa.string()),  # the reference song it matches best by fingerprint
    pa.field("fingerprint_kind", pa.string()),  # same_audio or edit (jobs/duplicates.py's kinds)
    pa.field("fingerprint_score", pa.float64()),  # 1 - 2 x bit error rate over the shared stretch
    pa.field("fingerprint_shared_seconds", pa.float64()),
    pa.field("fingerprint_offset", pa.float64()),  # time t in the generation is time t + offset in the song
    pa.field("copies_training", pa.bool_()),  # NULL when neither check could run
    pa.field("copy_threshold", pa.float64()),  # the cosine similarity that counts as a copy (jobs/copies.py)
    pa.field("copy_reasons", pa.list_(pa.string())),  # 'column: why' for each NULL, and for the flag
    pa.field("checked_at", _TIME),
])

VOTES = pa.schema([
    pa.field("vote_id", pa.string(), nullable=False),
    pa.field("prompt", pa.string()),
    pa.field("a_id", pa.string(), nullable=False),  # the clip shown as A: a generation_id or a song_id
    pa.field("a_kind", pa.string(), nullable=False),  # 'generation' or 'song' (a reference)
    pa.field("b_id", pa.string(), nullable=False),
    pa.field("b_kind", pa.string(), nullable=False),
    pa.field("choice", pa.string(), nullable=False),  # 'a', 'b', 'tie' or 'both_bad'
    pa.field("note", pa.string()),
    pa.field("rater", pa.string(), nullable=False),  # the token's name
    pa.field("voted_at", _TIME),
])

# The catalog of schema 1-5 lakes (``commits``): its Lance version was the lake version. Read
# only by the migration to schema 6, which converts it to CATALOG.
COMMITS = pa.schema([
    pa.field("committed_at", _TIME),
    pa.field("kind", pa.string()),  # init, ingest, migrate, optimize, label, ...
    pa.field("message", pa.string()),
    pa.field("schema_version", pa.int32()),
    pa.field("table_versions", pa.string()),  # JSON: {"tracks": 3, ...}
    pa.field("counts", pa.string()),  # JSON: what the commit added
])

CATALOG = pa.schema([
    pa.field("version", pa.int64(), nullable=False),  # the lake version
    pa.field("committed_at", _TIME),
    pa.field("kind", pa.string()),  # init, ingest, migrate, optimize, label, ...
    pa.field("message", pa.string()),
    pa.field("schema_version", pa.int32()),
    pa.field("table_versions", pa.string()),  # JSON: every table's version at this lake version
    pa.field("counts", pa.string()),  # JSON: what the commit added
    pa.field("commit_id", pa.string()),  # the committer's id for it: a recovered commit is recorded once
])

# Data tables by name; the catalog is handled by the gateway itself.
TABLES: dict[str, pa.Schema] = {
    "tracks": TRACKS,
    "originals": ORIGINALS,
    "analysis": ANALYSIS,
    "embeddings": EMBEDDINGS,
    "genres": GENRES,
    "ingest_errors": INGEST_ERRORS,
    "stems": STEMS,
    "separations": SEPARATIONS,
    "stage_runs": STAGE_RUNS,
    "labels": LABELS,
    "splits": SPLITS,
    "fingerprints": FINGERPRINTS,
    "fingerprint_index": FINGERPRINT_INDEX,
    "duplicate_pairs": DUPLICATE_PAIRS,
    "generations": GENERATIONS,
    "generation_audio": GENERATION_AUDIO,
    "adherence": ADHERENCE,
    "votes": VOTES,
    "generation_copies": GENERATION_COPIES,
}

# Tables with a blob column: their bytes stay out of SQL and are read through the gateway.
BLOB_TABLES = ("originals", "stems", "generation_audio")
# Tables read by key only (large and of no use in SQL): kept out of SQL, like the blob tables.
LOOKUP_TABLES = ("fingerprints", "fingerprint_index")
