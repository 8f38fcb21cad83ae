"""The drumless styles of the corpus: how each is played, and its songs written as phrases of harmony.

Where the band styles (``_corpus_styles``) loop a 4-bar progression per section, these write
harmony as tonal music is written: phrases of 2 or 4 bars that begin on the tonic, move through
predominant and dominant chords (with applied dominants leading to their targets: V/V -> V,
V7/ii -> ii, V/vi -> vi, V7/IV -> IV), and end in a cadence (authentic V-I, half ending on V,
plagal IV-I, deceptive V7-vi). Chords come in inversions (bass on the third, fifth or seventh)
and some carry a 4-3 suspension. The harmonic rhythm is the style's: a chord a beat in a
chorale, one or two a bar in a quartet or at the piano, one every two bars in an ambient piece.

A bar of a plan is a string of chord tokens ``numeral|inversion|beats[|flags]``: 'V7|1|2' is the
dominant seventh in first inversion for two beats; flag 's' marks a 4-3 suspension over the
chord (the fourth above its root held into the chord and resolved to the third in the span's
first half), 'c' the chord that ends a phrase (a cadence's goal; the voices breathe after it).
The truth keeps the numeral in root position (chord label 'G:7', roman
'V7', as ``_corpus_styles`` spells them); inversions and non-chord tones are only in the notes.

Styles (all without drums, except the free ballad's body): 'chorale-organ' and 'chorale-choir'
(four voices on GM church organ 19 or choir aahs 52), 'string-quartet' (40, 40, 41, 42),
'piano-rubato' (solo piano, tempo curve of about +-10 % shaped by the phrases, ritardando at the
end), 'ambient' (pads and slow strings, a chord every one or two bars), 'free-ballad' (a rubato
piano intro, then piano, bass, strings and drums at a steady tempo).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from songlake._corpus_styles import METERS, ROMANS, SectionPlan, SongPlan, _spread_tonics
from songlake.synth import PITCH_CLASSES


@dataclass(frozen=True)
class DrumlessStyle:
    name: str
    genre: str
    meters: tuple[str, ...]  # one chosen per song
    bpm: tuple[int, int]
    programs: dict[str, tuple[int, ...]]  # role -> GM programs, one chosen per song
    rhythms: dict[int, tuple[tuple[float, ...], ...]]  # beats per bar -> chord durations in a bar
    rubato: str = ""  # '' steady, 'phrases' a phrase-shaped curve, 'intro' a free intro
    drums: bool = False


_CHORALE = {4: ((1, 1, 1, 1), (2, 1, 1), (1, 1, 2), (2, 2)), 3: ((1, 1, 1), (2, 1), (1, 2))}
_QUARTET = {4: ((2, 2), (4,), (2, 1, 1), (1, 1, 2)), 3: ((3,), (2, 1), (1, 2))}
_PIANO = {4: ((4,), (2, 2), (2, 2)), 3: ((3,), (2, 1), (3,))}
_AMBIENT = {4: ((8,), (4,), (8,)), 3: ((6,), (3,))}  # 8: one chord over two bars

DRUMLESS: dict[str, DrumlessStyle] = {s.name: s for s in (
    DrumlessStyle("chorale-organ", "classical", ("4/4", "4/4", "3/4"), (56, 88),
                  {"voices": (19,)}, _CHORALE),
    DrumlessStyle("chorale-choir", "classical", ("4/4", "3/4", "4/4"), (56, 84),
                  {"voices": (52,)}, _CHORALE),
    DrumlessStyle("string-quartet", "classical", ("4/4", "3/4"), (66, 116),
                  {"violin": (40,), "viola": (41,), "cello": (42,)}, _QUARTET),
    DrumlessStyle("piano-rubato", "classical", ("3/4", "4/4"), (60, 104),
                  {"piano": (0, 1)}, _PIANO, rubato="phrases"),
    DrumlessStyle("ambient", "electronic", ("4/4",), (50, 72),
                  {"pad": (88, 89, 91, 94, 95), "strings": (48, 49, 50)}, _AMBIENT),
    DrumlessStyle("free-ballad", "pop", ("4/4",), (62, 84),
                  {"piano": (0, 1), "bass": (33, 32), "strings": (48, 49)}, _PIANO, rubato="intro",
                  drums=True),
)}

# Which chord may follow which, with weights; the numerals are ROMANS' (an applied chord's only
# successors are its target and the target's seventh). (numeral, inversions it takes).
_MAJOR_NEXT: dict[str, tuple[tuple[str, float], ...]] = {
    "I": (("IV", 3), ("ii", 2), ("vi", 2.5), ("V", 2), ("V7/IV", 1), ("V7/ii", 1), ("V/vi", 1),
          ("iii", 0.5), ("ii7", 1), ("V/V", 1)),
    "vi": (("IV", 2.5), ("ii", 2), ("ii7", 2), ("V/V", 1), ("V7/V", 1), ("iii", 0.5)),
    "iii": (("vi", 2), ("IV", 2)),
    "IV": (("V", 3), ("V7", 2), ("ii", 1), ("I", 1.5), ("V/V", 1), ("viio", 0.7)),
    "ii": (("V", 3), ("V7", 3), ("V/V", 0.8), ("viio", 0.7)),
    "ii7": (("V", 3), ("V7", 3)),
    "V": (("I", 4), ("vi", 1.2), ("V7", 1)),
    "V7": (("I", 4), ("vi", 1)),
    "viio": (("I", 1),),
    "V/V": (("V", 2), ("V7", 1)), "V7/V": (("V", 2), ("V7", 1)),
    "V7/ii": (("ii", 2), ("ii7", 1)), "V/ii": (("ii", 1),),
    "V/vi": (("vi", 1),), "V7/vi": (("vi", 1),),
    "V7/IV": (("IV", 1),),
}
_MINOR_NEXT: dict[str, tuple[tuple[str, float], ...]] = {
    "i": (("iv", 3), ("VI", 2.5), ("iio", 1.5), ("V", 2), ("V7/iv", 1), ("III", 1), ("VII", 1), ("V/V", 0.8)),
    "VI": (("iv", 2), ("iio", 2), ("V", 1.5), ("V/V", 1), ("III", 0.5)),
    "III": (("VI", 2), ("iv", 2)),
    "VII": (("III", 3), ("i", 0.5)),
    "iv": (("V", 3), ("V7", 2), ("i", 1.5), ("iio", 1), ("viio", 0.7), ("V/V", 0.7)),
    "iio": (("V", 3), ("V7", 3)),
    "V": (("i", 4), ("VI", 1.2), ("V7", 1)),
    "V7": (("i", 4), ("VI", 1)),
    "viio": (("i", 1),),
    "V/V": (("V", 2), ("V7", 1)), "V7/V": (("V", 2),),
    "V7/iv": (("iv", 1),),
}
# The inversions each chord takes in the body of a phrase, with weights (0 root, 1 third in the
# bass, 2 fifth, 3 seventh).
_INVERSIONS = {"I": ((0, 3), (1, 1.5)), "i": ((0, 3), (1, 1.5)), "IV": ((0, 3), (1, 1)), "iv": ((0, 3), (1, 1)),
               "ii": ((0, 1), (1, 2)), "iio": ((1, 1),), "ii7": ((0, 1), (1, 1.5)), "V": ((0, 3), (1, 1.5)),
               "V7": ((0, 2), (1, 1.5), (2, 1), (3, 0.7)), "viio": ((1, 1),), "vi": ((0, 1),), "VI": ((0, 1),),
               "iii": ((0, 1),), "III": ((0, 2), (1, 1)), "VII": ((0, 1),),
               "V/V": ((0, 2), (1, 1.5)), "V7/V": ((0, 1), (1, 1), (3, 0.5)), "V7/ii": ((0, 1), (1, 1.5)),
               "V/ii": ((0, 1), (1, 1)), "V/vi": ((0, 1), (1, 1.5)), "V7/vi": ((0, 1), (1, 1)),
               "V7/IV": ((0, 1), (3, 1)), "V7/iv": ((0, 1), (3, 1))}

CADENCES = ("authentic", "half", "plagal", "deceptive")

# Forms: (section label, phrases), as the band styles write them.
_FORMS = ((("intro", 1), ("verse", 2), ("chorus", 2), ("verse", 2), ("chorus", 2), ("outro", 1)),
          (("intro", 1), ("verse", 2), ("chorus", 1), ("verse", 2), ("chorus", 1), ("outro", 1)),
          (("intro", 1), ("verse", 2), ("chorus", 2), ("bridge", 1), ("chorus", 2), ("outro", 1)),
          (("intro", 1), ("verse", 2), ("chorus", 2), ("outro", 1)),
          (("intro", 1), ("verse", 1), ("chorus", 1), ("verse", 1), ("chorus", 1), ("outro", 1)))

# Sizes: the styles of the 'drumless' corpus, two songs each, and their lengths in seconds.
DRUMLESS_SIZE = {"styles": tuple(s for s in DRUMLESS for _ in range(2)), "seconds": (60, 120)}


def plan_drumless(seed: int = 0, size: str = "drumless") -> list[SongPlan]:
    """The drumless corpus's song plans, deterministic for a seed."""
    styles = DRUMLESS_SIZE["styles"]
    rng = np.random.default_rng([seed, 7, sum(map(ord, size))])
    tonics = _spread_tonics(rng, len(styles))
    plans, counts = [], {}
    for index, (name, tonic) in enumerate(zip(styles, tonics)):
        turn = counts.get(name, 0)
        counts[name] = turn + 1
        song_rng = np.random.default_rng([seed, index, 7, sum(map(ord, size))])
        plans.append(_plan_song(song_rng, DRUMLESS[name], index, turn, styles.count(name), tonic, size, seed))
    return plans


def _plan_song(rng, style: DrumlessStyle, index: int, turn: int, share: int, tonic: int, size: str,
               seed: int) -> SongPlan:
    low, high = style.bpm
    bpm = float(round(low + (high - low) * (turn + rng.uniform(0.1, 0.9)) / share))
    mode = "minor" if (turn + list(DRUMLESS).index(style.name)) % 2 else "major"  # a style's songs alternate
    meter = style.meters[(turn + int(rng.integers(len(style.meters)))) % len(style.meters)]
    beats_per_bar = METERS[meter][0]
    target = rng.uniform(*DRUMLESS_SIZE["seconds"])
    bar_seconds = beats_per_bar * 60.0 / bpm
    phrase_options = (4,) if style.rubato else (4, 2)  # a tempo arch over 2 bars would lurch
    form, phrase_bars = min(((f, b) for f in _FORMS for b in phrase_options),
                            key=lambda fb: abs(sum(n for _, n in fb[0]) * fb[1] * bar_seconds - target))
    next_table = _MAJOR_NEXT if mode == "major" else _MINOR_NEXT
    tonic_numeral = "I" if mode == "major" else "i"
    written: dict[str, list[list[str]]] = {}  # section label -> its phrases' bars (repeats reuse them)
    sections = []
    for position, (label, phrases) in enumerate(form):
        final = position == len(form) - 1
        if label not in written or final:
            bars: list[str] = []
            for k in range(phrases):
                last = k == phrases - 1
                cadence = _cadence(rng, label, last, final)
                bars += _phrase(rng, style, next_table, tonic_numeral, beats_per_bar, phrase_bars, cadence)
            written[label] = bars
        sections.append(SectionPlan(label, tuple(written[label])))
    roles = {role: options[(turn + int(rng.integers(len(options)))) % len(options)]
             for role, options in style.programs.items()}
    tempo = _tempo_curve(rng, style, bpm, sum(len(s.bars) for s in sections), beats_per_bar,
                         phrase_bars, len(sections[0].bars))
    if tempo:
        bpm = round(float(np.median(tempo)), 2)
    tonic_name = PITCH_CLASSES[tonic].replace("#", "s")
    prefix = size if seed == 0 else f"{size}-s{seed}"
    name = f"{prefix}-{index:02d}-{style.name}-{tonic_name}{'m' if mode == 'minor' else ''}-{int(round(bpm))}"
    return SongPlan(name, style.name, tonic, mode, bpm, meter, style.drums, tuple(sections), roles,
                    lead_in=round(float(rng.uniform(0.2, 1.0)), 3), seed=int(rng.integers(2**31)), tempo=tempo)


def _cadence(rng, label: str, last: bool, final: bool) -> str:
    """The cadence ending a phrase: sections close on an authentic one, phrases inside them open."""
    if final and last:
        return "plagal" if rng.uniform() < 0.25 else "authentic"
    if last:
        return "half" if label == "intro" else ("deceptive" if rng.uniform() < 0.2 else "authentic")
    return str(rng.choice(["half", "deceptive", "authentic"], p=[0.6, 0.2, 0.2]))


def _phrase(rng, style: DrumlessStyle, table, tonic: str, beats_per_bar: int, bars: int, cadence: str) -> list[str]:
    """One phrase as bar strings: tonic first, a chain of chords, the cadence's two chords last."""
    durations = _durations(rng, style, beats_per_bar, bars)
    minor = tonic == "i"
    goal = {"authentic": tonic, "plagal": tonic, "half": "V", "deceptive": "VI" if minor else "vi"}[cadence]
    penults = {"authentic": ("V", "V7"), "deceptive": ("V7",), "plagal": ("iv",) if minor else ("IV",),
               "half": ("iv", "iio", "V/V") if minor else ("IV", "ii", "V/V")}[cadence]
    body = len(durations) - 2
    for _ in range(500):
        chain = [tonic]
        while len(chain) < body:
            options = table[chain[-1]]
            weights = np.array([w for _, w in options], float)
            chain.append(options[int(rng.choice(len(options), p=weights / weights.sum()))][0])
        penult = str(rng.choice(penults))
        if body == 0 or any(n == penult for n, _ in table[chain[-1]]):
            break
    chain = (chain + [penult, goal])[-len(durations):] if body >= 0 else [goal]
    tokens = []
    for i, (numeral, beats) in enumerate(zip(chain, durations)):
        cadential = i >= len(chain) - 2
        if cadential and numeral in ("V", "V7", "I", "i", "IV", "iv", "vi", "VI") and cadence != "half":
            inversion = 0  # the cadence's chords stand on their roots
        elif cadential and i == len(chain) - 1:
            inversion = 0
        else:
            options = _INVERSIONS.get(numeral, ((0, 1),))
            weights = np.array([w for _, w in options], float)
            inversion = options[int(rng.choice(len(options), p=weights / weights.sum()))][0]
        if i == 0:
            inversion = 0
        suspended = (numeral in ("V", "V7", "I", "i", "IV", "iv", "vi", "VI", "V/V")
                     and beats >= 2 and i > 0 and rng.uniform() < (0.6 if cadential else 0.2))
        tokens.append((numeral, inversion, beats, suspended, i == len(chain) - 1))
    return _to_bars(tokens, beats_per_bar)


def _durations(rng, style: DrumlessStyle, beats_per_bar: int, bars: int) -> list[float]:
    """Chord lengths in beats across a phrase: the style's harmonic rhythm, the last bar one chord."""
    options = style.rhythms[beats_per_bar]
    out: list[float] = []
    bar = 0
    while bar < bars - 1:
        pattern = options[int(rng.integers(len(options)))]
        if sum(pattern) > beats_per_bar * (bars - 1 - bar):
            pattern = (beats_per_bar,)
        out += list(pattern)
        bar += int(round(sum(pattern) / beats_per_bar))
    if len(out) < 2:  # a cadence needs a chord before its goal
        out = [beats_per_bar / 2] * 2 if beats_per_bar % 2 == 0 else [2.0, 1.0]
    out.append(float(beats_per_bar))
    return out


def _to_bars(tokens, beats_per_bar: int) -> list[str]:
    """Chord tokens cut into bars; a chord over a bar line is written in both (the same token)."""
    bars: list[list[str]] = [[]]
    room = beats_per_bar
    for numeral, inversion, beats, suspended, cadence in tokens:
        left, first = float(beats), True
        while left > 1e-9:
            take = min(left, room)
            flags = ("s" if suspended and first else "") + ("c" if cadence and take >= left - 1e-9 else "")
            bars[-1].append(f"{numeral}|{inversion}|{take:g}" + (f"|{flags}" if flags else ""))
            left, room, first = left - take, room - take, False
            if room <= 1e-9:
                bars.append([])
                room = beats_per_bar
    return [" ".join(b) for b in bars if b]


def _tempo_curve(rng, style: DrumlessStyle, bpm: float, bars: int, beats_per_bar: int, phrase_bars: int,
                 intro_bars: int) -> tuple[float, ...]:
    """The tempo (bpm) of every beat, or () for a steady pulse.

    'phrases': each 4-bar phrase starts a little slow, presses on to about +8 % before its middle
    and broadens into its cadence (a raised-cosine arch, 0.93 -> 1.08 -> 0.93 of the base tempo,
    smooth across phrase joins, its height varying by phrase); the last two bars slow down by
    another 12 %. 'intro': the intro moves freely (0.87 -> 1.05 -> 0.81) and the body keeps the
    base tempo (the band comes in a tempo).
    """
    if not style.rubato:
        return ()
    count = bars * beats_per_bar
    phrase = phrase_bars * beats_per_bar
    factors = np.ones(count)
    if style.rubato == "phrases":
        heights = rng.uniform(0.7, 1.2, size=count // phrase + 1)
        for k in range(count):
            x = ((k + 0.5) % phrase) / phrase
            factors[k] = 1.0 + heights[k // phrase] * (-0.07 + 0.15 * np.sin(np.pi * x ** 0.8) ** 2)
        ritardando = 2 * beats_per_bar
        factors[-ritardando:] *= np.linspace(1.0, 0.88, ritardando)
    else:
        free = intro_bars * beats_per_bar
        for k in range(free):
            x = (k + 0.5) / free
            factors[k] = 0.87 + 0.18 * np.sin(np.pi * x ** 0.7) - 0.06 * max(0.0, (x - 0.75) / 0.25)
    return tuple(round(float(bpm * f), 3) for f in factors)


def parse_token(token: str) -> tuple[str, int, float, str]:
    """'V7|1|2|s' -> ('V7', 1, 2.0, 's'): numeral, inversion, beats and flags."""
    parts = token.split("|")
    if len(parts) < 3 or parts[0] not in ROMANS:
        raise ValueError(f"not a drumless chord token: {token!r} (numeral|inversion|beats[|flags])")
    return parts[0], int(parts[1]), float(parts[2]), parts[3] if len(parts) > 3 else ""
