"""Fingerprints and matching on generated songs: re-encodes, gain, trims, fades, edits, speed
changes, and songs in the same key, tempo and style that must not match."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from songlake import synth
from songlake.udfs import fingerprint as fp
from songlake.udfs.audio import decode

SR = synth.SAMPLE_RATE


def _progression(seed: int, bars: int = 40) -> tuple[int, ...]:
    """A chord a bar that does not loop: the generator's songs repeat their progression, and a
    song that repeats every 8 s matches itself shifted by 8 s (so would a real one, chorus by chorus)."""
    return tuple(int(d) for d in np.random.default_rng(seed).choice([1, 2, 4, 5, 6], size=bars))


def _render(seed: int, tonic: str = "C") -> np.ndarray:
    spec = synth.SongSpec(tonic=tonic, degrees=_progression(seed), bars=40, seed=seed)
    return synth.render_song(spec).samples.mean(axis=0)


@pytest.fixture(scope="module")
def long_song() -> np.ndarray:
    """80 s of C major at 120 BPM, mono."""
    return _render(1)


@pytest.fixture(scope="module")
def printed(long_song) -> fp.Fingerprint:
    return fp.fingerprint(long_song, SR)


def _mp3(mono: np.ndarray, kbps: int) -> np.ndarray:
    audio = decode(synth.encode_mp3(np.stack([mono, mono]), kbps=kbps))
    return audio.mono_at(SR)


def test_fingerprint_has_about_eight_values_a_second(long_song, printed):
    assert printed.values.dtype == np.uint32
    assert printed.duration == pytest.approx(long_song.size / SR)
    unprinted = (printed.duration - printed.start) - len(printed.values) * fp.HOP
    assert 0 < unprinted < 4.0  # Chromaprint's last 2 s, and the song's quiet tail
    assert len(set(printed.values.tolist())) > len(printed.values) // 4  # not a constant


@pytest.mark.parametrize("kbps", [64, 128, 320])
def test_a_reencode_is_the_same_audio(long_song, printed, kbps):
    found = fp.match(printed, fp.fingerprint(_mp3(long_song, kbps), SR))
    assert found.kind == "same_audio"
    assert found.score > 0.8
    assert abs(found.offset) < 0.2


def test_gain_fade_and_trimmed_silence_are_the_same_audio(long_song, printed):
    faded = long_song.copy()
    faded[-8 * SR:] *= np.linspace(1, 0, 8 * SR, dtype=np.float32)
    padded = np.concatenate([np.zeros(3 * SR, np.float32), long_song])
    for variant, offset in ((long_song * 0.25, 0.0), (faded, 0.0), (padded, 3.0), (long_song[2 * SR:-2 * SR], -2.0)):
        found = fp.match(printed, fp.fingerprint(variant, SR))
        assert found.kind == "same_audio", found
        assert found.offset == pytest.approx(offset, abs=0.15)


def test_an_excerpt_and_an_intro_cut_are_edits_with_their_offset(long_song, printed):
    excerpt = fp.match(printed, fp.fingerprint(long_song[30 * SR:62 * SR], SR))
    assert excerpt.kind == "edit"
    assert excerpt.offset == pytest.approx(-30.0, abs=0.15)  # a's 30 s is b's 0 s
    assert 25.0 < excerpt.shared_seconds <= 33.0
    cut = fp.match(fp.fingerprint(long_song[20 * SR:], SR), printed)  # either order
    assert cut.kind == "edit" and cut.offset == pytest.approx(20.0, abs=0.15)


def test_a_radio_edit_shares_its_longest_piece(long_song, printed):
    radio = np.concatenate([long_song[:25 * SR], long_song[45 * SR:]])
    found = fp.match(printed, fp.fingerprint(radio, SR))
    assert found.kind == "edit"
    assert found.shared_seconds > 25.0
    assert found.offset == pytest.approx(-20.0, abs=0.15)  # the longer piece: a's 45 s is b's 25 s
    assert found.shared_seconds == pytest.approx(35.0, abs=3.0)


@pytest.mark.parametrize("speed", [0.97, 1.02])
def test_a_speed_change_is_near_and_only_match_near_finds_it(long_song, printed, speed):
    sped = fp.fingerprint(fp.at_speed(long_song, SR, speed), SR)
    assert not fp.match(printed, sped).found
    found = fp.match_near(long_song, SR, printed, sped)
    assert found.kind == "near"
    assert found.speed == pytest.approx(speed, abs=0.006)
    assert found.shared_seconds > 60


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_songs_in_the_same_key_tempo_and_style_do_not_match(long_song, printed, seed):
    other_print = fp.fingerprint(_render(seed), SR)
    assert not fp.match(printed, other_print).found
    assert not fp.match_near(long_song, SR, printed, other_print).found


def test_bad_input_names_the_likely_cause(long_song):
    with pytest.raises(ValueError, match="mix down"):
        fp.fingerprint(np.stack([long_song, long_song]), SR)
    with pytest.raises(ValueError, match="kHz"):
        fp.fingerprint(long_song, 44.1)
    with pytest.raises(ValueError, match="32768"):
        fp.fingerprint((long_song * 32767).astype(np.int16), SR)
    with pytest.raises(ValueError, match="finite"):
        fp.fingerprint(np.full(SR * 10, np.nan, np.float32), SR)


def test_silence_gives_an_empty_fingerprint_that_matches_nothing(printed):
    with pytest.warns(UserWarning, match="silence"):
        empty = fp.fingerprint(np.zeros(SR * 20, np.float32), SR)
    assert len(empty.values) == 0 and empty.duration == pytest.approx(20.0)
    assert fp.match(printed, empty) == fp.NO_MATCH
    assert fp.match(empty, empty) == fp.NO_MATCH


def test_a_missing_library_says_how_to_install_it(monkeypatch, long_song):
    monkeypatch.setitem(sys.modules, "chromaprint", None)  # what Python does when the import fails
    with pytest.raises(fp.FingerprintUnavailable, match="apt-get install libchromaprint1"):
        fp.fingerprint(long_song, SR)
