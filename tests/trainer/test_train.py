"""`songlake train` end to end on CPU: a tiny model, checkpoints that record the lake version,
and distributed training where each rank reads its own shard."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from songlake.schema import Lake

SONGLAKE = str(Path(sys.executable).parent / "songlake")


def _printed(stdout: str) -> dict:
    """The run's figures, the JSON object the command prints last (after Lightning's model summary)."""
    return json.loads(stdout[stdout.rindex("\n{") + 1 if not stdout.startswith("{") else 0:])


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([SONGLAKE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_train_from_a_config_file_end_to_end(lake_for_test, tmp_path):
    lake = Lake.open(lake_for_test)
    lake.tag("train-v1")
    config = tmp_path / "train.toml"
    config.write_text(f"""
[data]
lake = "{lake_for_test}"
query = "SELECT song_id FROM songs WHERE stems_status = 'done'"
version = "train-v1"
clip_seconds = 2.0
stems = ["drums", "bass"]
conditioning = ["chords", "beats", "downbeats"]
batch_size = 2
num_workers = 1

[model]
hidden = 8
learning_rate = 0.003

[trainer]
max_steps = 6
accelerator = "cpu"
val_check_interval = 3
log_every_n_steps = 1
out = "{tmp_path / 'run'}"
""")
    done = _run("train", "--config", str(config), cwd=tmp_path)
    printed = _printed(done.stdout)
    assert printed["steps"] == 6 and printed["clips"] == 12 and printed["lake_version"] == lake.tags()["train-v1"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["data"]["tag"] == "train-v1" and summary["data"]["counts"]["train"] == 2
    assert 0 <= summary["data_wait_fraction"] < 1 and summary["clips_per_second"] > 0

    checkpoint = torch.load(summary["checkpoint"], map_location="cpu", weights_only=False)
    assert checkpoint["SonglakeDataModule"]["lake_version"] == lake.tags()["train-v1"]
    assert checkpoint["datamodule_hyper_parameters"]["version"] == lake.tags()["train-v1"]
    assert checkpoint["hyper_parameters"]["num_stems"] == 2
    assert checkpoint["hyper_parameters"]["heads"] == ["chords", "beats", "downbeats"]
    assert checkpoint["global_step"] == 6

    metrics = list(csv.DictReader(open(Path(summary["log_dir"]) / "metrics.csv")))
    losses = [float(r["train_loss"]) for r in metrics if r.get("train_loss")]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert any(r.get("val_loss") for r in metrics)  # validation ran on the valid split
    assert not (lake_for_test / "measurements" / "training.json").exists()  # CPU runs do not feed the report


def test_a_checkpoint_rebuilds_its_data_module(lake_for_test, tmp_path):
    from songlake.trainer.datamodule import SonglakeDataModule
    from songlake.trainer.train import train

    result = train({"data": {"lake": str(lake_for_test), "clip_seconds": 1.0, "batch_size": 2},
                    "model": {"hidden": 4}, "trainer": {"max_steps": 2, "accelerator": "cpu", "out": str(tmp_path / "r")}})
    version = result.summary["data"]["lake_version"]
    Lake.open(lake_for_test).tag("later")  # the lake moves on; the checkpoint still names its version
    rebuilt = SonglakeDataModule.load_from_checkpoint(result.checkpoint)
    assert rebuilt.version == version and rebuilt.hparams.clip_seconds == 1.0


def test_distributed_ranks_train_on_disjoint_shards(lake_for_test, tmp_path):
    """Two DDP processes on CPU (gloo): each rank's DistributedSampler gives it its own clips."""
    done = _run("train", "--lake", str(lake_for_test), "--clip-seconds", "1", "--conditioning", "beats",
                "--batch-size", "2", "--max-steps", "3", "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu",
                "--out", str(tmp_path / "ddp"), "--set", "model.record_seen=true", "--set", "model.hidden=4",
                cwd=tmp_path)
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and _printed(done.stdout)["steps"] == 3
    seen = [json.loads((Path(summary["log_dir"]) / f"seen-rank{r}.json").read_text()) for r in (0, 1)]
    clips = [{(s["epoch"], s["clip"]) for s in rank} for rank in seen]
    assert all(len(rank) == 6 for rank in seen) and all(len(c) == 6 for c in clips)
    assert not clips[0] & clips[1]


def test_train_refuses_a_bad_setting(lake_for_test, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([SONGLAKE, "train", "--lake", str(lake_for_test), "--stems", "piano"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown stem 'piano'" in done.stderr
    done = subprocess.run([SONGLAKE, "train", "--lake", str(lake_for_test), "--set", "model.class=nowhere:Model"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "model class 'nowhere:Model' not found" in done.stderr
