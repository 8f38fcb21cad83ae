"""``songlake train``: build the data module, a model and a Lightning Trainer from one config.

A config is a dict (or a TOML file) of three tables::

    [data]      # SonglakeDataModule's arguments: lake, query, version, clip_seconds, sample_rate,
                # stems, conditioning, batch_size, num_workers, split_name, seed, ...
    [model]     # class = "package.module:Class" (default songlake.trainer.models:ClipModel), and its
                # constructor arguments; `hop`, `num_stems` and `heads` (the per-frame conditioning)
                # are filled in from the data when the constructor takes them and the config leaves them out
    [trainer]   # lightning.Trainer's arguments (max_steps, accelerator, devices, strategy, ...),
                # plus `out` (the run's folder: checkpoints, logs, summary.json) and `seed`

The run's folder gets ``summary.json``: the data (lake, pinned version, query, split, counts), the
steps and clips trained, the seconds spent computing and waiting for data, clips per second, and
the checkpoint. On a GPU the throughput is also recorded in the lake for the collection report
(schema.report.record_training_throughput); CPU runs are not, since the report estimates GPU time.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch

from songlake.schema.report import record_training_throughput
from songlake.trainer.datamodule import SonglakeDataModule

log = logging.getLogger(__name__)
DEFAULT_MODEL = "songlake.trainer.models:ClipModel"
_RUN_KEYS = ("out", "seed")
_FRAME_TARGETS = ("chords", "sections", "beats", "downbeats")


@dataclass(frozen=True)
class TrainResult:
    out: Path
    checkpoint: Path | None
    summary: dict
    global_zero: bool = True  # False in the other ranks of a distributed run


def load_config(path: str | Path) -> dict[str, dict]:
    """A TOML config file as {data, model, trainer}; ValueError naming an unknown table."""
    config = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    unknown = set(config) - {"data", "model", "trainer"}
    if unknown:
        raise ValueError(f"{path}: unknown table [{sorted(unknown)[0]}]; a train config has [data], [model], [trainer]")
    return {name: dict(config.get(name, {})) for name in ("data", "model", "trainer")}


def build_model(spec: dict, data: SonglakeDataModule) -> L.LightningModule:
    """The model a [model] table names, with hop, num_stems and heads from the data when left out."""
    spec = dict(spec)
    target = spec.pop("class", DEFAULT_MODEL)
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"model class {target!r} not found ({exc}); write it as 'package.module:Class'") from None
    accepted = inspect.signature(cls).parameters
    filled = {"hop": round(data.hparams.sample_rate / data.hparams.frame_rate), "num_stems": len(data.hparams.stems),
              "heads": [name for name in data.hparams.conditioning if name in _FRAME_TARGETS]}
    for name, value in filled.items():
        if name in accepted and name not in spec:
            spec[name] = value
    return cls(**spec)


def train(config: dict[str, dict]) -> TrainResult:
    """Fit the configured model on the configured data; returns the run's folder and summary."""
    data_args = dict(config.get("data", {}))
    trainer_args = dict(config.get("trainer", {}))
    run = {key: trainer_args.pop(key) for key in _RUN_KEYS if key in trainer_args}
    out = Path(run.get("out", "runs/songlake")).resolve()
    L.seed_everything(int(run.get("seed", 0)), workers=True, verbose=False)
    data = SonglakeDataModule(**data_args)
    model = build_model(config.get("model", {}), data)
    meter = Throughput(data.hparams.clip_seconds)
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(dirpath=out / "checkpoints", save_last=True)
    trainer = L.Trainer(default_root_dir=out, callbacks=[meter, checkpoints], logger=L.pytorch.loggers.CSVLogger(out),
                        enable_progress_bar=False, **trainer_args)
    trainer.fit(model, datamodule=data)
    checkpoint = Path(checkpoints.last_model_path) if checkpoints.last_model_path else None
    summary = {"data": data.state_dict(), "model": type(model).__name__, "device": str(model.device),
               "world_size": trainer.world_size, "checkpoint": str(checkpoint) if checkpoint else None,
               "log_dir": trainer.log_dir} | meter.figures()
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        if model.device.type == "cuda" and meter.compute_seconds > 0:
            record_training_throughput(data.lake, meter.clips * data.hparams.clip_seconds * trainer.world_size,
                                       meter.compute_seconds * trainer.world_size,
                                       gpu=torch.cuda.get_device_name(model.device), model=type(model).__name__,
                                       batch_size=data.hparams.batch_size, lake_version=data.version)
        else:
            log.info("trained on %s: throughput is not recorded for the report, which estimates GPU time",
                     model.device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # every rank finished fitting; without this, gloo's threads outlive the interpreter and the
        # process aborts at exit ("terminate called without an active exception")
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return TrainResult(out, checkpoint, summary, trainer.is_global_zero)


class Throughput(L.Callback):
    """Seconds in training steps against seconds waiting for the next batch, and clips trained."""

    def __init__(self, clip_seconds: float):
        self.clip_seconds = clip_seconds
        self.steps = self.clips = 0
        self.compute_seconds = self.wait_seconds = 0.0
        self._ended: float | None = None
        self._started = 0.0

    def on_train_epoch_start(self, trainer, module) -> None:
        self._ended = time.perf_counter()  # the wait for the first batch counts (loader start-up)

    def on_train_batch_start(self, trainer, module, batch, batch_index) -> None:
        self._started = time.perf_counter()
        if self._ended is not None:
            self.wait_seconds += self._started - self._ended

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)
        self._ended = time.perf_counter()
        self.compute_seconds += self._ended - self._started
        self.steps += 1
        self.clips += len(batch["info"])

    def figures(self) -> dict[str, Any]:
        total = self.compute_seconds + self.wait_seconds
        return {"steps": self.steps, "clips": self.clips, "audio_seconds": self.clips * self.clip_seconds,
                "compute_seconds": round(self.compute_seconds, 3), "data_wait_seconds": round(self.wait_seconds, 3),
                "data_wait_fraction": round(self.wait_seconds / total, 4) if total else None,
                "clips_per_second": round(self.clips / total, 2) if total else None}
