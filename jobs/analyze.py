"""The full analysis of one song: rhythm, harmony, structure and theory, in dependency order.

    beats/downbeats/meter ─► rhythm profile
             │
             ├──────────► chords (beat-synchronous) ─► key (with chord evidence)
             │                        │                    │
             └──────────► sections ◄──┘                    │
                               └───► theory (roman numerals, functions, cadences,
                                             patterns, complexity) ◄───┘

``analyze_audio`` composes the udfs and turns their results into the analysis table's row
shape. Stems, when given, feed the stages that can use them: the bass stem for chord roots,
the pitched stems for harmony, the vocal stem for section labels. A stage that fails on a song
leaves its columns NULL and names itself in ``failed``, so one weak stage never costs a song.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from songlake.udfs import ANALYSIS_VERSION
from songlake.udfs import beats as beats_udf
from songlake.udfs import chords as chords_udf
from songlake.udfs import key as key_udf
from songlake.udfs import rhythm as rhythm_udf
from songlake.udfs import sections as sections_udf
from songlake.udfs import theory as theory_udf

log = logging.getLogger(__name__)
ANALYSIS_RATE = 44100


@dataclass(frozen=True)
class Stems:
    """Separated stems of one song (mono, ANALYSIS_RATE), any of them may be missing."""

    vocals: np.ndarray | None = None
    drums: np.ndarray | None = None
    bass: np.ndarray | None = None
    other: np.ndarray | None = None

    @property
    def harmonic(self) -> np.ndarray | None:
        """The pitched stems mixed: where harmony is heard without drums."""
        parts = [p for p in (self.other, self.vocals) if p is not None]
        return np.sum(parts, axis=0) if parts else None


@dataclass
class Analysis:
    """Everything the analysis table stores for one song, in its column names."""

    values: dict = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def _spans(spans) -> list[dict]:
    return [{"start": round(float(s.start), 4), "end": round(float(s.end), 4), "label": s.label} for s in spans]


def analyze_audio(mono: np.ndarray, sample_rate: int = ANALYSIS_RATE, stems: Stems | None = None) -> Analysis:
    """The full analysis of mono audio at 44.1 kHz; see the module docstring."""
    stems = stems or Stems()
    out = Analysis(values={"analysis_version": ANALYSIS_VERSION})
    v = out.values

    def stage(name, fn, *args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # degenerate input gives empty results, stored as NULL
                return fn(*args, **kwargs)
        except Exception as exc:  # recorded, and the other stages go on
            log.warning("analysis stage %s failed: %s: %s", name, type(exc).__name__, exc)
            out.failed.append(f"{name}: {type(exc).__name__}: {exc}")
            return None

    beats = stage("beats", beats_udf.track_beats, mono, sample_rate)
    if beats is not None:
        v.update(bpm=beats.bpm, beats=[round(float(t), 4) for t in beats.beats],
                 downbeats=[round(float(t), 4) for t in beats.downbeats], time_signature=beats.time_signature)
        profile = stage("rhythm", rhythm_udf.rhythm_profile, mono, sample_rate, beats)
        if profile is not None:
            v.update(syncopation_index=profile.syncopation_index, rhythmic_complexity=profile.rhythmic_complexity,
                     strong_beats=list(profile.strong_beats), weak_beats=list(profile.weak_beats))
    beat_times = tuple(beats.beats) if beats else ()
    downbeat_times = tuple(beats.downbeats) if beats else ()

    chords = stage("chords", chords_udf.recognize_chords, mono, sample_rate, beat_times, downbeat_times,
                   bass=stems.bass, harmonic=stems.harmonic) if beat_times else None
    if chords is not None:
        v["chords"] = _spans(chords.spans)
    key = stage("key", key_udf.detect_key, mono, sample_rate, chords=chords)
    if key is not None:
        v.update(key=key.name, key_confidence=key.confidence if key.name else None)

    sections = stage("sections", sections_udf.segment, mono, sample_rate, beat_times, downbeat_times,
                     chords=chords.spans if chords else None, vocals=stems.vocals) if beat_times else None
    if sections is not None:
        v["sections"] = _spans(sections.spans)

    if chords is not None and key is not None and key.name:
        harmony = stage("theory", theory_udf.harmonic_analysis, chords.spans, key.name, beat_times, downbeat_times,
                        sections.spans if sections else ())
        if harmony is not None:
            v.update(roman_numerals=list(harmony.roman_numerals), functional_harmony=list(harmony.functional_harmony),
                     common_patterns=list(harmony.common_patterns),
                     cadences=[{"type": c.type, "strength": round(float(c.strength), 4), "time": round(float(c.time), 4)}
                               for c in harmony.cadences],
                     progression_complexity=harmony.progression_complexity)
    return out
