"""Accuracy of the analysis against the ground-truth corpus (songlake.corpus), scored with mir_eval.

    .venv/bin/python bench/accuracy.py [--size small|full|drumless] [--corpus build/corpus] [--seed 0]
                                       [--invariance 3] [--json OUT]

Runs the analysis on every corpus song through the public functions of the analysis contract
(beats.track_beats, rhythm.rhythm_profile, chords.recognize_chords, key.detect_key,
sections.segment, theory.harmonic_analysis), in the order jobs/analyze.py runs them, and the
genre two ways, as udfs/genre.py's docstring describes: 'genre (prior)' is prior_genre per song
(conventions alone, no training), 'genre (cross-validated)' is genre.evaluate over the corpus
with its true genres as tags (5 folds; only for 20 songs or more, so --size full). It prints:

1. for the band styles (songs with drums, songlake.corpus's 'small' and the first 42 of 'full'),
   a table of metric, score, goal and whether the goal is met (see _scores for the metrics);
   a function that does not exist yet shows 'not available', one that raises scores 0 on that
   song and is counted under 'errors';
2. the same metrics per style, with the share of songs whose every column is filled;
3. for the drumless styles (songlake.corpus's 'drumless', the last 12 of 'full'), the group
   'drumless (all)' against issue 14's goals, and each unfilled song with the reasons the
   analysis gave;
4. invariance on a few songs, each change judged against the analysis of the unchanged song
   (consistency, not accuracy): pitch-shifted by -2 and +3 semitones the key should move with it,
   time-stretched by 0.9 and 1.1 the tempo should scale by as much (±4 %), re-encoded as 128 kbps
   MP3 the key, tempo (±1 %) and chords should stay;
5. how long the analysis takes per song, per stage, against the contract's budget (CPU seconds
   of this process, so a busy machine does not inflate them; all threads count).

"Filled" is read from what the lake stores: jobs.analyze.analyze_audio runs on every song, and a
song is filled when its beats, bpm, chords, roman_numerals, key and sections are all
non-empty and its cadences were found (a list, which is empty where the progression has no
cadence, as in a minor-key loop: that is an answer, not a hole); "filled, or a reason" also counts a song whose every empty column has a reason in
the analysis's failures (naming the column or its stage), issue 14's "or a stated reason".
The band styles are scored as before, on the udfs called in the order analyze.py
calls them; the drumless styles are scored on analyze_audio's output itself, since that is
where the pipeline's answers for music without a clear pulse are decided (chords on harmonic
change when the beats are unsure).

The corpus is built (or found, cached) in --corpus; building 'small' takes ~15 s, 'drumless'
~30 s, 'full' ~2.5 min.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _scores as scores  # noqa: E402

from songlake.corpus import DRUMLESS_STYLES, SIZES, CorpusSong, build_corpus  # noqa: E402
from songlake.jobs.analyze import analyze_audio  # noqa: E402
from songlake.synth import PITCH_CLASSES, encode_mp3  # noqa: E402
from songlake.udfs.audio import decode  # noqa: E402

RATE = 44100
MIN_SONGS_FOR_GENRE_MODEL = 20  # below this the cross-validated genre model is not reported
# metric -> goal (None: reported, no goal). The order is the table's.
GOALS: dict[str, float | None] = {
    "tempo Acc1": 0.95, "tempo Acc2": None, "beat F": 0.95, "downbeat F": 0.85, "meter": 0.90,
    "key weighted": 0.95, "key exact": None,
    "chord root": None, "chord majmin": 0.85, "chord sevenths": None,
    "roman numeral": 0.80, "roman numeral, triads only": None, "roman (true chords+key)": None,
    "section boundary F@0.5s": None, "section boundary F@3s": 0.80, "section labels": None,
    "section pairwise F": None, "genre (prior)": None, "genre (cross-validated)": None,
}
# Issue 14's goals for the drumless styles, as a group.
DRUMLESS_GOALS: dict[str, float | None] = {"filled": None, "filled, or a reason": 1.0, "beat F": 0.80,
                                           "tempo Acc1": None, "chord majmin": 0.70,
                                           "chord sevenths": None, "roman numeral": 0.50, "key weighted": None}
# The columns a filled song has, in the lake's names (non-empty; cadences only not NULL, since
# no cadence is an answer), and the stage that fills each: a reason in analysis_failures names
# the column or its stage.
MAY_BE_EMPTY = {"cadences"}
FILLED_COLUMNS = {"beats": "beats", "bpm": "beats", "chords": "chords", "roman_numerals": "theory", "key": "key",
                  "sections": "sections", "cadences": "theory"}
# The stage each metric needs; a metric whose stage is missing reads 'not available'.
NEEDS = {"tempo Acc1": "beats", "tempo Acc2": "beats", "beat F": "beats", "downbeat F": "downbeats",
         "meter": "meter", "key weighted": "key", "key exact": "key", "chord root": "chords",
         "chord majmin": "chords", "chord sevenths": "chords", "roman numeral": "theory",
         "roman numeral, triads only": "theory", "roman (true chords+key)": "theory",
         "section boundary F@0.5s": "sections", "section boundary F@3s": "sections",
         "section labels": "sections", "section pairwise F": "sections", "genre (prior)": "genre",
         "genre (cross-validated)": "genre"}
# Seconds the contract allows each stage for a 3-minute song on one core.
BUDGET_PER_3_MIN = {"beats": 1.5, "rhythm": None, "chords": 1.5, "key": None, "sections": 0.8, "theory": 0.3,
                    "genre": 0.1}


@dataclass
class Span:
    """A chord or section span in the shape the udfs return, for feeding the truth to theory."""

    start: float
    end: float
    label: str


@dataclass
class Estimate:
    """What the analysis said about one song; None where a stage is missing or failed."""

    bpm: float | None = None
    beats: tuple = ()
    downbeats: tuple | None = None
    time_signature: str | None = None
    chords: tuple | None = None
    key: str | None = None
    sections: tuple | None = None
    romans: tuple | None = None
    genre: str | None = None
    genre_inputs: object | None = None  # genre.GenreInputs, for the cross-validated genre model
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class Stored:
    """What the lake stores for one song (jobs.analyze.analyze_audio), as an Estimate, with the
    filled columns' names that came out empty and the reasons the analysis gave ('name: reason')."""

    estimate: Estimate
    empty: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def explained(self) -> bool:
        """Every empty column has a reason naming it or its stage."""
        named = {reason.partition(":")[0].strip() for reason in self.reasons}
        return all(column in named or FILLED_COLUMNS[column] in named for column in self.empty)


def stored_analysis(mono: np.ndarray) -> Stored:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = analyze_audio(mono, RATE)
    except Exception as exc:  # analyze_audio catches its stages' errors; this would be its own bug
        return Stored(Estimate(), tuple(FILLED_COLUMNS), (f"analyze_audio: {type(exc).__name__}: {exc}",))
    v = out.values
    spans = lambda rows: tuple(Span(r["start"], r["end"], r["label"]) for r in rows) if rows else None  # noqa: E731
    est = Estimate(bpm=v.get("bpm"), beats=tuple(v.get("beats") or ()), downbeats=tuple(v.get("downbeats") or ()),
                   time_signature=v.get("time_signature"), chords=spans(v.get("chords")), key=v.get("key"),
                   sections=spans(v.get("sections")),
                   romans=tuple(v["roman_numerals"]) if v.get("roman_numerals") else None)
    empty = tuple(c for c in FILLED_COLUMNS if v.get(c) is None or (
        c not in MAY_BE_EMPTY and isinstance(v.get(c), (list, tuple, str)) and len(v.get(c)) == 0))
    return Stored(est, empty, tuple(getattr(out, "failed", ())))


class Analysis:
    """The public analysis functions that exist right now, found once."""

    def __init__(self):
        self.track_beats = _function("beats", "track_beats")
        self.rhythm_profile = _function("rhythm", "rhythm_profile")
        self.recognize_chords = _function("chords", "recognize_chords")
        self.detect_key = _function("key", "detect_key")
        self.segment = _function("sections", "segment")
        self.harmonic_analysis = _function("theory", "harmonic_analysis")
        self.genre = _function("genre", "prior_genre")
        self.genre_inputs = _function("genre", "GenreInputs")
        self.genre_evaluate = _function("genre", "evaluate")
        self.key_takes_chords = (self.detect_key is not None
                                 and "chords" in inspect.signature(self.detect_key).parameters)

    def available(self) -> set[str]:
        have = {name for name, fn in (("beats", self.track_beats), ("rhythm", self.rhythm_profile),
                                      ("chords", self.recognize_chords), ("key", self.detect_key),
                                      ("sections", self.segment), ("theory", self.harmonic_analysis),
                                      ("genre", self.genre)) if fn is not None}
        if "beats" in have:
            fields = _fields_of("beats", "Beats")
            have |= {n for n, f in (("downbeats", "downbeats"), ("meter", "time_signature")) if f in fields}
        return have

    def run(self, mono: np.ndarray, audio=None) -> Estimate:
        """The analysis of one song; the genre (which needs the decoded Audio) only when audio is given."""
        est = Estimate()

        def stage(name, fn, *args, **kwargs):
            if fn is None:
                return None
            # CPU time of this process, not wall time: the budgets are for one core, and other
            # programs sharing the machine must not make a stage look slow.
            started = time.process_time()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return fn(*args, **kwargs)
            except Exception as exc:  # a failing stage costs its metrics on this song, not the bench
                est.errors[name] = f"{type(exc).__name__}: {exc}"
                return None
            finally:
                est.seconds[name] = time.process_time() - started

        beats = stage("beats", self.track_beats, mono, RATE)
        rhythm = harmony = None
        if beats is not None:
            est.bpm, est.beats = beats.bpm, tuple(beats.beats)
            est.downbeats = tuple(getattr(beats, "downbeats", ()) or ())
            est.time_signature = getattr(beats, "time_signature", None)
            rhythm = stage("rhythm", self.rhythm_profile, mono, RATE, beats)
        downbeats = est.downbeats or ()
        chords = stage("chords", self.recognize_chords, mono, RATE, est.beats, downbeats) if est.beats else None
        est.chords = tuple(chords.spans) if chords is not None else None
        key = stage("key", self.detect_key, mono, RATE, **({"chords": chords} if self.key_takes_chords else {}))
        est.key = key.name if key is not None else None
        sections = stage("sections", self.segment, mono, RATE, est.beats, downbeats,
                         chords=est.chords) if est.beats else None
        est.sections = tuple(sections.spans) if sections is not None else None
        if est.chords is not None and est.key:
            harmony = stage("theory", self.harmonic_analysis, est.chords, est.key, est.beats, downbeats,
                            est.sections or ())
            est.romans = tuple(harmony.roman_numerals) if harmony is not None else None
        if self.genre is not None and audio is not None:
            # The embedding and the loudness come from the ingest stage (the ~1 s already spent).
            from songlake.udfs.embedding import embed
            from songlake.udfs.quality import assess

            vector = stage("embedding", lambda: embed(mono, RATE).vector)
            loudness = stage("quality", lambda: assess(audio).loudness_lufs)
            inputs = stage("genre", self.genre_inputs, embedding=vector, bpm=est.bpm,
                           mode=key.mode if key is not None else None, time_signature=est.time_signature,
                           syncopation_index=getattr(rhythm, "syncopation_index", None),
                           rhythmic_complexity=getattr(rhythm, "rhythmic_complexity", None),
                           loudness_lufs=loudness, chords=tuple(s.label for s in est.chords or ()) or None,
                           progression_complexity=getattr(harmony, "progression_complexity", None),
                           common_patterns=getattr(harmony, "common_patterns", None),
                           duration=len(mono) / RATE)
            if inputs is not None:
                spent = est.seconds["genre"]
                result = stage("genre", self.genre, inputs)
                est.seconds["genre"] += spent
                est.genre, est.genre_inputs = getattr(result, "primary_genre", None), inputs
        return est

    def romans_from_truth(self, song: CorpusSong) -> tuple | None:
        """The theory module's numerals for the true chords in the true key (theory scored alone)."""
        if self.harmonic_analysis is None:
            return None
        spans = tuple(Span(*c) for c in song.truth.chords)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return tuple(self.harmonic_analysis(spans, song.truth.key, song.truth.beats, song.truth.downbeats,
                                                    tuple(Span(*s) for s in song.truth.sections)).roman_numerals)
        except Exception:
            return None


def _function(module: str, name: str):
    try:
        return getattr(importlib.import_module(f"songlake.udfs.{module}"), name, None)
    except ImportError:
        return None


def _fields_of(module: str, cls: str) -> set[str]:
    kind = getattr(importlib.import_module(f"songlake.udfs.{module}"), cls, None)
    return set(getattr(kind, "__dataclass_fields__", {}))


def score_song(song: CorpusSong, est: Estimate, have: set[str], true_romans) -> dict[str, tuple[float, float]]:
    """metric -> (score, weight) for one song, for the metrics whose stage exists."""
    t = song.truth
    out: dict[str, tuple[float, float]] = {}
    if "beats" in have:
        acc1, acc2 = scores.tempo_accuracy(t.bpm, est.bpm)
        out.update({"tempo Acc1": (acc1, 1), "tempo Acc2": (acc2, 1), "beat F": (scores.beat_f(t.beats, est.beats), 1)})
    if "downbeats" in have:
        out["downbeat F"] = (scores.beat_f(t.downbeats, est.downbeats), 1)
    if "meter" in have:
        out["meter"] = (float(est.time_signature == t.time_signature), 1)
    if "key" in have:
        out["key weighted"] = (scores.key_weighted(t.key, est.key), 1)
        out["key exact"] = (float(est.key == t.key), 1)
    if "chords" in have:
        for level, (value, seconds) in scores.chord_wcsr(t.chords, est.chords, t.duration).items():
            out[f"chord {level}"] = (value, seconds)
    if "theory" in have:
        minor = t.key.endswith("minor")
        for metric, sevenths in (("roman numeral", True), ("roman numeral, triads only", False)):
            out[metric] = (scores.roman_accuracy(t.chords, t.romans, est.chords, est.romans, minor, sevenths),
                           t.duration)
        out["roman (true chords+key)"] = (scores.roman_accuracy(t.chords, t.romans, t.chords, true_romans, minor),
                                          t.duration)
    if "sections" in have:
        out["section boundary F@0.5s"] = (scores.boundary_f(t.sections, est.sections, t.duration, 0.5), 1)
        out["section boundary F@3s"] = (scores.boundary_f(t.sections, est.sections, t.duration, 3.0), 1)
        labels, pairwise = scores.section_labels(t.sections, est.sections, t.duration)
        out.update({"section labels": (labels, t.duration), "section pairwise F": (pairwise, 1)})
    if "genre" in have:
        out["genre (prior)"] = (float(est.genre == t.genre), 1)
    return out


def aggregate(rows: list[dict[str, tuple[float, float]]]) -> dict[str, float]:
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in rows:
        for metric, (value, weight) in row.items():
            totals[metric][0] += value * weight
            totals[metric][1] += weight
    return {m: (s / w if w else 0.0) for m, (s, w) in totals.items()}


def invariance(analysis: Analysis, songs: list[CorpusSong], have: set[str]) -> dict[str, float | str]:
    """Agreement rates of the analysis under pitch shift, time stretch and MP3 re-encoding."""
    import librosa

    checks: dict[str, list[float]] = defaultdict(list)
    for song in songs:
        audio = decode(song.audio_path.read_bytes())
        base = analysis.run(audio.mono)
        for k in (-2, 3):
            shifted = librosa.effects.pitch_shift(audio.mono, sr=RATE, n_steps=k).astype(np.float32)
            checks[f"pitch shift {k:+d}: key moves by {k:+d}"].append(
                float(base.key is not None and analysis.run(shifted).key == _transposed(base.key, k)))
        for rate in (0.9, 1.1):
            stretched = librosa.effects.time_stretch(audio.mono, rate=rate).astype(np.float32)
            acc1, _ = scores.tempo_accuracy(base.bpm * rate, analysis.run(stretched).bpm) if base.bpm else (0.0, 0.0)
            checks[f"time stretch x{rate}: bpm scales (±4 %)"].append(acc1)
        mp3 = analysis.run(decode(encode_mp3(audio.samples, RATE, 128)).mono)
        checks["mp3 128k: same key"].append(float(mp3.key == base.key))
        same_bpm = bool(base.bpm and mp3.bpm and abs(mp3.bpm / base.bpm - 1) <= 0.01)
        checks["mp3 128k: same bpm (±1 %)"].append(float(same_bpm))
        checks["mp3 128k: chord agreement"].append(scores.chord_agreement(base.chords, mp3.chords, song.truth.duration))
    needs = {"key": "key", "bpm": "beats", "chord": "chords"}
    out: dict[str, float | str] = {}
    for name, values in checks.items():
        need = next(stage for word, stage in needs.items() if word in name)
        out[name] = float(np.mean(values)) if need in have else "not available"
    return out


def _transposed(key: str, semitones: int) -> str:
    tonic, mode = key.split()
    return f"{PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + semitones) % 12]} {mode}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"), help="where the corpus is cached")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--invariance", type=int, default=3, help="songs for the invariance checks (0: skip)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    songs = build_corpus(args.corpus, args.size, args.seed)
    print(f"corpus: {len(songs)} songs ({args.size}, seed {args.seed}), ready in {time.perf_counter() - started:.1f} s")
    analysis = Analysis()
    have = analysis.available()
    print("available:", ", ".join(sorted(have)) or "nothing", "| missing:",
          ", ".join(sorted({"beats", "downbeats", "meter", "rhythm", "chords", "key", "sections", "theory",
                            "genre"} - have)) or "nothing")

    rows, per_song, timing, errors, genre_inputs = [], [], defaultdict(list), defaultdict(list), []
    unfilled: list[tuple[str, Stored]] = []
    for song in songs:
        audio = decode(song.audio_path.read_bytes())
        est = analysis.run(audio.mono, audio)
        stored = stored_analysis(audio.mono)
        drumless = song.truth.style in DRUMLESS_STYLES
        row = score_song(song, stored.estimate if drumless else est, have, analysis.romans_from_truth(song))
        row["filled"] = (float(not stored.empty), 1)
        row["filled, or a reason"] = (float(stored.explained), 1)
        if stored.empty:
            unfilled.append((song.name, stored))
        rows.append(row)
        genre_inputs.append(est.genre_inputs)
        total = sum(v for k, v in est.seconds.items() if k not in ("embedding", "quality"))
        timing["total"].append((total, song.truth.duration))
        for stage, seconds in est.seconds.items():
            timing[stage].append((seconds, song.truth.duration))
        for stage, message in est.errors.items():
            errors[stage].append(f"{song.name}: {message}")
        per_song.append({"name": song.name, "style": song.truth.style, "truth_key": song.truth.key,
                         "key": est.key, "truth_bpm": song.truth.bpm, "bpm": est.bpm,
                         "truth_meter": song.truth.time_signature, "meter": est.time_signature,
                         "genre": est.genre, "seconds": round(total, 3), "errors": est.errors,
                         "empty": list(stored.empty), "reasons": list(stored.reasons),
                         "scores": {m: round(v, 4) for m, (v, _) in row.items()}})
        shown = stored.estimate if drumless else est
        print(f"  {song.name:<34} {total:6.2f} s  key {shown.key} (true {song.truth.key})  bpm {shown.bpm} "
              f"(true {song.truth.bpm:g})" + (f"  EMPTY: {', '.join(stored.empty)}" if stored.empty else ""),
              flush=True)

    band = [i for i, s in enumerate(songs) if s.truth.style not in DRUMLESS_STYLES]
    voiced = [i for i, s in enumerate(songs) if s.truth.style in DRUMLESS_STYLES]
    overall = aggregate([rows[i] for i in band])  # the band styles' figures, comparable with earlier runs
    genre_inputs = [genre_inputs[i] for i in band]
    inputs = [e for e in genre_inputs if e is not None]
    if analysis.genre_evaluate is not None and len(inputs) >= MIN_SONGS_FOR_GENRE_MODEL:
        # The genre model learns from tags: trained and scored across folds of the corpus itself.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tags = [songs[i].truth.genre for i, e in zip(band, genre_inputs) if e is not None]
            overall["genre (cross-validated)"] = analysis.genre_evaluate(inputs, tags, folds=5, seed=0)["accuracy"]
    if band:
        print(f"\nband styles ({len(band)} songs)")
        _print_table(overall, have, errors)
    styles = sorted({s.truth.style for s in songs}, key=lambda st: (st in DRUMLESS_STYLES, st))
    by_style = {style: aggregate([r for r, s in zip(rows, songs) if s.truth.style == style]) for style in styles}
    print()
    _print_styles(by_style, styles, have)
    drumless_names = {songs[i].name for i in voiced}
    _print_unfilled([(n, st) for n, st in unfilled if n not in drumless_names])
    group = {}
    if voiced:
        group = aggregate([rows[i] for i in voiced])
        print(f"\ndrumless (all): {len(voiced)} songs, scored on what analyze_audio stores")
        _print_group(group, have)
        _print_unfilled([(n, st) for n, st in unfilled if n in drumless_names])

    report_invariance = {}
    if args.invariance > 0:
        picked = _pick(songs, args.invariance)
        print(f"\ninvariance on {', '.join(s.name for s in picked)}")
        report_invariance = invariance(analysis, picked, have)
        for name, value in report_invariance.items():
            print(f"  {name:<42} {value if isinstance(value, str) else f'{value:.3f}'}")

    print()
    speed = _print_timing(timing)
    report = {"size": args.size, "seed": args.seed, "available": sorted(have),
              "metrics": {m: {"score": overall.get(m), "goal": g,
                              "met": None if g is None or m not in overall else overall[m] >= g}
                          for m, g in GOALS.items()},
              "per_style": by_style, "invariance": report_invariance, "timing": speed,
              "drumless": {m: {"score": group.get(m), "goal": g,
                               "met": None if g is None or m not in group else group[m] >= g}
                           for m, g in DRUMLESS_GOALS.items()} if voiced else None,
              "errors": dict(errors), "songs": per_song}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.json}")
    return report


def _pick(songs: list[CorpusSong], count: int) -> list[CorpusSong]:
    """Up to count songs of different styles, those with drums first (tempo needs a pulse)."""
    picked, seen = [], set()
    for song in sorted(songs, key=lambda s: not s.truth.has_drums):
        if song.truth.style not in seen and len(picked) < count:
            picked.append(song)
            seen.add(song.truth.style)
    return picked


def _print_table(overall: dict[str, float], have: set[str], errors: dict[str, list[str]]) -> None:
    print(f"{'metric':<28} {'score':>7} {'goal':>7}  met?")
    for metric, goal in GOALS.items():
        if NEEDS[metric] not in have:
            print(f"{metric:<28} {'not available':>15}")
            continue
        if metric not in overall:
            print(f"{metric:<28} {'not available':>15}  (needs {MIN_SONGS_FOR_GENRE_MODEL}+ songs)"
                  if "cross" in metric else f"{metric:<28} {'not available':>15}")
            continue
        value = overall[metric]
        met = "" if goal is None else ("yes" if value >= goal else "NO")
        print(f"{metric:<28} {value:7.3f} {'' if goal is None else f'>={goal:.2f}':>7}  {met}")
    for stage, messages in errors.items():
        print(f"errors in {stage}: {len(messages)} songs, e.g. {messages[0][:160]}")


def _print_unfilled(unfilled: list[tuple[str, Stored]]) -> None:
    for name, stored in unfilled:
        reasons = "; ".join(stored.reasons) or "none"
        print(f"  unfilled {name}: {', '.join(stored.empty)} empty; "
              + (reasons if stored.explained else f"NO REASON for some; reasons given: {reasons}"))


def _print_group(group: dict[str, float], have: set[str]) -> None:
    print(f"{'metric':<28} {'score':>7} {'goal':>7}  met?")
    for metric, goal in DRUMLESS_GOALS.items():
        if not metric.startswith("filled") and NEEDS[metric] not in have:
            print(f"{metric:<28} {'not available':>15}")
            continue
        value = group.get(metric, 0.0)
        met = "" if goal is None else ("yes" if value >= goal - 1e-9 else "NO")
        print(f"{metric:<28} {value:7.3f} {'' if goal is None else f'>={goal:.2f}':>7}  {met}")


def _print_styles(by_style: dict[str, dict[str, float]], styles: list[str], have: set[str]) -> None:
    columns = [m for m in ("tempo Acc1", "beat F", "downbeat F", "meter", "key weighted", "chord majmin",
                           "chord sevenths", "roman numeral", "section boundary F@3s", "genre (prior)")
               if NEEDS[m] in have] + ["filled"]
    short = {"tempo Acc1": "tempo", "beat F": "beatF", "downbeat F": "dbeatF", "meter": "meter",
             "key weighted": "key", "chord majmin": "majmin", "chord sevenths": "sev7", "roman numeral": "roman",
             "section boundary F@3s": "sectF3", "genre (prior)": "genre", "filled": "filled"}
    print(f"{'style':<15}" + "".join(f"{short[c]:>8}" for c in columns))
    for style in styles:
        print(f"{style:<15}" + "".join(f"{by_style[style].get(c, 0.0):8.3f}" for c in columns))


def _print_timing(timing: dict[str, list[tuple[float, float]]]) -> dict:
    """Mean seconds per song and per 3 minutes of audio, per stage, against the budget."""
    out = {}
    print(f"{'stage':<10} {'s/song':>8} {'s per 3 min':>12} {'budget':>7} {'x real time':>12}")
    for stage in ("beats", "rhythm", "chords", "key", "sections", "theory", "genre", "total", "embedding", "quality"):
        if stage not in timing:
            continue
        seconds = sum(s for s, _ in timing[stage])
        audio = sum(d for _, d in timing[stage])
        per_song = seconds / len(timing[stage])
        per_3min = seconds / audio * 180
        budget = 5.0 if stage == "total" else BUDGET_PER_3_MIN.get(stage)
        speed = audio / seconds if seconds else float("inf")
        out[stage] = {"seconds_per_song": per_song, "seconds_per_3_min": per_3min, "times_real_time": speed}
        print(f"{stage:<10} {per_song:8.3f} {per_3min:12.3f} {'' if budget is None else f'{budget:.1f}':>7} "
              f"{speed:11.1f}x")
    print("(budgets from the contract, seconds for a 3-minute song on one core; rhythm shares the beats budget, "
          "key the chords budget; total excludes decode, quality and embedding, which ingest already runs)")
    return out


if __name__ == "__main__":
    main()
