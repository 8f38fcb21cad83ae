"""Genre: a distribution over a fixed vocabulary, learned from the collection's own tags.

Conventions: genres are the twelve names of ``GENRES``; probabilities are in [0, 1] and sum to 1
over the vocabulary; ``Genre.predicted_genres`` lists all twelve as (genre, confidence), highest
first. Free-text tags map onto the vocabulary with ``normalize_genre_tag`` (table in
_genre_tags.py: 'Hip Hop', 'Rap', 'Trap' -> hip-hop; 'Soul', 'Funk', 'RnB' -> r&b; placeholders
such as 'Unknown' -> None; anything else unrecognised -> 'other').

Four layers:

- ``prior_genre``: documented musical conventions as a table of soft scores (_genre_prior.py:
  tempo ranges, loudness, syncopation, seventh chords, brightness and noisiness from the
  embedding, ...). No learning; used alone while too few songs are tagged.
- ``GenreModel.fit``: standardised features (the 64 embedding dimensions, each group rescaled to
  unit length; the scalar inputs, each with a missing-value flag; the prior's log-probabilities)
  and a multinomial logistic regression on the tagged songs.
- Blending. A genre with n tagged songs is trusted with weight t = n / (n + K):
  p(g) = t_g * p_model(g) + (1 - T) * p_prior(g), with T = sum over g of t_g * p_model(g). The
  classifier's vote for a well-represented genre stands; what it gives to rare genres (and
  everything, when it is not fitted) is handed to the prior. Below ``MIN_TAGGED`` tagged songs,
  or with a single tagged genre, no classifier is fitted and the prior decides (with a warning).
  The pseudo-count K is ``PSEUDO_COUNT`` (10 songs) below ``CALIBRATE_MIN`` tagged songs; from
  there the collection chooses it among 1, 3, 10 and 30 songs together with a temperature
  (p ** (1/T), renormalised) by the log loss of 3-fold out-of-fold predictions, so a prior that
  fits the collection badly is trusted less, and the probabilities come out calibrated.
- The song's own tag. Where ``predict`` is given the songs' tags, each tag, mapped to the
  vocabulary, is evidence for its own song, however few songs carry tags: by Bayes' rule with a
  tag that names the song's genre with probability ``TAG_RELIABILITY`` (0.8, an assumption) and
  else any other genre alike, the tagged genre's odds are multiplied by 44. A genre the audio
  gives 5 % then ends near 70 %, and only audio that gives the tagged genre under about 2 % while
  it is sure of another overrules the tag. The audio still questions a tag on its own:
  ``suspicious`` and ``contradicts`` judge tags from the audio alone, with the prior where no
  classifier is fitted, and never see the tag they judge.

Usage (for the bench, the jobs and notebooks)::

    from songlake.udfs.genre import GenreInputs, GenreModel, evaluate, prior_genre

    inputs = [GenreInputs(embedding=vec, bpm=beats.bpm, mode=key.mode,
                          time_signature=beats.time_signature,
                          syncopation_index=rp.syncopation_index,
                          rhythmic_complexity=rp.rhythmic_complexity,
                          loudness_lufs=quality.loudness_lufs,
                          chords=tuple(s.label for s in chords.spans),
                          common_patterns=harmony.common_patterns,
                          format=audio.format,       # noisiness is read from lossless files only
                          duration=audio.duration) for ... in songs]
    # or from a row of the songs view (a dict; NaN counts as missing):
    inputs = [GenreInputs.from_row(row) for row in rows]
    tags = [row["genre_tag"] for row in rows]          # free text or None
    model = GenreModel.fit(inputs, tags, seed=0)
    genres = model.predict(inputs, tags)               # list[Genre]; each tag is evidence for its song
    flags = model.suspicious(inputs, tags)             # tags the model confidently contradicts
    report = evaluate(inputs, tags, folds=5, seed=0)   # accuracy, prior_accuracy, counts, ...

Every field of ``GenreInputs`` may be None. Fitting 10,000 songs takes a few seconds on one core;
prediction is batched (well under 0.1 ms a song). Results are deterministic for a seed.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from songlake.udfs._genre_model import (PSEUDO_COUNT, TAG_RELIABILITY, Classifier, blend, calibrate, folds_of,
                                        sharpen, train, with_tags)
from songlake.udfs._genre_prior import GENRES, embedding_descriptors, prior_probabilities
from songlake.udfs._genre_tags import normalize_genre_tag
from songlake.udfs.embedding import DIM

__all__ = ["GENRES", "TAG_RELIABILITY", "Genre", "GenreInputs", "GenreModel", "evaluate", "normalize_genre_tag",
           "prior_genre"]

EMBEDDING_DIM = DIM  # descriptor-v1
EMBEDDING_GROUPS = (slice(0, 26), slice(26, 32), slice(32, 56), slice(56, 64))  # timbre, spectral, harmony, rhythm
LOSSLESS_FORMATS = frozenset({"wav", "flac", "aiff", "aif", "alac"})
MIN_TAGGED = 10
CALIBRATE_MIN = 30
DEFAULT_C = 0.5  # inverse L2 strength of the logistic regression, on standardised features

_EXTENDED = frozenset({"7", "maj7", "min7", "dim7", "hdim7", "minmaj7", "aug7", "6", "maj6", "min6", "9",
                       "maj9", "min9", "11", "min11", "13", "maj13", "min13"})
_DOMINANT = frozenset({"7", "9", "11", "13"})
_METERS = {"duple": {"2/4", "4/4", "2/2"}, "triple": {"3/4", "3/8"}, "compound": {"6/8", "9/8", "12/8"}}
_TIME_SIGNATURE = re.compile(r"^\d{1,2}/\d{1,2}$")
_BLUES_PATTERN = re.compile(r"blues|12[- ]?bar|twelve[- ]bar")
_JAZZ_PATTERN = re.compile(r"\bii[\u00f8o]?[-\u2013 ]+v|two[- ]five")  # 'ii-V-I', 'iiø-V-i', 'vi-ii-V-I'


@dataclass(frozen=True)
class Genre:
    primary_genre: str | None
    genre_confidence: float
    predicted_genres: tuple[tuple[str, float], ...]  # all of GENRES, highest confidence first


@dataclass(frozen=True)
class GenreInputs:
    """What songlake knows about one song that bears on its genre. Every field may be None."""

    embedding: tuple[float, ...] | None = None  # descriptor-v1, 64 values
    bpm: float | None = None
    mode: str | None = None  # 'major' or 'minor'
    time_signature: str | None = None  # '4/4', '3/4', '6/8', ...
    syncopation_index: float | None = None  # [0, 1]
    rhythmic_complexity: float | None = None  # [0, 1]
    loudness_lufs: float | None = None
    chords: tuple[str, ...] | None = None  # Harte labels in time order
    progression_complexity: float | None = None
    common_patterns: tuple[str, ...] | None = None
    duration: float | None = None  # seconds
    format: str | None = None  # the file's format as in the songs view: 'mp3', 'flac', 'wav', ...

    def __post_init__(self) -> None:
        if self.embedding is not None:
            vector = np.asarray(getattr(self.embedding, "vector", self.embedding), dtype=np.float64)
            if vector.shape != (EMBEDDING_DIM,):
                raise ValueError(f"embedding has shape {vector.shape}, expected {EMBEDDING_DIM} values "
                                 "(a descriptor-v1 vector; pass Embedding.vector)")
            if not np.all(np.isfinite(vector)):
                raise ValueError("embedding contains NaN or inf (a corrupt or unnormalised vector?)")
            object.__setattr__(self, "embedding", tuple(vector.tolist()))
        _number(self, "bpm", 1.0, 1000.0, "beats per minute (not seconds per beat?)")
        _number(self, "syncopation_index", 0.0, 1.0, "an index in [0, 1]")
        _number(self, "rhythmic_complexity", 0.0, 1.0, "an index in [0, 1]")
        _number(self, "loudness_lufs", -100.0, 10.0, "LUFS, at most 0 for real audio (dB SPL or LU given?)")
        _number(self, "progression_complexity", 0.0, math.inf, "a non-negative score")
        _number(self, "duration", 1e-3, math.inf, "seconds")
        if self.mode is not None and self.mode not in ("major", "minor"):
            raise ValueError(f"mode is 'major' or 'minor', got {self.mode!r} (pass the key's mode, not its name)")
        if self.time_signature is not None and not (
                isinstance(self.time_signature, str) and _TIME_SIGNATURE.match(self.time_signature)):
            raise ValueError(f"time_signature is written like '4/4' or '6/8', got {self.time_signature!r}")
        if self.format is not None and not isinstance(self.format, str):
            raise ValueError(f"format is a name like 'mp3' or 'flac', got {self.format!r}")
        for name in ("chords", "common_patterns"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} is a sequence of strings, got {value!r}")
            object.__setattr__(self, name, tuple(str(v) for v in value))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> GenreInputs:
        """From a songs-view row (dict): missing keys, None and NaN all count as unknown.

        ``key`` ('A minor') gives the mode; ``chords`` may be {start, end, label} dicts, spans
        with a ``label`` or plain labels."""

        def get(name):
            value = row.get(name)
            if isinstance(value, float) and math.isnan(value):
                return None
            return value

        mode = get("mode")
        key = get("key")
        if mode is None and isinstance(key, str) and key.split()[-1:] in (["major"], ["minor"]):
            mode = key.split()[-1]
        chords = get("chords")
        if chords is not None:
            chords = tuple(c["label"] if isinstance(c, Mapping) else getattr(c, "label", c) for c in chords)
            chords = tuple(c[2] if isinstance(c, tuple) else c for c in chords)
        patterns = get("common_patterns")
        return cls(
            embedding=get("embedding"), bpm=get("bpm"), mode=mode, time_signature=get("time_signature"),
            syncopation_index=get("syncopation_index"), rhythmic_complexity=get("rhythmic_complexity"),
            loudness_lufs=get("loudness_lufs"), chords=chords,
            progression_complexity=get("progression_complexity"),
            common_patterns=tuple(patterns) if patterns is not None else None, duration=get("duration"),
            format=get("format"),
        )


def _number(inputs: GenreInputs, name: str, low: float, high: float, unit: str) -> None:
    value = getattr(inputs, name)
    if value is None:
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or None, got {value!r}") from None
    if math.isnan(number):
        raise ValueError(f"{name} is NaN: use None for an unknown value")
    if not low <= number <= high:
        raise ValueError(f"{name} must be {unit}, in [{low:g}, {high:g}]; got {number:g}")
    object.__setattr__(inputs, name, number)


# ---- from inputs to arrays -------------------------------------------------------------------

def _chord_fractions(labels: tuple[str, ...] | None) -> tuple[float, float]:
    """(fraction with a 7th/6th/extension, fraction of dominant sevenths) among non-'N' chords."""
    if not labels:
        return math.nan, math.nan
    qualities = [(label.split(":", 1)[1] if ":" in label else "maj").split("/")[0].split("(")[0]
                 for label in labels if label not in ("N", "X")]
    if not qualities:
        return math.nan, math.nan
    return (sum(q in _EXTENDED for q in qualities) / len(qualities),
            sum(q in _DOMINANT for q in qualities) / len(qualities))


def _pattern_flags(patterns: tuple[str, ...] | None) -> tuple[float, float]:
    if patterns is None:
        return math.nan, math.nan
    text = " | ".join(patterns).lower()
    return float(bool(_BLUES_PATTERN.search(text))), float(bool(_JAZZ_PATTERN.search(text)))


def _opt(value) -> float:
    return math.nan if value is None else float(value)


def _columns(inputs: Sequence[GenreInputs]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(songs, 64) embeddings (NaN rows where absent) and the scalar descriptors, NaN = unknown."""
    for item in inputs:
        if not isinstance(item, GenreInputs):
            raise ValueError(f"expected GenreInputs, got {type(item).__name__} (build them with GenreInputs(...))")
    n = len(inputs)
    embeddings = np.full((n, EMBEDDING_DIM), np.nan)
    rows = []
    for i, item in enumerate(inputs):
        if item.embedding is not None:
            embeddings[i] = item.embedding
        meter = item.time_signature
        known_meter = meter is not None
        sevenths, dominant7 = _chord_fractions(item.chords)
        blues, jazz = _pattern_flags(item.common_patterns)
        rows.append((
            _opt(item.bpm), _opt(item.loudness_lufs), _opt(item.syncopation_index),
            _opt(item.rhythmic_complexity),
            math.nan if item.mode is None else float(item.mode == "minor"),
            *(float(meter in _METERS[m]) if known_meter else math.nan for m in ("duple", "triple", "compound")),
            sevenths, dominant7, blues, jazz, _opt(item.progression_complexity), _opt(item.duration),
            math.nan if item.format is None else float(item.format.lower() in LOSSLESS_FORMATS),
        ))
    names = ("bpm", "loudness", "syncopation", "complexity", "minor", "duple", "triple", "compound",
             "sevenths", "dominant7", "blues_form", "jazz_cadence", "progression_complexity", "duration",
             "lossless")
    table = np.array(rows, dtype=np.float64).reshape(n, len(names))
    fields = {name: table[:, j] for j, name in enumerate(names)}
    fields.update(embedding_descriptors(embeddings, fields["loudness"], fields.pop("lossless")))
    return embeddings, fields


def _known(embeddings: np.ndarray, fields: Mapping[str, np.ndarray]) -> np.ndarray:
    """Songs with at least one known input (a silent, all-zero embedding counts as unknown)."""
    has_embedding = np.isfinite(embeddings).all(axis=1) & (np.abs(np.nan_to_num(embeddings)).sum(axis=1) > 0)
    return has_embedding | np.column_stack([np.isfinite(v) for v in fields.values()]).any(axis=1)


def _design(inputs: Sequence[GenreInputs]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw feature matrix with NaN for unknown, prior probabilities, known-song mask)."""
    embeddings, fields = _columns(inputs)
    prior = prior_probabilities(fields)
    groups = []
    for group in EMBEDDING_GROUPS:  # undo the cross-group scaling: a silent group must not shrink the others
        part = embeddings[:, group]
        norm = np.linalg.norm(np.nan_to_num(part), axis=1, keepdims=True)
        groups.append(np.where(norm > 1e-9, part / np.maximum(norm, 1e-9), part))
    scalars = np.column_stack([
        np.log2(fields["bpm"]), fields["loudness"], fields["syncopation"], fields["complexity"],
        fields["minor"], fields["duple"], fields["triple"], fields["compound"], fields["sevenths"],
        fields["dominant7"], fields["blues_form"], fields["jazz_cadence"],
        np.log1p(fields["progression_complexity"]), np.log(fields["duration"]),
        np.log(fields["brightness"] + 100.0), fields["noisiness"],
    ])
    missing = np.column_stack([~np.isfinite(embeddings[:, 0]), ~np.isfinite(scalars)]).astype(np.float64)
    raw = np.hstack([*groups, scalars, missing, np.log(prior + 1e-6)])
    return raw, prior, _known(embeddings, fields)


def _genres(probabilities: np.ndarray, known: np.ndarray) -> list[Genre]:
    order = np.argsort(-probabilities, axis=1, kind="stable")  # ties keep the vocabulary's order
    ranked_p = np.round(np.take_along_axis(probabilities, order, axis=1), 4).tolist()
    out = []
    for ok, genres, confidences in zip(known.tolist(), order.tolist(), ranked_p):
        if not ok:
            out.append(Genre(None, 0.0, ()))
            continue
        ranked = tuple(zip([GENRES[g] for g in genres], confidences))
        out.append(Genre(ranked[0][0], ranked[0][1], ranked))
    if not known.all():
        warnings.warn(f"{int((~known).sum())} song(s) have no usable inputs: no genre", stacklevel=3)
    return out


def prior_genre(inputs: GenreInputs, tag: str | None = None) -> Genre:
    """The genre that documented musical conventions suggest, with the song's own tag as
    evidence when given (see the module docstring)."""
    raw, prior, known = _design([inputs])
    return _genres(with_tags(prior, _labels([tag], 1)), known)[0]


# ---- the model ------------------------------------------------------------------------------

def _labels(tags: Sequence[str | None], n: int) -> np.ndarray:
    """Vocabulary index per song, -1 where untagged (None, empty or a placeholder)."""
    if len(tags) != n:
        raise ValueError(f"got {len(tags)} tags for {n} songs: one tag (or None) per song")
    return np.array([-1 if (g := normalize_genre_tag(t)) is None else GENRES.index(g) for t in tags], int)


class GenreModel:
    """The prior, and a classifier of the collection's tags where there are enough of them."""

    def __init__(self, counts: np.ndarray, classifier: Classifier | None, *, C: float, seed: int,
                 pseudo_count: float = PSEUDO_COUNT, temperature: float = 1.0):
        self._counts = counts
        self._classifier = classifier
        self.C, self.seed = C, seed
        self.pseudo_count, self.temperature = pseudo_count, temperature

    @property
    def counts(self) -> dict[str, int]:
        """Tagged songs per genre that the model was fitted on."""
        return {g: int(n) for g, n in zip(GENRES, self._counts)}

    @property
    def uses_classifier(self) -> bool:
        return self._classifier is not None

    @classmethod
    def fit(cls, inputs: Sequence[GenreInputs], tags: Sequence[str | None], *, seed: int = 0,
            C: float = DEFAULT_C) -> GenreModel:
        """Fit on the songs whose tag names a genre; untagged songs are ignored."""
        y = _labels(tags, len(inputs))
        raw, prior, _ = _design(inputs)
        model, reason = cls._fit_arrays(raw[y >= 0], prior[y >= 0], y[y >= 0], C=C, seed=seed)
        if reason:
            warnings.warn(reason, stacklevel=2)
        return model

    @classmethod
    def _fit_arrays(cls, raw: np.ndarray, prior: np.ndarray, y: np.ndarray, *, C: float,
                    seed: int) -> tuple[GenreModel, str | None]:
        counts = np.bincount(y, minlength=len(GENRES)).astype(np.float64)
        genres = np.flatnonzero(counts)
        if len(y) < MIN_TAGGED:
            reason = f"only {len(y)} tagged song(s) (fewer than {MIN_TAGGED}): the genre prior decides"
            return cls(counts, None, C=C, seed=seed), reason
        if len(genres) < 2:
            reason = (f"all {len(y)} tagged songs are {GENRES[genres[0]]!r}: a classifier cannot tell "
                      "genres apart, the genre prior decides")
            return cls(counts, None, C=C, seed=seed), reason
        pseudo_count, temperature = PSEUDO_COUNT, 1.0
        if len(y) >= CALIBRATE_MIN:
            pseudo_count, temperature = calibrate(raw, prior, y, C, seed)
        return cls(counts, train(raw, y, C), C=C, seed=seed, pseudo_count=pseudo_count,
                   temperature=temperature), None

    def _combine(self, raw: np.ndarray, prior: np.ndarray) -> np.ndarray:
        blended = blend(self._classifier, self._counts, raw, prior, self.pseudo_count)
        return sharpen(blended, self.temperature)

    def probabilities(self, inputs: Sequence[GenreInputs], tags: Sequence[str | None] | None = None) -> np.ndarray:
        """(songs, len(GENRES)) probabilities in GENRES order; with ``tags``, each song's own tag
        is evidence for it (weighted by ``TAG_RELIABILITY``), without them the audio alone."""
        raw, prior, _ = _design(inputs)
        p = self._combine(raw, prior)
        return p if tags is None else with_tags(p, _labels(tags, len(inputs)))

    def predict(self, inputs: Sequence[GenreInputs], tags: Sequence[str | None] | None = None) -> list[Genre]:
        """Each song's genre; give the songs' own tags (free text or None each) to count them."""
        raw, prior, known = _design(inputs)
        p = self._combine(raw, prior)
        return _genres(p if tags is None else with_tags(p, _labels(tags, len(inputs))), known)

    def contradicts(self, inputs: Sequence[GenreInputs], tags: Sequence[str | None], *,
                    min_confidence: float = 0.6, max_tag_probability: float = 0.05) -> list[bool]:
        """Per song the model was NOT fitted on: True where its prediction from the audio alone
        contradicts the tag (another genre at least min_confidence, the tagged one at most
        max_tag_probability). For the songs it was fitted on, use ``suspicious``, which judges
        each out of fold."""
        y = _labels(tags, len(inputs))
        if not len(y):
            return []
        p = self.probabilities(inputs)
        rows = np.arange(len(y))
        tagged = y >= 0
        return (tagged & (p.argmax(axis=1) != y) & (p.max(axis=1) >= min_confidence)
                & (p[rows, np.maximum(y, 0)] <= max_tag_probability)).tolist()

    def suspicious(self, inputs: Sequence[GenreInputs], tags: Sequence[str | None], *, folds: int = 5,
                   min_confidence: float = 0.6, max_tag_probability: float = 0.05) -> list[bool]:
        """Per song: True where the tag is contradicted by out-of-fold predictions.

        Each tagged song is predicted from its audio by a model (same settings as this one)
        fitted without it, so its own tag cannot vouch for it; without a classifier that is the
        prior, which no tag shaped. A tag is flagged when another genre gets at least
        ``min_confidence`` and the tagged genre at most ``max_tag_probability``. Untagged
        songs are never flagged."""
        y = _labels(tags, len(inputs))
        tagged = np.flatnonzero(y >= 0)
        flags = np.zeros(len(inputs), bool)
        if not len(tagged):
            return flags.tolist()
        raw, prior, _ = _design(inputs)
        if self._classifier is None:
            p = prior[tagged]
        elif len(tagged) < 2:
            warnings.warn("one tagged song: a model fitted without it is the prior; no tag can be checked",
                          stacklevel=2)
            return flags.tolist()
        else:
            p = _out_of_fold(raw[tagged], prior[tagged], y[tagged], folds, self.seed, self.C)
        labels = y[tagged]
        top = p.argmax(axis=1)
        contradicted = ((top != labels) & (p.max(axis=1) >= min_confidence)
                        & (p[np.arange(len(labels)), labels] <= max_tag_probability))
        flags[tagged] = contradicted
        return flags.tolist()


def _out_of_fold(raw: np.ndarray, prior: np.ndarray, y: np.ndarray, folds: int, seed: int, C: float,
                 classifier_only: np.ndarray | None = None) -> np.ndarray:
    """Blended probabilities for each song from a model fitted on the other folds."""
    out = np.zeros((len(y), len(GENRES)))
    for fit_rows, test in folds_of(y, folds, seed):
        model, _ = GenreModel._fit_arrays(raw[fit_rows], prior[fit_rows], y[fit_rows], C=C, seed=seed)
        out[test] = model._combine(raw[test], prior[test])
        if classifier_only is not None:
            classifier_only[test] = (model._classifier.probabilities(raw[test]) if model._classifier
                                     else prior[test])
    return out


def evaluate(inputs: Sequence[GenreInputs], tags: Sequence[str | None], folds: int = 5, seed: int = 0, *,
             C: float = DEFAULT_C) -> dict[str, Any]:
    """Held-out accuracy on the tagged songs (stratified k-fold) next to the prior's.

    Returns n_tagged, folds, counts (tagged songs per genre), accuracy (the blended model,
    out of fold), classifier_accuracy (the classifier alone, out of fold), prior_accuracy,
    majority_accuracy (always the commonest genre), per_genre_accuracy and
    prior_per_genre_accuracy (recall per tagged genre), calibration_error (expected calibration
    error of the blended top-1 confidence, 10 bins). Accuracies are None with fewer than 2
    tagged songs."""
    y_all = _labels(tags, len(inputs))
    tagged = np.flatnonzero(y_all >= 0)
    y = y_all[tagged]
    counts = {g: int(n) for g, n in zip(GENRES, np.bincount(y, minlength=len(GENRES)))}
    report: dict[str, Any] = {"n_songs": len(inputs), "n_tagged": len(y), "counts": counts, "folds": 0,
                              "accuracy": None, "classifier_accuracy": None, "prior_accuracy": None,
                              "majority_accuracy": None, "per_genre_accuracy": {},
                              "prior_per_genre_accuracy": {}, "calibration_error": None}
    if len(y) < 2:
        warnings.warn(f"{len(y)} tagged song(s): nothing to evaluate", stacklevel=2)
        return report
    raw, prior, _ = _design(inputs)
    raw, prior = raw[tagged], prior[tagged]
    if len(y) < MIN_TAGGED or len(np.unique(y)) < 2:
        warnings.warn("too few tagged songs or genres for a classifier: evaluating the prior", stacklevel=2)
    classifier_only = np.zeros((len(y), len(GENRES)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        blended = _out_of_fold(raw, prior, y, folds, seed, C, classifier_only)
    predicted, prior_predicted = blended.argmax(axis=1), prior.argmax(axis=1)
    present = [g for g in range(len(GENRES)) if counts[GENRES[g]]]
    report.update(
        folds=len(folds_of(y, folds, seed)),
        accuracy=float(np.mean(predicted == y)),
        classifier_accuracy=float(np.mean(classifier_only.argmax(axis=1) == y)),
        prior_accuracy=float(np.mean(prior_predicted == y)),
        majority_accuracy=max(counts.values()) / len(y),
        per_genre_accuracy={GENRES[g]: float(np.mean(predicted[y == g] == g)) for g in present},
        prior_per_genre_accuracy={GENRES[g]: float(np.mean(prior_predicted[y == g] == g)) for g in present},
        calibration_error=_calibration_error(blended, y),
    )
    return report


def _calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    confidence, correct = p.max(axis=1), p.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum(abs(confidence[which == b].mean() - correct[which == b].mean()) * np.mean(which == b)
                     for b in range(bins) if np.any(which == b)))
