"""The streaming core of ``separation.Separator``: one Demucs model run window by window over a
stream of samples, its windows overlap-added, final samples handed on as soon as no later window
can touch them.

It computes what ``demucs.apply.apply_model(model, mix, shifts=0, split=True, overlap, segment)``
computes on the whole mix, window for window: windows of ``int(samplerate * segment)`` samples
every ``int((1 - overlap) * window)`` samples from offset 0, the last ones shorter; a window the
model wants longer (HTDemucs always takes its training length) is centred in the longer input
with the stream's own samples around it and zeros beyond the stream's ends, and the output
trimmed back; outputs are weighted by demucs' triangular transition window and normalised by the
summed weights. Demucs' random-shift trick (``shifts``) is the same computation on the stream
with ``shift`` zeros in front, those zeros' output dropped.

Memory is what one batch of windows spans plus a window of context, whatever the stream's length.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction

import numpy as np
import torch
from demucs.htdemucs import HTDemucs
from torch import nn


class SampleQueue:
    """Arrays queued end to end along their last axis."""

    def __init__(self) -> None:
        self._items: deque[np.ndarray] = deque()
        self.size = 0  # samples queued

    def put(self, samples: np.ndarray) -> None:
        if samples.shape[-1]:
            self._items.append(samples)
            self.size += samples.shape[-1]

    def take(self, count: int) -> np.ndarray:
        """The first count samples (0 < count <= size) as one contiguous array, removed from the queue."""
        pieces = []
        left = count
        while left:
            head = self._items[0]
            if head.shape[-1] <= left:
                pieces.append(self._items.popleft())
                left -= head.shape[-1]
            else:
                pieces.append(head[..., :left])
                self._items[0] = head[..., left:]
                left = 0
        self.size -= count
        return np.ascontiguousarray(pieces[0]) if len(pieces) == 1 else np.concatenate(pieces, axis=-1)


def transition_weight(window: int) -> np.ndarray:
    """Demucs' overlap-add weight (apply_model, transition_power 1): a triangle peaking at 1 in
    the middle of the window, so overlapping windows cross-fade linearly."""
    ramp = np.concatenate([np.arange(1, window // 2 + 1), np.arange(window - window // 2, 0, -1)])
    return (ramp / ramp.max()).astype(np.float32)


class Lane:
    """One model at one time shift over one stream: push samples, then finish; final output
    samples, shaped (sources, channels, n), collect in ``ready``."""

    def __init__(self, model: nn.Module, segment: float | Fraction | None, overlap: float, batch_size: int,
                 device: torch.device, shift: int = 0) -> None:
        self._model = model
        self._device = device
        self._batch_size = batch_size
        # apply_model's rule: an explicit segment is HTDemucs' input length; otherwise the model says
        self._fixed_input = segment is not None and isinstance(model, HTDemucs)
        self.window = int(model.samplerate * (segment if segment is not None else model.segment))
        self.stride = int((1 - overlap) * self.window)
        if self.stride < 1:
            raise ValueError(f"overlap {overlap} leaves no stride between {self.window}-sample windows")
        self._weight = transition_weight(self.window)
        sources, channels = len(model.sources), model.audio_channels
        self._input = np.zeros((channels, 0), np.float32)
        self._input_start = 0  # stream position of self._input's first sample
        self._received = 0  # samples pushed, the shift's zeros included
        self._ended = False
        self._next = 0  # offset of the next window to run
        self._sum = np.zeros((sources, channels, 0), np.float32)  # weighted outputs from self._done on
        self._norm = np.zeros(0, np.float32)  # their summed weights
        self._done = 0  # stream position up to which output is final and handed on
        self._skip = shift  # output samples still to drop: the shift's zeros
        self.ready = SampleQueue()
        if shift:
            self.push(np.zeros((channels, shift), np.float32))

    def push(self, samples: np.ndarray) -> None:
        self._input = np.concatenate([self._input, samples], axis=1)
        self._received += samples.shape[1]
        self._run()

    def finish(self) -> None:
        self._ended = True
        self._run()

    def _run(self) -> None:
        while windows := self._next_batch():
            self._forward(windows)
            self._release()

    def _model_length(self, length: int) -> int:
        if self._fixed_input:
            return self.window
        valid_length = getattr(self._model, "valid_length", None)
        return valid_length(length) if valid_length is not None else length

    def _next_batch(self) -> list[tuple[int, int]]:
        """(offset, length) of the windows to run now, all with the same model input length: a
        full batch while the stream goes on, whatever is left once it has ended."""
        windows: list[tuple[int, int]] = []
        offset = self._next
        while len(windows) < self._batch_size and offset < self._received:
            length = min(self.window, self._received - offset)
            size = self._model_length(length)
            if not self._ended and (length < self.window or offset - (size - length) // 2 + size > self._received):
                return []  # the window or its context is not all here yet
            if windows and size != self._model_length(windows[0][1]):
                break
            windows.append((offset, length))
            offset += self.stride
        return windows if self._ended or len(windows) == self._batch_size else []

    def _forward(self, windows: list[tuple[int, int]]) -> None:
        size = self._model_length(windows[0][1])
        pads = [(size - length) // 2 for _, length in windows]
        mix = np.stack([self._read(offset - pad, size) for (offset, _), pad in zip(windows, pads)])
        with torch.inference_mode():
            out = self._model(torch.from_numpy(mix).to(self._device)).float().cpu().numpy()
        for (offset, length), pad, estimate in zip(windows, pads, out):
            self._add(offset, estimate[..., pad:pad + length] * self._weight[:length])
        self._next = windows[-1][0] + self.stride

    def _read(self, start: int, size: int) -> np.ndarray:
        """Stream samples [start, start + size), zeros outside the stream."""
        out = np.zeros((self._input.shape[0], size), np.float32)
        lo, hi = max(start, 0), min(start + size, self._received)
        if hi > lo:
            assert lo >= self._input_start, "window context was already released"
            out[:, lo - start:hi - start] = self._input[:, lo - self._input_start:hi - self._input_start]
        return out

    def _add(self, offset: int, weighted: np.ndarray) -> None:
        start, end = offset - self._done, offset - self._done + weighted.shape[-1]
        if end > self._norm.shape[0]:
            grow = end - self._norm.shape[0]
            self._sum = np.concatenate([self._sum, np.zeros(self._sum.shape[:2] + (grow,), np.float32)], axis=-1)
            self._norm = np.concatenate([self._norm, np.zeros(grow, np.float32)])
        self._sum[..., start:end] += weighted
        self._norm[start:end] += self._weight[:weighted.shape[-1]]

    def _release(self) -> None:
        """Hand on the output no later window overlaps, and drop input no later window reads."""
        final = self._received if self._ended and self._next >= self._received else self._next
        count = final - self._done
        out = self._sum[..., :count] / self._norm[:count]
        self._sum, self._norm = self._sum[..., count:].copy(), self._norm[count:].copy()
        self._done = final
        drop = min(self._skip, count)
        self._skip -= drop
        self.ready.put(out[..., drop:])
        # a later short window is centred in a model input of up to a window: half a window of context
        keep_from = max(self._next - self.window, self._input_start)
        self._input = self._input[:, keep_from - self._input_start:].copy()
        self._input_start = keep_from
