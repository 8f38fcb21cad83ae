"""Key and tempo under pitch shift and time stretch, on real recordings.

    .venv/bin/python bench/invariance.py [--cache build/real] [--seconds 60] [--all] [--method auto|rubberband|librosa]
                                         [--shifts 2,-2] [--stretches 1.1]

The recordings are the ten scored tracks of bench/real_music.py (fetched from Debian's packages on
first use; `--all` adds the extras). The first `--seconds` of each (mixed to mono, 44.1 kHz) are
analysed as the pipeline does (jobs.analyze.analyze_audio: beats, chords on those beats, key with
the chords as evidence, ...), then again after three transformations:

- pitch shift by +2 and -2 semitones: the key must move by the same number of semitones and keep
  its mode;
- time stretch to 1.1 times the tempo: the bpm must be 1.1 times the original's within 4 %.

Those are issue 14's goals (at least 9 of 10 each). ``--shifts`` and ``--stretches`` choose other
transformations, to check a change on copies it was not tuned on (e.g. ``--shifts 1,-1,3,-3
--stretches 0.9,1.05``).

Two methods (``--method``). Rubber Band (the command line, R3 "finer" engine, which keeps
transients sharp and formants in place; ``bench/real_music.py --rubberband`` fetches it from
Debian) is used where it is found (``auto``, the default). librosa.effects (a phase vocoder, then
soxr resampling for the pitch shift) smears attacks into a blur, as no real tempo change does,
which penalises onset-based beat tracking more than the music would. The method is printed.
Prints one row per recording and the counts.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_music  # noqa: E402

from songlake.jobs.analyze import analyze_audio  # noqa: E402
from songlake.udfs.key import PITCH_CLASSES  # noqa: E402

RATE = 44100
SHIFTS = (2, -2)
STRETCHES = (1.1,)
BPM_TOLERANCE = 0.04


def load(path: Path, seconds: float) -> np.ndarray:
    info = sf.info(str(path))
    audio, rate = sf.read(str(path), frames=int(seconds * info.samplerate), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    return librosa.resample(mono, orig_sr=rate, target_sr=RATE) if rate != RATE else mono


class Transform:
    """Pitch shift and time stretch by Rubber Band when given its command, else librosa.effects."""

    def __init__(self, rubberband: tuple[list[str], dict] | None):
        self.rubberband = rubberband
        self.name = "rubberband (R3, finer)" if rubberband else "librosa.effects (phase vocoder)"

    def shift(self, mono: np.ndarray, semitones: float) -> np.ndarray:
        if self.rubberband is None:
            return librosa.effects.pitch_shift(mono, sr=RATE, n_steps=semitones)
        return self._run(mono, ["--pitch", str(semitones)])

    def stretch(self, mono: np.ndarray, tempo: float) -> np.ndarray:
        if self.rubberband is None:
            return librosa.effects.time_stretch(mono, rate=tempo)
        return self._run(mono, ["--tempo", str(tempo)])

    def _run(self, mono: np.ndarray, args: list[str]) -> np.ndarray:
        command, env = self.rubberband
        with tempfile.TemporaryDirectory() as tmp:
            source, target = f"{tmp}/in.wav", f"{tmp}/out.wav"
            sf.write(source, mono, RATE, subtype="FLOAT")
            subprocess.run([*command, "-3", "-q", *args, source, target], env=env, check=True, capture_output=True)
            out, _ = sf.read(target, dtype="float32")
        return out


def analyse(mono: np.ndarray) -> dict:
    values = analyze_audio(np.ascontiguousarray(mono, dtype=np.float32), RATE).values
    return {k: values.get(k) for k in ("key", "key_confidence", "bpm")}


def key_moved(before: str | None, after: str | None, semitones: int) -> bool:
    if not before or not after:
        return False
    (t0, m0), (t1, m1) = before.split(), after.split()
    return m0 == m1 and (PITCH_CLASSES.index(t1) - PITCH_CLASSES.index(t0)) % 12 == semitones % 12


def bpm_followed(before: float | None, after: float | None, stretch: float) -> bool:
    return bool(before and after) and abs(after / (before * stretch) - 1) <= BPM_TOLERANCE


def numbers(text: str, kind: type) -> tuple:
    return tuple(kind(x) for x in text.split(",") if x.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=real_music.DEFAULT_CACHE)
    parser.add_argument("--seconds", type=float, default=60.0, help="how much of each recording, from its start")
    parser.add_argument("--all", action="store_true", help="the extra recordings too")
    parser.add_argument("--method", default="auto", choices=("auto", "rubberband", "librosa"),
                        help="how to shift and stretch (auto: rubberband where found)")
    parser.add_argument("--shifts", default=",".join(map(str, SHIFTS)), help="semitones, comma-separated")
    parser.add_argument("--stretches", default=",".join(map(str, STRETCHES)), help="tempo factors, comma-separated")
    args = parser.parse_args()
    shifts, stretches = numbers(args.shifts, int), numbers(args.stretches, float)
    try:
        manifest = real_music.ensure(args.cache)
    except real_music.FetchError as exc:
        sys.exit(f"invariance: no real recordings: {exc}")
    tool = real_music.rubberband(args.cache) if args.method != "librosa" else None
    if args.method == "rubberband" and tool is None:
        sys.exit("invariance: no rubberband: run `bench/real_music.py --rubberband` (or install rubberband-cli)")
    transform = Transform(tool)
    print(f"shift and stretch: {transform.name}")
    chosen = [m for m in manifest if m["scored"] or args.all]

    started = time.perf_counter()
    rows = []
    print(f"{'recording':24s} {'key':9s} conf  " + "".join(f" {s:+d}{'':10s}" for s in shifts)
          + "    bpm" + "".join(f"  x{r:<5g}" for r in stretches))
    for m in chosen:
        mono = load(args.cache / m["file"], args.seconds)
        base = analyse(mono)
        shifted = {s: analyse(transform.shift(mono, s)) for s in shifts}
        stretched = {r: analyse(transform.stretch(mono, r)) for r in stretches}
        row = {"name": m["name"], "key": {s: key_moved(base["key"], shifted[s]["key"], s) for s in shifts},
               "bpm": {r: bpm_followed(base["bpm"], stretched[r]["bpm"], r) for r in stretches}}
        rows.append(row)
        keys = "".join(f" {('ok ' if row['key'][s] else 'NO ') + str(shifted[s]['key'] or '-'):13s}" for s in shifts)
        bpms = "".join(f" {stretched[r]['bpm'] or math.nan:6.1f} {'ok' if row['bpm'][r] else 'NO'}" for r in stretches)
        print(f"{m['name'][:24]:24s} {str(base['key'] or '-'):9s} {base['key_confidence'] or 0:.2f} {keys} "
              f"{base['bpm'] or math.nan:6.1f}{bpms}", flush=True)

    n = len(rows)
    print()
    for s in shifts:
        print(f"key follows {s:+d} semitones      {sum(r['key'][s] for r in rows)} of {n}")
    if len(shifts) > 1:
        print(f"key follows every shift        {sum(all(r['key'].values()) for r in rows)} of {n}")
    for r in stretches:
        print(f"bpm follows x{r:g} within {BPM_TOLERANCE:.0%}      {sum(row['bpm'][r] for row in rows)} of {n}")
    print(f"({time.perf_counter() - started:.0f} s, first {args.seconds:g} s of each recording)")


if __name__ == "__main__":
    main()
