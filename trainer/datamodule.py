"""songlake's Lightning DataModule: clips of a SQL slice of the lake, at a pinned version.

    dm = SonglakeDataModule("lake", query="SELECT song_id FROM songs WHERE bpm > 100",
                            version="v1", clip_seconds=10, sample_rate=44100,
                            stems=["vocals", "drums", "bass", "other"],
                            conditioning=["key", "bpm", "chords", "beats", "downbeats"],
                            batch_size=16, num_workers=4)

- **Pinned.** The version (a number, a tag, or None for the latest) is resolved when the module
  is made; the query and every song's analysis are read at it. The lake, version, tag, query and
  split scheme are in the module's hyperparameters and its ``state_dict``, which Lightning
  stores in every checkpoint; loading a checkpoint into a module pinned elsewhere is an error.
- **Splits.** ``prepare_data`` (one process) stores the split scheme's assignments for every song
  of the lake at the version (songlake.trainer.splits: whole artists per split, seeded), so
  every run and export that uses the scheme sees the same split. Storing them is a new lake
  commit; the pinned version still decides which songs and which analysis are read.
- **Duplicates.** Only each recording's preferred copy (and copies labelled 'keep') is read,
  unless ``duplicates=True`` (songlake.trainer.selection); a duplicate group is always in one
  split, so no copy of a test song is trained on.
- **Stems.** When stems are asked for, songs without them (stems_status other than 'done') are
  left out, with a warning that says how many.
- **Workers.** Each DataLoader worker opens the lake itself (LakeAudio holds only a path):
  Lance handles are not fork-safe, and with workers the loaders use the 'spawn' start method
  (``multiprocessing_context``), so no Lance handle or thread pool is ever forked.
- **Distributed.** Datasets are map-style, so under DDP Lightning gives each rank its own shard
  through a DistributedSampler (disjoint, the same size on every rank).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import lightning as L
from torch.utils.data import DataLoader

from songlake.schema import Lake
from songlake.schema.errors import LakeError
from songlake.trainer import conditioning as cond
from songlake.trainer import splits as split_schemes
from songlake.trainer.audio import LakeAudio
from songlake.trainer.dataset import SongClips, collate
from songlake.trainer.selection import DEFAULT_QUERY, Selection, select
from songlake.schema.stems import STEMS

log = logging.getLogger(__name__)


class SonglakeDataModule(L.LightningDataModule):
    """Train, validation and test loaders over a SQL slice of a lake (see the module docstring)."""

    def __init__(self, lake: str | Path, query: str = DEFAULT_QUERY, version: int | str | None = None, *,
                 clip_seconds: float = 10.0, sample_rate: int = 44100, mix: bool = True,
                 stems: Sequence[str] = (), conditioning: Sequence[str] = (), frame_rate: float = 50.0,
                 batch_size: int = 8, num_workers: int = 0, split_name: str = "default", seed: int = 0,
                 fractions: Sequence[float] = split_schemes.DEFAULT_FRACTIONS,
                 multiprocessing_context: str | None = "spawn", persistent_workers: bool = True,
                 duplicates: bool = False):
        super().__init__()
        for stem in stems:
            if stem not in STEMS:
                raise ValueError(f"unknown stem {stem!r}; stems are {', '.join(STEMS)}")
        cond.check(conditioning)
        fractions = split_schemes.check_scheme(split_name, fractions)
        self.lake = Lake.open(lake)
        self.version = self.lake.resolve(version)
        self.tag = version if isinstance(version, str) and not version.lstrip("-").isdigit() else None
        self.save_hyperparameters()
        self.hparams.update(lake=str(self.lake.root), version=self.version, stems=list(stems),
                            conditioning=list(conditioning), fractions=list(fractions))
        self.selection: Selection | None = None
        self.datasets: dict[str, SongClips] = {}

    # --- Lightning's hooks ----------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Store the split scheme's assignments (runs in one process only)."""
        hp = self.hparams
        split_schemes.assign(self.lake, hp.split_name, hp.seed, hp.fractions, version=self.version)

    def setup(self, stage: str | None = None) -> None:
        if self.selection is not None:
            return
        hp = self.hparams
        selection = select(self.lake, hp.query, self.version, split_name=hp.split_name, seed=hp.seed,
                           fractions=tuple(hp.fractions), duplicates=hp.get("duplicates", False))
        songs = selection.songs
        if hp.stems:
            with_stems = [s for s in songs if s.get("stems_status") == "done"]
            if len(with_stems) < len(songs):
                log.warning("%d of %d selected songs have no stems (stems_status is not 'done') and are left out; "
                            "`songlake separate --missing` separates them", len(songs) - len(with_stems), len(songs))
            songs = with_stems
        if not songs:
            raise LakeError(f"the query selects no songs{' with stems' if hp.stems else ''} at lake version "
                            f"{self.version}: {hp.query}")
        self.selection = Selection(selection.lake, selection.version, self.tag, selection.query,
                                   selection.split_name, selection.seed, selection.fractions, songs,
                                   selection.duplicates, selection.duplicates_left_out)
        audio = LakeAudio(self.lake.root, self.version)
        for split in split_schemes.SPLITS:
            self.datasets[split] = SongClips(
                audio, self.selection.of_split(split), clip_seconds=hp.clip_seconds, sample_rate=hp.sample_rate,
                mix=hp.mix, stems=hp.stems, conditioning=hp.conditioning, frame_rate=hp.frame_rate,
                random_start=(split == "train"))
        log.info("songlake data at lake version %d: %s", self.version,
                 ", ".join(f"{split} {len(ds.songs)} songs / {len(ds)} clips" for split, ds in self.datasets.items()))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    # --- checkpoints ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint records of the data: enough to read exactly the same songs again."""
        state = {"lake": str(self.lake.root), "lake_version": self.version, "tag": self.tag,
                 "query": self.hparams.query,
                 "split": {"name": self.hparams.split_name, "seed": self.hparams.seed,
                           "fractions": list(self.hparams.fractions)}}
        if self.selection is not None:
            state["counts"] = {split: len(ds.songs) for split, ds in self.datasets.items()}
            state["clips"] = {split: len(ds) for split, ds in self.datasets.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("lake_version") != self.version or state.get("query") != self.hparams.query:
            raise LakeError(
                f"the checkpoint was trained on lake version {state.get('lake_version')} with query "
                f"{state.get('query')!r}, but this data module reads version {self.version} with "
                f"{self.hparams.query!r}; build it with version={state.get('lake_version')} to resume")

    # --- helpers --------------------------------------------------------------------------------

    def _loader(self, split: str, shuffle: bool = False, drop_last: bool = False) -> DataLoader:
        if not self.datasets:
            self.setup()
        dataset = self.datasets[split]
        workers = self.hparams.num_workers
        drop_last = drop_last and len(dataset) >= self.hparams.batch_size  # a tiny train set still trains
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=shuffle, drop_last=drop_last,
                          num_workers=workers, collate_fn=collate,
                          multiprocessing_context=self.hparams.multiprocessing_context if workers else None,
                          persistent_workers=bool(workers) and self.hparams.persistent_workers,
                          pin_memory=False)
