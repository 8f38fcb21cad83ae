"""The catalogue of named chord progressions, and where a song plays them.

Matching is relative to the key, so it is transposition-invariant: each chord becomes (root above
the tonic, triad), extensions and inversions dropped (V7 matches V, ii7 matches ii), chords
without a third match any triad on their root, repeats merged, and a pattern is a contiguous run
of those chords; no-chord breaks a run. Names use the figures of the literature; music21 realises
each entry's figures in C major or c minor (the entry says which) to get the chords it stands for,
so 'i-bVII-bVI-V' (rock's parallel-major spelling) and 'i-VII-VI-V' would be the same chords.

Loops: the entries marked loop are cycles. All rotations of a cycle are one loop; each unbroken
run of it is reported once, by the catalogued rotation heard first (a song that starts its loop
on vi reports 'vi-IV-I-V', not also 'I-V-vi-IV', however long the loop runs; a run that starts
on I reports 'I-V-vi-IV'). A song that plays the loop again elsewhere, after other chords, from
another chord reports that rotation too. Linear entries are reported when they occur anywhere.
Names are listed once each, in order of first hearing.

The twelve-bar blues is read by bar structure, not chord order: twelve bars whose chords,
relative to the first bar's root (not the key's tonic, so a blues whose key was misread still
counts), are I I I I | IV IV I I | V IV I I, allowing the usual variants (quick change IV in bar
2, #iv dim in bar 6, VI or iii in bar 8, ii in bar 9, V in bar 10, the V turnaround in bar 12)
and one other deviation outside the pillar bars 1, 5, 7, 9 and 11. Bars come from the downbeats,
or when there are none from a grid stepped from each chord onset (a bar of four beats, or with
no beats each of the song's four shortest chord lengths). Given labels without times, each label
is a bar, and the merged skeleton I IV I V IV I (or with the quick change) also counts.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache

from songlake.udfs._events import WILDCARD, Event
from songlake.udfs._romans import realise

BLUES = "twelve-bar blues"


@dataclass(frozen=True)
class Pattern:
    name: str  # as reported, e.g. 'I-V-vi-IV'
    mode: str  # the key music21 realises the figures in: 'major' (C) or 'minor' (c)
    loop: bool  # a cycle: rotations are the same loop
    about: str
    figures: str = ""  # music21 figures, when the name is not itself readable by music21

    @property
    def chords(self) -> tuple[tuple[int, str], ...]:
        return _chords(self.figures or self.name.replace("-", " "), self.mode)


CATALOGUE: tuple[Pattern, ...] = (
    Pattern("I-V-vi-IV", "major", True, "the 'Axis' pop loop (Let It Be, With or Without You)"),
    Pattern("vi-IV-I-V", "major", True, "the Axis loop started on vi (Zombie, Africa's chorus)"),
    Pattern("IV-I-V-vi", "major", True, "the Axis loop started on IV"),
    Pattern("I-vi-IV-V", "major", True, "the '50s / doo-wop progression (Stand By Me)"),
    Pattern("I-IV-vi-V", "major", True, "a pop loop (Someone Like You's pre-chorus family)"),
    Pattern("I-vi-ii-V", "major", True, "the circle turnaround, ii for IV (I Got Rhythm)"),
    Pattern("IV-V-iii-vi", "major", True, "the 'royal road' of J-pop"),
    Pattern("I-IV-V-IV", "major", True, "the La Bamba / Twist and Shout loop"),
    Pattern("I-bVII-IV", "major", True, "the Mixolydian double-plagal loop (Sweet Home Alabama, Gloria)"),
    Pattern("i-VI-III-VII", "minor", True, "the Aeolian loop, minor twin of vi-IV-I-V"),
    Pattern("i-VII-VI-VII", "minor", True, "the Aeolian vamp (All Along the Watchtower)"),
    Pattern("i-bVII-bVI-V", "major", True, "the Andalusian cadence, a descending tetrachord"),
    Pattern("I-IV-V", "major", False, "the three-chord progression"),
    Pattern("ii-V-I", "major", False, "the jazz cadence"),
    Pattern("vi-ii-V-I", "major", False, "the circle-of-fifths approach"),
    Pattern("iiø-V-i", "minor", False, "the minor ii-V-i", "iio V i"),
    Pattern("i-iv-v", "minor", False, "the natural-minor three-chord progression"),
    Pattern("i-iv-V", "minor", False, "the harmonic-minor three-chord progression"),
    Pattern("bVI-bVII-I", "major", False, "the Aeolian ('Mario') cadence"),
    Pattern("I-V-vi-iii-IV-I-IV-V", "major", False, "Pachelbel's Canon"),
)

_TRIADS = {(0, 4, 7): "maj", (0, 3, 7): "min", (0, 3, 6): "dim", (0, 4, 8): "aug"}


@lru_cache(maxsize=64)
def _chords(figures: str, mode: str) -> tuple[tuple[int, str], ...]:
    chords = []
    for figure in figures.split():
        root, intervals, _ = realise(figure, mode)
        chords.append((root, _TRIADS[intervals[:3] if len(intervals) > 3 else intervals]))
    return tuple(chords)


def _matches(token: tuple[int, str], wanted: tuple[int, str]) -> bool:
    return token[0] == wanted[0] and (token[1] == wanted[1] or token[1] == WILDCARD)


def _starts(tokens: list[tuple[int, str]], chords: tuple[tuple[int, str], ...]) -> list[int]:
    size = len(chords)
    return [i for i in range(len(tokens) - size + 1)
            if all(_matches(tokens[i + j], chords[j]) for j in range(size))]


def _rotations_equal(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and any(a == b[k:] + b[:k] for k in range(len(b)))


@lru_cache(maxsize=1)
def _cycle_classes() -> list[list[Pattern]]:
    classes: list[list[Pattern]] = []
    for pattern in (p for p in CATALOGUE if p.loop):
        for members in classes:
            if _rotations_equal(members[0].chords, pattern.chords):
                members.append(pattern)
                break
        else:
            classes.append([pattern])
    return classes


def find_patterns(events: list[Event], bar_starts=None, bar_lengths=(), skeleton: bool = False) -> tuple[str, ...]:
    """Catalogue names found in the events (merged, no-chord breaks runs), in order of first hearing.

    bar_starts: bar start times for the blues (from downbeats), or None to step bars of each of
    bar_lengths from every chord onset; skeleton: also accept the merged blues skeleton."""
    tokens = [e.token for e in events]
    found: dict[str, int] = {}

    def note(name: str, position: int) -> None:
        found[name] = min(found.get(name, position), position)

    for members in _cycle_classes():
        size = len(members[0].chords)
        hits = sorted((i, p.name) for p in members for i in _starts(tokens, p.chords))
        previous = None
        for i, name in hits:
            if previous is None or i - previous > size:
                note(name, i)  # a new occurrence of the loop, named by its first rotation
            previous = i
    for pattern in (p for p in CATALOGUE if not p.loop):
        starts = _starts(tokens, pattern.chords)
        if starts:
            note(pattern.name, starts[0])
    blues = _blues(events, bar_starts, bar_lengths)
    if blues is None and skeleton:
        blues = _blues_skeleton(tokens)
    if blues is not None:
        note(BLUES, blues)
    return tuple(sorted(found, key=lambda name: (found[name], name)))


# Allowed roots (semitones above the first bar's root) per bar; the pillars must always match.
_BLUES_BARS = ({0}, {0, 5}, {0}, {0}, {5}, {5, 6}, {0}, {0, 4, 9}, {7, 2}, {5, 7}, {0}, {0, 7})
_PILLARS = (0, 4, 6, 8, 10)
_SKELETONS = ((0, 5, 0, 7, 5, 0), (0, 5, 0, 5, 0, 7, 5, 0))


def _blues(events: list[Event], bar_starts, bar_lengths) -> int | None:
    """Index of the event that starts the first twelve-bar blues, or None."""
    chords = [e for e in events if e.is_chord]
    roots = {e.offset for e in chords}
    if not any((r + 5) % 12 in roots and (r + 7) % 12 in roots for r in roots):
        return None  # no I, IV and V to build a blues from
    onsets = [e.start for e in events]

    def root_at(t: float) -> int | None:
        i = bisect.bisect_right(onsets, t) - 1
        return events[i].offset if 0 <= i < len(events) and events[i].end > t and events[i].is_chord else None

    grids: list[list[float]] = []
    if bar_starts is not None and len(bar_starts) >= 12:
        starts = list(bar_starts)
        grids = [starts[k:k + 13] for k in range(len(starts) - 11)]
    else:
        for length in sorted({round(x, 3) for x in bar_lengths if x > 0}):
            grids.extend([e.start + b * length for b in range(13)] for e in chords)
    for grid in grids:
        if len(grid) < 13:
            grid = grid + [grid[-1] + (grid[-1] - grid[-2])]
        anchor = root_at(grid[0] + 0.25 * (grid[1] - grid[0]))
        if anchor is None:
            continue
        misses = 0
        for bar, allowed in enumerate(_BLUES_BARS):
            root = root_at(grid[bar] + 0.25 * (grid[bar + 1] - grid[bar]))
            if root is None or (root - anchor) % 12 not in allowed:
                misses += 1 if bar not in _PILLARS else 99
        if misses <= 1:
            return bisect.bisect_right(onsets, grid[0] + 1e-6) - 1
    return None


def _blues_skeleton(tokens: list[tuple[int, str]]) -> int | None:
    roots = [t[0] for t in tokens]
    for skeleton in _SKELETONS:
        for i in range(len(roots) - len(skeleton) + 1):
            if roots[i] >= 0 and all(r >= 0 and (r - roots[i]) % 12 == s for r, s in zip(roots[i:], skeleton)):
                return i
    return None
