"""The comparison's two scores by their definitions (docs/algorithms.md, *The comparison*),
computed here the slow, obvious way on small tables, and the rows it builds."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal
from sklearn.datasets import make_blobs

from segmentation.clustering import segment
from segmentation.comparison import (COLUMNS, Published, compare, comparison_rows, heldout_loglik,
                                     neighbour_ratio, recommend, scores)


def ratio_by_definition(X: np.ndarray, labels: np.ndarray, neighbours: int = 10) -> float:
    """Share of each member's nearest neighbours (all the others when fewer) in another
    segment, over 1 - sum of squared segment shares (a random partition of those sizes)."""
    n = min(neighbours, len(X) - 1)
    across = []
    for i in range(len(X)):
        distance = np.linalg.norm(X - X[i], axis=1)
        distance[i] = np.inf                                     # not its own neighbour
        across.extend(labels[np.argsort(distance, kind="stable")[:n]] != labels[i])
    shares = np.bincount(labels) / len(labels)
    return float(np.mean(across)) / (1 - float((shares ** 2).sum()))


def test_neighbour_ratio_is_the_share_across_over_chance():
    """Overlapping groups of unequal sizes, so every part of the definition shows."""
    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(1.5, 1, (20, 2))])
    labels = np.r_[np.zeros(40, int), np.ones(20, int)]
    assert neighbour_ratio(X, labels) == pytest.approx(ratio_by_definition(X, labels))
    assert neighbour_ratio(X, labels, neighbours=3) == pytest.approx(
        ratio_by_definition(X, labels, 3))


def test_a_table_of_fewer_than_eleven_members_uses_all_the_others():
    """Two groups of three: each member's 5 others are 2 of its own and 3 across (0.6), over
    chance 0.5."""
    X = np.array([[0.0], [0.1], [0.2], [9.0], [9.1], [9.2]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert neighbour_ratio(X, labels) == pytest.approx(1.2)


def loglik_by_definition(X: np.ndarray, labels: np.ndarray, train: np.ndarray) -> float:
    """Mean log density of the held-out rows under one Gaussian per segment (mean,
    covariance + 0.001 I, share of the training rows) fitted on the training rows; a
    segment of fewer than 2 training rows has no Gaussian."""
    from scipy.special import logsumexp

    parts = []
    for segment in sorted(set(labels.tolist()), reverse=True):      # order does not matter
        rows = X[train & (labels == segment)]
        if len(rows) < 2:
            continue
        covariance = np.cov(rows.T) + 1e-3 * np.eye(X.shape[1])
        parts.append(np.log(len(rows) / train.sum())
                     + multivariate_normal(rows.mean(axis=0), covariance).logpdf(X[~train]))
    return float(np.mean(logsumexp(parts, axis=0)))


def test_heldout_loglik_is_the_mean_log_density_of_the_other_half():
    """Segments of 1 and of exactly 2 training rows among wide and tight ones."""
    rng = np.random.default_rng(4)
    on_a_line = np.column_stack([np.linspace(-3.0, -2.0, 6), np.full(6, 4.0)])
    X = np.vstack([rng.normal(2.5, 0.3, (3, 2)), on_a_line,        # its held-out rows on it too
                   rng.normal(0, 1, (22, 2)) * [1, 3], rng.normal(5, 0.5, (22, 2))])
    labels = np.repeat([0, 1, 2, 3], [3, 6, 22, 22])
    train = np.random.default_rng(42).random(len(X)) < 0.5            # the seeded half
    assert [(train & (labels == s)).sum() for s in (0, 1)] == [1, 2]
    assert heldout_loglik(X, labels, seed=42) == pytest.approx(
        loglik_by_definition(X, labels, train))
    assert heldout_loglik(X, labels, seed=42) == heldout_loglik(X, labels, seed=42)


def test_heldout_loglik_is_undefined_without_a_segment_to_fit():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    assert np.isnan(heldout_loglik(X, np.array([0, 1, 2])))


def rows(**algorithms) -> pd.DataFrame:
    """A comparison table: per algorithm (segments, stability, noise, ratio, loglik)."""
    frame = pd.DataFrame([{"algorithm": a, "feasible": True, "segments": g, "stability": s,
                           "noise_share": n, "neighbour_ratio": r, "heldout_loglik": ll}
                          for a, (g, s, n, r, ll) in algorithms.items()])
    return frame.reindex(columns=COLUMNS)


def test_spread_wins_at_exactly_five_hundredths_of_a_nat():
    """0.05 nats per member "or more": the boundary itself, in exact binary (0.0 and 0.05)."""
    assert recommend(rows(kmeans=(3, 0.9, 0, 0.03, 0.0), gmm=(3, 0.9, 0, 0.03, 0.05)))[0] == "gmm"
    assert recommend(rows(kmeans=(3, 0.9, 0, 0.03, 0.0),
                          gmm=(3, 0.9, 0, 0.03, np.nextafter(0.05, 0))))[0] == "kmeans"


def test_two_segments_are_enough_to_be_eligible():
    base = dict(kmeans=(3, 0.9, 0, 0.03, -2.0))
    assert recommend(rows(**base, hdbscan=(2, 0.9, 0, 0.0, -2.5)))[0] == "hdbscan"
    assert recommend(rows(**base, hdbscan=(1, 0.9, 0, 0.0, -2.5)))[0] == "kmeans"


def test_without_a_kmeans_row_the_most_stable_eligible_algorithm_is_recommended():
    choice, why = recommend(rows(gmm=(3, 0.8, 0, 0.0, 5.0), agglomerative=(3, 0.9, 0, 0.5, -9.0)))
    assert choice == "agglomerative" and "stability 0.90" in why


def test_an_infeasible_kmeans_leaves_the_most_stable_eligible_algorithm():
    table = rows(kmeans=(np.nan,) * 5, gmm=(3, 0.8, 0, 0.0, 5.0),
                 agglomerative=(3, 0.9, 0, 0.5, -9.0))
    table.loc[0, "feasible"] = False
    assert recommend(table)[0] == "agglomerative"


def test_the_sample_is_distinct_members_in_their_order_and_the_same_every_time():
    sample = comparison_rows(5_000)
    assert len(sample) == len(np.unique(sample)) == 2_000
    assert np.array_equal(sample, np.sort(sample)) and sample.max() < 5_000
    assert np.array_equal(sample, comparison_rows(5_000))
    assert comparison_rows(2_000) is None and len(comparison_rows(2_001)) == 2_000


def test_low_confidence_is_strictly_below_the_threshold_and_loglik_uses_the_seed():
    X, labels = make_blobs(60, centers=[[0, 0], [6, 0]], cluster_std=1.5, random_state=2)
    probability = np.array([0.6, 0.59] + [0.9] * 58)
    none = np.zeros(60, bool)
    measured = scores(X, labels, probability, none, none, labels, seed=7, min_confidence=0.6)
    assert measured["low_confidence_share"] == 1 / 60
    assert measured["heldout_loglik"] == heldout_loglik(X, labels, 7)


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(240, centers=3, cluster_std=1.2, random_state=8)
    return X, Published.of(segment(X, k_min=4, k_max=4))


def test_each_other_algorithm_is_measured_with_the_run_s_k_settings_and_threshold(blobs):
    """k_min..k_max, a given k (never to HDBSCAN), 5 bootstrap resamples, the run's
    --min-confidence, and the time it took."""
    X, published = blobs
    started = time.perf_counter()
    table = compare(X, published, k_min=4, k_max=4, min_confidence=0.9,
                    algorithms=("kmeans", "gmm", "agglomerative", "hdbscan")).set_index("algorithm")
    took = time.perf_counter() - started
    fit = segment(X, k_min=4, k_max=4, n_boot=5, algorithm="gmm")
    gmm = table.loc["gmm"]
    assert gmm["segments"] == fit.model.k_ == 4 and gmm["stability"] == fit.selection.stability
    assert gmm["low_confidence_share"] == np.mean(fit.probability < 0.9)
    assert 0 < gmm["seconds"] <= took
    assert table.loc["agglomerative", "segments"] == 4       # Ward's elbow on 4..10 is at 8
    assert table.loc["hdbscan", "feasible"]
    given = compare(X, published, k=4, algorithms=("kmeans", "gmm", "hdbscan"))
    given = given.set_index("algorithm")
    assert given.loc["gmm", "segments"] == 4
    assert given.loc["gmm", "note"] == "k=4 given by the user (--k)"
    assert given.loc["hdbscan", "feasible"]


def test_an_infeasible_algorithm_s_row_says_how_long_it_took():
    one_blob = np.random.default_rng(1).normal(size=(300, 2))
    published = Published.of(segment(one_blob, min_size=20, k_max=3))
    started = time.perf_counter()
    table = compare(one_blob, published, min_size=20, k_max=3, algorithms=("kmeans", "hdbscan"))
    took = time.perf_counter() - started
    hdbscan = table.set_index("algorithm").loc["hdbscan"]
    assert not hdbscan["feasible"] and 0 < hdbscan["seconds"] <= took


def test_each_algorithm_is_measured_with_the_run_s_seed_and_in_its_unit():
    """An algorithm's row is its own ``segment`` of the sample with the run's seed (its
    stability follows it) and the run's unit in its rule (docs/algorithms.md)."""
    from segmentation.comparison import COMPARE_BOOTSTRAPS, measure

    X = make_blobs(n_samples=240, centers=3, cluster_std=2.5, random_state=7)[0]
    published = segment(X).labels

    def row(algorithm: str, seed: int) -> dict:
        return measure(X, algorithm, published, k=None, k_min=2, k_max=6, seed=seed,
                       min_size=None, unit="meters")

    own = segment(X, k_min=2, k_max=6, seed=5, n_boot=COMPARE_BOOTSTRAPS)
    assert row("kmeans", 5)["stability"] == own.selection.stability
    assert row("kmeans", 6)["stability"] != own.selection.stability
    assert "with a minimum cluster size of 5 meters (the size floor)" in row("hdbscan", 5)["note"]
