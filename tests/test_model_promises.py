"""Promises of segmentation/model.py the mutation run of issue 22 found untested: the
documented methods of ``SegmentModel`` (its docstrings), on tiny hand-made tables, no Prefect."""

from __future__ import annotations

import numpy as np

import segmentation.model as model_module
from segmentation.model import SegmentModel


def two_groups() -> np.ndarray:
    """Two groups of 6 rows in 2 features, around (0, 0) and (10, 0)."""
    offsets = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [0.2, 0.0], [0.0, 0.2]])
    return np.vstack([offsets, offsets + [10.0, 0.0]])


def test_distance_to_centroid_is_each_row_s_distance_to_its_nearest_centroid():
    """One distance per row (not one for the table), to the nearest of the centroids,
    computed here the obvious way."""
    model = SegmentModel(2).fit(two_groups())
    new = np.array([[1.0, 1.0], [9.0, -1.0], [5.0, 0.0]])
    expected = [min(np.linalg.norm(row - centre) for centre in model.cluster_centers_)
                for row in new]
    np.testing.assert_allclose(model.distance_to_centroid(new), expected)


def sample_rows(n_rows: int, cap: int, seed: int) -> np.ndarray:
    """The seeded sample a model fits on beyond its cap (docs/algorithms.md, large tables)."""
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=cap, replace=False))


def three_blobs(n_per: int) -> np.ndarray:
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    noise = np.random.default_rng(1).normal(0, 0.6, (3 * n_per, 2))
    return np.repeat(centres, n_per, axis=0) + noise


def test_ward_beyond_its_own_sample_is_fitted_on_the_seeded_sample_and_the_rest_join_the_nearest(
        monkeypatch):
    """docs/algorithms.md: Ward is fitted on a seeded sample of ``WARD_SAMPLE`` rows (not
    k-means' 200,000); the sample keeps Ward's own labels, every other member joins the
    nearest centroid."""
    X = three_blobs(40)
    monkeypatch.setattr(model_module, "WARD_SAMPLE", 60)
    fitted = SegmentModel(3, seed=5, algorithm="agglomerative").fit(X)
    sample = sample_rows(len(X), 60, 5)
    on_sample = SegmentModel(3, seed=5, algorithm="agglomerative").fit(X[sample])
    np.testing.assert_allclose(np.sort(fitted.cluster_centers_, axis=0),
                               np.sort(on_sample.cluster_centers_, axis=0))
    rest = np.setdiff1d(np.arange(len(X)), sample)
    assert fitted.labels_[rest].tolist() == fitted.transform(X[rest]).argmin(axis=1).tolist()


def test_hdbscan_beyond_its_own_sample_is_fitted_on_the_seeded_sample(monkeypatch):
    """docs/algorithms.md: HDBSCAN is fitted on a seeded sample of ``HDBSCAN_SAMPLE`` rows."""
    X = three_blobs(60)
    monkeypatch.setattr(model_module, "HDBSCAN_SAMPLE", 120)
    fitted = SegmentModel(None, seed=5, algorithm="hdbscan").fit(X)
    sample = sample_rows(len(X), 120, 5)
    on_sample = SegmentModel(None, seed=5, algorithm="hdbscan").fit(X[sample])
    assert fitted.k_ == on_sample.k_
    np.testing.assert_allclose(np.sort(fitted.cluster_centers_, axis=0),
                               np.sort(on_sample.cluster_centers_, axis=0))


def test_members_identical_to_their_centroid_are_never_far_out():
    """A segment of identical rows has a fence of 0 (every distance 0): only a member
    *beyond* the fence is far out, so none of these is atypical."""
    X = np.repeat([[0.0, 0.0], [10.0, 0.0]], 6, axis=0)
    fitted = SegmentModel(2).fit(X)
    assert fitted.far_out_fences_.tolist() == [0.0, 0.0]
    assert not fitted.atypical_.any() and fitted.atypical_reason_ == [None] * 12


def test_the_model_s_restarts_reach_the_algorithm(monkeypatch):
    """``n_init``: the k-means restarts asked for (at least 10) are the ones run, not a default."""
    seen = []
    original = model_module.fit_clusters

    def spy(*args, **kwargs):
        seen.append(kwargs["n_init"])
        return original(*args, **kwargs)

    monkeypatch.setattr(model_module, "fit_clusters", spy)
    SegmentModel(2, n_init=12).fit(two_groups())
    assert seen == [12]


def test_the_spread_behind_membership_probabilities_is_that_of_typical_members():
    """``sigma_`` (the spread behind ``segment_probability``) is measured on typical members:
    a far-off row, atypical, does not widen every member's probabilities."""
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(0.0, 0.3, size=(40, 2)), rng.normal(5.0, 0.3, size=(40, 2)),
                   [[60.0, 60.0]]])
    model = SegmentModel(2).fit(X)
    typical = ~model.atypical_
    assert not typical[-1] and typical.sum() == 80
    offsets = X[typical] - model.cluster_centers_[model.labels_[typical]]
    assert np.isclose(model.sigma_, np.sqrt((offsets ** 2).sum(axis=1).mean() / 2), rtol=1e-12)
    assert model.sigma_ < 1.0              # the far row would make it about 6
