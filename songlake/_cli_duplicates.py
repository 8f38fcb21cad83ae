"""`songlake duplicates`: list the duplicate groups, fingerprint the songs that have none
(--backfill), and record a reviewer's choice (a label: who and when; nothing is deleted)."""

from __future__ import annotations

from pathlib import Path

import click

from songlake._cli_common import err, lake_errors, lake_option, load_settings, open_lake, progress_bar
from songlake._output import FORMATS, console, render

# Each group's songs, the preferred copy first, each with its pair to the preferred copy (offset:
# the preferred copy's time t is this song's time t + offset_seconds).
LIST_QUERY = """
WITH g AS (
    SELECT * FROM duplicate_groups
    WHERE $1 IS NULL OR duplicate_group = (SELECT duplicate_group FROM duplicate_groups WHERE song_id = $1)
), preferred AS (
    SELECT duplicate_group, song_id AS preferred FROM g WHERE is_preferred_copy
)
SELECT g.duplicate_group, g.song_id, g.is_preferred_copy, g.duplicate_choice, s.filename, s.format,
       s.bitrate_kbps, round(s.duration, 1) AS duration, d.kind, d.score,
       CASE WHEN d.song_a = p.preferred THEN d.offset_seconds ELSE -d.offset_seconds END AS offset_seconds,
       d.shared_seconds
FROM g
JOIN songs s ON s.song_id = g.song_id
JOIN preferred p ON p.duplicate_group = g.duplicate_group
LEFT JOIN duplicates d
    ON (d.song_a = p.preferred AND d.song_b = g.song_id) OR (d.song_b = p.preferred AND d.song_a = g.song_id)
ORDER BY g.duplicate_group, g.is_preferred_copy DESC, g.song_id
"""


def backfill(lake, workers: int | None, on_printed=None, on_searched=None) -> tuple[int, int]:
    """Fingerprint every song that has none, then search their duplicates; (songs, pairs found).
    on_printed and on_searched(done, total) follow the two passes."""
    from songlake.jobs.batch import run_stage_batch
    from songlake.jobs.duplicates import unprinted

    wanted = unprinted(lake)
    if not wanted:
        return 0, 0
    run_stage_batch(lake, "duplicates", wanted, workers, on_printed, search=False)  # every song indexed first
    outcomes = run_stage_batch(lake, "duplicates", wanted, workers, on_searched)
    pairs = sum(o.get("pairs", 0) for o in outcomes)
    return len(wanted), pairs


@click.group(invoke_without_command=True)
@lake_option
@click.option("--backfill", "do_backfill", is_flag=True,
              help="Fingerprint the songs that have no fingerprint (ingested before songlake found duplicates, "
                   "or without Chromaprint), then find their duplicates. A song whose fingerprint failed (its "
                   "fingerprints row says why: unreadable or too short audio) is not tried again.")
@click.option("--song", "song_id", default=None, help="Only the group of this song.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes for --backfill.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def duplicates(ctx, lake_dir: Path | None, do_backfill: bool, song_id: str | None, workers: int | None,
               fmt: str) -> None:
    """The same recording twice: list duplicate groups (the preferred copy first), or --backfill."""
    if ctx.invoked_subcommand is not None:
        return
    if do_backfill:
        lake = open_lake(lake_dir, write=True)
        with lake_errors(), progress_bar() as progress:
            printing = progress.add_task("fingerprint", total=None)
            searching = progress.add_task("search", total=None)
            songs, pairs = backfill(lake, workers or load_settings().workers,
                                    lambda done, total: progress.update(printing, completed=done, total=total),
                                    lambda done, total: progress.update(searching, completed=done, total=total))
        err.print(f"[bold]{songs} songs fingerprinted[/bold], {pairs} duplicate pairs found; "
                  f"lake version {lake.version()}.")
        return
    from songlake.schema import connect, run

    lake = open_lake(lake_dir)
    with lake_errors():
        table = run(connect(lake), LIST_QUERY, params=[song_id])
    if song_id is not None and table.num_rows == 0:
        err.print(f"song {song_id} has no duplicates")
    render(table, fmt, console())



@duplicates.command()
@click.argument("song_id")
@click.argument("choice", type=click.Choice(["preferred", "keep", "drop", "none"]))
@lake_option
@click.option("--author", required=True, help="Who decided (kept with the label).")
@click.option("--note", default=None, help="Why, in a few words.")
def choose(song_id: str, choice: str, lake_dir: Path | None, author: str, note: str | None) -> None:
    """Record a reviewer's CHOICE for SONG_ID: preferred (its group trains on it), keep (trained
    on beside the preferred copy), drop (left out of training, never deleted), none (withdraw)."""
    from songlake.schema.labels import write_labels

    lake = open_lake(lake_dir, write=True)
    with lake_errors():
        try:
            version = write_labels(lake, song_id, {"duplicate_choice": None if choice == "none" else choice},
                                   author=author, note=note)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    err.print(f"{song_id}: duplicate_choice {choice} by {author}; lake version {version}")
