"""The RFM names' promises (``segmentation/transactions/naming.py``), on tiny frames.

Each name's fit is the formula of the module's table; a name is used only when its claim
holds on the members; a segment no name fits is named from its distinctive features and
counted as fallback-named; segment means use the typical members; names come out unique.
"""

import numpy as np
import pandas as pd
import pytest

from segmentation.transactions.features import CLUSTER_FEATURES
from segmentation.transactions.naming import TYPICAL, name_rfm_segments, name_scores


def documented_fits(z):
    """The fit column of the module docstring's table, written out row by row."""
    r, f, m = z["recency_days"], z["frequency"], z["monetary"]
    t, a, ret = z["tenure_days"], z["avg_order_value"], z["return_rate"]
    return {"Champions": min(-r, f, m) - 0.3,
            "Loyal Customers": min(f, t) - 0.3,
            "Big Spenders": a - max(f, 0) - 0.3,
            "New Customers": -t - 0.3,
            "At Risk": min(r, max(f, m)) - 0.3,
            "Hibernating": min(r, -m) - 0.3,
            "Returners": ret - 0.3}


def test_each_fit_is_the_formula_of_the_table():
    rng = np.random.default_rng(5)
    z = pd.DataFrame(rng.normal(0, 1.5, (40, 6)), columns=list(CLUSTER_FEATURES),
                     index=range(10, 50))
    scores = name_scores(z)
    assert list(scores.index) == list(z.index)
    for segment, row in z.iterrows():
        assert scores.loc[segment].to_dict() == pytest.approx(documented_fits(row)), segment


def segments(rows_per_segment):
    """Labels and described features: each segment's members share one row of values."""
    labels, rows = [], []
    for segment, (values, n) in rows_per_segment.items():
        labels += [segment] * n
        rows += [dict(zip(CLUSTER_FEATURES, values))] * n
    return np.array(labels), pd.DataFrame(rows)


def scaled_of(described):
    return (described - described.mean()) / described.std(ddof=0).replace(0, 1.0)


# recency, orders, net spend, tenure, order value, return rate; with twice as many sleepers
# as champions or newcomers, the population's median recency is high and its median net spend
# low, so "recency low" holds for both champions and newcomers.
CHAMPION = (5, 20, 4000, 300, 200, 0.0)
SLEEPER = (300, 1, 20, 320, 20, 0.0)
NEWCOMER = (6, 1, 50, 8, 50, 0.0)


def test_segments_get_the_names_their_claims_support_one_to_one():
    labels, described = segments({0: (CHAMPION, 4), 1: (SLEEPER, 8), 2: (NEWCOMER, 4)})
    names, fallbacks = name_rfm_segments(labels, described, scaled_of(described))
    assert names == {0: "Champions", 1: "Hibernating", 2: "New Customers"}
    assert fallbacks == set()
    assert all(type(s) is int for s in names) and all(type(s) is int for s in fallbacks)


def test_a_name_whose_claim_fails_on_the_members_is_not_used():
    """The scaled means say Champions, the members' medians (original units) do not."""
    labels, described = segments({0: (CHAMPION, 4), 1: (SLEEPER, 8), 2: (NEWCOMER, 4)})
    scaled = scaled_of(described)
    contradicted = described.assign(frequency=np.where(labels == 0, 1, described["frequency"]))
    names, fallbacks = name_rfm_segments(labels, contradicted, scaled)
    assert names[0] != "Champions" and 0 in fallbacks
    assert names[1] == "Hibernating" and names[2] == "New Customers"


def test_a_segment_no_name_fits_is_named_by_its_features_and_counted_as_fallback():
    # Long tenure and small baskets: no name of the table claims that.
    labels, described = segments({0: (CHAMPION, 4), 1: (SLEEPER, 8), 2: (NEWCOMER, 4),
                                  3: ((100, 3, 400, 450, 10, 0.0), 5)})
    scaled = scaled_of(described)
    names, fallbacks = name_rfm_segments(labels, described, scaled)
    assert names == {0: "Champions", 1: "Hibernating", 2: "New Customers",
                     3: "High Tenure Days / Low Avg Order Value"}
    assert fallbacks == {3}
    # Nothing distinctive (every z 0): the typical name, still counted as fallback.
    flat = scaled.copy()
    flat.loc[labels == 3] = 0.0
    names, fallbacks = name_rfm_segments(labels, described, flat)
    assert names[3] == TYPICAL and fallbacks == {3}


def test_a_fallback_name_leaves_out_a_feature_correlated_with_one_it_names():
    """Small baskets and little net spend go together across these customers (r > 0.9): the
    segment low on both is named by the more distinctive one alone."""
    labels, described = segments({0: (CHAMPION, 4), 1: (SLEEPER, 8), 2: (NEWCOMER, 4),
                                  3: ((100, 3, 1, 250, 1, 0.0), 4)})
    scaled = scaled_of(described)
    assert scaled["monetary"].corr(scaled["avg_order_value"]) > 0.9
    names, fallbacks = name_rfm_segments(labels, described, scaled)
    assert names[3] == "Low Avg Order Value" and 3 in fallbacks


def test_segment_means_use_the_typical_members_only():
    """Two atypical champions far out on recency (in the scaled space only: the members'
    medians are untouched) would pull the segment's mean recency high; without them it is
    Champions. A segment whose members are all atypical keeps its mean over all of them."""
    labels, described = segments({0: (CHAMPION, 6), 1: (SLEEPER, 12), 2: (NEWCOMER, 6)})
    scaled = scaled_of(described)
    scaled.loc[[0, 1], "recency_days"] = 40.0
    assert name_rfm_segments(labels, described, scaled)[0][0] != "Champions"
    typical = np.ones(len(labels), bool)
    typical[[0, 1]] = False
    assert name_rfm_segments(labels, described, scaled, typical)[0][0] == "Champions"
    typical[labels == 2] = False
    names, fallbacks = name_rfm_segments(labels, described, scaled, typical)
    assert names[2] == "New Customers" and fallbacks == set()


def test_segments_left_with_one_name_are_told_apart_by_lower_and_higher():
    labels, described = segments({0: ((100, 3, 400, 150, 130, 0.02), 4),
                                  1: ((100, 3, 400, 150, 130, 0.02), 4),
                                  2: (CHAMPION, 4)})
    scaled = scaled_of(described)
    scaled.loc[labels == 1, "tenure_days"] = 0.2             # the only difference, in z
    names, fallbacks = name_rfm_segments(labels, described, scaled)
    assert fallbacks == {0, 1}
    assert names[0] == f"{TYPICAL} (lower Tenure Days)"
    assert names[1] == f"{TYPICAL} (higher Tenure Days)"
