"""What the ground-truth corpus plays: the chord vocabulary, the styles and the song plans.

A song plan is the whole score in words: style, key, tempo, meter, instruments and a list of
sections, each a run of bars holding one or two chords written as roman numerals. The roman
numerals here are the truth's own spec (music21-style figures, written by hand below), so the
truth never depends on songlake's theory module. ``_corpus_arrange`` turns a plan into notes.

Roman-numeral figures follow music21's spelling: a seventh chord is the numeral plus '7'
whatever the seventh's size ('I7' is a major seventh on the tonic, 'ii7' a minor seventh, 'V7'
the dominant seventh); applied chords are 'V/V', 'V7/IV'; borrowed chords carry the flat of
their root against the major scale ('bVII', 'bVI', 'iv' in major). In minor, III, VI and VII
are the natural-minor chords and V, V7 and viio the harmonic-minor ones (A minor: i iv V VI
VII), as theory.py writes them (music21's romanNumeralFromChord writes the synonyms bVI, bVII).
The numerals are relative to the song's own mode: the minor-only ones (i, iio, III, VI, VII,
...) never appear in a major song's progressions, nor the major-only ones in a minor song's.
sus4 chords, which music21 has no figure for, are the root's numeral plus 'sus4' ('Vsus4').
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from songlake.synth import PITCH_CLASSES

# Harte quality -> intervals above the root, in semitones.
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "sus4": (0, 5, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
}

# Roman numeral -> (root in semitones above the tonic, Harte quality). One table serves both
# modes: every numeral used below means the same chord in major and minor.
ROMANS: dict[str, tuple[int, str]] = {
    # diatonic in major
    "I": (0, "maj"), "ii": (2, "min"), "iii": (4, "min"), "IV": (5, "maj"), "V": (7, "maj"),
    "vi": (9, "min"), "viio": (11, "dim"),
    "I7": (0, "maj7"), "ii7": (2, "min7"), "iii7": (4, "min7"), "IV7": (5, "maj7"), "V7": (7, "7"),
    "vi7": (9, "min7"),
    # diatonic in minor (V, V7 and viio with the harmonic minor's leading tone)
    "i": (0, "min"), "iio": (2, "dim"), "III": (3, "maj"), "iv": (5, "min"), "v": (7, "min"),
    "i7": (0, "min7"), "III7": (3, "maj7"), "iv7": (5, "min7"), "v7": (7, "min7"),
    "VI": (8, "maj"), "VII": (10, "maj"), "VI7": (8, "maj7"),
    # borrowed from the parallel minor into major
    "bVI": (8, "maj"), "bVII": (10, "maj"),
    # applied dominants
    "V/V": (2, "maj"), "V7/V": (2, "7"), "V7/IV": (0, "7"), "V/vi": (4, "maj"), "V7/ii": (9, "7"),
    "V/ii": (9, "maj"), "V7/vi": (4, "7"), "V7/iv": (0, "7"),
    # suspended
    "Vsus4": (7, "sus4"), "Isus4": (0, "sus4"),
}

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# Meter -> (beats per bar, subdivisions of the beat). In 6/8 the beat is the dotted quarter.
METERS: dict[str, tuple[int, int]] = {"4/4": (4, 2), "3/4": (3, 2), "6/8": (2, 3)}

# Sections that the arrangement treats alike get alike energy (0 silent .. 3 full band).
ENERGY = {"intro": 1, "verse": 2, "pre-chorus": 2, "chorus": 3, "bridge": 1, "solo": 3, "outro": 1}

Progression = tuple[str, ...]  # one string per bar: "I" or "ii7 V7" (two chords, split the bar)


@dataclass(frozen=True)
class Style:
    """How one style is played: tempo range, meter, instruments (GM programs) and harmony."""

    name: str
    genre: str
    meter: str
    bpm: tuple[int, int]
    minor_share: float  # share of its songs in minor
    drums_share: float  # share of its songs with a drum kit
    chords: tuple[int, ...]  # GM programs for the main harmony instrument, one chosen per song
    pad: tuple[int, ...]  # a second, sustained harmony instrument for the big sections
    bass: tuple[int, ...]
    melody: tuple[int, ...]
    solo: tuple[int, ...]
    forms: tuple[tuple[tuple[str, int], ...], ...]  # (section label, length in phrases), long first
    major: dict[str, tuple[Progression, ...]]  # section label -> candidate progressions
    minor: dict[str, tuple[Progression, ...]]
    swing: float = 0.0  # how late the off-beat eighth (jazz) or sixteenth (hip-hop) falls, in beats


def _p(*bars: str) -> Progression:
    return tuple(bars)


_POP_MAJOR = {
    "intro": (_p("I", "Vsus4", "vi", "IV"), _p("I", "I", "IV", "IV")),
    "verse": (_p("I", "V", "vi", "IV"), _p("I", "vi", "IV", "V"), _p("I", "iii", "IV", "V")),
    "pre-chorus": (_p("ii7", "IV", "Vsus4", "V"), _p("IV", "V", "iii", "vi"), _p("ii", "iii", "IV", "V/V")),
    "chorus": (_p("IV", "I", "V", "vi"), _p("vi", "IV", "I", "V"), _p("I", "V7/IV", "IV", "iv")),
    "bridge": (_p("IV", "iv", "I", "V7"), _p("vi", "V", "IV", "V/V"), _p("ii7", "V/vi", "vi", "V"),
               _p("bVI", "bVII", "I", "I")),
    "solo": (_p("I", "V", "vi", "IV"),),
    "outro": (_p("IV", "iv", "I", "I"), _p("IV", "V", "I", "I")),
}
_POP_MINOR = {
    "intro": (_p("i", "VI", "III", "VII"), _p("i", "i", "VI", "VI")),
    "verse": (_p("i", "VI", "III", "VII"), _p("i", "iv", "VI", "V"), _p("i", "VII", "VI", "VII")),
    "pre-chorus": (_p("iv", "VI", "VII", "V"), _p("VI", "VII", "iv", "Vsus4 V")),
    "chorus": (_p("VI", "VII", "i", "i"), _p("VI", "III", "VII", "i"), _p("iv", "i", "VII", "III")),
    "bridge": (_p("iv", "v", "VI", "V"), _p("VI", "iv", "i", "V7")),
    "solo": (_p("i", "VII", "VI", "V"),),
    "outro": (_p("VI", "VII", "i", "i"), _p("iv", "V7", "i", "i")),
}

_JAZZ_MAJOR = {
    "intro": (_p("ii7 V7", "I7 vi7", "ii7 V7", "I7"), _p("I7", "vi7", "ii7", "V7")),
    "verse": (_p("I7 vi7", "ii7 V7", "iii7 vi7", "ii7 V7"), _p("I7", "V7/ii", "ii7", "V7"),
              _p("I7", "vi7", "V7/V", "V7")),
    "bridge": (_p("IV7", "iv7", "iii7 V7/ii", "ii7 V7"), _p("V7/IV", "IV7", "V7/V", "V7")),
    "solo": (_p("I7 vi7", "ii7 V7", "I7 V7/ii", "ii7 V7"),),
    "outro": (_p("ii7 V7", "I7", "ii7 V7", "I7"),),
}
_JAZZ_MINOR = {
    "intro": (_p("iio V7", "i7", "iio V7", "i7"),),
    "verse": (_p("i7", "iv7", "iio V7", "i7"), _p("i7", "VI7", "iio V7", "i7")),
    "bridge": (_p("iv7", "VII", "III7", "VI7"), _p("III7", "VI7", "iio", "V7")),
    "solo": (_p("i7", "iv7", "iio V7", "i7"),),
    "outro": (_p("iv7", "iio V7", "i7", "i7"),),
}

_FOLK_MAJOR = {
    "intro": (_p("I", "IV", "I", "V"), _p("I", "Isus4", "I", "I")),
    "verse": (_p("I", "IV", "I", "V"), _p("I", "vi", "IV", "V"), _p("I", "bVII", "IV", "I")),
    "pre-chorus": (_p("ii", "IV", "Vsus4", "V"),),
    "chorus": (_p("IV", "I", "V", "I"), _p("vi", "IV", "I", "V"), _p("IV", "V", "I", "vi")),
    "bridge": (_p("vi", "iii", "IV", "Vsus4 V"), _p("ii", "viio", "I", "V/V")),
    "solo": (_p("I", "IV", "I", "V"),),
    "outro": (_p("IV", "V", "I", "I"), _p("IV", "I", "Vsus4 V", "I")),
}
_FOLK_MINOR = {
    "intro": (_p("i", "VII", "i", "i"),),
    "verse": (_p("i", "VII", "i", "v"), _p("i", "VI", "VII", "i"), _p("i", "iv", "i", "V")),
    "pre-chorus": (_p("iv", "v", "VI", "VII"),),
    "chorus": (_p("VI", "VII", "i", "i"), _p("III", "VII", "i", "V")),
    "bridge": (_p("III", "VII", "iv", "V"), _p("VI", "III", "iv", "V7")),
    "solo": (_p("i", "VII", "i", "v"),),
    "outro": (_p("iv", "V", "i", "i"), _p("VI", "VII", "i", "i")),
}

_WALTZ_MAJOR = {
    "intro": (_p("I", "V7", "I", "I"),),
    "verse": (_p("I", "V7", "V7", "I"), _p("I", "IV", "V7", "I")),
    "chorus": (_p("IV", "I", "V/V", "V7"), _p("IV", "iv", "I", "V7")),
    "bridge": (_p("vi", "ii", "V7", "I"), _p("ii", "viio", "I", "V7")),
    "outro": (_p("IV", "V7", "I", "I"),),
}
_WALTZ_MINOR = {
    "intro": (_p("i", "V7", "i", "i"),),
    "verse": (_p("i", "V7", "V7", "i"), _p("i", "iv", "V7", "i")),
    "chorus": (_p("iv", "i", "V", "i"), _p("VI", "iv", "V7", "i")),
    "bridge": (_p("III", "VII", "iv", "V"), _p("iv", "iio", "V7", "i")),
    "outro": (_p("iv", "V7", "i", "i"),),
}

_ROCK_MAJOR = {
    "intro": (_p("I", "bVII", "IV", "I"), _p("I", "I", "IV", "V")),
    "verse": (_p("I", "bVII", "IV", "I"), _p("I", "IV", "I", "V"), _p("I", "V", "bVII", "IV")),
    "pre-chorus": (_p("IV", "V", "IV", "V"),),
    "chorus": (_p("IV", "I", "V", "vi"), _p("I", "V", "IV", "IV"), _p("vi", "IV", "I", "V")),
    "bridge": (_p("vi", "IV", "V/V", "V"), _p("bVI", "bVII", "I", "I")),
    "solo": (_p("I", "bVII", "IV", "V"), _p("vi", "IV", "I", "V")),
    "outro": (_p("IV", "bVII", "I", "I"),),
}
_ROCK_MINOR = {
    "intro": (_p("i", "VII", "VI", "VII"),),
    "verse": (_p("i", "VII", "VI", "VII"), _p("i", "iv", "VII", "i"), _p("i", "i", "VI", "VII")),
    "pre-chorus": (_p("iv", "VI", "VII", "VII"),),
    "chorus": (_p("VI", "VII", "i", "i"), _p("VI", "III", "VII", "i"), _p("III", "VII", "iv", "VI")),
    "bridge": (_p("iv", "v", "VI", "V"), _p("VI", "VII", "III", "V")),
    "solo": (_p("i", "VII", "VI", "V"),),
    "outro": (_p("VI", "VII", "i", "i"),),
}

_ELECTRONIC_MINOR = {
    "intro": (_p("i", "i", "VI", "VI"), _p("i7", "VI7", "i7", "VI7")),
    "verse": (_p("i", "VI", "III", "VII"), _p("i7", "VI7", "III", "VII"), _p("i", "iv", "VI", "VII")),
    "chorus": (_p("VI", "VII", "i", "i"), _p("VI7", "III", "VII", "i"), _p("iv", "VI", "VII", "i")),
    "bridge": (_p("VI", "VI", "VII", "VII"), _p("iv7", "iv7", "VI7", "V")),
    "outro": (_p("i", "VI", "i", "i"),),
}
_ELECTRONIC_MAJOR = {
    "intro": (_p("vi", "IV", "I", "V"),),
    "verse": (_p("vi", "IV", "I", "V"), _p("I7", "IV7", "I7", "IV7")),
    "chorus": (_p("IV", "V", "iii", "vi"), _p("IV", "V", "I", "I")),
    "bridge": (_p("ii7", "ii7", "IV", "V"), _p("IV", "iv", "I", "I")),
    "outro": (_p("IV", "V", "I", "I"),),
}

_HIPHOP_MINOR = {
    "intro": (_p("i7", "i7", "iv7", "iv7"),),
    "verse": (_p("i7", "iv7", "i7", "iv7"), _p("i7", "VI7", "iv7", "V7"), _p("i7", "VII", "VI7", "VI7")),
    "chorus": (_p("VI7", "VII", "i7", "i7"), _p("iv7", "v7", "VI7", "V7")),
    "bridge": (_p("VI7", "VI7", "V7", "V7"),),
    "outro": (_p("i7", "iv7", "i7", "i7"),),
}
_HIPHOP_MAJOR = {
    "intro": (_p("I7", "I7", "vi7", "vi7"),),
    "verse": (_p("I7", "vi7", "ii7", "V7"), _p("ii7", "V7", "I7", "I7")),
    "chorus": (_p("IV7", "iii7", "ii7", "I7"), _p("IV7", "V7", "iii7", "vi7")),
    "bridge": (_p("iv7", "iv7", "I7", "I7"),),
    "outro": (_p("ii7", "V7", "I7", "I7"),),
}

_BALLAD_MAJOR = {
    "intro": (_p("I", "IV", "I", "Vsus4 V"),),
    "verse": (_p("I", "iii", "IV", "V"), _p("I", "V", "vi", "IV"), _p("I", "vi", "ii7", "Vsus4 V")),
    "chorus": (_p("IV", "V", "iii7 vi", "ii7 V"), _p("vi", "IV", "I", "V"), _p("IV", "V/V", "Vsus4", "V")),
    "bridge": (_p("IV", "iv", "I", "V"), _p("vi", "iii", "IV", "V7")),
    "outro": (_p("IV", "iv", "I", "I"),),
}
_BALLAD_MINOR = {
    "intro": (_p("i", "VI", "i", "V"),),
    "verse": (_p("i", "VI", "III", "VII"), _p("i", "iv", "V", "i")),
    "chorus": (_p("VI", "VII", "III", "i"), _p("iv", "i", "VII", "III")),
    "bridge": (_p("iv", "i", "V", "i"), _p("VI", "iv", "V7", "V7")),
    "outro": (_p("iv", "V", "i", "i"),),
}

# (label, phrases): a phrase is 2 or 4 bars, chosen per song to reach the target length.
I, V, P, C, B, S, O = "intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "outro"

STYLES: dict[str, Style] = {s.name: s for s in (
    Style("rock", "rock", "4/4", (100, 168), 0.5, 1.0,
          chords=(29, 27, 30), pad=(16, 18), bass=(34, 33), melody=(29, 56, 65), solo=(30, 29),
          forms=(((I, 1), (V, 2), (C, 2), (V, 2), (C, 2), (S, 2), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (P, 1), (C, 2), (V, 2), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (C, 2), (S, 1), (C, 1), (O, 1))),
          major=_ROCK_MAJOR, minor=_ROCK_MINOR),
    Style("pop", "pop", "4/4", (88, 128), 0.4, 1.0,
          chords=(0, 4, 24), pad=(89, 48, 91), bass=(33, 38), melody=(73, 53, 80), solo=(80, 65),
          forms=(((I, 1), (V, 2), (P, 1), (C, 2), (V, 2), (P, 1), (C, 2), (B, 1), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (P, 1), (C, 2), (V, 1), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (P, 1), (C, 2), (O, 1))),
          major=_POP_MAJOR, minor=_POP_MINOR),
    Style("electronic", "electronic", "4/4", (118, 140), 0.7, 1.0,
          chords=(90, 81, 88), pad=(89, 94, 95), bass=(38, 39), melody=(81, 80), solo=(81, 84),
          forms=(((I, 2), (V, 2), (C, 2), (B, 2), (C, 2), (O, 2)),
                 ((I, 1), (V, 2), (C, 2), (B, 1), (C, 2), (O, 1)),
                 ((I, 1), (V, 1), (C, 2), (B, 1), (O, 1))),
          major=_ELECTRONIC_MAJOR, minor=_ELECTRONIC_MINOR),
    Style("jazz", "jazz", "4/4", (100, 180), 0.35, 0.85,
          chords=(0, 26, 4), pad=(), bass=(32,), melody=(11, 66, 65), solo=(66, 56, 11),
          forms=(((I, 1), (V, 2), (B, 1), (V, 1), (S, 2), (V, 1), (O, 1)),
                 ((I, 1), (V, 2), (B, 1), (S, 2), (V, 1), (O, 1)),
                 ((I, 1), (V, 2), (B, 1), (V, 1), (O, 1))),
          major=_JAZZ_MAJOR, minor=_JAZZ_MINOR, swing=1 / 6),
    Style("hip-hop", "hip-hop", "4/4", (68, 98), 0.75, 1.0,
          chords=(4, 5, 0), pad=(48, 89), bass=(38, 33), melody=(10, 11, 80), solo=(11, 80),
          forms=(((I, 1), (V, 4), (C, 2), (V, 4), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (C, 2), (V, 2), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (C, 2), (O, 1))),
          major=_HIPHOP_MAJOR, minor=_HIPHOP_MINOR, swing=1 / 12),
    Style("folk", "folk", "4/4", (80, 140), 0.35, 0.35,
          chords=(25, 24), pad=(21, 22, 48), bass=(32,), melody=(40, 73, 22), solo=(40, 105),
          forms=(((I, 1), (V, 2), (C, 2), (V, 2), (C, 2), (B, 1), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (P, 1), (C, 2), (V, 2), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (C, 2), (O, 1))),
          major=_FOLK_MAJOR, minor=_FOLK_MINOR),
    Style("waltz", "folk", "3/4", (90, 180), 0.4, 0.35,
          chords=(21, 0, 46), pad=(48, 49), bass=(32, 43), melody=(40, 73, 71), solo=(40,),
          forms=(((I, 1), (V, 2), (C, 2), (V, 2), (C, 2), (B, 1), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (C, 2), (V, 2), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (C, 2), (O, 1))),
          major=_WALTZ_MAJOR, minor=_WALTZ_MINOR),
    Style("ballad", "pop", "6/8", (60, 76), 0.4, 0.65,
          chords=(0, 1, 2), pad=(48, 49, 89), bass=(33, 32), melody=(73, 53, 42), solo=(40, 65),
          forms=(((I, 1), (V, 2), (C, 2), (V, 2), (C, 2), (B, 1), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (C, 2), (V, 1), (C, 2), (O, 1)),
                 ((I, 1), (V, 2), (C, 2), (O, 1))),
          major=_BALLAD_MAJOR, minor=_BALLAD_MINOR),
)}


@dataclass(frozen=True)
class SectionPlan:
    label: str
    bars: tuple[str, ...]  # one progression string per bar, as in Progression


@dataclass(frozen=True)
class SongPlan:
    """Everything needed to write one song's MIDI; the arrangement adds only notes."""

    name: str
    style: str
    tonic: int  # pitch class, 0 = C
    mode: str  # 'major' or 'minor'
    bpm: float  # beats per minute (dotted quarters in 6/8)
    meter: str
    drums: bool
    sections: tuple[SectionPlan, ...]
    programs: dict[str, int]  # role -> GM program: chords, pad, bass, melody, solo
    lead_in: float  # seconds of silence before the first downbeat
    seed: int
    tempo: tuple[float, ...] = ()  # the bpm of every beat where the tempo moves; () for a steady bpm

    @property
    def key(self) -> str:
        return f"{PITCH_CLASSES[self.tonic]} {self.mode}"


# Which styles each size holds, and how long its songs are (seconds, before the tail).
SIZES: dict[str, dict] = {
    "tiny": {"styles": ("pop",), "seconds": (10, 10)},  # one short song, for tests
    "small": {"styles": ("rock", "pop", "electronic", "jazz", "hip-hop", "folk", "waltz", "ballad"),
              "seconds": (55, 65)},
    "full": {"styles": ("rock",) * 6 + ("pop",) * 6 + ("electronic",) * 6 + ("jazz",) * 6
             + ("hip-hop",) * 6 + ("folk",) * 6 + ("waltz",) * 3 + ("ballad",) * 3,
             "seconds": (60, 150)},
}


def plan_corpus(size: str, seed: int = 0) -> list[SongPlan]:
    """The song plans of a corpus size, deterministic for a seed."""
    if size not in SIZES:
        raise ValueError(f"unknown corpus size {size!r}: choose one of {', '.join(SIZES)}")
    spec = SIZES[size]
    rng = np.random.default_rng([seed, len(size), sum(map(ord, size))])
    styles = spec["styles"]
    tonics = _spread_tonics(rng, len(styles))
    # Songs of one style take turns through its tempo range and modes, so a style's songs differ.
    counts: dict[str, int] = {}
    plans = []
    for index, (style_name, tonic) in enumerate(zip(styles, tonics)):
        style = STYLES[style_name]
        turn = counts.get(style_name, 0)
        counts[style_name] = turn + 1
        share = styles.count(style_name)
        song_rng = np.random.default_rng([seed, index, sum(map(ord, size))])
        plans.append(_plan_song(song_rng, style, index, turn, share, tonic, size, spec["seconds"], seed))
    return plans


def _spread_tonics(rng: np.random.Generator, count: int) -> list[int]:
    """Tonics that cover all 12 pitch classes as evenly as the count allows."""
    order: list[int] = []
    while len(order) < count:
        order.extend(int(t) for t in rng.permutation(12))
    return order[:count]


def _plan_song(rng, style: Style, index: int, turn: int, share: int, tonic: int, size: str,
               seconds: tuple[float, float], seed: int) -> SongPlan:
    # Stratified draws: the k-th of n songs of a style takes the k-th slice of the tempo range.
    low, high = style.bpm
    bpm = float(round(low + (high - low) * (turn + rng.uniform(0.1, 0.9)) / share))
    minor = ((turn + rng.uniform()) / share) < style.minor_share if share > 1 else rng.uniform() < style.minor_share
    mode = "minor" if minor else "major"
    drums = bool(rng.uniform() < style.drums_share) if size != "small" else style.drums_share >= 0.5
    beats_per_bar, _ = METERS[style.meter]
    bar_seconds = beats_per_bar * 60.0 / bpm
    target = rng.uniform(*seconds)
    form, unit = min(((form, unit) for form in style.forms for unit in (2, 4, 8)),
                     key=lambda fu: abs(sum(n for _, n in fu[0]) * fu[1] * bar_seconds - target))
    if size == "tiny":
        form, unit = ((I, 1), (V, 1), (C, 1)), max(1, round(target / bar_seconds / 3))
    table = style.minor if minor else style.major
    chosen: dict[str, Progression] = {}
    sections = []
    for label, phrases in form:
        if label not in chosen:
            options = [p for p in table.get(label, table["verse"]) if p not in chosen.values()]
            chosen[label] = options[rng.integers(len(options))] if options else table["verse"][0]
        sections.append(SectionPlan(label, _fit(chosen[label], phrases * unit)))
    sections[-1] = _end_on_tonic(sections[-1], mode, style)
    programs = {role: int(rng.choice(options)) for role, options in (
        ("chords", style.chords), ("pad", style.pad or style.chords), ("bass", style.bass),
        ("melody", style.melody), ("solo", style.solo))}
    tonic_name = PITCH_CLASSES[tonic].replace("#", "s")
    prefix = size if seed == 0 else f"{size}-s{seed}"  # seeds share a folder without sharing names
    name = f"{prefix}-{index:02d}-{style.name}-{tonic_name}{'m' if minor else ''}-{int(bpm)}"
    return SongPlan(name, style.name, tonic, mode, bpm, style.meter, drums, tuple(sections), programs,
                    lead_in=round(float(rng.uniform(0.2, 1.0)), 3), seed=int(rng.integers(2**31)))


def _fit(progression: Progression, bars: int) -> tuple[str, ...]:
    """The progression repeated (or cut) to a number of bars."""
    return tuple(progression[i % len(progression)] for i in range(bars))


def _end_on_tonic(section: SectionPlan, mode: str, style: Style) -> SectionPlan:
    tonic = ("I7" if style.name in ("jazz", "hip-hop") else "I") if mode == "major" else (
        "i7" if style.name in ("jazz", "hip-hop") else "i")
    return SectionPlan(section.label, section.bars[:-1] + (tonic,))


def chord_label(tonic: int, numeral: str) -> str:
    """The Harte label of a roman numeral in a key with this tonic: chord_label(9, 'V7') == 'E:7'."""
    offset, quality = ROMANS[numeral]
    return f"{PITCH_CLASSES[(tonic + offset) % 12]}:{quality}"
