"""Soft membership and its spread by their definitions (docs/algorithms.md, *Soft
membership*), on tiny tables."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation import algorithms
from segmentation.algorithms import probabilities


def test_a_spread_below_one_makes_members_surer_of_their_nearest_centroid():
    """exp(-d^2 / (2 sigma^2)) per centroid: at 1 from one centroid and 3 from the other, the
    odds are exp((9 - 1) / (2 sigma^2)), exp(16) at sigma 0.5."""
    centres = np.array([[0.0, 0.0], [4.0, 0.0]])
    p = probabilities(np.array([[1.0, 0.0]]), centres, sigma=0.5)
    assert p[0, 0] == pytest.approx(1 / (1 + np.exp(-16)), rel=1e-12)
    assert p.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("features", [1, 3])
def test_sigma_is_per_feature_whatever_the_number_of_features(features):
    """Every member 1 from its centroid along one axis: the squared distance 1 spread over
    the features gives sigma sqrt(1 / features)."""
    X = np.zeros((4, features))
    X[:, 0] = [0.0, 2.0, 10.0, 12.0]
    centres = np.zeros((2, features))
    centres[:, 0] = [1.0, 11.0]
    labels = np.array([0, 0, 1, 1])
    assert algorithms.spread(X, centres, labels, np.ones(4, bool)) == pytest.approx(
        np.sqrt(1 / features))


def test_with_no_typical_member_sigma_is_taken_over_every_member():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 4.0]])
    centres = np.array([[1.0, 0.0], [10.0, 2.0]])
    labels = np.array([0, 0, 1, 1])
    assert algorithms.spread(X, centres, labels, np.zeros(4, bool)) == pytest.approx(
        np.sqrt((1 + 1 + 4 + 4) / 4 / 2))


def test_without_a_spread_the_probabilities_use_a_spread_of_one():
    """No spread recorded, or a spread of 0 (every typical member on its centroid): the
    probabilities are those of a spread of 1, finite and summing to 1 per row."""
    X = np.array([[0.0, 0.0], [1.2, 0.0], [3.0, 0.5]])
    centres = np.array([[0.0, 0.0], [2.0, 0.0]])
    unit = probabilities(X, centres, sigma=1.0)
    for sigma in (None, 0.0):
        np.testing.assert_array_equal(probabilities(X, centres, sigma=sigma), unit)
    assert np.allclose(unit.sum(axis=1), 1.0)
    assert not np.allclose(probabilities(X, centres, sigma=2.0), unit)


def noise() -> np.ndarray:
    """No groups: EM's restarts end in different optima (1, 2 and 3 restarts all differ)."""
    return np.random.default_rng(5).normal(size=(120, 2))


def test_the_published_mixture_restarts_three_times_and_a_bootstrap_refit_once():
    """docs/algorithms.md: gmm is scikit-learn's full-covariance mixture with 3 restarts from
    k-means; the bootstrap refits (fewer than 10 k-means restarts asked for) run EM once."""
    from sklearn.mixture import GaussianMixture

    X = noise()

    def means(restarts: int) -> np.ndarray:
        return GaussianMixture(4, covariance_type="full", n_init=restarts,
                               random_state=0).fit(X).means_

    assert algorithms.GMM_RESTARTS == 3
    published = algorithms.fit_clusters("gmm", X, 4, seed=0, n_init=10, min_size=5)
    refit = algorithms.fit_clusters("gmm", X, 4, seed=0, n_init=4, min_size=5)
    np.testing.assert_array_equal(published.centres, means(3))
    np.testing.assert_array_equal(refit.centres, means(1))
    assert not np.array_equal(means(3), means(1)) and not np.array_equal(means(2), means(1))
    np.testing.assert_array_equal(algorithms.fit_clusters("gmm", X, 4, seed=0, n_init=11,
                                                          min_size=5).centres, means(3))


def pairs(n_pairs: int) -> np.ndarray:
    """``n_pairs`` tight pairs of rows, far apart."""
    return np.repeat(np.arange(n_pairs) * 50.0, 2)[:, None] + np.tile([0.0, 0.1], n_pairs)[:, None]


def test_hdbscan_runs_from_room_for_two_regions_and_otherwise_calls_every_row_noise():
    """Two regions of ``min_size`` need 2 x min_size rows (and a region at least 2): with
    fewer, every row is noise (-1) and there is no region; from there HDBSCAN looks."""
    def fit(X, min_size):
        return algorithms.fit_clusters("hdbscan", X, None, seed=0, n_init=10, min_size=min_size)

    too_few = fit(pairs(2)[:3], 2)
    assert too_few.labels.tolist() == [-1, -1, -1] and too_few.centres.shape == (0, 1)
    assert sorted(set(fit(pairs(2), 2).labels)) == [0, 1]          # 4 rows: two regions of 2
    assert sorted(set(fit(pairs(3), 2).labels)) == [0, 1, 2]
    five = np.r_[np.zeros(5), np.full(5, 50.0)][:, None] + np.tile(np.linspace(0, .1, 5), 2)[:, None]
    assert sorted(set(fit(five, 5).labels)) == [0, 1]              # exactly 2 x 5 rows
    assert set(fit(five[:9], 5).labels) == {-1}
    assert fit(pairs(2), 1).labels.min() >= 0                       # a region has 2 rows at least


def test_an_unknown_algorithm_is_named_with_the_known_ones():
    with pytest.raises(ValueError) as refused:
        algorithms.fit_clusters("kmedoids", np.zeros((4, 1)), 2, seed=0, n_init=10, min_size=2)
    assert str(refused.value) == "unknown algorithm 'kmedoids'; one of kmeans, gmm, agglomerative, hdbscan"
