"""songlake: an embedded, SQL-first lakehouse that turns a music collection into a training set.

The rooms install under this namespace: ``songlake.udfs`` (analysis functions),
``songlake.schema`` (the lake gateway), ``songlake.sql`` (the views), ``songlake.jobs``
(ingest), ``songlake.server`` and ``songlake.trainer``; ``songlake.cli`` is the command line.
"""

__version__ = "0.1.0"
