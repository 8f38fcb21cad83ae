"""Generated music with a known answer, for the demo, the tests and the benchmarks.

Everything is synthesised with numpy so that it runs on a fresh machine with nothing downloaded:
drums (kick, snare, hi-hat), a bass line on the chord roots, sustained chords with rich harmonics
and a simple melody. ``render_song`` returns the audio together with the truth it was built from
(key, tempo, beat times, chords), so analysis can be scored against it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 44100
PITCH_CLASSES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]
MINOR_SCALE = [0, 2, 3, 5, 7, 8, 10]
# Roman numeral (1-based scale degree) -> triad quality, per mode.
_MAJOR_TRIADS = {1: "maj", 2: "min", 3: "min", 4: "maj", 5: "maj", 6: "min", 7: "dim"}
_MINOR_TRIADS = {1: "min", 2: "dim", 3: "maj", 4: "min", 5: "maj", 6: "maj", 7: "maj"}
_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6)}


@dataclass(frozen=True)
class SongSpec:
    """What to render. ``degrees`` is the chord progression as scale degrees, one chord a bar."""

    tonic: str = "C"
    mode: str = "major"
    bpm: float = 120.0
    degrees: tuple[int, ...] = (1, 5, 6, 4)
    bars: int = 16
    beats_per_bar: int = 4
    drums: bool = True
    seed: int = 0
    subdivisions: int = 2  # hi-hats per beat; 3 makes a compound meter (6/8: beats_per_bar=2, bpm in dotted quarters)
    jitter: float = 0.0  # humanised timing: standard deviation of each note's onset, in seconds (the truth stays on the grid)


@dataclass
class Rendered:
    samples: np.ndarray  # (2, frames) float32
    sample_rate: int
    key: str  # 'C major'
    bpm: float
    beats: np.ndarray
    downbeats: np.ndarray
    chords: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, Harte label)


def midi_to_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _envelope(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n, np.float32)
    a = min(n, max(1, int(attack * sr)))
    r = min(n - a, max(1, int(release * sr)))
    env[:a] = np.linspace(0, 1, a, dtype=np.float32)
    if r > 0:
        env[n - r :] = np.linspace(1, 0, r, dtype=np.float32)
    return env


def _harmonic_tone(freq: float, n: int, sr: int, harmonics: int, rolloff: float = 1.0) -> np.ndarray:
    t = np.arange(n, dtype=np.float32) / sr
    out = np.zeros(n, np.float32)
    for h in range(1, harmonics + 1):
        if freq * h >= sr / 2 * 0.95:
            break
        out += np.sin(2 * np.pi * freq * h * t, dtype=np.float32) / h**rolloff
    return out


def _kick(sr: int) -> np.ndarray:
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    freq = 50 + 90 * np.exp(-t * 30)
    return (np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t * 12)).astype(np.float32)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.18 * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n) * np.exp(-t * 25)
    tone = np.sin(2 * np.pi * 190 * t) * np.exp(-t * 30)
    return (0.5 * noise + 0.6 * tone).astype(np.float32)


def _hat(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.05 * sr)
    noise = np.diff(rng.standard_normal(n + 1))  # first difference: energy up to Nyquist
    return (noise * np.exp(-np.arange(n) / sr * 80) * 0.35).astype(np.float32)


def _add(buffer: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(buffer), start + len(sound))
    if start < end:
        buffer[start:end] += sound[: end - start]


def chord_of(tonic: str, mode: str, degree: int) -> tuple[int, str]:
    """(root pitch class, triad quality) of a scale degree in a key."""
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    triads = _MAJOR_TRIADS if mode == "major" else _MINOR_TRIADS
    root = (PITCH_CLASSES.index(tonic) + scale[degree - 1]) % 12
    return root, triads[degree]


def render_song(spec: SongSpec, sample_rate: int = SAMPLE_RATE) -> Rendered:
    """Render a song from its spec; the truth comes back with the audio."""
    rng = np.random.default_rng(spec.seed)
    timing = np.random.default_rng([spec.seed, 1])  # its own stream: jitter leaves the notes unchanged

    def at(seconds: float, offset: float = 0.0) -> int:
        """The sample where a note placed at seconds (+ offset) starts, humanised by spec.jitter."""
        late = int(round(timing.normal(0, spec.jitter) * sample_rate)) if spec.jitter else 0
        return max(0, int(seconds * sample_rate) + int(offset * sample_rate) + late)

    beat = 60.0 / spec.bpm
    bar = beat * spec.beats_per_bar
    total = int((spec.bars * bar + 1.0) * sample_rate)
    drums = np.zeros(total, np.float32)
    bass = np.zeros(total, np.float32)
    chords = np.zeros(total, np.float32)
    lead = np.zeros(total, np.float32)
    kick, snare, hat = _kick(sample_rate), _snare(sample_rate, rng), _hat(sample_rate, rng)
    chord_spans = []
    tonic_pc = PITCH_CLASSES.index(spec.tonic)
    scale = MAJOR_SCALE if spec.mode == "major" else MINOR_SCALE
    for b in range(spec.bars):
        degree = spec.degrees[b % len(spec.degrees)]
        root, quality = chord_of(spec.tonic, spec.mode, degree)
        start_s = b * bar
        chord_spans.append((start_s, start_s + bar, f"{PITCH_CLASSES[root]}:{quality}"))
        start = int(start_s * sample_rate)
        n = int(bar * sample_rate)
        for interval in _INTERVALS[quality]:
            note = 57 + (root + interval - 57) % 12  # voice the triad between A3 and G#4
            tone = _harmonic_tone(midi_to_hz(note), n, sample_rate, harmonics=24, rolloff=1.2)
            _add(chords, tone * _envelope(n, sample_rate, 0.02, 0.1) * 0.12, start)
        for k in range(spec.beats_per_bar):
            onset = at(start_s + k * beat)
            m = int(beat * sample_rate * 0.9)
            bass_note = 36 + (root - 36) % 12
            _add(bass, _harmonic_tone(midi_to_hz(bass_note), m, sample_rate, 8) * _envelope(m, sample_rate, 0.005, 0.05) * 0.25, onset)
            if spec.drums:
                if k % 2 == 0:
                    _add(drums, kick * 0.8, at(start_s + k * beat))
                else:
                    _add(drums, snare * 0.5, at(start_s + k * beat))
                for j in range(spec.subdivisions):
                    _add(drums, hat, at(start_s + k * beat, j * beat / spec.subdivisions))
            # melody: chord tones and scale steps, one note a beat
            step = scale[(degree - 1 + int(rng.integers(0, 5))) % 7]
            mel = 72 + (tonic_pc + step) % 12
            _add(lead, _harmonic_tone(midi_to_hz(mel), m, sample_rate, 6, 1.5) * _envelope(m, sample_rate, 0.01, 0.08) * 0.08,
                 at(start_s + k * beat))
    left = drums + bass + 1.1 * chords + 0.7 * lead
    right = drums + bass + 0.9 * chords + 1.3 * lead
    mix = np.stack([left, right])
    mix *= 0.5 / max(1e-9, float(np.abs(mix).max()))
    beats = np.arange(spec.bars * spec.beats_per_bar) * beat
    return Rendered(
        samples=mix.astype(np.float32),
        sample_rate=sample_rate,
        key=f"{spec.tonic} {spec.mode}",
        bpm=spec.bpm,
        beats=beats,
        downbeats=beats[:: spec.beats_per_bar],
        chords=chord_spans,
    )


def click_track(bpm: float, seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono clicks (short decaying 1 kHz bursts) at a steady tempo, starting at t=0."""
    out = np.zeros(int(seconds * sample_rate), np.float32)
    n = int(0.02 * sample_rate)
    t = np.arange(n) / sample_rate
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 300)).astype(np.float32) * 0.8
    for onset in np.arange(0, seconds, 60.0 / bpm):
        _add(out, click, int(onset * sample_rate))
    return out


def broadband(seconds: float, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Stereo pink-ish noise with music-like dynamics and energy up to Nyquist."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    white = rng.standard_normal((2, n)).astype(np.float32)
    spectrum = np.fft.rfft(white, axis=1)
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))[None, :] / np.sqrt(1000.0)
    noise = np.fft.irfft(spectrum, n=n, axis=1).astype(np.float32)
    pulse = 0.6 + 0.4 * np.sin(2 * np.pi * 2 * np.arange(n) / sample_rate) ** 2
    noise *= pulse.astype(np.float32)
    return noise * (0.3 / float(np.abs(noise).max()))


def pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples (channels, frames) as interleaved 16-bit PCM (frames, channels)."""
    if samples.ndim == 1:
        samples = samples[None, :]
    return np.clip(np.round(samples.T * 32768.0), -32768, 32767).astype("<i2")


def encode_mp3(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, kbps: int = 320) -> bytes:
    """MP3 bytes (LAME via lameenc) of float samples shaped (channels, frames) or (frames,)."""
    import lameenc

    if samples.ndim == 1:
        samples = samples[None, :]
    pcm = pcm16(samples)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(samples.shape[0])
    encoder.set_quality(2)
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


def encode_wav(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV bytes, written with the standard library's wave module."""
    import wave

    if samples.ndim == 1:
        samples = samples[None, :]
    pcm = pcm16(samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[0])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def encode(samples: np.ndarray, fmt: str, *, sample_rate: int = SAMPLE_RATE, kbps: int = 320) -> bytes:
    """Bytes of samples (channels, frames) in a container: mp3, wav, flac, ogg, m4a or aiff."""
    if samples.ndim == 1:
        samples = samples[None, :]
    if fmt == "mp3":
        return encode_mp3(samples, sample_rate, kbps)
    if fmt == "wav":
        return encode_wav(samples, sample_rate)
    if fmt in ("flac", "ogg", "aiff"):
        import soundfile  # librosa's dependency; libsndfile ships FLAC and Vorbis encoders

        buffer = io.BytesIO()
        soundfile.write(buffer, pcm16(samples), sample_rate, format=fmt.upper(), subtype="VORBIS" if fmt == "ogg" else "PCM_16")
        return buffer.getvalue()
    if fmt == "m4a":
        import av

        buffer = io.BytesIO()
        layout = "stereo" if samples.shape[0] == 2 else "mono"
        with av.open(buffer, mode="w", format="ipod") as container:
            stream = container.add_stream("aac", rate=sample_rate, layout=layout)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32), format="fltp", layout=layout)
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        return buffer.getvalue()
    raise ValueError(f"unknown format {fmt!r}: mp3, wav, flac, ogg, m4a or aiff")


def tag_id3(path, id3_version: int = 4, v1: bool = False, **fields) -> None:
    """Write ID3 tags to an MP3 file: title, artist, album, year, genre, track, copyright.

    With id3_version=3 the year goes in TYER (ID3v2.3), else TDRC (v2.4); v1=True also writes
    an ID3v1 tag at the end of the file."""
    from mutagen.id3 import ID3, TALB, TCON, TCOP, TDRC, TIT2, TPE1, TRCK, TYER

    frames = {"title": TIT2, "artist": TPE1, "album": TALB, "genre": TCON, "track": TRCK,
              "copyright": TCOP, "year": TYER if id3_version == 3 else TDRC}
    tags = ID3()
    for name, value in fields.items():
        tags.add(frames[name](encoding=3, text=str(value)))
    tags.save(path, v1=2 if v1 else 0, v2_version=id3_version)
