"""The `songlake` command: ingest, query, time travel and similarity search over a lake; serve it;
train on it and export it (the training commands live in _cli_train)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from songlake._cli_common import (commit_lock, environment_errors, err, lake_errors, lake_option, load_settings,
                                  open_lake, progress_bar, writable)
from songlake._cli_duplicates import duplicates
from songlake._cli_generations import generations
from songlake._cli_train import export, train
from songlake._output import FORMATS, console, render


class _Songlake(click.Group):
    """The command group; what the machine refuses (read-only lake, locked queue) is one line."""

    def invoke(self, ctx):
        with environment_errors():
            return super().invoke(ctx)


@click.group(cls=_Songlake, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what the lake does.")
@click.version_option(package_name="songlake")
def main(verbose: bool) -> None:
    """songlake: an embedded, SQL-first lakehouse that turns a music collection into a training set."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@lake_option
@click.option("--license", "license_", default=None, help="License of every file in this batch (overrides tags).")
@click.option("--source", default=None, help="Where this batch comes from (a label, a URL, a vendor).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: $SONGLAKE_WORKERS or the CPU count).")
@click.option("--stems/--no-stems", default=True, show_default=True, help="Separate stems with Demucs before analysing.")
def ingest(paths: tuple[Path, ...], lake_dir: Path | None, license_: str | None, source: str | None, workers: int | None,
           stems: bool) -> None:
    """Ingest audio files and folders (recursively) into the lake, through every stage.

    MP3, FLAC, WAV, OGG and M4A, recognised by content. Each file goes through the pipeline:
    ingest, stems (Demucs), analysis, genre; each finished task is a new lake version. With
    the embedded queue this command runs the workers itself; with SONGLAKE_QUEUE on Redis it
    queues the files and waits for `songlake worker` processes (or runs its own with
    --workers). With no PATH, makes a few synthesised demo songs and ingests those. FIFOs,
    devices and sockets are refused without being read. The summary accounts for every file,
    also when a worker died or another ingest took some of the files. Exit status: 0 when every
    file landed or was already there, 1 when some were refused, failed or are unaccounted for
    (or the lake cannot be written), 2 for usage errors.
    """
    from songlake.jobs import Provenance, ingest as run_ingest

    settings = load_settings()
    lake = open_lake(lake_dir, create=True, write=True)
    if not paths:
        from songlake.demo import make_demo_songs

        folder = lake.root.parent / "songlake-demo-songs"
        made = make_demo_songs(folder)
        err.print(f"No folder given: ingesting {len(made)} synthesised demo songs from {folder}")
        paths = (folder,)

    from songlake.jobs.queue import queue_url

    scaled_out = bool(queue_url())
    if scaled_out and workers is None:
        err.print(f"Queue on {queue_url()}: queuing the files for `songlake worker` processes and waiting.")
    with progress_bar() as progress:
        task = progress.add_task("ingest", total=None)
        rest = progress.add_task("stems, analysis", total=None, visible=False)

        def on_file(outcome, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)
            if outcome.status not in ("ingested", "present"):
                progress.console.print(f"[red]{outcome.status}[/red] {outcome.path}: {outcome.detail}")

        def on_wait(left: int) -> None:
            if progress.tasks[task].finished and left:
                progress.update(rest, visible=True, description=f"stems, analysis: {left} left")

        report = run_ingest(lake, paths, Provenance(license_, source), workers or settings.workers, on_file,
                            separate=stems, run_workers=not scaled_out or workers is not None, on_wait=on_wait)

    _summarise(report, lake)
    sys.exit(0 if all(o.status in ("ingested", "present") for o in report.outcomes) else 1)


def _summarise(report, lake) -> None:
    """One line that accounts for every file, then each file that did not land, with why."""
    ingested, present, refused = report.of("ingested"), report.of("present"), report.of("refused")
    troubled = report.of("failed") + report.of("unaccounted")
    speed = f", {report.audio_seconds / report.seconds:.1f}x real time" if ingested and report.seconds else ""
    version = f"lake version {report.version}" if report.version else f"no new version (lake stays at {lake.version()})"
    more = "".join(f", {len(report.of(s))} {s}" for s in ("failed", "unaccounted") if report.of(s))
    err.print(
        f"[bold]{len(ingested)} ingested[/bold] ({report.audio_seconds / 60:.1f} min of audio in {report.seconds:.1f} s{speed}), "
        f"{len(present)} already present, {len(refused)} refused{more}; {version}."
    )
    for outcome in refused + troubled:
        err.print(f"  [red]{outcome.status}[/red] {Path(outcome.path).name}: {outcome.detail}")
    if report.passed_over:
        names = ", ".join(Path(p).name for p in report.passed_over[:5])
        more = f" and {len(report.passed_over) - 5} more" if len(report.passed_over) > 5 else ""
        err.print(f"  passed over {len(report.passed_over)} file(s) not named as audio: {names}{more}")


@main.command()
@click.argument("query")
@lake_option
@click.option("--version", "version", default=None, help="Query the lake as it was at this version number or tag.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--max-rows", type=click.IntRange(min=0), default=None, help="Print at most this many rows (0: all; default $SONGLAKE_MAX_ROWS).")
def sql(query: str, lake_dir: Path | None, version: str | None, fmt: str, max_rows: int | None) -> None:
    """Run SQL over the lake's views (songs, ingest_errors, lake_versions) with DuckDB."""
    from songlake.schema import connect, run

    lake = open_lake(lake_dir)
    limit = load_settings().max_rows if max_rows is None else max_rows
    with lake_errors():
        table = run(connect(lake, version), query, max_rows=(limit + 1) if limit else None)
    truncated = bool(limit) and table.num_rows > limit
    render(table.slice(0, limit) if truncated else table, fmt, console(), truncated)


@main.command()
@lake_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many versions to show.")
@click.option("--before", type=click.IntRange(min=1), default=None,
              help="Show the versions older than this one (the next page back).")
def versions(lake_dir: Path | None, limit: int, before: int | None) -> None:
    """The lake's history, newest first: what made each version, and its tags.

    Shows the newest --limit versions; --before VERSION pages back from there. Each page reads
    only its own versions, however long the history."""
    from rich.table import Table

    lake = open_lake(lake_dir)
    with lake_errors():
        page = lake.history(limit, before)
    out = Table(header_style="bold")
    for name in ("version", "committed at (UTC)", "kind", "message", "tags"):
        out.add_column(name)
    for entry in page:
        out.add_row(str(entry.version), entry.committed_at.strftime("%Y-%m-%d %H:%M:%S"), entry.kind, entry.message,
                    ", ".join(entry.tags))
    console().print(out)
    if not page:
        err.print(f"no versions before {before}" if before else "no versions")
    elif page[-1].version > 1:
        err.print(f"older versions: songlake versions --before {page[-1].version}")


@main.command()
@click.argument("name")
@lake_option
@click.option("--version", "version", default=None, help="The version to tag (default: the latest).")
def tag(name: str, lake_dir: Path | None, version: str | None) -> None:
    """Name a lake version, e.g. the one a model was trained on."""
    lake = open_lake(lake_dir, write=True)
    with lake_errors(), commit_lock(lake):
        number = lake.tag(name, version)
    err.print(f"tagged version {number} as '{name}'")


@main.command()
@click.argument("song_id")
@lake_option
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="How many songs.")
@click.option("--version", "version", default=None, help="Search the lake as it was at this version or tag.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def similar(song_id: str, lake_dir: Path | None, k: int, version: str | None, fmt: str) -> None:
    """The songs most similar to SONG_ID, by embedding (cosine similarity)."""
    import pyarrow as pa

    from songlake.schema import Reader

    lake = open_lake(lake_dir)
    with lake_errors():
        reader = Reader.shared(lake) if version is None else Reader(lake, version)  # one reader for both
        hits = reader.similar(song_id.strip(), k)
        reader.con.register("hits", pa.table({"song_id": [h[0] for h in hits], "similarity": [h[1] for h in hits],
                                              "rank": list(range(1, len(hits) + 1))}))
        try:
            table = reader.run("SELECT h.rank, h.song_id, h.similarity, s.title, s.artist, s.bpm, s.key "
                               "FROM hits h JOIN songs s USING (song_id) ORDER BY h.rank")
        finally:
            reader.con.unregister("hits")
    render(table, fmt, console())


@main.command()
@click.argument("song_id")
@lake_option
@click.option("--version", "version", default=None, help="Show the song as it was at this lake version or tag.")
def show(song_id: str, lake_dir: Path | None, version: str | None) -> None:
    """One song as a nested JSON document: basic_info, quality, audio_stems, music_theory, structure."""
    import json

    from songlake._output import plain
    from songlake.schema.document import song_document

    lake = open_lake(lake_dir)
    with lake_errors():
        document = song_document(lake, song_id.strip(), version)
    console().file.write(json.dumps(plain(document), indent=2) + "\n")


@main.command()
@lake_option
@click.option("--all", "everything", is_flag=True, help="Analyse every song, not only those analysed by an older songlake.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: $SONGLAKE_WORKERS or the CPU count).")
def analyze(lake_dir: Path | None, everything: bool, workers: int | None) -> None:
    """Analyse songs again from their original files (and stems), through the queue.

    By default only songs whose analysis is older than this songlake's analysis version."""
    from songlake.jobs import reanalyze_lake

    lake = open_lake(lake_dir, write=True)
    with progress_bar() as progress:
        task = progress.add_task("analyze", total=None)
        songs, version, failures = reanalyze_lake(
            lake, everything, workers or load_settings().workers, lambda done, total: progress.update(task, completed=done, total=total))
    for failure in failures:
        err.print(f"  [red]failed[/red] {failure}")
    where = f"lake version {version}" if version else f"no new version (lake stays at {lake.version()})"
    err.print(f"[bold]{songs} songs analysed[/bold], {len(failures)} failed; {where}.")
    sys.exit(1 if failures else 0)


def _queue(lake):
    """The lake's queue. The embedded one is SQLite in the lake folder, which even reading needs
    to write: on a lake this process cannot write, that is said in one line."""
    from songlake.jobs.queue import Queue, queue_url

    if not queue_url():
        queue_dir = lake.root / "queue"
        writable(lake, queue_dir if queue_dir.exists() else lake.root,
                 "reads its queue, SQLite files that must be writable (`songlake sql \"select * from stage_status\"` "
                 "reads what each stage did)")
    try:
        return Queue.open(lake.root)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _stage_list(value: str) -> tuple[str, ...]:
    from songlake.jobs.queue import STAGES

    stages = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise click.BadParameter(f"stages are {', '.join(STAGES)}; got {value!r}")
    return stages


@main.command()
@lake_option
@click.option("--stages", default="ingest,duplicates,separate,analyze,embed,genre", show_default=True,
              help="The stages this machine takes, comma-separated (e.g. separate on GPU machines).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: $SONGLAKE_WORKERS or the CPU count).")
@click.option("--until-idle", is_flag=True, help="Stop when no stage has work left (default: run until interrupted).")
def worker(lake_dir: Path | None, stages: str, workers: int | None, until_idle: bool) -> None:
    """Take tasks from the queue: run this on every machine of a scaled-out lake.

    The queue is SONGLAKE_QUEUE (redis://host:port/db) or, by default, the SQLite queue in the
    lake folder. Work that workers killed earlier left behind is queued again first."""
    import signal
    import time

    from songlake.jobs.worker import Pool, resume

    lake = open_lake(lake_dir, write=True)
    queue = _queue(lake)
    chosen = _stage_list(stages)
    report = resume(queue)
    if report.released or report.orphans:
        err.print(f"resumed: {_resumed(report)}")
    pool = Pool(queue, chosen, workers or load_settings().workers, until_idle=until_idle).start()
    err.print(f"{pool.size} worker(s) on {queue.where} taking {', '.join(chosen)}; Ctrl-C stops them after their task.")
    signal.signal(signal.SIGTERM, lambda *_: pool.stop.set())
    try:
        while pool.alive() and not pool.stop.is_set():
            pool.restart_dead()
            time.sleep(0.5)
    except KeyboardInterrupt:
        err.print("stopping: the workers finish their current task")
    finally:
        pool.shutdown(timeout=600)


def _resumed(report) -> str:
    parts = [f"{n} {stage} task(s) of dead workers" for stage, n in report.released.items()]
    parts += [f"{n} song(s) unfinished for {stage}" for stage, n in report.orphans.items()]
    return ", ".join(parts) or "nothing to do"


@main.command()
@lake_option
def resume(lake_dir: Path | None) -> None:
    """Queue again the work of workers that died, and songs left unfinished."""
    from songlake.jobs.worker import resume as run_resume

    lake = open_lake(lake_dir, write=True)
    report = run_resume(_queue(lake))
    dead = f" (dead workers: {', '.join(report.dead_workers)})" if report.dead_workers else ""
    err.print(f"resumed: {_resumed(report)}{dead}")


@main.command()
@lake_option
def status(lake_dir: Path | None) -> None:
    """Queued, running, done and failed work per stage, with the reasons for failures."""
    from rich.table import Table

    from songlake.jobs.worker import status as pipeline_status

    lake = open_lake(lake_dir)
    queue = _queue(lake)
    stages, workers = pipeline_status(queue)
    out = Table(header_style="bold", title=f"queue: {queue.where}")
    for name in ("stage", "queued", "running", "lost", "retrying", "done", "failed", "unavailable"):
        out.add_column(name, justify="left" if name == "stage" else "right")
    for row in stages:
        out.add_row(row.stage, *(str(getattr(row, c)) for c in ("queued", "running", "lost", "retrying", "done", "failed", "unavailable")))
    console().print(out)
    for row in stages:
        for reason, n in row.reasons:
            console().print(f"  {row.stage}: {n} x {reason}")
    alive = [w for w in workers if w.alive()]
    console().print(f"workers alive: {len(alive)}" + "".join(f"\n  {w.worker} ({', '.join(w.stages)})" for w in alive))
    if any(row.lost for row in stages):
        console().print("some work is held by dead workers: run `songlake resume`")


@main.command()
@lake_option
@click.option("--missing", is_flag=True, help="Only songs without stems (never separated, weights were unavailable, or failed).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: $SONGLAKE_WORKERS or the CPU count).")
def separate(lake_dir: Path | None, missing: bool, workers: int | None) -> None:
    """Separate stems with Demucs (then analyse again with them), e.g. once weights are installed."""
    from songlake.jobs.batch import run_stage_batch
    from songlake.schema import connect

    lake = open_lake(lake_dir, write=True)
    where = "WHERE stems_status <> 'done'" if missing else ""
    wanted = [r[0] for r in connect(lake).execute(f"SELECT song_id FROM songs {where}").fetchall()]
    if not wanted:
        err.print("every song has stems")
        return
    with progress_bar() as progress:
        task = progress.add_task("separate", total=len(wanted))
        outcomes = run_stage_batch(lake, "separate", wanted, workers or load_settings().workers,
                                   lambda done, total: progress.update(task, completed=done, total=total), force=not missing)
    counts = {s: sum(o["status"] == s for o in outcomes) for s in ("done", "unavailable", "failed")}
    err.print(f"[bold]{counts['done']} separated[/bold], {counts['unavailable']} unavailable, {counts['failed']} failed")
    for o in outcomes:
        if o["status"] in ("unavailable", "failed"):
            err.print(f"  [red]{o['status']}[/red] {o['key']}: {o['detail']}")
            break
    sys.exit(0 if counts["done"] == len(outcomes) - sum(o["status"] == "skipped" for o in outcomes) else 1)


@main.command()
@click.argument("song_id")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write the stems to.")
@lake_option
@click.option("--codec", type=click.Choice(["flac", "wav"]), default="flac", show_default=True)
@click.option("--version", "version", default=None, help="The stems as they were at this lake version or tag.")
def stems(song_id: str, out_dir: Path, lake_dir: Path | None, codec: str, version: str | None) -> None:
    """Write a song's four stems (vocals, drums, bass, other) as audio files."""
    from songlake.schema.stems import export_stems

    lake = open_lake(lake_dir)
    with lake_errors():
        written = export_stems(lake, song_id.strip(), out_dir, codec=codec, version=version)
    for path in written:
        console().print(str(path))


@main.command()
@lake_option
@click.option("--keep-days", type=click.FloatRange(min=0), default=7.0, show_default=True,
              help="Keep versions younger than this many days (tagged versions are always kept).")
@click.option("--no-cleanup", is_flag=True, help="Compact only; remove no old versions.")
def optimize(lake_dir: Path | None, keep_days: float, no_cleanup: bool) -> None:
    """Compact the tables' fragments, drop superseded genre rows, and remove old untagged versions."""
    from datetime import timedelta

    from songlake.schema.optimize import optimize as run_optimize

    lake = open_lake(lake_dir, write=True)
    with lake_errors():
        report = run_optimize(lake, older_than=timedelta(days=keep_days), cleanup=not no_cleanup)
    for table, (before, after) in sorted(report.compacted.items()):
        if before != after:
            err.print(f"  {table}: {before} -> {after} fragments")
    removed = sum(report.removed_versions.values())
    err.print(f"[bold]optimized[/bold]: {report.genres_dropped} superseded genre rows dropped, {removed} old table "
              f"versions removed ({report.bytes_removed / 1e6:.1f} MB); lake version {report.version or lake.version()}.")


@main.command()
@lake_option
@click.option("--host", default=None, help="Address to listen on (default: $SONGLAKE_HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: $SONGLAKE_PORT or 8470).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Pipeline worker processes inside the server for uploads (default: 1 on the embedded queue, "
                   "0 when SONGLAKE_QUEUE points at Redis and `songlake worker` runs elsewhere).")
@click.option("--reads", type=click.Choice(["open", "token"]), default=None,
              help="Whether reads need a token too (default: $SONGLAKE_READS or open). Writes always do.")
def serve(lake_dir: Path | None, host: str | None, port: int | None, workers: int | None, reads: str | None) -> None:
    """Serve the lake over HTTP: the JSON API (OpenAPI at /schema) and the web UI at /ui."""
    import uvicorn

    from songlake.jobs.queue import queue_url
    from songlake.server import ServerSettings, create_app

    try:
        settings = ServerSettings.from_env(host=host, port=port, reads=reads)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    lake = open_lake(lake_dir, create=True, write=True)  # uploads, labels and tokens write to it
    if workers is None:
        workers = 0 if queue_url() else 1
    app = create_app(lake, settings=settings, workers=workers)
    where = f"http://{settings.host}:{settings.port}"
    err.print(f"serving {lake.root} at {where}/ui (API schema at {where}/schema); "
              f"{workers} pipeline worker(s); reads {settings.reads}, writes need a token")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                limit_concurrency=settings.max_connections, timeout_keep_alive=5)


@main.group()
def token() -> None:
    """API tokens for the server: writes (uploads, labels) need one."""


@token.command("create")
@click.argument("name")
@lake_option
def token_create(name: str, lake_dir: Path | None) -> None:
    """Make a token named NAME (who labels are credited to) and print it once."""
    from songlake.server.auth import TokenStore
    from songlake.server.errors import ServerError

    lake = open_lake(lake_dir, create=True)
    writable(lake, lake.root / "server")
    try:
        secret = TokenStore(lake.root).create(name)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from None
    err.print(f"token '{name}' created; it is shown only now. Send it as 'Authorization: Bearer <token>'.")
    click.echo(secret)


@token.command("list")
@lake_option
def token_list(lake_dir: Path | None) -> None:
    """The tokens: name, when made, whether revoked (the secrets are not kept)."""
    from songlake.server.auth import TokenStore

    for info in TokenStore(open_lake(lake_dir).root).list():
        click.echo(f"{info.name}\t{info.created_at}\t{'revoked' if info.revoked else 'active'}")


@token.command("revoke")
@click.argument("name")
@lake_option
def token_revoke(name: str, lake_dir: Path | None) -> None:
    """Revoke the token named NAME."""
    from songlake.server.auth import TokenStore

    if not TokenStore(open_lake(lake_dir).root).revoke(name):
        raise click.ClickException(f"no active token named {name!r}")
    err.print(f"token '{name}' revoked")


main.add_command(train)
main.add_command(export)
main.add_command(duplicates)
main.add_command(generations)

if __name__ == "__main__":
    main()
