"""The web UI: server-rendered pages (Jinja) over the snapshot, with a little vanilla JavaScript.

Pages, all under /ui (and / redirects to /ui):

- ``/ui``: the library, a sortable and filterable table of songs, paged, with a SQL box whose
  results replace the table (app.js posts to /sql).
- ``/ui/songs/{song_id}``: waveform with beat grid, chord and section timelines, the original and
  the four stems in sync (solo, mute), theory, quality, genre, similar songs, a label form.
- ``/ui/dashboard``: the collection report as inline SVG charts, and its estimates as a table.
- ``/ui/annotate``: the annotation queue with inline fix forms.
- ``/ui/upload``: file upload with progress, then each file's job followed until it is done.
- ``/ui/ab``: A/B listening: two clips for one prompt, blind, loudness-matched, on one clock;
  the rater picks A, B, tie or both bad (server/ab.py serves the pairs and takes the votes).
- ``/ui/duplicates``: the duplicate pairs (kind, score, offset, shared seconds, the preferred copy
  and why), and ``/ui/duplicates/{song_a}/{song_b}``: both copies on one clock, aligned by the
  offset, with keep / drop / make preferred for each (labels, written through the JSON API).
- ``/ui/login``: takes an API token and keeps it in an HttpOnly, SameSite=Strict cookie, which
  the API accepts like a Bearer token, so the pages' writes (labels, uploads) work.

The pages read the lake through the snapshot (the same one the JSON API uses) and write only
through the JSON API, from the browser, so there is one place for every write and its checks.
Static files (app.js, app.css) are served from /static; nothing comes from a CDN.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.router import Router
from litestar.static_files import create_static_files_router

from songlake.schema import Lake
from songlake.server import _ui_charts as charts, duplicates as dupes, redact
from songlake.server._ui_estimates import estimates_table
from songlake.server._ui_library import COLUMNS, MAX_PAGE, PAGE_SIZE, STEMS_STATUSES, LibraryFilter, display_row
from songlake.server._ui_song import KEYS, song_context
from songlake.server.auth import COOKIE, caller, require_reader
from songlake.server.errors import NotFound, ServerError, Unauthorized
from songlake.server.settings import ServerSettings
from songlake.server.snapshot import Snapshot

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
SIMILAR_K = 8
QUEUE_PAGE = 50
COOKIE_DAYS = 30


def static_router() -> Router:
    """app.js, app.css and anything else under server/static, at /static."""
    return create_static_files_router(path="/static", directories=[STATIC_DIR], name="static")


@dataclass
class LoginForm:
    token: str = ""
    next: str = "/ui"


class UIController(Controller):
    """The HTML pages. Reads need what the API's reads need (a token when SONGLAKE_READS=token);
    a page refused for want of a token sends the browser to the login page instead of JSON."""

    path = "/"
    include_in_schema = False
    # Errors on these routes answer as pages (or a redirect to the login), not as JSON.
    exception_handlers = {ServerError: lambda request, exc: _error_page(request, exc)}

    @get("/", sync_to_thread=False)
    def root(self) -> Redirect:
        return Redirect("/ui")

    @get("/ui", guards=[require_reader], sync_to_thread=True)
    def library(self, request: Request, snapshot: NamedDependency[Snapshot], q: FromQuery[str] = "",
                genre: FromQuery[str] = "", key: FromQuery[str] = "", bpm_min: FromQuery[float | None] = None,
                bpm_max: FromQuery[float | None] = None, stems: FromQuery[str] = "", sort: FromQuery[str] = "title",
                order: FromQuery[str] = "asc", page: FromQuery[int] = 1) -> Template:
        view = LibraryFilter(q=q, genre=genre, key=key, bpm_min=bpm_min, bpm_max=bpm_max, stems=stems,
                             sort=sort, order=order, page=page)
        version = snapshot.version
        sql, params = view.count_query()
        total = snapshot.read(sql, params).column(0)[0].as_py()
        sql, params = view.page_query()
        rows = [display_row(r) for r in snapshot.read(sql, params).to_pylist()]
        pages = max(1, -(-total // PAGE_SIZE))
        return _page(request, "library.html", "library", version,
                     view=view, rows=rows, total=total, pages=pages, columns=COLUMNS,
                     genres=_distinct(snapshot, "primary_genre"), keys=_distinct(snapshot, "key"),
                     stems_statuses=STEMS_STATUSES,
                     prev_url=view.url(page=view.page - 1) if view.page > 1 else None,
                     next_url=view.url(page=view.page + 1) if view.page < pages else None)

    @get("/ui/songs/{song_id:str}", guards=[require_reader], sync_to_thread=True)
    def song(self, request: Request, song_id: FromPath[str], snapshot: NamedDependency[Snapshot]) -> Template:
        version = snapshot.version
        rows = snapshot.read("SELECT * EXCLUDE (embedding) FROM songs WHERE song_id = $1", [song_id]).to_pylist()
        if not rows:
            raise NotFound(f"no song {song_id} at lake version {version}")
        separation = snapshot.read(
            "SELECT model, device, message FROM lake_separations WHERE song_id = $1 "
            "ORDER BY separated_at DESC LIMIT 1", [song_id]).to_pylist()
        similar, similar_error = _similar(snapshot, song_id)
        context = song_context(rows[0], separation[0] if separation else None, _genre_choices(snapshot))
        return _page(request, "song.html", "library", version, similar=similar, similar_error=similar_error,
                     **context)

    @get("/ui/dashboard", guards=[require_reader], sync_to_thread=True)
    def dashboard(self, request: Request, snapshot: NamedDependency[Snapshot], lake: NamedDependency[Lake]) -> Template:
        version = snapshot.version
        report = _report(snapshot, lake, version)
        quality = report.get("quality") or {}
        training = report.get("training") or {}
        following = training.get("next") or {}
        return _page(request, "dashboard.html", "dashboard", version, report=report,
                     audio_hours=f"{float(report.get('audio_hours') or 0):.2f}",
                     genre_chart=charts.balance_chart(report.get("genre_balance") or [], "genre"),
                     era_chart=charts.balance_chart(report.get("era_balance") or [], "era"),
                     era_unknown=report.get("era_unknown_year"),
                     quality_chart=charts.checks_chart(quality.get("checks") or []),
                     quality_share=f"{100 * float(quality.get('share') or 0):.1f}",
                     training=training, next_step=following,
                     training_progress=_progress(training.get("songs", report.get("songs")), following),
                     estimates=estimates_table(report),
                     labels=charts.readable(report.get("labels") or {}, "labels"))

    @get("/ui/annotate", guards=[require_reader], sync_to_thread=True)
    def annotate(self, request: Request, snapshot: NamedDependency[Snapshot], page: FromQuery[int] = 1) -> Template:
        version = snapshot.version
        page = min(max(1, page), MAX_PAGE)
        total = snapshot.read("SELECT count(*) FROM annotation_queue").column(0)[0].as_py()
        rows = snapshot.read(
            "SELECT s.song_id, s.title, s.artist, s.filename, s.year, s.license, s.primary_genre, "
            "s.genre_confidence, s.key, s.key_confidence, q.reasons "
            "FROM annotation_queue q JOIN songs s USING (song_id) "
            f"ORDER BY len(q.reasons) DESC, s.song_id LIMIT {QUEUE_PAGE} OFFSET {(page - 1) * QUEUE_PAGE}").to_pylist()
        pages = max(1, -(-total // QUEUE_PAGE))
        return _page(request, "annotate.html", "annotate", version, rows=rows, total=total, page=page, pages=pages,
                     genres=_genre_choices(snapshot), keys=KEYS)

    @get("/ui/upload", guards=[require_reader], sync_to_thread=False)
    def upload(self, request: Request, snapshot: NamedDependency[Snapshot],
               settings: NamedDependency[ServerSettings]) -> Template:
        return _page(request, "upload.html", "upload", snapshot.version, max_mb=settings.upload_max_mb)

    @get("/ui/ab", guards=[require_reader], sync_to_thread=False)
    def ab(self, request: Request, snapshot: NamedDependency[Snapshot]) -> Template:
        """A/B listening (server/ab.py): the page asks /ab/next for pairs and posts votes."""
        return _page(request, "ab.html", "ab", snapshot.version)

    @get("/ui/duplicates", guards=[require_reader], sync_to_thread=True)
    def duplicates(self, request: Request, snapshot: NamedDependency[Snapshot],
                   order: FromQuery[str] = "least_reviewed", page: FromQuery[int] = 1) -> Template:
        """The duplicate pairs to review (server/duplicates.py), paged."""
        snapshot.refresh()
        order = order if order in dupes.ORDERS else "least_reviewed"
        page = max(1, page)
        pairs, total = dupes.list_pairs(snapshot, order, page)
        return _page(request, "duplicates.html", "duplicates", snapshot.version, pairs=pairs, total=total,
                     order=order, page=page, pages=max(1, -(-total // dupes.PAGE_SIZE)))

    @get("/ui/duplicates/{song_a:str}/{song_b:str}", guards=[require_reader], sync_to_thread=True)
    def duplicate_pair(self, request: Request, song_a: FromPath[str], song_b: FromPath[str],
                       snapshot: NamedDependency[Snapshot]) -> Template:
        """One pair: both copies on one clock, aligned by the offset, and the choice buttons."""
        snapshot.refresh()
        return _page(request, "duplicate_pair.html", "duplicates", snapshot.version,
                     pair=dupes.one_pair(snapshot, song_a, song_b))

    @get("/ui/login", sync_to_thread=False)
    def login_form(self, request: Request, snapshot: NamedDependency[Snapshot], next: FromQuery[str] = "/ui") -> Template:
        return _page(request, "login.html", "login", snapshot.version, next=_local(next), error=None)

    @post("/ui/login", sync_to_thread=False)
    def login(self, request: Request, snapshot: NamedDependency[Snapshot], data: URLEncodedBody[LoginForm]) -> Response:
        token = data.token.strip()
        name = request.app.state.tokens.verify(token)
        if name is None:
            return _page(request, "login.html", "login", snapshot.version, next=_local(data.next),
                         error="That token is not valid (unknown or revoked).", status_code=401)
        cookie = Cookie(key=COOKIE, value=token, httponly=True, samesite="strict", path="/",
                        max_age=COOKIE_DAYS * 86400, secure=request.url.scheme == "https")
        return Redirect(_local(data.next), status_code=303, cookies=[cookie])

    @post("/ui/logout", sync_to_thread=False)
    def logout(self) -> Response:
        return Redirect("/ui", status_code=303, cookies=[Cookie(key=COOKIE, value="", path="/", max_age=0,
                                                                 httponly=True, samesite="strict")])


# --- helpers ---------------------------------------------------------------------------------

def _page(request: Request, template: str, section: str, version: int, status_code: int = 200, **context: Any) -> Template:
    """A page with what every page shows: the navigation, who is signed in, the lake version."""
    return Template(template, status_code=status_code,
                    context={"section": section, "user": _user(request), "version": version,
                             "path": request.url.path, **context})


def _user(request: Request) -> str | None:
    try:
        return caller(request)
    except AttributeError:  # an app without a token store in its state (no lifespan ran)
        return None


def _error_page(request: Request, exc: ServerError) -> Response:
    """Errors on the pages as HTML: a missing token goes to the login page, others get a page
    that says what was wrong (the message never holds a path: ServerError messages don't)."""
    if isinstance(exc, Unauthorized) and request.method == "GET":
        return Redirect(f"/ui/login?next={quote(request.url.path + ('?' + request.url.query if request.url.query else ''))}")
    return Template("error.html", status_code=exc.status_code,
                    context={"section": "", "user": None, "version": None, "path": request.url.path,
                             "status": exc.status_code, "message": redact.text(str(exc))})


def _local(target: str) -> str:
    """Only same-site paths as redirect targets (no //host, no scheme)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/ui"


# Small per-version caches: the filter choices change only with the lake version.
_cache_lock = threading.Lock()
_choices: dict[tuple[int, int, str], list[str]] = {}


def _cached(store: dict, key, compute):
    with _cache_lock:
        if key in store:
            return store[key]
    value = compute()
    with _cache_lock:
        if len(store) > 64:
            store.clear()
        store[key] = value
    return value


def _distinct(snapshot: Snapshot, column: str) -> list[str]:
    """The values a filter can choose from (column from a fixed list, never from a request)."""
    return _cached(_choices, (id(snapshot), snapshot.version, column), lambda: [
        v for v in snapshot.read(f"SELECT DISTINCT {column} AS v FROM songs WHERE {column} IS NOT NULL ORDER BY 1")
        .column(0).to_pylist()])


def _genre_choices(snapshot: Snapshot) -> list[str]:
    """The genre taxonomy, as the genre model predicts it: every prediction lists every genre."""
    def compute() -> list[str]:
        found = snapshot.read("SELECT predicted_genres FROM songs WHERE len(predicted_genres) > 0 LIMIT 1").to_pylist()
        names = {g["genre"] for g in found[0]["predicted_genres"]} if found else set()
        return sorted(names | set(_distinct(snapshot, "primary_genre")))
    return _cached(_choices, (id(snapshot), snapshot.version, "genre taxonomy"), compute)


def _similar(snapshot: Snapshot, song_id: str) -> tuple[list[dict], str | None]:
    """The nearest songs with their file names (for songs without a title), or why there are none."""
    try:
        found = snapshot.similar(song_id, SIMILAR_K)
    except ServerError as exc:
        return [], str(exc)
    rows = snapshot.read("SELECT song_id, filename FROM songs WHERE list_contains($1, song_id)",
                         [[s["song_id"] for s in found]]).to_pylist()
    names = {r["song_id"]: r["filename"] for r in rows}
    return [{**s, "filename": names.get(s["song_id"])} for s in found], None


def _report(snapshot: Snapshot, lake: Lake, version: int) -> dict:
    """The collection report at the snapshot's version (the snapshot computes it once per version)."""
    return snapshot.report()


def _progress(songs, following: dict) -> float | None:
    """How far the collection is towards the next training approach, 0..100."""
    needed = following.get("songs_needed")
    if songs is None or needed is None:
        return None
    goal = int(songs) + int(needed)
    return round(100 * int(songs) / goal, 1) if goal else 100.0
