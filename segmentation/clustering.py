"""Feature scaling and the k-means model with a deterministic segment order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from segmentation.kselect import KSelection, fixed_k, sampled_silhouette, select_k
from segmentation.settings import SEED


def scale_features(features: pd.DataFrame, weights: dict[str, float] | None = None) -> np.ndarray:
    """Standard-scale each column (constant columns stay 0), then multiply by its weight.

    Weights let a block of many columns (a 48-point profile) count as much as
    one scalar: see the meter flow's documented weighting.
    """
    X = StandardScaler().fit_transform(features.to_numpy(dtype=float))
    X = np.nan_to_num(X)
    if weights:
        w = np.array([weights.get(c, 1.0) for c in features.columns], dtype=float)
        X = X * w
    return X


class SegmentModel:
    """k-means with ``n_init`` restarts and a fixed seed; segment 0 is the largest.

    Follows scikit-learn's estimator shape: ``fit``, ``predict``, ``transform``
    and ``fit_predict``; fitted attributes end with an underscore.
    """

    def __init__(self, k: int, *, seed: int = SEED, n_init: int = 10):
        if n_init < 10:
            raise ValueError("n_init must be >= 10 for a stable result")
        self.k, self.seed, self.n_init = k, seed, n_init

    def fit(self, X: np.ndarray) -> "SegmentModel":
        km = KMeans(n_clusters=self.k, n_init=self.n_init, random_state=self.seed).fit(X)
        sizes = np.bincount(km.labels_, minlength=self.k)
        # Order by size (desc), then centroid coordinates, so ids do not depend on k-means' init.
        keys = [(-sizes[i], *np.round(km.cluster_centers_[i], 9)) for i in range(self.k)]
        order = sorted(range(self.k), key=lambda i: keys[i])
        remap = np.empty(self.k, dtype=int)
        remap[order] = np.arange(self.k)
        self.cluster_centers_ = km.cluster_centers_[order]
        self.labels_ = remap[km.labels_]
        self.inertia_ = float(km.inertia_)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Euclidean distance of each row to each centroid."""
        return np.linalg.norm(X[:, None, :] - self.cluster_centers_[None, :, :], axis=2)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.transform(X).argmin(axis=1)

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).labels_

    def distance_to_centroid(self, X: np.ndarray) -> np.ndarray:
        """Each row's distance to its own centroid, in scaled feature space."""
        return self.transform(X)[np.arange(len(X)), self.predict(X)]


@dataclass(frozen=True)
class Segmentation:
    """A fitted segmentation: how k was chosen, the model and each row's label."""

    selection: KSelection
    model: SegmentModel
    labels: np.ndarray
    distance: np.ndarray
    silhouette: float


def segment(X: np.ndarray, *, k: int | None = None, k_min: int = 2, k_max: int = 10,
            seed: int = SEED, n_boot: int = 10) -> Segmentation:
    """Choose k (or take the given one), fit the final model, label every row."""
    if len(X) < 3:
        raise ValueError(f"need at least 3 rows to segment, got {len(X)}")
    if k is not None and not 2 <= k < len(X):
        raise ValueError(f"k={k} must be between 2 and the number of rows - 1 ({len(X) - 1})")
    selection = (fixed_k(X, k, seed=seed, n_boot=n_boot) if k is not None
                 else select_k(X, k_min, k_max, seed=seed, n_boot=n_boot))
    model = SegmentModel(selection.k, seed=seed).fit(X)
    labels = model.labels_
    silhouette = float(selection.metrics.set_index("k").loc[selection.k, "silhouette"]) \
        if k is None else sampled_silhouette(X, labels, seed)
    return Segmentation(selection, model, labels, model.distance_to_centroid(X), silhouette)


def centroids_in_units(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Mean of each original-unit column per segment (index: segment_id)."""
    return features.groupby(np.asarray(labels)).mean().rename_axis("segment_id")


def profiles_table(labels: np.ndarray, names: dict, centroids: pd.DataFrame) -> pd.DataFrame:
    """One row per segment: segment_id, segment_name, size, share, centroid columns."""
    sizes = pd.Series(labels).value_counts().reindex(centroids.index, fill_value=0)
    out = centroids.reset_index()
    out.insert(1, "segment_name", out["segment_id"].map(names))
    out.insert(2, "size", sizes.to_numpy())
    out.insert(3, "share", sizes.to_numpy() / max(len(labels), 1))
    return out
