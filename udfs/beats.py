"""Beats, downbeats, meter and tempo of mono audio.

Conventions: times in seconds from the start of the audio; ``bpm`` counts beats per minute;
``downbeats`` are the beats that start a bar (a subset of ``beats``); ``time_signature`` is one of
'4/4', '3/4', '2/4', '6/8', '12/8'. In compound meters (6/8, 12/8) the beat is the dotted quarter,
so a 6/8 bar has two beats and ``bpm`` counts dotted quarters. Swung eighths do not make a meter
compound: a swung 4/4 stays '4/4'. Input is mono float audio at 44.1 kHz.

Method, in three steps (numpy/scipy only, no trained network):

1. Cues (``_rhythm_onsets``): one STFT at 22.05 kHz, 11.6 ms hop; SuperFlux (Böck & Widmer
   2013) over ~36 log-spaced bands, each band weighed by its mean flux, gives the onset envelope;
   the bands below 160 Hz give a low-frequency envelope (kick drum, bass); the bins folded onto
   pitch classes give a coarse chromagram. A second, longer window on the same hops gives a pitch
   chromagram whose short-scale novelty is the harmonic-change envelope: chorales, quartets and
   pads move by changing notes, not by bursts of energy.
2. Pulse (``_rhythm_pulse``): each cue's salience is how far its comb-filtered autocorrelation
   rises above the sampling noise of an autocorrelation (about 3 for noise, 4-20 for soft music,
   50 for drums); the cues are summed with weights that grow steeply with salience, so drums lead
   where there are drums and harmonic change where there are none. Then the period maximising the
   comb-filtered autocorrelation of that sum (Davies & Plumbley 2007) under a log-normal tempo
   prior, and the pulse times by Ellis's (2007) dynamic programme, whose gaps may stretch and
   shrink from beat to beat, so the beats follow a humanised or rubato tempo (±10 %) without
   losing the period.
3. Meter (``_rhythm_meter``): the pulse may be the beat, a subdivision or a multiple of it. Each
   pulse is cut into 12 cells, and every hypothesis (beat = 1/3 .. 3 pulses, beat divided in 2 or
   3, 2/3/4 beats a bar, phases) is scored on that grid: template fit of the accent ranks (the
   subdivision pattern: thirds of the beat make 6/8, halves 3/4 or 4/4), accent strength on the
   beats, whether chords change on the beats rather than between them, harmonic change at the bar
   starts (one-way ANOVA over bar positions and the downbeat's contrast), and priors on the tempo
   and the meter. The tempo prior pulls towards 110 BPM only where the pulse is unclear; on a clear
   pulse it is flat over the range people tap (50-160 BPM), so the level a song gets does not tip
   when it is played a little faster or slower. Downbeats are where harmonic change, kick and bass onsets stand out.

Confidences, 0..1, None only when there are no beats. Both are logistic functions of five
measures of the evidence (``_evidence``): how far the pulse stands above noise, how much the
tempo drifts (rubato) and wobbles from beat to beat, how far the chosen metrical level beats the
next-best level (tempo octave), and the share of beats that sit on a peak of the cues. They were
fit on rendered songs with known beats (the band corpus, the drumless corpus at seeds 0, 2, 3,
scratch renders
of chorales, quartets, pads and rubato piano, click tracks, and pieces with chords or clicks at
random times, which have no pulse), and are calibrated against truth, not rescaled scores:

- ``tempo_confidence`` estimates the share of the song whose true local tempo lies within 4 %
  of ``bpm``. On the rendered songs: band songs with drums median 0.99; chorales, quartets and
  pads 0.85-0.95; rubato piano (±10 %, where a single bpm describes the song only in part)
  0.05-0.8; pieces with no pulse at all, where any beats are a guess, 0.03-0.37.
- ``beat_confidence`` estimates the beats' F-measure (mir_eval, ±70 ms). Band songs 0.91-1.00;
  chorales, quartets 0.85-0.97; rubato piano 0.6-0.98; no pulse 0.05-0.5.

To filter, ``tempo_confidence >= 0.5`` keeps songs whose bpm describes most of the song;
``beat_confidence >= 0.7`` keeps beat grids fit to align or cut audio on. Where the evidence
misleads both can be too high: a pad whose filter sweeps at its own rate, or a quartet tracked
at half its tempo where the two levels nearly tie. They measure the clarity of the pulse found,
not whether a listener would tap the same one.

Beats before the first onset and after the music ends are dropped; the final bar is completed,
since a song's last chord is usually held through it. Degenerate input (silence, a steady tone,
too few onsets for a pulse, noise in which no onset stands out) returns an empty result with a
warning, never an error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from songlake.udfs._checks import is_silent, require_mono

ANALYSIS_RATE = 44100
MIN_ONSETS = 4  # fewer onset peaks than this cannot define a pulse
PULSE_SALIENCE = 4.0  # a pulse this far above an autocorrelation's noise is music, even with soft onsets
HARMONIC_LAG = 3  # frames (35 ms) from a soft note's start to the peak of harmonic change (drumless corpus, seed 0)
ON_BEAT = 6  # frames (70 ms, mir_eval's window): an onset this close to a beat supports it
# Logistic models of the confidences (bias, weight per evidence); see the module docstring.
TEMPO_MODEL = (0.884, dict(clarity=0.639, drift=-101, jitter=-25.6, margin=0.65, support=-0.313))
BEAT_MODEL = (-0.739, dict(clarity=0.838, drift=-49.5, jitter=-57.1, margin=0.554, support=1.94))
LATENCY = 0.018  # seconds from a note's start to its onset peak (rendered corpus; clicks peak 9 ms sooner)


@dataclass(frozen=True)
class Beats:
    bpm: float | None
    beats: tuple[float, ...]
    downbeats: tuple[float, ...] = ()
    time_signature: str | None = None
    beats_per_bar: int | None = None
    tempo_confidence: float | None = None
    beat_confidence: float | None = None


EMPTY = Beats(None, ())


def track_beats(mono: np.ndarray, sample_rate: int = ANALYSIS_RATE) -> Beats:
    """Beat and downbeat times, meter and tempo of mono audio at 44.1 kHz."""
    require_mono(mono, sample_rate, ANALYSIS_RATE, "track_beats")
    if is_silent(mono):
        warnings.warn("no beats: the audio is silent", stacklevel=2)
        return EMPTY
    from songlake.udfs import _rhythm_meter, _rhythm_onsets, _rhythm_pulse

    env = _rhythm_onsets.envelopes(mono, sample_rate)
    fps = env.fps
    active = _rhythm_onsets.onset_frames(env.flux)
    if len(active) < MIN_ONSETS:
        warnings.warn(f"no beats: only {len(active)} onsets, too few for a pulse", stacklevel=2)
        return EMPTY
    # harmonic change peaks later than the notes start, where the new notes have swelled
    harmonic = np.roll(_rhythm_onsets.harmonic_novelty(env.pitch_chroma, fps), -HARMONIC_LAG)
    cues = [_rhythm_pulse.normalised(env.onset, fps), _rhythm_pulse.normalised(harmonic, fps)]
    saliences = [_rhythm_pulse.salience(c, fps) for c in cues]
    if not _rhythm_onsets.stands_out(env.flux) and max(saliences) < PULSE_SALIENCE:
        warnings.warn("no beats: no onsets stand out from the rest (noise?) and no harmonic change "
                      "repeats at a steady pulse", stacklevel=2)
        return EMPTY
    o = _rhythm_pulse.combine(cues, saliences)
    period = _rhythm_pulse.pulse_period(_rhythm_pulse.autocorrelation(o, fps), fps)
    pulses = _rhythm_pulse.track(o, period)
    # the meter weighs accents on the same mixture of cues, unsmoothed
    accents = _rhythm_pulse.combine([env.onset / max(float(env.onset.std()), 1e-9),
                                     harmonic / max(float(harmonic.std()), 1e-9)], saliences)
    meter = (_rhythm_meter.analyse(pulses, accents, env.low, env.chroma, fps, harmonic, saliences[0])
             if len(pulses) >= 4 else None)
    if meter is None:
        warnings.warn("no beats: no steady pulse found", stacklevel=2)
        return EMPTY
    beat_frames = _trim(meter.beats, meter.downbeats, active, len(env.onset))
    if len(beat_frames) < 2:
        warnings.warn("no beats: no steady pulse found", stacklevel=2)
        return EMPTY
    beats = beat_frames / fps + LATENCY
    tempo_confidence, beat_confidence = _confidences(_evidence(o, fps, beat_frames, meter.margin))
    downbeats = meter.downbeats[np.isin(meter.downbeats, beat_frames)] / fps + LATENCY
    return Beats(
        bpm=round(_tempo(beats), 2),
        beats=tuple(round(float(t), 4) for t in beats),
        downbeats=tuple(round(float(t), 4) for t in downbeats),
        time_signature=meter.time_signature,
        beats_per_bar=meter.beats_per_bar,
        tempo_confidence=tempo_confidence,
        beat_confidence=beat_confidence,
    )


def _evidence(o: np.ndarray, fps: float, beat_frames: np.ndarray, margin: float) -> dict[str, float]:
    """What the confidences are read from: how clear the pulse is, how steady the beats, how
    sure the choice of metrical level, how many beats sit on an onset."""
    from songlake.udfs import _rhythm_pulse

    log_ibi = np.log(np.diff(beat_frames))
    smooth = np.convolve(np.pad(log_ibi, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    peaks = (o == maximum_filter1d(o, 2 * ON_BEAT + 1)) & (o > 1.0)
    near = maximum_filter1d(peaks.astype(np.uint8), 2 * ON_BEAT + 1).astype(bool)
    return dict(
        clarity=float(np.log1p(max(_rhythm_pulse.salience(o, fps), 0.0))),
        drift=float(np.std(smooth)),  # slow tempo change (rubato), in log units
        jitter=float(np.median(np.abs(log_ibi - smooth))),  # beat-to-beat wobble
        margin=float(np.clip(margin, 0.0, 5.0)),
        support=float(near[np.clip(np.round(beat_frames).astype(int), 0, len(o) - 1)].mean()),
    )


def _confidences(evidence: dict[str, float]) -> tuple[float, float]:
    """tempo_confidence and beat_confidence: logistic functions of the evidence (fit on the corpus)."""
    out = []
    for bias, weights in (TEMPO_MODEL, BEAT_MODEL):
        z = bias + sum(weights[k] * evidence[k] for k in weights)
        out.append(round(float(1.0 / (1.0 + np.exp(-z))), 3))
    return out[0], out[1]


def _trim(beats: np.ndarray, downbeats: np.ndarray, active: np.ndarray, n_frames: int) -> np.ndarray:
    """Beats from the first onset to the end of the bar that holds the last onset (frames)."""
    step = float(np.median(np.diff(beats)))
    tolerance = min(0.25 * step, 6.0)  # a quarter beat, at most 70 ms
    first, last = active[0] - tolerance, active[-1] + tolerance
    bar_starts = downbeats[downbeats <= last]
    end = last
    if len(bar_starts) and len(downbeats) > 1:
        end = max(last, bar_starts[-1] + float(np.median(np.diff(downbeats))) - 0.5 * step)
    return beats[(beats >= first) & (beats <= min(end, n_frames - 1))]


def _tempo(beats: np.ndarray) -> float:
    """Tempo from the beat intervals near their median (skipped or doubled beats ignored)."""
    intervals = np.diff(beats)
    median = float(np.median(intervals))
    steady = intervals[np.abs(intervals - median) < 0.1 * median]
    return 60.0 / float(steady.mean() if len(steady) else median)
