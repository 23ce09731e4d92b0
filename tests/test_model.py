"""The published model on hand-made numbers: the far-out fence, the size floor, the fit sample."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

import segmentation.model as model_module
from segmentation.model import FAR_OUT, InfeasibleK, SegmentModel, far_out_fences


def flagged(distances, labels=None):
    distances = np.asarray(distances, dtype=float)
    labels = np.zeros(len(distances), int) if labels is None else np.asarray(labels)
    fences = far_out_fences(distances, labels, np.ones(len(distances), bool), int(labels.max()) + 1)
    return list(np.flatnonzero(distances > fences[labels]))


def test_far_out_fence_is_q3_plus_three_iqr():
    assert FAR_OUT == 3.0
    # 1..8 and one more: q1 3, median 5, q3 7 -> fence 7 + 3 x 4 = 19 (2 x median = 10)
    base = [1, 2, 3, 4, 5, 6, 7, 8]
    assert flagged(base + [19.0]) == []                  # on the fence: not beyond it
    assert flagged(base + [19.02]) == [8]


def test_far_out_fence_is_at_least_twice_the_median():
    # q1 = median = 1, q3 = 1.05: Tukey's fence 1.2, but twice the median is 2
    tight = [1, 1, 1, 1, 1, 1.05, 1.05, 1.05]
    assert flagged(tight + [2.0]) == [] and flagged(tight + [2.005]) == [8]
    assert flagged(tight + [1.5]) == []
    halves = [0.5, 0.5, 0.5, 0.5, 0.5, 0.52, 0.52, 0.52]       # median 0.5: at least 1.0
    assert flagged(halves + [0.99]) == [] and flagged(halves + [1.01]) == [8]


def test_segments_too_small_to_judge_are_skipped_and_the_rest_still_checked():
    distances = [1, 1, 1, 50] + [1, 2, 3, 4, 5, 6, 7, 8, 30]
    labels = [0] * 4 + [1] * 9
    assert flagged(distances, labels) == [12]           # segment 0 (4 members) is not judged
    assert flagged([1, 1, 1, 1, 50], [0] * 5) == [4]     # 5 members are enough


def test_the_floor_allows_segments_of_exactly_the_minimum():
    X = np.r_[np.zeros(5), np.full(5, 10.0)].reshape(-1, 1) + np.linspace(0, 0.1, 10)[:, None]
    fitted = SegmentModel(2).fit(X)                      # 10 rows = 2 x 5: feasible
    assert np.bincount(fitted.labels_).tolist() == [5, 5] and fitted.min_size_ == 5
    with pytest.raises(InfeasibleK, match="9 typical rows cannot form 2 segments of at least 5"):
        SegmentModel(2).fit(X[:9])


def test_inertia_is_the_sum_of_squared_distances_to_the_centroids():
    X, _ = make_blobs(n_samples=200, centers=3, random_state=1)
    fitted = SegmentModel(3).fit(X)
    centres = fitted.cluster_centers_[fitted.labels_]
    assert fitted.inertia_ == pytest.approx(((X - centres) ** 2).sum())


def test_fewer_than_ten_restarts_are_refused_and_defaults_are_pinned():
    with pytest.raises(ValueError, match="^n_init must be >= 10 for a stable result$"):
        SegmentModel(3, n_init=9)
    model = SegmentModel(3)
    assert (model.n_init, model.seed, model.min_size) == (10, 42, None)


def test_fit_predict_gives_the_labels_of_fit():
    X, _ = make_blobs(n_samples=120, centers=3, random_state=4)
    assert SegmentModel(3).fit_predict(X).tolist() == SegmentModel(3).fit(X).labels_.tolist()


def test_beyond_the_fit_sample_centroids_come_from_the_seeded_sample(monkeypatch):
    X, _ = make_blobs(n_samples=1000, centers=3, cluster_std=1.5, random_state=2)
    monkeypatch.setattr(model_module, "FIT_SAMPLE", 300)
    fitted = SegmentModel(3, seed=5).fit(X)
    sample = np.sort(np.random.default_rng(5).choice(1000, size=300, replace=False))
    on_sample = SegmentModel(3, seed=5).fit(X[sample])
    def rows(c):                                       # ids follow sizes, which differ: compare sets
        return c[np.lexsort(c.T[::-1])]

    np.testing.assert_allclose(rows(fitted.cluster_centers_), rows(on_sample.cluster_centers_))
    assert len(fitted.labels_) == 1000


def test_rows_set_aside_in_the_fit_sample_are_flagged_in_the_whole_table(monkeypatch):
    X, _ = make_blobs(n_samples=600, centers=2, cluster_std=0.5, random_state=4)
    odd = np.array([[40.0, 40.0], [40.1, 40.0], [40.0, 40.1]])  # a cluster of 3 < floor 6
    X = np.vstack([X, odd])
    monkeypatch.setattr(model_module, "FIT_SAMPLE", 590)
    fitted = SegmentModel(3, seed=5).fit(X)
    sample = set(np.random.default_rng(5).choice(len(X), size=590, replace=False).tolist())
    in_sample = [row for row in range(600, 603) if row in sample]
    assert in_sample
    for row in in_sample:
        assert fitted.atypical_[row] and "would form a segment of" in fitted.atypical_reason_[row]
    set_aside = [r for r, why in enumerate(fitted.atypical_reason_) if why and "would form" in why]
    assert set_aside == in_sample                   # and no other row of the sample
    flagged = np.flatnonzero(fitted.atypical_).tolist()
    assert flagged == [r for r, why in enumerate(fitted.atypical_reason_) if why]   # each says why


def outlier_pairs(n_pairs: int) -> np.ndarray:
    """A blob of 40 rows and ``n_pairs`` far pairs, each too small for a segment of its own."""
    blob = np.random.default_rng(0).normal(0, 1, (40, 2))
    pairs = [np.array([[10.0 ** (i + 2), 0.0], [10.0 ** (i + 2), 0.5]]) for i in range(n_pairs)]
    return np.vstack([blob, *pairs])


def test_each_refit_sets_aside_the_next_small_group_until_the_floor_holds():
    fitted = SegmentModel(2).fit(outlier_pairs(2))     # two refits, then every segment >= 5
    assert np.bincount(fitted.labels_[~fitted.atypical_], minlength=2).min() >= fitted.min_size_
    set_aside = [r for r, why in enumerate(fitted.atypical_reason_) if why and "would form" in why]
    assert set_aside == [40, 41, 42, 43]


def test_a_k_still_leaving_a_small_segment_after_the_refits_is_infeasible():
    assert model_module.MAX_REFITS == 3
    with pytest.raises(InfeasibleK, match="^k=2 still leaves a segment below 5 members after 3 "
                                          "refits$"):
        SegmentModel(2).fit(outlier_pairs(5))


def test_a_given_floor_replaces_the_default():
    X = np.r_[np.zeros(4), np.full(6, 10.0)].reshape(-1, 1) + np.linspace(0, 0.1, 10)[:, None]
    fitted = SegmentModel(2, min_size=3).fit(X)       # default floor 5 would refuse 4 + 6
    assert fitted.min_size_ == 3 and np.bincount(fitted.labels_).tolist() == [6, 4]


def test_segments_of_equal_size_are_ordered_by_their_centroids_whatever_the_seed():
    X = np.r_[np.full(10, 0.2), np.full(10, 0.4)].reshape(-1, 1) + np.tile([0.0, 0.001], 10)[:, None]
    for seed in range(6):
        centres = SegmentModel(2, seed=seed).fit(X).cluster_centers_[:, 0]
        assert centres[0] < centres[1]
