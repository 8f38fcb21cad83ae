"""The curation server: a Litestar app over one lake, for programs (a JSON API with its OpenAPI
schema at /schema) and for people (a web UI at /ui).

- ``create_app(lake, settings=..., workers=N)``: the app (app.py); ``songlake serve`` runs it.
- API: uploads and their jobs, songs with filters and paging, the song document, audio and stems
  with Range support, similarity search, sandboxed read-only SQL, human labels, the collection
  report (api.py). Writes need a token (auth.py).
- ``Snapshot``: what every read goes through (snapshot.py): the read gateway's materialised
  copy of the lake (schema.materialized), untrusted SQL (sandbox.py), similarity
  (similarity.py), the report once per version (report_cache.py) and result encoding
  (encoding.py); ``media``: audio, stems and waveforms (media.py).
"""

from songlake.server.app import create_app
from songlake.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
