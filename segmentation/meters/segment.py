"""Cluster meters on daily shape, magnitude and seasonality with the shared k-means pieces.

Weighting (each block's total variance after standard scaling, see
``segmentation.clustering.scale_features``):

- daily shape: the normalised profile (24 or 48 columns), total weight 2
  (each column weighted sqrt(2 / points));
- magnitude: log mean daily kWh, weight 1;
- seasonality: log winter/summer ratio, weight 1, used only when at least
  half of the meters have a window covering winter and summer (missing values
  then take the median); otherwise left out and the report says so.

Shape counts double because it is what distinguishes most named segments;
magnitude and seasonality each separate one pair of names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segmentation.clustering import scale_features, segment
from segmentation.errors import InputError
from segmentation.kselect import KSelection
from segmentation.meters.naming import name_segments
from segmentation.settings import SEED

SHAPE_WEIGHT, MAGNITUDE_WEIGHT, SEASONAL_WEIGHT = 2.0, 1.0, 1.0
MIN_SEASONAL_SHARE = 0.5


@dataclass
class Segmentation:
    labels: np.ndarray
    names: dict[int, str]
    distance: np.ndarray
    selection: KSelection
    silhouette: float
    weighting: dict


def clustering_frame(features: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float], dict]:
    """Columns to cluster on, their weights, and a note on what was used."""
    profile = np.vstack(features["profile"].to_numpy())
    points = profile.shape[1]
    frame = pd.DataFrame(profile, columns=[f"p{i:02d}" for i in range(points)], index=features.index)
    weights = {c: float(np.sqrt(SHAPE_WEIGHT / points)) for c in frame.columns}
    frame["log_mean_daily_kwh"] = np.log(features["mean_daily_kwh"].clip(lower=1e-6))
    weights["log_mean_daily_kwh"] = float(np.sqrt(MAGNITUDE_WEIGHT))
    share = float(features["seasonal_available"].mean()) if len(features) else 0.0
    used_seasonal = share >= MIN_SEASONAL_SHARE
    if used_seasonal:
        ratio = np.log(features["winter_summer_ratio"].clip(lower=1e-6))
        frame["log_winter_summer_ratio"] = ratio.fillna(ratio.median())
        weights["log_winter_summer_ratio"] = float(np.sqrt(SEASONAL_WEIGHT))
    note = {"shape": {"columns": points, "total_weight": SHAPE_WEIGHT},
            "magnitude": {"column": "log_mean_daily_kwh", "weight": MAGNITUDE_WEIGHT},
            "seasonality": ({"column": "log_winter_summer_ratio", "weight": SEASONAL_WEIGHT}
                            if used_seasonal else
                            f"not used: only {share:.0%} of meters cover winter and summer")}
    return frame, weights, note


def segment_meters(features: pd.DataFrame, *, k: int | None = None, k_min: int = 2,
                   k_max: int = 10, seed: int = SEED) -> Segmentation:
    """Choose k (or use the given one), fit k-means, name the segments.

    Parameters
    ----------
    features : DataFrame
        One row per meter from ``features.meter_features``, sorted by meter_id.
    """
    frame, weights, note = clustering_frame(features)
    X = scale_features(frame, weights)
    if len(X) < 3:
        raise InputError(f"only {len(X)} meters can be segmented; need at least 3 "
                         "(see quarantine_meters for the others)")
    result = segment(X, k=k, k_min=k_min, k_max=k_max, seed=seed)
    names = name_segments(features.reset_index(drop=True), result.labels)
    return Segmentation(labels=result.labels, names=names, distance=result.distance,
                        selection=result.selection, silhouette=result.silhouette, weighting=note)
