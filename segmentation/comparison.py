"""Is the published segmentation an artefact of its algorithm? Every algorithm on the same points.

Each algorithm of ``algorithms.ALGORITHMS`` but the published one segments the run's
points (a seeded sample of at most ``COMPARE_SAMPLE`` rows) with its own rule for k
(``kselect``; HDBSCAN's floor); the published one is the run's own segments, never
refitted. Each is measured on that sample: segments and sizes, silhouette,
Davies-Bouldin, bootstrap stability, the share of noise, of atypical and of
low-confidence members, agreement with the published labels (ARI), time, and two
scores that see what silhouette cannot:

- ``neighbour_ratio``: the share of each member's ``NEIGHBOURS`` nearest neighbours
  that lie in another segment, divided by the share a random partition of the same
  sizes would give. Segments whose boundaries run through sparse gaps score near 0;
  boundaries that cut through dense regions (k-means splitting a crescent) score
  higher. Dividing by chance keeps fewer segments from winning by having fewer
  boundaries.
- ``heldout_loglik``: mean log-likelihood, on the half of the sample not used to fit
  them, of one Gaussian per segment (its own mean, covariance and share). Segments of
  different spreads or orientations, described as such, score higher than segments
  that split a wide group to keep every segment round.

The recommendation (``recommend``), in order; each step names the failure of k-means
it looks for, so the report can say why in words:

1. **Eligible**: two or more segments, bootstrap stability >= ``kselect.MIN_STABILITY``
   and at most ``MAX_NOISE`` of the members noise. None eligible: nothing is
   recommended (the structure is weak for every algorithm).
2. **Shape**: the eligible algorithm with the lowest neighbour ratio, when that is at
   most 1/``SHAPE_FACTOR`` of k-means' and k-means' is at least ``MIN_RATIO``
   (k-means cuts through dense regions that another algorithm keeps whole).
3. **Spread**: among the eligible algorithms whose neighbour ratio is at most k-means',
   the one with the highest held-out log-likelihood, when it beats k-means' by at least
   ``LOGLIK_GAIN`` nats per member (groups of different spreads that k-means' round
   segments misdescribe; a better fit whose boundaries cut denser regions describes the
   shape of one mass, not groups in it).
4. **k-means**, when eligible: no alternative does clearly better.
5. Otherwise the most stable eligible algorithm (k-means' segments do not reproduce).

The recommendation is advice in the report; the published segments are those of
``--algorithm``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, davies_bouldin_score
from sklearn.neighbors import NearestNeighbors

from segmentation.algorithms import ALGORITHMS, NOISE_REASON, has_k
from segmentation.errors import InputError
from segmentation.kselect import MIN_STABILITY, sampled_silhouette
from segmentation.settings import MIN_CONFIDENCE, SEED

COMPARE_SAMPLE = 2_000
COMPARE_BOOTSTRAPS = 5
NEIGHBOURS = 10
MAX_NOISE = 0.10
SHAPE_FACTOR = 3.0
MIN_RATIO = 0.01
LOGLIK_GAIN = 0.05
COLUMNS = ["algorithm", "published", "feasible", "segments", "sizes", "silhouette",
           "davies_bouldin", "stability", "noise_share", "atypical_share",
           "low_confidence_share", "neighbour_ratio", "heldout_loglik", "ari_with_published",
           "seconds", "eligible", "recommended", "note"]


def comparison_rows(n_rows: int, seed: int = SEED) -> np.ndarray | None:
    """The seeded sample the comparison runs on, or None when every row is used."""
    if n_rows <= COMPARE_SAMPLE:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=COMPARE_SAMPLE, replace=False))


def neighbour_ratio(X: np.ndarray, labels: np.ndarray, neighbours: int = NEIGHBOURS) -> float:
    """Share of near-neighbour pairs across segments, over the share a random partition of
    the same sizes gives (0: boundaries only through gaps; 1: no better than chance)."""
    labels = np.asarray(labels)
    n = min(neighbours, len(X) - 1)
    index = NearestNeighbors(n_neighbors=n + 1).fit(X).kneighbors(X, return_distance=False)
    across = float((labels[index[:, 1:]] != labels[:, None]).mean())
    shares = np.bincount(labels) / len(labels)
    chance = 1.0 - float((shares ** 2).sum())
    return across / chance if chance > 0 else float("nan")


def heldout_loglik(X: np.ndarray, labels: np.ndarray, seed: int = SEED) -> float:
    """Mean log-likelihood of the held-out half under one Gaussian per segment fitted on the
    other half (covariances shrunk a little towards the identity so small segments work)."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    labels = np.asarray(labels)
    train = np.random.default_rng(seed).random(len(X)) < 0.5
    parts = []
    for segment in np.unique(labels):
        rows = X[train & (labels == segment)]
        if len(rows) < 2:
            continue
        covariance = np.atleast_2d(np.cov(rows, rowvar=False)) + 1e-3 * np.eye(X.shape[1])
        parts.append(np.log(len(rows) / train.sum())
                     + multivariate_normal(rows.mean(axis=0), covariance).logpdf(X[~train]))
    if not parts or train.all():
        return float("nan")
    return float(logsumexp(np.column_stack(parts), axis=1).mean())


@dataclass(frozen=True)
class Published:
    """The run's own segments, measured as they are (never refitted on the sample): each
    row's segment, segment probability, atypical and noise flags, and the run's stability."""

    algorithm: str
    labels: np.ndarray
    stability: float
    probability: np.ndarray
    atypical: np.ndarray
    noise: np.ndarray

    @classmethod
    def of(cls, fit) -> "Published":
        """From a ``clustering.Segmentation``."""
        return cls(fit.algorithm, fit.labels, fit.selection.stability, fit.probability,
                   fit.atypical, noise_flags(fit.atypical_reason))

    @classmethod
    def from_members(cls, members: pd.DataFrame, algorithm: str, stability: float) -> "Published":
        """From the members' table a run publishes (``segment_id``, ``segment_probability``,
        ``is_atypical``, ``atypical_reason``), in the order of its points."""
        return cls(algorithm, members["segment_id"].to_numpy(),
                   stability, members["segment_probability"].to_numpy(dtype=float),
                   members["is_atypical"].to_numpy(dtype=bool),
                   noise_flags(members["atypical_reason"]))

    def rows(self, sample: np.ndarray | None) -> "Published":
        if sample is None:
            return self
        return Published(self.algorithm, self.labels[sample], self.stability,
                         self.probability[sample], self.atypical[sample], self.noise[sample])


def noise_flags(reasons) -> np.ndarray:
    """Which members are HDBSCAN noise, from their atypical reasons (a published reason may
    go on with another, after the model's)."""
    return np.array([isinstance(reason, str) and reason.startswith(NOISE_REASON)
                     for reason in reasons], dtype=bool)


def scores(X: np.ndarray, labels: np.ndarray, probability: np.ndarray, atypical: np.ndarray,
           noise: np.ndarray, published: np.ndarray, *, seed: int,
           min_confidence: float) -> dict:
    """The columns every row of the table measures the same way, from labels and flags."""
    return {"feasible": True, "segments": int(len(np.unique(labels))),
            "sizes": sorted((int(s) for s in np.unique(labels, return_counts=True)[1]),
                            reverse=True),
            "silhouette": sampled_silhouette(X, labels, seed),
            "davies_bouldin": float(davies_bouldin_score(X, labels)),
            "noise_share": float(np.mean(noise)), "atypical_share": float(np.mean(atypical)),
            "low_confidence_share": float(np.mean(np.asarray(probability) < min_confidence)),
            "neighbour_ratio": neighbour_ratio(X, labels),
            "heldout_loglik": heldout_loglik(X, labels, seed),
            "ari_with_published": float(adjusted_rand_score(published, labels))}


def measure(X: np.ndarray, algorithm: str, published: np.ndarray, *, k: int | None,
            k_min: int, k_max: int, seed: int, min_size: int | None, unit: str,
            min_confidence: float = MIN_CONFIDENCE) -> dict:
    """One algorithm segmenting the comparison sample with its own rule (``COLUMNS``)."""
    from segmentation.clustering import segment

    started = time.perf_counter()
    try:
        fit = segment(X, k=k if has_k(algorithm) else None, k_min=k_min, k_max=k_max,
                      seed=seed, n_boot=COMPARE_BOOTSTRAPS, min_size=min_size, unit=unit,
                      algorithm=algorithm)
    except InputError as err:      # why, without the run's options: the run published anyway
        return {"algorithm": algorithm, "feasible": False,
                "note": str(err).split(", so there are no segments to publish")[0],
                "seconds": time.perf_counter() - started}
    return {"algorithm": algorithm,
            **scores(X, fit.labels, fit.probability, fit.atypical,
                     noise_flags(fit.atypical_reason), published, seed=seed,
                     min_confidence=min_confidence),
            "stability": float(fit.selection.stability),
            "seconds": time.perf_counter() - started, "note": fit.selection.rule}


def compare(X: np.ndarray, published: Published, *, k: int | None = None, k_min: int = 2,
            k_max: int = 10, seed: int = SEED, min_size: int | None = None,
            unit: str = "rows", min_confidence: float = MIN_CONFIDENCE,
            algorithms: tuple[str, ...] = ALGORITHMS) -> pd.DataFrame:
    """Every algorithm on the run's points: one row each (``COLUMNS``), the recommendation
    marked (``recommend``).

    The published algorithm's row is the run's own segments on the sample, with the run's
    stability; each other algorithm segments the sample with its own rule for k.

    Parameters
    ----------
    X : ndarray
        The points the run clustered (scaled features).
    published : Published
        The run's segments (``Published.of`` a ``clustering.Segmentation``).
    k, k_min, k_max, min_size, seed
        The run's k settings, applied to each algorithm that takes a k.
    """
    sample = comparison_rows(len(X), seed)
    points = X if sample is None else X[sample]
    own = published.rows(sample)
    rows = []
    for algorithm in algorithms:
        if algorithm == published.algorithm:
            rows.append({"algorithm": algorithm,
                         **scores(points, own.labels, own.probability, own.atypical, own.noise,
                                  own.labels, seed=seed, min_confidence=min_confidence),
                         "stability": float(published.stability),
                         "note": "the run's own segments"})
        else:
            rows.append(measure(points, algorithm, own.labels, k=k, k_min=k_min, k_max=k_max,
                                seed=seed, min_size=min_size, unit=unit,
                                min_confidence=min_confidence))
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    table["published"] = table["algorithm"] == published.algorithm
    table["feasible"] = table["feasible"].astype(bool)
    table["eligible"] = eligible(table)
    choice, _ = recommend(table)
    table["recommended"] = table["algorithm"] == choice
    return table


def eligible(table: pd.DataFrame) -> pd.Series:
    """Rule 1 of the module: reproducible segments, few noise members."""
    return (table["feasible"].astype(bool) & (table["segments"].fillna(0) >= 2)
            & (table["stability"].fillna(0) >= MIN_STABILITY)
            & (table["noise_share"].fillna(1) <= MAX_NOISE))


def recommend(table: pd.DataFrame) -> tuple[str | None, str]:
    """The algorithm the comparison recommends (None: none), and the sentence saying why."""
    ok = table[eligible(table)].set_index("algorithm")
    if ok.empty:
        return None, (f"no algorithm gives segments that reproduce under resampling (stability "
                      f">= {MIN_STABILITY}) with at most {MAX_NOISE:.0%} noise: the structure "
                      "is weak whichever algorithm is used, so none is recommended")
    base = table.set_index("algorithm").loc["kmeans"] if "kmeans" in set(table["algorithm"]) \
        else None
    if base is not None and base["feasible"]:
        shape = ok["neighbour_ratio"].idxmin()
        ratio, base_ratio = ok.loc[shape, "neighbour_ratio"], base["neighbour_ratio"]
        if (shape != "kmeans" and base_ratio >= MIN_RATIO
                and ratio * SHAPE_FACTOR <= base_ratio):
            return shape, (f"{shape}: its segment boundaries cross {ratio:.3f} of the "
                           f"near-neighbour pairs chance would, k-means' {base_ratio:.3f}: "
                           "k-means cuts through dense regions that it keeps whole")
        # A better description only counts when its boundaries are no less in the gaps than
        # k-means': otherwise it describes the shape of one dense mass, not groups in it.
        apart = ok[ok["neighbour_ratio"] <= base_ratio]
        if not apart.empty:
            spread = apart["heldout_loglik"].idxmax()
            gain = apart.loc[spread, "heldout_loglik"] - base["heldout_loglik"]
            if spread != "kmeans" and gain >= LOGLIK_GAIN:
                return spread, (f"{spread}: one Gaussian per segment fits held-out members "
                                f"better by {gain:.2f} nats per member than with k-means' "
                                "segments, with boundaries no less in the gaps: groups of "
                                "different spreads or shapes")
    if "kmeans" in ok.index:
        return "kmeans", ("kmeans: no other algorithm separates dense regions or fits held-out "
                          "members clearly better, and its segments reproduce")
    steady = ok["stability"].idxmax()
    return steady, (f"{steady}: k-means' segments do not reproduce under resampling; "
                    f"{steady}'s do (stability {ok.loc[steady, 'stability']:.2f})")


# ------------------------------------------------------------------ what the run publishes

def compared_rows(n_rows: int) -> int:
    """How many of a run's members the comparison measures (``comparison_rows``' size)."""
    return min(n_rows, COMPARE_SAMPLE)


def published_algorithm(table: pd.DataFrame) -> str | None:
    """The run's own algorithm, as the table marks it."""
    published = table.loc[table["published"].astype(bool), "algorithm"]
    return published.iloc[0] if len(published) else None


def comparison_block(table: pd.DataFrame, n_rows: int) -> dict:
    """The manifest's ``comparison``: the sample, the recommendation and why, per algorithm."""
    choice, why = recommend(table)
    rows = table.drop(columns=["note"])
    records = rows.astype(object).where(rows.notna(), None)
    return {"rows": compared_rows(n_rows), "of_rows": n_rows,
            "recommended": choice, "why": why, "published": published_algorithm(table),
            "algorithms": records.to_dict(orient="records")}


def comparison_section(table: pd.DataFrame, n_rows: int, unit: str = "members") -> str:
    """Markdown: the table, the recommendation in words, and what each score means."""
    from segmentation.report import markdown_table

    choice, why = recommend(table)
    published = published_algorithm(table)
    size = compared_rows(n_rows)
    scope = (f"all {n_rows:,} {unit}" if size == n_rows
             else f"a seeded sample of {size:,} of the {n_rows:,} {unit}")
    shown = table.assign(
        segments=table["segments"].astype("Int64"),           # a count, with gaps
        sizes=table["sizes"].map(lambda s: ", ".join(f"{v:,}" for v in s)
                                 if isinstance(s, (list, np.ndarray)) else None),
        algorithm=[f"**{a}**" if p else a for a, p in zip(table["algorithm"], table["published"])],
    )[["algorithm", "segments", "sizes", "silhouette", "davies_bouldin", "stability",
       "noise_share", "low_confidence_share", "neighbour_ratio", "heldout_loglik",
       "ari_with_published", "seconds", "recommended"]]
    shown.columns = ["algorithm", "segments", "sizes", "silhouette", "Davies-Bouldin",
                     "stability", "noise", "low confidence", "neighbour ratio",
                     "held-out log-lik.", "ARI with published", "seconds", "recommended"]
    advice = (f"**Recommended: {choice}.**" if choice == published
              else f"**Recommended: {choice}** (published: {published})."
              if choice else "**No algorithm recommended.**")
    failed = [f"- {a}: {n}" for a, f, n in zip(table["algorithm"], table["feasible"],
                                                table["note"]) if not f]
    return "\n\n".join(filter(None, [
        "## Algorithms compared",
        f"Each algorithm segmented {scope} on the same features, with its own rule for k "
        f"(the published one in bold). {advice} Why: {why}.",
        markdown_table(shown),
        "\n".join(failed),
        "Stability: agreement (ARI) with refits on resamples, 0.75 or more is reproducible. "
        "Noise: members HDBSCAN puts in no dense region. Low confidence: segment probability "
        "below the run's threshold. Neighbour ratio: share of near neighbours in another "
        "segment, over chance (lower: boundaries through gaps). Held-out log-likelihood: one "
        "Gaussian per segment, on members not used to fit it (higher: a better description). "
        "The recommendation is advice: `--algorithm` chooses what is published."]))
