"""describe() and tags(): known answers, missing and odd fields, determinism. Pure, no lake."""

import copy
import math

import pytest

from songlake.trainer.describe import describe, instruments, main_pattern, tags, tempo_word

ROCK = {"bpm": 117.3, "key": "A major", "primary_genre": "rock", "common_patterns": ["I-V-vi-IV"],
        "is_instrumental": False, "time_signature": "4/4", "loudness_lufs": -14.0}


def test_known_answer_from_the_issue():
    assert describe(ROCK) == "upbeat rock in A major at 117 BPM, I-V-vi-IV progression, vocals"


def test_tags_known_answer():
    assert tags(ROCK) == {"moods": ["upbeat", "bright"], "keywords": ["rock", "major", "4/4", "vocals", "i-v-vi-iv"],
                          "instrument": ["vocals"]}


def test_no_analysis_is_plain_music_and_never_none():
    assert describe({}) == "music"
    assert tags({}) == {"moods": [], "keywords": [], "instrument": []}
    nones = {name: None for name in ("bpm", "key", "primary_genre", "common_patterns", "roman_numerals",
                                     "is_instrumental", "time_signature", "loudness_lufs", "stem_stats")}
    assert describe(nones) == "music"
    assert "None" not in describe({"key": "D minor", "primary_genre": None, "bpm": None})


@pytest.mark.parametrize("bpm, word", [(60, "slow"), (79.9, "slow"), (80, "mid-tempo"), (104.9, "mid-tempo"),
                                       (105, "upbeat"), (139.9, "upbeat"), (140, "fast"), (200, "fast")])
def test_tempo_words(bpm, word):
    assert tempo_word(bpm) == word


@pytest.mark.parametrize("bpm", [None, 0, -90, math.nan, math.inf, "120", True])
def test_bad_bpm_counts_as_missing(bpm):
    assert tempo_word(bpm) is None
    assert describe({"bpm": bpm, "primary_genre": "jazz"}) == "jazz"


def test_mode_and_loudness_moods():
    assert tags({"key": "C# minor", "loudness_lufs": -8.0})["moods"] == ["dark", "energetic"]
    assert tags({"key": "Eb major", "loudness_lufs": -23.0})["moods"] == ["bright", "gentle"]
    assert tags({"key": "unknown", "loudness_lufs": -15.0})["moods"] == []


def test_other_genre_says_nothing_and_odd_meters_are_named():
    song = {"primary_genre": "other", "bpm": 90, "key": "G major", "time_signature": "3/4"}
    assert describe(song) == "mid-tempo music in G major at 90 BPM in 3/4"
    assert "other" not in tags(song)["keywords"]


def test_instruments_from_stem_stats_and_the_vocal_decision():
    stats = [{"stem": "vocals", "loudness_lufs": -30.0, "active_ratio": 0.5},
             {"stem": "drums", "loudness_lufs": -18.0, "active_ratio": 0.9},
             {"stem": "bass", "loudness_lufs": -20.0, "active_ratio": 0.02},  # bleed: too rarely active
             {"stem": "other", "loudness_lufs": -16.0, "active_ratio": 0.9}]  # names no instrument
    assert instruments({"stem_stats": stats}) == ["vocals", "drums"]
    # the lake's is_instrumental (or a human label) wins over the stem's raw activity
    assert instruments({"stem_stats": stats, "is_instrumental": True}) == ["drums"]
    assert describe({"stem_stats": stats, "is_instrumental": True, "primary_genre": "metal"}) == \
        "metal, instrumental with drums"


def test_stems_present_overrides_the_stats():
    song = {"is_instrumental": False, "primary_genre": "pop", "stem_stats": []}
    assert describe(song, stems_present=["drums", "bass", "vocals"]) == "pop, vocals with drums and bass"
    assert describe({"primary_genre": "pop"}, stems_present=["bass", "drums"]) == "pop, drums and bass"
    assert describe({"is_instrumental": False}, stems_present=[]) == "music, vocals"


def test_main_pattern_is_the_most_played():
    song = {"common_patterns": ["I-IV-V", "I-V-vi-IV"],
            # I IV V once, then the Axis loop twice (V65 and vi7 reduce to their degrees; repeats merge)
            "roman_numerals": ["I", "IV", "V7", "I", "V65", "vi7", "vi", "IV", "I", "V", "vi", "IV"]}
    assert main_pattern(song) == "I-V-vi-IV"
    assert "I-V-vi-IV progression" in describe(song)


def test_main_pattern_ties_go_to_the_first_heard():
    assert main_pattern({"common_patterns": ["vi-IV-I-V", "I-IV-V"], "roman_numerals": []}) == "vi-IV-I-V"
    assert main_pattern({"common_patterns": ["twelve-bar blues", "I-IV-V"],
                         "roman_numerals": ["I", "IV", "I", "V"]}) == "twelve-bar blues"
    assert main_pattern({"common_patterns": []}) is None


def test_pure_and_deterministic():
    song = copy.deepcopy(ROCK) | {"stem_stats": [{"stem": "drums", "loudness_lufs": -20.0, "active_ratio": 0.4}]}
    before = copy.deepcopy(song)
    assert describe(song) == describe(copy.deepcopy(song)) == describe(song)
    assert tags(song) == tags(song)
    assert song == before
