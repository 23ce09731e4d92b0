"""Promises of segmentation/kselect.py the mutation run of issue 22 found untested: the k rule
of docs/customers.md on hand-made metric tables, no Prefect, no k-means."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation.kselect import choose_k, no_segments


def test_a_table_without_a_feasible_k_is_refused_not_given_a_k():
    """"A k whose segments cannot all reach the size floor is never chosen" (docs/customers.md):
    with none feasible there is nothing to choose, and the refusal says why."""
    infeasible = pd.DataFrame({"k": [2, 3], "feasible": [False, False], "stability": [0.9, 0.9],
                               "silhouette": [0.5, 0.4]})
    with pytest.raises(ValueError) as refused:
        choose_k(infeasible, knee=2)
    assert str(refused.value) == "no k in range gives segments that all reach the minimum size"


def test_gmm_takes_the_stable_k_of_lowest_bic_the_smaller_on_ties():
    """docs/algorithms.md: a Gaussian mixture gets the same stability check, then the lowest
    BIC among the candidates (an unstable k is not one, however low its BIC)."""
    table = pd.DataFrame({"k": [2, 3, 4, 5], "feasible": [True] * 4,
                          "stability": [0.9, 0.5, 0.9, 0.9], "silhouette": [0.3] * 4,
                          "bic": [1500.0, 900.0, 1234.5, 1234.5]})
    k, why, weak = choose_k(table, knee=None, by_bic=True)
    assert (k, weak) == (4, False)
    assert why.endswith("; lowest BIC 1,234.5 at k=4")


def test_the_refusal_says_k_means_failed_only_when_the_count_allows_two_segments():
    """docs/customers.md, small inputs: n members hold at most n // floor segments. At exactly
    2 x floor two segments are possible, so the refusal blames k-means' groups, not the count;
    one member fewer and it is the count."""
    at_two = str(no_segments(10, 5, False, "meters"))
    assert at_two == (
        "k-means finds no 2 segments of these 10 meters that both reach 5 members (the default "
        "floor: max(2% of the meters, 5)): one group stays smaller, so there are no segments to "
        "publish. Options: a smaller floor with --min-segment-size (e.g. --min-segment-size 2), "
        "or more meters. Nothing was published")
    assert str(no_segments(9, 5, False, "meters")).startswith(
        "9 meters cannot form 2 segments of at least 5 members each")
    assert str(no_segments(14, 5, True, "rows")).startswith("k-means finds no 2 segments")


def blobs(seed: int = 3) -> "np.ndarray":
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 6.0, -1.0]])
    return np.vstack([c + rng.normal(scale=[1.0, 0.6, 0.8], size=(60, 3)) for c in centres])


def test_bic_is_scikit_learn_s_for_the_same_full_covariance_mixture():
    """docs/algorithms.md: gmm's k is the lowest BIC, -2 log-likelihood + parameters x log n
    with (k - 1) + k d + k d (d + 1) / 2 parameters: scikit-learn's own BIC of a fitted
    full-covariance mixture, on the same rows."""
    from types import SimpleNamespace

    from sklearn.mixture import GaussianMixture

    from segmentation.kselect import bic

    X = blobs()
    mixture = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    model = SimpleNamespace(k_=3, mixture_={"weights": mixture.weights_, "means": mixture.means_,
                                            "covariances": mixture.covariances_})
    assert bic(X, model) == pytest.approx(mixture.bic(X), rel=1e-9)
    assert bic(X[:90], model) == pytest.approx(mixture.bic(X[:90]), rel=1e-9)


def test_a_given_k_is_measured_with_the_run_s_algorithm():
    """``--k`` with ``--algorithm gmm``: the k's metrics are the mixture's (its BIC recorded),
    not k-means' (which has none)."""
    from segmentation.kselect import fixed_k

    X = blobs()
    gmm = fixed_k(X, 3, algorithm="gmm", n_boot=2).metrics
    kmeans = fixed_k(X, 3, algorithm="kmeans", n_boot=2).metrics
    assert gmm["bic"].notna().all()
    assert kmeans["bic"].isna().all()
