"""The training commands of `songlake`: train a model on the lake, export to other trainers."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import click

from songlake._cli_common import err, lake_errors, load_settings, open_lake, progress_bar

_STEMS = ("vocals", "drums", "bass", "other")


def _names(value: str | None, known: tuple[str, ...], what: str) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if names == ["all"]:
        return list(known)
    for name in names:
        if name not in known:
            raise click.BadParameter(f"unknown {what} {name!r}; choose from {', '.join(known)} (comma separated) or 'all'")
    return names


def _setting(text: str) -> tuple[str, str, object]:
    """'model.hidden=64' as ('model', 'hidden', 64): the value is read as TOML, else kept as text."""
    name, sep, raw = text.partition("=")
    table, dot, key = name.strip().partition(".")
    if not sep or not dot or table not in ("data", "model", "trainer") or not key:
        raise click.BadParameter(f"{text!r}: write settings as data.KEY=VALUE, model.KEY=VALUE or trainer.KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return table, key, value


@click.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A TOML file with [data], [model] and [trainer] tables (see songlake.trainer.train).")
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The lake folder (default: the config's data.lake, $SONGLAKE_LAKE or ./songlake-data).")
@click.option("--query", default=None, help="SQL over the songs view that returns song_id (default: every song).")
@click.option("--version", default=None, help="Lake version or tag to pin (default: the latest, recorded in checkpoints).")
@click.option("--clip-seconds", type=click.FloatRange(min=0.1), default=None, help="Clip length (default 10).")
@click.option("--sample-rate", type=click.IntRange(min=1000), default=None, help="Sample rate of the clips (default 44100).")
@click.option("--stems", default=None, help="Stems in each batch: comma separated, or 'all' (default none).")
@click.option("--conditioning", default=None, help="Conditioning in each batch: key,bpm,genre,chords,sections,beats,downbeats or 'all'.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--workers", type=click.IntRange(min=0), default=None, help="DataLoader worker processes per device.")
@click.option("--max-steps", type=int, default=None)
@click.option("--max-epochs", type=int, default=None)
@click.option("--accelerator", default=None, help="cpu, gpu or auto (Lightning's names).")
@click.option("--devices", default=None, help="Number of devices (Lightning's names).")
@click.option("--strategy", default=None, help="auto, ddp, ... (Lightning's names).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The run's folder: checkpoints, logs and summary.json (default runs/songlake).")
@click.option("--seed", type=int, default=None, help="Seed for the model and the clip sampling (default 0).")
@click.option("--set", "settings", multiple=True, help="Any other setting, as data.KEY=VALUE, model.KEY=VALUE or trainer.KEY=VALUE.")
def train(config_path, lake_dir, query, version, clip_seconds, sample_rate, stems, conditioning, batch_size, workers,
          max_steps, max_epochs, accelerator, devices, strategy, out_dir, seed, settings) -> None:
    """Train a model on clips of the lake, through songlake's Lightning DataModule."""
    from songlake.trainer.conditioning import CONDITIONING
    from songlake.trainer.train import load_config, train as run_training

    config = load_config(config_path) if config_path else {"data": {}, "model": {}, "trainer": {}}
    given = {
        "data": {"lake": lake_dir, "query": query, "version": version, "clip_seconds": clip_seconds,
                 "sample_rate": sample_rate, "stems": _names(stems, _STEMS, "stem"),
                 "conditioning": _names(conditioning, CONDITIONING, "conditioning"), "batch_size": batch_size,
                 "num_workers": workers},
        "trainer": {"max_steps": max_steps, "max_epochs": max_epochs, "accelerator": accelerator,
                    "devices": int(devices) if devices and devices.isdigit() else devices, "strategy": strategy,
                    "out": out_dir, "seed": seed},
    }
    for table, values in given.items():
        config[table].update({k: v for k, v in values.items() if v is not None})
    for text in settings:
        table, key, value = _setting(text)
        config[table][key] = value
    config["data"].setdefault("lake", load_settings().lake)
    config["data"]["lake"] = str(config["data"]["lake"])
    if "out" in config["trainer"]:
        config["trainer"]["out"] = str(config["trainer"]["out"])
    with lake_errors():
        try:
            result = run_training(config)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    if not result.global_zero:
        return
    summary = result.summary
    click.echo(json.dumps({k: summary[k] for k in ("steps", "clips", "clips_per_second", "data_wait_fraction",
                                                      "checkpoint") if k in summary} | {
        "lake_version": summary["data"]["lake_version"], "out": str(result.out)}, indent=2))


@click.command()
@click.option("--query", default="SELECT song_id FROM songs", show_default=True,
              help="SQL over the songs view that returns song_id.")
@click.option("--format", "format_", required=True,
              help="audiocraft, stable-audio, hf or webdataset; or preferences (the A/B votes as chosen / rejected "
                   "pairs; --query, stems and clips do not apply).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The folder to write the export to (new or empty).")
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The lake folder (default: $SONGLAKE_LAKE or ./songlake-data).")
@click.option("--version", default=None, help="Lake version or tag to export (default: the latest).")
@click.option("--stems", default=None, help="Stems to export beside the mix: comma separated, or 'all'.")
@click.option("--clip-seconds", type=click.FloatRange(min=0.1), default=None,
              help="Cut songs into clips of this length (default: whole songs).")
@click.option("--sample-rate", type=click.IntRange(min=1000), default=44100, show_default=True)
@click.option("--name", default="songlake", show_default=True, help="The dataset's name in the export.")
@click.option("--split-name", default="default", show_default=True, help="The split scheme (stored in the lake).")
@click.option("--seed", type=int, default=0, show_default=True, help="The split scheme's seed, when it is new.")
@click.option("--shard-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Samples per webdataset shard.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier songlake export in --out.")
@click.option("--duplicates", "duplicates", is_flag=True,
              help="Export every copy of a recording, not only its preferred copy (see `songlake duplicates`).")
def export(query, format_, out_dir, lake_dir, version, stems, clip_seconds, sample_rate, name, split_name, seed,
           shard_size, overwrite, duplicates) -> None:
    """Export a SQL slice of the lake for another trainer (audiocraft, stable-audio, hf, webdataset)."""
    from songlake.trainer.export import FORMATS, export as run_export
    from songlake.trainer.selection import select

    if format_ == "preferences":
        return _export_preferences(out_dir, lake_dir, version, overwrite)
    if format_ not in FORMATS:
        raise click.BadParameter(f"unknown format {format_!r}; choose from {', '.join(FORMATS)}", param_hint="--format")
    lake = open_lake(lake_dir)
    with lake_errors(), progress_bar() as bar:
        try:
            selection = select(lake, query, version, split_name=split_name, seed=seed, duplicates=duplicates)
            task = bar.add_task(f"export {format_}", total=len(selection.songs))
            result = run_export(selection, format_, out_dir, stems=_names(stems, _STEMS, "stem") or (),
                                clip_seconds=clip_seconds, sample_rate=sample_rate, name=name, shard_size=shard_size,
                                overwrite=overwrite, progress=lambda done, total: bar.update(task, completed=done))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    counts = result.counts
    err.print(f"exported {counts['songs']} songs ({counts['clips']} files: train {counts['train']}, valid "
              f"{counts['valid']}, test {counts['test']}) from lake version {selection.version} as {format_}; "
              f"{selection.duplicates_left_out} duplicates left out")
    click.echo(str(result.manifest))


def _export_preferences(out_dir: Path, lake_dir: Path | None, version: str | None, overwrite: bool) -> None:
    """The A/B votes that chose a clip as a Hugging Face dataset of (prompt, conditioning, chosen, rejected)."""
    from songlake.trainer.export.preferences import export_preferences

    lake = open_lake(lake_dir)
    with lake_errors():
        try:
            result = export_preferences(lake, out_dir, version=version, overwrite=overwrite)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    counts = result.counts
    err.print(f"exported {counts['rows']} preference pairs from {counts['votes']} votes "
              f"({counts['ties']} ties and {counts['both_bad']} both bad left out)")
    click.echo(str(result.manifest))
