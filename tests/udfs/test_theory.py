import subprocess
import sys
from dataclasses import dataclass

import pytest

from songlake.udfs import _harte, _romans
from songlake.udfs.theory import (
    BLUES,
    CATALOGUE,
    SQL_FUNCTIONS,
    harmonic_analysis,
    progression_patterns,
    roman,
    transpose,
)

PITCHES = _harte.PITCH_CLASSES


def spans(labels, bar=2.0, start=0.0):
    """One chord a bar, as (start, end, label)."""
    return [(start + i * bar, start + (i + 1) * bar, label) for i, label in enumerate(labels)]


def grid(bars, bar=2.0, beats_per_bar=4):
    """Beats and downbeats for a number of bars of 4/4."""
    beats = [i * bar / beats_per_bar for i in range(bars * beats_per_bar)]
    return beats, beats[::beats_per_bar]


def moved(labels, semitones):
    return [transpose(label, semitones) for label in labels]


def key_of(tonic_label, semitones, mode):
    return f"{transpose(tonic_label, semitones).split(':')[0]} {mode}"


# roman numerals and functions


def test_pop_progression_numerals_and_functions():
    harmony = harmonic_analysis(spans(["C:maj", "G:7", "A:min", "F:maj"]), "C major")
    assert harmony.roman_numerals == ("I", "V7", "vi", "IV")
    assert harmony.functional_harmony == ("tonic", "dominant", "tonic", "predominant")


@pytest.mark.parametrize(
    "label, key, numeral, function",
    [
        ("D:7", "C major", "V7/V", "applied dominant"),
        ("D:maj", "C major", "V/V", "applied dominant"),
        ("C:7", "C major", "V7/IV", "applied dominant"),
        ("E:7", "C major", "V7/vi", "applied dominant"),
        ("F#:dim7", "C major", "viio7/V", "applied dominant"),
        ("Bb:maj", "C major", "bVII", "borrowed"),
        ("Ab:maj", "C major", "bVI", "borrowed"),
        ("Eb:maj", "C major", "bIII", "borrowed"),
        ("F:min", "C major", "iv", "borrowed"),
        ("Db:maj", "C major", "bII", "borrowed"),  # Neapolitan
        ("D:maj", "A minor", "IV", "borrowed"),  # Dorian IV
        ("A:maj", "A minor", "I", "borrowed"),  # Picardy third
        ("E:7", "A minor", "V7", "dominant"),
        ("G#:dim7", "A minor", "viio7", "dominant"),
        ("B:hdim7", "A minor", "iiø7", "predominant"),
        ("B:hdim7", "C major", "viiø7", "dominant"),
        ("F#:maj", "C major", "bV", "chromatic"),
        ("G:sus4", "C major", "Vsus4", "dominant"),
    ],
)
def test_applied_borrowed_and_chromatic_chords(label, key, numeral, function):
    assert roman(label, key) == numeral
    harmony = harmonic_analysis(spans(["C:maj" if "major" in key else "A:min", label]), key)
    assert harmony.roman_numerals[1] == numeral
    assert harmony.functional_harmony[1] == function


def test_no_chord_is_n_with_no_function():
    assert roman("N", "C major") == "N" and roman("X", "A minor") == "N"
    harmony = harmonic_analysis(spans(["C:maj", "N", "G:maj"]), "C major")
    assert harmony.roman_numerals == ("I", "N", "V")
    assert harmony.functional_harmony == ("tonic", "none", "dominant")


def test_inversions_and_extensions():
    assert roman("C:maj/3", "C major") == "I6"
    assert roman("C:maj/5", "C major") == "I64"
    assert roman("G:7/3", "C major") == "V65"
    assert roman("G:7/b7", "C major") == "V42"
    assert roman("D:7/3", "C major") == "V65/V"
    assert roman("G:9", "C major") == "V7"  # ninths are colour
    assert roman("C:maj6", "C major") == "I"


def test_numerals_are_what_music21_realises():
    """Every numeral, read back by music21 in the key, gives the chord's pitch classes."""
    from music21 import key as m21key
    from music21 import roman as m21roman

    qualities = ["maj", "min", "dim", "aug", "7", "maj7", "min7", "hdim7", "dim7"]
    for key in ("C major", "A minor", "Eb major", "F# minor"):
        tonic, mode = _harte.parse_key(key)
        name = PITCHES[tonic].replace("b", "-")
        m21 = m21key.Key(name if mode == "major" else name.lower())
        for root in PITCHES:
            for quality in qualities:
                label = f"{root}:{quality}"
                shape = _harte.parse(label)
                expected = {(shape.root + i) % 12 for i in shape.intervals}
                figure = roman(label, key)
                assert set(m21roman.RomanNumeral(figure, m21).pitchClasses) == expected, (label, key, figure)


def test_candidate_prefilter_finds_what_a_full_search_finds():
    """The root prefilter in _romans skips music21 work but never changes the answer."""
    shapes = [(0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8), (0, 4, 7, 10), (0, 4, 7, 11), (0, 3, 7, 10), (0, 3, 6, 10),
              (0, 3, 6, 9)]
    for mode in ("major", "minor"):
        for root in range(12):
            for intervals in shapes:
                full = None
                for index, (candidates, function) in enumerate(_romans._groups(mode)):
                    for figure, role in candidates:
                        found_root, found, _ = _romans.realise(figure, mode)
                        if full is None and found_root == root and frozenset(found) == frozenset(intervals):
                            full = (figure, function or role)
                quick = _romans._lookup(mode, root, intervals)
                assert (quick[:2] if quick else None) == full, (mode, root, intervals)


def test_minor_progression_numerals_and_pattern():
    harmony = harmonic_analysis(spans(["A:min", "F:maj", "C:maj", "G:maj"] * 2), "A minor")
    assert harmony.roman_numerals == ("i", "VI", "III", "VII") * 2
    assert harmony.functional_harmony[:4] == ("tonic", "predominant", "tonic", "dominant")
    assert harmony.common_patterns == ("i-VI-III-VII",)


@pytest.mark.parametrize("semitones", range(12))
def test_same_progression_in_any_key_gives_the_same_analysis(semitones):
    minor = ["A:min", "F:maj", "C:maj", "G:maj", "A:min", "D:min", "E:7", "A:min"]
    major = ["C:maj", "G:7", "A:min", "F:maj", "D:7", "G:maj", "Bb:maj", "F:min", "C:maj"]
    for labels, tonic, mode in ((minor, "A:min", "minor"), (major, "C:maj", "major")):
        beats, downbeats = grid(len(labels))
        sections = [(0.0, 2.0 * len(labels), "verse")]
        reference = harmonic_analysis(spans(labels), f"{tonic.split(':')[0]} {mode}", beats, downbeats, sections)
        shifted = harmonic_analysis(spans(moved(labels, semitones)), key_of(tonic, semitones, mode), beats, downbeats,
                                    sections)
        assert shifted.roman_numerals == reference.roman_numerals
        assert shifted.functional_harmony == reference.functional_harmony
        assert shifted.cadences == reference.cadences
        assert shifted.common_patterns == reference.common_patterns
        assert shifted.progression_complexity == pytest.approx(reference.progression_complexity, abs=1e-3)


# patterns


def test_a_loop_is_reported_once_by_the_rotation_heard_first():
    loop = ["C:maj", "G:maj", "A:min", "F:maj"]
    assert progression_patterns(loop * 4, "C major") == ("I-V-vi-IV",)
    assert progression_patterns(["A:min", "F:maj", "C:maj", "G:maj"] * 4, "C major") == ("vi-IV-I-V",)


def test_patterns_ignore_extensions_repeats_and_key():
    assert progression_patterns(["C:maj7", "G:7", "G:7", "A:min7", "F:maj7"], "C major") == ("I-V-vi-IV",)
    assert progression_patterns(["E:maj7", "B:7", "C#:min7", "A:maj"], "E major") == ("I-V-vi-IV",)
    assert progression_patterns(["D:min7", "G:7", "C:maj7"], "C major") == ("ii-V-I",)
    assert progression_patterns(["B:hdim7", "E:7", "A:min"], "A minor") == ("iiø-V-i",)
    assert progression_patterns(["D:maj", "C:maj", "G:maj", "D:maj"], "D major") == ("I-bVII-IV",)
    assert progression_patterns(["A:min", "D:min", "E:min"], "A minor") == ("i-iv-v",)
    assert progression_patterns(["C:maj", "A:min", "F:maj", "G:maj"], "C major") == ("I-vi-IV-V",)
    assert progression_patterns(["C:maj", "F:maj", "A:min", "G:maj"], "C major") == ("I-IV-vi-V",)
    assert progression_patterns(["C:maj", "F:maj", "G:maj"], "C major") == ("I-IV-V",)
    assert progression_patterns(["C:maj", "G:maj", "N", "A:min", "F:maj"], "C major") == ()  # 'N' breaks a run


@pytest.mark.parametrize("semitones", [0, 3, 7])
def test_andalusian_cadence(semitones):
    labels = moved(["A:min", "G:maj", "F:maj", "E:7"] * 2, semitones)
    assert progression_patterns(labels, key_of("A:min", semitones, "minor")) == ("i-bVII-bVI-V",)


def test_catalogue_names_its_patterns_in_roman_numerals():
    names = {p.name for p in CATALOGUE}
    for name in ["I-V-vi-IV", "vi-IV-I-V", "I-vi-IV-V", "ii-V-I", "I-IV-V", "i-VI-III-VII", "i-bVII-bVI-V",
                 "I-IV-vi-V", "i-iv-v", "I-bVII-IV", "iiø-V-i"]:
        assert name in names
    assert all(p.about for p in CATALOGUE)


BLUES_IN_A = ["A:7"] * 4 + ["D:7"] * 2 + ["A:7"] * 2 + ["E:7", "D:7", "A:7", "E:7"]


def test_twelve_bar_blues_in_a_by_bar_structure():
    merged = []
    for label in BLUES_IN_A:  # one span per chord change, as the chord recogniser gives them
        if merged and merged[-1][2] == label:
            merged[-1] = (merged[-1][0], merged[-1][1] + 2.0, label)
        else:
            start = merged[-1][1] if merged else 0.0
            merged.append((start, start + 2.0, label))
    beats, downbeats = grid(24)
    assert BLUES in harmonic_analysis(merged * 1, "A major", beats, downbeats).common_patterns
    assert BLUES in harmonic_analysis(merged, "A major", beats).common_patterns  # bars of four beats
    assert BLUES in harmonic_analysis(merged, "A major").common_patterns  # bars from chord lengths
    assert BLUES in progression_patterns(BLUES_IN_A, "A major")  # one label a bar
    assert BLUES in progression_patterns([s[2] for s in merged], "A major")  # the merged skeleton
    quick_change = ["A:7", "D:7"] + BLUES_IN_A[2:]
    assert BLUES in progression_patterns(moved(quick_change, 5), "D major")


def test_no_blues_without_its_bar_structure():
    beats, downbeats = grid(16)
    rock = spans(["A:maj", "D:maj", "E:maj", "A:maj"] * 4)
    assert BLUES not in harmonic_analysis(rock, "A major", beats, downbeats).common_patterns
    short = ["A:7"] * 2 + ["D:7"] * 2 + ["A:7"] + ["E:7", "D:7", "A:7"]  # eight bars
    assert BLUES not in harmonic_analysis(spans(short), "A major", *grid(8)).common_patterns


# cadences


def cadence_types(harmony):
    return [c.type for c in harmony.cadences]


def test_perfect_authentic_cadence_on_a_downbeat_at_a_section_end_beats_a_weak_beat_one():
    beats, downbeats = grid(4)
    section = [(0.0, 8.0, "verse")]
    strong = harmonic_analysis(spans(["C:maj", "F:maj", "G:7", "C:maj"]), "C major", beats, downbeats, section)
    weak = harmonic_analysis([(0.0, 2.0, "C:maj"), (2.0, 4.0, "F:maj"), (4.0, 6.5, "G:7"), (6.5, 8.0, "C:maj")],
                             "C major", beats, downbeats, section)
    [pac], [iac] = strong.cadences, weak.cadences
    assert (pac.type, pac.time) == ("perfect authentic", 6.0)
    assert (iac.type, iac.time) == ("imperfect authentic", 6.5)
    assert 0.0 <= iac.strength < pac.strength <= 1.0


def test_leading_tone_and_inverted_dominants_give_imperfect_cadences():
    beats, downbeats = grid(4)
    section = [(0.0, 8.0, "verse")]
    for dominant in ("B:dim", "G:7/3"):
        harmony = harmonic_analysis(spans(["C:maj", "F:maj", dominant, "C:maj"]), "C major", beats, downbeats, section)
        assert cadence_types(harmony) == ["imperfect authentic"]


def test_plagal_deceptive_and_half_cadences():
    beats, downbeats = grid(4)
    section = [(0.0, 8.0, "verse")]
    plagal = harmonic_analysis(spans(["C:maj", "G:maj", "F:maj", "C:maj"]), "C major", beats, downbeats, section)
    assert cadence_types(plagal) == ["plagal"] and plagal.cadences[0].time == 6.0
    deceptive = harmonic_analysis(spans(["C:maj", "F:maj", "G:maj", "A:min"]), "C major", beats, downbeats, section)
    assert cadence_types(deceptive) == ["deceptive"] and deceptive.cadences[0].time == 6.0
    half = harmonic_analysis(spans(["C:maj", "A:min", "F:maj", "G:maj"]), "C major", beats, downbeats, section)
    assert cadence_types(half) == ["half"] and half.cadences[0].time == 6.0
    minor = harmonic_analysis(spans(["A:min", "D:min", "E:7", "F:maj"]), "A minor", beats, downbeats, section)
    assert cadence_types(minor) == ["deceptive"]


def test_a_half_cadence_ends_a_phrase_that_the_next_section_answers():
    beats, downbeats = grid(8)
    sections = [(0.0, 8.0, "pre-chorus"), (8.0, 16.0, "chorus")]
    harmony = harmonic_analysis(spans(["C:maj", "D:min", "F:maj", "G:7", "C:maj", "F:maj", "G:7", "C:maj"]),
                                "C major", beats, downbeats, sections)
    assert [(c.type, c.time) for c in harmony.cadences] == [("half", 6.0), ("perfect authentic", 14.0)]


def test_a_pop_loop_has_no_cadence_at_each_turn():
    beats, downbeats = grid(16)
    harmony = harmonic_analysis(spans(["C:maj", "G:maj", "A:min", "F:maj"] * 4), "C major", beats, downbeats,
                                [(0.0, 32.0, "chorus")])
    assert harmony.cadences == ()


def test_cadence_strengths_stay_in_range():
    beats, downbeats = grid(12)
    harmony = harmonic_analysis(spans(BLUES_IN_A), "A major", beats, downbeats)
    assert harmony.cadences and all(0.0 <= c.strength <= 1.0 for c in harmony.cadences)
    assert [c.time for c in harmony.cadences] == sorted(c.time for c in harmony.cadences)


# complexity


def test_progression_complexity_orders_simple_below_chromatic():
    loop = harmonic_analysis(spans(["C:maj", "G:maj", "A:min", "F:maj"] * 20), "C major")  # a 3-minute song
    jazz = harmonic_analysis(
        [(0, 1, "C:maj7"), (1, 2, "A:7"), (2, 4, "D:min7"), (4, 4.5, "G:7"), (4.5, 6, "E:7"), (6, 7, "Ab:maj7"),
         (7, 9, "Db:7"), (9, 10, "C:maj7"), (10, 10.5, "F:min"), (10.5, 12, "Bb:7"), (12, 14, "Eb:maj"),
         (14, 15, "D:7"), (15, 16, "G:7"), (16, 18, "C:maj7")], "C major")
    assert 0.0 <= loop.progression_complexity < 0.2
    assert 0.4 < jazz.progression_complexity <= 1.0


# transpose


@pytest.mark.parametrize("label", ["C:maj", "A:min7/b3", "Bb:7", "F#:hdim7", "Eb:maj(9)", "G:sus4(b7)", "E:maj/5", "N"])
def test_transpose_round_trips(label):
    for semitones in range(-13, 14):
        assert transpose(transpose(label, semitones), -semitones) == label


def test_transpose_spells_roots_the_lake_way():
    assert [transpose("C:maj", k) for k in range(12)] == [f"{p}:maj" for p in PITCHES]
    assert transpose("Db:min", 0) == "C#:min" and transpose("E#:7", 0) == "F:7"
    assert transpose("A:min7/b3", 3) == "C:min7/b3"


# bad and degenerate input


@pytest.mark.parametrize(
    "call, cause",
    [
        (lambda: harmonic_analysis(spans(["C:maj", "H:maj"]), "C major"), "unparseable chord label 'H:maj'"),
        (lambda: harmonic_analysis(spans(["C:maj", "C:mja"]), "C major"), "unknown chord quality"),
        (lambda: roman("C-major", "C major"), "unparseable"),
        (lambda: harmonic_analysis(spans(["C:maj", "G:maj"]), "C dorian"), "unknown key"),
        (lambda: roman("C:maj", "H major"), "unknown key"),
        (lambda: harmonic_analysis(spans(["C:maj", "G:maj"]), None), "key"),
        (lambda: harmonic_analysis([(2, 4, "C:maj"), (0, 2, "G:maj")], "C major"), "out of order"),
        (lambda: harmonic_analysis([(0, 2, "C:maj"), (1, 3, "G:maj")], "C major"), "out of order"),
        (lambda: harmonic_analysis([(2, 1, "C:maj")], "C major"), "before it starts"),
        (lambda: harmonic_analysis([(0, 88200, "C:maj"), (88200, 176400, "G:maj")], "C major"), "samples"),
        (lambda: harmonic_analysis(spans(["C:maj", "G:maj"]), "C major", beats=[1.0, 0.5]), "out of order"),
        (lambda: harmonic_analysis([("C:maj",)], "C major"), "expected \\(start, end, label\\)"),
        (lambda: transpose("C:maj", 1.5), "whole number"),
        (lambda: progression_patterns("C:maj", "C major"), "list of chord labels"),
    ],
)
def test_bad_input_names_the_cause(call, cause):
    with pytest.raises(ValueError, match=cause):
        call()


@pytest.mark.parametrize(
    "chords, numerals",
    [([], ()), ([(0.0, 2.0, "N"), (2.0, 4.0, "N")], ("N", "N")), ([(0.0, 4.0, "G:maj")], ("V",)),
     (spans(["C:maj", "C:maj7", "N"]), ("I", "I7", "N"))],
)
def test_degenerate_input_gives_empty_results_with_a_warning(chords, numerals):
    with pytest.warns(UserWarning, match="chord"):
        harmony = harmonic_analysis(chords, "C major")
    assert harmony.roman_numerals == numerals
    assert len(harmony.functional_harmony) == len(numerals)
    assert (harmony.cadences, harmony.common_patterns, harmony.progression_complexity) == ((), (), None)


# the SQL face


def test_nulls_give_nulls():
    assert roman(None, "C major") is None and roman("C:maj", None) is None
    assert transpose(None, 2) is None and transpose("C:maj", None) is None
    assert progression_patterns(None, "C major") is None
    assert progression_patterns(["C:maj", None, "G:maj"], "C major") == ()


def test_sql_functions_register_and_run_in_duckdb():
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    for name, (function, arguments, returns) in SQL_FUNCTIONS.items():
        con.create_function(name, function, arguments, returns, null_handling="special")
    row = con.execute(
        "SELECT roman('D:7', 'C major'), transpose('A:min7', 3), "
        "progression_patterns(['C:maj', 'G:maj', 'A:min', 'F:maj'], 'C major'), "
        "roman(NULL, 'C major'), transpose(NULL, 1), progression_patterns(NULL, 'C major')"
    ).fetchone()
    assert row == ("V7/V", "C:min7", ["I-V-vi-IV"], None, None, None)


def test_accepts_span_objects_and_key_objects():
    @dataclass(frozen=True)
    class Span:
        start: float
        end: float
        label: str

    @dataclass(frozen=True)
    class Chords:
        spans: tuple

    @dataclass(frozen=True)
    class Key:
        name: str

    chords = Chords(tuple(Span(*s) for s in spans(["C:maj", "G:7", "A:min", "F:maj"])))
    assert harmonic_analysis(chords, Key("C major")).roman_numerals == ("I", "V7", "vi", "IV")
    assert roman("G:7", Key("C major")) == "V7"


def test_music21_is_imported_only_when_needed():
    code = "import sys, songlake.udfs.theory; assert 'music21' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_beats_chord_spans_alone_give_the_whole_analysis():
    # a chorale phrase in free time: chords of uneven length, no beats, downbeats or sections
    chords = [(0.0, 1.3, "G:maj"), (1.3, 2.1, "C:maj"), (2.1, 3.6, "A:min"), (3.6, 4.2, "D:7"), (4.2, 6.0, "G:maj"),
              (6.0, 7.1, "E:min"), (7.1, 8.9, "C:maj"), (8.9, 9.6, "D:maj"), (9.6, 12.0, "G:maj")]
    harmony = harmonic_analysis(chords, "G major", (), (), ())
    assert harmony.roman_numerals == ("I", "IV", "ii", "V7", "I", "vi", "IV", "V", "I")
    assert harmony.functional_harmony[3] == "dominant" and harmony.functional_harmony[6] == "predominant"
    assert [(c.type, c.time) for c in harmony.cadences][-1] == ("perfect authentic", 9.6)
    assert "ii-V-I" in harmony.common_patterns
    assert 0 <= harmony.progression_complexity <= 1
    assert all(0 <= c.strength <= 1 for c in harmony.cadences)
