"""Adherence: did a generation do what it was asked? The lake's analysis of a model's audio
against the conditioning the model was given, scored with mir_eval's metrics.

``score_adherence(analysis, conditioning, duration=None) -> Adherence``

Inputs:

- ``analysis``: what ``jobs.analyze.analyze_audio`` returns (its ``values``, or the object
  itself) or a songs-view row: ``bpm``, ``beats``, ``key``, ``chords`` and ``sections``, any of
  them missing or None.
- ``conditioning``: what the model was asked for, a mapping with any of ``text``, ``genre``,
  ``key`` ('A minor'), ``bpm``, ``beats`` (an explicit grid, seconds), ``chords`` and
  ``sections`` (spans as {start, end, label} or (start, end, label)) and ``duration`` (seconds).
  Other names are refused, so that a misspelt field ('tempo' for 'bpm') is not silently unscored.

Conventions: times in seconds from the start of the generation; keys as in the songs view ('A
major', 'F# minor'); chord labels in Harte syntax ('A:min', 'N'); section labels are not
compared, only where sections change.

The metrics, each in [0, 1] (MIREX's conventions, as ``bench/_scores.py`` scores the analysis):

- ``tempo_acc1``: 1.0 when the analysed bpm is within 4 % of the requested bpm, else 0.0 (Acc1;
  half or double tempo counts as wrong: the model was asked for this tempo);
- ``key_weighted``: ``mir_eval.key.weighted_score`` (1 the same key, 0.5 a fifth away, 0.3 the
  relative, 0.2 the parallel key, else 0);
- ``chord_majmin``: the weighted chord symbol recall (WCSR) at mir_eval's majmin level of the
  analysed chords against the requested ones over the requested chords' time; time whose
  requested chord is neither major, minor nor 'N' (sus4, dim, aug) is left out, as mir_eval
  does;
- ``beat_f``: ``mir_eval.beat.f_measure`` (±70 ms) of the analysed beats against the requested
  grid: the explicit ``beats`` when given, else the grid the ``bpm`` implies, 60/bpm apart over
  the generation, in the phase that fits the analysed beats best (a bpm says how fast, not where
  the first beat falls). Nothing is trimmed: mir_eval.beat.evaluate drops the first 5 s for a
  tracker to lock on, but a generation is asked to keep the grid from its first beat;
- ``section_f``: ``mir_eval.segment.detection`` F at ±3 s of the analysed section boundaries
  against the requested ones, trimmed (the generation's start and end are no boundaries to find).

A metric whose conditioning is missing is None, and ``reasons`` says why ('metric: reason'),
as the songs view's analysis_failures does. So is one whose conditioning gives nothing to score
(only sus chords, a single section). A conditioned field that the analysis did not find (no
beats, no key) scores 0: the generation does not have what was asked, and ``reasons`` says so.
Text and genre are not scored here: text needs a text-audio model the lake does not have, and
genre is the collection's genre model's, not this analysis's.

Input that cannot be right raises ValueError naming the likely cause; conditioning with nothing
to score gives every metric None, with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import mir_eval
import numpy as np

from songlake.udfs._harte import NO_CHORD, key_name, parse_key

METRICS = ("tempo_acc1", "key_weighted", "chord_majmin", "beat_f", "section_f")
FIELDS = ("text", "genre", "key", "bpm", "beats", "chords", "sections", "duration", "reference")
# reference: the song_id of the lake song the conditioning was taken from (played beside the
# generation on the A/B page); not scored
TEMPO_TOLERANCE = 0.04  # Acc1: within 4 % of the requested bpm
BEAT_WINDOW = 0.07  # seconds either side of a requested beat
SECTION_WINDOW = 3.0  # seconds either side of a requested section boundary
_LONGEST = 6 * 3600.0  # a time beyond 6 h is not seconds of a generation
_PHASE_STEP = 0.005  # seconds: candidate phases of a bpm grid, rounded to this


@dataclass(frozen=True)
class Adherence:
    """Scores in [0, 1], None where the conditioning has nothing to score; ``reasons`` holds
    'metric: why' for each None and each 0 that comes from something the analysis lacks."""

    tempo_acc1: float | None = None
    key_weighted: float | None = None
    chord_majmin: float | None = None
    beat_f: float | None = None
    section_f: float | None = None
    reasons: tuple[str, ...] = ()

    def reason(self, metric: str) -> str | None:
        return next((r.partition(": ")[2] for r in self.reasons if r.partition(":")[0] == metric), None)

    def as_row(self) -> dict:
        """The scores by metric name, and ``adherence_reasons``: a table row's shape."""
        return {name: getattr(self, name) for name in METRICS} | {"adherence_reasons": list(self.reasons)}


def score_adherence(analysis, conditioning: Mapping, duration: float | None = None) -> Adherence:
    """The adherence of one generation's analysis to its conditioning; see the module docstring.

    duration: the generation's length in seconds, for the grid a bpm implies; by default the
    conditioning's ``duration``, else the end of the analysed sections, chords or beats."""
    found = _analysis_values(analysis)
    asked = _conditioning(conditioning)
    if duration is None:
        duration = asked.get("duration") or _analysed_length(found)
    elif not (isinstance(duration, (int, float)) and math.isfinite(duration) and 0 < duration < _LONGEST):
        raise ValueError(f"duration is the generation's length in seconds, not {duration!r}")
    if not any(asked.get(name) for name in ("key", "bpm", "beats", "chords", "sections")):
        warnings.warn("nothing to score: the conditioning has no key, bpm, beats, chords or sections", stacklevel=2)
    scores: dict[str, float | None] = {}
    reasons: list[str] = []
    for metric, compute in (("tempo_acc1", _tempo), ("key_weighted", _key), ("chord_majmin", _chords),
                            ("beat_f", _beats), ("section_f", _sections)):
        score, why = compute(found, asked, duration)
        scores[metric] = score
        if why:
            reasons.append(f"{metric}: {why}")
    return Adherence(**scores, reasons=tuple(reasons))


# --- the metrics: each (found, asked, duration) -> (score or None, reason or None) ----------

def tempo_acc1(reference_bpm: float, estimated_bpm: float | None) -> float:
    """1.0 when estimated_bpm is within TEMPO_TOLERANCE of reference_bpm, else 0.0."""
    if not estimated_bpm or estimated_bpm <= 0:
        return 0.0
    return float(abs(estimated_bpm - reference_bpm) <= TEMPO_TOLERANCE * reference_bpm)


def key_weighted(reference_key: str, estimated_key: str | None) -> float:
    """mir_eval's weighted key score; an estimate of no key scores 0."""
    if not estimated_key:
        return 0.0
    return float(mir_eval.key.weighted_score(key_name(reference_key), key_name(estimated_key)))


def chord_majmin(reference: list[tuple[float, float, str]], estimated: list[tuple[float, float, str]]) -> float | None:
    """Majmin WCSR of estimated chord spans against reference spans, over the reference's time;
    None when no reference time is major, minor or 'N'."""
    ref_iv, ref_labels = _intervals(reference)
    if estimated:
        est_iv, est_labels = _intervals(estimated)
    else:
        est_iv, est_labels = np.array([[ref_iv.min(), ref_iv.max()]]), ["N"]  # no chords found: 'N' throughout
    est_iv, est_labels = mir_eval.util.adjust_intervals(est_iv, est_labels, ref_iv.min(), ref_iv.max(), "N", "N")
    intervals, ref_labels, est_labels = mir_eval.util.merge_labeled_intervals(ref_iv, ref_labels, est_iv, est_labels)
    durations = mir_eval.util.intervals_to_durations(intervals)
    comparisons = mir_eval.chord.majmin(ref_labels, est_labels)
    if not durations[comparisons >= 0].sum() > 0:
        return None
    return float(mir_eval.chord.weighted_accuracy(comparisons, durations))


def beat_f(reference: np.ndarray, estimated: np.ndarray) -> float:
    """mir_eval's beat F-measure at ±BEAT_WINDOW, untrimmed; no estimated beats score 0."""
    if len(estimated) == 0 or len(reference) == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(np.asarray(reference, float), np.asarray(estimated, float), BEAT_WINDOW))


def bpm_grid(bpm: float, duration: float, fit: np.ndarray) -> np.ndarray:
    """The beats a bpm implies over [0, duration), in the phase that gives the best F-measure
    against ``fit`` (candidate phases: each fitted beat's time modulo the period)."""
    period = 60.0 / bpm
    grid = lambda phase: np.arange(phase, duration, period)  # noqa: E731
    phases = np.unique(np.round(np.mod(np.asarray(fit, float), period) / _PHASE_STEP) * _PHASE_STEP)
    if not len(phases):
        return grid(0.0)
    return grid(max(phases, key=lambda phase: beat_f(grid(phase), fit)))


def boundary_f(reference: list[tuple[float, float, str]], estimated: list[tuple[float, float, str]],
               window: float = SECTION_WINDOW) -> float | None:
    """Section boundary detection F at ±window, trimmed; None when the reference has one section."""
    ref_iv, _ = _intervals(reference)
    if len(ref_iv) < 2:
        return None
    if len(estimated) < 2:
        return 0.0
    est_iv, est_labels = _intervals(estimated)
    est_iv, _ = mir_eval.util.adjust_intervals(est_iv, est_labels, ref_iv.min(), ref_iv.max())
    return float(mir_eval.segment.detection(ref_iv, est_iv, window=window, trim=True)[2])


def _tempo(found: dict, asked: dict, duration: float):
    if asked.get("bpm") is None:
        return None, "the conditioning has no bpm"
    if not found.get("bpm"):
        return 0.0, "the analysis found no tempo"
    return tempo_acc1(asked["bpm"], found["bpm"]), None


def _key(found: dict, asked: dict, duration: float):
    if asked.get("key") is None:
        return None, "the conditioning has no key"
    if not found.get("key"):
        return 0.0, "the analysis found no key"
    return key_weighted(asked["key"], found["key"]), None


def _chords(found: dict, asked: dict, duration: float):
    if not asked.get("chords"):
        return None, "the conditioning has no chords"
    score = chord_majmin(asked["chords"], found.get("chords") or [])
    if score is None:
        return None, "the conditioned chords hold no major, minor or 'N' time (majmin leaves out sus, dim and aug)"
    return score, None if found.get("chords") else "the analysis found no chords"


def _beats(found: dict, asked: dict, duration: float):
    estimated = np.asarray(found.get("beats") or (), float)
    if asked.get("beats"):
        reference = np.asarray(asked["beats"], float)
    elif asked.get("bpm") is not None:
        if not duration:
            return None, "the generation's length is unknown, so the bpm's grid has no end (pass duration)"
        reference = bpm_grid(asked["bpm"], duration, estimated)
    else:
        return None, "the conditioning has no beats or bpm"
    return beat_f(reference, estimated), None if len(estimated) else "the analysis found no beats"


def _sections(found: dict, asked: dict, duration: float):
    if not asked.get("sections"):
        return None, "the conditioning has no sections"
    score = boundary_f(asked["sections"], found.get("sections") or [])
    if score is None:
        return None, "the conditioning has one section: no boundary between sections to score"
    return score, None if len(found.get("sections") or ()) >= 2 else "the analysis found no section boundary"


# --- validation -----------------------------------------------------------------------------

def check_conditioning(conditioning) -> dict:
    """The conditioning with every field present (None where not given), spans as (start, end,
    label) tuples; ValueError names what cannot be right. For checking a manifest before any
    audio is analysed."""
    return _conditioning(conditioning)


def _conditioning(conditioning) -> dict:
    if not isinstance(conditioning, Mapping):
        raise ValueError(f"conditioning is a mapping of field to value ({', '.join(FIELDS)}), "
                         f"not {type(conditioning).__name__}")
    unknown = [name for name in conditioning if name not in FIELDS]
    if unknown:
        hint = " (the tempo is 'bpm')" if any(n in ("tempo", "bpm_value") for n in unknown) else ""
        raise ValueError(f"unknown conditioning field {unknown[0]!r}{hint}; fields are {', '.join(FIELDS)}")
    out = {name: conditioning.get(name) for name in FIELDS}
    if out["bpm"] is not None:
        out["bpm"] = _bpm(out["bpm"], "the conditioning's bpm")
    if out["key"] is not None:
        parse_key(out["key"])  # raises with the expected spelling
    if out["reference"] is not None and not (isinstance(out["reference"], str) and out["reference"].strip()):
        raise ValueError(f"the conditioning's reference is a lake song's song_id, not {out['reference']!r}")
    if out["duration"] is not None:
        duration = out["duration"]
        if not (isinstance(duration, (int, float)) and math.isfinite(duration) and 0 < duration < _LONGEST):
            raise ValueError(f"the conditioning's duration is the generation's length in seconds, not {duration!r}")
    out["beats"] = _beat_times(out["beats"], "the conditioning's beats") if out["beats"] is not None else None
    out["chords"] = _spans(out["chords"], "chords") if out["chords"] is not None else None
    out["sections"] = _spans(out["sections"], "sections") if out["sections"] is not None else None
    for _, _, label in out["chords"] or ():
        _chord_label(label)
    return out


def _analysis_values(analysis) -> dict:
    values = analysis if isinstance(analysis, Mapping) else getattr(analysis, "values", None)
    if not isinstance(values, Mapping):
        raise ValueError(f"analysis is analyze_audio's result or a songs row (a mapping), "
                         f"not {type(analysis).__name__}")
    out = {"bpm": values.get("bpm"), "key": values.get("key")}
    if out["bpm"] is not None:
        out["bpm"] = _bpm(out["bpm"], "the analysis's bpm")
    out["beats"] = _beat_times(values.get("beats") or (), "the analysis's beats")
    for name in ("chords", "sections"):
        out[name] = _spans(values.get(name) or (), f"the analysis's {name}")
    return out


def _bpm(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} is a positive number of beats per minute, not {value!r}")
    if not 10 <= value <= 1000:
        raise ValueError(f"{what} is {value!r}: beats per minute lie between 10 and 1000 (beats per second?)")
    return float(value)


def _beat_times(values, what: str) -> list[float]:
    try:
        times = np.asarray(list(values), dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} are times in seconds, not {values!r}") from None
    if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError(f"{what} are non-negative times in seconds in a flat list")
    if len(times) and times.max() > _LONGEST:
        raise ValueError(f"{what} reach {times.max():.0f}: times in samples or milliseconds, not seconds?")
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"{what} must increase (sorted, no repeats)")
    return times.tolist()


def _spans(values, what: str) -> list[tuple[float, float, str]]:
    """(start, end, label) tuples from {start, end, label} mappings, tuples or span objects."""
    out = []
    for i, span in enumerate(values):
        try:
            if isinstance(span, Mapping):
                start, end, label = span["start"], span["end"], span["label"]
            elif hasattr(span, "start"):
                start, end, label = span.start, span.end, span.label
            else:
                start, end, label = span
            start, end = float(start), float(end)
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{what} are spans {{start, end, label}} in seconds; item {i} is {span!r}") from None
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            raise ValueError(f"{what}: item {i} runs from {start} to {end} s; a span starts at 0 s or later "
                             "and ends after it starts")
        if end > _LONGEST:
            raise ValueError(f"{what}: item {i} ends at {end:.0f}: times in samples or milliseconds, not seconds?")
        out.append((start, end, str(label)))
    if any(later[0] < earlier[1] - 1e-6 for earlier, later in zip(out, out[1:])):
        raise ValueError(f"{what} overlap or are out of order: spans follow one another in time")
    return out


def _chord_label(label: str) -> None:
    if label in NO_CHORD:
        return
    try:
        mir_eval.chord.validate_chord_label(label)
        mir_eval.chord.encode(label)
    except (mir_eval.chord.InvalidChordException, ValueError) as exc:
        raise ValueError(f"chord {label!r} is not a Harte label such as 'A:min' or 'G:7' ({exc})") from None


def _intervals(spans: list[tuple[float, float, str]]) -> tuple[np.ndarray, list[str]]:
    return np.array([[s, e] for s, e, _ in spans], float).reshape(-1, 2), [label for _, _, label in spans]


def _analysed_length(found: dict) -> float | None:
    ends = [spans[-1][1] for spans in (found["sections"], found["chords"]) if spans]
    if found["beats"]:
        ends.append(found["beats"][-1])
    return max(ends) if ends else None
