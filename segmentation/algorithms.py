"""The clustering algorithms a run can publish, behind one interface.

Each is a library implementation; what differs is what a segment is:

- ``kmeans``: scikit-learn's ``KMeans`` (10 restarts): round segments of one spread.
- ``gmm``: scikit-learn's ``GaussianMixture`` (full covariances, 3 k-means-started
  restarts): segments of their own spread and orientation; a member belongs to its
  most probable component.
- ``agglomerative``: Ward linkage, the tree scikit-learn's
  ``AgglomerativeClustering(linkage="ward")`` builds (here scipy's ``linkage``, which
  gives the same partitions and keeps the tree for the dendrogram and for every k at
  once). Its memory grows with the square of the rows, so it is fitted on a seeded
  sample of at most ``WARD_SAMPLE`` rows; the other rows join the nearest centroid.
- ``hdbscan``: scikit-learn's ``HDBSCAN``: dense regions of any shape. It has no k: its
  minimum cluster size is the segment-size floor. Rows in no dense region are noise:
  they are atypical (``NOISE_REASON``) and join the nearest segment, never a segment of
  their own. Fitted on at most ``HDBSCAN_SAMPLE`` rows.

A new member (``artifact.ModelArtifact.assign``) goes to the nearest centroid, except
with ``gmm``, to the most probable component. For ``agglomerative`` and ``hdbscan`` that
is an approximation: a member near a boundary may be placed differently from the fit.

Soft membership (``probabilities``): with ``gmm``, the posterior probability of each
component. For the other algorithms, the posterior of the mixture k-means itself
assumes (equal weights, one spherical spread ``sigma`` for every segment: the root mean
squared distance per feature of the typical members to their centroid). Both are
probabilities that sum to 1 over the segments, so a threshold means the same for all.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import get_args

import numpy as np
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import euclidean_distances
from threadpoolctl import threadpool_limits

from segmentation.parameters import DEFAULT_ALGORITHM, Algorithm, has_k  # noqa: F401 (re-exported)

ALGORITHMS = get_args(Algorithm)
WARD_SAMPLE = 10_000      # Ward's condensed distances: 10,000 rows take 400 MB
HDBSCAN_SAMPLE = 20_000
GMM_RESTARTS = 3          # each full-covariance EM run costs ~10 k-means runs
WARD_TREES = 32           # trees kept: a table's and its bootstrap resamples' (ward_tree)
NOISE_REASON = ("in no dense region (HDBSCAN noise); assigned to the nearest segment")


@dataclass(frozen=True)
class RawFit:
    """One fit on some rows: each row's cluster (-1: noise), the centres, and for ``gmm``
    the mixture (``weights``, ``means``, ``covariances``)."""

    labels: np.ndarray
    centres: np.ndarray
    mixture: dict | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Each row's most probable component (gmm) or nearest centre."""
        if self.mixture is not None:
            return log_densities(X, self.mixture).argmax(axis=1)
        return nearest(X, self.centres)


def fit_clusters(algorithm: str, X: np.ndarray, k: int | None, *, seed: int, n_init: int,
                 min_size: int) -> RawFit:
    """Fit ``algorithm`` on the rows of ``X`` (``k`` clusters, or density clusters of at
    least ``min_size`` for ``hdbscan``)."""
    if algorithm == "kmeans":
        from sklearn.cluster import KMeans

        with warnings.catch_warnings():   # duplicates: an empty cluster is handled by the caller
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(X)
        return RawFit(km.labels_, km.cluster_centers_)
    if algorithm == "gmm":
        from sklearn.mixture import GaussianMixture

        # Thousands of small (features x features) factorisations: one BLAS thread is fastest,
        # and with a core busy elsewhere two threads made a fit 20x slower.
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            # The published model restarts GMM_RESTARTS times; a bootstrap refit (n_init < 10,
            # as k-means' take 4 instead of 10) once.
            restarts = GMM_RESTARTS if n_init >= 10 else 1
            gm = GaussianMixture(n_components=k, covariance_type="full", n_init=restarts,
                                 random_state=seed).fit(X)
        mixture = {"weights": gm.weights_, "means": gm.means_, "covariances": gm.covariances_}
        return RawFit(gm.predict(X), gm.means_, mixture)
    if algorithm == "agglomerative":
        labels = ward_labels(X, k)
        return RawFit(labels, member_means(X, labels, k))
    if algorithm == "hdbscan":
        from sklearn.cluster import HDBSCAN

        if len(X) < 2 * max(min_size, 2):         # room for no two regions: all noise
            return RawFit(np.full(len(X), -1), np.empty((0, X.shape[1])))
        labels = HDBSCAN(min_cluster_size=max(min_size, 2), copy=True).fit(X).labels_
        found = int(labels.max()) + 1
        return RawFit(labels, member_means(X, labels, found))
    raise ValueError(f"unknown algorithm {algorithm!r}; one of {', '.join(ALGORITHMS)}")


def member_means(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean of each cluster's rows (rows labelled -1 left out)."""
    return np.array([X[labels == c].mean(axis=0) for c in range(k)]).reshape(k, X.shape[1])


def ward_labels(X: np.ndarray, k: int) -> np.ndarray:
    """Ward's partition of the rows into ``k`` clusters: the tree (built once per table)
    after its first n - k merges. scipy's ``cut_tree`` gives the same partition but walks
    the tree in Python, 0.3 s a cut at 2,000 rows; ``fcluster`` can return fewer than k
    clusters where merges tie (duplicate rows)."""
    tree, n = ward_tree(X), len(X)
    parent = list(range(2 * n - 1))
    for step in range(n - k):
        parent[int(tree[step, 0])] = parent[int(tree[step, 1])] = n + step
    roots = []
    for row in range(n):
        top = row
        while parent[top] != top:
            top = parent[top]
        while parent[row] != top:              # point the path at its root: later rows stop early
            parent[row], row = top, parent[row]
        roots.append(top)
    return np.unique(np.asarray(roots), return_inverse=True)[1].astype(np.int64)


def ward_tree(X: np.ndarray) -> np.ndarray:
    """scipy's Ward linkage matrix of the rows, kept for the last ``WARD_TREES`` tables: k
    selection cuts the table's tree and each bootstrap resample's (the same resamples for
    every k) at every k. A tree of n rows is (n - 1) x 4 numbers: 320 KB at 10,000 rows."""
    from scipy.cluster.hierarchy import linkage

    digest = hashlib.sha1(np.ascontiguousarray(X).tobytes()).hexdigest() + str(X.shape)
    if digest not in _WARD_TREES:
        if len(_WARD_TREES) >= WARD_TREES:
            _WARD_TREES.pop(next(iter(_WARD_TREES)))
        _WARD_TREES[digest] = linkage(X, method="ward")
    return _WARD_TREES[digest]


_WARD_TREES: dict[str, np.ndarray] = {}


def nearest(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each row's nearest centre."""
    return euclidean_distances(X, centres).argmin(axis=1)


def log_densities(X: np.ndarray, mixture: dict) -> np.ndarray:
    """Rows x components: log weight + log Gaussian density (a ``gmm`` model's mixture)."""
    from scipy.stats import multivariate_normal

    weights = np.asarray(mixture["weights"], dtype=float)
    means = np.asarray(mixture["means"], dtype=float)
    covariances = np.asarray(mixture["covariances"], dtype=float)
    return np.column_stack([
        np.log(w) + multivariate_normal(mean=m, cov=c, allow_singular=True).logpdf(X)
        for w, m, c in zip(weights, means, covariances)]).reshape(len(X), len(weights))


def probabilities(X: np.ndarray, centres: np.ndarray, *, mixture: dict | None = None,
                  sigma: float | None = None) -> np.ndarray:
    """Rows x segments: each row's probability of each segment (rows sum to 1).

    With a ``mixture``, its posterior; otherwise the equal-weight spherical mixture at the
    ``centres`` with spread ``sigma`` (see the module docstring).
    """
    X = np.asarray(X, dtype=float)
    if mixture is not None:
        logp = log_densities(X, mixture)
    else:
        spread = sigma or 1.0      # none recorded, or 0 (every typical member on its centroid)
        logp = -euclidean_distances(X, np.asarray(centres, dtype=float), squared=True) / (
            2 * spread ** 2)
    return np.exp(logp - logsumexp(logp, axis=1, keepdims=True))


def spread(X: np.ndarray, centres: np.ndarray, labels: np.ndarray, typical: np.ndarray) -> float:
    """``sigma``: root mean squared distance per feature of typical rows to their centroid."""
    rows = np.asarray(typical, dtype=bool)
    if not rows.any():
        rows = np.ones(len(X), dtype=bool)
    squared = ((X[rows] - centres[labels[rows]]) ** 2).sum(axis=1)
    return float(np.sqrt(squared.mean() / max(X.shape[1], 1)))


def reorder_mixture(mixture: dict | None, order: list[int]) -> dict | None:
    """The mixture with its components in ``order`` (segments are numbered by size)."""
    if mixture is None:
        return None
    return {key: np.asarray(value)[order] for key, value in mixture.items()}
