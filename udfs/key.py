"""Key: tonic and mode with a confidence.

Conventions: keys are written 'A major' / 'F# minor' with sharps for C#, F# and G# and flats
for Eb, Ab and Bb (Essentia's spelling); confidence is the profile correlation in [0, 1]. This
first pass is Essentia's KeyExtractor with the 'bgate' profile on 44.1 kHz mono.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from songlake.udfs._checks import is_silent, require_mono

ANALYSIS_RATE = 44100


@dataclass(frozen=True)
class Key:
    tonic: str | None
    mode: str | None  # 'major' or 'minor'
    confidence: float

    @property
    def name(self) -> str | None:
        return f"{self.tonic} {self.mode}" if self.tonic else None


def detect_key(mono: np.ndarray, sample_rate: int = ANALYSIS_RATE) -> Key:
    """Key of mono audio at 44.1 kHz."""
    require_mono(mono, sample_rate, ANALYSIS_RATE, "detect_key")
    from songlake.udfs._essentia import standard as es

    if is_silent(mono):
        warnings.warn("no key: the audio is silent", stacklevel=2)
        return Key(None, None, 0.0)
    tonic, mode, strength = es.KeyExtractor(profileType="bgate")(mono.astype(np.float32))
    return Key(tonic, mode, round(float(strength), 4))
