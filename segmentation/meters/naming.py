"""Names of load-profile segments, from centroid statistics by documented rules.

Each rule scores a segment from its members' mean features, as z-scores
against all segmented meters (``segmentation.naming.zscores``); a score > 0
means the name fits. Names are then assigned one-to-one (Hungarian, shared
``assign_names``), so they are unique within a run.

=================  ===============================================================
name               score (z = z-score of the segment's mean vs all meters)
=================  ===============================================================
High Energy Users  z(log mean daily kWh) - 1
Low Energy Users   -z(log mean daily kWh) - 1
Seasonal Users     z(log winter/summer ratio) - 1, only when the ratio is >= 1.5
                   and the window covers winter and summer (else no fit)
Evening Peakers    z(share of energy 16-22 h) - 0.5
Morning Peakers    z(share of energy 06-10 h) - 0.5
Daytime Users      z(share of energy 10-16 h) - 0.5
Night Users        z(share of energy 00-06 h) - 0.5 (e.g. storage heating)
Flat/Baseload      -z(peak-to-mean ratio of the daily profile) - 0.5
=================  ===============================================================

A segment no name fits is called "Mixed profile (peak HH h, X kWh/day)".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.naming import assign_names, zscores

NAMES = ["High Energy Users", "Low Energy Users", "Seasonal Users", "Evening Peakers",
         "Morning Peakers", "Daytime Users", "Night Users", "Flat/Baseload"]
MIN_SEASONAL_RATIO = 1.5


def naming_stats(features: pd.DataFrame) -> pd.DataFrame:
    """The per-meter statistics the rules read."""
    return pd.DataFrame({
        "log_kwh": np.log(features["mean_daily_kwh"].clip(lower=1e-6)),
        "log_ws": np.log(features["winter_summer_ratio"].clip(lower=1e-6)),
        "evening_share": features["evening_share"], "morning_share": features["morning_share"],
        "daytime_share": features["daytime_share"], "night_share": features["night_share"],
        "peak_to_mean": features["peak_to_mean"],
    }, index=features.index)


def name_scores(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Segment x name score table (see the module docstring)."""
    stats = naming_stats(features)
    centroids = stats.groupby(labels).mean()
    z = zscores(centroids, stats)
    ratio = features.groupby(labels)["winter_summer_ratio"].mean()
    seasonal_ok = ratio.reindex(z.index).fillna(0) >= MIN_SEASONAL_RATIO
    scores = pd.DataFrame(index=z.index, columns=NAMES, dtype=float)
    scores["High Energy Users"] = z["log_kwh"] - 1
    scores["Low Energy Users"] = -z["log_kwh"] - 1
    scores["Seasonal Users"] = np.where(seasonal_ok & z["log_ws"].notna(), z["log_ws"] - 1, 0.0)
    scores["Evening Peakers"] = z["evening_share"] - 0.5
    scores["Morning Peakers"] = z["morning_share"] - 0.5
    scores["Daytime Users"] = z["daytime_share"] - 0.5
    scores["Night Users"] = z["night_share"] - 0.5
    scores["Flat/Baseload"] = -z["peak_to_mean"] - 0.5
    return scores.fillna(0.0)


def name_segments(features: pd.DataFrame, labels: np.ndarray) -> dict[int, str]:
    """Segment id -> unique name."""
    scores = name_scores(features, labels)
    summary = features.groupby(labels).agg(peak=("peak_hour", "median"),
                                           kwh=("mean_daily_kwh", "mean"))

    def fallback(segment) -> str:
        row = summary.loc[segment]
        return f"Mixed profile (peak {int(row['peak']):02d} h, {row['kwh']:.1f} kWh/day)"

    return {int(k): v for k, v in assign_names(scores, fallback).items()}
