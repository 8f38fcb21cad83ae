"""Input validation shared by the analysis functions: one message for one mistake."""

from __future__ import annotations

import numpy as np


def require_mono(samples: np.ndarray, sample_rate: int, expected_rate: int, what: str, min_frames: int = 1) -> None:
    """Raise ValueError naming the likely cause unless samples is mono at expected_rate."""
    if sample_rate != expected_rate:
        raise ValueError(f"{what} needs {expected_rate} Hz audio, got {sample_rate} Hz (resample first)")
    if samples.ndim != 1:
        raise ValueError(f"{what} needs mono samples shaped (frames,), got shape {samples.shape} (mix down first)")
    if len(samples) < min_frames:
        raise ValueError(f"{what} needs at least {min_frames} mono samples, got {len(samples)}")


def is_silent(samples: np.ndarray, threshold: float = 1e-4) -> bool:
    """True when no sample reaches the threshold (max and min: no full-length temporary)."""
    return len(samples) == 0 or (float(samples.max()) <= threshold and float(samples.min()) >= -threshold)
