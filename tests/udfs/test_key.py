import numpy as np
import pytest

from songlake import synth
from songlake.synth import SAMPLE_RATE as SR
from songlake.udfs.key import detect_key, key_from


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
    # The same pitch content, A C E G, the notes of both keys' tonic chords, read as C major or
    # A minor according to which chords frame it.
    notes = np.zeros(12)
    notes[[9, 0, 4, 7]] = 0.25
    in_c = [(0, 2, "C:maj"), (2, 4, "F:maj"), (4, 6, "G:7"), (6, 8, "C:maj")]
    in_a = [(0, 2, "A:min"), (2, 4, "D:min"), (4, 6, "E:7"), (6, 8, "A:min")]
    assert key_from(notes, in_c).name == "C major"
    assert key_from(notes, in_a).name == "A minor"
    alone = key_from(notes)
    assert alone.confidence < 0.7  # the profiles alone barely choose: they say so
    assert key_from(notes, in_c).confidence > 0.9 and key_from(notes, in_a).confidence > 0.9


def test_the_songs_chords_are_one_reading_beside_the_rough_pass():
    # A held A C E G chord: the rough pass over the audio hears A minor (seventh), a chord list
    # that says C major is one reading against it, so the key stays A minor, less sure.
    t = np.arange(SR * 8) / SR
    pad = sum(np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * t) * 0.05 for m in (57, 60, 64, 67, 69, 72, 76))
    pad = pad.astype(np.float32)
    in_c = [(0, 2, "C:maj"), (2, 4, "F:maj"), (4, 6, "G:7"), (6, 8, "C:maj")]
    heard = detect_key(pad)
    framed = detect_key(pad, chords=in_c)
    assert heard.name == framed.name == "A minor"
    assert framed.confidence < heard.confidence - 0.2


def test_a_misheard_reading_of_the_chords_is_outvoted():
    # The song's chord list hears every tonic chord of a D major song as minor (a misread third):
    # the rough pass and the profiles keep the key.
    song = synth.render_song(synth.SongSpec(tonic="D", mode="major", degrees=(1, 4, 5, 1), bars=8, drums=False))
    misheard = [(a, b, label.replace(":maj", ":min") if label.startswith("D:") else label)
                for a, b, label in song.chords]
    assert detect_key(song.samples.mean(axis=0), chords=misheard).name == "D major"


def _high_voiced_cadence(tonic: int, minor: bool) -> np.ndarray:
    """I-IV-V-I (i-iv-V-i) with the triads voiced high (MIDI 76-99, where game and film scores put
    their melodies) over a low root: nothing in the middle register."""
    t = np.arange(int(1.5 * SR)) / SR
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)

    def tone(midi: float, gain: float) -> np.ndarray:
        f = 440.0 * 2 ** ((midi - 69) / 12)
        return gain * fade * sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 6) if f * h < SR / 2)

    third = 3 if minor else 4
    out = []
    for root, shape in ((0, (0, third, 7)), (5, (0, third, 7)), (7, (0, 4, 7)), (0, (0, third, 7))):
        pcs = [(tonic + root + i) % 12 for i in shape]
        chord = sum(tone(76 + (pc - 76) % 12 + 12 * octave, 0.08) for pc in pcs for octave in (0, 1))
        out.append(chord + tone(36 + (tonic + root) % 12, 0.2))
    return np.tile(np.concatenate(out), 3).astype(np.float32)


@pytest.mark.parametrize("minor", [False, True])
def test_a_high_voiced_song_keeps_its_mode_under_transposition(minor):
    # The key's treble chroma weighs the melody register evenly up to the top of the transcription,
    # so transposing a high-voiced song does not fade its thirds in and out (issue 14, real recordings)
    for tonic in range(12):  # the former weights heard C minor as C major
        key = detect_key(_high_voiced_cadence(tonic, minor))
        assert key.name == f"{synth.PITCH_CLASSES[tonic]} {'minor' if minor else 'major'}", tonic
