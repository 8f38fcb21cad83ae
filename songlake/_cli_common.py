"""What every `songlake` command shares: the settings, the --lake option, opening the lake, lake
errors as one-line messages, the progress bar and the console for messages.

cli.py and _cli_train.py both build on this module, and neither imports the other's internals.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn

from songlake.settings import Settings

err = Console(stderr=True, highlight=False)  # messages and progress; standard output carries results


def load_settings() -> Settings:
    """The settings from the environment; a bad value is a usage error."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def lake_option(command):
    return click.option(
        "--lake", "lake_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="The lake folder (default: $SONGLAKE_LAKE or ./songlake-data).",
    )(command)


def open_lake(lake_dir: Path | None, create: bool = False):
    """The lake at --lake (or the settings' lake), migrated when older."""
    from songlake.schema import Lake

    with lake_errors():
        return Lake.open(lake_dir or load_settings().lake, create=create)


@contextmanager
def lake_errors():
    """Errors about the lake (unknown versions, bad SQL, missing songs) as one-line messages, exit 1."""
    from songlake.schema import LakeError

    try:
        yield
    except LakeError as exc:
        raise click.ClickException(str(exc)) from None


class _SongsPerSecond(ProgressColumn):
    def render(self, task):
        speed = task.finished_speed or task.speed
        return "" if speed is None else f"{speed:.2f} songs/s"


def progress_bar(label: str) -> Progress:
    """A progress bar on stderr with songs done, songs per second and time left."""
    return Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), _SongsPerSecond(),
                    TimeRemainingColumn(), console=err)
