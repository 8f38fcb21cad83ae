"""Distributions: how far a model's generations lie from a reference slice of the lake, per
attribute (histograms and divergences) and over the lake's embedding (a Fréchet distance).

``compare_attribute(name, generated, reference) -> Histograms`` for one of ``ATTRIBUTES``;
``frechet_songlake_embedding(generated, reference) -> Frechet`` for two sets of embeddings.
The pieces are public too: ``histogram``, ``js_divergence``, ``wasserstein``,
``fit_gaussian`` and ``frechet_distance``.

Conventions (the bins are fixed, so two comparisons of the same attribute share their bins):

- ``key``: 24 classes, tonic and mode, named as the songs view names keys ('C major', 'F#
  minor', spelt with ``PITCH_CLASSES``; 'Db major' counts as 'C# major'). Categorical.
- ``tempo``: bpm in log-spaced bins, 12 from 40 to 240 BPM (each 16 % wide, about four times
  the 4 % a tempo estimate is allowed), with one bin below and one above. The Wasserstein
  distance is in BPM.
- ``genre``: the top genre, one of udfs.genre.GENRES. Categorical.
- ``loudness``: integrated loudness in LUFS, bins 2 LU wide from -40 to -4, one below and one
  above. The Wasserstein distance is in LU.
- ``section_length``: the length in seconds of every section of every song, pooled; bins edged
  at 0, 5, 10, 15, 20, 30, 45, 60, 90 and 120 s, one above. The Wasserstein distance is in
  seconds.

Divergences:

- ``js``: the Jensen–Shannon divergence of the two histograms' relative frequencies in bits
  (base 2): 0 for identical histograms, 1 for disjoint ones. No smoothing by default: JS
  compares each side with their mixture, which is never zero where either side is not, so
  empty bins need none; ``smoothing`` adds that many pseudo-counts to every bin of both sides
  first (0.5 is Jeffreys'). With few values JS is biased upwards (two samples of 20 from one
  distribution over 24 keys differ by chance), so read it with ``n_generated`` and
  ``n_reference``, and compare models on slices of similar size.
- ``wasserstein``: for numeric attributes, the 1-D Wasserstein (earth mover's) distance between
  the two samples themselves, not their histograms, in the attribute's unit.

The Fréchet distance is that between two Gaussians fitted to the lake's own embedding
(udfs.embedding, descriptor-v1, 64 dimensions) of the generations and of the reference:
|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). It is named ``frechet_songlake_embedding``: it
is *not* the Fréchet Audio Distance (FAD), which uses VGGish, PANNs or CLAP embeddings that
cannot be loaded here, so its values are not comparable with published FAD figures. With n
vectors in d dimensions the sample covariance is singular when n <= d; then (and only then) it
is shrunk towards a multiple of the identity with the Ledoit–Wolf weight, and a warning says so.
The estimate is biased upwards for small n, like FAD's.

Values that are None or NaN are left out and counted neither side; an empty side gives
histograms with None divergences and a warning, never an error.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from songlake.udfs._harte import PITCH_CLASSES, key_name
from songlake.udfs.genre import GENRES

FRECHET_NAME = "frechet_songlake_embedding"
FRECHET_NOTE = ("Fréchet distance between Gaussians fitted to songlake's descriptor-v1 embedding; "
                "not FAD (no VGGish, PANNs or CLAP here), not comparable with published FAD values")
KEYS = tuple(f"{tonic} {mode}" for mode in ("major", "minor") for tonic in PITCH_CLASSES)
TEMPO_EDGES = tuple(float(x) for x in np.geomspace(40.0, 240.0, 13))
LOUDNESS_EDGES = tuple(float(x) for x in np.arange(-40.0, -3.0, 2.0))
SECTION_EDGES = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)


@dataclass(frozen=True)
class Attribute:
    name: str
    unit: str | None  # None: categorical
    classes: tuple[str, ...] = ()  # categorical: the classes in order
    edges: tuple[float, ...] = ()  # numeric: bin edges; a bin below the first and above the last


ATTRIBUTES: dict[str, Attribute] = {
    "key": Attribute("key", None, classes=KEYS),
    "tempo": Attribute("tempo", "BPM", edges=TEMPO_EDGES),
    "genre": Attribute("genre", None, classes=tuple(GENRES)),
    "loudness": Attribute("loudness", "LUFS", edges=LOUDNESS_EDGES),
    "section_length": Attribute("section_length", "s", edges=SECTION_EDGES),
}


@dataclass(frozen=True)
class Histograms:
    """One attribute's two histograms over the same bins, and how far apart they are."""

    attribute: str
    unit: str | None
    bins: tuple[str, ...]  # bin labels: a class, or '[lo, hi)' in the unit
    generated: tuple[int, ...]  # counts per bin
    reference: tuple[int, ...]
    js: float | None  # bits; None when a side is empty
    wasserstein: float | None  # in the unit; None for categorical attributes or an empty side
    smoothing: float = 0.0  # pseudo-counts added to every bin before JS

    @property
    def n_generated(self) -> int:
        return sum(self.generated)

    @property
    def n_reference(self) -> int:
        return sum(self.reference)


@dataclass(frozen=True)
class Frechet:
    """The Fréchet distance over the lake's embedding (see the module docstring), with the sizes."""

    distance: float | None  # None when a side has fewer than two vectors
    n_generated: int
    n_reference: int
    dim: int
    shrinkage_generated: float  # the Ledoit–Wolf weight used on each side (0: the sample covariance)
    shrinkage_reference: float
    name: str = FRECHET_NAME
    note: str = FRECHET_NOTE


# --- histograms and divergences -------------------------------------------------------------

def histogram(attribute: str, values: Iterable) -> tuple[tuple[str, ...], np.ndarray]:
    """(bin labels, counts) of one attribute's values (see the conventions); None and NaN are
    left out. ValueError for a value that cannot be of the attribute."""
    spec = _attribute(attribute)
    values = _present(values)
    if spec.unit is None:
        index = {name: i for i, name in enumerate(spec.classes)}
        counts = np.zeros(len(spec.classes), np.int64)
        for value in values:
            name = key_name(value) if attribute == "key" else value
            if name not in index:
                raise ValueError(f"{attribute}: {value!r} is not one of {', '.join(spec.classes)}")
            counts[index[name]] += 1
        return spec.classes, counts
    numbers = _numbers(attribute, values)
    edges = np.asarray(spec.edges)
    counts = np.bincount(np.searchsorted(edges, numbers, side="right"), minlength=len(edges) + 1)
    labels = (f"< {_fmt(edges[0])}", *(f"[{_fmt(a)}, {_fmt(b)})" for a, b in zip(edges[:-1], edges[1:])),
              f">= {_fmt(edges[-1])}")
    return labels, counts.astype(np.int64)


def js_divergence(p: Sequence[float], q: Sequence[float], smoothing: float = 0.0) -> float:
    """The Jensen–Shannon divergence in bits of two histograms (counts or frequencies over the
    same bins), each normalised to sum to 1 after adding ``smoothing`` to every bin."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"js_divergence needs two histograms over the same bins, got shapes {p.shape} and {q.shape}")
    if smoothing < 0 or not math.isfinite(smoothing):
        raise ValueError(f"smoothing is a non-negative pseudo-count per bin, got {smoothing!r}")
    if (p < 0).any() or (q < 0).any() or not (np.isfinite(p).all() and np.isfinite(q).all()):
        raise ValueError("js_divergence needs finite, non-negative counts (log-probabilities given?)")
    p, q = p + smoothing, q + smoothing
    if p.sum() == 0 or q.sum() == 0:
        raise ValueError("js_divergence needs two non-empty histograms")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return float(min(1.0, max(0.0, (_kl(p, m) + _kl(q, m)) / 2)))


def wasserstein(generated: Iterable[float], reference: Iterable[float]) -> float:
    """The 1-D Wasserstein distance between two samples, in their unit."""
    from scipy.stats import wasserstein_distance

    a, b = _numbers("wasserstein", _present(generated)), _numbers("wasserstein", _present(reference))
    if not a.size or not b.size:
        raise ValueError("wasserstein needs two non-empty samples")
    return float(wasserstein_distance(a, b))


def compare_attribute(attribute: str, generated: Iterable, reference: Iterable,
                      smoothing: float = 0.0) -> Histograms:
    """Both histograms of one attribute, their JS divergence and (numeric attributes) the
    Wasserstein distance of the samples. An empty side gives None divergences, with a warning."""
    spec = _attribute(attribute)
    generated, reference = _present(generated), _present(reference)
    bins, ours = histogram(attribute, generated)
    _, theirs = histogram(attribute, reference)
    js = distance = None
    if ours.sum() and theirs.sum():
        js = round(js_divergence(ours, theirs, smoothing), 6)
        if spec.unit is not None:
            distance = round(wasserstein(generated, reference), 6)
    else:
        warnings.warn(f"{attribute}: {'no generation' if not ours.sum() else 'no reference song'} has a value: "
                      "nothing to compare", stacklevel=2)
    return Histograms(attribute, spec.unit, bins, tuple(int(c) for c in ours), tuple(int(c) for c in theirs), js,
                      distance, smoothing)


# --- the Fréchet distance -------------------------------------------------------------------

def fit_gaussian(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, covariance, shrinkage) of row vectors (n, d): the sample covariance (ddof 1) when
    n > d, else the Ledoit–Wolf shrunk covariance (the weight returned; 0 when not shrunk)."""
    x = _matrix(vectors)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"a Gaussian needs at least two vectors, got {n}")
    mean = x.mean(axis=0)
    if n > d:
        return mean, np.cov(x, rowvar=False, ddof=1), 0.0
    from sklearn.covariance import ledoit_wolf

    covariance, weight = ledoit_wolf(x)
    return mean, covariance, float(weight)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Fréchet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2):
    |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))."""
    from scipy.linalg import sqrtm

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"frechet_distance needs means of shape (d,) and covariances (d, d), got {mu1.shape}, "
                         f"{sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    root = sqrtm(sigma1 @ sigma2)
    if not np.isfinite(root).all():  # nearly singular: a tiny ridge, as pytorch-fid does
        ridge = np.eye(d) * 1e-6
        root = sqrtm((sigma1 + ridge) @ (sigma2 + ridge))
    root = np.real(root)
    distance = float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root))
    return max(0.0, distance)


def frechet_songlake_embedding(generated: np.ndarray, reference: np.ndarray) -> Frechet:
    """The Fréchet distance between Gaussians fitted to two sets of the lake's embeddings
    (rows; zero vectors, which silence gives, are left out). Not FAD: see the module docstring."""
    a, b = _nonzero(_matrix(generated)), _nonzero(_matrix(reference))
    dim = max(a.shape[1], b.shape[1])
    if a.shape[1] != b.shape[1] and a.size and b.size:
        raise ValueError(f"the two sets of embeddings differ in size: {a.shape[1]} and {b.shape[1]} values")
    if len(a) < 2 or len(b) < 2:
        warnings.warn(f"{FRECHET_NAME}: needs two embeddings a side, has {len(a)} generated and {len(b)} "
                      "reference", stacklevel=2)
        return Frechet(None, len(a), len(b), dim, 0.0, 0.0)
    for side, n in (("generations", len(a)), ("reference songs", len(b))):
        if n <= dim:
            warnings.warn(f"{FRECHET_NAME}: {n} {side} in {dim} dimensions: the covariance is singular, "
                          "shrunk towards the identity (Ledoit–Wolf)", stacklevel=2)
    mu1, s1, w1 = fit_gaussian(a)
    mu2, s2, w2 = fit_gaussian(b)
    return Frechet(round(frechet_distance(mu1, s1, mu2, s2), 8), len(a), len(b), dim, round(w1, 4), round(w2, 4))


# --- the parts ------------------------------------------------------------------------------

def _attribute(name: str) -> Attribute:
    if name not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {name!r}; the attributes are {', '.join(ATTRIBUTES)}")
    return ATTRIBUTES[name]


def _present(values: Iterable) -> list:
    if isinstance(values, (str, bytes)):
        raise ValueError("values are a sequence, not one string")
    return [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _numbers(attribute: str, values: list) -> np.ndarray:
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{attribute}: values must be numbers, got {values[:3]!r}...") from None
    if numbers.ndim != 1 or not np.isfinite(numbers).all():
        raise ValueError(f"{attribute}: values must be finite numbers (a list of lists given?)")
    return numbers


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def _fmt(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 or abs(x) >= 20 else f"{x:.1f}"


def _matrix(vectors) -> np.ndarray:
    x = np.asarray(vectors if not isinstance(vectors, list) or vectors else np.zeros((0, 0)), dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings are rows shaped (n, d), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinity")
    return x


def _nonzero(x: np.ndarray) -> np.ndarray:
    return x[np.linalg.norm(x, axis=1) > 0] if x.size else x
