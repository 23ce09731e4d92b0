"""Customer names: the rule margins, the feature terms and both fallbacks, on hand-made numbers."""

import numpy as np
import pandas as pd
import pytest

from segmentation.customers.naming import (MARGIN, MAX_CORR, MIN_Z, TYPICAL, axis_label,
                                           describe, feature_term, mall_name_scores,
                                           name_customer_segments, rule_claim_holds)

ROLES = {"income": "income", "spending": "spending", "age": "age"}


def z(zi, zs):
    return pd.DataFrame({"income": [zi], "spending": [zs]})


def test_margin_is_point_three_on_both_sides():
    assert MARGIN == 0.3
    assert mall_name_scores(z(0.31, 0.5), "income", "spending", None).loc[0, "High Spenders"] > 0
    assert mall_name_scores(z(0.29, 0.5), "income", "spending", None).loc[0, "High Spenders"] < 0
    scores = mall_name_scores(z(1.0, -0.8), "income", "spending", None).loc[0]
    assert scores["Careful High Earners"] == pytest.approx(0.5)          # min(1.0, 0.8) - 0.3
    assert scores["High Spenders"] == pytest.approx(-1.1)


def test_young_impulse_buyers_need_an_age_column_and_win_by_point_two():
    with_age = mall_name_scores(z(-1.0, 1.0), "income", "spending", "age").loc[0]
    assert with_age["Young Impulse Buyers"] == pytest.approx(with_age["Impulse Buyers"] + 0.2)
    without = mall_name_scores(z(-1.0, 1.0), "income", "spending", None).loc[0]
    assert without["Young Impulse Buyers"] == -1.0 and without["Impulse Buyers"] == pytest.approx(0.7)


def test_budget_buyers_and_mid_range_boundaries():
    scores = mall_name_scores(pd.DataFrame({"income": [-0.5, 0.0, 0.59, 0.61],
                                            "spending": [0.29, 0.0, 0.0, 0.0]}),
                              "income", "spending", None)
    assert scores.loc[0, "Budget Buyers"] == pytest.approx(0.01)        # min(0.5, 0.31) - 0.3
    assert scores.loc[1, "Mid-Range Customers"] == pytest.approx(0.6)
    assert scores.loc[2, "Mid-Range Customers"] > 0 > scores.loc[3, "Mid-Range Customers"]


def test_rule_claims_check_medians_and_the_interquartile_range():
    population = pd.DataFrame({"income": np.arange(1.0, 101.0), "spending": np.arange(1.0, 101.0),
                               "age": np.full(100, 40.0)})
    rich = population[population["income"] > 60]
    assert rule_claim_holds("Careful High Earners", rich.assign(spending=10.0), population, ROLES)
    assert not rule_claim_holds("Careful High Earners", rich, population, ROLES)   # spends a lot
    assert not rule_claim_holds("Young Impulse Buyers", population.head(10), population, ROLES)
    q1, q3 = population["income"].quantile([0.25, 0.75])
    for median, holds in ((q1, True), (q3, True), (q1 - 0.5, False), (q3 + 0.5, False)):
        members = pd.DataFrame({"income": [median] * 3, "spending": [50.0] * 3})
        assert rule_claim_holds("Mid-Range Customers", members, population, ROLES) is holds
    assert not rule_claim_holds("High Spenders", rich, population.drop(columns="spending"), ROLES)


def test_feature_terms_hold_only_when_the_median_agrees():
    population = pd.Series([0.0] * 40 + list(range(1, 61)), dtype=float)
    assert feature_term("grocery", 1.2, population.tail(30), population) == "High Grocery"
    assert feature_term("grocery", 1.2, population.head(50), population) is None   # mean up, median not
    assert feature_term("grocery", -0.9, population.iloc[35:60], population) == "Low Grocery"
    mostly_zero = pd.Series([0.0] * 60 + list(range(1, 41)), dtype=float)   # median 0: not "Low"
    zeros = pd.Series([0.0] * 8 + [50.0] * 2)
    assert feature_term("grocery", -0.9, zeros, mostly_zero) == "No Grocery"     # 80% at 0 > 60%
    as_many = pd.Series([0.0] * 6 + [9.0] * 4)
    assert feature_term("grocery", -0.9, as_many, mostly_zero) is None           # 60%, not more
    assert feature_term("grocery", -0.9, zeros + 1, mostly_zero + 1) is None     # no zeros at all
    half = pd.Series([0.0] * 5 + [50.0] * 5)                  # median above the population's
    assert feature_term("grocery", -0.9, half, population) is None               # 50%: not more than half
    assert feature_term("grocery", 0.0, population.tail(30), population) is None  # at the mean: not High


def test_describe_stops_below_min_z_takes_two_terms_and_skips_correlated():
    population = pd.DataFrame({c: np.arange(100.0) for c in ("a", "b", "c")})
    members = population.tail(20)
    z_row = pd.Series({"a": 0.9, "b": 0.6, "c": MIN_Z})
    assert describe(z_row, members, population) == "High A / High B"
    assert describe(pd.Series({"a": 0.9, "b": MIN_Z - 1e-3, "c": 0.1}), members, population) == "High A"
    assert describe(pd.Series({"a": 0.9, "b": MIN_Z, "c": 0.1}), members, population) == "High A / High B"
    corr = pd.DataFrame(np.eye(3), index=list("abc"), columns=list("abc"))
    corr.loc["a", "b"] = corr.loc["b", "a"] = 0.71
    assert describe(z_row, members, population, corr) == "High A / High C"
    corr.loc["a", "b"] = corr.loc["b", "a"] = MAX_CORR             # at the limit: not above it
    assert describe(z_row, members, population, corr) == "High A / High B"
    assert describe(pd.Series({"a": 0.2, "b": 0.1, "c": 0.0}), members, population) is None


def test_a_mall_table_segment_whose_claims_fail_gets_a_descriptive_fallback():
    # both segments spend alike: the fits of Budget Buyers (segment 0) and Careful High Earners
    # (segment 1) are > 0 on the margins, but "spending low" is false for both medians
    spread = np.linspace(-5, 5, 50)
    described = pd.DataFrame({"income": np.r_[20 + spread, 80 + spread],
                              "spending": np.r_[20 + spread, 20 + spread[::-1]]})
    labels = np.repeat([0, 1], 50)
    scaled = (described - described.mean()) / described.std(ddof=0)
    roles = {"income": "income", "spending": "spending"}
    names, fallbacks = name_customer_segments(labels, described, scaled, roles)
    assert names == {0: "Low Income", 1: "High Income"} and fallbacks == {0, 1}
    described.loc[labels == 0, "spending"] -= 8                  # now segment 0 spends less
    scaled = (described - described.mean()) / described.std(ddof=0)
    names, fallbacks = name_customer_segments(labels, described, scaled, roles)
    assert names == {0: "Budget Buyers", 1: "High Spenders"} and not fallbacks


def test_a_fallback_name_skips_features_correlated_with_one_already_named():
    spread = np.linspace(-5, 5, 50)
    described = pd.DataFrame({"income": np.r_[20 + spread, 80 + spread],
                              "spending": np.r_[20 + spread, 20 + spread[::-1]]})
    described["household_income"] = described["income"] * 1.1       # says the same thing
    labels = np.repeat([0, 1], 50)
    scaled = (described - described.mean()) / described.std(ddof=0)
    roles = {"income": "income", "spending": "spending"}
    names, fallbacks = name_customer_segments(labels, described, scaled, roles)
    assert fallbacks == {0, 1}
    assert names[0].startswith("Low ") and names[1].startswith("High ")
    assert " / " not in names[0] + names[1]          # one income term, not two


def test_a_segment_with_nothing_distinctive_is_typical_customers():
    rng = np.random.default_rng(2)
    described = pd.DataFrame({"x": rng.normal(0, 1, 300), "y": rng.normal(0, 1, 300)})
    labels = np.r_[np.zeros(150, int), np.ones(75, int), np.full(75, 2)]
    described.loc[labels == 1, "x"] += 3.0
    described.loc[labels == 2, "x"] -= 3.0
    scaled = (described - described.mean()) / described.std(ddof=0)
    names, fallbacks = name_customer_segments(labels, described, scaled, {})
    assert names == {0: TYPICAL, 1: "High X", 2: "Low X"} and fallbacks == {0}


def test_segments_sharing_a_name_are_told_apart_and_correlated_features_add_nothing():
    a = np.r_[np.full(10, 1.0), np.full(10, 2.0), np.zeros(20)] + np.tile([-0.01, 0.01], 20)
    described = pd.DataFrame({"a": a, "c": 10 * a + np.tile([-3.0, 3.0], 20)})   # c follows a
    labels = np.repeat([0, 1, 2], [10, 10, 20])
    scaled = (described - described.mean()) / described.std(ddof=0)
    typical = labels != 1                                   # segment 1 has no typical member
    # income without spending: not the Mall rules, the descriptive names
    names, fallbacks = name_customer_segments(labels, described, scaled, {"income": "a"}, typical)
    assert names == {0: "High A (lower A)", 1: "High A (higher A)", 2: "Low A"}
    assert fallbacks == set()


def test_without_an_age_column_impulse_buyers_are_not_called_young():
    spread = np.linspace(-5, 5, 40)
    described = pd.DataFrame({"income": np.r_[20 + spread, 50 + spread, 80 + spread],
                              "spending": np.r_[85 + spread, 50 + spread, 50 + spread]})
    labels = np.repeat([0, 1, 2], 40)
    scaled = (described - described.mean()) / described.std(ddof=0)
    roles = {"income": "income", "spending": "spending", "age": "age"}   # no such column
    names, _ = name_customer_segments(labels, described, scaled, roles)
    assert names[0] == "Impulse Buyers"


def test_axis_labels_carry_units_where_known():
    assert axis_label("annual_income_k") == "Annual income (k$)"
    assert axis_label("spending_score") == "Spending score (1-100)"
    assert axis_label("age") == "Age (years)"
    assert axis_label("cash_advance_frequency") == "Cash Advance Frequency"
