"""Chord events: consecutive spans of the same harmony merged, the unit that theory reasons about.

Two spans are the same harmony when their roots match and their triads match once extensions
are dropped (G:maj then G:7 is one dominant event); a chord without a third (G:sus4) joins a
neighbour on the same root. For cadences their functions must match too (C:maj then C:7 is I
then V7/IV). A cut (a section boundary) keeps spans apart, so a phrase that ends
on I is not merged with the I that starts the next one. No-chord spans become no-chord events.
"""

from __future__ import annotations

from dataclasses import dataclass

from songlake.udfs._romans import Reading

WILDCARD = "*"  # the triad class of chords without a third


def triad_class(reading: Reading) -> str:
    """'maj', 'min', 'dim', 'aug', '*' for chords without a third, 'N' for no chord."""
    if reading.offset < 0:
        return "N"
    return reading.triad if reading.triad in ("maj", "min", "dim", "aug") else WILDCARD


@dataclass(frozen=True)
class Event:
    start: float
    end: float
    offset: int  # root above the tonic; -1 for no chord
    triad: str  # triad_class of the event
    first: Reading  # the reading of its first span
    last: Reading  # the reading of its last span
    seventh: bool  # any of its spans has a seventh

    @property
    def is_chord(self) -> bool:
        return self.offset >= 0

    @property
    def token(self) -> tuple[int, str]:
        return self.offset, self.triad

    @property
    def duration(self) -> float:
        return self.end - self.start


def same_harmony(a: tuple[int, str], b: tuple[int, str]) -> bool:
    if a[0] != b[0]:
        return False
    return a[1] == b[1] or (WILDCARD in (a[1], b[1]) and "N" not in (a[1], b[1]))


def merge(spans, readings, cuts=(), tolerance: float = 0.05, by_function: bool = False) -> list[Event]:
    """Merge spans (start, end) with their readings into events, never across a cut time.

    by_function: also require the same function, so that I then I7-as-V7/IV stay two chords
    (pattern matching wants them one, as its V7 matches V)."""
    events: list[Event] = []
    cut_times = sorted(cuts)
    for (start, end), reading in zip(spans, readings):
        token = (reading.offset, triad_class(reading))
        if (
            events
            and same_harmony(events[-1].token, token)
            and not (by_function and events[-1].last.function != reading.function)
            and not _cut_between(events[-1].end, cut_times, tolerance)
        ):
            last = events[-1]
            triad = last.triad if last.triad != WILDCARD else token[1]
            events[-1] = Event(last.start, end, last.offset, triad, last.first, reading,
                               last.seventh or reading.seventh is not None)
        else:
            events.append(Event(start, end, token[0], token[1], reading, reading, reading.seventh is not None))
    return events


def _cut_between(time: float, cut_times: list[float], tolerance: float) -> bool:
    return any(abs(time - cut) <= tolerance for cut in cut_times)
