"""The chord model behind udfs.chords: vocabulary, emission scores from chroma, Viterbi smoothing.

States are 'N' (index 0) and every root x quality of the vocabulary. A segment's emission score
for a chord combines how well the treble chroma fits the chord's template (cosine) with how much
of the bass chroma sits on the chord's root (weighted more on downbeats, where bass lines most
often play it), plus a prior per quality and, once the key is known, a penalty for chords outside
it; 'N' scores high where nothing pitched sounds. Transitions keep a chord or change it, with a
change likeliest on downbeats. The constants were set on rendered songs (songlake.synth and
songlake.corpus; bench/harmony.py measures them).
"""

from __future__ import annotations

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
QUALITIES = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
}
# Score offsets: rarer and more ambiguous chords need more evidence.
PRIOR = {"maj": 0.0, "min": -0.01, "7": -0.02, "maj7": -0.06, "min7": -0.05, "dim": -0.08, "aug": -0.12, "sus4": -0.08}
BASS_WEIGHT = 0.4  # treble fit is a cosine in [0, 1]; the bass share of the root adds up to this
BASS_WEIGHT_DOWNBEAT = 0.8  # ... on downbeats, where bass lines most often play the root
BASS_WEIGHT_UNKNOWN = 0.55  # ... on every beat when the downbeats are unknown
BASS_WEIGHT_FREE = 0.3  # ... on segments of harmonic change (no beats): chorales and strings invert often
BASS_FLOOR = 0.2  # bass quieter than this share of its median level counts proportionally less
BASS_OTHER = 0.25  # a bass on another chord tone (inversion) counts this much of a root
SHARPNESS = 18.0  # log-likelihood per unit of score (per beat-long segment)
EVIDENCE_SECONDS = 0.5  # a segment this long counts as much as one beat
# Probability of a chord change at the start of a beat: on a downbeat, half way through a bar
# of an even number of beats, elsewhere, and anywhere when downbeats are unknown.
CHANGE_DOWNBEAT = 0.5
CHANGE_HALF_BAR = 0.15
CHANGE_OFFBEAT = 0.05
CHANGE_UNKNOWN = 0.15
N_SCORE = 0.45  # the score of 'N' where the music is at full loudness
N_SILENT_BONUS = 1.0  # added to 'N' as a segment's pitch salience falls to nothing
# Once the key is known: chords with one tone outside its scale (applied dominants, borrowed
# chords, and most mistakes) lose OUT_OF_KEY, those with more lose FAR_OUT_OF_KEY.
OUT_OF_KEY = 0.06
FAR_OUT_OF_KEY = 0.15
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}  # minor with its leading tone


def labels() -> list[str]:
    return ["N"] + [f"{PITCH_CLASSES[r]}:{q}" for q in QUALITIES for r in range(12)]


def templates() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(treble templates chords x 12 unit norm, root pitch class, bass weights chords x 12, prior) without 'N'."""
    rows, roots, bass, prior = [], [], [], []
    for q, intervals in QUALITIES.items():
        for r in range(12):
            t = np.zeros(12)
            t[[(r + i) % 12 for i in intervals]] = 1.0
            rows.append(t / np.linalg.norm(t))
            b = np.zeros(12)
            b[[(r + i) % 12 for i in intervals]] = BASS_OTHER
            b[r] = 1.0
            bass.append(b)
            roots.append(r)
            prior.append(PRIOR[q])
    return np.array(rows), np.array(roots), np.array(bass), np.array(prior)


def key_prior(tonic: int, mode: str) -> np.ndarray:
    """Score offsets of every state ('N' first) in a key: 0 in the key, negative outside it."""
    scale = {(tonic + i) % 12 for i in SCALES[mode]}
    out = [0.0]
    for q, intervals in QUALITIES.items():
        for r in range(12):
            outside = sum((r + i) % 12 not in scale for i in intervals)
            out.append(0.0 if outside == 0 else -OUT_OF_KEY if outside == 1 else -FAR_OUT_OF_KEY)
    return np.array(out)


def scores(treble: np.ndarray, bass: np.ndarray, salience: np.ndarray, bass_weight: np.ndarray) -> np.ndarray:
    """Segments x states ('N' first) emission scores; salience is each segment's pitch strength in
    [0, 1], bass_weight how much its bass counts (BASS_WEIGHT, more on downbeats)."""
    t, _, b, prior = templates()
    tn = treble / (np.linalg.norm(treble, axis=1, keepdims=True) + 1e-12)
    # The bass chroma as shares of the bass, except where the bass is much quieter than usual
    # (a rest, an intro without bass): there its few notes are noise and count for less.
    total = bass.sum(axis=1, keepdims=True)
    bn = bass / np.maximum(total, BASS_FLOOR * np.median(total) + 1e-12)
    chord = tn @ t.T + bass_weight[:, None] * (bn @ b.T) + prior[None, :]
    n = N_SCORE + N_SILENT_BONUS * (1 - np.clip(salience, 0, 1))
    return np.concatenate([n[:, None], chord], axis=1)


def decode(treble: np.ndarray, bass: np.ndarray, salience: np.ndarray, change_log_prob: np.ndarray,
           bass_weight: np.ndarray | None = None, key: tuple[int, str] | None = None,
           evidence: np.ndarray | None = None) -> np.ndarray:
    """State index per segment (see labels()); key (tonic pitch class, mode) adds its prior.

    evidence weighs each segment's emission (1 by default, as for one beat): segments of
    unequal length, as on harmonic change, weigh by their length in beats (see EVIDENCE_SECONDS)."""
    if bass_weight is None:
        bass_weight = np.full(len(treble), BASS_WEIGHT_UNKNOWN)
    emission = scores(treble, bass, salience, bass_weight)
    if key is not None:
        emission = emission + key_prior(*key)[None, :]
    weight = SHARPNESS if evidence is None else SHARPNESS * np.asarray(evidence, float)[:, None]
    return viterbi(weight * emission, change_log_prob)


def viterbi(log_emission: np.ndarray, change_at: np.ndarray) -> np.ndarray:
    """Most likely state path; change_at[i] is the log-probability of changing between segment i-1 and i.

    Transitions are 'stay' or 'change to any other state uniformly', so each step is O(states).
    """
    n_seg, n_states = log_emission.shape
    back = np.zeros((n_seg, n_states), np.int32)
    delta = log_emission[0] - np.log(n_states)
    for i in range(1, n_seg):
        log_change = change_at[i] - np.log(n_states - 1)
        log_stay = np.log1p(-np.exp(change_at[i]))
        best = int(np.argmax(delta))
        stay = delta + log_stay
        move = delta[best] + log_change
        back[i] = np.where(stay >= move, np.arange(n_states), best)
        delta = np.maximum(stay, move) + log_emission[i]
    path = np.empty(n_seg, np.int32)
    path[-1] = int(np.argmax(delta))
    for i in range(n_seg - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path
