"""Meter segments on two axes that each mean one thing, plus a seasonal flag.

- **Load shape** (``segment_id`` / ``segment_name``): k-means on the daily
  shape only, k chosen by the shared rule (``segmentation.kselect``; default
  range 3-10), names from ``naming``. The shape is the hourly profile (share
  of daily energy per local hour) as centred log-ratios: log(share + floor)
  minus the meter's mean log share. Why: shares are compositions (they sum to
  1), and in log-ratio terms "twice the usual share at 3 am" weighs as much as
  "twice the usual share at 7 pm", so night heating and small-hour standby
  are not drowned by the evening peak. The floor (1/8 of a flat hour's share)
  keeps hours with almost no use from dominating. Magnitude and seasonality
  are left out on purpose: mixed into one k-means they split homes by the size
  of their bill, which the band below already says. With ``shape=
  "weekday-weekend"`` the weekday and weekend shapes are used side by side,
  each with half the weight.
- **Consumption band** (``consumption_band``): Low / Medium / High Energy
  Users from mean daily kWh; by default the tertiles of the run's meters,
  or fixed thresholds (``kwh_bands``, e.g. (8, 15): < 8, 8-15, >= 15 kWh/day).
- **Seasonal Users** (``seasonal_user``): winter/summer ratio >= 1.5, only
  where the meter's window covers both seasons (hemisphere: ``seasons``).
- ``segment_label``: one readable line, e.g. "High Energy Users, Evening
  Peakers, Seasonal".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from segmentation.alignment import Alignment, align
from segmentation.algorithms import DEFAULT_ALGORITHM
from segmentation.artifact import (ModelArtifact, code_version, k_summary, membership_of,
                                   segments_of)
from segmentation.clustering import Segmentation, confidence_columns, segment
from segmentation.errors import InputError
from segmentation.kselect import KSelection
from segmentation.meters.naming import name_segments
from segmentation.naming import kept_names
from segmentation.settings import MIN_CONFIDENCE, SEED

SHAPES = ("daily", "weekday-weekend")
CLR_FLOOR = 1 / 24 / 8
BANDS = ("Low Energy Users", "Medium Energy Users", "High Energy Users")
MIN_SEASONAL_RATIO = 1.5


@dataclass
class MeterSegmentation:
    """Everything the meter outputs need about one run's segments (row order of the features)."""

    labels: np.ndarray
    names: dict[int, str]
    fallback_segments: set[int]
    distance: np.ndarray
    atypical: np.ndarray
    atypical_reason: list[str | None]
    selection: KSelection
    silhouette: float
    bands: pd.Series
    band_rule: dict
    seasonal: pd.Series
    segment_labels: list[str]
    weighting: dict = field(default_factory=dict)
    fit: Segmentation | None = None        # the fitted model, for the run's model artifact
    confidence: dict = field(default_factory=dict)   # segment_probability, is_low_confidence
    points: np.ndarray | None = None       # the shapes clustered (for the algorithm comparison)
    band_limits: tuple[float, float] | None = None   # unrounded (low, high) kWh/day
    alignment: Alignment | None = None     # the model's segments -> stable ids


def hourly(profile: np.ndarray) -> np.ndarray:
    """Meters x points (24 or 48) -> meters x 24 hourly shares."""
    points = profile.shape[1]
    return profile.reshape(len(profile), 24, points // 24).sum(axis=2)


def log_ratio(shares: np.ndarray) -> np.ndarray:
    """Centred log-ratio of each row of shares (see the module docstring)."""
    logs = np.log(np.nan_to_num(shares, nan=1 / 24) + CLR_FLOOR)
    return logs - logs.mean(axis=1, keepdims=True)


def shape_matrix(features: pd.DataFrame, shape: str = "daily") -> np.ndarray:
    """The rows k-means sees: log-ratio hourly shape(s) of every meter."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    daily = hourly(np.vstack(features["profile"].to_numpy()))
    if shape == "daily":
        return log_ratio(daily)
    parts = []
    for column in ("profile_weekday", "profile_weekend"):
        matrix = hourly(np.vstack(features[column].to_numpy()))
        missing = np.isnan(matrix).any(axis=1)  # no complete weekend day: use the daily shape
        matrix[missing] = daily[missing]
        parts.append(log_ratio(matrix) * np.sqrt(0.5))
    return np.hstack(parts)


def band_thresholds(kwh: pd.Series, thresholds: tuple[float, float] | None = None
                    ) -> tuple[float, float, str]:
    """(low, high, how they were set): the run's tertiles, or the fixed thresholds given."""
    if thresholds is None:
        low, high = (float(q) for q in np.quantile(kwh, [1 / 3, 2 / 3]))
        return low, high, "tertiles of this run's meters"
    low, high = (float(t) for t in thresholds)
    if not 0 <= low < high:
        raise InputError(f"--kwh-bands needs two increasing thresholds, got {low}, {high}")
    return low, high, "fixed thresholds (--kwh-bands)"


def bands_between(kwh: pd.Series, low: float, high: float) -> pd.Series:
    """Low below ``low``, High from ``high``, Medium between."""
    bands = np.where(kwh < low, BANDS[0], np.where(kwh < high, BANDS[1], BANDS[2]))
    return pd.Series(bands, index=kwh.index, dtype="string")


def consumption_bands(kwh: pd.Series, thresholds: tuple[float, float] | None = None
                      ) -> tuple[pd.Series, dict]:
    """Band of each meter and how the thresholds were set (for the manifest)."""
    low, high, how = band_thresholds(kwh, thresholds)
    rule = {"rule": how, "low_below_kwh_per_day": round(low, 3),
            "high_from_kwh_per_day": round(high, 3),
            "text": f"Low < {low:.1f} <= Medium < {high:.1f} <= High kWh/day ({how})"}
    return bands_between(kwh, low, high), rule


def seasonal_users(features: pd.DataFrame, min_ratio: float = MIN_SEASONAL_RATIO) -> pd.Series:
    """True where winter/summer >= ``min_ratio`` and the window covers both seasons."""
    ratio = features["winter_summer_ratio"].astype(float)
    return (features["seasonal_available"].astype(bool) & (ratio >= min_ratio)).fillna(False)


def segment_label(band: str, name: str, seasonal: bool) -> str:
    return f"{band}, {name}" + (", Seasonal" if seasonal else "")


def segment_meters(features: pd.DataFrame, *, k: int | None = None, k_min: int = 3,
                   k_max: int = 10, seed: int = SEED, shape: str = "daily",
                   kwh_bands: tuple[float, float] | None = None,
                   quarantined: pd.DataFrame | None = None,
                   min_size: int | None = None, previous: ModelArtifact | None = None,
                   previous_run_date: str | None = None, algorithm: str = DEFAULT_ALGORITHM,
                   min_confidence: float = MIN_CONFIDENCE) -> MeterSegmentation:
    """Shape archetypes by clustering (k-means by default), bands, seasonal flag and labels
    for every meter.

    Parameters
    ----------
    features : DataFrame
        One row per meter from ``features.meter_features``, sorted by meter_id.
    quarantined : DataFrame, optional
        The meters set aside (``reason``), named when too few are left.
    previous : ModelArtifact, optional
        The previous run's model: segment ids follow it (``alignment``).
    algorithm, min_confidence
        The clustering algorithm (``algorithms``) and the low-confidence threshold.
    """
    if len(features) < 3:
        why = ""
        if quarantined is not None and len(quarantined):
            reasons = quarantined["reason"].str.split(":").str[0].value_counts()
            why = (f"; {len(quarantined)} meters were set aside: "
                   + ", ".join(f"{n} {r}" for r, n in reasons.items()))
        raise InputError(f"only {len(features)} meters can be segmented, at least 3 are needed"
                         f"{why}; nothing was published")
    features = features.reset_index(drop=True)
    X = shape_matrix(features, shape)
    result = segment(X, k=k, k_min=k_min, k_max=k_max, seed=seed, min_size=min_size,
                     unit="meters", algorithm=algorithm)
    alignment = align(result.model.cluster_centers_, meter_space(shape), previous,
                      previous_run_date)
    names, fallbacks = name_segments(features, result.labels, ~result.atypical,
                                     prefer=kept_names(alignment))
    labels = np.array([alignment.ids[i] for i in range(result.model.k_)])[result.labels]
    names = {alignment.ids[i]: name for i, name in names.items()}
    fallbacks = {alignment.ids[i] for i in fallbacks}
    alignment.name(names)
    bands, band_rule = consumption_bands(features["mean_daily_kwh"].astype(float), kwh_bands)
    seasonal = seasonal_users(features)
    labels_text = [segment_label(b, names[int(s)], bool(x))
                   for b, s, x in zip(bands, labels, seasonal)]
    weighting = {"shape": shape, "representation": "centred log-ratio of hourly shares",
                 "columns": X.shape[1], "magnitude": "consumption_band (not clustered)",
                 "seasonality": "seasonal_user (not clustered)"}
    return MeterSegmentation(
        labels=labels, names=names, fallback_segments=fallbacks, distance=result.distance,
        atypical=result.atypical, atypical_reason=result.atypical_reason,
        selection=result.selection, silhouette=result.silhouette, bands=bands,
        band_rule=band_rule, seasonal=seasonal, segment_labels=labels_text, weighting=weighting,
        fit=result, band_limits=band_thresholds(features["mean_daily_kwh"].astype(float),
                                                kwh_bands)[:2], alignment=alignment,
        confidence=confidence_columns(result.probability, min_confidence), points=X)


def meter_space(shape: str) -> dict:
    """The space meter shapes are clustered in (no parameters of a run's own)."""
    return {"type": "meter-shape", "shape": shape, "features": SHAPE_COLUMNS[shape],
            "clr_floor": CLR_FLOOR}


SHAPE_COLUMNS = {"daily": ["profile"], "weekday-weekend": ["profile", "profile_weekday",
                                                           "profile_weekend"]}


def model_artifact(segmented: MeterSegmentation, *, shape: str, dataset: str,
                   run_date) -> ModelArtifact:
    """The run's model (``artifact``): the shape space, centroids, names, fences and bands."""
    centroids, segments = segments_of(segmented.fit.model, segmented.names,
                                      segmented.alignment.ids)
    return ModelArtifact(
        kind="meters", dataset=dataset, run_date=str(run_date), space=meter_space(shape),
        centroids=centroids, segments=segments, k=k_summary(segmented.fit),
        extra={"max_segment_id": segmented.alignment.max_segment_id,
               "ids_follow": segmented.alignment.previous_run_date,
               "bands": {"low_below_kwh_per_day": segmented.band_limits[0],
                         "high_from_kwh_per_day": segmented.band_limits[1],
                         "rule": segmented.band_rule["rule"]},
               "seasonal_min_ratio": MIN_SEASONAL_RATIO},
        algorithm=segmented.fit.algorithm,
        membership=membership_of(segmented.fit.model, segmented.alignment.ids),
        code_version=code_version())


def assign_meters(features: pd.DataFrame, model: ModelArtifact) -> pd.DataFrame:
    """Place meters (``features.meter_features`` rows) in a saved model's load shapes, bands
    (the run's thresholds) and seasonal flag; one row per meter, in order."""
    features = features.reset_index(drop=True)
    placed = model.assign(shape_matrix(features, model.space["shape"]))
    bands = model.extra["bands"]
    band = bands_between(features["mean_daily_kwh"].astype(float),
                         bands["low_below_kwh_per_day"], bands["high_from_kwh_per_day"])
    seasonal = seasonal_users(features, model.extra["seasonal_min_ratio"])
    labels = [segment_label(b, n, bool(x)) for b, n, x in zip(band, placed["segment_name"], seasonal)]
    return placed.assign(consumption_band=band.to_numpy(), seasonal_user=seasonal.to_numpy(),
                         segment_label=labels)
