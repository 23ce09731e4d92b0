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
