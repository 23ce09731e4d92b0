"""RFM names are claims: each is checked against the members' and the population's medians."""

import numpy as np
import pandas as pd
import pytest

from segmentation.transactions.naming import CLAIMS, claim_holds
from segmentation.transactions.pipeline import segment_transactions

# Planted behaviour groups: (recency, orders, net spend, tenure, order value, return rate)
GROUPS = {
    "Champions": (5, 25, 6000, 330, 240, 0.01),
    "Hibernating": (260, 1, 40, 300, 40, 0.0),
    "New Customers": (8, 1, 60, 12, 60, 0.0),
    "Returners": (60, 4, 300, 200, 90, 0.35),
}


def planted(n_per_group=60, seed=3):
    rng = np.random.default_rng(seed)
    rows = []
    for g, (r, f, m, t, a, ret) in GROUPS.items():
        for i in range(n_per_group):
            jitter = rng.lognormal(0, 0.15, 6)
            rows.append({"customer_id": f"{g[:3]}{i}", "recency_days": r * jitter[0],
                         "frequency": max(1.0, round(f * jitter[1])), "monetary": m * jitter[2],
                         "tenure_days": t * jitter[3], "avg_order_value": a * jitter[4],
                         "return_rate": min(1.0, ret * jitter[5]), "planted": g})
    return pd.DataFrame(rows)


def test_planted_groups_get_their_names_and_every_claim_holds():
    frame = planted()
    result, _ = segment_transactions(frame.drop(columns="planted"), k=4)
    segments = result.segments.assign(planted=frame["planted"].to_numpy())
    named = segments.groupby("segment_name")["planted"].agg(lambda s: s.mode()[0])
    assert dict(named) == {name: name for name in GROUPS}
    population = segments
    for name, members in segments.groupby("segment_name"):
        assert claim_holds(name, members, population), name


def members_with(**medians):
    return pd.DataFrame({k: [v] * 3 for k, v in medians.items()})


POPULATION = pd.DataFrame({"recency_days": [10, 50, 90], "frequency": [1, 2, 3],
                           "monetary": [100, 200, 300], "tenure_days": [50, 150, 250],
                           "avg_order_value": [50, 100, 150], "return_rate": [0, 0, 0.1]})


@pytest.mark.parametrize("name, holds, fails", [
    ("Champions", dict(recency_days=49, frequency=3, monetary=201),
     dict(recency_days=50, frequency=3, monetary=201)),
    ("Hibernating", dict(recency_days=51, frequency=2, monetary=199),
     dict(recency_days=51, frequency=3, monetary=199)),           # frequency above the median
    ("At Risk", dict(recency_days=51, frequency=1, monetary=201),
     dict(recency_days=51, frequency=2, monetary=200)),           # neither frequent nor big
    ("New Customers", dict(tenure_days=149, recency_days=49),
     dict(tenure_days=150, recency_days=49)),
    ("Returners", dict(return_rate=0.01), dict(return_rate=0.0)),
    ("Loyal Customers", dict(frequency=3, tenure_days=151), dict(frequency=3, tenure_days=150)),
    ("Big Spenders", dict(avg_order_value=101, frequency=2),
     dict(avg_order_value=101, frequency=3)),                      # frequent: not this name
])
def test_each_claim_on_both_sides_of_the_median(name, holds, fails):
    base = POPULATION.median().to_dict()
    assert claim_holds(name, members_with(**{**base, **holds}), POPULATION)
    assert not claim_holds(name, members_with(**{**base, **fails}), POPULATION)


def test_every_name_has_a_claim():
    from segmentation.transactions.naming import name_scores

    z = pd.DataFrame(np.zeros((1, 6)), columns=list(POPULATION.columns))
    assert set(name_scores(z).columns) == set(CLAIMS)
