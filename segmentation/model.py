"""The k-means model every dataset publishes: seeded, size-ordered, with a segment-size floor.

No segment may be smaller than ``min_segment_size(n)`` = max(2 % of the rows,
5 rows). Rows that k-means puts in a smaller cluster are *atypical*: the
model is refitted without them (same k), and they are then assigned to their
nearest real segment and flagged, with the reason. So an odd meter or an
absurd customer can never become a segment of its own, and a weakly
clustered table still gets k segments an analyst can act on.

Beyond ``FIT_SAMPLE`` rows, k-means (with the floor) is fitted on a seeded
sample of that many rows and every row is then assigned to its nearest
centroid: the centroids of 200,000 rows are those of a million to within
noise, for a fifth of the time and memory.

An odd row that k-means did not isolate is flagged too: a member whose
distance to its centroid lies beyond its segment's far-out fence (third
quartile + 3 x IQR of the segment's distances, Tukey, and at least twice the
median distance, so a very tight segment does not flag ordinary members) is
atypical, "far from every segment". It stays in its segment and does not
move the centroids.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import euclidean_distances

from segmentation.settings import SEED

MIN_SEGMENT_SHARE, MIN_SEGMENT_MEMBERS = 0.02, 5
MAX_REFITS = 3  # each refit removes the members of every too-small cluster
FAR_OUT = 3.0   # Tukey's far-out fence on the distance to the centroid
FIT_SAMPLE = 200_000


class InfeasibleK(ValueError):
    """k segments of at least the minimum size cannot be formed from these rows."""


def min_segment_size(n_rows: int) -> int:
    """The floor: max(2 % of the rows, 5 rows)."""
    return max(math.ceil(MIN_SEGMENT_SHARE * n_rows), MIN_SEGMENT_MEMBERS)


class SegmentModel:
    """k-means with ``n_init`` restarts and a fixed seed; segment 0 is the largest.

    Follows scikit-learn's estimator shape: ``fit``, ``predict``, ``transform``
    and ``fit_predict``; fitted attributes end with an underscore.

    Parameters
    ----------
    k : int
        Number of segments.
    seed, n_init : int
        k-means seed and restarts (at least 10 for a stable result).
    min_size : int, optional
        Smallest allowed segment; default ``min_segment_size(len(X))``.

    Attributes
    ----------
    cluster_centers_ : ndarray (k x features)
    labels_ : ndarray of int, every row's segment (atypical rows: the nearest one)
    atypical_ : ndarray of bool, rows that would have formed a too-small segment
    atypical_reason_ : list of str or None
    inertia_ : float, sum of squared distances of all rows to their centroid
    far_out_fences_ : ndarray of float, per segment (NaN: too few typical members for one)
    min_size_ : int, the floor applied
    """

    def __init__(self, k: int, *, seed: int = SEED, n_init: int = 10, min_size: int | None = None):
        if n_init < 10:
            raise ValueError("n_init must be >= 10 for a stable result")
        self.k, self.seed, self.n_init, self.min_size = k, seed, n_init, min_size

    def fit(self, X: np.ndarray) -> "SegmentModel":
        sample = (None if len(X) <= FIT_SAMPLE else np.sort(
            np.random.default_rng(self.seed).choice(len(X), size=FIT_SAMPLE, replace=False)))
        fit_rows = X if sample is None else X[sample]
        floor = self.min_size if self.min_size is not None else min_segment_size(len(fit_rows))
        typical = np.ones(len(fit_rows), dtype=bool)
        reasons: list[str | None] = [None] * len(X)
        for attempt in range(MAX_REFITS + 1):
            if typical.sum() < self.k * floor:
                raise InfeasibleK(f"{typical.sum()} typical rows cannot form {self.k} segments "
                                  f"of at least {floor}")
            with warnings.catch_warnings():    # duplicates: the empty segment is handled below
                warnings.simplefilter("ignore", ConvergenceWarning)
                km = KMeans(n_clusters=self.k, n_init=self.n_init,
                            random_state=self.seed).fit(fit_rows[typical])
            sizes = np.bincount(km.labels_, minlength=self.k)
            if (sizes == 0).any():      # duplicates: no refit can make k distinct groups
                raise InfeasibleK(f"the rows form fewer than {self.k} distinct groups")
            small = sizes < floor
            if not small.any():
                break
            if attempt == MAX_REFITS:
                raise InfeasibleK(f"k={self.k} still leaves a segment below {floor} members "
                                  f"after {MAX_REFITS} refits")
            rows = np.flatnonzero(typical)[small[km.labels_]]
            for row, cluster in zip(rows, km.labels_[small[km.labels_]]):
                reasons[row if sample is None else sample[row]] = (
                    f"would form a segment of {sizes[cluster]} member(s), below the "
                    f"minimum of {floor}; assigned to the nearest segment")
            typical[rows] = False
        if sample is not None:
            typical_all = np.ones(len(X), dtype=bool)
            typical_all[sample] = typical
            typical = typical_all
        centres = km.cluster_centers_
        nearest = _distances(X, centres).argmin(axis=1)
        sizes = np.bincount(nearest, minlength=self.k)
        # Order by size (desc), then centroid coordinates, so ids do not depend on k-means' init.
        keys = [(-sizes[i], *np.round(centres[i], 9)) for i in range(self.k)]
        order = sorted(range(self.k), key=lambda i: keys[i])
        self.cluster_centers_ = centres[order]
        # Labels from the ordered centroids: exactly what ``predict`` (and a saved model) gives.
        self.labels_ = self.predict(X)
        distance = self.distance_to_centroid(X)
        self.far_out_fences_ = far_out_fences(distance, self.labels_, typical, self.k)
        for row in np.flatnonzero(typical & (distance > self.far_out_fences_[self.labels_])):
            typical[row] = False
            reasons[row] = far_out_reason(distance[row], self.far_out_fences_[self.labels_[row]])
        self.atypical_ = ~typical
        self.atypical_reason_ = reasons
        self.min_size_ = floor
        self.inertia_ = float((distance ** 2).sum())
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Euclidean distance of each row to each centroid."""
        return _distances(X, self.cluster_centers_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.transform(X).argmin(axis=1)

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).labels_

    def distance_to_centroid(self, X: np.ndarray) -> np.ndarray:
        """Each row's distance to its own (nearest) centroid, in scaled feature space."""
        return self.transform(X).min(axis=1)


def far_out_fences(distance: np.ndarray, labels: np.ndarray, typical: np.ndarray,
                   k: int) -> np.ndarray:
    """Each segment's far-out fence on the distance to its centroid, from its typical members
    (NaN, no fence, for a segment of fewer than ``MIN_SEGMENT_MEMBERS`` typical members)."""
    fences = np.full(k, np.nan)
    for segment in range(k):
        members = np.flatnonzero((labels == segment) & typical)
        if len(members) < MIN_SEGMENT_MEMBERS:
            continue
        q1, median, q3 = np.percentile(distance[members], [25, 50, 75])
        fences[segment] = max(q3 + FAR_OUT * (q3 - q1), 2 * median)
    return fences


def far_out_reason(distance: float, fence: float) -> str:
    return (f"far from every segment: distance {distance:.2f} to the nearest centroid, "
            f"beyond its segment's fence {fence:.2f}")


def _distances(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    # rows x k memory, not rows x k x features.
    return euclidean_distances(X, centres)
