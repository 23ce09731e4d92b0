"""Names for behavioural (RFM) segments, in the words marketing analysts use.

With z = the segment's mean of a clustering feature in the scaled space (after
the log transforms: population mean 0, standard deviation 1), each name's fit
is below (> 0 means it applies), and a name is used only when its claim holds
on the members: every "high" / "low" compares the members' median with the
population's median (``segmentation.naming.median_claim``).

=================  ==================================  =========================================
name               fit                                 claim (members' median vs population's)
=================  ==================================  =========================================
Champions          min(-z_r, z_f, z_m) - 0.3           recency low, frequency high, monetary high
Loyal Customers    min(z_f, z_t) - 0.3                 frequency high, tenure high
Big Spenders       z_a - max(z_f, 0) - 0.3             average order value high, frequency not
                                                       above the population's
New Customers      -z_t - 0.3                          tenure low, recency low
At Risk            min(z_r, max(z_f, z_m)) - 0.3       recency high, frequency or monetary high
Hibernating        min(z_r, -z_m) - 0.3                recency high, monetary low, frequency
                                                       not above the population's
Returners          z_ret - 0.3                         return rate high
=================  ==================================  =========================================

(r recency_days, f frequency, m monetary, t tenure_days, a avg_order_value, ret
return_rate.) A new customer's recency is at most their tenure, so a short tenure
decides New Customers; frequency is a small count whose median is shared by
many customers (2 orders in Online Retail), so Hibernating asks only that it is
not above the population's; Big Spenders buy big baskets, not often (frequent
big buyers are Champions or Loyal Customers). Names are assigned one-to-one (Hungarian); a segment no name
fits is named from its most distinctive features ("High Return Rate / Low
Frequency", ``customers.naming.describe``) and counts as fallback-named.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.customers.naming import describe, label
from segmentation.naming import assign_names, distinguish, median_claim

MARGIN = 0.3
# Each claim: clauses that must all hold; a clause of several features holds when any does;
# "not high": the members' median is at most the population's.
CLAIMS = {
    "Champions": [{"recency_days": "low"}, {"frequency": "high"}, {"monetary": "high"}],
    "Loyal Customers": [{"frequency": "high"}, {"tenure_days": "high"}],
    "Big Spenders": [{"avg_order_value": "high"}, {"frequency": "not high"}],
    "New Customers": [{"tenure_days": "low"}, {"recency_days": "low"}],
    "At Risk": [{"recency_days": "high"}, {"frequency": "high", "monetary": "high"}],
    "Hibernating": [{"recency_days": "high"}, {"monetary": "low"}, {"frequency": "not high"}],
    "Returners": [{"return_rate": "high"}],
}
TYPICAL = "Typical Customers"


def name_scores(z: pd.DataFrame) -> pd.DataFrame:
    """Fit of each name (columns) for each segment (rows) from the segments' scaled means."""
    r, f, m = z["recency_days"], z["frequency"], z["monetary"]
    t, a, ret = z["tenure_days"], z["avg_order_value"], z["return_rate"]

    def low(*series):
        return pd.concat(series, axis=1).min(axis=1)

    scores = {
        "Champions": low(-r, f, m),
        "Loyal Customers": low(f, t),
        "Big Spenders": a - f.clip(lower=0),
        "New Customers": -t,
        "At Risk": low(r, pd.concat([f, m], axis=1).max(axis=1)),
        "Hibernating": low(r, -m),
        "Returners": ret,
    }
    return pd.DataFrame(scores, index=z.index) - MARGIN


def claim_holds(name: str, members: pd.DataFrame, population: pd.DataFrame) -> bool:
    """Every clause of the name's claim holds on the members (a clause of several features:
    any one of them)."""
    def holds(feature: str, direction: str) -> bool:
        if direction == "not high":
            return not median_claim(members[feature], population[feature], "high")
        return median_claim(members[feature], population[feature], direction)

    return all(any(holds(feature, direction) for feature, direction in clause.items())
               for clause in CLAIMS[name])


def name_rfm_segments(labels: np.ndarray, described: pd.DataFrame, scaled: pd.DataFrame,
                      typical: np.ndarray | None = None, prefer: dict | None = None
                      ) -> tuple[dict, set]:
    """Segment id -> unique name, and the ids named by fallback.

    Parameters
    ----------
    labels : ndarray
        Segment of each customer.
    described : DataFrame
        The clustering features in original units (days, orders, money, share).
    scaled : DataFrame
        The same features after transforms and scaling.
    typical : ndarray of bool, optional
        Customers that are not atypical: segment means use only them.
    prefer : dict, optional
        Segment -> its name in the previous run, kept while its claim holds.
    """
    labels = np.asarray(labels)
    typical = np.ones(len(labels), bool) if typical is None else np.asarray(typical, bool)
    segments = sorted(int(s) for s in np.unique(labels))
    means = scaled[typical].groupby(labels[typical]).mean().reindex(segments)
    means = means.fillna(scaled.groupby(labels).mean())
    members = {s: described[labels == s] for s in segments}
    scores = name_scores(means)
    for segment in scores.index:
        for name in scores.columns:
            if scores.loc[segment, name] > 0 and not claim_holds(name, members[segment],
                                                                 described):
                scores.loc[segment, name] = 0.0
    corr = scaled.corr().fillna(0.0)

    def fallback(segment) -> str:
        return describe(means.loc[segment], members[segment], described, corr) or TYPICAL

    names, fallbacks = assign_names(scores, fallback, prefer)
    unique = distinguish(names, means, pd.Series(1.0, index=means.columns),
                         lambda name, col: (f"lower {label(col)}", f"higher {label(col)}"))
    return {int(s): n for s, n in unique.items()}, {int(s) for s in fallbacks}
