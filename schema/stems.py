"""Stems in the lake: each stem of a song is a run of consecutive parts, each part an audio file.

Conventions:

- samples are float32 arrays shaped (channels, n), full scale +-1.0, at the separation model's
  sample rate (44100 Hz for htdemucs), mono or stereo;
- a part is an independent file in the ``stems`` table's blob column, ``part_seconds`` long
  (the last one shorter), so reading a time range decodes only the parts it touches;
- codecs: ``"flac"`` (the default) and ``"wav"`` both store 16-bit integer PCM: its
  quantisation noise, about 96 dB below full scale, is far below a separation model's own
  error, at two thirds the size of 24-bit; FLAC then shrinks it losslessly (to about half for
  music, less for sparse stems). Samples beyond full scale are clipped, and
  ``decode_part(encode_part(x))`` is x rounded to the nearest multiple of 2**-15;
- neither codec has encoder delay or padding, so concatenating decoded parts is sample exact:
  part k starts at ``start_sample`` = the sum of the earlier parts' ``num_samples``;
- a song separated again (another model, or forced) gets a new run of parts, written after the
  old one; readers take the run of the song's newest successful separation (see ``_parts``).
"""

from __future__ import annotations

import io
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, NamedTuple

import av
import numpy as np

from songlake.schema.errors import LakeError
from songlake.schema.lake import Lake, LakeVersion

STEMS = ("vocals", "drums", "bass", "other")  # the order everywhere; equal to udfs.separation.STEMS

# codec -> (container format, encoder, file suffix)
CODECS = {"flac": ("flac", "flac", "flac"), "wav": ("wav", "pcm_s16le", "wav")}
_LAYOUTS = {1: "mono", 2: "stereo"}
_SCALE = 32768.0  # 16-bit PCM: sample = round(x * 2**15), clipped to [-32768, 32767]
_FRAME = 4608  # samples per encoded frame: FLAC's usual block size at 44.1 kHz
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_META = ["song_id", "stem", "model", "part", "start_sample", "num_samples", "sample_rate", "channels", "codec"]


# --- one part: samples <-> file bytes --------------------------------------------------------

def encode_part(samples: np.ndarray, sample_rate: int, codec: str = "flac") -> bytes:
    """Float samples (channels, n) as the bytes of one FLAC (or WAV) file of 16-bit PCM."""
    buffer = io.BytesIO()
    with _Encoder(buffer, sample_rate, _check(samples).shape[0], codec) as encoder:
        encoder.write(samples)
    return buffer.getvalue()


def decode_part(data: bytes) -> np.ndarray:
    """The samples of one part's file bytes, as float32 (channels, n)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.layout.nb_channels
        blocks = [_planar(frame) for frame in container.decode(stream)]
    if not blocks:
        return np.zeros((channels, 0), dtype=np.float32)
    pcm = np.concatenate(blocks, axis=1)
    if pcm.dtype != np.int16:
        raise ValueError(f"a stem part holds {pcm.dtype} samples; songlake writes 16-bit PCM only")
    return pcm.astype(np.float32) / _SCALE


class _Encoder:
    """A 16-bit PCM audio file being written frame by frame, to a path or a binary file object."""

    def __init__(self, target: str | Path | BinaryIO, sample_rate: int, channels: int, codec: str):
        if codec not in CODECS:
            raise ValueError(f"unknown stem codec {codec!r}; songlake writes {', '.join(CODECS)}")
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive whole number of Hz, not {sample_rate!r}")
        if channels not in _LAYOUTS:
            raise ValueError(f"stems are mono or stereo, not {channels} channels (shape (n, channels)? "
                             f"expected (channels, n))")
        container, encoder, _ = CODECS[codec]
        self.channels = channels
        self._out = av.open(str(target) if isinstance(target, Path) else target, "w", format=container)
        self._stream = self._out.add_stream(encoder, rate=int(sample_rate), layout=_LAYOUTS[channels])
        self._stream.format = "s16"
        self._rate = int(sample_rate)

    def write(self, samples: np.ndarray) -> None:
        samples = _check(samples)
        if samples.shape[0] != self.channels:
            raise ValueError(f"a block with {samples.shape[0]} channels in a {self.channels}-channel stem")
        pcm = np.clip(np.round(samples * _SCALE), -32768, 32767).astype(np.int16)
        for start in range(0, pcm.shape[1], _FRAME):
            interleaved = np.ascontiguousarray(pcm[:, start:start + _FRAME].T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=_LAYOUTS[self.channels])
            frame.sample_rate = self._rate
            self._out.mux(self._stream.encode(frame))

    def close(self) -> None:
        self._out.mux(self._stream.encode(None))
        self._out.close()

    def __enter__(self) -> "_Encoder":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self._out.close()


def _check(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise ValueError(f"stem samples are shaped (channels, n), not {samples.shape}")
    if samples.shape[0] not in _LAYOUTS:
        raise ValueError(f"stems are mono or stereo, not {samples.shape[0]} channels "
                         f"(shape {samples.shape}: (n, channels)? expected (channels, n))")
    if not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"stem samples are floats in [-1, 1], not {samples.dtype}")
    if not np.isfinite(samples).all():
        raise ValueError("stem samples contain NaN or infinity (a diverged model?)")
    return samples


def _planar(frame: av.AudioFrame) -> np.ndarray:
    array = frame.to_ndarray()
    if frame.format.is_planar:
        return array
    return array.reshape(-1, frame.layout.nb_channels).T


# --- rows of the stems table -----------------------------------------------------------------

def stem_rows(song_id: str, stem: str, model: str, parts: Iterable[np.ndarray], sample_rate: int,
              codec: str = "flac") -> Iterator[dict]:
    """Rows for the ``stems`` table, one per part, encoded as they come (a stream of parts)."""
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; stems are {', '.join(STEMS)}")
    start = 0
    for number, samples in enumerate(parts):
        samples = _check(samples)
        yield {
            "song_id": song_id, "stem": stem, "model": model, "part": number, "start_sample": start,
            "num_samples": samples.shape[1], "sample_rate": int(sample_rate), "channels": samples.shape[0],
            "codec": codec, "data": encode_part(samples, sample_rate, codec),
        }
        start += samples.shape[1]


def has_stems(lake: Lake, song_id: str, version: int | str | None = None) -> bool:
    """Whether the song has stem parts at a lake version."""
    ds = _stems_table(lake, lake.state(version))
    return ds is not None and ds.count_rows(filter=f"song_id = '{_quote(song_id)}'") > 0


# --- reading ---------------------------------------------------------------------------------

def read_stem(lake: Lake, song_id: str, stem: str, start: float = 0.0, end: float | None = None,
              version: int | str | None = None) -> np.ndarray:
    """One stem of a song from start to end seconds (end None: to the song's end), as float32
    (channels, n). Only the parts that overlap [start, end) are read and decoded."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"the range [{start}, {end}) is not a time range in seconds from the song's start")
    ds, parts = _parts(lake, song_id, stem, version)
    rate, channels = parts[0]["sample_rate"], parts[0]["channels"]
    total = parts[-1]["start_sample"] + parts[-1]["num_samples"]
    first = min(round(start * rate), total)
    last = total if end is None else min(round(end * rate), total)
    wanted = [p for p in parts if p["start_sample"] < last and p["start_sample"] + p["num_samples"] > first]
    out = np.zeros((channels, last - first), dtype=np.float32)
    for part, blob in zip(wanted, ds.take_blobs("data", ids=[p["_rowid"] for p in wanted])):
        samples = _decoded(part, blob)
        lo, hi = max(first, part["start_sample"]), min(last, part["start_sample"] + part["num_samples"])
        out[:, lo - first:hi - first] = samples[:, lo - part["start_sample"]:hi - part["start_sample"]]
    return out


class StemLayout(NamedTuple):
    """A stem's shape, from its parts' metadata alone (nothing is read or decoded)."""

    sample_rate: int
    channels: int
    num_samples: int  # per channel, the whole stem
    parts: tuple[tuple[int, int], ...]  # (start_sample, num_samples) of each part, in time order


def stem_layout(lake: Lake, song_id: str, stem: str, version: int | str | None = None) -> StemLayout:
    """The rate, channels, length and part boundaries of a song's stem, so a reader can ask
    read_stem for exactly the parts a sample range touches (the server's byte-range WAV).
    LakeError when the song has no such stem, ValueError for an unknown stem name."""
    _, parts = _parts(lake, song_id, stem, version)
    return StemLayout(parts[0]["sample_rate"], parts[0]["channels"], _length(parts),
                      tuple((p["start_sample"], p["num_samples"]) for p in parts))


def export_stems(lake: Lake, song_id: str, out_dir: str | Path, codec: str = "flac",
                 version: int | str | None = None) -> list[Path]:
    """Write each stem of a song to ``<out_dir>/<song_id>_<stem>.<flac|wav>``, part by part, so
    memory holds one part at a time; returns the paths in STEMS order. LakeError when the song
    has no stems. Each file appears complete or not at all (written aside, then renamed)."""
    if codec not in CODECS:
        raise ValueError(f"unknown stem codec {codec!r}; songlake writes {', '.join(CODECS)}")
    found = [_parts(lake, song_id, stem, version) for stem in STEMS]  # fails before writing anything
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, (ds, parts) in zip(STEMS, found):
        path = out_dir / f"{song_id}_{stem}.{CODECS[codec][2]}"
        partial = path.with_name(f".{path.name}.partial")
        with _Encoder(partial, parts[0]["sample_rate"], parts[0]["channels"], codec) as encoder:
            for part, blob in zip(parts, ds.take_blobs("data", ids=[p["_rowid"] for p in parts])):
                encoder.write(_decoded(part, blob))
        os.replace(partial, path)
        paths.append(path)
    return paths


def _decoded(part: dict, blob) -> np.ndarray:
    with blob:
        samples = decode_part(blob.read())
    if samples.shape != (part["channels"], part["num_samples"]):
        raise LakeError(f"stem part {part['part']} of {part['song_id']} ({part['stem']}) decodes to "
                        f"{samples.shape}, not ({part['channels']}, {part['num_samples']}): the part is damaged")
    return samples


def _parts(lake: Lake, song_id: str, stem: str, version: int | str | None):
    """The stems dataset and the rows (metadata and _rowid) of the song's current run of parts.

    A run starts at part 0; runs are kept in write order, which Lance scans preserve. The current
    run is the newest one of the model of the song's newest successful separation whose length
    matches that separation's duration (a run cut short by a failed later attempt is passed
    over); without a recorded separation, the newest run."""
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; stems are {', '.join(STEMS)}")
    state = lake.state(version)
    ds = _stems_table(lake, state)
    runs = current_runs(lake, state, song_id, ds, stems=(stem,))
    if stem not in runs:
        raise LakeError(f"song {song_id} has no {stem} stem at lake version {state.version} "
                        f"(the songs view's stems_status says whether it was separated)")
    return ds, runs[stem]


def current_runs(lake: Lake, state: LakeVersion, song_id: str, ds=None,
                 stems: Iterable[str] = STEMS) -> dict[str, list[dict]]:
    """The current run of parts (metadata rows with _rowid, see ``_parts``) of each of a song's
    stems at a lake state, read in one scan; stems the song lacks are absent. ``ds`` is the stems
    table at that state when the caller holds it open already (a training reader)."""
    ds = ds if ds is not None else _stems_table(lake, state)
    stems = tuple(stems)
    wanted = " OR ".join(f"stem = '{_quote(stem)}'" for stem in stems)
    rows = [] if ds is None else ds.to_table(
        columns=_META, filter=f"song_id = '{_quote(song_id)}' AND ({wanted})", with_row_id=True,
    ).to_pylist()
    if not rows:
        return {}
    model, duration = _separation(lake, song_id, state)
    return {stem: _choose([row for row in rows if row["stem"] == stem], model, duration)
            for stem in stems if any(row["stem"] == stem for row in rows)}


def _choose(rows: list[dict], model: str | None, duration: float | None) -> list[dict]:
    """The current run among one stem's rows (see ``_parts``), checked for consistency."""
    runs: list[list[dict]] = []
    for row in rows:
        if row["part"] == 0 or not runs:
            runs.append([])
        runs[-1].append(row)
    candidates = [run for run in runs if model is None or run[0]["model"] == model] or runs
    if duration is not None:
        exact = [run for run in candidates if abs(_length(run) / run[0]["sample_rate"] - duration) < 1e-3]
        candidates = exact or candidates
    run = candidates[-1]
    for number, (row, previous) in enumerate(zip(run, [None] + run[:-1])):
        expected = 0 if previous is None else previous["start_sample"] + previous["num_samples"]
        if row["part"] != number or row["start_sample"] != expected or \
                (row["sample_rate"], row["channels"]) != (run[0]["sample_rate"], run[0]["channels"]):
            raise LakeError(f"the {row['stem']} stem of {row['song_id']} has inconsistent parts (part {row['part']} "
                            f"at sample {row['start_sample']}); separate the song again with --force")
    return run


def _length(run: list[dict]) -> int:
    return run[-1]["start_sample"] + run[-1]["num_samples"]


def _separation(lake: Lake, song_id: str, state: LakeVersion) -> tuple[str | None, float | None]:
    """The model and duration of the song's newest successful separation, (None, None) if none."""
    if "separations" not in state.table_versions:
        return None, None
    rows = lake.table_at("separations", state).to_table(
        columns=["model", "duration", "separated_at"],
        filter=f"song_id = '{_quote(song_id)}' AND status = 'done'").to_pylist()
    if not rows:
        return None, None
    newest = sorted(rows, key=lambda r: (r["separated_at"] is not None, r["separated_at"] or _EPOCH))[-1]
    return newest["model"], newest["duration"]


def _stems_table(lake: Lake, state: LakeVersion):
    return lake.table_at("stems", state) if "stems" in state.table_versions else None


def _quote(value: str) -> str:
    return value.replace("'", "''")
