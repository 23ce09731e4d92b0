"""Choosing k: elbow, silhouette, Calinski-Harabasz, Davies-Bouldin and bootstrap stability.

The rule (also in the README):

1. A k is *stable* when the mean adjusted Rand index between the full-data
   clustering and clusterings of bootstrap resamples is >= ``min_stability``.
   If no k is stable, every k stays a candidate.
2. Among stable k, the best silhouette ``s*`` is found; every stable k whose
   silhouette is within ``tolerance`` of ``s*`` is a near-best candidate.
3. If the inertia elbow (kneed's Kneedle) is a near-best candidate it is
   chosen: the two criteria agree. Otherwise the candidate with the highest
   silhouette is chosen (ties: the smaller k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import (adjusted_rand_score, calinski_harabasz_score,
                             davies_bouldin_score, silhouette_score)

from segmentation.settings import SEED

SILHOUETTE_SAMPLE = 10_000  # silhouette is O(n^2): sample beyond this many rows


@dataclass(frozen=True)
class KSelection:
    """The chosen k, why, and the per-k metrics it was chosen from."""

    k: int
    rule: str
    knee: int | None
    metrics: pd.DataFrame


def find_knee(k_values: list[int], inertia: list[float]) -> int | None:
    """Elbow of a decreasing convex inertia curve, or None when Kneedle finds none."""
    from kneed import KneeLocator

    if len(k_values) < 3:
        return None
    locator = KneeLocator(k_values, inertia, curve="convex", direction="decreasing",
                          interp_method="interp1d")
    return int(locator.knee) if locator.knee is not None else None


def sampled_silhouette(X: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Silhouette, on a seeded sample beyond SILHOUETTE_SAMPLE rows."""
    sample = SILHOUETTE_SAMPLE if len(X) > SILHOUETTE_SAMPLE else None
    return float(silhouette_score(X, labels, sample_size=sample, random_state=seed))


def bootstrap_stability(X: np.ndarray, k: int, labels: np.ndarray, *, n_boot: int = 10,
                        seed: int = SEED, n_init: int = 4) -> float:
    """Mean ARI between ``labels`` and k-means fitted on bootstrap resamples, predicted on all of X."""
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(n_boot):
        idx = rng.choice(len(X), size=len(X), replace=True)
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(X[idx])
        scores.append(adjusted_rand_score(labels, model.predict(X)))
    return float(np.mean(scores))


def evaluate_k_range(X: np.ndarray, k_values: list[int], *, seed: int = SEED,
                     n_init: int = 10, n_boot: int = 10) -> pd.DataFrame:
    """One row per k: inertia, silhouette, calinski_harabasz, davies_bouldin, stability."""
    rows = []
    for k in k_values:
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(X)
        labels = model.labels_
        rows.append({
            "k": k,
            "inertia": float(model.inertia_),
            "silhouette": sampled_silhouette(X, labels, seed),
            "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
            "davies_bouldin": float(davies_bouldin_score(X, labels)),
            "stability": bootstrap_stability(X, k, labels, n_boot=n_boot, seed=seed),
        })
    return pd.DataFrame(rows)


def choose_k(metrics: pd.DataFrame, knee: int | None, *, min_stability: float = 0.75,
             tolerance: float = 0.02) -> tuple[int, str]:
    """Apply the documented rule to a metrics table; return k and a sentence saying why."""
    stable = metrics[metrics["stability"] >= min_stability]
    note = f"{len(stable)} of {len(metrics)} k values stable (bootstrap ARI >= {min_stability})"
    if stable.empty:
        stable, note = metrics, f"no k reached bootstrap ARI {min_stability}; all k considered"
    best = stable["silhouette"].max()
    near = stable[stable["silhouette"] >= best - tolerance].sort_values(
        ["silhouette", "k"], ascending=[False, True])
    near_ks = sorted(int(k) for k in near["k"])
    if knee is not None and knee in near_ks:
        row = near[near["k"] == knee].iloc[0]
        return knee, (f"{note}; elbow at k={knee} is within {tolerance} of the best silhouette "
                      f"({row['silhouette']:.3f} vs {best:.3f}) among k={near_ks}")
    row = near.iloc[0]
    knee_text = "no elbow found" if knee is None else f"elbow k={knee} is not near-best"
    return int(row["k"]), (f"{note}; {knee_text}; highest silhouette "
                           f"{row['silhouette']:.3f} at k={int(row['k'])}")


def select_k(X: np.ndarray, k_min: int = 2, k_max: int = 10, *, seed: int = SEED,
             n_boot: int = 10) -> KSelection:
    """Evaluate k_min..k_max (capped below the number of rows) and choose k."""
    k_max = min(k_max, len(X) - 1)
    if k_max < k_min:
        raise ValueError(f"need more than {k_min} rows to choose k, got {len(X)}")
    k_values = list(range(k_min, k_max + 1))
    metrics = evaluate_k_range(X, k_values, seed=seed, n_boot=n_boot)
    knee = find_knee(k_values, metrics["inertia"].tolist())
    k, rule = choose_k(metrics, knee)
    return KSelection(k=k, rule=rule, knee=knee, metrics=metrics)


def fixed_k(X: np.ndarray, k: int, *, seed: int = SEED, n_boot: int = 10) -> KSelection:
    """A user-given k, with its metrics still recorded."""
    metrics = evaluate_k_range(X, [k], seed=seed, n_boot=n_boot)
    return KSelection(k=k, rule=f"k={k} given by the user (--k)", knee=None, metrics=metrics)
