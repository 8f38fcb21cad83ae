"""The genre prior: documented musical conventions as a table of soft scores, no learning.

Each rule says "songs of GENRE usually have DESCRIPTOR in RANGE". A rule's agreement is +1 inside
the range, falls linearly to -1 at ``soft`` units outside it, and is 0 when the descriptor is
unknown (so a missing field is no evidence either way). Rules marked ``bonus`` only add: a named
12-bar blues is strong evidence for blues, its absence says little. A genre's score is the
weighted mean agreement of its rules times ``STRENGTH``; 'other' has the fixed score
``OTHER_SCORE``, so it wins when no convention fits. A softmax turns scores into probabilities.
Weights are relative within a genre (the mean is taken over all of a genre's rules, present or
not), so no genre wins by having more rules.

Descriptors (one value per song, NaN when unknown):

==============  ==================================================================================
bpm             tempo, beats per minute (compound meters count dotted quarters, as beats.py does)
loudness        integrated loudness, LUFS (quality.py)
syncopation     syncopation_index in [0, 1] (rhythm.py)
complexity      rhythmic_complexity in [0, 1] (rhythm.py)
minor           1 for a minor key, 0 for major
duple           1 for 2/4, 4/4, 2/2; triple: 1 for 3/4, 3/8; compound: 1 for 6/8, 9/8, 12/8
sevenths        fraction of chords (not 'N') with a 7th, 6th or extension (maj7, min7, 7, 9, ...)
dominant7       fraction of chords that are dominant sevenths (7, 9, 11, 13)
blues_form      1 when common_patterns names a 12-bar / blues progression, else 0
jazz_cadence    1 when common_patterns names a ii-V(-I), else 0
brightness      ~ mean spectral centroid in Hz, power-weighted (lower than the magnitude-weighted
                centroids usually quoted: pink noise 3.1 kHz, a rendered band 0.4-1.5 kHz)
noisiness       ~ mean spectral flatness in [0, 1] (drums, distortion), from the embedding (below)
==============  ==================================================================================

Which embedding dimensions carry what (descriptor-v1, see embedding.py; each group is scaled to
unit length and weighted, so only ratios *within* a group survive):

- 0-12 MFCC 1-13 means, 13-25 MFCC 1-13 standard deviations (timbre);
- 26 spectral centroid mean, 27 its spread, 28 spectral flatness mean, 29 its spread,
  30 frame loudness mean, 31 its spread (spectral);
- 32-43 chroma means (minus 1/12), 44-55 chroma spreads (harmony);
- 56-63 onset autocorrelation in eight log-spaced tempo bands, 40-240 BPM (rhythm).

brightness = dim26 / dim30 x scale x 5000 Hz and noisiness = dim28 / dim30 x scale, where the
scale undoes the group's unit length: the frame loudness mean it removed is estimated from the
LUFS ((LUFS + 63) / 30, measured on rendered songs: median frame level = LUFS + 63 dB), else taken
as 1.6 (about -15 LUFS); digitally silent frames (a silent tail) are taken out using the loudness
spread, dim 31 (see ``embedding_descriptors``). Both are approximate, so their rules are broad.

Noisiness is read from lossless files only (``lossless`` True: format wav, flac or aiff). The
flatness is a geometric mean over all bins up to 22 kHz, and a lossy encoder's low-pass empties
the top bins: measured on a rendered song with drums, 0.033 from the WAV, 0.007 at 320 kbps,
0.001 at 192 kbps (pink noise: 0.22, 0.04, 0.01), so an MP3 would read as tonal whatever it holds.
Even lossless, band-limited sources (sample-based instruments, old recordings) read as tonal, so
the rules are asymmetric: high noisiness is strong evidence (metal, rock: bonus rules), low
noisiness weak evidence (classical, folk: small weights). On the FluidSynth corpus (WAV, drums
in most songs) noisiness is below 0.005 everywhere.
The classifier (genre.py) reads all 64 dimensions; the prior reads only these two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

GENRES = ("pop", "rock", "hip-hop", "jazz", "electronic", "classical", "country", "folk", "r&b",
          "metal", "blues", "other")
STRENGTH = 4.0
OTHER_SCORE = 0.0
_INF = float("inf")

SPECTRAL = slice(26, 32)  # centroid mean, centroid spread, flatness mean, flatness spread, loudness mean, spread
CENTROID_SCALE_HZ = 5000.0  # embedding.py divides the centroid by this
TYPICAL_LOUDNESS_MEAN = 1.6
LUFS_TO_FRAME_DB = 63.0
SILENT_FRAME_LEVEL = -4.0  # embedding.py: 10 log10(0 + 1e-12) / 30
MUSIC_LOUDNESS_SPREAD = 0.1  # frame loudness spread of music without silence: ~3 dB, / 30


@dataclass(frozen=True)
class Rule:
    genre: str
    descriptor: str
    ranges: tuple[tuple[float, float], ...]  # one or more (low, high); inside any is agreement
    soft: float  # distance outside the range at which agreement reaches -1
    weight: float
    why: str
    bonus: bool = False  # agreement never below 0


def rule(genre, descriptor, ranges, soft, weight, why, bonus=False) -> Rule:
    ranges = (ranges,) if not isinstance(ranges[0], tuple) else ranges
    return Rule(genre, descriptor, tuple((float(lo), float(hi)) for lo, hi in ranges), soft, weight, why, bonus)


YES = (1, 1)  # for 0/1 descriptors: agreement +1 when 1, -1 when 0 (soft 1)
NO = (0, 0)

# genre, descriptor, range(s), soft, weight, why
RULES: tuple[Rule, ...] = (
    rule("pop", "bpm", (95, 130), 25, 1.0, "mainstream pop sits at 95-130 BPM"),
    rule("pop", "loudness", (-11, -6), 5, 0.8, "mastered loud, a little below EDM and metal"),
    rule("pop", "syncopation", (0.15, 0.5), 0.25, 0.4, "some syncopation in vocal lines and grooves"),
    rule("pop", "complexity", (0, 0.45), 0.3, 0.4, "simple, repetitive rhythm"),
    rule("pop", "sevenths", (0, 0.25), 0.3, 0.6, "mostly triads: I-V-vi-IV"),
    rule("pop", "minor", NO, 1, 0.4, "mostly major keys"),
    rule("pop", "duple", YES, 1, 0.4, "4/4"),
    rule("pop", "brightness", (600, 1800), 800, 0.3, "full-range, polished mix"),

    rule("rock", "bpm", (100, 150), 30, 0.8, "driving 100-150 BPM"),
    rule("rock", "loudness", (-11, -6), 5, 0.8, "loud masters"),
    rule("rock", "noisiness", (0.025, 0.15), 0.04, 0.6, "overdriven guitars and cymbals fill the spectrum", bonus=True),
    rule("rock", "brightness", (900, 2500), 800, 0.5, "guitars and cymbals: a bright mix"),
    rule("rock", "syncopation", (0, 0.35), 0.25, 0.5, "straight eighths on a backbeat"),
    rule("rock", "sevenths", (0, 0.2), 0.3, 0.4, "triads and power chords"),
    rule("rock", "duple", YES, 1, 0.4, "4/4"),

    rule("hip-hop", "bpm", ((80, 100), (160, 200)), 15, 1.6,
         "boom-bap and trap sit at 80-100 BPM; beat trackers often count their hi-hats double"),
    rule("hip-hop", "syncopation", (0.35, 1), 0.25, 1.0, "syncopated kicks and off-beat vocal flow"),
    rule("hip-hop", "loudness", (-10, -5), 5, 0.6, "loud masters"),
    rule("hip-hop", "brightness", (0, 900), 700, 0.5, "strong low end (808s, sub bass) pulls the centroid down"),
    rule("hip-hop", "duple", YES, 1, 0.4, "4/4"),
    rule("hip-hop", "minor", YES, 1, 0.3, "minor-key loops are common"),
    rule("hip-hop", "complexity", (0.2, 0.7), 0.3, 0.3, "busy hi-hats over a sparse kick"),

    rule("jazz", "sevenths", (0.5, 1), 0.4, 1.6, "extended harmony: maj7, min7, 7, 9 chords"),
    rule("jazz", "jazz_cadence", YES, 1, 1.0, "ii-V-I", bonus=True),
    rule("jazz", "complexity", (0.45, 1), 0.35, 1.0, "walking bass, comping, ride patterns"),
    rule("jazz", "syncopation", (0.35, 1), 0.3, 0.8, "swing and off-beat accents"),
    rule("jazz", "loudness", (-24, -12), 6, 0.8, "acoustic and barely compressed"),
    rule("jazz", "bpm", (90, 240), 40, 0.3, "swing tempos are broad, ballads aside"),
    rule("jazz", "brightness", (300, 1500), 800, 0.3, "acoustic instruments, ride cymbal"),

    rule("electronic", "bpm", ((118, 135), (160, 180)), 12, 1.6, "house/techno 118-135, drum & bass 160-180"),
    rule("electronic", "loudness", (-9, -3), 4, 1.0, "the loudest masters"),
    rule("electronic", "complexity", (0, 0.35), 0.3, 0.7, "steady four-on-the-floor, quantised loops"),
    rule("electronic", "duple", YES, 1, 0.5, "4/4"),
    rule("electronic", "sevenths", (0, 0.4), 0.4, 0.3, "loops of a few chords"),
    rule("electronic", "minor", YES, 1, 0.3, "minor keys dominate club music"),

    rule("classical", "loudness", (-40, -18), 6, 1.0, "no mastering compression: a quiet average level"),
    rule("classical", "noisiness", (0, 0.01), 0.03, 0.5, "no drums or distortion: tonal spectra"),
    rule("classical", "brightness", (0, 900), 700, 0.5, "strings, winds and piano, no cymbals"),
    rule("classical", "syncopation", (0, 0.25), 0.3, 0.6, "accents on the beat"),
    rule("classical", "complexity", (0.3, 1), 0.35, 0.4, "rubato and varied rhythms, no loop"),
    rule("classical", "triple", YES, 1, 0.4, "minuets, waltzes, scherzos", bonus=True),
    rule("classical", "compound", YES, 1, 0.3, "6/8 and 12/8 movements", bonus=True),

    rule("country", "minor", NO, 1, 0.8, "overwhelmingly major keys"),
    rule("country", "bpm", (85, 130), 25, 0.6, "moderate two-step and shuffle tempos"),
    rule("country", "sevenths", (0, 0.2), 0.3, 0.6, "I-IV-V triads"),
    rule("country", "syncopation", (0, 0.35), 0.25, 0.5, "boom-chick, on the beat"),
    rule("country", "loudness", (-14, -8), 5, 0.5, "mastered, but less than pop"),
    rule("country", "noisiness", (0.005, 0.05), 0.03, 0.3, "acoustic guitars and light drums"),
    rule("country", "triple", YES, 1, 0.3, "country waltzes", bonus=True),

    rule("folk", "noisiness", (0, 0.015), 0.03, 0.5, "acoustic: little or no drumming, no distortion"),
    rule("folk", "loudness", (-20, -12), 5, 0.8, "acoustic and lightly mastered"),
    rule("folk", "bpm", (70, 120), 25, 0.6, "moderate tempo"),
    rule("folk", "syncopation", (0, 0.3), 0.25, 0.5, "plain strummed or picked rhythm"),
    rule("folk", "sevenths", (0, 0.2), 0.3, 0.4, "simple triadic harmony"),
    rule("folk", "triple", YES, 1, 0.4, "waltzes", bonus=True),
    rule("folk", "compound", YES, 1, 0.4, "jigs and 6/8 ballads", bonus=True),
    rule("folk", "brightness", (300, 1300), 700, 0.3, "voice and acoustic guitar"),

    rule("r&b", "bpm", (60, 100), 15, 1.0, "slow jams and mid-tempo grooves"),
    rule("r&b", "syncopation", (0.35, 1), 0.25, 0.9, "syncopated grooves (funk, neo-soul)"),
    rule("r&b", "sevenths", (0.3, 1), 0.3, 0.9, "min7, maj7 and 9 chords"),
    rule("r&b", "loudness", (-12, -6), 5, 0.5, "mastered"),
    rule("r&b", "brightness", (0, 1100), 700, 0.4, "warm, bass-heavy mixes"),
    rule("r&b", "compound", YES, 1, 0.3, "12/8 soul ballads", bonus=True),

    rule("metal", "noisiness", (0.06, 1), 0.08, 1.6, "distorted guitars: high spectral flatness", bonus=True),
    rule("metal", "loudness", (-9, 0), 4, 1.2, "very loud, heavily compressed masters"),
    rule("metal", "brightness", (1500, _INF), 1000, 1.0, "distortion and cymbals: a bright spectrum"),
    rule("metal", "minor", YES, 1, 0.6, "minor and modal riffs"),
    rule("metal", "sevenths", (0, 0.15), 0.3, 0.4, "power chords and riffs, few sevenths"),
    rule("metal", "bpm", (90, 220), 30, 0.3, "mid-tempo to very fast"),

    rule("blues", "blues_form", YES, 1, 1.8, "the 12-bar form", bonus=True),
    rule("blues", "dominant7", (0.4, 1), 0.4, 1.6, "I7-IV7-V7: dominant sevenths on every degree"),
    rule("blues", "compound", YES, 1, 1.0, "shuffle feel written in 12/8", bonus=True),
    rule("blues", "bpm", (60, 120), 25, 0.6, "slow to mid-tempo shuffles"),
    rule("blues", "loudness", (-18, -9), 5, 0.4, "live-sounding, moderately mastered"),
    rule("blues", "syncopation", (0.2, 0.6), 0.3, 0.3, "laid-back phrasing behind the beat"),
)

DESCRIPTORS = ("bpm", "loudness", "syncopation", "complexity", "minor", "duple", "triple", "compound",
               "sevenths", "dominant7", "blues_form", "jazz_cadence", "brightness", "noisiness")
assert all(r.genre in GENRES and r.descriptor in DESCRIPTORS for r in RULES)


def embedding_descriptors(embeddings: np.ndarray, loudness_lufs: np.ndarray,
                          lossless: np.ndarray) -> dict[str, np.ndarray]:
    """brightness (Hz) and noisiness from (songs, 64) embeddings; NaN where unknown or silent,
    and noisiness NaN unless ``lossless`` is 1 (see the module docstring).

    The spectral group lost its scale, so the frame loudness mean L is estimated (module
    docstring). Digitally silent frames (a silent tail, a gap) have flatness 1, centroid 0 and a
    frame level of -120 dB (-4 in embedding units); they would make any song look noisy and
    dark. Their fraction f is read from the ratio of the loudness spread to its mean (a few
    percent of silence already multiplies the spread), and removed: centroid / (1 - f),
    (flatness - f) / (1 - f)."""
    spectral = embeddings[:, SPECTRAL].astype(np.float64)
    loud, spread = spectral[:, 4], spectral[:, 5]
    usable = np.isfinite(loud) & (loud > 0.05)  # a zero (silent) or missing embedding has no spectrum
    level = np.where(np.isfinite(loudness_lufs), (loudness_lufs + LUFS_TO_FRAME_DB) / 30.0, TYPICAL_LOUDNESS_MEAN)
    level = np.clip(level, 0.5, 2.5)[:, None]
    # Frame loudness mean and spread as functions of the silent fraction f (rows: songs, columns: f).
    f = np.linspace(0.0, 0.6, 121)[None, :]
    mean = (1 - f) * level + f * SILENT_FRAME_LEVEL
    std = np.sqrt((1 - f) * MUSIC_LOUDNESS_SPREAD**2 + f * (1 - f) * (level - SILENT_FRAME_LEVEL) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mean > 0, std / mean, np.inf)
        observed = np.where(usable, spread / np.where(usable, loud, 1.0), 0.0)[:, None]
    best = np.argmin(np.abs(ratio - observed), axis=1)
    silent = f[0, best]
    scale = mean[np.arange(len(best)), best] / np.where(usable, loud, 1.0)  # raw = scale x unit vector
    brightness = spectral[:, 0] * scale * CENTROID_SCALE_HZ / (1 - silent)
    noisiness = np.clip((spectral[:, 2] * scale - silent) / (1 - silent), 0, 1)
    return {"brightness": np.where(usable, brightness, np.nan),
            "noisiness": np.where(usable & (lossless == 1), noisiness, np.nan)}


def agreement(values: np.ndarray, r: Rule) -> np.ndarray:
    """Per song: +1 inside one of the rule's ranges, down to -1 at ``soft`` outside, 0 if unknown."""
    best = np.full(values.shape, -np.inf)
    for lo, hi in r.ranges:
        distance = np.maximum(lo - values, 0) + np.maximum(values - hi, 0)
        best = np.maximum(best, 1.0 - 2.0 * distance / r.soft)
    best = np.clip(best, -1.0, 1.0)
    if r.bonus:
        best = np.maximum(best, 0.0)
    return np.where(np.isfinite(values), best, 0.0)


def prior_scores(descriptors: Mapping[str, np.ndarray]) -> np.ndarray:
    """(songs, len(GENRES)) scores: STRENGTH x weighted mean agreement; 'other' fixed."""
    n = len(next(iter(descriptors.values())))
    totals = np.zeros((n, len(GENRES)))
    weights = np.zeros(len(GENRES))
    for r in RULES:
        g = GENRES.index(r.genre)
        totals[:, g] += r.weight * agreement(np.asarray(descriptors[r.descriptor], np.float64), r)
        weights[g] += r.weight
    scores = STRENGTH * totals / np.maximum(weights, 1e-12)
    scores[:, GENRES.index("other")] = OTHER_SCORE
    return scores


def prior_probabilities(descriptors: Mapping[str, np.ndarray]) -> np.ndarray:
    """(songs, len(GENRES)) probabilities from the rule table (rows sum to 1)."""
    scores = prior_scores(descriptors)
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    return p / p.sum(axis=1, keepdims=True)
