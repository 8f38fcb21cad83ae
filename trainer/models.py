"""Reference models: small enough to train in a test on a CPU, real enough to prove the path.

``ClipModel`` takes the data module's batches as they come. A strided convolution turns the mix
into frames that line up with the conditioning frames (one frame per ``hop`` samples), and it
learns what the batch offers:

- per-frame heads for the chord, the section, and the beat and downbeat grids named in
  ``heads`` (cross-entropy and binary cross-entropy): a tiny analysis model. songlake train
  names the per-frame conditioning the data module delivers;
- a transposed convolution back to audio, one stereo signal per stem, when ``num_stems`` > 0
  (L1 against the stems): a tiny separation model;
- with neither, it reconstructs the mix (L1), an autoencoder.

It takes plain constructor arguments and never reads configuration (songlake.trainer.train
builds it). ``record_seen`` makes each rank write the clips it trained on to
``<log_dir>/seen-rank<N>.json`` at the end of training, which is how the tests check that
distributed ranks train on disjoint shards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from songlake.trainer import conditioning as cond


class ClipModel(L.LightningModule):
    def __init__(self, hop: int = 882, hidden: int = 32, num_stems: int = 0, heads: Sequence[str] = (),
                 learning_rate: float = 1e-3, record_seen: bool = False):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(nn.Conv1d(2, hidden, kernel_size=hop, stride=hop), nn.GELU(),
                                     nn.Conv1d(hidden, hidden, kernel_size=3, padding=1), nn.GELU())
        # Only the heads the data feeds: a parameter without a loss stalls distributed training.
        self.heads = nn.ModuleDict()
        for name, classes in (("chords", len(cond.CHORDS)), ("sections", len(cond.SECTIONS)), ("beats", 1),
                              ("downbeats", 1)):
            if name in heads:
                self.heads[name] = nn.Conv1d(hidden, classes, 1)
        self.decoder = None
        if num_stems or not self.heads:
            self.decoder = nn.ConvTranspose1d(hidden, 2 * max(num_stems, 1), kernel_size=hop, stride=hop)
        self.seen: list[dict] = []

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """Frames (B, hidden, n // hop) of a mix (B, 2, n)."""
        return self.encoder(mix)

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        mix = batch["mix"] if "mix" in batch else batch["stems"].sum(dim=1)
        frames = self(mix)
        n_frames = frames.shape[-1]
        out = {}
        for name, head in self.heads.items():
            target = batch[name][:, :n_frames]
            if name in ("chords", "sections"):
                out[name] = F.cross_entropy(head(frames), target)
            else:
                out[name] = F.binary_cross_entropy_with_logits(head(frames)[:, 0], target)
        if self.decoder is not None:
            target = batch["stems"] if self.hparams.num_stems else mix[:, None]
            audio = self.decoder(frames).view(mix.shape[0], -1, 2, n_frames * self.hparams.hop)
            length = min(audio.shape[-1], target.shape[-1])
            out["audio"] = F.l1_loss(audio[..., :length], target[..., :length])
        return out

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        losses = self.losses(batch)
        loss = sum(losses.values())
        size = len(batch["info"])
        self.log("train_loss", loss, prog_bar=True, batch_size=size)
        for name, value in losses.items():
            self.log(f"train_{name}", value, batch_size=size)
        if self.hparams.record_seen:
            self.seen.extend({"song_id": info["song_id"], "clip": info["clip"], "epoch": self.current_epoch}
                             for info in batch["info"])
        return loss

    def validation_step(self, batch: dict, batch_index: int) -> None:
        self.log("val_loss", sum(self.losses(batch).values()), prog_bar=True, batch_size=len(batch["info"]),
                 sync_dist=True)

    def test_step(self, batch: dict, batch_index: int) -> None:
        self.log("test_loss", sum(self.losses(batch).values()), batch_size=len(batch["info"]), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.learning_rate)

    def on_train_end(self) -> None:
        if self.hparams.record_seen and self.trainer.log_dir:
            path = Path(self.trainer.log_dir) / f"seen-rank{self.global_rank}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.seen), encoding="utf-8")
