"""The ground-truth corpus: songs written as MIDI, rendered with FluidSynth, whose answers we know.

    songs = build_corpus(Path("build/corpus"), "small")   # 8 songs of about a minute
    songs[0].truth.key, songs[0].truth.chords[:3]

Each song comes from a plan (style, key, tempo, meter, instruments, sections of bars holding
chords as roman numerals, see ``_corpus_styles``) that ``_corpus_arrange`` plays as a band would:
drums on channel 10 in the style's pattern, a bass line on the chord roots, a comping instrument,
a pad in the big sections and a melody, all humanised (onset jitter of a few milliseconds,
velocity variation). FluidSynth renders the MIDI with the FluidR3 General MIDI soundfont.

Conventions of the truth (those of the analysis contract): times in seconds from the start of
the WAV; keys 'A minor'; Harte chord labels ('C:maj', 'D:min7', 'G:7', 'F:maj7', 'B:dim',
'D:sus4', 'N' for the silent lead-in); roman numerals in music21's figures, aligned 1:1 with the
chords (see ``_corpus_styles`` for the spelling); time signatures '4/4', '3/4', '6/8', where 6/8
counts dotted quarters as beats (2 per bar) and bpm counts those beats; section labels intro,
verse, pre-chorus, chorus, bridge, solo, outro, covering the whole song. The band styles' tempo
is constant.
Each song opens with 0.2-1 s of silence and ends with its last chord ringing for 2 s, which the
last chord and the last section include. Beats and downbeats are the written grid; the notes
played around it are humanised, the truth is not.

Drumless songs (``_corpus_drumless`` writes their plans, ``_corpus_voices`` their notes) are
written in four voices led from chord to chord: chorales on church organ and on choir aahs,
string quartets, solo piano with rubato, ambient pads, and a ballad whose free piano intro
leads to a steady body with drums. Their harmony has inversions, 4-3 suspensions, passing and
neighbour notes, applied dominants and phrases closed by cadences; the truth's chords stay root
position Harte labels and roman numerals as above, non-chord tones are not part of them. Where
the plan has a tempo curve (the rubato piano, the ballad's intro) the beats are the times the
notes were written at, so they follow the curve, and ``bpm`` is the median tempo.

Sizes: 'tiny' (one ~12 s song, for tests), 'small' (8 songs of about 60 s, one per band style),
'drumless' (12 songs of 60-120 s, two per drumless style), 'full' (the 42 band songs of
60-150 s, then the 12 drumless ones, which keep their own names so both sizes share renders).
The corpus is deterministic for a seed and cached: each song is
``<name>.mid``, ``<name>.wav`` (44.1 kHz stereo 16-bit) and ``<name>.json`` (the truth) in the
folder, and a song whose MIDI is unchanged is never rendered again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from songlake import _corpus_styles
from songlake._corpus_drumless import DRUMLESS, plan_drumless
from songlake._corpus_styles import METERS, STYLES, SongPlan

SIZES = (*_corpus_styles.SIZES, "drumless")
DRUMLESS_STYLES = tuple(DRUMLESS)  # the styles written in voices, drumless but for the free ballad's body

SAMPLE_RATE = 44100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
FLUIDSYNTH = "fluidsynth"
GAIN = 0.6  # FluidSynth's master gain; the WAV is then scaled to PEAK
PEAK = 0.89  # -1 dBFS
VERSION = 1  # rises when the generator changes in a way that alters songs


class CorpusError(RuntimeError):
    """The corpus cannot be built (a missing tool, a failed render). The message says how to fix it."""


@dataclass(frozen=True)
class Truth:
    """What a corpus song really is. Lists of spans are (start, end, label) in seconds."""

    key: str
    bpm: float
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    time_signature: str
    chords: tuple[tuple[float, float, str], ...]
    romans: tuple[str, ...]
    sections: tuple[tuple[float, float, str], ...]
    genre: str
    has_drums: bool
    style: str
    duration: float

    @property
    def beats_per_bar(self) -> int:
        return METERS[self.time_signature][0]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Truth":
        spans = lambda rows: tuple((float(s), float(e), str(label)) for s, e, label in rows)  # noqa: E731
        return cls(key=data["key"], bpm=float(data["bpm"]), beats=tuple(data["beats"]),
                   downbeats=tuple(data["downbeats"]), time_signature=data["time_signature"],
                   chords=spans(data["chords"]), romans=tuple(data["romans"]), sections=spans(data["sections"]),
                   genre=data["genre"], has_drums=bool(data["has_drums"]), style=data["style"],
                   duration=float(data["duration"]))


@dataclass(frozen=True)
class CorpusSong:
    name: str
    audio_path: Path  # 44.1 kHz stereo 16-bit WAV
    midi_path: Path
    truth: Truth


def plan_corpus(size: str, seed: int = 0) -> list[SongPlan]:
    """The song plans of a corpus size: the band styles' (``_corpus_styles``), the drumless ones
    (``_corpus_drumless``), or for 'full' the band styles' followed by the drumless ones."""
    if size == "drumless":
        return plan_drumless(seed)
    plans = _corpus_styles.plan_corpus(size, seed)  # raises on an unknown size
    return plans + plan_drumless(seed) if size == "full" else plans


def compose(plan: SongPlan):
    """A plan's MIDI (pretty_midi.PrettyMIDI) and its Truth; no rendering."""
    from songlake._corpus_arrange import arrange
    from songlake._corpus_voices import arrange_drumless

    drumless = plan.style in DRUMLESS
    midi, timeline = arrange_drumless(plan) if drumless else arrange(plan)
    genre = DRUMLESS[plan.style].genre if drumless else STYLES[plan.style].genre
    truth = Truth(key=plan.key, bpm=plan.bpm, beats=tuple(timeline.beats), downbeats=tuple(timeline.downbeats),
                  time_signature=plan.meter, chords=tuple(timeline.chords), romans=tuple(timeline.romans),
                  sections=tuple(timeline.sections), genre=genre, has_drums=plan.drums,
                  style=plan.style, duration=timeline.duration)
    return midi, truth


def build_corpus(folder: Path, size: str = "small", seed: int = 0) -> list[CorpusSong]:
    """The corpus of a size in folder, rendering only the songs not already there."""
    return [build_song(folder, plan) for plan in plan_corpus(size, seed)]


def build_song(folder: Path, plan: SongPlan) -> CorpusSong:
    """One planned song in folder (a corpus plan, or one made from it with dataclasses.replace:
    other sections, another tempo), rendered unless the same notes are already there."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _require_pretty_midi()
    midi, truth = compose(plan)
    buffer = io.BytesIO()
    midi.write(buffer)
    midi_bytes = buffer.getvalue()
    fingerprint = hashlib.sha256(f"{VERSION}:".encode() + midi_bytes).hexdigest()
    song = CorpusSong(plan.name, folder / f"{plan.name}.wav", folder / f"{plan.name}.mid", truth)
    truth_path = folder / f"{plan.name}.json"
    record = {"fingerprint": fingerprint, "truth": truth.to_json()}
    stored = _stored(truth_path)
    if not (stored.get("fingerprint") == fingerprint and song.audio_path.exists() and song.midi_path.exists()):
        _atomic_write(song.midi_path, midi_bytes)
        _atomic_write(song.audio_path, _render(song.midi_path, truth.duration))
    if stored != json.loads(json.dumps(record)):  # new audio, or the same notes with a corrected truth
        _atomic_write(truth_path, json.dumps(record).encode())
    return song


def load_song(json_path: Path) -> CorpusSong:
    """A song already in a corpus folder, from its truth file."""
    data = json.loads(Path(json_path).read_text())
    name = Path(json_path).stem
    return CorpusSong(name, Path(json_path).with_suffix(".wav"), Path(json_path).with_suffix(".mid"),
                      Truth.from_json(data["truth"]))


def _stored(truth_path: Path) -> dict:
    """The record a previous build left, or {} where there is none (or it is unreadable)."""
    try:
        return json.loads(truth_path.read_text())
    except (OSError, ValueError):
        return {}


def _render(midi_path: Path, duration: float) -> bytes:
    """FluidSynth's rendering of a MIDI file, cut or padded to duration and scaled to PEAK, as WAV bytes."""
    from songlake.synth import encode_wav
    from songlake.udfs.audio import decode

    _require_fluidsynth()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "render.wav"
        command = [FLUIDSYNTH, "-ni", "-q", "-F", str(out), "-r", str(SAMPLE_RATE), "-g", str(GAIN),
                   "-o", "synth.cpu-cores=1", str(SOUNDFONT), str(midi_path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not out.exists():
            raise CorpusError(f"fluidsynth failed on {midi_path.name}: {result.stderr.strip()[-500:]}")
        audio = decode(out.read_bytes())
    if audio.sample_rate != SAMPLE_RATE or audio.channels != 2:
        raise CorpusError(f"fluidsynth wrote {audio.channels} channels at {audio.sample_rate} Hz, "
                          f"expected stereo at {SAMPLE_RATE} Hz")
    frames = int(round(duration * SAMPLE_RATE))
    samples = np.zeros((2, frames), np.float32)
    take = min(frames, audio.samples.shape[1])
    samples[:, :take] = audio.samples[:, :take]
    fade = min(take, SAMPLE_RATE // 2)  # the tail fades out over its last half second
    samples[:, frames - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    peak = float(np.abs(samples).max())
    if peak > 0:
        samples *= PEAK / peak
    return encode_wav(samples, SAMPLE_RATE)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write through a temporary file, so a reader never sees half a file and concurrent builders agree."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _require_fluidsynth() -> None:
    if shutil.which(FLUIDSYNTH) is None:
        raise CorpusError("fluidsynth is not installed: install the Debian packages fluidsynth and "
                          "fluid-soundfont-gm (apt-get install fluidsynth fluid-soundfont-gm)")
    if not SOUNDFONT.exists():
        raise CorpusError(f"the General MIDI soundfont {SOUNDFONT} is missing: install the Debian package "
                          "fluid-soundfont-gm (apt-get install fluid-soundfont-gm)")


def _require_pretty_midi() -> None:
    try:
        import pretty_midi  # noqa: F401
    except ImportError:
        raise CorpusError("the corpus needs pretty_midi: pip install 'songlake[test]'") from None
