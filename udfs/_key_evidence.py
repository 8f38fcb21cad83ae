"""What a song's chords say about its key: one score per key (12 major keys, then 12 minor).

The evidence, each in [0, 1] and weighted: the share of the song whose chords fit the key's
scale (harmonic minor counts for minor keys, so a major V fits), the share spent on the tonic
chord and on the dominant, dominant-to-tonic motions, and the first and last chords.
"""

from __future__ import annotations

import numpy as np

from songlake.udfs import _harte

_SCALES = {"major": {0, 2, 4, 5, 7, 9, 11}, "minor": {0, 2, 3, 5, 7, 8, 10, 11}}
WEIGHTS = {"fit": 1.0, "tonic": 1.0, "dominant": 0.3, "cadence": 0.5, "first": 0.15, "last": 0.25}


def parse(label: str) -> tuple[int, tuple[int, ...]] | None:
    """(root pitch class, intervals above it) of a Harte label, None for 'N' and 'X'.

    Extensions (sixths, ninths) are dropped; a label that is not Harte syntax raises ValueError."""
    if _harte.is_no_chord(label):
        return None
    shape = _harte.parse(label)
    return shape.root, shape.intervals


def _spans(chords) -> list[tuple[float, int, tuple[int, ...]]]:
    """(duration, root, intervals) of each sounding chord, consecutive repeats merged."""
    items = getattr(chords, "spans", chords)
    out: list[tuple[float, int, tuple[int, ...]]] = []
    for item in items:
        start, end, label = (item.start, item.end, item.label) if hasattr(item, "label") else item
        parsed = parse(label)
        if parsed is None or end <= start:
            continue
        if out and out[-1][1:] == parsed:
            out[-1] = (out[-1][0] + end - start, *parsed)
        else:
            out.append((end - start, *parsed))
    return out


def chord_evidence(chords) -> np.ndarray:
    """Weighted chord evidence for each of the 24 keys (zeros when no chord sounds)."""
    spans = _spans(chords)
    scores = np.zeros(24)
    if not spans:
        return scores
    dur = np.array([s[0] for s in spans])
    dur = dur / dur.sum()
    for m, mode in enumerate(("major", "minor")):
        third = 4 if mode == "major" else 3
        for tonic in range(12):
            rel = [((root - tonic) % 12, iv) for _, root, iv in spans]
            fits = np.array([all((r + i) % 12 in _SCALES[mode] for i in iv) for r, iv in rel])
            is_tonic = np.array([r == 0 and third in iv and (7 - third) not in iv for r, iv in rel])
            is_dominant = np.array([r == 7 and (4 in iv or 5 in iv) and 3 not in iv for r, iv in rel])
            cadences = sum(1 for a, b in zip(is_dominant[:-1], is_tonic[1:]) if a and b)
            evidence = {
                "fit": float(dur[fits].sum()),
                "tonic": float(dur[is_tonic].sum()),
                "dominant": float(dur[is_dominant].sum()),
                "cadence": min(1.0, 4 * cadences / max(1, len(spans) - 1)),
                "first": float(is_tonic[0]),
                "last": float(is_tonic[-1]),
            }
            scores[12 * m + tonic] = sum(WEIGHTS[k] * v for k, v in evidence.items())
    return scores
