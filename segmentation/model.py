"""The model every dataset publishes: seeded, size-ordered, with a segment-size floor.

k-means by default, or another algorithm (``algorithms``) under the same rules.
No segment may be smaller than ``min_segment_size(n)`` = max(2 % of the rows,
5 rows). Rows that the algorithm puts in a smaller cluster are *atypical*: the
model is refitted without them (same k), and they are then assigned to their
nearest real segment and flagged, with the reason. So an odd meter or an
absurd customer can never become a segment of its own, and a weakly
clustered table still gets k segments an analyst can act on.

Beyond ``FIT_SAMPLE`` rows (Ward and HDBSCAN: their own samples), the model (with the
floor) is fitted on a seeded sample of that many rows and every other row is
then assigned by ``predict``: the centroids of 200,000 rows are those of a million to within
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

import numpy as np
from sklearn.metrics.pairwise import euclidean_distances

from segmentation.algorithms import (DEFAULT_ALGORITHM, HDBSCAN_SAMPLE, NOISE_REASON, WARD_SAMPLE,
                                     RawFit, fit_clusters, has_k, log_densities,
                                     probabilities, reorder_mixture, spread)
from segmentation.settings import SEED

MIN_SEGMENT_SHARE, MIN_SEGMENT_MEMBERS = 0.02, 5
MAX_REFITS = 3  # each refit removes the members of every too-small cluster
FAR_OUT = 3.0   # Tukey's far-out fence on the distance to the centroid
FIT_SAMPLE = 200_000
OWN_LABELS = ("agglomerative", "hdbscan")   # their partitions are not nearest-centroid ones


class InfeasibleK(ValueError):
    """k segments of at least the minimum size cannot be formed from these rows."""


def min_segment_size(n_rows: int) -> int:
    """The floor: max(2 % of the rows, 5 rows)."""
    return max(math.ceil(MIN_SEGMENT_SHARE * n_rows), MIN_SEGMENT_MEMBERS)


class SegmentModel:
    """A clustering algorithm (``algorithms``) with a fixed seed and the segment-size floor;
    segment 0 is the largest.

    Follows scikit-learn's estimator shape: ``fit``, ``predict``, ``predict_proba``,
    ``transform`` and ``fit_predict``; fitted attributes end with an underscore.

    Parameters
    ----------
    k : int or None
        Number of segments (None for ``hdbscan``, which finds its own).
    seed, n_init : int
        Seed and k-means restarts (at least 10 for a stable result).
    min_size : int, optional
        Smallest allowed segment; default ``min_segment_size(len(X))``.
    algorithm : str
        One of ``algorithms.ALGORITHMS``; default k-means.

    Attributes
    ----------
    cluster_centers_ : ndarray (k x features), the mean of each segment (gmm: of each component)
    mixture_ : dict or None, gmm's weights, means and covariances, in segment order
    labels_ : ndarray of int, every row's segment (atypical rows: the nearest one)
    distance_ : ndarray of float, every row's distance to its segment's centroid
    atypical_ : ndarray of bool, rows that would have formed a too-small segment, HDBSCAN
        noise, and rows beyond their segment's far-out fence
    atypical_reason_ : list of str or None
    inertia_ : float, sum of squared distances of all rows to their segment's centroid
    sigma_ : float, the spread behind distance-based membership probabilities
    far_out_fences_ : ndarray of float, per segment (NaN: too few typical members for one)
    min_size_ : int, the floor applied
    k_ : int, the number of segments (found by hdbscan)
    """

    def __init__(self, k: int | None, *, seed: int = SEED, n_init: int = 10,
                 min_size: int | None = None, algorithm: str = DEFAULT_ALGORITHM):
        if n_init < 10:
            raise ValueError("n_init must be >= 10 for a stable result")
        self.k, self.seed, self.n_init, self.min_size = k, seed, n_init, min_size
        self.algorithm = algorithm

    def fit(self, X: np.ndarray) -> "SegmentModel":
        cap = {"agglomerative": WARD_SAMPLE, "hdbscan": HDBSCAN_SAMPLE}.get(self.algorithm,
                                                                           FIT_SAMPLE)
        sample = (None if len(X) <= cap else np.sort(
            np.random.default_rng(self.seed).choice(len(X), size=cap, replace=False)))
        fit_rows = X if sample is None else X[sample]
        floor = self.min_size if self.min_size is not None else min_segment_size(len(fit_rows))
        typical = np.ones(len(fit_rows), dtype=bool)
        reasons: list[str | None] = [None] * len(X)
        for attempt in range(MAX_REFITS + 1):
            if has_k(self.algorithm) and typical.sum() < self.k * floor:
                raise InfeasibleK(f"{typical.sum()} typical rows cannot form {self.k} segments "
                                  f"of at least {floor}")
            raw = fit_clusters(self.algorithm, fit_rows[typical], self.k, seed=self.seed,
                               n_init=self.n_init, min_size=floor)
            found, fitted, noise = len(raw.centres), np.flatnonzero(typical), raw.labels < 0
            if found < 2:
                raise InfeasibleK(f"HDBSCAN finds {found} dense region(s) of at least {floor} "
                                  "rows: no segments")
            sizes = np.bincount(raw.labels[~noise], minlength=found)
            if (sizes == 0).any():      # duplicates: no refit can make k distinct groups
                raise InfeasibleK(f"the rows form fewer than {self.k} distinct groups")
            small = sizes < floor
            if not small.any():
                break
            if attempt == MAX_REFITS:
                raise InfeasibleK(f"k={self.k} still leaves a segment below {floor} members "
                                  f"after {MAX_REFITS} refits")
            in_small = ~noise & small[np.where(noise, 0, raw.labels)]
            for row, cluster in zip(fitted[in_small], raw.labels[in_small]):
                reasons[row if sample is None else sample[row]] = (
                    f"would form a segment of {sizes[cluster]} member(s), below the "
                    f"minimum of {floor}; assigned to the nearest segment")
            typical[fitted[in_small]] = False
        fitted = fitted if sample is None else sample[fitted]   # rows of X
        own = np.full(len(X), -1)                  # the fit's own cluster of each fitted row
        own[fitted] = raw.labels
        for row in fitted[noise]:                  # HDBSCAN noise: atypical, never a segment
            reasons[row] = NOISE_REASON
        if sample is not None:
            typical_all = np.ones(len(X), dtype=bool)
            typical_all[sample] = typical
            typical = typical_all
        typical[fitted[noise]] = False
        self.k_ = found
        self._fit_order(X, raw, own)
        distance = self.transform(X)[np.arange(len(X)), self.labels_]
        self.far_out_fences_ = far_out_fences(distance, self.labels_, typical, self.k_)
        for row in np.flatnonzero(typical & (distance > self.far_out_fences_[self.labels_])):
            typical[row] = False
            reasons[row] = far_out_reason(distance[row], self.far_out_fences_[self.labels_[row]])
        self.atypical_ = ~typical
        self.atypical_reason_ = reasons
        self.min_size_ = floor
        self.distance_ = distance
        self.inertia_ = float((distance ** 2).sum())
        self.sigma_ = spread(X, self.cluster_centers_, self.labels_, typical)
        return self

    def _fit_order(self, X: np.ndarray, raw: RawFit, own: np.ndarray) -> None:
        """Number the segments by size (then centroid coordinates, so ids do not depend on
        the algorithm's initialisation) and label every row: the fit's own cluster for the
        rows it clustered with Ward or HDBSCAN, the model's prediction otherwise."""
        centres, mixture = raw.centres, raw.mixture
        first = raw.predict(X)
        if self.algorithm in OWN_LABELS:
            first = np.where(own >= 0, own, first)
        sizes = np.bincount(first, minlength=self.k_)
        keys = [(-sizes[i], *np.round(centres[i], 9)) for i in range(self.k_)]
        order = sorted(range(self.k_), key=lambda i: keys[i])
        self.cluster_centers_ = centres[order]
        self.mixture_ = reorder_mixture(mixture, order)
        if self.algorithm in OWN_LABELS:
            self.labels_ = np.argsort(order)[first]
        else:   # exactly what ``predict`` (and a saved model) gives
            self.labels_ = self.predict(X)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Euclidean distance of each row to each centroid."""
        return _distances(X, self.cluster_centers_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Each row's segment: the most probable component (gmm) or the nearest centroid."""
        if self.mixture_ is not None:
            return log_densities(X, self.mixture_).argmax(axis=1)
        return self.transform(X).argmin(axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Rows x segments membership probabilities (``algorithms.probabilities``)."""
        return probabilities(X, self.cluster_centers_, mixture=self.mixture_, sigma=self.sigma_)

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).labels_

    def distance_to_centroid(self, X: np.ndarray) -> np.ndarray:
        """Each row's distance to its nearest centroid, in scaled feature space."""
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
