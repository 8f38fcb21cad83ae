"""What every `songlake` command shares: the settings, the --lake option, opening the lake, lake
errors as one-line messages, the progress bar and the console for messages.

A command that changes the lake opens it with ``write=True``: a lake it cannot write (a
read-only mount, a folder the user may not write) or whose commit lock another process holds
is then explained in one line before anything starts, and reading commands never need to write.
``environment_errors`` turns what the machine refuses later (a read-only or full disk, a locked
SQLite queue) into one line too. Both exit with status 1.

cli.py and _cli_train.py both build on this module, and neither imports the other's internals.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import tempfile
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


def open_lake(lake_dir: Path | None, create: bool = False, write: bool = False):
    """The lake at --lake (or the settings' lake), migrated when older. write: the command
    changes the lake, so it must be writable and its commit lock free within SONGLAKE_LOCK_WAIT
    seconds; else it exits with one line before it starts."""
    from songlake.schema import Lake

    with lake_errors():
        lake = Lake.open(lake_dir or load_settings().lake, create=create)
    if write:
        writable(lake)
        try:
            with commit_lock(lake):
                pass
        except OSError as exc:
            raise click.ClickException(_cannot_write(lake, exc)) from None
    return lake


def writable(lake, folder: Path | None = None, needs: str = "writes to it") -> None:
    """Exit with one line unless this process can make files in the lake (in folder, by default
    its tables); needs says why the command must write."""
    folder = folder or lake.tables_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".songlake-write-check-"):
            pass
    except OSError as exc:
        raise click.ClickException(_cannot_write(lake, exc, needs)) from None


@contextmanager
def commit_lock(lake):
    """Hold the lake's commit lock, waiting at most SONGLAKE_LOCK_WAIT seconds (saying so while
    it waits); past that, exit with one line that names the process holding it."""
    wait = load_settings().lock_wait
    with lake.staging.lock(wait=False) as got:
        if got:
            yield
            return
    err.print(f"waiting up to {wait:g} s for the lake's commit lock, held by {_lock_holder(lake)}")
    with lake.staging.lock(timeout=wait) as got:
        if not got:
            raise click.ClickException(
                f"the lake at {lake.root} is locked: {_lock_holder(lake)} has held its commit lock for over "
                f"{wait:g} s; try again once it is done, or stop it (SONGLAKE_LOCK_WAIT sets how long to wait)")
        yield


def _lock_holder(lake) -> str:
    """The process that holds a lock in the lake's staging folder, as far as this machine can tell."""
    try:
        inodes = {(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
                  for st in (entry.stat() for entry in os.scandir(lake.staging.dir)) if st.st_ino}
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                if len(fields) > 5 and fields[1] in ("FLOCK", "POSIX", "OFDLCK"):
                    major, minor, inode = fields[5].split(":")
                    if (int(major, 16), int(minor, 16), int(inode)) in inodes and fields[4].isdigit():
                        with open(f"/proc/{fields[4]}/cmdline", "rb") as cmdline:
                            command = " ".join(cmdline.read().decode(errors="replace").replace("\0", " ").split())
                        return f"process {fields[4]} ({command[:120]})" if command else f"process {fields[4]}"
    except (OSError, ValueError):
        pass
    return "another process (on this or another machine)"


_UNWRITABLE = {errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
               errno.EPERM: "operation not permitted", errno.ENOSPC: "no space left on the device",
               errno.EDQUOT: "disk quota exceeded"}


def _cannot_write(lake, exc: OSError, needs: str = "writes to it") -> str:
    why = _UNWRITABLE.get(exc.errno, exc.strerror or type(exc).__name__)
    return (f"the lake at {lake.root} cannot be written ({why}), and `{_command()}` {needs}; "
            "reading commands (sql, versions, show, similar) work on it as it is")


def _command() -> str:
    """The running command as the user would type it (songlake tag, songlake token create)."""
    names, ctx = [], click.get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["songlake", *reversed(names)])


@contextmanager
def environment_errors():
    """What the machine refuses (a read-only or full disk, a folder the user may not write, a
    locked or unwritable SQLite queue) as one line, exit 1, instead of a traceback; -v logs the
    traceback too. Programming errors still raise."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _UNWRITABLE:
            raise
        logging.getLogger("songlake").info("the command stopped", exc_info=True)
        where = f"{exc.filename}: " if exc.filename else ""
        raise click.ClickException(f"the machine refused: {where}{_UNWRITABLE[exc.errno]}") from None
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if not any(s in text for s in ("locked", "readonly", "unable to open", "disk I/O", "full")):
            raise
        logging.getLogger("songlake").info("the command stopped", exc_info=True)
        raise click.ClickException(f"the queue's SQLite database: {text} (another process may hold it, or the lake "
                                   "folder cannot be written)") from None


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


def progress_bar() -> Progress:
    """Progress bars on stderr with songs done, songs per second and time left, each named by its
    task's description."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _SongsPerSecond(),
                    TimeRemainingColumn(), console=err)
