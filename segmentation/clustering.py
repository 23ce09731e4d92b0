"""Feature scaling, then k selection and the final model (``segmentation.model``) in one call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from segmentation.algorithms import DEFAULT_ALGORITHM, has_k
from segmentation.errors import InputError
from segmentation.kselect import KSelection, NoSegments, fixed_k, sampled_silhouette, select_k
from segmentation.model import SegmentModel
from segmentation.settings import SEED


@dataclass(frozen=True)
class Scaling:
    """Standard scaling of named columns, then a weight per column: what k-means saw.

    Kept with the model (``segmentation.artifact``) so a new member is scaled with the
    run's means and spreads, not its own. Weights let a block of many columns count as
    much as one scalar.
    """

    columns: list[str]
    mean: list[float]
    scale: list[float]             # 1.0 for a constant column, as scikit-learn has it
    weights: list[float]

    @classmethod
    def fit(cls, features: pd.DataFrame, weights: dict[str, float] | None = None) -> "Scaling":
        scaler = StandardScaler().fit(features.to_numpy(dtype=float))
        return cls(list(features.columns), scaler.mean_.tolist(), scaler.scale_.tolist(),
                   [float((weights or {}).get(c, 1.0)) for c in features.columns])

    def apply(self, features: pd.DataFrame) -> np.ndarray:
        """Rows in the scaled space (a missing value sits at the mean, 0)."""
        X = features[self.columns].to_numpy(dtype=float, copy=True)
        X -= np.asarray(self.mean)
        X /= np.asarray(self.scale)
        X = np.nan_to_num(X)
        if any(w != 1.0 for w in self.weights):
            X = X * np.asarray(self.weights)
        return X


@dataclass(frozen=True)
class Segmentation:
    """A fitted segmentation: how k was chosen, the model, each row's label, distance to its
    centroid, probability of its segment (``algorithms.probabilities``) and atypical flag."""

    selection: KSelection
    model: SegmentModel
    labels: np.ndarray
    distance: np.ndarray
    silhouette: float
    probability: np.ndarray | None = None

    @property
    def atypical(self) -> np.ndarray:
        return self.model.atypical_

    @property
    def atypical_reason(self) -> list[str | None]:
        return self.model.atypical_reason_

    @property
    def algorithm(self) -> str:
        return self.model.algorithm


def segment(X: np.ndarray, *, k: int | None = None, k_min: int = 2, k_max: int = 10,
            seed: int = SEED, n_boot: int = 10, min_size: int | None = None,
            unit: str = "rows", algorithm: str = DEFAULT_ALGORITHM) -> Segmentation:
    """Choose k (or take the given one), fit the final model, label every row.

    The final model is refitted with the same seed, so it is the model the
    chosen k's metrics describe. ``unit`` names the rows in messages
    ("customers", "meters"). Inputs that cannot hold two segments are refused
    with ``kselect.NoSegments``; a given k that the rows cannot hold, or a k given
    to HDBSCAN, with ``InputError``.
    """
    if len(X) >= 3 and not np.ptp(X, axis=0).any():     # every column constant: rows alike
        raise NoSegments(f"all {len(X):,} {unit} have the same values of the features: there "
                         "are no segments to find. Nothing was published")
    if k is not None and not has_k(algorithm):
        raise InputError(f"--k {k} cannot be used with --algorithm {algorithm}: it finds its "
                         "own number of segments (its minimum size is --min-segment-size)")
    if k is not None and not 2 <= k < len(X):
        raise InputError(f"--k {k} needs more than {k} {unit}, and there are {len(X):,}: "
                         "choose a smaller k or let the pipeline choose")
    selection = (fixed_k(X, k, seed=seed, n_boot=n_boot, min_size=min_size, algorithm=algorithm)
                 if k is not None
                 else select_k(X, k_min, k_max, seed=seed, n_boot=n_boot, min_size=min_size,
                               unit=unit, algorithm=algorithm))
    model = SegmentModel(selection.k if has_k(algorithm) else None, seed=seed, min_size=min_size,
                         algorithm=algorithm).fit(X)
    labels = model.labels_
    # The final model's own silhouette: the chosen k's in the metrics when k was chosen on
    # every row (the same seeded fit), that of all rows when it was chosen on a sample.
    silhouette = sampled_silhouette(X, labels, seed)
    probability = model.predict_proba(X)[np.arange(len(X)), labels]
    return Segmentation(selection, model, labels, model.distance_, silhouette, probability)


def confidence_columns(probability: np.ndarray, min_confidence: float) -> dict:
    """``segment_probability`` and ``is_low_confidence`` (below ``min_confidence``) of the
    output contract."""
    probability = np.asarray(probability, dtype=float)
    return {"segment_probability": probability,
            "is_low_confidence": probability < min_confidence}


def centroids_in_units(features: pd.DataFrame, labels: np.ndarray,
                       typical: np.ndarray | None = None) -> pd.DataFrame:
    """Mean of each original-unit column per segment over its typical members (all of them for
    a segment with none), index: segment_id."""
    labels = np.asarray(labels)
    means = features.groupby(labels).mean()
    if typical is not None:
        typical = np.asarray(typical, dtype=bool)
        means = features[typical].groupby(labels[typical]).mean().reindex(means.index).fillna(means)
    return means.rename_axis("segment_id")


def profiles_table(labels: np.ndarray, names: dict, centroids: pd.DataFrame,
                   atypical: np.ndarray | None = None) -> pd.DataFrame:
    """One row per segment: the contract's profile columns, then the centroid columns."""
    labels = np.asarray(labels)
    sizes = pd.Series(labels).value_counts().reindex(centroids.index, fill_value=0)
    flagged = (pd.Series(labels[np.asarray(atypical, dtype=bool)]).value_counts()
               .reindex(centroids.index, fill_value=0) if atypical is not None
               else pd.Series(0, index=centroids.index))
    out = centroids.reset_index()
    out["segment_id"] = out["segment_id"].astype(np.int32)
    out.insert(1, "segment_name", out["segment_id"].map(names))
    out.insert(2, "size", sizes.to_numpy().astype(np.int64))
    out.insert(3, "share", sizes.to_numpy() / max(len(labels), 1))
    out.insert(4, "atypical", flagged.to_numpy().astype(np.int64))
    return out
