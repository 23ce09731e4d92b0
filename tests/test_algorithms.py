"""The four algorithms behind one model: each keeps the size floor, the seed, the contract's
labels and probabilities, and the rules docs/algorithms.md states."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from segmentation import algorithms, preflight
from segmentation.algorithms import ALGORITHMS, NOISE_REASON, probabilities
from segmentation.artifact import ModelArtifact, membership_of, segments_of
from segmentation.clustering import confidence_columns, segment
from segmentation.errors import InputError
from segmentation.kselect import NoSegments, bootstrap_stability
from segmentation.model import SegmentModel


def blobs(n=300, centers=3, seed=4):
    return make_blobs(n_samples=n, centers=centers, cluster_std=0.6, random_state=seed)


def spreads():
    """Three overlapping groups, one wide and two tight: k-means' round segments split the
    wide one; a Gaussian mixture describes it."""
    return make_blobs([150, 450, 150], centers=[[0, 0], [2.5, 0], [0, 3]],
                      cluster_std=[0.3, 1.4, 0.5], random_state=4)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_finds_well_separated_groups_and_repeats_itself(algorithm):
    X, truth = blobs()
    first = segment(X, algorithm=algorithm, k_max=6)
    assert first.algorithm == algorithm and first.selection.k == 3
    assert adjusted_rand_score(truth, first.labels) > 0.97
    assert np.bincount(first.labels).tolist() == sorted(np.bincount(first.labels), reverse=True)
    again = segment(X, algorithm=algorithm, k_max=6)
    assert np.array_equal(first.labels, again.labels)                      # seeded
    assert np.allclose(first.probability, again.probability)


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm", "agglomerative"])
def test_the_size_floor_holds_for_every_algorithm_with_a_k(algorithm):
    X, _ = blobs(n=200)
    odd = np.array([[30.0, 30.0], [30.2, 30.0], [30.0, 30.2]])    # 3 rows < floor 5
    fitted = SegmentModel(4, algorithm=algorithm).fit(np.vstack([X, odd]))
    assert np.bincount(fitted.labels_).min() >= 5
    assert fitted.atypical_[-3:].all()
    assert all("below the minimum of 5" in fitted.atypical_reason_[r] for r in (-3, -2, -1))


def test_ward_is_scikit_learn_s_ward_partition():
    X, _ = blobs(n=400, centers=5, seed=9)
    X = X + np.random.default_rng(0).normal(0, 0.8, X.shape)       # overlapping: a real test
    for k in (2, 4, 7):
        ours = algorithms.ward_labels(X, k)
        theirs = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(X)
        assert adjusted_rand_score(ours, theirs) == 1.0
    # Duplicate rows tie their merges at height 0: still exactly k segments, scipy's cut.
    from scipy.cluster.hierarchy import cut_tree

    tied = np.vstack([X[:50]] * 3 + [X[50:60]])
    for k in (2, 5, 60):
        ours = algorithms.ward_labels(tied, k)
        assert len(np.unique(ours)) == k
        assert adjusted_rand_score(ours, cut_tree(algorithms.ward_tree(tied), k).ravel()) == 1.0


def test_hdbscan_noise_is_atypical_with_its_reason_and_never_a_segment():
    X, _ = blobs(n=300)
    scatter = np.random.default_rng(3).uniform(-15, 15, size=(12, 2))
    fitted = SegmentModel(None, algorithm="hdbscan").fit(np.vstack([X, scatter]))
    noise = [i for i, why in enumerate(fitted.atypical_reason_) if why == NOISE_REASON]
    assert noise and fitted.atypical_[noise].all()
    assert set(fitted.labels_) == set(range(fitted.k_)) and fitted.k_ == 3
    far = fitted.transform(np.vstack([X, scatter])[noise]).argmin(axis=1)
    assert fitted.labels_[noise].tolist() == far.tolist()          # the nearest segment


def test_hdbscan_takes_no_k_and_refuses_a_table_without_two_dense_regions():
    X, _ = blobs()
    with pytest.raises(InputError, match="--k 3 cannot be used with --algorithm hdbscan"):
        segment(X, k=3, algorithm="hdbscan")
    with pytest.raises(InputError, match="--k 3 cannot be used with --algorithm hdbscan"):
        preflight.check_algorithm("hdbscan", 3)
    preflight.check_algorithm("hdbscan", None)
    preflight.check_algorithm("gmm", 3)
    one_blob = np.random.default_rng(1).normal(size=(300, 2))
    with pytest.raises(NoSegments) as refused:
        segment(one_blob, algorithm="hdbscan", min_size=20, unit="meters")
    assert str(refused.value) == (
        "HDBSCAN finds no two dense regions of at least 20 meters among these 300 meters, so "
        "there are no segments to publish. Options: another --algorithm (kmeans, gmm or "
        "agglomerative always form k segments), or a smaller --min-segment-size. Nothing was "
        "published")
    assert segment(one_blob, algorithm="gmm", min_size=20).model.k_ >= 2   # the option it names


def test_gmm_chooses_the_stable_k_with_the_lowest_bic():
    X, truth = spreads()
    fit = segment(X, algorithm="gmm", k_max=6)
    metrics = fit.selection.metrics
    stable = metrics[metrics["stability"] >= 0.75]
    assert fit.selection.k == int(stable.loc[stable["bic"].idxmin(), "k"]) == 3
    assert f"lowest BIC {stable['bic'].min():,.1f} at k=3" in fit.selection.rule
    assert adjusted_rand_score(truth, fit.labels) > 0.85
    assert metrics["bic"].notna().all()
    assert segment(X, k_max=4).selection.metrics["bic"].isna().all()      # k-means: no BIC


def test_gmm_probabilities_are_scikit_learn_s_posterior():
    X, _ = spreads()
    fitted = SegmentModel(3, algorithm="gmm").fit(X)
    mixture = GaussianMixture(3, covariance_type="full", n_init=3, random_state=42).fit(X)
    ours = fitted.predict_proba(X)
    theirs = mixture.predict_proba(X)
    order = [int(np.argmin(np.linalg.norm(mixture.means_ - m, axis=1)))
             for m in fitted.cluster_centers_]
    assert np.allclose(ours, theirs[:, order], atol=1e-6)
    assert np.array_equal(fitted.labels_, ours.argmax(axis=1))        # its most probable one


def test_distance_probabilities_follow_the_distances_and_sum_to_one():
    centres = np.array([[0.0, 0.0], [4.0, 0.0]])
    p = probabilities(np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 0.0], [9.0, 0.0]]), centres,
                      sigma=1.0)
    assert np.allclose(p.sum(axis=1), 1)
    assert np.allclose(p[0], [0.5, 0.5])                       # midway: either
    assert p[1, 0] == pytest.approx(1 / (1 + np.exp(-8)))      # exp(-d^2/2) per centroid
    assert 0.5 < p[2, 0] < p[1, 0] and p[3, 1] > 0.999
    wider = probabilities(np.array([[1.0, 0.0]]), centres, sigma=3.0)
    assert 0.5 < wider[0, 0] < p[2, 0]                          # a wider spread: less sure


def test_sigma_is_the_root_mean_squared_distance_per_feature_of_typical_members():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 2.0], [50.0, 50.0]])
    centres = np.array([[1.0, 0.0], [10.0, 1.0]])
    labels = np.array([0, 0, 1, 1, 1])
    typical = np.array([True, True, True, True, False])
    assert algorithms.spread(X, centres, labels, typical) == pytest.approx(np.sqrt(1 / 2))


def test_low_confidence_is_strictly_below_the_threshold():
    flags = confidence_columns(np.array([0.59, 0.6, 0.61]), 0.6)
    assert flags["is_low_confidence"].tolist() == [True, False, False]
    assert flags["segment_probability"].tolist() == [0.59, 0.6, 0.61]


def test_own_label_stability_sees_hdbscan_s_crescents_as_reproducible():
    X, _ = make_moons(400, noise=0.06, random_state=3)
    fit = segment(X, algorithm="hdbscan")
    assert fit.model.k_ == 2 and fit.selection.stability > 0.85
    assert bootstrap_stability(X, None, fit.labels, algorithm="hdbscan",
                               min_size=8) == fit.selection.stability
    # Half of one crescent relabelled: no longer what refits find.
    shuffled = fit.labels.copy()
    shuffled[:100] = 1 - shuffled[:100]
    assert bootstrap_stability(X, None, shuffled, algorithm="hdbscan", min_size=8) < 0.5


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_a_saved_kmeans_or_gmm_model_places_its_own_members_exactly(algorithm):
    X, _ = spreads()
    fit = segment(X, algorithm=algorithm, k_max=5)
    ids = {i: 10 + (fit.model.k_ - 1 - i) for i in range(fit.model.k_)}      # stable ids
    names = {v: f"s{v}" for v in ids.values()}
    centroids, entries = segments_of(fit.model, names, ids)
    model = ModelArtifact(kind="customers", dataset="d", run_date="2026-12-01", space={},
                          centroids=centroids, segments=entries, k={}, algorithm=algorithm,
                          membership=membership_of(fit.model, ids))
    placed = model.assign(X)
    assert placed["segment_id"].tolist() == [ids[int(i)] for i in fit.labels]
    assert np.allclose(placed["segment_probability"], fit.probability)
    assert np.allclose(placed["distance_to_centroid"], fit.distance)
    assert ("mixture" in model.membership) == (algorithm == "gmm")


def test_a_ward_model_places_members_at_the_nearest_centroid():
    X, _ = make_moons(300, noise=0.06, random_state=3)
    fit = segment(X, algorithm="agglomerative", k=2)
    centroids, entries = segments_of(fit.model, {0: "a", 1: "b"})
    model = ModelArtifact(kind="customers", dataset="d", run_date="2026-12-01", space={},
                          centroids=centroids, segments=entries, k={},
                          algorithm="agglomerative", membership=membership_of(fit.model))
    nearest = fit.model.transform(X).argmin(axis=1)
    assert model.assign(X)["segment_id"].tolist() == nearest.tolist()
    assert not np.array_equal(nearest, fit.labels)       # Ward's own partition is not that


@pytest.mark.parametrize("rows", [3, 4, 9])
def test_tiny_tables_are_refused_in_words_by_every_algorithm(rows):
    X = np.vstack([np.zeros((rows // 2, 2)), np.full((rows - rows // 2, 2), 5.0)])
    X = X + np.random.default_rng(rows).normal(0, 0.1, X.shape)
    for algorithm in ALGORITHMS:
        with pytest.raises(NoSegments, match="no segments to publish"):
            segment(X, algorithm=algorithm)


def test_ward_s_cached_tree_is_the_tree_of_these_very_rows():
    """The tree is kept by the rows' bytes and shape: another table of the same shape, or the
    same numbers in another shape, gets its own tree."""
    from scipy.cluster.hierarchy import linkage

    rng = np.random.default_rng(5)
    first, second = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    for X in (first, second, first.reshape(20, 3), first.reshape(15, 4), first):
        assert np.array_equal(algorithms.ward_tree(X), linkage(X, method="ward"))


def test_ward_keeps_the_trees_of_the_last_32_tables_only():
    """Memory stays bounded: the trees of the last ``WARD_TREES`` (32) tables are kept, the
    oldest dropped first, and every tree handed out is still its own rows'."""
    from scipy.cluster.hierarchy import linkage

    tables = [np.random.default_rng(seed).normal(size=(8, 2)) for seed in range(35)]
    for X in tables:
        assert np.array_equal(algorithms.ward_tree(X), linkage(X, method="ward"))
    assert algorithms.WARD_TREES == 32 and len(algorithms._WARD_TREES) == 32
    kept = [key.split("(")[0] for key in algorithms._WARD_TREES]
    assert kept == [hashlib.sha1(X.tobytes()).hexdigest() for X in tables[3:]]
