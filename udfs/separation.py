"""Source separation: a song's stream of samples in, its four stems out, part by part.

Conventions: stems are ``STEMS`` = vocals, drums, bass, other (this order everywhere), float32
shaped (channels, samples) at the model's sample rate (44100 Hz stereo for htdemucs); levels in
dBFS, loudness in LUFS; times in seconds.

Method: Demucs (demucs 4.1.0's own model classes and weights) run the way
``demucs.apply.apply_model`` runs it, but on a stream. Windows of ``segment`` seconds (the
model's training length by default: 7.8 s for htdemucs) start every ``(1 - overlap)`` of a
window; ``batch_size`` windows go through the model in one forward pass under
``torch.inference_mode``; outputs are overlap-added with demucs' triangular transition weights;
samples are handed on as soon as no later window overlaps them and emitted in parts of
``part_seconds``. So memory is bounded by the window, batch and part sizes, not by the song's
length, and the stems equal apply_model's on the whole song. ``shifts`` > 0 averages that many
passes over the song delayed by random amounts up to half a second (demucs' shift trick); the
delays come from a fixed seed, so a song always separates to the same stems. A bag of models
(htdemucs_ft) averages its members with the bag's per-source weights. A model whose sources go
beyond the four (htdemucs_6s: guitar, piano) has the extra ones summed into ``other``.

Weights are found by demucs' loaders in a local folder (``model_dir``, demucs' ``--repo``
layout), else in the Hugging Face or torch hub cache, else downloaded, but only when the hub
answers at once; otherwise ``WeightsUnavailable`` says how to provide them (never a hang).

Stem statistics stream too: ``StemMeter`` measures EBU R128 integrated loudness with the
K-weighting filter's state carried from part to part, the peak, the RMS level and how much of
the stem is active, so no whole-song array is needed.
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import av
import numpy as np
import torch
from demucs import pretrained
from demucs.apply import BagOfModels
from demucs.htdemucs import HTDemucs
from scipy.signal import lfilter
from torch import nn

from songlake.udfs import _separation_weights as weights
from songlake.udfs._separation_windows import Lane, SampleQueue
from songlake.udfs.audio import UnreadableAudio
from songlake.udfs.quality import _k_weighting, gated_loudness

STEMS = ("vocals", "drums", "bass", "other")
SHIFT_SEED = 0  # seeds the random shifts: equal input, equal stems
MAX_SHIFT_SECONDS = 0.5  # demucs' largest random shift
ACTIVE_DBFS = -40.0  # a 100 ms frame is active when its RMS (all channels) is above this
HOP_SECONDS = 0.1  # loudness hops and activity frames
INSTRUMENTAL_ACTIVE_RATIO = 0.05  # vocals active in fewer frames than this: instrumental
INSTRUMENTAL_BELOW_MIX_LU = 20.0  # or vocals this much quieter than the mix: only bleed

_ENV = {  # field -> (variable, parser)
    "model": ("SONGLAKE_DEMUCS_MODEL", str),
    "model_dir": ("SONGLAKE_MODEL_DIR", Path),
    "device": ("SONGLAKE_DEVICE", str),
    "segment": ("SONGLAKE_SEGMENT", float),
    "overlap": ("SONGLAKE_OVERLAP", float),
    "shifts": ("SONGLAKE_SHIFTS", int),
    "batch_size": ("SONGLAKE_SEPARATION_BATCH", int),
}


class WeightsUnavailable(RuntimeError):
    """The model's weights are not on this machine and cannot be downloaded. The message says how
    to provide them."""


@dataclass(frozen=True)
class SeparationSettings:
    """How stems are made. ``from_env`` reads each field from its SONGLAKE_ variable."""

    model: str = "htdemucs"  # a demucs model name (htdemucs, htdemucs_ft, ...) or demucs_unittest
    model_dir: Path | None = None  # folder of <signature>.th + <name>.yaml (demucs --repo); None: caches
    device: str = "auto"  # auto: cuda, then mps, then cpu; or cpu, cuda, cuda:1, mps
    segment: float | None = None  # seconds per model window; None: the model's training length
    overlap: float = 0.25  # fraction of a window shared with the next
    shifts: int = 0  # random-shift passes averaged (0: one pass, no shift)
    batch_size: int = 4  # windows per forward pass
    part_seconds: float = 30.0  # stems come out in parts of this many seconds

    def __post_init__(self) -> None:
        if self.segment is not None and self.segment <= 0:
            raise ValueError(f"segment must be positive seconds or None, got {self.segment}")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap is a fraction of a window in [0, 1), got {self.overlap}")
        if self.shifts < 0:
            raise ValueError(f"shifts must be 0 or more, got {self.shifts}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.part_seconds <= 0:
            raise ValueError(f"part_seconds must be positive, got {self.part_seconds}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SeparationSettings:
        env = os.environ if env is None else env
        values = {}
        for field, (name, parse) in _ENV.items():
            raw = env.get(name, "").strip()
            if raw:
                try:
                    values[field] = parse(raw)
                except ValueError:
                    raise ValueError(f"{name} must be a {parse.__name__}, got {raw!r}") from None
        return cls(**values)

    def key(self) -> str:
        """The label stored with the stems: the model's name."""
        return self.model


def pick_device(requested: str = "auto") -> torch.device:
    """The torch device to separate on; ValueError when the requested one is not there."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ValueError(f"unknown device {requested!r} (auto, cpu, cuda, cuda:N, mps)") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {requested!r}: torch sees {torch.cuda.device_count()} CUDA devices "
                         "(a CPU-only torch build, or CUDA_VISIBLE_DEVICES?)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r}: MPS is not available on this machine")
    return device


def load_model(settings: SeparationSettings) -> nn.Module:
    """The Demucs model (or bag of models) in eval mode, loaded once per process."""
    return _load(settings.model, settings.model_dir)


@lru_cache(maxsize=4)
def _load(name: str, model_dir: Path | None) -> nn.Module:
    return _find_weights(name, model_dir).eval()


def _find_weights(name: str, model_dir: Path | None) -> nn.Module:
    if model_dir is not None:
        if not model_dir.is_dir():
            raise WeightsUnavailable(_no_weights(name, f"SONGLAKE_MODEL_DIR {model_dir} is not a folder", model_dir))
        return _attempt(name, model_dir, "", partial(pretrained.get_model, name, repo=model_dir))
    if name == "demucs_unittest":
        # untrained and randomly initialised: seeded, so every process separates the same way
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return pretrained.demucs_unittest()
    for cached in (weights.from_hf_cache, weights.from_torch_hub_cache):
        model = _attempt(name, None, "cached weights unreadable: ", partial(cached, name))
        if model is not None:
            return model
    if not weights.hub_reachable():
        raise WeightsUnavailable(_no_weights(name, f"not in the caches and {weights.HUB_HOST} is unreachable "
                                                   "(offline, or HF_HUB_OFFLINE is set)", None))
    return _attempt(name, None, "download failed: ", partial(pretrained.get_model, name))


def _attempt(name: str, model_dir: Path | None, context: str,
             load: Callable[[], nn.Module | None]) -> nn.Module | None:
    """Run one of demucs' loaders; any failure (missing, partial or corrupt files, no network,
    an unknown name, or demucs' SystemExit when diffq is missing) means no usable weights."""
    try:
        return load()
    except (Exception, SystemExit) as exc:
        raise WeightsUnavailable(_no_weights(name, f"{context}{type(exc).__name__}: {exc}", model_dir)) from exc


def _no_weights(name: str, why: str, model_dir: Path | None) -> str:
    if model_dir is not None:
        looked = f"the folder {model_dir}"
    else:
        looked = (f"the Hugging Face cache {weights.hf_cache_folder()} ({weights.hf_repo_id(name)[0]}) and "
                  f"the torch hub cache {weights.torch_hub_folder()}")
    return (f"no weights for Demucs model {name!r}: {why}. Looked in {looked}. To provide them: on a machine "
            f"with internet run `python -c \"from demucs.pretrained import get_model; get_model('{name}')\"` "
            "and copy its Hugging Face cache (~/.cache/huggingface/hub) or torch hub cache "
            "(~/.cache/torch/hub/checkpoints) here; or set SONGLAKE_MODEL_DIR to a folder holding the model's "
            f"<signature>.th files and {name}.yaml (demucs' --repo layout); or choose another model with "
            "SONGLAKE_DEMUCS_MODEL.")


class Separator:
    """Separates streams of samples into ``STEMS`` with one loaded model. Reusable across songs."""

    def __init__(self, model: nn.Module, settings: SeparationSettings, device: torch.device | None = None) -> None:
        self._settings = settings
        self.device = device if device is not None else pick_device(settings.device)
        if isinstance(model, BagOfModels):
            self._members, self._member_weights = list(model.models), np.asarray(model.weights, np.float64)
        else:
            self._members, self._member_weights = [model], np.ones((1, len(model.sources)))
        for member in self._members:
            member.to(self.device).eval()
            if isinstance(member, HTDemucs) and settings.segment is not None and settings.segment > member.segment:
                raise ValueError(f"segment {settings.segment} s is longer than the {float(member.segment):g} s "
                                 "this HTDemucs was trained on; it cannot take longer windows")
        self.samplerate = int(model.samplerate)
        self.channels = int(model.audio_channels)
        self._to_stems = _stem_matrix(list(model.sources))
        self._part = max(1, round(settings.part_seconds * self.samplerate))

    def separate(self, blocks: Iterable[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """Stems for a stream of float32 (channels, n) blocks at ``samplerate``, any n, in order.

        Yields dicts stem -> float32 (channels, m): consecutive parts of exactly ``part_seconds``
        (the last one shorter) whose concatenation is as long as the input."""
        lanes, mixes = self._lanes()
        parts = SampleQueue()
        for block in blocks:
            block = self._checked(block)
            for start in range(0, block.shape[1], self._part):  # a huge block cannot pile up output
                for lane in lanes:
                    lane.push(block[:, start:start + self._part])
                yield from self._parts(lanes, mixes, parts, final=False)
        for lane in lanes:
            lane.finish()
        yield from self._parts(lanes, mixes, parts, final=True)

    def separate_array(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """Whole stems, float32 (channels, n), for a whole (channels, n) array."""
        parts = list(self.separate([audio]))
        if not parts:
            return {stem: np.zeros((self.channels, 0), np.float32) for stem in STEMS}
        return {stem: np.concatenate([part[stem] for part in parts], axis=1) for stem in STEMS}

    def _lanes(self) -> tuple[list[Lane], list[np.ndarray]]:
        """One lane per member and shift, each with its matrix from model sources to STEMS that
        also weighs it: bag weights over their per-source totals, averaged over the shifts."""
        rng = random.Random(SHIFT_SEED)
        max_shift = int(MAX_SHIFT_SECONDS * self.samplerate)
        totals = self._member_weights.sum(axis=0)
        lanes, mixes = [], []
        s = self._settings
        for member, member_weights in zip(self._members, self._member_weights):
            # the draws apply_model makes, in its order: a delay of max_shift - offset
            delays = [max_shift - rng.randint(0, max_shift) for _ in range(s.shifts)] or [0]
            for delay in delays:
                lanes.append(Lane(member, s.segment, s.overlap, s.batch_size, self.device, delay))
                mixes.append((self._to_stems * (member_weights / totals / len(delays))).astype(np.float32))
        return lanes, mixes

    def _parts(self, lanes: list[Lane], mixes: list[np.ndarray], parts: SampleQueue,
               final: bool) -> Iterator[dict[str, np.ndarray]]:
        count = min(lane.ready.size for lane in lanes)
        if count:
            parts.put(sum(np.einsum("ts,scn->tcn", mix, lane.ready.take(count)) for lane, mix in zip(lanes, mixes)))
        while parts.size >= self._part or (final and parts.size):
            stems = parts.take(min(self._part, parts.size))
            yield dict(zip(STEMS, stems))

    def _checked(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"blocks must be shaped (channels={self.channels}, samples), got {block.shape} "
                             "(transposed, or mono? decode_stream yields the right shape)")
        return block


def _stem_matrix(sources: list[str]) -> np.ndarray:
    """(len(STEMS), len(sources)) 0/1 matrix mapping the model's sources to STEMS by name;
    sources beyond the four go to 'other'."""
    missing = [stem for stem in STEMS if stem not in sources]
    if missing:
        raise ValueError(f"the model separates {sources}; songlake needs {list(STEMS)} (missing {missing})")
    matrix = np.zeros((len(STEMS), len(sources)))
    for column, source in enumerate(sources):
        matrix[STEMS.index(source) if source in STEMS else STEMS.index("other"), column] = 1.0
    return matrix


def decode_stream(data: bytes, samplerate: int, channels: int = 2,
                  block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """A file's bytes (any format PyAV reads) as float32 (channels, n) blocks of block_seconds
    (the last shorter) at samplerate, decoded as they are needed. Mono is duplicated to stereo,
    more channels are mixed down. Raises UnreadableAudio when the bytes hold no audio."""
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    block = max(1, round(block_seconds * samplerate))
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.error.FFmpegError:
        raise UnreadableAudio("not audio: no audio format recognised in the content") from None
    with container:
        if not container.streams.audio:
            raise UnreadableAudio("the file holds no audio stream")
        stream = container.streams.audio[0]
        layout = None if stream.codec_context.channels <= 2 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=samplerate)
        pending = SampleQueue()
        for frame in _frames(container, stream):
            for out in resampler.resample(frame):
                pending.put(_with_channels(out.to_ndarray(), channels))
            while pending.size >= block:
                yield pending.take(block)
        for out in resampler.resample(None):
            pending.put(_with_channels(out.to_ndarray(), channels))
        while pending.size:
            yield pending.take(min(block, pending.size))


def _frames(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[av.AudioFrame]:
    """Decoded frames; a packet that fails to decode is skipped (ingest already vetted the file)."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.FFmpegError:
            continue


def _with_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    samples = samples.astype(np.float32, copy=False)
    if samples.shape[0] == channels:
        return samples
    if samples.shape[0] == 1:
        return np.repeat(samples, channels, axis=0)
    return samples.mean(axis=0, keepdims=True)


@dataclass(frozen=True)
class StemStats:
    stem: str
    loudness_lufs: float | None  # EBU R128 integrated; None for silence
    peak_dbfs: float | None  # None for digital silence
    active_ratio: float  # share of 100 ms frames whose RMS is above ACTIVE_DBFS (-40 dBFS)
    rms_dbfs: float | None  # RMS over the whole stem and all channels; None for digital silence


class StemMeter:
    """Statistics of one stem fed part by part, in order; nothing song-long is kept but one
    number per 100 ms hop."""

    def __init__(self, stem: str, samplerate: int) -> None:
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r} (one of {STEMS})")
        self.stem = stem
        self._filters = _k_weighting(samplerate)
        self._filter_state: list[np.ndarray] | None = None  # per biquad, (channels, 2)
        self._hop = int(HOP_SECONDS * samplerate)
        self._carry: np.ndarray | None = None  # (2, channels, < hop): weighted and plain samples of a partial hop
        self._hops: list[np.ndarray] = []  # (2, channels, hops): weighted and plain energy per hop
        self._peak = 0.0
        self._squares = 0.0
        self._count = 0

    def add(self, samples: np.ndarray) -> None:
        """The next part of the stem, (channels, n)."""
        if samples.ndim != 2 or (self._carry is not None and samples.shape[0] != self._carry.shape[1]):
            raise ValueError(f"stem parts are shaped (channels, samples) with the same channels, got {samples.shape}")
        if samples.shape[1] == 0:
            return
        plain = samples.astype(np.float64)
        if self._filter_state is None:
            self._filter_state = [np.zeros((plain.shape[0], 2)) for _ in self._filters]
            self._carry = np.zeros((2, plain.shape[0], 0))
        self._peak = max(self._peak, float(np.abs(plain).max()))
        self._squares += float(np.einsum("cn,cn->", plain, plain))
        self._count += plain.size
        weighted = plain
        for i, (b, a) in enumerate(self._filters):
            weighted, self._filter_state[i] = lfilter(b, a, weighted, axis=1, zi=self._filter_state[i])
        both = np.concatenate([self._carry, np.stack([weighted, plain])], axis=2)
        hops = both.shape[2] // self._hop
        frames = both[:, :, :hops * self._hop].reshape(2, both.shape[1], hops, self._hop)
        self._hops.append(np.einsum("wchs,wchs->wch", frames, frames))
        self._carry = both[:, :, hops * self._hop:]

    def result(self) -> StemStats:
        energy = np.concatenate(self._hops, axis=2) if self._hops else np.zeros((2, 1, 0))
        power = energy[1].sum(axis=0) / (energy.shape[1] * self._hop)  # plain mean square per hop
        with np.errstate(divide="ignore"):
            active = float(np.mean(10 * np.log10(power) > ACTIVE_DBFS)) if len(power) else 0.0
        return StemStats(
            stem=self.stem,
            loudness_lufs=gated_loudness(energy[0], self._hop),
            peak_dbfs=float(20 * np.log10(self._peak)) if self._peak > 0 else None,
            active_ratio=active,
            rms_dbfs=float(10 * np.log10(self._squares / self._count)) if self._squares > 0 else None,
        )


def is_instrumental(vocals: StemStats, mix_lufs: float | None) -> bool:
    """Whether a song has no singing, from its vocal stem: instrumental when the stem is silent,
    active in under 5% of its 100 ms frames, or over 20 LU quieter than the mix (what Demucs
    leaves in the vocal stem of an instrumental is bleed, far below the mix)."""
    if vocals.stem != "vocals":
        raise ValueError(f"is_instrumental needs the vocals stem's stats, got {vocals.stem!r}")
    if vocals.loudness_lufs is None or vocals.active_ratio < INSTRUMENTAL_ACTIVE_RATIO:
        return True
    return mix_lufs is not None and vocals.loudness_lufs < mix_lufs - INSTRUMENTAL_BELOW_MIX_LU
