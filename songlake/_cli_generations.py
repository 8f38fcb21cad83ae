"""`songlake generations`: add audio a model made, with what it was asked for, read how well
each model followed its conditioning (the model_report view), rank models by A/B votes, and
compare a model's generations with a slice of the lake (jobs/compare.py)."""

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
    with lake_errors(), progress_bar() as progress:
        task = progress.add_task("analyse", total=None)
        try:
            added = add_generations(lake, folder, manifest,
                                    lambda done, total: progress.update(task, completed=done, total=total))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    where = f"lake version {added.version}" if added.version else "nothing new"
    err.print(f"[bold]{len(added.added)} generations added[/bold], {len(added.skipped)} already in the lake; {where}.")
    with lake_errors():
        reader = connect(lake)
        render(run(reader, "SELECT * FROM model_report WHERE model IN (SELECT DISTINCT model FROM generations "
                           "WHERE list_contains($1, generation_id))",
                   params=[list(added.added + added.skipped)]), fmt, console())
        copies = run(reader, "SELECT filename, coalesce(fingerprint_song_id, nearest_song_id) AS song_id "
                             "FROM generations WHERE copies_training AND list_contains($1, generation_id) "
                             "ORDER BY filename", params=[list(added.added)]).to_pylist()
    for row in copies:  # jobs/copies.py: a same_audio, edit or near fingerprint match, or a cosine past its threshold
        err.print(f"[yellow]copies a training song:[/yellow] {row['filename']} is song {row['song_id']} "
                  "(the generations view's copy_reasons say why)")


@generations.command("check-copies")
@lake_option
@click.option("--all", "everything", is_flag=True,
              help="Check every generation again (after the lake gained songs, fingerprints or embeddings), "
                   "not only those never checked.")
def check_copies(lake_dir: Path | None, everything: bool) -> None:
    """Check generations for copies of the songs their model was trained on (by fingerprint and by
    the lake's embedding): those added before the check existed, or with --all every one."""
    from songlake.jobs.generations import check_copies as check

    lake = open_lake(lake_dir, write=True)
    with lake_errors(), progress_bar() as progress:
        task = progress.add_task("check", total=None)
        checked = check(lake, everything, lambda done, total: progress.update(task, completed=done, total=total))
    if not checked.checked:
        err.print("no generation needed checking (--all checks every one again)")
        return
    err.print(f"[bold]{len(checked.checked)} generations checked[/bold], {len(checked.copies)} copy a training song; "
              f"lake version {checked.version} (the generations view's copy columns say which and why)")


@generations.command()
@lake_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def report(lake_dir: Path | None, fmt: str) -> None:
    """Each model's (and checkpoint's) adherence to its conditioning: the model_report view."""
    from songlake.schema import connect, run

    lake = open_lake(lake_dir)
    with lake_errors():
        render(run(connect(lake), "SELECT * FROM model_report"), fmt, console())


@generations.command()
@lake_option
@click.option("--by", type=click.Choice(("model", "checkpoint")), default="model", show_default=True,
              help="Rank models, or each model's checkpoints apart.")
@click.option("--level", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="Confidence level of the intervals.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def rank(lake_dir: Path | None, by: str, level: float, fmt: str) -> None:
    """Rank the models from the A/B votes: Bradley–Terry scores (logits; ties half a win, both_bad
    no win) with intervals, then the raters' agreement on the pairs several of them judged."""
    from dataclasses import asdict

    import pyarrow as pa

    from songlake.jobs.rankings import model_rankings
    from songlake.schema import connect, run

    lake = open_lake(lake_dir)
    with lake_errors():
        reader = connect(lake)
        rankings, agreed = model_rankings(lambda sql: run(reader, sql), by=by, level=level)
    if not rankings:
        err.print("No votes yet: rate pairs on the A/B page (/ui/ab) first.")
        return
    render(pa.Table.from_pylist([asdict(r) for r in rankings]), fmt, console())
    if agreed.items:
        kappa = "n/a" if agreed.fleiss_kappa is None else f"{agreed.fleiss_kappa:.2f}"
        err.print(f"Agreement on {agreed.items} pairs judged by several raters ({agreed.judgements} judgements): "
                  f"{agreed.percent:.0f} %, Fleiss' kappa {kappa}.")
        for (first, second), value in sorted(agreed.cohen_kappa.items()):
            err.print(f"  Cohen's kappa {first} / {second}: {'n/a' if value is None else f'{value:.2f}'}")
    else:
        err.print("No pair has been judged by two raters yet: agreement is not known.")


@generations.command()
@click.option("--model", required=True, help="The model whose generations are compared.")
@click.option("--checkpoint", default=None, help="Only this checkpoint's generations (default: all of the model's).")
@click.option("--reference", default=None,
              help="SQL returning a song_id column: the slice of the lake to compare with, e.g. "
                   "\"SELECT song_id FROM songs WHERE primary_genre = 'rock'\". Default: the songs the model was "
                   "trained on where its trained_on can be evaluated here, else every song.")
@click.option("--smoothing", type=click.FloatRange(0, None), default=0.0, show_default=True,
              help="Pseudo-counts added to every bin before the Jensen–Shannon divergence.")
@click.option("--json", "as_json", is_flag=True, help="The whole comparison (histograms included) as JSON.")
@lake_option
def compare(model: str, checkpoint: str | None, reference: str | None, smoothing: float, as_json: bool,
            lake_dir: Path | None) -> None:
    """Compare a model's generations with a slice of the lake: per attribute (key, tempo, genre,
    loudness, section length) the two histograms, the Jensen–Shannon divergence (bits) and for
    numbers the Wasserstein distance; and frechet_songlake_embedding, the Fréchet distance between
    Gaussians fitted to the lake's own embedding of both (not FAD: no VGGish or CLAP here)."""
    import json

    import pyarrow.compute as pc

    from songlake._output import plain
    from songlake.jobs.compare import compare_model

    lake = open_lake(lake_dir)
    with lake_errors():
        try:
            found = compare_model(lake, model, checkpoint, reference, smoothing)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    if as_json:
        console().file.write(json.dumps(plain(found.as_dict()), indent=2) + "\n")
        return
    out = console()
    which = f"{model}" + (f" at {checkpoint}" if checkpoint else "")
    out.print(f"[bold]{which}[/bold]: {found.n_generations} generations against {found.reference} "
              f"({found.reference_detail})")
    render(found.summary(), "table", out)
    histograms = found.histograms()
    occupied = pc.or_(pc.greater(histograms["generated"], 0), pc.greater(histograms["reference"], 0))
    render(histograms.filter(occupied), "table", out)  # the bins either side has values in
    out.print(f"[dim]{found.frechet.name}: {found.frechet.note}; covariance shrinkage (Ledoit–Wolf weight) "
              f"{found.frechet.shrinkage_generated} generated, {found.frechet.shrinkage_reference} reference. "
              f"JS in bits (base 2), smoothing {smoothing} per bin.[/dim]")
    for warning in found.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
