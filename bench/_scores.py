"""The accuracy metrics of bench/accuracy.py: one song's truth against one song's estimates.

Each function takes plain values (times in seconds, labels as strings) and returns a score in
[0, 1], or (score, weight) where the corpus figure is weighted (by duration for chords and
roman numerals). mir_eval computes everything it has a metric for; the conventions are MIREX's:

- beats and downbeats: F-measure with a ±70 ms window, after dropping the first 5 s of both
  (mir_eval.beat.trim_beats: trackers need a few seconds to lock on);
- tempo: Acc1 is |est - ref| / ref <= 4 %; Acc2 also accepts ×2, ×1/2, ×3 and ×1/3;
- key: mir_eval.key.weighted_score (1 same key, 0.5 fifth, 0.3 relative, 0.2 parallel);
- chords: weighted chord symbol recall (mir_eval.chord) at the root, majmin and sevenths levels;
  time whose reference chord is outside a level's vocabulary (sus4 and dim for majmin) is left
  out of that level, as mir_eval does;
- sections: boundary detection F at ±0.5 s and ±3 s, trimmed (the song's start and end are not
  boundaries anyone can miss); label accuracy is the share of time whose estimated label equals
  the true one (the labels are a fixed vocabulary, so they can be compared directly);
  pairwise F (mir_eval.segment.pairwise) scores the repetition structure whatever the names.

Roman numerals are compared after ``canonical_roman``: inversion figures, 'sus' marks and the
seventh's size are not part of the comparison, the numeral, its accidental, its quality (o, ø,
+), whether it has a seventh and its applied target are. 'V75#3' == 'V7', 'I7' == 'Imaj7',
'-VII' == 'bVII', 'Vsus4' == 'V'. In a minor key 'bIII', 'bVI' and 'bVII' are read as 'III', 'VI'
and 'VII' (music21 writes either for the natural-minor chords).
"""

from __future__ import annotations

import re

import mir_eval
import numpy as np

TEMPO_TOLERANCE = 0.04
_ROMAN = re.compile(r"^(?P<acc>[b#]*)(?P<num>VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)(?P<qual>[o+ø]?)(?P<fig>[^/]*)$")


def tempo_accuracy(reference: float, estimate: float | None) -> tuple[float, float]:
    """(Acc1, Acc2) of one tempo estimate."""
    if not estimate or estimate <= 0:
        return 0.0, 0.0
    close = lambda factor: abs(estimate - reference * factor) <= TEMPO_TOLERANCE * reference * factor  # noqa: E731
    return float(close(1.0)), float(any(close(f) for f in (1.0, 2.0, 0.5, 3.0, 1 / 3)))


def beat_f(reference, estimate) -> float:
    """F-measure of beat (or downbeat) times, both trimmed of their first 5 s."""
    ref = mir_eval.beat.trim_beats(np.asarray(reference, float))
    est = mir_eval.beat.trim_beats(np.asarray(estimate if estimate is not None else (), float))
    if len(ref) == 0:
        return float(len(est) == 0)
    if len(est) == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(ref, est))


def key_weighted(reference: str, estimate: str | None) -> float:
    if not estimate:
        return 0.0
    return float(mir_eval.key.weighted_score(reference, estimate))


def chord_wcsr(reference, estimate, duration: float) -> dict[str, tuple[float, float]]:
    """Per level (root, majmin, sevenths): (weighted recall, seconds that count) of one song."""
    ref_iv, ref_lab = _intervals(reference)
    est_iv, est_lab = _intervals(estimate) if estimate else (np.array([[0.0, duration]]), ["N"])
    est_iv, est_lab = mir_eval.util.adjust_intervals(est_iv, est_lab, ref_iv.min(), ref_iv.max(), "N", "N")
    intervals, ref_lab, est_lab = mir_eval.util.merge_labeled_intervals(ref_iv, ref_lab, est_iv, est_lab)
    durations = mir_eval.util.intervals_to_durations(intervals)
    out = {}
    for level, compare in (("root", mir_eval.chord.root), ("majmin", mir_eval.chord.majmin),
                           ("sevenths", mir_eval.chord.sevenths)):
        comparisons = compare(ref_lab, est_lab)
        counted = float(durations[comparisons >= 0].sum())
        score = float(mir_eval.chord.weighted_accuracy(comparisons, durations)) if counted > 0 else 0.0
        out[level] = (score, counted)
    return out


def roman_accuracy(reference_chords, reference_romans, estimate_chords, estimate_romans,
                   minor: bool, sevenths: bool = True) -> float:
    """Share of the song's time where the estimated roman numeral equals the true one."""
    ref_iv, _ = _intervals(reference_chords)
    if not estimate_chords or not estimate_romans:
        return 0.0
    est_iv, _ = _intervals(estimate_chords)
    ref = [canonical_roman(r, minor, sevenths) for r in reference_romans]
    est = [canonical_roman(r, minor, sevenths) for r in estimate_romans]
    est_iv, est = mir_eval.util.adjust_intervals(est_iv, est, ref_iv.min(), ref_iv.max(), "N", "N")
    intervals, ref, est = mir_eval.util.merge_labeled_intervals(ref_iv, ref, est_iv, est)
    durations = mir_eval.util.intervals_to_durations(intervals)
    return float(sum(d for d, r, e in zip(durations, ref, est) if r == e) / durations.sum())


def canonical_roman(figure: str | None, minor: bool = False, sevenths: bool = True) -> str:
    """A roman numeral reduced to what the comparison looks at (see the module docstring)."""
    if not figure or figure.strip() in ("N", "X", ""):
        return "N"
    text = figure.strip().replace("-", "b").replace("°", "o").replace("ø7", "ø").replace("/o", "ø")
    parts = text.split("/")
    head = _ROMAN.match(parts[0])
    if head is None:
        return text
    seventh = sevenths and (head["qual"] == "ø" or "7" in head["fig"])
    accidental = head["acc"]
    if minor and accidental == "b" and head["num"] in ("III", "VI", "VII"):
        accidental = ""
    out = accidental + head["num"] + head["qual"] + ("7" if seventh else "")
    for target in parts[1:]:
        match = _ROMAN.match(target)
        out += "/" + (match["acc"] + match["num"] if match else target)
    return out


def _snap_ends(intervals: np.ndarray, duration: float, tolerance: float = 0.01) -> np.ndarray:
    """Set an estimate's first start to 0 and last end to the duration when they are within
    rounding of them: padding a 1e-7 s sliver would count as a false boundary."""
    intervals = np.array(intervals, dtype=float)
    if len(intervals) and abs(intervals[0, 0]) < tolerance:
        intervals[0, 0] = 0.0
    if len(intervals) and abs(intervals[-1, 1] - duration) < tolerance:
        intervals[-1, 1] = duration
    return intervals


def boundary_f(reference, estimate, duration: float, window: float) -> float:
    """Section boundary detection F at ±window seconds, the song's start and end left out."""
    ref_iv, _ = _intervals(reference)
    if not estimate:
        return 0.0
    est_iv, est_lab = _intervals(estimate)
    est_iv, _ = mir_eval.util.adjust_intervals(_snap_ends(est_iv, duration), est_lab, 0.0, duration)
    if len(ref_iv) < 2:
        return float(len(est_iv) < 2)
    if len(est_iv) < 2:
        return 0.0
    return float(mir_eval.segment.detection(ref_iv, est_iv, window=window, trim=True)[2])


def section_labels(reference, estimate, duration: float) -> tuple[float, float]:
    """(share of time with the right label, pairwise-frame F of the labelled structure)."""
    if not estimate:
        return 0.0, 0.0
    ref_iv, ref_lab = _intervals(reference)
    est_iv, est_lab = _intervals(estimate)
    est_iv, est_lab = mir_eval.util.adjust_intervals(_snap_ends(est_iv, duration), est_lab, 0.0, duration, "N", "N")
    intervals, ref_m, est_m = mir_eval.util.merge_labeled_intervals(ref_iv, ref_lab, est_iv, est_lab)
    durations = mir_eval.util.intervals_to_durations(intervals)
    share = float(sum(d for d, r, e in zip(durations, ref_m, est_m) if r == e) / durations.sum())
    pairwise = mir_eval.segment.pairwise(ref_iv, ref_lab, est_iv, est_lab, frame_size=0.5)[2]
    return share, float(pairwise)


def chord_agreement(first, second, duration: float) -> float:
    """Share of time two chord estimates give the same label (for the invariance checks)."""
    if not first or not second:
        return 0.0
    a_iv, a_lab = _intervals(first)
    b_iv, b_lab = _intervals(second)
    a_iv, a_lab = mir_eval.util.adjust_intervals(a_iv, a_lab, 0.0, duration, "N", "N")
    b_iv, b_lab = mir_eval.util.adjust_intervals(b_iv, b_lab, 0.0, duration, "N", "N")
    intervals, a_lab, b_lab = mir_eval.util.merge_labeled_intervals(a_iv, a_lab, b_iv, b_lab)
    durations = mir_eval.util.intervals_to_durations(intervals)
    return float(sum(d for d, a, b in zip(durations, a_lab, b_lab) if a == b) / durations.sum())


def _intervals(spans) -> tuple[np.ndarray, list[str]]:
    """(n, 2) intervals and labels from (start, end, label) tuples or objects with those fields."""
    rows = [(s.start, s.end, s.label) if hasattr(s, "start") else tuple(s) for s in spans]
    rows = [(float(s), float(e), str(label)) for s, e, label in rows if e > s]
    return np.array([[s, e] for s, e, _ in rows], float).reshape(-1, 2), [label for _, _, label in rows]
