"""`songlake generations`: add audio a model made, with what it was asked for, and read how well
each model followed its conditioning (the model_report view)."""

from __future__ import annotations

from pathlib import Path

import click

from songlake._cli_common import err, lake_errors, lake_option, open_lake, progress_bar
from songlake._output import FORMATS, console, render


@click.group()
def generations() -> None:
    """Audio models made: add it with its conditioning, scored for adherence by the lake's analysis."""


@generations.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL, one generation a line: file (relative to FOLDER), model, and optionally checkpoint, "
                   "prompt, conditioning {key, bpm, chords, sections, genre, text} and trained_on.")
@lake_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="How to print the report of the models added.")
def add(folder: Path, manifest: Path, lake_dir: Path | None, fmt: str) -> None:
    """Add the generations in FOLDER listed by --manifest: each is analysed as songs are and
    scored against its conditioning; then the report of their models is printed."""
    from songlake.jobs.generations import add_generations
    from songlake.schema import connect, run

    lake = open_lake(lake_dir, write=True)
    with lake_errors(), progress_bar("analyse") as progress:
        task = progress.add_task("analyse", total=None)
        try:
            added = add_generations(lake, folder, manifest,
                                    lambda done, total: progress.update(task, completed=done, total=total))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    where = f"lake version {added.version}" if added.version else "nothing new"
    err.print(f"[bold]{len(added.added)} generations added[/bold], {len(added.skipped)} already in the lake; {where}.")
    with lake_errors():
        render(run(connect(lake), "SELECT * FROM model_report WHERE model IN (SELECT DISTINCT model FROM generations "
                                  "WHERE list_contains($1, generation_id))",
                   params=[list(added.added + added.skipped)]), fmt, console())


@generations.command()
@lake_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def report(lake_dir: Path | None, fmt: str) -> None:
    """Each model's (and checkpoint's) adherence to its conditioning: the model_report view."""
    from songlake.schema import connect, run

    lake = open_lake(lake_dir)
    with lake_errors():
        render(run(connect(lake), "SELECT * FROM model_report"), fmt, console())
