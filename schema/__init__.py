"""The lake: table schemas, the gateway that opens, versions, tags and writes them, SQL over
them through DuckDB, exact vector search in memory, and migrations.

- ``Lake.open(path, create=True)``: the gateway; ``versions()``, ``tag()``, ``state()``.
- ``BatchWriter(lake)``: stream rows to fragments, ``commit()`` once for one new version.
- ``Reader``: the read gateway, DuckDB over the lake at a version, kept current;
  ``Reader.shared(lake)`` is the process's one reader of the newest version.
- ``schema.materialized.Materialized``: the same names held as native DuckDB tables (``songs``
  materialised), kept current incrementally, for a long-lived process serving many threads.
- ``connect(lake, version)``: a DuckDB connection with the public views; ``run()`` a query;
  ``sql(lake, query)`` one query on the shared reader.
- ``similar(lake, song_id, k)``: nearest songs by embedding (exact cosine, in memory: schema.vectors).
- ``lookup``: rows by key (song_id, file_sha256) through the tables' BTREE indexes.
- ``schema.stems``: stems as FLAC parts (encode, read a time range, export); ``schema.optimize``:
  compaction and cleanup of old versions.
"""

from songlake.schema.errors import LakeError, NotALake, QueryError, SchemaTooNew, UnknownVersion
from songlake.schema.lake import Lake, LakeVersion
from songlake.schema.query import connect, run, similar, sql
from songlake.schema.reader import Reader
from songlake.schema.tables import SCHEMA_VERSION, TABLES
from songlake.schema.writer import BatchWriter

__all__ = [
    "BatchWriter", "Lake", "LakeError", "LakeVersion", "NotALake", "QueryError", "Reader", "SCHEMA_VERSION",
    "SchemaTooNew", "TABLES", "UnknownVersion", "connect", "run", "similar", "sql",
]
