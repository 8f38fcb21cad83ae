"""Export as WebDataset tar shards: FLAC audio paired with JSON metadata.

Layout under the export folder::

    shards/<split>-000000.tar, <split>-000001.tar, ...   shard_size samples each
    export.json                                          lists each split's shards

What WebDataset expects (webdataset's ``tariterators``): a sample is the run of consecutive tar
members that share a key, the key being the member's path up to the first dot of its base
name and the rest its field ('abc_001.vocals.flac' is field 'vocals.flac' of sample 'abc_001').
So names hold no dot, and a sample's members are written together. Each sample has:

- ``<name>.flac``: the mix, written first, because stable-audio-tools' WebDataset loader takes
  the first member whose field ends in an audio extension as the audio (and 'vocals.flac' would
  match too);
- ``<name>.json``: the clip's metadata record (MusicInfo's fields, songlake's, ``prompt`` for
  stable-audio-tools' text conditioner) and ``song``: the song's whole songs-view row;
- ``<name>.<stem>.flac`` for each stem asked for.

Shards are POSIX (pax) tar files written with the standard library; members carry the
export's time as mtime and no owner, so the shards do not depend on who wrote them.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

from songlake.trainer.export._common import SPLITS, Clip, Options, Walk, flac_bytes, read, record


def write(out: Path, walk: Walk) -> dict:
    """Write the shards split by split; return the layout with each split's shard list."""
    folder = out / "shards"
    folder.mkdir(parents=True, exist_ok=True)
    mtime = int(time.time())
    shards: dict[str, list[str]] = {split: [] for split in SPLITS}
    for split in SPLITS:
        tar, in_shard = None, 0
        try:
            for clip in walk.items(split):
                if tar is None or in_shard == walk.options.shard_size:
                    if tar is not None:
                        tar.close()
                    path = folder / f"{split}-{len(shards[split]):06d}.tar"
                    tar, in_shard = tarfile.open(path, "w", format=tarfile.PAX_FORMAT), 0
                    shards[split].append(str(path.relative_to(out)))
                for member, data in sample(clip, walk.audio, walk.options):
                    _add(tar, f"{clip.name}.{member}", data, mtime)
                in_shard += 1
        finally:
            if tar is not None:
                tar.close()
    return {"shards": shards, "shard_size": walk.options.shard_size,
            "fields": ["flac", "json"] + [f"{stem}.flac" for stem in walk.options.stems]}


def sample(clip: Clip, audio, options: Options) -> list[tuple[str, bytes]]:
    """The (field, bytes) members of one sample, the mix first."""
    tracks = read(audio, clip, options)
    info = record(clip, options)
    info |= {"prompt": info["description"], "song": clip.song}
    members = [("flac", flac_bytes(tracks["mix"], options.sample_rate)),
               ("json", json.dumps(info, ensure_ascii=False, default=str).encode("utf-8"))]
    members += [(f"{stem}.flac", flac_bytes(tracks[stem], options.sample_rate)) for stem in options.stems]
    return members


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    member = tarfile.TarInfo(name)
    member.size, member.mtime, member.mode = len(data), mtime, 0o444
    tar.addfile(member, io.BytesIO(data))
