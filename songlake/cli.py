"""The `songlake` command: ingest, query, time travel and similarity search over a lake."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn

from songlake._output import FORMATS, console, render
from songlake.settings import Settings

err = Console(stderr=True, highlight=False)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def lake_option(command):
    return click.option(
        "--lake", "lake_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="The lake folder (default: $SONGLAKE_LAKE or ./songlake-data).",
    )(command)


def _open(lake_dir: Path | None, create: bool = False):
    from songlake.schema import Lake

    with _lake_errors():
        return Lake.open(lake_dir or _settings().lake, create=create)


class _SongsPerSecond(ProgressColumn):
    def render(self, task):
        speed = task.finished_speed or task.speed
        return "" if speed is None else f"{speed:.2f} songs/s"


def _progress(label: str) -> Progress:
    """A progress bar on stderr with songs done, songs per second and time left."""
    return Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), _SongsPerSecond(),
                    TimeRemainingColumn(), console=err)


@contextmanager
def _lake_errors():
    """Errors about the lake (unknown versions, bad SQL, missing songs) as one-line messages, exit 1."""
    from songlake.schema import LakeError

    try:
        yield
    except LakeError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
def ingest(paths: tuple[Path, ...], lake_dir: Path | None, license_: str | None, source: str | None, workers: int | None) -> None:
    """Ingest audio files and folders (recursively) into the lake as one new version.

    MP3, FLAC, WAV, OGG and M4A, recognised by content. With no PATH, makes a few synthesised
    demo songs and ingests those. Exit status: 0 when every file landed or was already there,
    1 when some were refused, 2 for usage errors.
    """
    from songlake.jobs import Provenance, ingest as run_ingest

    settings = _settings()
    lake = _open(lake_dir, create=True)
    if not paths:
        from songlake.demo import make_demo_songs

        folder = lake.root.parent / "songlake-demo-songs"
        made = make_demo_songs(folder)
        err.print(f"No folder given: ingesting {len(made)} synthesised demo songs from {folder}")
        paths = (folder,)

    with _progress("ingest") as progress:
        task = progress.add_task("ingest", total=None)

        def on_file(outcome, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)
            if outcome.status == "refused":
                progress.console.print(f"[red]refused[/red] {outcome.path}: {outcome.detail}")

        report = run_ingest(lake, paths, Provenance(license_, source), workers or settings.workers, on_file)

    _summarise(report, lake)
    sys.exit(1 if report.of("refused") else 0)


def _summarise(report, lake) -> None:
    ingested, present, refused = report.of("ingested"), report.of("present"), report.of("refused")
    speed = f", {report.audio_seconds / report.seconds:.1f}x real time" if ingested and report.seconds else ""
    version = f"lake version {report.version}" if report.version else f"no new version (lake stays at {lake.version()})"
    err.print(
        f"[bold]{len(ingested)} ingested[/bold] ({report.audio_seconds / 60:.1f} min of audio in {report.seconds:.1f} s{speed}), "
        f"{len(present)} already present, {len(refused)} refused; {version}."
    )
    for outcome in refused:
        err.print(f"  [red]refused[/red] {Path(outcome.path).name}: {outcome.detail}")
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

    lake = _open(lake_dir)
    limit = _settings().max_rows if max_rows is None else max_rows
    with _lake_errors():
        table = run(connect(lake, version), query, max_rows=(limit + 1) if limit else None)
    truncated = bool(limit) and table.num_rows > limit
    render(table.slice(0, limit) if truncated else table, fmt, console(), truncated)


@main.command()
@lake_option
def versions(lake_dir: Path | None) -> None:
    """The lake's history: every version, what made it, and its tags."""
    from rich.table import Table

    lake = _open(lake_dir)
    out = Table(header_style="bold")
    for name in ("version", "committed at (UTC)", "kind", "message", "tags"):
        out.add_column(name)
    for entry in lake.versions():
        out.add_row(str(entry.version), entry.committed_at.strftime("%Y-%m-%d %H:%M:%S"), entry.kind, entry.message, ", ".join(entry.tags))
    console().print(out)


@main.command()
@click.argument("name")
@lake_option
@click.option("--version", "version", default=None, help="The version to tag (default: the latest).")
def tag(name: str, lake_dir: Path | None, version: str | None) -> None:
    """Name a lake version, e.g. the one a model was trained on."""
    lake = _open(lake_dir)
    with _lake_errors():
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

    from songlake.schema import connect, run, similar as nearest

    lake = _open(lake_dir)
    with _lake_errors():
        hits = nearest(lake, song_id.strip(), k, version)
        con = connect(lake, version)
        con.register("hits", pa.table({"song_id": [h[0] for h in hits], "similarity": [h[1] for h in hits],
                                       "rank": list(range(1, len(hits) + 1))}))
        table = run(con, "SELECT h.rank, h.song_id, h.similarity, s.title, s.artist, s.bpm, s.key "
                         "FROM hits h JOIN songs s USING (song_id) ORDER BY h.rank")
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

    lake = _open(lake_dir)
    with _lake_errors():
        document = song_document(lake, song_id.strip(), version)
    console().file.write(json.dumps(plain(document), indent=2) + "\n")


@main.command()
@lake_option
@click.option("--all", "everything", is_flag=True, help="Analyse every song, not only those analysed by an older songlake.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: $SONGLAKE_WORKERS or the CPU count).")
def analyze(lake_dir: Path | None, everything: bool, workers: int | None) -> None:
    """Analyse songs again from their original files, as one new lake version.

    By default only songs whose analysis is older than this songlake's analysis version."""
    from songlake.jobs import reanalyze_lake

    lake = _open(lake_dir)
    with _progress("analyze") as progress:
        task = progress.add_task("analyze", total=None)
        songs, version, failures = reanalyze_lake(
            lake, everything, workers or _settings().workers, lambda done, total: progress.update(task, completed=done, total=total))
    for failure in failures:
        err.print(f"  [red]failed[/red] {failure}")
    where = f"lake version {version}" if version else f"no new version (lake stays at {lake.version()})"
    err.print(f"[bold]{songs} songs analysed[/bold], {len(failures)} failed; {where}.")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
