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
from segmentation.comparison import (COLUMNS, Published, compare, comparison_rows, eligible,
                                     heldout_loglik, neighbour_ratio, noise_flags, recommend,
                                     scores)


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


def test_every_score_of_a_row_by_its_definition():
    """The row's scores are the named measures of these labels: nothing renamed, nothing
    measured on other labels or with another seed (silhouette is sampled past 2,500 rows)."""
    from sklearn.metrics import adjusted_rand_score, davies_bouldin_score

    from segmentation.kselect import sampled_silhouette

    X, labels = make_blobs(2_600, centers=[[0, 0], [3, 0], [0, 3]], cluster_std=1.2,
                           random_state=4)
    labels = np.where(np.arange(2_600) < 300, 2, labels)    # segment 2 larger than the others
    atypical = np.arange(2_600) % 13 == 0
    noise = np.arange(2_600) % 26 == 0
    other = np.where(labels == 2, 1, labels)                 # a published segmentation of two
    measured = scores(X, labels, np.full(2_600, 0.9), atypical, noise, other, seed=7,
                      min_confidence=0.6)
    assert sampled_silhouette(X, labels, 7) != sampled_silhouette(X, labels, 8)
    assert measured == {
        "feasible": True, "segments": 3,
        "sizes": sorted(np.bincount(labels).tolist(), reverse=True),
        "silhouette": sampled_silhouette(X, labels, 7),
        "davies_bouldin": davies_bouldin_score(X, labels),
        "noise_share": noise.mean(), "atypical_share": atypical.mean(),
        "low_confidence_share": 0.0, "neighbour_ratio": neighbour_ratio(X, labels),
        "heldout_loglik": heldout_loglik(X, labels, 7),
        "ari_with_published": adjusted_rand_score(other, labels)}
    assert measured["sizes"][0] > measured["sizes"][-1]      # largest first


def test_no_published_members_are_no_noise_flags():
    flags = noise_flags([])
    assert flags.dtype == bool and flags.shape == (0,)


def test_the_published_row_on_a_sample_keeps_its_algorithm_and_stability():
    labels = np.arange(10) % 2
    published = Published("gmm", labels, 0.83, np.linspace(0, 1, 10), labels == 1, labels == 0)
    sample = np.array([1, 4, 7])
    own = published.rows(sample)
    assert (own.algorithm, own.stability) == ("gmm", 0.83)
    assert own.labels.tolist() == [1, 0, 1] and own.probability.tolist() == \
        published.probability[sample].tolist()
    assert own.atypical.tolist() == [True, False, True]
    assert own.noise.tolist() == [False, True, False]


def test_the_table_marks_the_published_row_and_each_rule_as_booleans(monkeypatch):
    """Measured without refitting (only the published algorithm is compared): the run's own
    row, named so; `feasible`, `eligible`, `recommended` are the rules' booleans, and a large
    table's sample is drawn with the run's seed."""
    from segmentation import comparison

    monkeypatch.setattr(comparison, "COMPARE_SAMPLE", 50)
    X, labels = make_blobs(400, centers=3, random_state=2)
    published = Published("kmeans", labels, 0.9, np.full(400, 0.9), np.zeros(400, bool),
                          np.zeros(400, bool))
    def sample_sizes(*seed):
        return sorted(np.bincount(labels[comparison_rows(400, *seed)]).tolist(), reverse=True)

    assert len({str(sample_sizes(4)), str(sample_sizes(6)), str(sample_sizes())}) == 3
    for seed in (4, 6):
        measured = compare(X, published, seed=seed, algorithms=("kmeans",))["sizes"].item()
        assert measured == sample_sizes(seed), seed
    table = compare(X, published, seed=4, algorithms=("kmeans",))
    assert table["note"].item() == "the run's own segments"
    assert table[["published", "feasible", "eligible", "recommended"]].dtypes.eq(bool).all()
    assert table[["published", "feasible", "eligible", "recommended"]].iloc[0].tolist() == \
        [True] * 4
    unstable = compare(X, Published("kmeans", labels, 0.5, published.probability,
                                    published.atypical, published.noise), algorithms=("kmeans",))
    assert unstable[["feasible", "eligible", "recommended"]].iloc[0].tolist() == \
        [True, False, False]
    assert unstable["eligible"].dtype == bool


def test_a_row_whose_stability_was_not_measured_is_not_eligible():
    table = rows(kmeans=(3, 0.9, 0, 0.03, -2.0), gmm=(3, np.nan, 0, 0.0, 5.0))
    assert eligible(table).tolist() == [True, False]
    assert recommend(table)[0] == "kmeans"


def test_each_recommendation_says_why_word_for_word():
    base = dict(kmeans=(3, 0.9, 0, 0.030, -2.0))
    assert recommend(rows(kmeans=(3, 0.6, 0, 0.03, -2.0))) == (None, (
        "no algorithm gives segments that reproduce under resampling (stability >= 0.75) with "
        "at most 10% noise: the structure is weak whichever algorithm is used, so none is "
        "recommended"))
    assert recommend(rows(**base, hdbscan=(3, 0.9, 0, 0.005, -2.5))) == ("hdbscan", (
        "hdbscan: its segment boundaries cross 0.005 of the near-neighbour pairs chance would, "
        "k-means' 0.030: k-means cuts through dense regions that it keeps whole"))
    assert recommend(rows(**base, gmm=(3, 0.9, 0, 0.030, -1.9))) == ("gmm", (
        "gmm: one Gaussian per segment fits held-out members better by 0.10 nats per member "
        "than with k-means' segments, with boundaries no less in the gaps: groups of "
        "different spreads or shapes"))
    assert recommend(rows(**base, gmm=(3, 0.9, 0, 0.030, -1.99))) == ("kmeans", (
        "kmeans: no other algorithm separates dense regions or fits held-out members clearly "
        "better, and its segments reproduce"))
    assert recommend(rows(kmeans=(3, 0.6, 0, 0.03, -2.0), gmm=(3, 0.8, 0, 0.03, -2.1))) == (
        "gmm", "gmm: k-means' segments do not reproduce under resampling; gmm's do "
               "(stability 0.80)")
