"""Sections: the song's form as labelled spans that cover it from 0 to its end.

Conventions: times in seconds; the spans are contiguous, the first starts at 0.0 and the last ends
at the end of the audio (len(mono) / sample_rate); every other boundary lies on a bar line (a
downbeat, or a bar inferred from the median bar length where the downbeats leave a gap; with no
downbeats at all, a bar inferred from the chords, see below). Labels
are intro, verse, pre-chorus, chorus, bridge, solo, outro; neighbours may share a label (verse,
verse). Input: 44.1 kHz mono, beat and downbeat times in seconds; optionally chord spans (Harte
labels) and the vocal stem of the same mix.

Boundaries (``_bars``, ``_structure``):

1. Bars are the unit. Per bar, from one STFT at 22.05 kHz (186 ms windows, 93 ms hop): harmony,
   the chroma of each quarter of the bar in order (55 Hz-5 kHz, plus the bass range 50-250 Hz at
   half weight), centred so that similarity is a correlation; timbre, MFCC 1-13 of the bar's mean
   spectrum; loudness in dB. Given chords, their templates are added to the chroma. Bars after
   the last beat (a chord ringing out) join the last bar, and so does a last bar 9 dB quieter
   than the four before it, so no section starts in a song's ring-out.
2. A bar-by-bar self-similarity matrix of harmony, read along its diagonals: the mean similarity
   of the 4 (and 8) bars after an edge with those after every other edge, and the same before.
   Four novelty curves over bar edges: *repetition*, at how many lags a repeated stretch starts or
   ends (forward and backward paths disagree: the lag analysis of structure features with
   one-sided windows); *change*, the next 4 bars repeat neither the 4 nor the 8 before them (a
   phrase repeated inside a section is continuation); *timbre*, distance of mean MFCC over the 2
   and 4 bars either side; *energy*, the loudness step over 2 and 4 bars (6 dB counts fully).
   Weights 0.1, 0.2, 0.2 and 0.4. Given chords and the key, a fifth: *cadence*, at the bar line
   after each cadence's arrival chord (udfs.theory's cadences, read without sections), 0.2 x
   its strength x how final its kind is (perfect authentic 1, imperfect authentic 0.6, half
   0.5, deceptive 0.3; plagal none: IV-I is the commonest turn of a band song's loop, and it put
   a false boundary into a short rock song). Phrases close on cadences, and in music without
   drums, where loudness and timbre hardly move, they are most of what marks a section's end: on
   the drumless corpus boundary F@3 s rises from 0.44 to 0.50 (seed 0) and from 0.42 to 0.53
   (seed 1, held out), the band songs unchanged (0.98); a larger weight helps drumless music
   more but starts to cut the band songs' loops at their cadences.
3. A dynamic programme over bar edges chooses the boundaries that maximise the novelty at them,
   less 0.3 a boundary, plus a prior on section lengths: 8 bars best, then 4 and 16, 12, 6, 2,
   odd lengths, and longer sections less the longer they are; never 1 bar. So where the evidence
   is weak, boundaries fall on 4- and 8-bar phrases.

Labels (``_form``), in this order:

- Segments are grouped by repetition: how well their harmony (and bass line) matches bar by bar,
  the shorter slid over the longer in 4-bar steps, less differences of timbre and loudness, in an
  average-linkage clustering. A group of two or more segments is repeated material; a group of
  only the first and last segment is intro/outro material.
- A single repeated group in the song proper that opens it, after at most an intro (12 bars or
  less, each segment 4 dB quieter than the group or under half as long as its first segment):
  a verse that returns, with no chorus (AABA, a jazz head). Intro material that comes back (a
  group holding a first segment of at most 8 bars, 4 dB below the loudest) does not count.
- Otherwise chorus: the repeated group scoring best on loudness (1 point per 6 dB below the
  loudest segment), repeats (0.25 each) and place (+0.3 when it holds the last segment before the
  outro, -0.3 when it opens the song proper). With nothing repeated, the loudest segment.
- verse: the repeated group that most often leads into a chorus (directly or through one shorter
  segment); failing that, a repeated group that first appears before the chorus.
- pre-chorus: a repeated group of segments of at most 8 bars sitting between a verse and a
  chorus (at least half of them), or one segment there shorter than the verse before it.
- intro: the first segment, unless it is chorus material or a full (8+ bars), loud verse; the
  intro goes on through unplaced segments before a repeated verse that are 2 dB quieter than it.
- outro: the last segment, unless it is verse or chorus material; also when it repeats the intro.
- The rest, in order: before the first chorus (or verse), verse (pre-chorus when shorter than
  the verse it follows and leading into the chorus); later, verse when it nearly repeats a verse
  and leads into a chorus; otherwise bridge, or solo when it is instrumental: the vocal stem is
  silent there while the song has vocals, or, with no stem, it is within 1.5 dB of the chorus's
  loudness (the verse's when there is no chorus) and no darker than the median segment (a lead
  instrument on top, where a bridge usually drops back).
- With a vocal stem, a verse, chorus or bridge after the first chorus (not the last segment)
  without vocals is a solo over that section's chords.

Without downbeats (music without drums or a steady pulse) the bars come from the harmony
instead (``_bars.free_downbeats``): a bar is the median chord length, held between FREE_BAR
seconds, and each bar line moves to a chord change within a quarter of a bar of it; without
chords, bars of the shorter FREE_BAR length. Everything else is as above.

Degenerate input returns what it can with a warning, never an error: silence gives no spans; a song shorter than two bars, one that only repeats a 1-, 2- or 4-bar loop, or one with
no boundary at all gives one verse span.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from songlake.udfs import _bars, _form, _structure
from songlake.udfs._checks import is_silent, require_mono

ANALYSIS_RATE = 44100
LABELS = ("intro", "verse", "pre-chorus", "chorus", "bridge", "solo", "outro")


@dataclass(frozen=True)
class SectionSpan:
    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Sections:
    spans: tuple[SectionSpan, ...]

    @property
    def boundaries(self) -> tuple[float, ...]:
        """Start times of the spans and the end of the last one."""
        return tuple(s.start for s in self.spans) + ((self.spans[-1].end,) if self.spans else ())


def segment(mono: np.ndarray, sample_rate: int, beats: Sequence[float], downbeats: Sequence[float],
            chords=None, vocals: np.ndarray | None = None, key: str | None = None) -> Sections:
    """Labelled sections of a song: mono audio at 44.1 kHz, beats and downbeats in seconds.

    ``chords``: a ``Chords`` result or spans with start, end and a Harte label (objects or tuples).
    ``vocals``: the vocal stem of the same mix (mono, same rate and length), for vocal presence.
    ``key``: the song's key ('C# minor'); with chords, cadences are evidence for boundaries.
    """
    require_mono(mono, sample_rate, ANALYSIS_RATE, "segment")
    duration = len(mono) / sample_rate
    beats = _times(beats, "beats", duration)
    downbeats = _times(downbeats, "downbeats", duration)
    chord_spans = _chord_spans(chords, duration)
    if vocals is not None:
        vocals = _stem(vocals, mono)
    if is_silent(mono):
        warnings.warn("no sections: the audio is silent", stacklevel=2)
        return Sections(())
    cadences = _cadences(chord_spans, key, beats, downbeats)
    if len(downbeats) == 0:  # music without a steady pulse: bars from the harmonic rhythm
        downbeats, beats = _bars.free_downbeats(duration, chord_spans), np.zeros(0)

    edges = _bars.bar_grid(downbeats, duration, beats)
    if len(edges) < 3:
        warnings.warn("one section: the song is shorter than two bars", stacklevel=2)
        return Sections((SectionSpan(0.0, duration, "verse"),))
    spectra = _bars.spectra(mono, sample_rate, vocals)
    features = _bars.bar_features(spectra, edges, chord_spans)
    if _structure.rings_out(features):
        edges = np.delete(edges, -2)
        features = _bars.bar_features(spectra, edges, chord_spans)
    period = _structure.loop_period(features)
    if period is not None:
        warnings.warn(f"one section: the song repeats one {period}-bar loop throughout", stacklevel=2)
        return Sections((SectionSpan(0.0, duration, "verse"),))
    nov = _structure.combined_novelty(_structure.novelty(features)) + _structure.cadence_novelty(edges, cadences)
    bounds = _structure.choose_boundaries(nov)
    if len(bounds) == 2:
        warnings.warn("one section: no section boundaries found (the song does not change)", stacklevel=2)
        return Sections((SectionSpan(0.0, duration, "verse"),))
    segments = [_form.Segment(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    labels = _form.label_segments(features, segments)
    times = [round(float(edges[s.start]), 3) for s in segments] + [duration]  # the end exact, not rounded
    return Sections(tuple(SectionSpan(a, b, label) for a, b, label in zip(times[:-1], times[1:], labels)))


def _cadences(chord_spans, key: str | None, beats: np.ndarray, downbeats: np.ndarray) -> tuple:
    """The song's cadences (udfs.theory, without sections: those are what they help find), or
    none without chords and a key."""
    if not chord_spans or not key:
        return ()
    from songlake.udfs import theory

    return theory.cadences(chord_spans, key, beats, downbeats)


# --- input checks --------------------------------------------------------------------------------


def _times(values, what: str, duration: float) -> np.ndarray:
    try:
        times = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"segment needs {what} as a sequence of times in seconds, "
                         f"got {type(values).__name__}") from None
    if times.ndim != 1:
        raise ValueError(f"segment needs {what} as a flat sequence of times in seconds, got shape {times.shape}")
    if len(times) == 0:
        return times
    if not np.all(np.isfinite(times)) or times.min() < 0:
        raise ValueError(f"{what} must be finite, non-negative times in seconds")
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"{what} must be strictly increasing (unsorted or repeated times?)")
    if times[-1] > duration + 1.0:
        raise ValueError(f"{what} run to {times[-1]:g} but the audio lasts {duration:.1f} s: "
                         f"times in samples or milliseconds, not seconds?")
    return times


def _chord_spans(chords, duration: float) -> list[tuple[float, float, str]] | None:
    if chords is None:
        return None
    spans = getattr(chords, "spans", chords)
    out = []
    for span in spans:
        if hasattr(span, "label"):
            start, end, label = span.start, span.end, span.label
        else:
            try:
                start, end, label = span
            except (TypeError, ValueError):
                raise ValueError(f"chord spans need (start, end, label), got {span!r}") from None
        start, end = float(start), float(end)
        if not end >= start >= 0:
            raise ValueError(f"chord span ({start:g}, {end:g}, {label!r}) does not run forward from a time >= 0")
        if end == start:
            continue
        if end > duration + 1.0:
            raise ValueError(f"chord span ends at {end:g} but the audio lasts {duration:.1f} s: "
                             f"times in samples or milliseconds, not seconds?")
        out.append((start, end, str(label)))
    out.sort()
    return out or None


def _stem(vocals, mono: np.ndarray) -> np.ndarray:
    vocals = np.asarray(vocals)
    if vocals.ndim != 1:
        raise ValueError(f"the vocal stem must be mono shaped (frames,), got shape {vocals.shape} (mix down first)")
    if abs(len(vocals) - len(mono)) > 0.01 * len(mono) + ANALYSIS_RATE // 10:
        raise ValueError(f"the vocal stem has {len(vocals)} samples but the mix {len(mono)}: "
                         f"a stem of another song, or at another sample rate?")
    if len(vocals) < len(mono):
        return np.pad(vocals, (0, len(mono) - len(vocals)))
    return vocals[: len(mono)]
