"""Cadences: where a phrase closes, what kind of close it is, and how strong.

The reader walks the chord events (spans of one harmony merged, never across a section
boundary). A phrase ends at a section boundary, where no-chord begins, and at the song's end;
motions across a phrase end are not cadences (the V that ends a pre-chorus is a half cadence; the
I that starts the chorus opens a phrase, it closes none).

Types, with V meaning a major triad on the fifth degree with or without its seventh:
- authentic: V(7) or viio(7) / viiø7 -> I (i in minor, or the Picardy I), anywhere in a phrase.
  Perfect (PAC) when a root-position V(7) goes to a root-position tonic that arrives on a strong
  beat and closes a phrase; otherwise imperfect (IAC): leading-tone dominants, inverted chords,
  weak-beat arrivals and tonics inside a phrase. Chord labels carry no soprano, so the PAC's
  'tonic in the melody' condition is stood in for by metric weight and phrase closure.
- plagal: IV or iv -> I (i), when the tonic closes a phrase, or arrives on a strong beat without
  starting another turn of a chord loop (IV -> I where a I-V-vi-IV loop comes round again opens
  a phrase; it closes none).
- deceptive: V(7) -> vi (or bVI) in major, V(7) -> VI in minor, when the V was prepared by a
  predominant or the arrival closes a phrase (a V -> vi inside a I-V-vi-IV loop is no cadence).
- half: a phrase that closes on V(7).

strength = 0.3 metric + 0.2 duration + 0.3 approach + 0.2 closure, each term in [0, 1]:
- metric, of the arrival onset: 1 on a downbeat, 0.5 on the mid-bar beat of an even-beat bar,
  0.25 on other beats, 0 off the beat grid; with beats but no downbeats 0.5 on a beat and 0 off
  it; with neither, 0.5 (unknown). 'Strong beat' means metric >= 0.5.
- duration: the arrival chord's length over a bar (median downbeat spacing, else four median
  beats, else the median chord length), capped at 1.
- approach: authentic 0.5 from V, 0.25 from viio, +0.25 with a seventh, +0.25 when the dominant
  is prepared: the chord before it, in the same phrase, has a predominant role (ii, IV, iv, iio,
  VI or bVI, bII, bVII; see _romans) or is an applied dominant of V (V/V, viio7/V); deceptive the
  same from V; half 0.5, +0.5 when prepared; plagal 0.5.
- closure: 1 when the arrival closes a section or the song, 0.75 when no-chord follows, else 0.
The time of a cadence is the onset of its arrival chord (the V for a half cadence).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from songlake.udfs._events import WILDCARD, Event


@dataclass(frozen=True)
class Cadence:
    type: str  # 'perfect authentic', 'imperfect authentic', 'plagal', 'half', 'deceptive'
    strength: float  # in [0, 1]
    time: float  # seconds, the onset of the arrival chord


class Meter:
    """Metric weight and bar length from beat and downbeat times (either may be empty)."""

    def __init__(self, beats, downbeats, chord_durations):
        self.beats = np.asarray(beats, float)
        self.downbeats = np.asarray(downbeats, float)
        self._downbeat_list = self.downbeats.tolist()
        beat = float(np.median(np.diff(self.beats))) if len(self.beats) > 1 else None
        if len(self.downbeats) > 1:
            self.bar = float(np.median(np.diff(self.downbeats)))
        elif beat:
            self.bar = 4 * beat
        else:
            self.bar = float(np.median(chord_durations)) if len(chord_durations) else 1.0
        self.tolerance = max(0.03, 0.15 * beat) if beat else max(0.05, 0.04 * self.bar)

    def _near(self, grid: np.ndarray, t: float) -> bool:
        return len(grid) > 0 and float(np.min(np.abs(grid - t))) <= self.tolerance

    def weight(self, t: float) -> float:
        if len(self.downbeats) == 0:
            if len(self.beats) == 0:
                return 0.5
            return 0.5 if self._near(self.beats, t) else 0.0
        if self._near(self.downbeats, t):
            return 1.0
        k = bisect.bisect_right(self._downbeat_list, t) - 1
        bar_start = self.downbeats[k] if k >= 0 else self.downbeats[0] - self.bar
        bar_end = self.downbeats[k + 1] if k + 1 < len(self.downbeats) else bar_start + self.bar
        if len(self.beats) == 0:
            return 0.5 if abs(t - (bar_start + bar_end) / 2) <= self.tolerance else 0.25
        if not self._near(self.beats, t):
            return 0.0
        in_bar = self.beats[(self.beats >= bar_start - self.tolerance) & (self.beats < bar_end - self.tolerance)]
        position = int(np.argmin(np.abs(in_bar - t))) if len(in_bar) else -1
        return 0.5 if len(in_bar) % 2 == 0 and position == len(in_bar) // 2 else 0.25

    def duration(self, seconds: float) -> float:
        return min(1.0, seconds / self.bar) if self.bar > 0 else 0.0


def find_cadences(events: list[Event], mode: str, meter: Meter, section_ends=()) -> tuple[Cadence, ...]:
    """Cadences in events merged within sections; section_ends are the sections' end times."""
    chords = [i for i, e in enumerate(events) if e.is_chord]
    if not chords:
        return ()
    song_end = events[chords[-1]].end

    def closure(i: int) -> float:
        end = events[i].end
        if i == chords[-1] or any(abs(end - s) <= meter.tolerance for s in section_ends) or end >= song_end:
            return 1.0
        return 0.75 if i + 1 < len(events) and not events[i + 1].is_chord else 0.0

    def prepared(i: int) -> bool:
        """The event before dominant i is a predominant in the same phrase."""
        if i == 0 or not events[i - 1].is_chord or closure(i - 1) > 0:
            return False
        before = events[i - 1].last
        return before.role == "predominant" or before.figure.endswith("/V")

    def strength(arrival: int, approach: float) -> float:
        e = events[arrival]
        score = 0.3 * meter.weight(e.start) + 0.2 * meter.duration(e.duration) + 0.3 * approach + 0.2 * closure(arrival)
        return round(min(1.0, max(0.0, score)), 3)

    cadences: list[Cadence] = []
    for i in chords:
        e = events[i]
        if _is_v(e) and closure(i) > 0:
            cadences.append(Cadence("half", strength(i, 0.5 + 0.5 * prepared(i)), e.start))
        if closure(i) > 0 or i + 1 >= len(events) or not events[i + 1].is_chord:
            continue
        n = i + 1
        arrival = events[n]
        strong = meter.weight(arrival.start) >= 0.5
        if _is_tonic(arrival, mode) and (_is_v(e) or _is_leading(e)):
            approach = (0.5 if _is_v(e) else 0.25) + 0.25 * e.seventh + 0.25 * prepared(i)
            perfect = _is_v(e) and e.last.inversion == 0 and arrival.first.inversion == 0 and strong and closure(n) > 0
            kind = "perfect authentic" if perfect else "imperfect authentic"
            cadences.append(Cadence(kind, strength(n, approach), arrival.start))
        elif _is_tonic(arrival, mode) and e.offset == 5 and e.triad in ("maj", "min") and (
            closure(n) > 0 or (strong and not _restarts_loop(events, n))
        ):
            cadences.append(Cadence("plagal", strength(n, 0.5), arrival.start))
        elif _is_v(e) and _is_deceptive(arrival, mode) and (prepared(i) or closure(n) > 0):
            approach = 0.5 + 0.25 * e.seventh + 0.25 * prepared(i)
            cadences.append(Cadence("deceptive", strength(n, approach), arrival.start))
    return tuple(sorted(cadences, key=lambda c: c.time))


def _restarts_loop(events: list[Event], n: int, longest: int = 8) -> bool:
    """Whether event n starts another turn of a chord loop (the chords from n repeat the ones
    just before it), which makes it the first chord of a phrase rather than the last."""
    tokens = [e.token for e in events]
    return any(n >= size and tokens[n - size:n] == tokens[n:n + size] for size in range(2, longest + 1))


def _is_v(e: Event) -> bool:
    return e.offset == 7 and e.triad in ("maj", WILDCARD)


def _is_leading(e: Event) -> bool:
    return e.offset == 11 and e.triad == "dim"


def _is_tonic(e: Event, mode: str) -> bool:
    return e.offset == 0 and (e.triad in ("maj", WILDCARD) if mode == "major" else e.triad in ("min", "maj", WILDCARD))


def _is_deceptive(e: Event, mode: str) -> bool:
    targets = {(9, "min"), (8, "maj")} if mode == "major" else {(8, "maj")}
    return e.token in targets
