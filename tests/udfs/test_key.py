import numpy as np
import pytest

from songlake import synth
from songlake.synth import SAMPLE_RATE as SR
from songlake.udfs.key import detect_key


@pytest.mark.parametrize("tonic", ["C", "D", "F#", "Bb"])
def test_major_cadence(tonic):
    song = synth.render_song(synth.SongSpec(tonic=tonic, mode="major", degrees=(1, 4, 5, 1), bars=8, drums=False))
    key = detect_key(song.samples.mean(axis=0))
    assert key.name == f"{tonic} major"
    assert 0.5 < key.confidence <= 1.0


def test_minor_cadence():
    song = synth.render_song(synth.SongSpec(tonic="A", mode="minor", degrees=(1, 4, 5, 1), bars=8))
    assert detect_key(song.samples.mean(axis=0)).name == "A minor"


def test_bad_input_names_the_cause():
    with pytest.raises(ValueError, match="resample"):
        detect_key(np.zeros(16000, np.float32), sample_rate=16000)
    with pytest.raises(ValueError, match="mono"):
        detect_key(np.zeros((2, SR), np.float32))
    tone = np.sin(2 * np.pi * 440 * np.arange(SR * 2) / SR).astype(np.float32)
    with pytest.raises(ValueError, match="unparseable chord label"):
        detect_key(tone, chords=[(0.0, 2.0, "H:maj")])


def test_silence_gives_no_key_with_a_warning():
    with pytest.warns(UserWarning, match="silent"):
        key = detect_key(np.zeros(SR * 3, np.float32))
    assert key.name is None and key.confidence == 0.0


def test_minor_key_with_its_relative_majors_chords():
    # i III VII i VI iv V i: C, G and F major sound as long as A minor, yet the song is in A minor
    from songlake.udfs.chords import recognize_chords

    spec = synth.SongSpec(tonic="A", mode="minor", degrees=(1, 3, 7, 1, 6, 4, 5, 1), bars=8, bpm=100, seed=3)
    song = synth.render_song(spec)
    mono = song.samples.mean(axis=0)
    chords = recognize_chords(mono, SR, tuple(song.beats), tuple(song.downbeats))
    assert detect_key(mono, chords=chords).name == "A minor"
    assert detect_key(mono).name == "A minor"  # a rough chord pass stands in when no chords are given
    assert detect_key(mono, chords=song.chords).name == "A minor"  # spans as (start, end, label)


@pytest.mark.parametrize("semitones", [-3, 1, 5])
def test_pitch_shift_moves_the_key(semitones):
    import librosa

    song = synth.render_song(synth.SongSpec(tonic="E", mode="minor", degrees=(1, 4, 5, 1), bars=6, drums=False))
    mono = song.samples.mean(axis=0)
    shifted = librosa.effects.pitch_shift(mono, sr=SR, n_steps=semitones).astype(np.float32)
    before, after = detect_key(mono), detect_key(shifted)
    assert before.name == "E minor"
    assert after.mode == "minor"
    assert (synth.PITCH_CLASSES.index(after.tonic) - synth.PITCH_CLASSES.index(before.tonic)) % 12 == semitones % 12


def test_chords_decide_between_relative_keys():
    # The same pitch content read as C major or A minor according to which chords frame it.
    notes = np.zeros(SR * 8, np.float32)
    t = np.arange(len(notes)) / SR
    for midi in (57, 60, 64, 67, 69, 72, 76):  # A C E G: the notes of both keys' tonic chords
        notes += np.sin(2 * np.pi * 440 * 2 ** ((midi - 69) / 12) * t).astype(np.float32) * 0.05
    in_c = [(0, 2, "C:maj"), (2, 4, "F:maj"), (4, 6, "G:7"), (6, 8, "C:maj")]
    in_a = [(0, 2, "A:min"), (2, 4, "D:min"), (4, 6, "E:7"), (6, 8, "A:min")]
    assert detect_key(notes, chords=in_c).name == "C major"
    assert detect_key(notes, chords=in_a).name == "A minor"
