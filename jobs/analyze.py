"""The full analysis of one song: rhythm, harmony, structure and theory, in dependency order.

    beats/downbeats/meter ─► rhythm profile
             │ (when the tracker is sure of them)
             ├──────────► chords (beat-synchronous, else on harmonic change) ─► key
             │                        │                                          │
             └──────────► sections ◄──┘                                          │
                               └───► theory (roman numerals, functions, cadences,
                                             patterns, complexity) ◄─────────────┘

``analyze_audio`` composes the udfs and turns their results into the analysis table's row
shape. Stems, when given, feed the stages that can use them: the bass stem for chord roots,
the pitched stems for harmony, the vocal stem for section labels.

No silent holes: every stage is attempted on every song, and every column a stage leaves NULL
is accounted for in ``failed`` as 'name: reason'. The name is the stage (see STAGE_COLUMNS) when
all of its columns are NULL, else each NULL column by its own name; the reason is the
exception, the udf's warnings (a degenerate result: "no beats: no steady pulse found"), or the
missing input ("needs beats: ..."). So a NULL column always has a reason, and "done" means every
column was attempted.

Harmony does not wait for beats: chords are segmented on harmonic change first, and decided per
beat instead only when the beat tracker is sure of its beats (``reliable_grid``) and either
near certain of them or the harmony moves slower than the beat (CERTAIN_BEATS, SLOW_HARMONY);
sections and theory use the beats when they are sure, else read the chords without beats.
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
# Beats are the grid of chords, sections and theory only when the tracker is sure of them:
# beat_confidence (its estimate of the beat F-measure) at least RELIABLE_BEATS; otherwise the
# beats are still stored, and chords follow harmonic change. Measured on the rendered corpus,
# seed 0: band songs have beat_confidence 0.966-0.998, drumless ones 0.37-0.97 (free ballads with
# drums 0.97-0.99). Chords on harmonic change score majmin 0.855 on the drumless songs against
# 0.813 on their tracked beats, and 0.908 on band songs against 0.934; 0.9 keeps every band song
# on its beats with a margin (a higher threshold gains the drumless songs little: 0.858 at 0.95).
# Tempo steadiness does not matter here: beats that follow a rubato are as good a grid as steady
# ones (rubato piano: 0.87-0.92 either way).
RELIABLE_BEATS = 0.9

# Sure beats decide chords per beat when they are near certain (CERTAIN_BEATS: a drum kit), or
# where the harmony moves slower than SLOW_HARMONY beats a chord (the median, read from the
# chords on harmonic change): the beat grid's prior, changes on downbeats and seldom between,
# fits songs that hold a chord a bar or half a bar, not a chorale that changes on every beat.
# Measured on the rendered corpus, seed 0: band songs 2.07-4.2 beats a chord (6/8 ballads, whose
# beat is the dotted quarter, lowest, with beat_confidence 0.998-0.999), chorales 1.07-1.88
# (beat_confidence 0.89-0.95); chorales gain 0.03-0.18 majmin from harmonic change.
CERTAIN_BEATS = 0.98
SLOW_HARMONY = 2.0

# The columns each stage fills, in the analysis table's names.
STAGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "beats": ("bpm", "tempo_confidence", "beats", "beat_confidence", "downbeats", "time_signature"),
    "rhythm": ("syncopation_index", "rhythmic_complexity", "strong_beats", "weak_beats"),
    "chords": ("chords",),
    "key": ("key", "key_confidence"),
    "sections": ("sections",),
    "theory": ("roman_numerals", "functional_harmony", "cadences", "common_patterns", "progression_complexity"),
}


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
    """Everything the analysis table stores for one song, in its column names, and 'name: reason'
    for each stage or column left without a value."""

    values: dict = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def failures(self) -> tuple[str, ...]:
        """The names in ``failed`` (stages or columns), as the songs view's analysis_failures."""
        return tuple(f.partition(":")[0] for f in self.failed)

    def reason(self, name: str) -> str | None:
        return next((f.partition(": ")[2] for f in self.failed if f.partition(":")[0] == name), None)


def _spans(spans) -> list[dict]:
    return [{"start": round(float(s.start), 4), "end": round(float(s.end), 4), "label": s.label} for s in spans]


def _times(values) -> list[float] | None:
    return [round(float(t), 4) for t in values] or None


def reliable_grid(beats) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(beats, downbeats) for chords, sections and theory: the tracker's when it is sure of them
    (beat_confidence >= RELIABLE_BEATS; a confidence that is not given counts as sure), else
    none, so chords are segmented on harmonic change."""
    if beats is None or len(beats.beats) < 2:
        return (), ()
    confidence = getattr(beats, "beat_confidence", None)
    if confidence is not None and confidence < RELIABLE_BEATS:
        return (), ()
    return tuple(beats.beats), tuple(beats.downbeats)


def beats_per_chord(chords, beat_times) -> float:
    """The harmonic rhythm: the median length of the chords (not 'N') in beats."""
    lengths = [s.end - s.start for s in chords.spans if s.label != "N"]
    if not lengths or len(beat_times) < 2:
        return 0.0
    return float(np.median(lengths) / np.median(np.diff(beat_times)))


def analyze_audio(mono: np.ndarray, sample_rate: int = ANALYSIS_RATE, stems: Stems | None = None) -> Analysis:
    """The full analysis of mono audio at 44.1 kHz; see the module docstring."""
    stems = stems or Stems()
    out = Analysis(values={"analysis_version": ANALYSIS_VERSION})
    v = out.values
    why: dict[str, str] = {}  # stage -> why it gave less than all its columns

    def stage(name, fn, *args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # recorded, and the other stages go on
                log.warning("analysis stage %s failed: %s: %s", name, type(exc).__name__, exc)
                why[name] = f"{type(exc).__name__}: {exc}"
                return None
        said = "; ".join(dict.fromkeys(str(w.message) for w in caught))  # each once, in order
        if said:
            why[name] = said
        return result

    def skip(name: str, needs: str, because: str) -> None:
        why[name] = f"needs {needs}: {why.get(because, 'none found')}"

    beats = stage("beats", beats_udf.track_beats, mono, sample_rate)
    if beats is not None:
        v.update(bpm=beats.bpm, beats=_times(beats.beats), downbeats=_times(beats.downbeats),
                 time_signature=beats.time_signature,
                 tempo_confidence=getattr(beats, "tempo_confidence", None),
                 beat_confidence=getattr(beats, "beat_confidence", None))
    if v.get("beats"):
        profile = stage("rhythm", rhythm_udf.rhythm_profile, mono, sample_rate, beats)
        if profile is not None:
            v.update(syncopation_index=profile.syncopation_index, rhythmic_complexity=profile.rhythmic_complexity,
                     strong_beats=list(profile.strong_beats) or None, weak_beats=list(profile.weak_beats) or None)
    else:
        skip("rhythm", "beats", "beats")
    beat_times, downbeat_times = reliable_grid(beats)

    def chords_on(grid):
        return stage("chords", chords_udf.recognize_chords, mono, sample_rate, *grid,
                     bass=stems.bass, harmonic=stems.harmonic)

    sure = getattr(beats, "beat_confidence", None)
    if len(beat_times) and (sure is None or sure >= CERTAIN_BEATS):
        chords = chords_on((beat_times, downbeat_times))
    else:
        chords = chords_on(((), ()))  # on harmonic change
        if len(beat_times) and chords is not None and beats_per_chord(chords, beat_times) >= SLOW_HARMONY:
            on_beats = chords_on((beat_times, downbeat_times))
            chords = chords if on_beats is None else on_beats
    if chords is not None and any(label != "N" for label in chords.labels):
        v["chords"] = _spans(chords.spans)
    else:
        chords = None
    key = stage("key", key_udf.detect_key, mono, sample_rate, chords=chords)
    if key is not None and key.name:
        v.update(key=key.name, key_confidence=key.confidence)

    sections = stage("sections", sections_udf.segment, mono, sample_rate, beat_times, downbeat_times,
                     chords=chords.spans if chords else None, vocals=stems.vocals, key=v.get("key"))
    if sections is not None and sections.spans:
        v["sections"] = _spans(sections.spans)

    if chords is None:
        skip("theory", "chords", "chords")
    elif not v.get("key"):
        skip("theory", "a key", "key")
    else:
        harmony = stage("theory", theory_udf.harmonic_analysis, chords.spans, v["key"], beat_times, downbeat_times,
                        sections.spans if sections else ())
        if harmony is not None:
            v.update(roman_numerals=list(harmony.roman_numerals), functional_harmony=list(harmony.functional_harmony),
                     common_patterns=list(harmony.common_patterns),
                     cadences=[{"type": c.type, "strength": round(float(c.strength), 4), "time": round(float(c.time), 4)}
                               for c in harmony.cadences],
                     progression_complexity=harmony.progression_complexity)
    out.failed.extend(_unaccounted(v, why))
    return out


def _unaccounted(values: dict, why: dict[str, str]) -> list[str]:
    """'name: reason' for each stage whose columns are all NULL, else each NULL column."""
    failed = []
    for name, columns in STAGE_COLUMNS.items():
        missing = [c for c in columns if values.get(c) is None]
        reason = why.get(name, "gave no value")
        if len(missing) == len(columns):
            failed.append(f"{name}: {reason}")
        else:
            failed.extend(f"{column}: {reason}" for column in missing)
    return failed
