"""The app factory: one Litestar app over one lake.

Long-lived pieces are opened once, in the lifespan, and handed to handlers by dependency
injection: the lake gateway, the snapshot (a DuckDB copy of the lake kept current in the
background), the job queue, the token and job stores, the watcher that settles upload jobs and
sweeps orphaned uploads (at start, then on a schedule), the gates that bound how many expensive
requests run at once, and, when asked for (``workers``), worker processes that run the pipeline
for uploads. Every error becomes a JSON answer in one place, without paths or tracebacks.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from litestar import Litestar, Request, Response
from litestar.di import Provide
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.template.config import TemplateConfig
from litestar.plugins.jinja import JinjaTemplateEngine

from songlake.jobs.queue import Queue
from songlake.schema import Lake, LakeError
from songlake.server import ab, api, deps, duplicates, generations
from songlake.server.auth import TokenStore
from songlake.server import redact
from songlake.server.errors import Busy, ServerError
from songlake.server.limits import Gates
from songlake.server.settings import ServerSettings
from songlake.server.snapshot import Snapshot
from songlake.server.uploads import JobStore, JobWatcher

log = logging.getLogger(__name__)


def create_app(lake: str | Path | Lake, *, settings: ServerSettings | None = None, workers: int = 0) -> Litestar:
    """The server over the lake at `lake` (made when absent). ``workers`` > 0 runs that many
    pipeline worker processes inside the server (the embedded default); 0 leaves the queue to
    `songlake worker` processes elsewhere."""
    from songlake.server import ui

    settings = settings or ServerSettings.from_env()
    root = lake.root if isinstance(lake, Lake) else Path(lake)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        opened = Lake.open(root, create=True)
        queue = Queue.open(opened.root)
        snapshot = Snapshot(opened, threads=settings.sql_threads)
        snapshot.refresh()
        snapshot.start(settings.snapshot_interval)
        jobs = JobStore(opened.root)
        scratch = {opened.root / "uploads": settings.upload_timeout + 60,  # older than any upload still arriving
                   opened.root / "server" / "clips": settings.clip_timeout + 60}
        watcher = JobWatcher(jobs, queue, scratch=scratch, sweep_every=settings.upload_sweep)
        watcher.sweep(at_start=True)
        watcher.start()
        pool = _start_workers(queue, workers)
        gates = Gates(settings)
        app.state.update(lake=opened, queue=queue, snapshot=snapshot, jobs=jobs,
                         tokens=TokenStore(opened.root), settings=settings, gates=gates)
        try:
            yield
        finally:
            gates.close()
            watcher.stop()
            snapshot.stop()
            if pool is not None:
                pool.shutdown(timeout=60)

    def provide(name: str) -> Provide:
        def dependency(state: State) -> Any:
            return state[name]

        return Provide(dependency, sync_to_thread=False)

    return Litestar(
        route_handlers=[api.SongsController, api.JobsController, api.SearchController, api.SqlController,
                        api.ReportController, api.LakeController, ab.ABController, duplicates.DuplicatesController,
                        generations.GenerationsController, ui.UIController, ui.static_router()],
        dependencies={name: provide(name) for name in deps.NAMES},
        lifespan=[lifespan],
        state=State({"settings": settings}),
        exception_handlers={Exception: _error_response},
        template_config=TemplateConfig(directory=ui.TEMPLATE_DIR, engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(title="songlake", version="1", path="/schema",
                                     description="SQL, similarity search, uploads and curation over a songlake lake."),
        request_max_body_size=settings.json_max_kb * 1024,  # JSON bodies; uploads stream to disk with their own limits
        debug=False,
    )


def _start_workers(queue: Queue, workers: int):
    """Worker processes for the embedded default, restarted when one dies (a watchdog thread)."""
    if workers <= 0:
        return None
    import threading

    from songlake.jobs.queue import STAGES
    from songlake.jobs.worker import Pool, resume

    resume(queue)
    pool = Pool(queue, STAGES, workers).start()

    def watch() -> None:
        while not pool.stop.wait(1.0):
            try:
                pool.restart_dead()
            except Exception:
                log.exception("restarting a dead worker failed")

    threading.Thread(target=watch, name="songlake-pool", daemon=True).start()
    return pool


def _error_response(request: Request, exc: Exception) -> Response:
    """Every error as {"error": message, "status": code}, in the caller's terms."""
    if isinstance(exc, ServerError):
        status, message = exc.status_code, str(exc)
    elif isinstance(exc, HTTPException):  # Litestar's own: validation, not found, method not allowed
        status, message = exc.status_code, exc.detail
        extra = getattr(exc, "extra", None)
        if status == 400 and extra:
            message = f"{message}: " + "; ".join(f"{e.get('key')}: {e.get('message')}" for e in extra
                                                  if isinstance(e, dict))
    elif isinstance(exc, LakeError):
        status, message = 400, str(exc)
    else:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        status, message = 500, "internal error: the server logged the details"
    headers = {"Content-Range": f"bytes */{exc.size}"} if hasattr(exc, "size") and status == 416 else None
    if isinstance(exc, Busy):
        headers = {"Retry-After": str(exc.retry_after)}
    return Response({"error": _scrub(str(message), request), "status": status}, status_code=status, headers=headers)


def _scrub(message: str, request: Request) -> str:
    """Never show where the lake, or any other folder, is on the server's disk."""
    try:
        message = message.replace(str(request.app.state.lake.root), "<lake>")
    except (AttributeError, KeyError):
        pass
    return redact.text(message)
