"""Separation throughput and memory with the real htdemucs architecture, randomly initialised.

    .venv/bin/python bench/separate.py [--seconds 30] [--device auto] [--batch 1 2]

No weights are needed or downloaded: speed and memory do not depend on the weights' values. The
model is demucs' HTDemucs class with the released htdemucs' configuration (7.8 s segments,
44.1 kHz stereo, ~42 M parameters). The audio streams in as 10 s blocks of noise, as the
pipeline's decoder hands it over, and the stems come out in 30 s parts.

Prints, per batch size (windows per forward pass), each measured in its own process so that
peaks compare: audio seconds, wall time, throughput as a multiple of real time, the process's
peak RSS and, on CUDA, the peak GPU memory torch allocated. A warm-up window runs first and is
not timed. Default batch sizes: 1 2 on CPU, 1 4 8 16 on a GPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import torch
from demucs.htdemucs import HTDemucs

from songlake.udfs.separation import SeparationSettings, Separator, pick_device

BLOCK_SECONDS = 10.0


def htdemucs() -> HTDemucs:
    """The released htdemucs' architecture (signature 955717e8), random weights."""
    return HTDemucs(sources=["drums", "bass", "other", "vocals"], audio_channels=2, samplerate=44100,
                    segment=Fraction(39, 5), channels=48, growth=2, depth=4, nfft=4096, cac=True,
                    dconv_mode=3, dconv_depth=2, dconv_comp=8, bottom_channels=512,
                    t_layers=5, t_heads=8, t_hidden_scale=4.0, t_emb="sin")


def blocks(seconds: float, samplerate: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(0)
    left = int(seconds * samplerate)
    while left > 0:
        n = min(left, int(BLOCK_SECONDS * samplerate))
        yield (0.1 * rng.standard_normal((2, n))).astype(np.float32)
        left -= n


def child(seconds: float, device: str, batch: int) -> None:
    torch.manual_seed(0)
    model = htdemucs().eval()
    separator = Separator(model, SeparationSettings(batch_size=batch), pick_device(device))
    cuda = separator.device.type == "cuda"
    for _ in separator.separate(blocks(1.0, model.samplerate)):  # warm-up: one window
        pass
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    samples = 0
    started = time.perf_counter()
    for parts in separator.separate(blocks(seconds, model.samplerate)):
        samples += parts["vocals"].shape[1]
    wall = time.perf_counter() - started
    print(json.dumps({
        "batch": batch, "audio_s": samples / model.samplerate, "wall_s": wall,
        "x_realtime": samples / model.samplerate / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "device": str(separator.device),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="audio seconds per run")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--batch", type=int, nargs="+", help="batch sizes (default: 1 2 on CPU, 1 4 8 16 on GPU)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.seconds, args.device, args.child)
        return
    device = pick_device(args.device)
    batches = args.batch or ([1, 2] if device.type == "cpu" else [1, 4, 8, 16])
    print(f"htdemucs architecture (random weights) on {device}, {args.seconds:g} s of audio per run")
    print(f"{'batch':>5} {'audio s':>8} {'wall s':>8} {'x real time':>12} {'peak RSS MB':>12} {'peak GPU MB':>12}")
    for batch in batches:
        run = subprocess.run([sys.executable, __file__, "--child", str(batch), "--seconds", str(args.seconds),
                              "--device", str(device)], check=False, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{batch:>5} failed: {run.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        gpu = f"{r['peak_cuda_mb']:.0f}" if r["peak_cuda_mb"] is not None else "-"
        print(f"{batch:>5} {r['audio_s']:>8.1f} {r['wall_s']:>8.1f} {r['x_realtime']:>12.2f} "
              f"{r['peak_rss_mb']:>12.0f} {gpu:>12}")


if __name__ == "__main__":
    main()
