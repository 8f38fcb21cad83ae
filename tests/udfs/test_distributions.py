"""udfs.distributions: histograms on fixed bins, the Jensen–Shannon divergence, the Wasserstein
distance and the Fréchet distance, against answers worked out by hand (closed forms for
Gaussians, not the code's own formula)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from songlake.udfs.distributions import (
    FRECHET_NAME, KEYS, TEMPO_EDGES, compare_attribute, fit_gaussian, frechet_distance, frechet_songlake_embedding,
    histogram, js_divergence, wasserstein,
)


# --- Jensen–Shannon ---------------------------------------------------------------------------

def test_js_is_zero_for_identical_histograms_and_one_bit_for_disjoint_ones():
    assert js_divergence([3, 1, 0, 6], [3, 1, 0, 6]) == 0.0
    assert js_divergence([3, 1, 0, 6], [30, 10, 0, 60]) == pytest.approx(0.0, abs=1e-12)  # counts are normalised
    assert js_divergence([5, 0, 0], [0, 2, 7]) == pytest.approx(1.0)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)


def test_js_of_half_overlapping_histograms_is_half_a_bit():
    # p = (1/2, 1/2, 0), q = (0, 1/2, 1/2), m = (1/4, 1/2, 1/4): KL(p||m) = 1/2 log2 2 + 1/2 log2 1 = 1/2
    assert js_divergence([1, 1, 0], [0, 1, 1]) == pytest.approx(0.5)


def test_smoothing_pulls_disjoint_histograms_together():
    assert js_divergence([5, 0], [0, 5], smoothing=0.5) < js_divergence([5, 0], [0, 5])


def test_js_refuses_histograms_it_cannot_compare():
    with pytest.raises(ValueError, match="same bins"):
        js_divergence([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative counts"):
        js_divergence([-1.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="non-empty"):
        js_divergence([0, 0], [1, 1])


# --- histograms and Wasserstein -----------------------------------------------------------------

def test_keys_fall_in_24_classes_whatever_their_spelling():
    bins, counts = histogram("key", ["Db major", "C# major", "a minor", None, "A minor"])
    assert bins == KEYS and len(bins) == 24
    assert counts[KEYS.index("C# major")] == 2 and counts[KEYS.index("A minor")] == 2 and counts.sum() == 4


def test_tempo_bins_are_log_spaced_with_room_either_side():
    bins, counts = histogram("tempo", [30.0, 100.0, 101.0, 300.0, float("nan")])
    assert bins[0] == "< 40" and bins[-1] == ">= 240" and len(bins) == 14
    assert counts[0] == 1 and counts[-1] == 1 and counts.max() == 2 and counts.sum() == 4
    ratios = np.diff(np.log(TEMPO_EDGES))
    assert TEMPO_EDGES[0] == 40.0 and TEMPO_EDGES[-1] == pytest.approx(240.0)
    assert np.allclose(ratios, math.log(1.161), atol=1e-3)  # each bin 16 % wider than the one below


def test_wasserstein_of_a_shifted_sample_is_the_shift():
    sample = np.random.default_rng(0).normal(-14, 2, 200)
    assert wasserstein(sample + 3.0, sample) == pytest.approx(3.0)
    assert wasserstein([1.0, 2.0], [1.0, 2.0]) == 0.0


def test_compare_attribute_gives_both_histograms_and_both_divergences():
    found = compare_attribute("loudness", [-13.0, -12.5, -9.0], [-13.5, -13.0, -9.5])
    assert found.unit == "LUFS" and found.n_generated == found.n_reference == 3
    assert found.wasserstein == pytest.approx(0.5) and found.js == 0.0  # the same 2 LU bins
    genre = compare_attribute("genre", ["rock", "rock"], ["jazz"])
    assert genre.js == pytest.approx(1.0) and genre.wasserstein is None


def test_values_that_cannot_be_of_the_attribute_are_named():
    with pytest.raises(ValueError, match="unknown key 'H major'"):
        histogram("key", ["H major"])
    with pytest.raises(ValueError, match="'techno' is not one of"):
        histogram("genre", ["techno"])
    with pytest.raises(ValueError, match="unknown attribute 'bpm'"):
        histogram("bpm", [120.0])
    with pytest.raises(ValueError, match="finite numbers"):
        histogram("tempo", [[120.0, 121.0]])


def test_an_empty_side_gives_no_divergence_and_a_warning():
    with pytest.warns(UserWarning, match="no generation has a value"):
        found = compare_attribute("tempo", [None, None], [120.0])
    assert found.js is None and found.wasserstein is None and found.n_reference == 1


# --- Fréchet ------------------------------------------------------------------------------------

def test_frechet_of_one_dimensional_gaussians_is_the_mean_and_spread_difference():
    # W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)


def test_frechet_of_gaussians_sharing_their_axes():
    # covariances R diag(a) R^T and R diag(b) R^T commute: sum (sqrt a - sqrt b)^2 plus the means
    rng = np.random.default_rng(1)
    rotation, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a, b = np.array([1.0, 4.0, 9.0, 0.25, 2.0]), np.array([4.0, 1.0, 9.0, 1.0, 8.0])
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    found = frechet_distance(mu1, rotation @ np.diag(a) @ rotation.T, mu2, rotation @ np.diag(b) @ rotation.T)
    assert found == pytest.approx(expected, rel=1e-9)


def test_frechet_of_two_dimensional_gaussians_on_other_axes():
    # For 2x2 positive definite M, Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)); with M = S1^(1/2) S2 S1^(1/2),
    # Tr M = Tr(S1 S2) and det M = det S1 det S2.
    s1 = np.array([[2.0, 0.6], [0.6, 1.0]])
    s2 = np.array([[1.0, -0.4], [-0.4, 3.0]])
    cross = math.sqrt(np.trace(s1 @ s2) + 2 * math.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = 1.0 ** 2 + 2.0 ** 2 + np.trace(s1) + np.trace(s2) - 2 * cross
    assert frechet_distance([0.0, 0.0], s1, [1.0, -2.0], s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance([0.0, 0.0], s1, [0.0, 0.0], s1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal(0.0, 1.0, size=(20000, 3)) * np.array([1.0, 2.0, 1.0]) + np.array([0.5, 0.0, 0.0])
    found = frechet_songlake_embedding(a, b)
    assert found.name == FRECHET_NAME == "frechet_songlake_embedding" and "not FAD" in found.note
    assert found.distance == pytest.approx(0.25 + 1.0, abs=0.06)  # 0.5^2 + (1 - 2)^2, give or take sampling
    assert (found.n_generated, found.n_reference, found.dim, found.shrinkage_generated) == (20000, 20000, 3, 0.0)


def test_fewer_vectors_than_dimensions_are_shrunk_and_warned_about():
    rng = np.random.default_rng(3)
    few, many = rng.normal(size=(20, 64)), rng.normal(size=(300, 64))
    with pytest.warns(UserWarning, match="20 generations in 64 dimensions: the covariance is singular"):
        found = frechet_songlake_embedding(few, many)
    assert 0 < found.shrinkage_generated <= 1 and found.shrinkage_reference == 0.0 and found.distance > 0
    _, covariance, weight = fit_gaussian(few)
    assert weight > 0 and np.linalg.matrix_rank(covariance) == 64  # invertible once shrunk


def test_frechet_needs_two_vectors_a_side_and_says_so():
    with pytest.warns(UserWarning, match="needs two embeddings a side"):
        found = frechet_songlake_embedding(np.zeros((0, 0)), np.ones((5, 4)))
    assert found.distance is None and found.n_generated == 0
    with pytest.raises(ValueError, match="shaped \\(n, d\\)"):
        frechet_songlake_embedding(np.ones(4), np.ones((5, 4)))
    with pytest.raises(ValueError, match="covariances \\(d, d\\)"):
        frechet_distance([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2))
