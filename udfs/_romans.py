"""Roman numerals and harmonic functions of chords in a key, with music21 as the engine.

A chord is read relative to its key's tonic, so the work happens once, in C major or C minor, for
each (root interval, reduced chord) and is cached for the process. music21 realises candidate
figures ('V7/V', 'bVII', 'iv', ...) in C or c; the first candidate whose pitch classes and root
equal the chord's names it. Candidates come in this order, which is also the function mapping:

- diatonic, function = its role (major: I iii vi tonic; ii IV predominant; V viio viio7 dominant.
  Minor, natural minor plus the harmonic-minor V and viio: i III tonic; iio iv VI predominant;
  V v VII viio dominant). Sevenths follow their triad (ii7 predominant, V7 dominant).
- borrowed (modal mixture), function 'borrowed'. In major, from the parallel minor and Phrygian:
  i iio iiø7 bIII iv v bVI bVII bVII7 and the Neapolitan bII. In minor, from the parallel major
  and Dorian: the Picardy I, Dorian IV (and IV7), ii, and the Neapolitan bII.
- applied, function 'applied dominant': V, V7, viio, viio7, viiø7 of each diatonic major or minor
  triad other than the tonic ('V/V', 'V7/IV', 'viio7/vi').
- otherwise 'chromatic': the numeral is the nearest degree with an accidental, checked by music21
  ('bV', '#ivo', 'bIIb7').

Minor keys follow music21's convention: VI and VII are the natural-minor chords (Ab, Bb in c),
viio is the leading-tone chord, and lowercase vi / vii mean the raised degrees. Chords without a
third (sus, power chords) take the numeral and function of the first candidate triad on their
root, in upper case as they have no third ('Vsus4', 'Isus4' in minor too, 'II7sus4' for
D:sus4(b7) in C). Inversions use figured-bass figures ('I6', 'V65/V') where music21 confirms the
bass. Each chord also gets a role (tonic, predominant, dominant, applied or none) that the cadence
reader uses; for borrowed chords it is the role the chord plays (iv predominant,
bIII tonic, bVII predominant as the subdominant of IV).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from songlake.udfs._harte import Shape, parse, parse_key

_MAJOR_DIATONIC = [
    ("I", "tonic"), ("I7", "tonic"), ("ii", "predominant"), ("ii7", "predominant"),
    ("iii", "tonic"), ("iii7", "tonic"), ("IV", "predominant"), ("IV7", "predominant"),
    ("V", "dominant"), ("V7", "dominant"), ("vi", "tonic"), ("vi7", "tonic"),
    ("viio", "dominant"), ("viiø7", "dominant"), ("viio7", "dominant"),
]
_MAJOR_BORROWED = [
    ("i", "tonic"), ("i7", "tonic"), ("iio", "predominant"), ("iiø7", "predominant"),
    ("bIII", "tonic"), ("bIII7", "tonic"), ("iv", "predominant"), ("iv7", "predominant"),
    ("v", "dominant"), ("v7", "dominant"), ("bVI", "predominant"), ("bVI7", "predominant"),
    ("bVII", "predominant"), ("bVIIb7", "predominant"), ("bII", "predominant"), ("bII7", "predominant"),
]
_MINOR_DIATONIC = [
    ("i", "tonic"), ("i7", "tonic"), ("iio", "predominant"), ("iiø7", "predominant"),
    ("III", "tonic"), ("III7", "tonic"), ("iv", "predominant"), ("iv7", "predominant"),
    ("V", "dominant"), ("V7", "dominant"), ("v", "dominant"), ("v7", "dominant"),
    ("VI", "predominant"), ("VI7", "predominant"), ("VII", "dominant"), ("VII7", "dominant"),
    ("viio", "dominant"), ("viio7", "dominant"),
]
_MINOR_BORROWED = [
    ("I", "tonic"), ("IV", "predominant"), ("IV7", "predominant"), ("ii", "predominant"),
    ("ii7", "predominant"), ("bII", "predominant"), ("bII7", "predominant"),
]
_APPLIED_TARGETS = {"major": ("V", "ii", "vi", "IV", "iii"), "minor": ("V", "iv", "VI", "III", "VII")}
_APPLIED_FORMS = ("V", "V7", "viio", "viio7", "viiø7")
_CHROMATIC_ROLES = {"V+": "dominant", "bIIb7": "dominant"}  # augmented dominant, tritone substitute


@dataclass(frozen=True)
class Reading:
    """A chord read in a key."""

    figure: str  # 'V7/V'; 'N' for no chord
    function: str  # tonic, predominant, dominant, applied dominant, borrowed, chromatic, none
    role: str  # tonic, predominant, dominant, applied, none: what the cadence reader uses
    offset: int  # root, semitones above the tonic (-1 for no chord)
    triad: str  # the reduced triad of the chord ('maj', 'min', 'dim', 'aug', 'sus4', ...)
    seventh: str | None
    inversion: int


NO_READING = Reading("N", "none", "none", -1, "", None, 0)


def read(label: str, key: str) -> Reading:
    """The reading of a Harte label in a key such as 'A minor'; 'N'/'X' give NO_READING."""
    return _read(label, key)


@lru_cache(maxsize=8192)
def _read(label: str, key: str) -> Reading:
    tonic, mode = parse_key(key)
    if label in ("N", "X"):
        return NO_READING
    shape = parse(label)
    return _read_relative(Shape((shape.root - tonic) % 12, shape.triad, shape.seventh, shape.bass), mode)


@lru_cache(maxsize=4096)
def _read_relative(shape: Shape, mode: str) -> Reading:
    """The reading of a chord whose root is given as semitones above the tonic of C or c."""
    if shape.has_third:
        found = _lookup(mode, shape.root, shape.intervals)
        if found is not None:
            figure, function, role, _ = found
        else:
            figure, function, role = _chromatic(shape, mode), "chromatic", "none"
        figure = _inverted(figure, shape, mode)
    else:
        figure, function, role = _thirdless(shape, mode)
    return Reading(figure, function, role, shape.root, shape.triad, shape.seventh, shape.inversion)


def _thirdless(shape: Shape, mode: str) -> tuple[str, str, str]:
    """sus and power chords: the numeral and function of the first candidate triad on their root."""
    suffix = {"sus4": "sus4", "sus2": "sus2", "5": "5", "1": ""}[shape.triad]
    seventh = "7" if shape.seventh else ""
    found = [f for f in (_lookup(mode, shape.root, i) for i in ((0, 4, 7), (0, 3, 7), (0, 3, 6))) if f is not None]
    if not found or "/" in min(found, key=lambda f: f[3])[0]:  # no degree of its own: spell it, no function
        base = _chromatic(Shape(shape.root, "maj", None, 0), mode)
        return base + seventh + suffix, "chromatic", "none"
    figure, function, role, _ = min(found, key=lambda f: f[3])
    # Case shows the third, which these chords lack: the numeral is written upper case ('Isus4' in minor).
    numeral = _NUMERAL.match(figure)
    return numeral.group(1) + numeral.group(2).upper() + seventh + suffix, function, role


@lru_cache(maxsize=2)
def _groups(mode: str) -> list[tuple[list[tuple[str, str]], str | None]]:
    """The candidate groups in order of preference: (figure, role) pairs and their function."""
    if mode == "major":
        groups = [(_MAJOR_DIATONIC, None), (_MAJOR_BORROWED, "borrowed")]
    else:
        groups = [(_MINOR_DIATONIC, None), (_MINOR_BORROWED, "borrowed")]
    applied = [(f"{form}/{target}", "applied") for target in _APPLIED_TARGETS[mode] for form in _APPLIED_FORMS]
    return groups + [(applied, "applied dominant"), (list(_CHROMATIC_ROLES.items()), "chromatic")]


def _lookup(mode: str, root: int, intervals: tuple[int, ...]) -> tuple[str, str, str, int] | None:
    """(figure, function, role, rank) of the first candidate with this root and these intervals.

    music21 realises only the candidates whose numerals put their root within a semitone of the
    chord's (a spelling-level guess that music21's reading then confirms or rejects), so a song
    costs it a few figures per distinct chord rather than the hundred-odd candidates."""
    wanted = frozenset(intervals)
    for index, (candidates, function) in enumerate(_groups(mode)):
        for rank, (figure, role) in enumerate(candidates):
            if not _plausible(figure, root):
                continue
            found_root, found_intervals, _ = realise(figure, mode)
            if found_root == root and frozenset(found_intervals) == wanted:
                return figure, function or role, role, index * 100 + rank
    return None


_NUMERAL = re.compile(r"^([b#]*)(VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)")
_MAJOR_DEGREES = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}


def _approximate_root(numeral: str) -> int:
    match = _NUMERAL.match(numeral)
    if not match:
        raise ValueError(f"not a roman numeral: {numeral!r}")
    accidentals = match.group(1)
    return _MAJOR_DEGREES[match.group(2).upper()] + accidentals.count("#") - accidentals.count("b")


def _plausible(figure: str, root: int) -> bool:
    """Whether the figure's root is within a semitone of root, read from the numerals' major-scale
    degrees (minor keys and music21's conventions move a degree by at most a semitone)."""
    primary, _, secondary = figure.partition("/")
    guess = _approximate_root(primary) + (_approximate_root(secondary) if secondary else 0)
    distance = (guess - root) % 12
    return min(distance, 12 - distance) <= 1


@lru_cache(maxsize=4096)
def realise(figure: str, mode: str) -> tuple[int, tuple[int, ...], int]:
    """music21's reading of a figure in C major / c minor: (root, intervals above it, bass interval)."""
    from music21 import roman as m21roman

    numeral = m21roman.RomanNumeral(figure, _m21_key(mode))
    root = numeral.root().pitchClass
    intervals = tuple(sorted({(p.pitchClass - root) % 12 for p in numeral.pitches}))
    return root, intervals, (numeral.bass().pitchClass - root) % 12


@lru_cache(maxsize=2)
def _m21_key(mode: str):
    from music21 import key as m21key

    return m21key.Key("C" if mode == "major" else "c")


_DEGREES = ("I", "II", "III", "IV", "V", "VI", "VII")
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)


@lru_cache(maxsize=1024)
def _chromatic(shape: Shape, mode: str) -> str:
    """The nearest-degree numeral music21 confirms for a chord no candidate names."""
    case = str.upper if shape.triad in ("maj", "aug") else str.lower
    mark = {"dim": "o", "aug": "+"}.get(shape.triad, "")
    # Diminished chords lean up from the degree below (leading-tone chords: #ivo). Other chords
    # lean down from the degree above (bVI, bII, bV), except above minor's III, VI and VII, which
    # are already the low ones (#III, #VI, #VII).
    scale = _MAJOR_SCALE if mode == "major" else _MINOR_SCALE
    below = max(d for d in range(7) if scale[d] <= shape.root)
    lean_up = shape.triad == "dim" or (mode == "minor" and below in (2, 5, 6))

    def nearness(degree: int) -> tuple[int, bool]:
        above = (shape.root - scale[degree]) % 12  # semitones from the degree up to the root
        return min(above, 12 - above), (above <= 6) != lean_up

    triad = set(shape.intervals[:3]) if shape.triad != "1" else {0}
    base = None
    for degree in sorted(range(7), key=nearness)[:3]:
        for accidental in ("", "#", "b") if lean_up else ("", "b", "#"):
            figure = accidental + case(_DEGREES[degree]) + mark
            if (accidental and degree == 0) or not _plausible(figure, shape.root):  # no bI or #I
                continue
            root, intervals, _ = realise(figure, mode)
            if root == shape.root and set(intervals) == triad:
                base = figure
                break
        if base:
            break
    if base is None:  # music21 confirmed no spelling: the sharp of the degree below, unchecked
        degree = max(d for d in range(7) if _MAJOR_SCALE[d] <= shape.root)
        base = ("#" if _MAJOR_SCALE[degree] < shape.root else "") + case(_DEGREES[degree]) + mark
    if shape.seventh is None:
        return base
    # music21's '7' is the key's seventh above the root; others are figured ('b7') or bracketed.
    sevenths = ("7",) if shape.triad == "dim" else ("7", "b7", "#7", "##7", "bb7", "7[#7]", "7[b7]")
    for suffix in sevenths:
        figure = base.replace("o", "ø") + suffix if shape.triad == "dim" and shape.seventh == "b7" else base + suffix
        root, intervals, _ = realise(figure, mode)
        if root == shape.root and set(intervals) == set(shape.intervals):
            return figure
    return base + "7"


_INVERSION_FIGURES = {False: {1: "6", 2: "64"}, True: {1: "65", 2: "43", 3: "42"}}
_SEVENTH = re.compile(r"^(?P<head>.*?)(?P<accidental>[b#]*)7(?P<bracket>\[[^\]]*\])?$")


def _inverted(figure: str, shape: Shape, mode: str) -> str:
    """The figure with figured-bass inversion digits ('V65/V', 'bII43[b7]'), when music21 reads it
    back with the chord's bass and pitch classes; otherwise the root-position figure."""
    if shape.inversion == 0:
        return figure
    primary, slash, secondary = figure.partition("/")
    digits = _INVERSION_FIGURES[bool(shape.seventh)][shape.inversion]
    if shape.seventh:
        seventh = _SEVENTH.match(primary)
        if seventh is None:
            return figure
        alteration = f"[{seventh['accidental']}7]" if seventh["accidental"] else (seventh["bracket"] or "")
        candidate = seventh["head"] + digits + alteration + slash + secondary
    else:
        candidate = primary + digits + slash + secondary
    try:
        root, intervals, bass = realise(candidate, mode)
        wanted = realise(figure, mode)
    except Exception:  # music21 could not read the figure: keep root position
        return figure
    return candidate if (root, intervals) == wanted[:2] and bass == shape.bass else figure
