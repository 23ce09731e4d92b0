"""Behavioural features as of the run date, from kept lines with known answers."""

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from segmentation.transactions.features import customer_features

D = date(2011, 12, 9)


def line(customer, days_ago, value, order=None, product="P1", country="UK", is_return=False):
    day = D - timedelta(days=days_ago)
    return {"customer_id": customer, "ts": datetime(day.year, day.month, day.day, 10),
            "day": day, "order_key": order or f"{customer}|{day}", "product": product,
            "country": country, "quantity": 1.0, "value": float(value), "is_return": is_return}


def features_of(tmp_path, rows):
    lines = tmp_path / "lines.parquet"
    frame = pd.DataFrame(rows)
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    frame.to_parquet(lines)
    counts = customer_features(lines, D, tmp_path / "features.parquet")
    return pd.read_parquet(tmp_path / "features.parquet").set_index("customer_id"), counts


@pytest.fixture
def known(tmp_path):
    rows = [line("A", 100, 10, "o1", "P1"), line("A", 100, 20, "o1", "P2"),
            line("A", 10, 50, "o2", "P1"), line("A", 5, -8, "c1", "P1", is_return=True),
            line("B", 200, 100, "o3", "P9", country="France"),
            line("B", 300, -300, "c2", "P9", country="France", is_return=True),
            line("C", 20, -5, "c3", is_return=True),
            line("D", 29, 40), line("E", 30, 40), line("E", 30, 1, country="EIRE")]
    return features_of(tmp_path, rows)


def test_recency_frequency_monetary_tenure_and_order_value(known):
    f, _ = known
    a = f.loc["A"]
    assert (a.recency_days, a.frequency, a.monetary, a.tenure_days) == (10, 2, 72.0, 100)
    assert a.avg_order_value == 40.0 and a.return_rate == pytest.approx(0.1)
    assert a.mean_days_between_orders == 90.0 and a.distinct_products == 2
    assert a.spend_trend == pytest.approx((50 - 30) / 80)     # last 90 days vs the 90 before


def test_returns_are_netted_and_the_rate_is_capped(known):
    f, counts = known
    b = f.loc["B"]
    assert b.monetary == -200.0 and b.return_rate == 1.0 and pd.isna(b.mean_days_between_orders)
    assert pd.isna(b.spend_trend)                    # no purchase in the last 180 days
    assert counts["returns"] == {"lines": 3, "value": 313.0, "without_earlier_purchase": {
        "lines": 2, "value": 305.0, "customers": 2}}  # B's return before its purchase; C's


def test_a_customer_with_returns_only_is_counted_not_segmented(known):
    f, counts = known
    assert "C" not in f.index and counts["returns_only"] == {"lines": 1, "customers": 1}
    assert counts["customers"] == 4 and counts["lines_used"] == 9


def test_is_new_within_thirty_days_of_the_run_date(known):
    f, _ = known
    assert bool(f.loc["D", "is_new"]) and not bool(f.loc["E", "is_new"])
    assert f.loc["E", "frequency"] == 1            # two lines, one order (the customer's day)


def test_country_is_the_customer_s_most_frequent_one(known):
    f, _ = known
    assert f.loc["B", "country"] == "France" and f.loc["E", "country"] == "EIRE"  # tie: a-z


def test_rfm_scores_are_quintiles_of_ranks(tmp_path):
    rows = [line(f"c{i:02d}", i, 10 * i) for i in range(1, 11)]
    f, _ = features_of(tmp_path, rows)
    assert list(f["r_score"]) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]     # c01 most recent
    assert list(f["m_score"]) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]     # c10 spent most
    assert set(f["f_score"]) == {1, 2, 3, 4, 5}                     # ties: by customer id


def test_the_same_lines_in_another_order_give_the_same_features_to_the_last_bit(tmp_path):
    """The whole log and the log cut at the run date store the same lines in other row
    groups; DuckDB's threads then add them in another order. Money sums must not depend
    on it (a float sum does: 1520.82 vs 1520.8200000000002 on Online Retail)."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = [line(f"c{i % 40}", int(rng.integers(0, 300)), float(np.round(rng.uniform(-5, 90), 2)),
                 f"o{i // 3}", is_return=bool(rng.random() < 0.1)) for i in range(6000)]
    frame = pd.DataFrame(rows)
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    results = []
    for name, order, group in (("a", frame, 6000), ("b", frame.sample(frac=1, random_state=1), 97)):
        order.to_parquet(tmp_path / f"{name}.parquet", row_group_size=group)
        customer_features(tmp_path / f"{name}.parquet", D, tmp_path / f"{name}-features.parquet")
        results.append(pd.read_parquet(tmp_path / f"{name}-features.parquet"))
    pd.testing.assert_frame_equal(results[0], results[1], check_exact=True)
