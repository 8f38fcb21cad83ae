"""Training from the lake: Lance -> PyTorch, the Lightning DataModule, reference models, exports.

- ``SonglakeDataModule`` (datamodule.py): train / valid / test loaders over a SQL slice of the lake
  at a pinned version; batches of mix and stem clips with conditioning on the clip's clock.
- ``select`` (selection.py): the slice and its split; ``splits``: artist-disjoint, seeded splits
  stored in the lake; ``LakeAudio`` (audio.py): sample-exact clips of mix and stems.
- ``SongClips`` and ``collate`` (dataset.py); ``conditioning``: the analysis as frame tensors.
- ``ClipModel`` (models.py): a small reference model; ``train`` (train.py): `songlake train`.
- ``export`` (export/): audiocraft, stable-audio, Hugging Face datasets and webdataset folders;
  ``describe``: text descriptions of songs from their analysis.

Import the submodules directly; this package imports nothing so that `import songlake.trainer`
stays cheap (torch and Lightning load with the modules that need them).
"""
