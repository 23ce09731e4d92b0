"""Names of load-shape archetypes, from the members' daily shape against all segmented meters.

Each name claims something about the segment's members, checked with their
median against the population median (``segmentation.naming.median_claim``):

==========================  ========================================================
name                        claim (segment median vs population median)
==========================  ========================================================
Night Users                 night share (22-06 h) above (e.g. storage heating)
Morning Peakers             morning share (06-10 h) above
Daytime Users               daytime share (10-16 h) above
Evening Peakers             evening share (16-22 h) above
Morning & Evening Peakers   morning and evening shares both above (double peak)
Flat/Baseload               peak-to-mean ratio of the daily profile below
==========================  ========================================================

Which name: the single names are ranked by the z-score of the segment's
mean statistic (for Flat/Baseload, minus the z of peak-to-mean); the
best-ranked name whose claim holds is used. When it is Morning or Evening
Peakers and the other of the two has a z-score of at least half of it, the
segment is a double peak: Morning & Evening Peakers (if that claim holds).
A segment no name's claim fits is "Mixed profile (peak HH h)", a fallback.

Several segments may earn the same name on weakly clustered data (two kinds of
night heating, say); ``segmentation.naming.distinguish`` then qualifies them by
the statistic that separates them most: the name's own statistic gives
"moderate"/"strong", another gives e.g. "less daytime use"/"more daytime use",
peak-to-mean gives "flatter"/"peakier".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.naming import distinguish, median_claim, zscores

STATS = ["night_share", "morning_share", "daytime_share", "evening_share", "peak_to_mean"]
# name -> [(statistic, direction)] it claims
CLAIMS = {
    "Night Users": [("night_share", "high")],
    "Morning Peakers": [("morning_share", "high")],
    "Daytime Users": [("daytime_share", "high")],
    "Evening Peakers": [("evening_share", "high")],
    "Flat/Baseload": [("peak_to_mean", "low")],
    "Morning & Evening Peakers": [("morning_share", "high"), ("evening_share", "high")],
}
SINGLE = ["Night Users", "Morning Peakers", "Daytime Users", "Evening Peakers", "Flat/Baseload"]
DOUBLE = "Morning & Evening Peakers"
DOUBLE_RATIO = 0.5  # the lesser of the two peaks' z-scores, as a share of the greater
OWN_STAT = {name: claims[0][0] for name, claims in CLAIMS.items() if name != DOUBLE}
STAT_WORDS = {"night_share": ("less night use", "more night use"),
              "morning_share": ("less morning use", "more morning use"),
              "daytime_share": ("less daytime use", "more daytime use"),
              "evening_share": ("less evening use", "more evening use"),
              "peak_to_mean": ("flatter", "peakier")}
FALLBACK_PREFIX = "Mixed profile"


def claim_holds(name: str, members: pd.DataFrame, population: pd.DataFrame) -> bool:
    """Whether every claim of ``name`` holds for these members (see the module docstring)."""
    return all(median_claim(members[stat], population[stat], direction)
               for stat, direction in CLAIMS[name])


def base_name(z: pd.Series, members: pd.DataFrame, population: pd.DataFrame,
              prefer: str | None = None) -> str | None:
    """The best-ranked name whose claim holds for one segment, or None; ``prefer`` (its name
    in the previous run) first, while its claim holds."""
    if prefer in CLAIMS and claim_holds(prefer, members, population):
        return prefer
    score = pd.Series({name: (-z["peak_to_mean"] if name == "Flat/Baseload" else z[OWN_STAT[name]])
                       for name in SINGLE}).sort_values(ascending=False, kind="stable")
    for name in score.index:
        if name in ("Morning Peakers", "Evening Peakers"):
            other = z["evening_share" if name == "Morning Peakers" else "morning_share"]
            if other > 0 and other >= DOUBLE_RATIO * score[name] \
                    and claim_holds(DOUBLE, members, population):
                return DOUBLE
        if claim_holds(name, members, population):
            return name
    return None


def _words(name: str, stat: str) -> tuple[str, str]:
    if OWN_STAT.get(name) == stat and stat != "peak_to_mean":
        return "moderate", "strong"
    return STAT_WORDS[stat]


def name_segments(features: pd.DataFrame, labels: np.ndarray,
                  typical: np.ndarray | None = None, prefer: dict | None = None
                  ) -> tuple[dict[int, str], set[int]]:
    """Segment id -> unique name, and the ids that got the fallback name.

    Parameters
    ----------
    features : DataFrame
        One row per segmented meter with ``STATS`` and ``peak_hour``.
    labels : ndarray
        Segment of each row.
    typical : ndarray of bool, optional
        Rows that are not atypical: the ranking uses their means, so one odd
        meter cannot rename its segment; claims are checked on all members.
    prefer : dict, optional
        Segment -> its name in the previous run, kept while its claim holds.
    """
    stats = features[STATS].astype(float).reset_index(drop=True)
    labels = np.asarray(labels)
    typical = np.ones(len(labels), bool) if typical is None else np.asarray(typical, bool)
    means = stats[typical].groupby(labels[typical]).mean().reindex(np.unique(labels))
    means = means.fillna(stats.groupby(labels).mean())
    z = zscores(means, stats)
    names, fallbacks = {}, set()
    for segment in means.index:
        members = stats[labels == segment]
        name = base_name(z.loc[segment], members, stats, (prefer or {}).get(int(segment)))
        if name is None:
            peak = features["peak_hour"].reset_index(drop=True)[labels == segment].median()
            name = f"{FALLBACK_PREFIX} (peak {int(peak):02d} h)"
            fallbacks.add(int(segment))
        names[int(segment)] = name
    unique = distinguish(names, means, stats.std(ddof=0), _words)
    return {int(k): v for k, v in unique.items()}, fallbacks
