"""Choosing k on data that is often only weakly clustered.

Real customer and meter data rarely has clean gaps: silhouette is 0.1-0.25 at
every k and falls as k grows, so "highest silhouette" picks the smallest k in
range, and it rewards isolating a few odd rows. The rule therefore leans on
reproducibility and on diminishing returns, not on silhouette. Per k in
``k_min..k_max``:

1. **Fit the model that would be published** (``model.SegmentModel``):
   k-means whose segments all have at least ``min_segment_size`` members; rows
   that would form a smaller segment are *atypical* and join their nearest
   segment. Why: k is judged by the segments it would really produce, and an
   outlier can never be a segment. A k whose segments cannot all reach the
   floor is *infeasible* and never chosen.
2. **Stability**: the mean adjusted Rand index between the model's labels and
   k-means refitted on ``n_boot`` bootstrap resamples (on a seeded sample of at
   most ``STABILITY_SAMPLE`` rows). A k is *stable* when it is >= ``MIN_STABILITY``
   (0.75, the usual bar for "good agreement"). Why: a segment an analyst acts on
   must come back when the data are resampled. When no feasible k is stable the
   data has *weak structure*: every feasible k stays a candidate and the report
   says so plainly.
3. **Elbow**: if the inertia curve's elbow (Kneedle, ``kneed``) is a candidate,
   it is chosen. Why: the elbow is where one more segment stops explaining much
   more variance, a criterion that does not shrink with k.
4. If the elbow is not a candidate, the candidate **nearest the elbow** (ties:
   the smaller k). Why: the closest granularity that is reproducible.
5. **No elbow** (a straight or flat curve, or fewer than three k): the candidate
   with the highest silhouette (ties: the smaller k). Why: without a knee there
   is no diminishing-returns point; silhouette is the remaining tie-breaker.
6. **Small inputs**: when no k in the range is feasible (20 meters allow at
   most 4 segments of at least 5, and k-means may not find even 3), the
   largest feasible k below the range is taken, down to 2, and the rule's
   sentence says so. When not even k=2 is feasible the run is refused
   (``NoSegments``): a paragraph naming the count and the options. Why: a pilot
   of 20 meters is an ordinary input, and two honest segments beat a crash.

Other algorithms (``algorithms``): Ward uses the same rule on its within-segment
variance; a Gaussian mixture the same stability check, then the lowest BIC among the
candidates instead of the elbow (steps 3-5); HDBSCAN has no k to choose
(``density_selection``): its minimum cluster size is the size floor.

Silhouette (sampled beyond ``SILHOUETTE_SAMPLE`` rows), Calinski-Harabasz and
Davies-Bouldin are reported for every k, with the stability. Beyond
``SELECTION_SAMPLE`` rows, k is chosen on a seeded sample of that many rows
(a segment structure that a 20,000-row sample cannot show is not one to act
on); the final model is then fitted on all rows (``model.SegmentModel``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.metrics import (adjusted_rand_score, calinski_harabasz_score,
                             davies_bouldin_score, silhouette_score)

from segmentation.algorithms import DEFAULT_ALGORITHM, fit_clusters, has_k, log_densities
from segmentation.errors import InputError
from segmentation.model import MIN_SEGMENT_MEMBERS as MIN_MEMBERS
from segmentation.model import OWN_LABELS, InfeasibleK, SegmentModel, min_segment_size
from segmentation.settings import SEED

SILHOUETTE_SAMPLE = 2_500  # silhouette is O(n^2): always on at most this many rows
STABILITY_SAMPLE = 3_000    # bootstrap refits on a seeded sample beyond this many rows
SELECTION_SAMPLE = 20_000   # k is chosen on a seeded sample beyond this many rows
MIN_STABILITY = 0.75


@dataclass(frozen=True)
class KSelection:
    """The chosen k, why, and the per-k metrics it was chosen from.

    ``weak_structure`` is True when no feasible k reached ``MIN_STABILITY``.
    """

    k: int
    rule: str
    knee: int | None
    metrics: pd.DataFrame
    weak_structure: bool = False

    @property
    def stability(self) -> float:
        """Bootstrap stability (mean ARI) of the chosen k."""
        return float(self.metrics.set_index("k").loc[self.k, "stability"])


def find_knee(k_values: list[int], inertia: list[float]) -> int | None:
    """Elbow of a decreasing convex inertia curve, or None when Kneedle finds none."""
    from kneed import KneeLocator

    if len(k_values) < 3:
        return None
    locator = KneeLocator(k_values, inertia, curve="convex", direction="decreasing",
                          interp_method="interp1d")
    return int(locator.knee) if locator.knee is not None else None


def sampled_silhouette(X: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Silhouette, on a seeded sample beyond SILHOUETTE_SAMPLE rows (it is O(rows^2))."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    if len(X) > SILHOUETTE_SAMPLE:
        keep = np.random.default_rng(seed).choice(len(X), size=SILHOUETTE_SAMPLE, replace=False)
        X, labels = X[keep], labels[keep]
        if len(np.unique(labels)) < 2:
            return float("nan")
    return float(silhouette_score(X, labels))


def bootstrap_stability(X: np.ndarray, k: int | None, labels: np.ndarray, *, n_boot: int = 10,
                        seed: int = SEED, n_init: int = 4,
                        sample: int = STABILITY_SAMPLE, algorithm: str = DEFAULT_ALGORITHM,
                        min_size: int = 5) -> float:
    """Mean ARI between ``labels`` and the algorithm fitted on bootstrap resamples.

    Each resample's model predicts every row of the (sampled) data (nearest centroid, or
    most probable component for gmm); Ward and HDBSCAN are compared on the distinct rows
    drawn, with their own labels (HDBSCAN noise counts as a label of its own). Beyond
    ``sample`` rows a seeded subsample stands for the data, so the cost does not grow
    with the table.
    """
    rng = np.random.default_rng(seed)
    if len(X) > sample:
        keep = np.sort(rng.choice(len(X), size=sample, replace=False))
        X, labels = X[keep], labels[keep]
    scores = []
    for _ in range(n_boot):
        idx = rng.choice(len(X), size=len(X), replace=True)
        if algorithm in OWN_LABELS:
            # Ward's and HDBSCAN's segments are not nearest-centroid regions: compare their own
            # labels on the distinct rows drawn (a repeated row would fake density).
            idx = np.unique(idx)
        raw = fit_clusters(algorithm, X[idx], k, seed=seed, n_init=n_init, min_size=min_size)
        if algorithm in OWN_LABELS:
            scores.append(adjusted_rand_score(labels[idx], raw.labels))
        else:
            scores.append(adjusted_rand_score(labels, raw.predict(X)))
    return float(np.mean(scores))


class NoSegments(InputError):
    """No k >= 2 gives segments that all reach the size floor, or every row is alike."""


def k_metrics(X: np.ndarray, k: int | None, *, seed: int = SEED, n_boot: int = 10,
              min_size: int | None = None, algorithm: str = DEFAULT_ALGORITHM) -> dict:
    """Fit the published model for one k and measure it (see the module docstring)."""
    try:
        model = SegmentModel(k, seed=seed, min_size=min_size, algorithm=algorithm).fit(X)
    except InfeasibleK as err:
        return {"k": k, "feasible": False, "note": str(err)}
    labels = model.labels_
    sizes = np.bincount(labels, minlength=model.k_)
    row = {
        "k": model.k_, "feasible": True,
        "inertia": model.inertia_,
        "silhouette": sampled_silhouette(X, labels, seed),
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
        "stability": bootstrap_stability(X, k, labels, n_boot=n_boot, seed=seed,
                                         algorithm=algorithm, min_size=model.min_size_),
        "smallest_share": float(sizes.min() / len(X)),
        "atypical": int(model.atypical_.sum()),
        "note": "",
    }
    if model.mixture_ is not None:
        row["bic"] = bic(X, model)
    return row


def bic(X: np.ndarray, model: SegmentModel) -> float:
    """Bayesian information criterion of a gmm model on the rows (lower is better)."""
    n, d = X.shape
    k = model.k_
    loglik = float(logsumexp(log_densities(X, model.mixture_), axis=1).sum())
    parameters = (k - 1) + k * d + k * d * (d + 1) / 2
    return -2 * loglik + parameters * np.log(n)


METRIC_COLUMNS = ["k", "feasible", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin",
                  "stability", "smallest_share", "atypical", "bic", "note"]


def evaluate_k_range(X: np.ndarray, k_values: list[int], *, seed: int = SEED,
                     n_boot: int = 10, min_size: int | None = None,
                     algorithm: str = DEFAULT_ALGORITHM) -> pd.DataFrame:
    """One row per k: ``METRIC_COLUMNS`` (infeasible k have NaN metrics and a note)."""
    rows = [k_metrics(X, k, seed=seed, n_boot=n_boot, min_size=min_size, algorithm=algorithm)
            for k in k_values]
    return pd.DataFrame(rows).reindex(columns=METRIC_COLUMNS)


def choose_k(metrics: pd.DataFrame, knee: int | None, *,
             min_stability: float = MIN_STABILITY, by_bic: bool = False) -> tuple[int, str, bool]:
    """Apply the documented rule; return k, a sentence saying why, and weak structure.

    ``by_bic`` (gmm): the candidate with the lowest BIC instead of the elbow steps.
    """
    feasible = metrics[metrics["feasible"].astype(bool)]
    if feasible.empty:
        raise ValueError("no k in range gives segments that all reach the minimum size")
    stable = feasible[feasible["stability"] >= min_stability]
    weak = stable.empty
    if weak:
        candidates = feasible
        note = (f"weak structure: no k reached bootstrap stability {min_stability} "
                f"(best {feasible['stability'].max():.2f}), so every k was a candidate and "
                "segments will move between runs more than usual")
    else:
        candidates = stable
        note = (f"{len(stable)} of {len(feasible)} k values stable (bootstrap ARI >= "
                f"{min_stability}): k={', '.join(str(k) for k in sorted(int(k) for k in stable['k']))}")
    ks = sorted(int(k) for k in candidates["k"])
    if by_bic:
        best = candidates.sort_values(["bic", "k"]).iloc[0]
        return int(best["k"]), f"{note}; lowest BIC {best['bic']:,.1f} at k={int(best['k'])}", weak
    if knee is not None and knee in ks:
        return knee, f"{note}; the inertia elbow k={knee} is a candidate, chosen", weak
    if knee is not None:
        k = min(ks, key=lambda c: (abs(c - knee), c))
        return k, f"{note}; the inertia elbow k={knee} is not a candidate; nearest candidate k={k}", weak
    best = candidates.sort_values(["silhouette", "k"], ascending=[False, True]).iloc[0]
    k = int(best["k"])
    return k, f"{note}; no elbow found; highest silhouette {best['silhouette']:.3f} at k={k}", weak


def selection_rows(n_rows: int, seed: int = SEED) -> np.ndarray | None:
    """The seeded sample k is chosen on, or None when every row is used."""
    if n_rows <= SELECTION_SAMPLE:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=SELECTION_SAMPLE, replace=False))


def capacity(n_rows: int, floor: int, unit: str = "rows") -> tuple[int, str]:
    """The most segments ``n_rows`` can hold at ``floor`` members each (fewer than the rows:
    a segment per row is no segmentation), and the sentence saying so."""
    most = min(n_rows // floor, n_rows - 1)
    return most, f"{n_rows:,} {unit} allow at most {most} segments of at least {floor}"


def no_segments(n_rows: int, floor: int, given_floor: bool, unit: str) -> NoSegments:
    """The paragraph for an input where not even k=2 is feasible: the count and the options."""
    source = ("the floor set by --min-segment-size" if given_floor else
              f"the default floor: max(2% of the {unit}, {MIN_MEMBERS})")
    options = f"a smaller floor with --min-segment-size (e.g. --min-segment-size 2), or more {unit}"
    if n_rows < 3:
        why, options = f"only {n_rows:,} {unit}: at least 3 are needed to form 2 segments", \
            f"more {unit}"
    elif n_rows < 2 * floor:
        why = f"{n_rows:,} {unit} cannot form 2 segments of at least {floor} members each ({source})"
    else:
        why = (f"k-means finds no 2 segments of these {n_rows:,} {unit} that both reach {floor} "
               f"members ({source}): one group stays smaller")
    return NoSegments(f"{why}, so there are no segments to publish. Options: {options}. "
                      "Nothing was published")


def select_k(X: np.ndarray, k_min: int = 2, k_max: int = 10, *, seed: int = SEED,
             n_boot: int = 10, min_size: int | None = None, unit: str = "rows",
             algorithm: str = DEFAULT_ALGORITHM) -> KSelection:
    """Evaluate k_min..k_max (capped below the number of rows) and choose k.

    When no k in the range is feasible, the largest feasible k below it is
    taken (down to 2); when none is, ``NoSegments`` (rule 6 of the module).
    gmm chooses among the candidates by BIC; hdbscan has no k (``density_selection``).
    """
    if not has_k(algorithm):
        return density_selection(X, seed=seed, n_boot=n_boot, min_size=min_size, unit=unit)
    sample = selection_rows(len(X), seed)
    rows = X if sample is None else X[sample]
    floor = min_size or min_segment_size(len(rows))
    most, limit = capacity(len(rows), floor, unit)
    k_values = list(range(k_min, min(k_max, len(X) - 1) + 1))
    metrics = evaluate_k_range(rows, k_values, seed=seed, n_boot=n_boot, min_size=min_size,
                               algorithm=algorithm)
    feasible = metrics[metrics["feasible"].astype(bool)]
    if feasible.empty:
        return _below_range(rows, metrics, k_min, k_max, seed=seed, n_boot=n_boot,
                            min_size=min_size, floor=floor, unit=unit, limit=limit,
                            algorithm=algorithm)
    by_bic = algorithm == "gmm"
    knee = None if by_bic else find_knee(feasible["k"].astype(int).tolist(),
                                         feasible["inertia"].tolist())
    k, rule, weak = choose_k(metrics, knee, by_bic=by_bic)
    if most < k_max:
        rule = f"{limit}; {rule}"
    if sample is not None:
        rule = f"chosen on a seeded sample of {len(sample):,} of {len(X):,} rows: {rule}"
    return KSelection(k=k, rule=rule, knee=knee, metrics=metrics, weak_structure=weak)


def _below_range(rows: np.ndarray, metrics: pd.DataFrame, k_min: int, k_max: int, *, seed: int,
                 n_boot: int, min_size: int | None, floor: int, unit: str,
                 limit: str, algorithm: str = DEFAULT_ALGORITHM) -> KSelection:
    """The largest feasible k below ``k_min`` (down to 2), with its metrics added to the table
    (first: the range's k are all larger)."""
    for k in range(min(k_min - 1, len(rows) - 1), 1, -1):
        row = k_metrics(rows, k, seed=seed, n_boot=n_boot, min_size=min_size, algorithm=algorithm)
        if row["feasible"]:
            table = (pd.concat([pd.DataFrame([row]), metrics], ignore_index=True)
                     .reindex(columns=METRIC_COLUMNS).astype({"k": "int64", "feasible": bool}))
            rule = (f"{limit}, and no k in the range {k_min}-{k_max} gives segments that all "
                    f"reach it: k={k}, the largest feasible k below the range")
            return KSelection(k=k, rule=rule, knee=None, metrics=table,
                              weak_structure=bool(row["stability"] < MIN_STABILITY))
    raise no_segments(len(rows), floor, min_size is not None, unit)


def density_selection(X: np.ndarray, *, seed: int = SEED, n_boot: int = 10,
                      min_size: int | None = None, unit: str = "rows") -> KSelection:
    """HDBSCAN's segments: no k to choose; its minimum cluster size is the size floor.

    Refused with ``NoSegments`` when it finds fewer than two dense regions.
    """
    sample = selection_rows(len(X), seed)
    rows = X if sample is None else X[sample]
    floor = min_size or min_segment_size(len(rows))
    row = k_metrics(rows, None, seed=seed, n_boot=n_boot, min_size=min_size, algorithm="hdbscan")
    if not row["feasible"]:
        raise NoSegments(
            f"HDBSCAN finds no two dense regions of at least {floor} {unit} among these "
            f"{len(rows):,} {unit}, so there are no segments to publish. "
            "Options: another --algorithm (kmeans, gmm or agglomerative always form k "
            "segments), or a smaller --min-segment-size. Nothing was published")
    metrics = pd.DataFrame([row]).reindex(columns=METRIC_COLUMNS)
    rule = (f"HDBSCAN has no k: with a minimum cluster size of {floor} {unit} (the size floor) "
            f"it finds {row['k']} dense regions; {row['atypical']:,} of {len(rows):,} {unit} "
            "are noise or far out, atypical in their nearest segment")
    if sample is not None:
        rule = f"on a seeded sample of {len(sample):,} of {len(X):,} rows: {rule}"
    return KSelection(k=int(row["k"]), rule=rule, knee=None, metrics=metrics,
                      weak_structure=bool(row["stability"] < MIN_STABILITY))


def fixed_k(X: np.ndarray, k: int, *, seed: int = SEED, n_boot: int = 10,
            min_size: int | None = None, algorithm: str = DEFAULT_ALGORITHM) -> KSelection:
    """A user-given k, with its metrics still recorded."""
    sample = selection_rows(len(X), seed)
    metrics = evaluate_k_range(X if sample is None else X[sample], [k], seed=seed, n_boot=n_boot,
                               min_size=min_size, algorithm=algorithm)
    if not metrics["feasible"].iloc[0]:
        raise InputError(f"--k {k} cannot be used: {metrics['note'].iloc[0]}; choose a smaller k, "
                         "a smaller --min-segment-size, or let the pipeline choose")
    weak = bool(metrics["stability"].iloc[0] < MIN_STABILITY)
    return KSelection(k=k, rule=f"k={k} given by the user (--k)", knee=None, metrics=metrics,
                      weak_structure=weak)
