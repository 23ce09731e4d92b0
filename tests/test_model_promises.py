"""Promises of segmentation/model.py the mutation run of issue 22 found untested: the
documented methods of ``SegmentModel`` (its docstrings), on tiny hand-made tables, no Prefect."""

from __future__ import annotations

import numpy as np

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
