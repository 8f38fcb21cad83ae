"""The classifier behind genre.py: logistic regression, the blend with the prior, calibration.

Kept apart so genre.py reads as inputs -> features -> model; the rules are documented there.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from songlake.udfs._genre_prior import GENRES

PSEUDO_COUNT = 10.0  # K below CALIBRATE_MIN tagged songs; from there chosen among PSEUDO_COUNTS
PSEUDO_COUNTS = (1.0, 3.0, 10.0, 30.0)
# How often a file's own genre tag names the genre the lake would give it. An assumption, not a
# fit: tags come from rippers, stores and people, and a wrong one usually names a neighbouring
# genre. At 0.8 a tag multiplies its genre's odds by 0.8 / (0.2 / 11) = 44 (see with_tags).
TAG_RELIABILITY = 0.8


@dataclass(frozen=True)
class Classifier:
    classes: np.ndarray  # indices into GENRES
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """(songs, len(GENRES)), zero for genres the classifier never saw."""
        x = np.nan_to_num((raw - self.mean) / self.scale, nan=0.0)
        return _place(_softmax(x @ self.coef.T + self.intercept), self.classes)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _place(p: np.ndarray, classes: np.ndarray) -> np.ndarray:
    full = np.zeros((len(p), len(GENRES)))
    full[:, classes] = p
    return full


def train(raw: np.ndarray, y: np.ndarray, C: float) -> Classifier:
    """Standardise (NaN -> the mean) and fit a multinomial logistic regression (L2, strength 1/C)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: mean of empty slice
        mean = np.nan_to_num(np.nanmean(raw, axis=0))
        scale = np.nan_to_num(np.nanstd(raw, axis=0))
    scale = np.where(scale > 1e-9, scale, 1.0)
    x = np.nan_to_num((raw - mean) / scale, nan=0.0)
    with threadpool_limits(1):  # a small problem: BLAS threads only contend (and the cores are shared)
        fitted = LogisticRegression(C=C, max_iter=500, tol=1e-4).fit(x, y)
    coef, intercept = fitted.coef_, fitted.intercept_
    if len(fitted.classes_) == 2:  # sklearn keeps one row for two classes: make it a softmax pair
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return Classifier(fitted.classes_.astype(int), mean, scale, coef, intercept)


def blend(classifier: Classifier | None, counts: np.ndarray, raw: np.ndarray, prior: np.ndarray,
          pseudo_count: float = PSEUDO_COUNT) -> np.ndarray:
    """p = t * p_model + (1 - sum(t * p_model)) * p_prior, t = counts / (counts + pseudo_count)."""
    if classifier is None:
        return prior
    trusted = classifier.probabilities(raw) * (counts / (counts + pseudo_count))
    return trusted + (1.0 - trusted.sum(axis=1, keepdims=True)) * prior


def with_tags(p: np.ndarray, y: np.ndarray, reliability: float = TAG_RELIABILITY) -> np.ndarray:
    """Each song's own tag as evidence for that song (Bayes' rule), rows with y = -1 unchanged.

    The tag's likelihood is ``reliability`` when it names the song's genre and the rest shared
    evenly among the other genres, so p(g | tag) is proportional to p(g) * reliability for the
    tagged genre and p(g) * (1 - reliability) / (G - 1) for the others."""
    if not 0.0 < reliability < 1.0:
        raise ValueError(f"tag reliability is a probability strictly between 0 and 1, got {reliability!r}")
    tagged = np.flatnonzero(y >= 0)
    if not len(tagged):
        return p
    likelihood = np.full((len(tagged), p.shape[1]), (1.0 - reliability) / (p.shape[1] - 1))
    likelihood[np.arange(len(tagged)), y[tagged]] = reliability
    out = p.copy()
    posterior = p[tagged] * likelihood
    out[tagged] = posterior / posterior.sum(axis=1, keepdims=True)
    return out


def sharpen(p: np.ndarray, temperature: float) -> np.ndarray:
    """p ** (1 / temperature), renormalised: below 1 sharpens, above 1 flattens."""
    if temperature == 1.0:
        return p
    return _softmax(np.log(np.maximum(p, 1e-300)) / temperature)


def calibrate(raw: np.ndarray, prior: np.ndarray, y: np.ndarray, C: float, seed: int) -> tuple[float, float]:
    """(pseudo-count, temperature) with the least log loss on 3-fold out-of-fold predictions."""
    from scipy.optimize import minimize_scalar

    pieces = []  # per fold: (test rows, classifier, training counts)
    for fit_rows, test_rows in folds_of(y, 3, seed):
        counts = np.bincount(y[fit_rows], minlength=len(GENRES)).astype(np.float64)
        classifier = train(raw[fit_rows], y[fit_rows], C) if np.count_nonzero(counts) >= 2 else None
        pieces.append((test_rows, classifier, counts))
    rows = np.arange(len(y))
    best = (math.inf, PSEUDO_COUNT, 1.0)
    for pseudo_count in PSEUDO_COUNTS:
        log_p = np.zeros((len(y), len(GENRES)))
        for test_rows, classifier, counts in pieces:
            p = blend(classifier, counts, raw[test_rows], prior[test_rows], pseudo_count)
            log_p[test_rows] = np.log(np.maximum(p, 1e-300))

        def loss(log_t: float) -> float:
            z = log_p / math.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-np.mean(z[rows, y] - np.log(np.exp(z).sum(axis=1))))

        fitted = minimize_scalar(loss, bounds=(math.log(0.25), math.log(4.0)), method="bounded")
        if fitted.fun < best[0] - 1e-9:
            best = (fitted.fun, pseudo_count, math.exp(fitted.x))
    return best[1], best[2]


def folds_of(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, shuffled (fit rows, test rows) splits; fewer folds when the commonest genre is rarer."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if int(np.bincount(y).max()) < 2:  # every genre tagged once: nothing to stratify
        return list(KFold(n_splits=min(folds, len(y)), shuffle=True, random_state=seed).split(y))
    k = min(folds, int(np.bincount(y).max()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only n members"
        return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
