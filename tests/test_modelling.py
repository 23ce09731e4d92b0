"""Shared modelling pieces: k selection, the k-means model, naming."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from segmentation.clustering import SegmentModel, segment
from segmentation.kselect import choose_k, find_knee
from segmentation.naming import assign_names


@pytest.fixture(scope="module")
def blobs():
    X, truth = make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=3)
    return X, truth


def test_segment_finds_planted_k_and_is_deterministic(blobs):
    X, _ = blobs
    first, second = segment(X, k_max=8), segment(X, k_max=8)
    assert first.selection.k == 4
    assert np.array_equal(first.labels, second.labels)
    assert first.selection.metrics["k"].tolist() == list(range(2, 9))


def test_segment_zero_is_the_largest(blobs):
    X, _ = blobs
    labels = SegmentModel(3).fit(X[:250]).labels_
    sizes = np.bincount(labels)
    assert list(sizes) == sorted(sizes, reverse=True)


def test_model_needs_restarts():
    with pytest.raises(ValueError, match="n_init"):
        SegmentModel(3, n_init=1)


def test_knee_none_for_a_straight_line():
    assert find_knee([2, 3, 4, 5], [10.0, 8.0, 6.0, 4.0]) is None
    assert find_knee([2, 3, 4, 5, 6], [100, 40, 20, 18, 17]) == 3


def metrics(sil, stab):
    return pd.DataFrame({"k": range(2, 2 + len(sil)), "silhouette": sil, "stability": stab})


def test_choose_k_prefers_the_elbow_when_near_best():
    k, why = choose_k(metrics([0.5, 0.6, 0.61], [0.9, 0.9, 0.9]), knee=3)
    assert k == 3 and "elbow" in why


def test_choose_k_ignores_unstable_k():
    k, why = choose_k(metrics([0.5, 0.6, 0.7], [0.9, 0.9, 0.3]), knee=None)
    assert k == 3 and "highest silhouette" in why


def test_choose_k_falls_back_when_nothing_is_stable():
    k, why = choose_k(metrics([0.5, 0.7], [0.1, 0.2]), knee=None)
    assert k == 3 and "all k considered" in why


def test_assign_names_is_one_to_one_with_fallback():
    scores = pd.DataFrame({"A": [1.0, 0.9, -1], "B": [0.2, 0.8, -1]}, index=[0, 1, 2])
    names = assign_names(scores, lambda s: "Other")
    assert names == {0: "A", 1: "B", 2: "Other"}


def test_assign_names_suffixes_repeated_fallbacks():
    names = assign_names(pd.DataFrame(index=[0, 1]), lambda s: "Average")
    assert names == {0: "Average", 1: "Average (2)"}
