"""Naming scaffolding shared by all datasets.

A name on a segment is a claim about its members, so naming has three steps:

1. **Candidates**: a dataset scores each (segment, name); > 0 means the name
   fits, higher fits better (``assign_names`` picks one name per segment,
   one-to-one, maximising the total fit with the Hungarian algorithm), or it
   builds names from features itself; either way it checks each name's claim
   against the population with ``median_claim`` before using it.
2. **Fallback**: a segment no name fits gets a descriptive name from the
   dataset, and is counted as fallback-named in the run's quality figures.
3. **Distinct**: segments left with the same name are told apart by what
   separates them (``distinguish``): the statistic whose segment means differ
   most (in population standard deviations) orders them, and each gets that
   statistic's low or high word, e.g. "Night Users (moderate)" and "Night
   Users (strong)". Groups of three or more are split at the largest gap and
   split again, so the words stay true for every pair. Never "(2)".
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


def median_claim(members: pd.Series, population: pd.Series, direction: str) -> bool:
    """True when the members' median is strictly above ('high') or below ('low') the population's."""
    if direction not in ("high", "low"):
        raise ValueError(f"direction must be 'high' or 'low', not {direction!r}")
    seg, pop = float(members.median()), float(population.median())
    return seg > pop if direction == "high" else seg < pop


def base_of(name: str) -> str:
    """A name without the qualifier ``distinguish`` added: "Night Users (strong)" -> "Night Users"."""
    return name.split(" (", 1)[0]


def kept_names(alignment) -> dict:
    """This run's segment (0..k-1) -> the name its matched previous segment had, unqualified
    (``alignment.Alignment``): the name a namer keeps while its claim still holds."""
    return {i: base_of(alignment.previous_names[sid]) for i, sid in alignment.ids.items()
            if sid in alignment.matched}


def assign_names(scores: pd.DataFrame, fallback: Callable[[object], str],
                 prefer: dict | None = None) -> tuple[dict, set]:
    """Map each segment (index of ``scores``) to a candidate name, one-to-one, or its fallback.

    Parameters
    ----------
    scores : DataFrame
        Index: segment ids; columns: candidate names; values: fit (> 0 fits).
    fallback : callable
        Segment id -> descriptive name, used when no candidate fits.
    prefer : dict, optional
        Segment id -> the name it had in the previous run: kept whenever it still fits
        (score > 0), before any better-fitting name.

    Returns
    -------
    names : dict
        Segment id -> name (fallback names may repeat; see ``distinguish``).
    fallbacks : set
        Segment ids named by ``fallback``.
    """
    values = scores.to_numpy(dtype=float, copy=True)
    names: dict = {}
    bonus = np.clip(values, 0, None).sum() + 1.0          # more than every other fit together
    for segment, name in (prefer or {}).items():
        if segment in scores.index and name in scores.columns:
            r, c = scores.index.get_loc(segment), scores.columns.get_loc(name)
            if values[r, c] > 0:
                values[r, c] += bonus
    if values.size:
        rows, cols = linear_sum_assignment(-np.where(values > 0, values, 0.0))
        for r, c in zip(rows, cols):
            if values[r, c] > 0:
                names[scores.index[r]] = scores.columns[c]
    fallbacks = {segment for segment in scores.index if segment not in names}
    for segment in fallbacks:
        names[segment] = fallback(segment)
    return names, fallbacks


def distinguish(names: dict, means: pd.DataFrame, scale: pd.Series,
                words: Callable[[str, str], tuple[str, str]]) -> dict:
    """Make names unique by qualifying segments that share one.

    Parameters
    ----------
    names : dict
        Segment id -> name.
    means : DataFrame
        Segment id x statistic: the segments' mean of each separating statistic.
    scale : Series
        Statistic -> population standard deviation (to compare statistics).
    words : callable
        (name, statistic) -> (low word, high word), e.g. ("moderate", "strong").
    """
    out = dict(names)
    groups: dict[str, list] = {}
    for segment, name in names.items():
        groups.setdefault(name, []).append(segment)
    for name, members in groups.items():
        if len(members) > 1:
            for segment, qualifiers in _split(members, means, scale, name, words).items():
                out[segment] = f"{name} ({', '.join(qualifiers)})" if qualifiers else name
    if len(set(out.values())) < len(out):  # identical statistics: only the id tells them apart
        seen: dict[str, int] = {}
        for segment in sorted(out):
            seen[out[segment]] = seen.get(out[segment], 0) + 1
        out = {s: (f"{n} (segment {s})" if seen[n] > 1 else n) for s, n in out.items()}
    return out


def _split(members: list, means: pd.DataFrame, scale: pd.Series, name: str,
           words: Callable[[str, str], tuple[str, str]], used: frozenset = frozenset()) -> dict:
    """Segment -> list of qualifier words separating ``members`` (recursive halving).

    A sub-group is split on a statistic not used above it when one separates
    it, so the words of one name are about different things.
    """
    if len(members) < 2:
        return {m: [] for m in members}
    spread = (means.loc[members].max() - means.loc[members].min()) / scale.replace(0, 1.0)
    fresh = spread.drop(index=list(used & set(spread.index)))
    stat = fresh.idxmax() if len(fresh) and fresh.max() > 0 else spread.idxmax()
    if not spread[stat] > 0:
        return {m: [] for m in members}
    ordered = means.loc[members, stat].sort_values(kind="stable")
    gaps = np.diff(ordered.to_numpy())
    cut = int(np.argmax(gaps)) + 1
    low_word, high_word = words(name, stat)
    result = {}
    for part, word in ((list(ordered.index[:cut]), low_word), (list(ordered.index[cut:]), high_word)):
        for segment, rest in _split(part, means, scale, name, words, used | {stat}).items():
            result[segment] = [word, *rest]
    return result
