"""The curation server: a Litestar app over one lake, for programs (a JSON API with its OpenAPI
schema at /schema) and for people (a web UI at /ui).

- ``create_app(lake, settings=..., workers=N)``: the app (app.py); ``songlake serve`` runs it.
- API: uploads and their jobs, songs with filters and paging, the song document, audio and stems
  with Range support, similarity search, sandboxed read-only SQL, human labels, the collection
  report (api.py). Writes need a token (auth.py).
- ``Snapshot``: what every read goes through (snapshot.py): the read gateway's materialised
  copy of the lake (schema.materialized) with file paths redacted on their way in
  (redact.py), untrusted SQL (sandbox.py), similarity (similarity.py), the report once per
  version (report_cache.py) and result encoding (encoding.py); ``media``: audio, stems and
  waveforms (media.py); a clip for similarity search, decoded as a stream (clip.py).
- Every request is bounded (settings.py lists the limits): bytes in, audio decoded, time, bytes
  out, and how many expensive requests run at once (limits.py: gates, and two lanes for SQL).
"""

from songlake.server.app import create_app
from songlake.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
