"""Arrangement of the drumless styles: four voices led from chord to chord, then a texture.

Every drumless song is first written as four voices (soprano, alto, tenor, bass) in their
ranges: the bass takes the chord tone the inversion asks for, and the upper voices take the
voicing, among all that hold the chord's root, third (and seventh), that moves them least, with
penalties for parallel fifths and octaves, a doubled leading tone or seventh, wide spacing and
a leaping soprano. Then the voices are embellished: a 4-3 suspension where the plan marks one
(the voice holding the third sounds the fourth above the root first, tied over from the chord
before when it was there, and resolves in the span's first half), passing tones between chord
tones a third apart and neighbour notes between repeated ones (scale tones on the off-beat,
not part of the chord). A texture plays the voices: a chorale sustains them (organ ties inner
voices' common tones, a choir sings each chord), a quartet gives them to violins, viola and
cello (the first violin figures the soprano into a melody of quarters and eighths, the inner
voices sometimes repeat eighths), the piano plays that figured melody over the alto and breaks
the chord in the left hand with the pedal, pads and strings hold the voices; the free ballad's
body adds bass and drums.

Times: the notes are written in beats, and beat k sounds at the sum of the earlier beats'
lengths (60 / the plan's tempo of each beat), so a tempo curve moves notes and truth together.
The truth's beats are those written times; the notes are humanised by a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from songlake._corpus_arrange import TAIL_SECONDS, Timeline
from songlake._corpus_drumless import DRUMLESS, parse_token
from songlake._corpus_styles import MAJOR_SCALE, METERS, MINOR_SCALE, QUALITIES, ROMANS, SongPlan, chord_label

# Voice ranges (MIDI pitches), top voice first.
RANGES = {"soprano": (60, 79), "alto": (55, 74), "tenor": (48, 67), "bass": (38, 60)}
VOICES = ("soprano", "alto", "tenor", "bass")
KICK, SIDE_STICK, SNARE, HAT, CRASH = 36, 37, 38, 42, 49


@dataclass(frozen=True)
class Slot:
    """One chord of the score: where it sounds (beats from the first downbeat) and what it is."""

    start: float
    beats: float
    numeral: str
    inversion: int
    suspended: bool
    cadence: bool  # the goal of a phrase's cadence: a breath follows
    root: int  # pitch class
    tones: tuple[int, ...]  # pitch classes, root first, in stacked thirds
    section: int  # index of the plan's section

    @property
    def end(self) -> float:
        return self.start + self.beats

    @property
    def bass_pc(self) -> int:
        return self.tones[min(self.inversion, len(self.tones) - 1)]


def slots_of(plan: SongPlan) -> list[Slot]:
    """The plan's chords in order; a token repeating the one before (a chord over a bar line) extends it."""
    slots: list[Slot] = []
    time = 0.0
    for index, section in enumerate(plan.sections):
        for bar in section.bars:
            for token in bar.split():
                numeral, inversion, beats, flags = parse_token(token)
                last = slots[-1] if slots else None
                if (last and last.numeral == numeral and last.inversion == inversion and not last.cadence
                        and "s" not in flags and last.section == index):
                    slots[-1] = Slot(last.start, last.beats + beats, numeral, inversion, last.suspended,
                                     "c" in flags, last.root, last.tones, index)
                else:
                    offset, quality = ROMANS[numeral]
                    root = (plan.tonic + offset) % 12
                    slots.append(Slot(time, beats, numeral, inversion, "s" in flags, "c" in flags, root,
                                      tuple((root + i) % 12 for i in QUALITIES[quality]), index))
                time += beats
    return slots


class _Voices:
    """The four voices of a song, as lists of [pitch, start, end] in beats."""

    def __init__(self, plan: SongPlan, slots: list[Slot], rng: np.random.Generator):
        self.plan, self.slots, self.rng = plan, slots, rng
        self.leading = (plan.tonic + 11) % 12
        scale = MAJOR_SCALE if plan.mode == "major" else MINOR_SCALE
        self.scale = {(plan.tonic + s) % 12 for s in scale}
        self.chords: list[tuple[int, int, int, int]] = []
        previous = None
        for slot in slots:
            previous = self._voice(slot, previous)
            self.chords.append(previous)
        self.lines: dict[str, list[list[float]]] = {v: [] for v in VOICES}
        self.suspensions = 0
        self.embellished = 0

    # -- chords -----------------------------------------------------------------------------

    def _voice(self, slot: Slot, previous: tuple[int, ...] | None) -> tuple[int, int, int, int]:
        """(soprano, alto, tenor, bass): the cheapest voicing of the slot's chord after previous."""
        low, high = RANGES["bass"]
        basses = [p for p in range(low, high + 1) if p % 12 == slot.bass_pc]
        bass = min(basses, key=lambda p: (abs(p - previous[3]) if previous else 0) + 0.3 * abs(p - 47))
        required = {slot.tones[0], slot.tones[1]} | ({slot.tones[3]} if len(slot.tones) > 3 else set())
        candidates = {v: [p for p in range(*_span(v)) if p % 12 in slot.tones] for v in VOICES[:3]}
        best, best_cost = None, float("inf")
        for s, a, t in product(candidates["soprano"], candidates["alto"], candidates["tenor"]):
            if not (s > a > t > bass) or s - a > 12 or a - t > 12 or t - bass > 19:
                continue
            pcs = [s % 12, a % 12, t % 12, bass % 12]
            if not required <= set(pcs):
                continue
            voicing = (s, a, t, bass)
            if previous:
                cost = abs(s - previous[0]) + abs(a - previous[1]) + abs(t - previous[2])
                cost += 3 * (abs(s - previous[0]) > 7) + 10 * _parallels(previous, voicing)
            else:
                cost = abs(s - 70) + abs(a - 64) + abs(t - 57)
            cost += 1.5 * (len(slot.tones) == 3 and slot.tones[2] not in pcs)
            cost += 12 * (pcs.count(self.leading) > 1) + 12 * (len(slot.tones) > 3 and pcs.count(slot.tones[3]) > 1)
            cost += 2 * (pcs.count(slot.tones[1]) > 1) + 2 * (slot.inversion > 0 and pcs.count(slot.bass_pc) > 1)
            if slot.suspended and previous and _prepares(previous, voicing, slot):
                cost -= 4  # a voice can hold the fourth over from the chord before: a prepared suspension
            if cost < best_cost:
                best, best_cost = voicing, cost
        if best is None:  # no voicing fits the ranges (never for the corpus's chords): stack the tones
            best = (bass + 19, bass + 16, bass + 12, bass)
        return best

    # -- lines --------------------------------------------------------------------------------

    def write(self, chances: dict[str, float], length: float, tie_inner: bool) -> None:
        """Each voice's notes: the chord tones, a suspension where planned, passing and neighbour
        notes with the given chance per voice, each lasting `length` beats at the end of a chord."""
        for i, (slot, chord) in enumerate(zip(self.slots, self.chords)):
            for v, voice in enumerate(VOICES):
                pitch = chord[v]
                line = self.lines[voice]
                tie = (line and line[-1][0] == pitch and abs(line[-1][2] - slot.start) < 1e-9
                       and (tie_inner and voice in ("alto", "tenor")) and not self.slots[i - 1].cadence)
                if tie:
                    line[-1][2] = slot.end
                else:
                    line.append([pitch, slot.start, slot.end])
            if slot.suspended:
                self._suspend(i)
        for v, voice in enumerate(VOICES):
            self._embellish(voice, v, chances.get(voice, 0.0), length)

    def _suspend(self, i: int) -> None:
        slot, chord = self.slots[i], self.chords[i]
        if slot.inversion != 0 or len(slot.tones) < 3 or (slot.tones[1] - slot.root) % 12 not in (3, 4):
            return
        fourth = (slot.root + 5) % 12
        for v in range(3):  # the upper voice that holds the third
            if chord[v] % 12 != slot.tones[1]:
                continue
            held = chord[v] + 1 + (fourth - chord[v] - 1) % 12
            if held - chord[v] > 2 or (v > 0 and held >= chord[v - 1]) or held in chord:
                continue
            line = self.lines[VOICES[v]]
            note = line[-1]  # the chord's note in this voice, [pitch, start, end]
            resolve = slot.start + min(slot.beats / 2, 2.0)
            before = line[-2] if len(line) > 1 else None
            if before and before[0] == held and abs(before[2] - slot.start) < 1e-9:
                before[2] = resolve  # prepared: tied over from the chord before
            else:
                line.insert(len(line) - 1, [held, slot.start, resolve])
            note[1] = resolve
            self.suspensions += 1
            return

    def _embellish(self, voice: str, v: int, chance: float, length: float) -> None:
        """Passing tones between chord tones a third apart, neighbours between repeated ones."""
        line = self.lines[voice]
        out = []
        for j, note in enumerate(line):
            out.append(note)
            following = line[j + 1] if j + 1 < len(line) else None
            if (following is None or abs(following[1] - note[2]) > 1e-9 or note[2] - note[1] < 2 * length - 1e-9
                    or self.rng.uniform() >= chance):
                continue
            slot = self._slot_at(note[1])
            nxt = self._slot_at(following[1])
            if slot.cadence or slot.suspended or nxt.suspended:
                continue
            scale = self.scale_for(slot, nxt)
            gap = following[0] - note[0]
            if 3 <= abs(gap) <= 4:
                between = [p for p in range(min(note[0], following[0]) + 1, max(note[0], following[0]))
                           if p % 12 in scale]
                pitch = between[len(between) // 2] if between else None
            elif gap == 0:
                step = 1 if self.rng.uniform() < 0.5 else -1
                pitch = next((p for p in range(note[0] + step, note[0] + 3 * step, step) if p % 12 in scale), None)
            else:
                pitch = None
            if pitch is None or pitch % 12 in slot.tones:
                continue
            chord = self.chords[self.slots.index(slot)]
            if (v > 0 and pitch >= chord[v - 1]) or (v < 3 and pitch <= chord[v + 1]):
                continue  # it would cross a neighbouring voice
            note[2] -= length
            out.append([pitch, note[2], note[2] + length])
            self.embellished += 1
        self.lines[voice] = out

    def scale_for(self, slot: Slot, following: Slot) -> set[int]:
        """The key's scale, with the leading tone in minor where either chord has it."""
        if self.leading in following.tones or self.leading in slot.tones:
            return (self.scale - {(self.leading - 1) % 12}) | {self.leading}
        return set(self.scale)

    @staticmethod
    def step(pitch: int, direction: int, scale: set[int]) -> int:
        """The next pitch of the scale above (direction 1) or below (-1)."""
        pitch += direction
        while pitch % 12 not in scale:
            pitch += direction
        return pitch

    def _slot_at(self, beat: float) -> Slot:
        for slot in self.slots:
            if slot.start - 1e-9 <= beat < slot.end - 1e-9:
                return slot
        return self.slots[-1]


def _span(voice: str) -> tuple[int, int]:
    low, high = RANGES[voice]
    return low, high + 1


def _prepares(previous: tuple[int, ...], voicing: tuple[int, ...], slot: Slot) -> bool:
    """Whether an upper voice moves from the fourth above the slot's root down a step to its third."""
    fourth, third = (slot.root + 5) % 12, slot.tones[1]
    return any(voicing[v] % 12 == third and 1 <= previous[v] - voicing[v] <= 2 and previous[v] % 12 == fourth
               for v in range(3))


def _parallels(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Pairs of voices moving in parallel fifths or octaves from chord a to chord b."""
    count = 0
    for i in range(4):
        for j in range(i + 1, 4):
            before, after = (a[i] - a[j]) % 12, (b[i] - b[j]) % 12
            if before == after and before in (0, 7) and a[i] != b[i] and (b[i] - a[i]) * (b[j] - a[j]) > 0:
                count += 1
    return count


class _Clock:
    """Beats to seconds along the plan's tempo curve."""

    def __init__(self, plan: SongPlan, beats: int):
        tempo = np.array(plan.tempo if plan.tempo else [plan.bpm] * beats, float)
        if len(tempo) != beats:
            raise ValueError(f"{plan.name}: the tempo curve has {len(tempo)} beats, the score {beats}")
        self.times = plan.lead_in + np.concatenate([[0.0], np.cumsum(60.0 / tempo)])

    def __call__(self, beat: float) -> float:
        n = len(self.times) - 1
        k = min(int(np.floor(beat)), n - 1)
        return float(self.times[k] + (beat - k) * (self.times[k + 1] - self.times[k]))


class _Drumless:
    def __init__(self, plan: SongPlan):
        self.plan = plan
        self.style = DRUMLESS[plan.style]
        self.rng = np.random.default_rng(plan.seed)
        self.beats_per_bar = METERS[plan.meter][0]
        self.slots = slots_of(plan)
        self.total = int(round(self.slots[-1].end))
        self.clock = _Clock(plan, self.total)
        self.voices = _Voices(plan, self.slots, self.rng)
        self.parts: dict[str, tuple[int, list, float]] = {}  # role -> (program, notes, jitter)
        self.pedal: list[tuple[float, float]] = []  # (down, up) in beats, for the piano
        self.bar_sections = [i for i, s in enumerate(plan.sections) for _ in s.bars]

    def note(self, role: str, pitch: int, start: float, end: float, velocity: float) -> None:
        """A note in beats, kept in beats until the MIDI is written."""
        self.parts[role][1].append((int(pitch), start, end, int(np.clip(velocity + self.rng.normal(0, 4), 20, 120))))

    def part(self, role: str, program: int, jitter: float) -> None:
        self.parts[role] = (program, [], jitter)

    def phrase_arch(self, beat: float) -> float:
        """0..1..0 over the phrase holding this beat, for dynamics."""
        starts = [0.0] + [s.end for s in self.slots if s.cadence]
        begin = max(s for s in starts if s <= beat + 1e-9)
        end = min([s for s in starts if s > beat + 1e-9] or [self.total])
        return float(np.sin(np.pi * (beat - begin) / max(end - begin, 1e-9)))

    # -- textures ----------------------------------------------------------------------------

    def arrange(self) -> None:
        style = self.plan.style
        if style.startswith("chorale"):
            self._chorale(organ=style == "chorale-organ")
        elif style == "string-quartet":
            self._quartet()
        elif style == "piano-rubato":
            self.voices.write({"soprano": 0.45, "alto": 0.2, "tenor": 0.15, "bass": 0.15}, 0.5, tie_inner=True)
            self.part("piano", self.plan.programs["piano"], 0.006)
            self._piano(0, self.total)
        elif style == "ambient":
            self._ambient()
        else:
            self._ballad()
        final = self.slots[-1]
        for program, notes, _ in self.parts.values():  # the last chord rings into the tail
            for k, (pitch, start, end, velocity) in enumerate(notes):
                if end >= final.end - 1e-6 and start >= final.start - 1e-6:
                    notes[k] = (pitch, start, end + 1.0, velocity)

    def _chorale(self, organ: bool) -> None:
        self.voices.write({"soprano": 0.25, "alto": 0.35, "tenor": 0.35, "bass": 0.3}, 0.5, tie_inner=organ)
        program = self.plan.programs["voices"]
        for voice in VOICES:
            self.part(voice, program, 0.008)
            for pitch, start, end in self.voices.lines[voice]:
                breath = 0.3 if self._slot_ending(end).cadence else 0.06
                velocity = 84 if organ else 64 + 22 * self.phrase_arch(start)
                self.note(voice, pitch, start, end - breath, velocity + (6 if voice == "soprano" else 0))

    def _quartet(self) -> None:
        self.voices.write({"soprano": 0.55, "alto": 0.25, "tenor": 0.25, "bass": 0.2}, 0.5, tie_inner=False)
        roles = {"soprano": ("violin 1", "violin"), "alto": ("violin 2", "violin"), "tenor": ("viola", "viola"),
                 "bass": ("cello", "cello")}
        pulsing = {}  # phrase start -> whether its inner voices repeat eighths
        lines = dict(self.voices.lines, soprano=self.figured())  # the first violin leads
        for voice, (role, program_role) in roles.items():
            self.part(role, self.plan.programs[program_role], 0.010)
            for pitch, start, end in lines[voice]:
                dynamic = 58 + 28 * self.phrase_arch(start) + (8 if voice == "soprano" else 0)
                phrase = max([0.0] + [s.end for s in self.slots if s.cadence and s.end <= start + 1e-9])
                pulse = pulsing.setdefault(phrase, self.rng.uniform() < 0.5)
                breath = 0.25 if self._slot_ending(end).cadence else 0.05
                if pulse and voice in ("alto", "tenor") and end - start >= 1:
                    position = start
                    while position < end - 1e-9:
                        self.note(role, pitch, position, min(position + 0.45, end - breath), dynamic - 6)
                        position += 0.5
                else:
                    self.note(role, pitch, start, end - breath, dynamic)

    def figured(self) -> list[list[float]]:
        """The soprano as a melody in quarters and eighths: from the chord's soprano note, chord
        tones on the strong beats, scale steps between them (passing tones on the weak beats,
        not in the chord) and a step into the next chord's soprano note. Cadence goals,
        suspensions and one chord in four keep the plain voice."""
        v, rng = self.voices, self.rng
        line: list[list[float]] = []
        for i, (slot, chord) in enumerate(zip(self.slots, v.chords)):
            own = [list(n) for n in v.lines["soprano"] if slot.start - 1e-9 <= n[1] < slot.end - 1e-9]
            if i + 1 == len(self.slots) or slot.cadence or slot.suspended or slot.beats < 2 or rng.uniform() < 0.25:
                line += own
                continue
            scale, target = v.scale_for(slot, self.slots[i + 1]), v.chords[i + 1][0]
            onsets = [0.0]
            for beat in range(int(slot.beats)):
                if beat and rng.uniform() >= 0.2:
                    onsets.append(float(beat))
                if rng.uniform() < 0.25:
                    onsets.append(beat + 0.5)
            pitch, notes = chord[0], [[chord[0], slot.start, slot.end]]
            for k, onset in enumerate(onsets[1:], 1):
                strong = onset % 2 == 0 if self.beats_per_bar == 4 else onset == 0
                if strong:
                    middle = (pitch + target) / 2
                    pitch = min((p for p in range(62, 80) if p % 12 in slot.tones), key=lambda p: (abs(p - middle), p))
                elif k == len(onsets) - 1:  # approach the next chord's note by step, from the side we are on
                    side = -1 if pitch < target else 1 if pitch > target else (1 if rng.uniform() < 0.5 else -1)
                    pitch = v.step(target, side, scale)
                else:
                    direction = 1 if target > pitch else -1 if target < pitch else (1 if rng.uniform() < 0.5 else -1)
                    pitch = v.step(pitch, direction, scale)
                if pitch <= chord[1] or pitch > RANGES["soprano"][1] + 2:
                    pitch = chord[0]
                notes[-1][2] = slot.start + onset
                notes.append([pitch, slot.start + onset, slot.end])
            line += notes
        return line

    def _piano(self, begin: float, finish: float) -> None:
        """The figured soprano in the right hand over the alto at each chord; the left hand breaks
        the chord, with the pedal changed at each chord."""
        v = self.voices
        for pitch, start, end in self.figured():
            if begin - 1e-9 <= start < finish - 1e-9:
                strong = abs(start - round(start)) < 1e-9
                self.note("piano", pitch, start, end - 0.05, 66 + 16 * self.phrase_arch(start) - (0 if strong else 6))
        for slot, chord in zip(self.slots, v.chords):
            if not (begin - 1e-9 <= slot.start < finish - 1e-9):
                continue
            dynamic = 50 + 14 * self.phrase_arch(slot.start)
            self.note("piano", chord[1], slot.start, slot.end - 0.1, dynamic + 4)
            bass = chord[3] if chord[3] < 55 else chord[3] - 12
            broken = sorted({bass + 12 * k + (pc - bass) % 12 for pc in slot.tones for k in (0, 1)
                             if bass < bass + 12 * k + (pc - bass) % 12 <= bass + 19})[:3]
            pattern = [bass] + broken + broken[-2:0:-1]
            position, k = slot.start, 0
            while position < slot.end - 1e-9:
                self.note("piano", pattern[k % len(pattern)], position, min(position + 1.0, slot.end),
                          dynamic - (0 if k == 0 else 8))
                position += 0.5
                k += 1
            self.pedal.append((slot.start + 0.08, slot.end - 0.04))

    def _ambient(self) -> None:
        self.voices.write({"soprano": 0.35, "alto": 0.1, "tenor": 0.1}, 1.0, tie_inner=True)
        self.part("pad", self.plan.programs["pad"], 0.010)
        self.part("strings", self.plan.programs["strings"], 0.015)
        for voice in VOICES[:3]:
            for pitch, start, end in self.voices.lines[voice]:
                self.note("pad", pitch, start, end, 58 + 14 * self.phrase_arch(start))
        for pitch, start, end in self.voices.lines["bass"]:
            self.note("strings", pitch, start, end, 62)
            self.note("strings", pitch + 12, start, end, 50)

    def _ballad(self) -> None:
        self.voices.write({"soprano": 0.45, "alto": 0.15, "tenor": 0.15}, 0.5, tie_inner=True)
        self.part("piano", self.plan.programs["piano"], 0.006)
        body = len(self.plan.sections[0].bars) * self.beats_per_bar
        self._piano(0, self.total)
        self.part("bass", self.plan.programs["bass"], 0.008)
        self.part("strings", self.plan.programs["strings"], 0.012)
        self.part("drums", 0, 0.004)
        for slot, chord in zip(self.slots, self.voices.chords):
            if slot.start < body - 1e-9:
                continue
            bass = chord[3] if chord[3] < 52 else chord[3] - 12
            for position in np.arange(slot.start, slot.end - 1e-9, 2.0):
                self.note("bass", bass, position, min(position + 1.9, slot.end - 0.05), 88)
            label = self.plan.sections[slot.section].label
            if label in ("chorus", "outro", "bridge"):
                for pitch in chord[1:3]:
                    self.note("strings", pitch, slot.start, slot.end, 56)
        bars = self.total // self.beats_per_bar
        for bar in range(body // self.beats_per_bar, bars):
            t = bar * self.beats_per_bar
            label = self.plan.sections[self.bar_sections[bar]].label
            if bar == bars - 1:
                self.note("drums", KICK, t, t + 0.25, 96)
                self.note("drums", CRASH, t, t + 0.25, 96)
                continue
            if bar == 0 or self.bar_sections[bar] != self.bar_sections[bar - 1]:
                self.note("drums", CRASH, t, t + 0.25, 92)
            for position in (0, 2.5):
                self.note("drums", KICK, t + position, t + position + 0.25, 96)
            back = SNARE if label in ("chorus", "outro") else SIDE_STICK
            for position in (1, 3):
                self.note("drums", back, t + position, t + position + 0.25, 90)
            for k in range(8):
                self.note("drums", HAT, t + k / 2, t + k / 2 + 0.2, 66 if k % 2 == 0 else 50)

    def _slot_ending(self, beat: float) -> Slot:
        for slot in self.slots:
            if abs(slot.end - beat) < 1e-6:
                return slot
        return self.voices._slot_at(beat)

    # -- the truth ---------------------------------------------------------------------------

    def timeline(self) -> Timeline:
        r = lambda t: round(float(t), 4)  # noqa: E731
        beats = [self.clock(k) for k in range(self.total)]
        downbeats = beats[:: self.beats_per_bar]
        duration = self.clock(self.total) + TAIL_SECONDS
        chords, romans = [], []
        for slot in self.slots:
            start, end = self.clock(slot.start), self.clock(slot.end)
            if romans and romans[-1] == slot.numeral:
                chords[-1] = (chords[-1][0], end, chords[-1][2])
            else:
                chords.append((start, end, chord_label(self.plan.tonic, slot.numeral)))
                romans.append(slot.numeral)
        chords[-1] = (chords[-1][0], duration, chords[-1][2])
        chords.insert(0, (0.0, self.plan.lead_in, "N"))
        romans.insert(0, "N")
        sections, bar = [], 0
        for index, section in enumerate(self.plan.sections):
            start = 0.0 if index == 0 else self.clock(bar * self.beats_per_bar)
            bar += len(section.bars)
            end = duration if index == len(self.plan.sections) - 1 else self.clock(bar * self.beats_per_bar)
            sections.append((start, end, section.label))
        return Timeline([r(b) for b in beats], [r(d) for d in downbeats], [(r(s), r(e), lab) for s, e, lab in chords],
                        romans, [(r(s), r(e), lab) for s, e, lab in sections], r(duration))


def arrange_drumless(plan: SongPlan):
    """A drumless plan as a pretty_midi.PrettyMIDI and its Timeline (the truth's times)."""
    import pretty_midi

    song = _Drumless(plan)
    song.arrange()
    midi = pretty_midi.PrettyMIDI(initial_tempo=float(plan.bpm), resolution=960)
    numerator, denominator = map(int, plan.meter.split("/"))
    midi.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0))
    midi.key_signature_changes.append(pretty_midi.KeySignature(plan.tonic + (12 if plan.mode == "minor" else 0), 0))
    pans = {"soprano": 52, "alto": 60, "tenor": 68, "bass": 76, "violin 1": 40, "violin 2": 56, "viola": 72,
            "cello": 88, "piano": 64, "pad": 58, "strings": 70, "bass guitar": 64, "drums": 64}
    for role, (program, notes, jitter) in song.parts.items():
        if not notes:
            continue
        instrument = pretty_midi.Instrument(program, is_drum=role == "drums", name=role)
        instrument.control_changes += [pretty_midi.ControlChange(7, 96 if role != "strings" else 84, 0),
                                       pretty_midi.ControlChange(10, pans.get(role, 64), 0)]
        if role == "piano":
            for down, up in song.pedal:
                instrument.control_changes += [pretty_midi.ControlChange(64, 127, song.clock(down)),
                                               pretty_midi.ControlChange(64, 0, song.clock(up))]
        for pitch, start, end, velocity in sorted(notes, key=lambda n: n[1]):
            onset = song.clock(start) + float(np.clip(song.rng.normal(0, jitter), -2.5 * jitter, 2.5 * jitter))
            offset = song.clock(min(end, song.total)) + max(0.0, end - song.total) * 60.0 / plan.bpm
            instrument.notes.append(pretty_midi.Note(velocity, pitch, max(0.0, onset), max(onset + 0.05, offset)))
        midi.instruments.append(instrument)
    return midi, song.timeline()
