"""Arrangement: a song plan becomes MIDI notes (pretty_midi) plus the truth's timeline.

Everything is placed on a fixed beat grid (constant tempo, the plan's meter) and then humanised:
onsets move by a few milliseconds, velocities vary, strums spread over the strings. The truth is
the grid as written, so it is exact: beats, downbeats, chord spans (aligned to beats) and
sections (aligned to bars). Each style has its own drum pattern, bass line, accompaniment
figure and melody rhythm; sections differ in energy, instruments and figures as songs do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from songlake._corpus_styles import (
    ENERGY, MAJOR_SCALE, METERS, MINOR_SCALE, QUALITIES, ROMANS, STYLES, SongPlan, chord_label,
)

# General MIDI drum notes.
KICK, SIDE_STICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE, TAMBOURINE, SHAKER = (
    36, 37, 38, 39, 42, 44, 46, 49, 51, 54, 70)
LOW_TOM, MID_TOM, HIGH_TOM = 45, 47, 50
TAIL_SECONDS = 2.0  # the last chord rings out this long after the last bar


@dataclass(frozen=True)
class Segment:
    """One chord inside one bar: where it sounds (in beats from the bar's start) and what it is."""

    start: float
    end: float
    numeral: str
    root: int  # pitch class
    tones: tuple[int, ...]  # pitch classes, root first


@dataclass(frozen=True)
class Bar:
    time: float  # seconds
    label: str
    energy: int
    number: int  # 0 for its section's first bar
    last: bool  # last bar of its section
    segments: tuple[Segment, ...]

    @property
    def first(self) -> bool:
        return self.number == 0

    def chord_at(self, position: float) -> Segment:
        for segment in self.segments:
            if segment.start <= position < segment.end:
                return segment
        return self.segments[-1]


@dataclass
class Timeline:
    """The truth in seconds, as the arrangement laid it out."""

    beats: list[float]
    downbeats: list[float]
    chords: list[tuple[float, float, str]]
    romans: list[str]
    sections: list[tuple[float, float, str]]
    duration: float


class _Part:
    """Notes of one instrument, placed in beats and converted to humanised seconds."""

    def __init__(self, arranger: "_Arranger", jitter: float):
        self.arranger = arranger
        self.jitter = jitter
        self.notes: list[tuple[int, float, float, int]] = []  # pitch, start, end, velocity

    def add(self, bar: Bar, pitch: int, position: float, length: float, velocity: float, offset: float = 0.0) -> None:
        a = self.arranger
        start = bar.time + a.swung(position) * a.beat
        end = bar.time + a.swung(position + length) * a.beat
        start += float(np.clip(a.rng.normal(0, self.jitter), -2.5 * self.jitter, 2.5 * self.jitter)) + offset
        velocity = int(np.clip(velocity * a.level(bar) + a.rng.normal(0, 6), 20, 124))
        self.notes.append((int(pitch), max(0.0, start), max(start + 0.03, end - 0.01), velocity))


class _Arranger:
    def __init__(self, plan: SongPlan):
        self.plan = plan
        self.rng = np.random.default_rng(plan.seed)
        self.beats_per_bar, self.subdivisions = METERS[plan.meter]
        self.beat = 60.0 / plan.bpm
        self.compound = self.subdivisions == 3
        self.scale = MAJOR_SCALE if plan.mode == "major" else MINOR_SCALE
        self.bars = self._lay_out_bars()
        self.parts = {role: _Part(self, jitter) for role, jitter in
                      (("drums", 0.004), ("bass", 0.008), ("chords", 0.010), ("pad", 0.006),
                       ("melody", 0.010), ("solo", 0.008))}
        self.last_pitch: int | None = None  # where the melody left off, so phrases connect

    # -- the grid ---------------------------------------------------------------------------

    def _lay_out_bars(self) -> list[Bar]:
        bars = []
        time = self.plan.lead_in
        bar_seconds = self.beats_per_bar * self.beat
        for section in self.plan.sections:
            energy = ENERGY[section.label]
            for i, text in enumerate(section.bars):
                numerals = text.split()
                bars.append(Bar(time, section.label, energy, i, i == len(section.bars) - 1,
                                self._segments(numerals)))
                time += bar_seconds
        return bars

    def _segments(self, numerals: list[str]) -> tuple[Segment, ...]:
        # Two chords split the bar at a beat: 2+2 in 4/4, 2+1 in 3/4, 1+1 in 6/8.
        n = self.beats_per_bar
        edges = [0.0, float(n)] if len(numerals) == 1 else [0.0, float((n + 1) // 2), float(n)]
        out = []
        for numeral, start, end in zip(numerals, edges, edges[1:]):
            offset, quality = ROMANS[numeral]
            root = (self.plan.tonic + offset) % 12
            out.append(Segment(start, end, numeral, root, tuple((root + i) % 12 for i in QUALITIES[quality])))
        return tuple(out)

    def swung(self, position: float) -> float:
        """Delay the off-beat subdivisions by the style's swing (positions in beats)."""
        swing = STYLES[self.plan.style].swing
        if not swing or self.compound:
            return position
        whole, frac = divmod(position, 1.0)
        if self.plan.style == "jazz" and abs(frac - 0.5) < 1e-6:
            return whole + 0.5 + swing
        if self.plan.style == "hip-hop" and (abs(frac - 0.25) < 1e-6 or abs(frac - 0.75) < 1e-6):
            return whole + frac + swing
        return position

    def level(self, bar: Bar) -> float:
        return (0.62, 0.74, 0.86, 1.0)[bar.energy]

    def timeline(self) -> Timeline:
        beats, downbeats, chords, romans, sections = [], [], [], [], []
        for bar in self.bars:
            downbeats.append(bar.time)
            beats.extend(bar.time + b * self.beat for b in range(self.beats_per_bar))
            for seg in bar.segments:
                start, end = bar.time + seg.start * self.beat, bar.time + seg.end * self.beat
                if romans and romans[-1] == seg.numeral:
                    chords[-1] = (chords[-1][0], end, chords[-1][2])
                else:
                    chords.append((start, end, chord_label(self.plan.tonic, seg.numeral)))
                    romans.append(seg.numeral)
        music_end = self.bars[-1].time + self.beats_per_bar * self.beat
        duration = music_end + TAIL_SECONDS
        chords[-1] = (chords[-1][0], duration, chords[-1][2])  # the last chord rings out
        if self.plan.lead_in > 0:
            chords.insert(0, (0.0, self.plan.lead_in, "N"))
            romans.insert(0, "N")
        start = 0.0
        for i, bar in enumerate(self.bars):
            if bar.last:
                end = duration if i == len(self.bars) - 1 else self.bars[i + 1].time
                sections.append((start, end, bar.label))
                start = end
        r = lambda t: round(float(t), 4)  # noqa: E731 - four decimals: 0.1 ms, far below any tolerance
        return Timeline([r(b) for b in beats], [r(d) for d in downbeats],
                        [(r(s), r(e), lab) for s, e, lab in chords], romans,
                        [(r(s), r(e), lab) for s, e, lab in sections], r(duration))

    # -- the band ---------------------------------------------------------------------------

    def arrange(self) -> None:
        for index, bar in enumerate(self.bars):
            final = index == len(self.bars) - 1
            if self.plan.drums:
                self._drums(bar, final)
            self._bass(bar, final)
            self._chords(bar, final)
            if bar.energy >= 3 or bar.label in ("pre-chorus", "bridge") or final:
                self._pad(bar, final)
            if bar.label == "solo":
                self._melody(bar, index, "solo")
            elif bar.label in ("verse", "pre-chorus", "chorus", "bridge") or (bar.label == "intro" and index >= 2):
                self._melody(bar, index, "melody")

    def _drums(self, bar: Bar, final: bool) -> None:
        part, style, e = self.parts["drums"], self.plan.style, bar.energy
        hits: list[tuple[int, float, float]] = []  # note, position, velocity
        n = self.beats_per_bar
        if final:
            hits += [(KICK, 0, 100), (CRASH, 0, 105)]
        elif style == "rock":
            cymbal = RIDE if e >= 3 else HAT
            hits += [(cymbal, i / 2, 80 if i % 2 == 0 else 62) for i in range(8)] if e >= 2 else \
                [(HAT, i, 70) for i in range(4)]
            hits += [(KICK, p, 105) for p in ((0, 1.5, 2, 2.5) if e >= 3 else (0, 2, 2.5) if e >= 2 else (0, 2))]
            if e >= 2:
                hits += [(SNARE, 1, 105), (SNARE, 3, 108)]
        elif style == "pop":
            hits += [(HAT, i / 4, 72 if i % 2 == 0 else 52) for i in range(16)] if e >= 2 else \
                [(HAT, i / 2, 60) for i in range(8)]
            hits += [(KICK, p, 100) for p in ((0, 1.5, 2, 2.75) if e >= 3 else (0, 1.5, 2) if e >= 2 else (0,))]
            if e >= 2:
                hits += [(SNARE, 1, 100), (SNARE, 3, 100)] + ([(CLAP, 1, 85), (CLAP, 3, 85)] if e >= 3 else [])
            if e >= 3:
                hits += [(TAMBOURINE, i + 0.5, 60) for i in range(4)]
        elif style == "electronic":
            if e >= 2 or bar.label == "outro":
                hits += [(KICK, i, 112) for i in range(4)]
            if e >= 2:
                hits += [(CLAP, 1, 95), (CLAP, 3, 95)] + [(OPEN_HAT, i + 0.5, 70) for i in range(4)]
            hits += [(HAT, i / 4, 58 if i % 2 else 70) for i in range(16)] if e >= 3 else \
                [(HAT, i / 2, 55) for i in range(8)]
        elif style == "hip-hop":
            hits += [(KICK, p, 110) for p in ((0, 0.75, 2.5) if e >= 2 else (0, 2.5))]
            hits += [(SNARE, 1, 105), (SNARE, 3, 105)] if e >= 2 else [(SIDE_STICK, 1, 80), (SIDE_STICK, 3, 80)]
            hits += [(HAT, i / 4, 70 if i % 2 == 0 else 48) for i in range(16)] if e >= 3 else \
                [(HAT, i / 2, 64) for i in range(8)]
        elif style == "jazz":
            hits += [(RIDE, p, 78 if p % 1 == 0 else 62) for p in (0, 1, 1.5, 2, 3, 3.5)]
            hits += [(PEDAL_HAT, 1, 70), (PEDAL_HAT, 3, 70)] + [(KICK, i, 38) for i in range(4)]
            if e >= 3:
                hits += [(SNARE, float(p), 45) for p in self.rng.choice([0.5, 1.5, 2.5, 3.5], 2, replace=False)]
        elif style == "folk":
            hits += [(KICK, 0, 90), (KICK, 2, 85), (SIDE_STICK, 1, 80), (SIDE_STICK, 3, 80)]
            hits += [(SHAKER, i / 2, 55 if i % 2 else 70) for i in range(8)]
            if e >= 3:
                hits += [(TAMBOURINE, 1, 70), (TAMBOURINE, 3, 70)]
        elif style == "waltz":
            hits += [(KICK, 0, 85), (SIDE_STICK, 1, 65), (SIDE_STICK, 2, 65)]
            if e >= 3:
                hits += [(HAT, i / 2, 55) for i in range(6)]
        elif style == "ballad":  # 6/8: kick on 1, backbeat on the second dotted quarter
            hits += [(KICK, 0, 95), (SNARE if e >= 3 else SIDE_STICK, 1, 95 if e >= 3 else 75)]
            hits += [(HAT if e < 3 else RIDE, i / 3, 62 if i % 3 == 0 else 48) for i in range(6)]
        if bar.first and e >= 2 and not final:
            hits.append((CRASH, 0, 100))
        if bar.last and not final and e >= 2 and style not in ("jazz", "waltz"):
            hits = [h for h in hits if h[1] < n - 1] + self._fill(n)
        for note, position, velocity in hits:
            part.add(bar, note, position, 0.25, velocity)

    def _fill(self, n: int) -> list[tuple[int, float, float]]:
        """A one-beat fill into the next section: snare and toms on the subdivisions of the last beat."""
        steps = self.subdivisions * (1 if self.compound else 2)
        notes = (SNARE, HIGH_TOM, MID_TOM, LOW_TOM, SNARE, LOW_TOM)
        return [(notes[i % len(notes)], n - 1 + i / steps, 85 + 4 * i) for i in range(steps)]

    def _bass(self, bar: Bar, final: bool) -> None:
        part, style, e = self.parts["bass"], self.plan.style, bar.energy
        if bar.label == "intro" and e <= 1 and bar.first and style in ("electronic", "ballad"):
            return  # the song starts with the harmony alone
        for seg in bar.segments:
            root = _in_range(seg.root, 33)
            fifth = root + ((seg.tones[2] - seg.root) % 12)
            length = seg.end - seg.start
            if final or e <= 1 or style == "ballad" and e < 3:
                figure = [(0, length, root)]
            elif style == "rock":
                figure = [(i / 2, 0.45, root) for i in range(int(length * 2))]
            elif style == "pop":
                figure = [(0, 1.4, root), (1.5, 0.5, root), (2, 1.0, fifth), (3, 0.9, root + 12)]
                figure = figure if length >= 4 else figure[:2]
            elif style == "electronic":
                figure = [(i + 0.5, 0.4, root) for i in range(int(length))] + ([(0, 0.4, root)] if e >= 3 else [])
            elif style == "hip-hop":
                figure = [(0, 0.7, root), (0.75, 0.6, root), (2.5, 1.4, root)] if length >= 4 else [(0, length, root)]
            elif style == "jazz":
                figure = self._walk(bar, seg, root)
            elif style == "folk":
                figure = [(0, 1.9, root), (2, 1.9, fifth)] if length >= 4 else [(0, length, root)]
            elif style == "waltz":
                figure = [(0, 0.9, root if self.rng.uniform() < 0.7 else fifth - 12)]
            else:  # ballad chorus in 6/8
                figure = [(0, 1.0, root), (1.0, 0.9, fifth)] if length >= 2 else [(0, length, root)]
            for position, dur, pitch in figure:
                if position < length:
                    part.add(bar, pitch, seg.start + position, min(dur, length - position), 92)

    def _walk(self, bar: Bar, seg: Segment, root: int) -> list[tuple[float, float, int]]:
        """A walking bass: root, chord tones, and a chromatic step into the next chord."""
        length = int(seg.end - seg.start)
        tones = [root + ((t - seg.root) % 12) for t in seg.tones]
        line = [root] + [int(self.rng.choice(tones[1:] + [root + 12])) for _ in range(length - 1)]
        if length >= 2:
            line[-1] = root + int(self.rng.choice([-1, 1, 2]))
        return [(i, 0.95, p) for i, p in enumerate(line)]

    def _chords(self, bar: Bar, final: bool) -> None:
        part, style, e = self.parts["chords"], self.plan.style, bar.energy
        for seg in bar.segments:
            length = seg.end - seg.start
            voicing = self._voice(seg, 62 if style != "rock" else 57)
            if final:
                figure, velocity = [(0.0, length + 1.0)], 80
            elif style == "rock":
                voicing = _guitar(seg)
                if e <= 2:  # quieter sections: the chord picked one string at a time
                    for j in range(int(length * 2)):
                        part.add(bar, voicing[j % len(voicing)], seg.start + j / 2, 0.5, 70)
                    continue
                figure, velocity = [(i / 2, 0.45) for i in range(int(length * 2))], 78
            elif style == "pop":
                figure = [(0, 1.4), (1.5, 1.0), (2.5, 1.4)] if length >= 4 and e >= 2 else \
                    [(i, 0.9) for i in range(int(length))]
                velocity = 72
            elif style == "electronic":
                figure = [(i + 0.5, 0.3) for i in range(int(length))] if e >= 3 else [(0, length)]
                velocity = 66
            elif style == "hip-hop":
                figure = [(0, 1.4), (1.5, 0.4), (2.5, 1.4)] if length >= 4 else [(0, length)]
                velocity = 66
            elif style == "jazz":
                options = ([(0, 0.9), (1.5, 0.4)], [(0.5, 0.4), (2, 0.9)], [(0, 0.4), (1.5, 0.9), (3, 0.4)])
                figure = [p for p in options[int(self.rng.integers(3))] if p[0] < length] or [(0, length)]
                velocity = 64
            elif style == "folk":
                voicing = _guitar(seg)
                if e >= 3:
                    figure = [(0, 0.9), (1, 0.4), (1.5, 0.9), (2.5, 0.4), (3, 0.9)]
                    figure = [p for p in figure if p[0] < length]
                else:  # fingerpicking: bass string on the beat, the others between
                    for j in range(int(length * 2)):
                        pitch = voicing[0] if j % 4 == 0 else voicing[1 + (j % (len(voicing) - 1))]
                        part.add(bar, pitch, seg.start + j / 2, 0.9, 68)
                    continue
                velocity = 70
            elif style == "waltz":
                figure = [(1, 0.6), (2, 0.6)] if length >= 3 else [(0, length)]
                velocity = 64
            else:  # ballad: broken chords in eighths
                low = _in_range(seg.root, 45)
                arp = [low] + [p for p in voicing if p > low][:3]
                pattern = (0, 1, 2, 3, 2, 1)
                for j in range(int(length * 3)):
                    part.add(bar, arp[pattern[j % 6] % len(arp)], seg.start + j / 3, 0.6, 64)
                continue
            strum = 0.012 if style in ("rock", "folk") else 0.0
            for position, dur in figure:
                for k, pitch in enumerate(voicing):
                    part.add(bar, pitch, seg.start + position, min(dur, length - position + (1.0 if final else 0)),
                             velocity, offset=k * strum)

    def _pad(self, bar: Bar, final: bool) -> None:
        if self.plan.style == "jazz":
            return
        for seg in bar.segments:
            voicing = self._voice(seg, 67)
            for pitch in voicing:
                self.parts["pad"].add(bar, pitch, seg.start, seg.end - seg.start + (1.0 if final else 0), 55)

    @staticmethod
    def _voice(seg: Segment, center: int) -> list[int]:
        """A close voicing of the chord: each tone in the octave around center."""
        low = center - 6
        return sorted(low + (pc - low) % 12 for pc in seg.tones)

    def _melody(self, bar: Bar, index: int, role: str) -> None:
        """A melody from a per-section rhythm motif: chord tones on the beats, steps between."""
        part = self.parts[role]
        motif_rng = np.random.default_rng([self.plan.seed, sum(map(ord, bar.label)), index % 2])
        n = self.beats_per_bar
        if role == "solo":
            onsets = [i / self.subdivisions for i in range(n * self.subdivisions)]
            onsets = [p for p in onsets if self.rng.uniform() < 0.85]
        else:
            bank = _RHYTHMS[self.plan.meter]
            onsets = list(bank[int(motif_rng.integers(len(bank)))])
            if bar.number % 4 == 3:  # phrase end: one long note
                onsets = [0.0]
        center = {"verse": 67, "pre-chorus": 69, "chorus": 72, "bridge": 69, "intro": 72, "solo": 74}.get(bar.label, 67)
        previous = self.last_pitch or center
        for j, position in enumerate(onsets):
            seg = bar.chord_at(position)
            end = onsets[j + 1] if j + 1 < len(onsets) else float(n)
            strong = abs(position - round(position)) < 1e-6
            pool = list(seg.tones) if strong or not self._diatonic(seg) else self._passing(seg)
            candidates = [p for p in range(center - 8, center + 10) if p % 12 in pool]
            step = motif_rng.integers(-3, 4)
            target = previous + int(step)
            pitch = min(candidates, key=lambda p: (abs(p - target), p))
            part.add(bar, pitch, position, max(0.2, end - position - 0.05), 90 if role == "melody" else 88)
            previous = pitch
        self.last_pitch = previous

    def _diatonic(self, seg: Segment) -> bool:
        scale = {(self.plan.tonic + s) % 12 for s in self.scale}
        return all(t in scale for t in seg.tones)

    def _passing(self, seg: Segment) -> list[int]:
        """Scale tones that do not rub a semitone against the chord, and the chord tones."""
        scale = [(self.plan.tonic + s) % 12 for s in self.scale]
        return sorted(set(seg.tones) | {pc for pc in scale
                                        if all(min((pc - t) % 12, (t - pc) % 12) != 1 for t in seg.tones)})


_RHYTHMS = {
    "4/4": ((0, 1, 2, 3), (0, 1.5, 2, 3), (0, 0.5, 1, 2, 3), (0, 1, 1.5, 2.5), (0, 2), (0, 0.5, 1.5, 2, 3)),
    "3/4": ((0, 1, 2), (0, 2), (0, 1, 1.5, 2), (0, 1.5, 2)),
    "6/8": ((0, 1 / 3, 2 / 3, 1), (0, 2 / 3, 1, 5 / 3), (0, 1), (0, 1, 4 / 3)),
}


def _in_range(pc: int, low: int) -> int:
    """The pitch of a pitch class in the octave from low."""
    return low + (pc - low) % 12


def _guitar(seg: Segment) -> list[int]:
    """A guitar-like open voicing: root low, then fifth, octave, third (and seventh) above."""
    root = _in_range(seg.root, 40)
    voicing = [root]
    for pc in seg.tones[2:3] + seg.tones[:1] + seg.tones[1:2] + seg.tones[3:]:
        pitch = voicing[-1] + 1 + (pc - voicing[-1] - 1) % 12
        voicing.append(pitch)
    return voicing


def arrange(plan: SongPlan):
    """The plan as a pretty_midi.PrettyMIDI and its Timeline (the truth's times)."""
    import pretty_midi

    arranger = _Arranger(plan)
    arranger.arrange()
    qpm = plan.bpm * (1.5 if arranger.compound else 1.0)  # MIDI tempo counts quarter notes
    midi = pretty_midi.PrettyMIDI(initial_tempo=qpm, resolution=960)
    numerator, denominator = map(int, plan.meter.split("/"))
    midi.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0))
    midi.key_signature_changes.append(pretty_midi.KeySignature(plan.tonic + (12 if plan.mode == "minor" else 0), 0))
    # role -> (MIDI volume, pan): harmony a little left, pad right, melody just right of centre
    mix = {"drums": (100, 64), "bass": (100, 64), "chords": (88, 44), "pad": (70, 84), "melody": (96, 72),
           "solo": (100, 58)}
    for role, part in arranger.parts.items():
        if not part.notes:
            continue
        program = 0 if role == "drums" else plan.programs[role]
        instrument = pretty_midi.Instrument(program, is_drum=role == "drums", name=role)
        volume, pan = mix[role]
        instrument.control_changes += [pretty_midi.ControlChange(7, volume, 0), pretty_midi.ControlChange(10, pan, 0)]
        for pitch, start, end, velocity in sorted(part.notes, key=lambda n: n[1]):
            instrument.notes.append(pretty_midi.Note(velocity, pitch, start, end))
        midi.instruments.append(instrument)
    return midi, arranger.timeline()
