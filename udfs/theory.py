"""Music theory of a chord sequence: roman numerals, harmonic functions, cadences, named
progressions and progression complexity. Pure and symbolic: chord labels and a key in, no audio.

Conventions
- Chords are Harte labels ('C:maj', 'A:min7', 'G:7', 'E:maj/3'); 'N' (and 'X') is no chord. Roots
  are written C C# D Eb E F F# G Ab A Bb B on output; any spelling is read.
- Keys are 'A major' / 'F# minor' (or anything with such a .name, like key.Key).
- Times are seconds. Chord spans are objects with start, end, label or (start, end, label) tuples
  (or a Chords with .spans), in time order; sections likewise; beats and downbeats ascending.
- Roman numerals are music21 figures relative to the key: 'I', 'V7', 'vi', 'V7/V', 'bVII', 'iv',
  'viio7', 'I6' (inversions from a Harte bass), 'Vsus4'; 'N' for no chord. In minor, VI and VII are
  the natural-minor chords and V / viio the harmonic-minor ones (A:min F:maj C:maj G:maj in
  'A minor' is i VI III VII), and lowercase vi / vii are music21's raised degrees. A seventh
  figure's '7' is the key's seventh above the root ('I7' is Cmaj7 in C, 'V7' G7). Every figure of
  a chord with a third is one music21 reads back as the chord's pitch classes and bass, which is
  why Bb7 in C reads 'bVIIb7' (music21's 'bVII7' is Bbmaj7). Chords without a third are written
  as the numeral of their root plus the suspension ('Vsus4', 'bVII5').
- Functions: 'tonic', 'predominant', 'dominant' for diatonic chords; 'applied dominant' for V, V7,
  viio, viio7, viiø7 of another degree; 'borrowed' for modal mixture (bIII bVI bVII iv v i iio in
  major, Picardy I, Dorian IV and ii in minor, the Neapolitan bII in both); 'chromatic' for the
  rest; 'none' for no chord. The full mapping is in _romans.

music21 is imported on first use, not with this module, and each (chord, key) is read once per
process. Invalid input raises ValueError naming the cause; legal but degenerate input (no chords,
all 'N', a single chord) returns empty results with a warning.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from numbers import Real

from songlake.udfs import _harte
from songlake.udfs._cadences import Cadence, Meter, find_cadences
from songlake.udfs._complexity import complexity as _complexity
from songlake.udfs._events import merge
from songlake.udfs._patterns import BLUES, CATALOGUE, find_patterns
from songlake.udfs._romans import read

__all__ = ["BLUES", "CATALOGUE", "Cadence", "Harmony", "SQL_FUNCTIONS", "cadences", "harmonic_analysis",
           "progression_patterns", "roman", "transpose"]

MAX_SECONDS = 36000.0  # ten hours: larger times are sample counts or milliseconds


@dataclass(frozen=True)
class Harmony:
    """The theory of one song's chords; see harmonic_analysis."""

    roman_numerals: tuple[str, ...]  # one per chord span
    functional_harmony: tuple[str, ...]  # one per chord span
    cadences: tuple[Cadence, ...]  # in time order
    common_patterns: tuple[str, ...]  # catalogue names, in order of first hearing
    progression_complexity: float | None  # in [0, 1]


def roman(chord_label: str | None, key) -> str | None:
    """The roman numeral of a Harte chord label in a key: roman('D:7', 'C major') == 'V7/V'.

    'N' gives 'N'; None in either argument gives None (SQL NULL)."""
    if chord_label is None or key is None:
        return None
    return _read_span(None, chord_label, _harte.key_name(key)).figure


def transpose(chord_label: str | None, semitones: int | None) -> str | None:
    """The chord moved by semitones, Harte in and out: transpose('A:min7/b3', 3) == 'C:min7/b3'.

    The root is respelled C C# D Eb E F F# G Ab A Bb B; quality, degrees and bass interval stay.
    'N' stays 'N'; None in either argument gives None (SQL NULL)."""
    if chord_label is None or semitones is None:
        return None
    if isinstance(semitones, bool) or not isinstance(semitones, Real) or not float(semitones).is_integer():
        raise ValueError(f"transpose needs a whole number of semitones, got {semitones!r}")
    return _harte.transpose_label(chord_label, int(semitones))


def progression_patterns(chord_labels, key) -> tuple[str, ...] | None:
    """Catalogue names (see _patterns.CATALOGUE) found in a chord sequence, in order of first hearing.

    Without times each label counts as one bar for the twelve-bar blues, and the merged blues
    skeleton (I IV I V IV I) also counts. None elements are read as 'N'; a None list or key gives
    None (SQL NULL); fewer than two chords give ()."""
    if chord_labels is None or key is None:
        return None
    if isinstance(chord_labels, str):
        raise ValueError("progression_patterns needs a list of chord labels, got one string (wrap it in a list?)")
    key_name = _harte.key_name(key)
    labels = ["N" if label is None else label for label in chord_labels]
    readings = [_read_span(i, label, key_name) for i, label in enumerate(labels)]
    spans = [(float(i), float(i + 1)) for i in range(len(labels))]
    events = merge(spans, readings)
    if sum(e.is_chord for e in events) < 2:
        return ()
    return find_patterns(events, None, (1.0,), skeleton=True)


def harmonic_analysis(chords, key, beats=(), downbeats=(), sections=()) -> Harmony:
    """Roman numerals, functions, cadences, named progressions and complexity of a chord sequence.

    roman_numerals and functional_harmony align 1:1 with the chord spans (see the module
    docstring). The other results read the chords merged: consecutive spans of one harmony
    (G:maj then G:7) are one chord.

    Cadences (details in _cadences): authentic V(7)/viio(7) -> I, plagal IV/iv -> I, deceptive V ->
    vi (VI in minor, bVI in major) when prepared by a predominant or closing a phrase, and half
    (a phrase closing on V). Phrases end at section boundaries, before 'N' and at the song's end;
    motions across a phrase end are not cadences. An authentic cadence is perfect when a
    root-position V or V7 goes to a root-position tonic that arrives on a strong beat and closes a
    phrase; viio -> I, inversions, weak-beat arrivals and tonics inside a phrase make it imperfect
    (labels carry no melody, so metre and closure stand in for the soprano on the tonic).
    strength = 0.3 metric + 0.2 duration + 0.3 approach + 0.2 closure, each in [0, 1]: metric 1 on a
    downbeat, 0.5 mid-bar, 0.25 other beats, 0 off the beat (0.5 when no beats are known);
    duration the arrival's length in bars, capped at 1; approach 0.5 for V (0.25 viio), +0.25 for a
    seventh, +0.25 for a predominant before the dominant; closure 1 at a section or song end,
    0.75 before 'N'. A cadence's time is its arrival's onset (the V's, for a half cadence).

    Patterns (details and the catalogue in _patterns): contiguous runs of the merged chords,
    relative to the key, extensions ignored; a loop is reported once, by its rotation heard
    first; the twelve-bar blues by bar structure (bars from the downbeats, else four beats, else
    the song's shortest chord lengths).

    progression_complexity (details and sources in _complexity): 0.4 normalised information
    content of the chord changes (how unpredictable each change is, given the one before, under a
    model learnt from the song as it plays) + 0.2 share of non-diatonic chord time + 0.2
    circle-of-fifths dispersion + 0.2 harmonic-rhythm variety, after Di Giorgi et al. (2017),
    Pearce (2005) and Weiss & Mueller (2014).
    """
    key_name = _harte.key_name(key)
    spans = _spans(chords, "chord")
    readings = [_read_span(i, label, key_name) for i, (_, _, label) in enumerate(spans)]
    numerals = tuple(r.figure for r in readings)
    functions = tuple(r.function for r in readings)
    beats, downbeats = _times(beats, "beats"), _times(downbeats, "downbeats")
    section_spans = _spans(sections, "section")
    times = [(start, end) for start, end, _ in spans]
    events = merge(times, readings)  # for patterns: extensions ignored
    harmonies = merge(times, readings, by_function=True)  # for complexity: I -> V7/IV is a change
    chord_events = [e for e in harmonies if e.is_chord]
    if not chord_events:
        warnings.warn("no chords to analyse (no spans, or only 'N')", stacklevel=2)
        return Harmony(numerals, functions, (), (), None)
    if len(chord_events) < 2:
        only = next(r.figure for r in readings if r.offset >= 0)
        warnings.warn(f"a single chord ({only}): no progression to analyse", stacklevel=2)
        return Harmony(numerals, functions, (), (), None)

    cadences = _cadences(times, readings, key_name, beats, downbeats, section_spans, chord_events)
    patterns = find_patterns(events, *_bar_grid(beats, downbeats, chord_events, spans[-1][1]))
    pitch_classes = [_pitch_classes(label) for _, _, label in spans]
    score = _complexity(harmonies, times, readings, pitch_classes)
    return Harmony(numerals, functions, cadences, patterns, score)


def cadences(chords, key, beats=(), downbeats=()) -> tuple[Cadence, ...]:
    """Only the cadences of ``harmonic_analysis`` (the same reading of the same chords), with no
    sections: for finding the sections, which the cadences help to place. () for fewer than two
    chords."""
    key_name = _harte.key_name(key)
    spans = _spans(chords, "chord")
    readings = [_read_span(i, label, key_name) for i, (_, _, label) in enumerate(spans)]
    times = [(start, end) for start, end, _ in spans]
    chord_events = [e for e in merge(times, readings, by_function=True) if e.is_chord]
    if len(chord_events) < 2:
        return ()
    return _cadences(times, readings, key_name, _times(beats, "beats"), _times(downbeats, "downbeats"), [],
                     chord_events)


def _cadences(times, readings, key_name: str, beats, downbeats, section_spans, chord_events) -> tuple[Cadence, ...]:
    """The cadences of read chord spans, phrases cut at the section boundaries (see _cadences)."""
    mode = _harte.parse_key(key_name)[1]
    meter = Meter(beats, downbeats, [e.duration for e in chord_events])
    section_ends = [end for _, end, _ in section_spans]
    cuts = sorted({t for start, end, _ in section_spans for t in (start, end)})
    phrases = merge(times, readings, cuts, meter.tolerance, by_function=True)
    return find_cadences(phrases, mode, meter, section_ends)


def _read_span(index: int | None, label, key_name: str):
    where = "" if index is None else f"chord {index}: "
    if not isinstance(label, str):
        raise ValueError(f"{where}chord label must be a string such as 'C:maj', got {label!r}")
    try:
        return read(label, key_name)
    except ValueError as error:
        raise ValueError(f"{where}{error}") from None


@lru_cache(maxsize=4096)
def _pitch_classes(label: str) -> tuple[int, ...]:
    if _harte.is_no_chord(label):
        return ()
    shape = _harte.parse(label)
    return tuple((shape.root + i) % 12 for i in shape.intervals)


def _spans(spans, what: str) -> list[tuple[float, float, str]]:
    """(start, end, label) triples from spans, objects or tuples; ValueError naming the problem."""
    spans = getattr(spans, "spans", spans)
    if spans is None:
        return []
    out: list[tuple[float, float, str]] = []
    for i, span in enumerate(spans):
        try:
            start, end, label = (span.start, span.end, span.label) if hasattr(span, "start") else span
        except (TypeError, ValueError):
            raise ValueError(
                f"{what} span {i} is {span!r}: expected (start, end, label) or an object with those fields"
            ) from None
        if not isinstance(label, str):
            raise ValueError(f"{what} span {i} has label {label!r}: labels are strings such as 'C:maj'")
        start, end = _number(start, f"{what} span {i} start"), _number(end, f"{what} span {i} end")
        if end < start:
            raise ValueError(f"{what} span {i} ends at {end} before it starts at {start}")
        if out and start < out[-1][1] - 1e-3:
            raise ValueError(f"{what} spans out of order: span {i} starts at {start}, before span {i - 1} ends at "
                             f"{out[-1][1]} (sort them by start time; spans may not overlap)")
        out.append((start, end, label))
    return out


def _times(values, what: str) -> list[float]:
    out = [_number(v, what) for v in (values if values is not None else ())]
    if any(b < a for a, b in zip(out, out[1:])):
        raise ValueError(f"{what} out of order: times must ascend, in seconds")
    return out


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"{what} is {value!r}: times are finite numbers of seconds")
    value = float(value)
    if value < 0:
        raise ValueError(f"{what} is {value}: times are seconds from the start, not negative")
    if value > MAX_SECONDS:
        raise ValueError(f"{what} is {value}: times in samples or milliseconds, not seconds?")
    return value


def _bar_grid(beats, downbeats, chord_events, song_end: float):
    """(bar starts, bar lengths) for the blues reader: downbeats extended to the song's end,
    else bars of four beats, else the shortest chord durations as candidate bar lengths."""
    if len(downbeats) >= 2:
        bar = (downbeats[-1] - downbeats[0]) / (len(downbeats) - 1)
        starts = list(downbeats)
        while starts[-1] + bar < song_end + bar and bar > 0:
            starts.append(starts[-1] + bar)
        return starts, ()
    if len(beats) >= 2:
        return None, (4 * (beats[-1] - beats[0]) / (len(beats) - 1),)
    return None, tuple(sorted({round(e.duration, 2) for e in chord_events if e.duration > 0})[:4])


def _patterns_sql(chord_labels, key) -> list[str] | None:
    patterns = progression_patterns(chord_labels, key)
    return None if patterns is None else list(patterns)


SQL_FUNCTIONS = {
    "roman": (roman, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "transpose": (transpose, ["VARCHAR", "INTEGER"], "VARCHAR"),
    "progression_patterns": (_patterns_sql, ["VARCHAR[]", "VARCHAR"], "VARCHAR[]"),
}
