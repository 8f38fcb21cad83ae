"""Harte chord labels and key names: parse, reduce, respell, transpose.

A Harte label (Harte et al., ISMIR 2005) is ``root[:shorthand][(degrees)][/bass]``: 'C:maj',
'A:min7', 'G:7(b9)', 'C:(1,3,5)', 'D:sus4(b7)', 'E:maj/3', 'Bb' (= Bb:maj). 'N' is no chord and
'X' an unknown chord (mir_eval reads both as no chord). Roots may be spelled any way ('Db', 'C#',
'Fb'); output roots use the lake's spelling, C C# D Eb E F F# G Ab A Bb B.

For harmony a label reduces to a ``Shape``: root pitch class, triad (maj, min, dim, aug, or sus4 /
sus2 / 5 / 1 for chords without a third), the seventh (b7, 7, bb7 or none) and the bass interval.
Sixths, ninths, elevenths and thirteenths are colour: they are dropped, so 'G:9' reads as G7
and 'C:maj6' as C.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NO_CHORD = frozenset({"N", "X"})
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_DEGREE = {1: 0, 2: 2, 3: 4, 4: 5, 5: 7, 6: 9, 7: 11, 8: 12, 9: 14, 10: 16, 11: 17, 12: 19, 13: 21}

# Harte's shorthands plus the common extensions of the Isophonics, Billboard and mir_eval vocabularies.
SHORTHANDS: dict[str, tuple[str, ...]] = {
    "maj": ("1", "3", "5"),
    "min": ("1", "b3", "5"),
    "dim": ("1", "b3", "b5"),
    "aug": ("1", "3", "#5"),
    "maj7": ("1", "3", "5", "7"),
    "min7": ("1", "b3", "5", "b7"),
    "7": ("1", "3", "5", "b7"),
    "dim7": ("1", "b3", "b5", "bb7"),
    "hdim7": ("1", "b3", "b5", "b7"),
    "minmaj7": ("1", "b3", "5", "7"),
    "maj6": ("1", "3", "5", "6"),
    "min6": ("1", "b3", "5", "6"),
    "9": ("1", "3", "5", "b7", "9"),
    "maj9": ("1", "3", "5", "7", "9"),
    "min9": ("1", "b3", "5", "b7", "9"),
    "11": ("1", "3", "5", "b7", "9", "11"),
    "maj11": ("1", "3", "5", "7", "9", "11"),
    "min11": ("1", "b3", "5", "b7", "9", "11"),
    "13": ("1", "3", "5", "b7", "9", "11", "13"),
    "maj13": ("1", "3", "5", "7", "9", "11", "13"),
    "min13": ("1", "b3", "5", "b7", "9", "11", "13"),
    "sus4": ("1", "4", "5"),
    "sus2": ("1", "2", "5"),
    "7sus4": ("1", "4", "5", "b7"),
    "aug7": ("1", "3", "#5", "b7"),
    "5": ("1", "5"),
    "1": ("1",),
}

_LABEL = re.compile(
    r"^(?P<root>[A-G][#b]*)(?::(?P<short>[A-Za-z0-9]*)(?:\((?P<degrees>[^()]*)\))?)?(?:/(?P<bass>[#b]*\d+))?$"
)
_DEGREE_TOKEN = re.compile(r"^(?P<omit>\*?)(?P<mods>[#b]*)(?P<num>\d+)$")
_KEY = re.compile(r"^\s*(?P<tonic>[A-Ga-g][#b]?)\s+(?P<mode>major|minor)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Shape:
    """What a chord label means for harmony, independent of spelling and extensions."""

    root: int  # pitch class 0-11, C = 0
    triad: str  # 'maj', 'min', 'dim', 'aug', or 'sus4', 'sus2', '5', '1' (no third)
    seventh: str | None  # 'b7', '7', 'bb7' or None
    bass: int  # semitones from the root to the bass note, 0 in root position

    @property
    def has_third(self) -> bool:
        return self.triad in ("maj", "min", "dim", "aug")

    @property
    def intervals(self) -> tuple[int, ...]:
        """Semitones above the root of the reduced chord (triad plus seventh)."""
        triad = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8),
                 "sus4": (0, 5, 7), "sus2": (0, 2, 7), "5": (0, 7), "1": (0,)}[self.triad]
        seventh = {None: (), "b7": (10,), "7": (11,), "bb7": (9,)}[self.seventh]
        return triad + seventh

    @property
    def inversion(self) -> int:
        """0 root position, 1 third in the bass, 2 fifth, 3 seventh; 0 for other bass notes."""
        members = self.intervals
        return members.index(self.bass) if self.bass in members and self.has_third else 0


def pitch_class(note: str) -> int:
    """Pitch class of a note name such as 'C', 'F#', 'Bb', 'Fbb'."""
    if not note or note[0] not in _LETTER or any(c not in "#b" for c in note[1:]):
        raise ValueError(f"not a note name: {note!r} (expected a letter A-G and optional # or b)")
    return (_LETTER[note[0]] + note.count("#") - note.count("b")) % 12


def _degree_semitones(token: str, label: str) -> int:
    match = re.fullmatch(r"([#b]*)(\d+)", token)
    if not match or int(match.group(2)) not in _DEGREE:
        raise ValueError(f"unparseable chord label {label!r}: bad degree {token!r}")
    mods = match.group(1)
    return _DEGREE[int(match.group(2))] + mods.count("#") - mods.count("b")


def is_no_chord(label: str) -> bool:
    return label in NO_CHORD


@lru_cache(maxsize=4096)
def parse(label: str) -> Shape:
    """The harmonic shape of a Harte label; ValueError naming the problem if it is not one."""
    if not isinstance(label, str):
        raise ValueError(f"chord label must be a string, got {type(label).__name__} {label!r}")
    match = _LABEL.match(label.strip())
    if not match:
        raise ValueError(
            f"unparseable chord label {label!r}: expected Harte syntax such as 'C:maj', 'A:min7', 'G:7' or 'N'"
        )
    short, degree_list = match.group("short"), match.group("degrees")
    if short is None:
        short = "maj"
    if short == "" and degree_list is None:
        raise ValueError(f"unparseable chord label {label!r}: nothing after ':'")
    if short and short not in SHORTHANDS:
        raise ValueError(f"unparseable chord label {label!r}: unknown chord quality {short!r}")
    # Degrees as (number, alteration): a shorthand first, then the list adds or (*) removes.
    degrees: dict[int, int] = {}
    for token in SHORTHANDS.get(short, ()) if short else ():
        number = int(token.lstrip("#b"))
        degrees[number] = token.count("#") - token.count("b")
    for raw in (degree_list.split(",") if degree_list else ()):
        token = _DEGREE_TOKEN.match(raw.strip())
        if not token or int(token.group("num")) not in _DEGREE:
            raise ValueError(f"unparseable chord label {label!r}: bad degree {raw.strip()!r}")
        number, mods = int(token.group("num")), token.group("mods")
        if token.group("omit"):
            degrees.pop(number, None)
        else:
            degrees[number] = mods.count("#") - mods.count("b")
    if not degrees:
        raise ValueError(f"unparseable chord label {label!r}: no chord tones")
    bass = _degree_semitones(match.group("bass"), label) % 12 if match.group("bass") else 0
    return Shape(pitch_class(match.group("root")), _triad(degrees), _seventh(degrees), bass)


def _triad(degrees: dict[int, int]) -> str:
    third, fifth = degrees.get(3), degrees.get(5, 0)
    if third is None:
        # No third: a suspension, a power chord or a bare root.
        for number, name in ((4, "sus4"), (11, "sus4"), (2, "sus2"), (9, "sus2"), (5, "5")):
            if number in degrees:
                return name
        return "1"
    if third >= 0:
        return "aug" if fifth > 0 else "maj"
    return "dim" if fifth < 0 else "min"


def _seventh(degrees: dict[int, int]) -> str | None:
    if 7 not in degrees:
        return None
    return {0: "7", -1: "b7", -2: "bb7"}.get(degrees[7], "b7" if degrees[7] < 0 else "7")


def parse_key(key) -> tuple[int, str]:
    """(tonic pitch class, 'major' | 'minor') from 'A major', 'F# minor' or an object with a .name."""
    name = getattr(key, "name", key)
    if not isinstance(name, str):
        raise ValueError(f"key must be a name such as 'A major' or 'F# minor', got {key!r} (key detection failed?)")
    match = _KEY.match(name)
    if not match:
        raise ValueError(f"unknown key {name!r}: expected a tonic and a mode, such as 'A major' or 'F# minor'")
    tonic = match.group("tonic")
    return pitch_class(tonic[0].upper() + tonic[1:]), match.group("mode").lower()


def key_name(key) -> str:
    """A key spelt the one way songlake writes it ('db major' -> 'C# major'), from anything
    parse_key reads; ValueError as parse_key's."""
    tonic, mode = parse_key(key)
    return f"{PITCH_CLASSES[tonic]} {mode}"


def transpose_label(label: str, semitones: int) -> str:
    """The label with its root moved; everything after the root (quality, degrees, bass) stays."""
    if label in NO_CHORD:
        return label
    parse(label)  # validates
    label = label.strip()
    root = re.match(r"[A-G][#b]*", label).group(0)
    return PITCH_CLASSES[(pitch_class(root) + semitones) % 12] + label[len(root):]
