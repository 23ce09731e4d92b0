"""Naming scaffolding shared by all datasets.

A dataset supplies a score per (segment, candidate name): > 0 means the name
fits, higher fits better. Names are then assigned one-to-one so that the total
fit is maximal (Hungarian algorithm); a segment no name fits gets a
descriptive fallback. Names are unique within a run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment


def zscores(centroids: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """Centroids relative to the population: (centroid - mean) / std, per column."""
    cols = list(centroids.columns)
    std = population[cols].std(ddof=0).replace(0, 1.0)
    return (centroids - population[cols].mean()) / std


def assign_names(scores: pd.DataFrame, fallback: Callable[[object], str]) -> dict:
    """Map each segment (index of ``scores``) to a unique name.

    Parameters
    ----------
    scores : DataFrame
        Index: segment ids; columns: candidate names; values: fit (> 0 fits).
    fallback : callable
        Segment id -> descriptive name, used when no candidate fits.
    """
    values = scores.to_numpy(dtype=float)
    names: dict = {}
    if values.size:
        rows, cols = linear_sum_assignment(-np.where(values > 0, values, 0.0))
        for r, c in zip(rows, cols):
            if values[r, c] > 0:
                names[scores.index[r]] = scores.columns[c]
    for segment in scores.index:
        if segment not in names:
            names[segment] = fallback(segment)
    return _dedupe(names)


def _dedupe(names: dict) -> dict:
    """Suffix ' (2)', ' (3)' to repeated names, in segment order."""
    seen: dict[str, int] = {}
    unique = {}
    for segment in sorted(names):
        name = names[segment]
        seen[name] = seen.get(name, 0) + 1
        unique[segment] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return unique
