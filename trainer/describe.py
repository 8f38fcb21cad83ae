"""Text for a song, written from its analysis: the prompt a text-to-music model trains on, and
the mood, keyword and instrument tags that audiocraft's MusicInfo and the exports carry.

``describe(song)`` gives one line such as "upbeat rock in A major at 117 BPM, I-V-vi-IV
progression, vocals with drums and bass"; ``tags(song)`` gives ``{"moods", "keywords",
"instrument"}`` as lists. ``song`` is a dict of songs-view columns (a ``Selection`` row); every
field may be missing or None. Both are pure and deterministic: the same row always gives the same
text. The rules:

- **tempo word** from ``bpm``: under 80 'slow', 80 to under 105 'mid-tempo', 105 to under 140
  'upbeat', 140 and over 'fast'. A bpm that is not a positive number counts as missing.
- **mode word** from ``key`` ('A major' / 'F# minor'): major 'bright', minor 'dark'.
- **loudness word** from ``loudness_lufs`` (EBU R128 integrated): -10 LUFS or louder 'energetic',
  -20 LUFS or quieter 'gentle', nothing in between.
- **moods** are those three words, in that order, the missing ones left out.
- **genre** is ``primary_genre`` (a human label wins over the prediction in the songs view);
  'other' says nothing about the sound, so it counts as missing.
- **pattern** is the most common of ``common_patterns``: the name whose chords (its figures,
  'I-V-vi-IV') occur most often as a run in ``roman_numerals`` once each numeral is reduced to its
  degree (inversion and seventh figures dropped, 'V65' -> 'V', 'ii7' -> 'ii') and repeats merged;
  a name that is not a run of figures ('twelve-bar blues') counts once. Ties go to the name heard
  first (``common_patterns`` lists names in order of first hearing).
- **voice** from ``is_instrumental``: True 'instrumental', False 'vocals', None left out.
- **instrument** lists, from the stems (vocals, drums, bass; the 'other' stem names no
  instrument): ``stems_present`` when the caller gives it (the stems it judged audible), else the
  stems whose ``stem_stats`` say they are active (a loudness and at least 5% of 100 ms frames
  above -40 dBFS, the rule ``udfs.separation.is_instrumental`` uses). ``is_instrumental`` decides
  'vocals' whenever it is known. With no stem information, 'vocals' when is_instrumental is False.
- **keywords**: the genre, the mode ('major' / 'minor'), the time signature, the voice and the
  pattern names, lower case, each once.

The description is "<tempo word> <genre> in <key> at <bpm> BPM[ in <meter>], <pattern>
progression, <voice>[ with <instruments>]". The meter is named only when it is not 4/4; the
genre defaults to 'music'; any other missing part is left out with its words (never 'None'),
down to plain "music" for a row with no analysis at all.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

TEMPO_WORDS = ((80.0, "slow"), (105.0, "mid-tempo"), (140.0, "upbeat"), (math.inf, "fast"))
MODE_WORDS = {"major": "bright", "minor": "dark"}
LOUD_LUFS, QUIET_LUFS = -10.0, -20.0
ACTIVE_RATIO = 0.05  # as udfs.separation.INSTRUMENTAL_ACTIVE_RATIO: bleed is active less often
INSTRUMENT_STEMS = ("vocals", "drums", "bass")
_DEGREE = re.compile(r"^[b#]?(?:iii|ii|iv|vii|vi|v|i|III|II|IV|VII|VI|V|I)[oø+]?")


def describe(song: dict, stems_present: Sequence[str] | None = None) -> str:
    """One line describing the song from its analysis (rules in the module docstring)."""
    head = " ".join(w for w in (tempo_word(song.get("bpm")), genre(song) or "music") if w)
    key = _text(song.get("key"))
    if key:
        head += f" in {key}"
    bpm = _bpm(song.get("bpm"))
    if bpm is not None:
        head += f" at {bpm:.0f} BPM"
    meter = _text(song.get("time_signature"))
    if meter and meter != "4/4":
        head += f" in {meter}"
    clauses = [head]
    pattern = main_pattern(song)
    if pattern:
        clauses.append(f"{pattern} progression")
    voice = _voice(song)
    others = [name for name in instruments(song, stems_present) if name != "vocals"]
    if others:
        listed = " and ".join(others) if len(others) < 3 else ", ".join(others[:-1]) + " and " + others[-1]
        clauses.append(f"{voice} with {listed}" if voice else listed)
    elif voice:
        clauses.append(voice)
    return ", ".join(clauses)


def tags(song: dict, stems_present: Sequence[str] | None = None) -> dict[str, list[str]]:
    """``{"moods": [...], "keywords": [...], "instrument": [...]}`` (rules in the module docstring)."""
    moods = [w for w in (tempo_word(song.get("bpm")), MODE_WORDS.get(_mode(song.get("key")) or ""),
                         _loudness_word(song.get("loudness_lufs"))) if w]
    keywords = [genre(song), _mode(song.get("key")), _text(song.get("time_signature")), _voice(song),
                *(_text(p) for p in song.get("common_patterns") or ())]
    unique = list(dict.fromkeys(k.lower() for k in keywords if k))
    return {"moods": moods, "keywords": unique, "instrument": instruments(song, stems_present)}


def tempo_word(bpm) -> str | None:
    """'slow', 'mid-tempo', 'upbeat' or 'fast'; None when bpm is missing or not a positive number."""
    value = _bpm(bpm)
    if value is None:
        return None
    return next(word for limit, word in TEMPO_WORDS if value < limit)


def genre(song: dict) -> str | None:
    """The song's genre for text: primary_genre, None when missing or 'other'."""
    name = _text(song.get("primary_genre"))
    return None if name is None or name.lower() == "other" else name


def main_pattern(song: dict) -> str | None:
    """The most common named progression of the song (see the module docstring), or None."""
    names = [n for n in (_text(p) for p in song.get("common_patterns") or ()) if n]
    if not names:
        return None
    numerals = _merged_degrees(song.get("roman_numerals") or ())
    counts = [_occurrences(name, numerals) for name in names]
    return names[counts.index(max(counts))]  # index() takes the first of equals: first heard


def instruments(song: dict, stems_present: Sequence[str] | None = None) -> list[str]:
    """Instruments heard, in INSTRUMENT_STEMS order (see the module docstring)."""
    if stems_present is not None:
        heard = {str(s) for s in stems_present}
    else:
        heard = {s.get("stem") for s in song.get("stem_stats") or () if _active(s)}
    voice = song.get("is_instrumental")
    if voice is not None:  # the lake's decision (or a human label) beats the raw stem stats
        heard.discard("vocals")
        if voice is False:
            heard.add("vocals")
    return [name for name in INSTRUMENT_STEMS if name in heard]


def _voice(song: dict) -> str | None:
    return {True: "instrumental", False: "vocals"}.get(song.get("is_instrumental"))


def _active(stats) -> bool:
    if not isinstance(stats, dict):
        return False
    ratio = stats.get("active_ratio")
    return stats.get("loudness_lufs") is not None and ratio is not None and ratio >= ACTIVE_RATIO


def _loudness_word(lufs) -> str | None:
    if not _finite(lufs):
        return None
    if lufs >= LOUD_LUFS:
        return "energetic"
    return "gentle" if lufs <= QUIET_LUFS else None


def _mode(key) -> str | None:
    text = _text(key)
    word = text.split()[-1].lower() if text else None
    return word if word in MODE_WORDS else None


def _bpm(bpm) -> float | None:
    return float(bpm) if _finite(bpm) and bpm > 0 else None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(value) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _merged_degrees(numerals: Sequence) -> list[str]:
    """Roman numerals reduced to their degree ('V65' -> 'V'), repeats merged; None and no-chord
    entries break runs (kept as '')."""
    merged: list[str] = []
    for numeral in numerals:
        match = _DEGREE.match(str(numeral or ""))
        degree = match.group(0).rstrip("o+ø") if match else ""
        if not merged or merged[-1] != degree or degree == "":
            merged.append(degree)
    return merged


def _occurrences(name: str, numerals: list[str]) -> int:
    figures = [_DEGREE.match(part) for part in name.split("-")]
    if len(figures) < 2 or not all(f and f.group(0) == part for f, part in zip(figures, name.split("-"))):
        return 1  # not a run of figures ('twelve-bar blues'): it was heard, once at least
    run = [f.group(0).rstrip("o+ø") for f in figures]
    count, i = 0, 0
    while i + len(run) <= len(numerals):
        if numerals[i:i + len(run)] == run:
            count, i = count + 1, i + len(run)
        else:
            i += 1
    return count
