"""Acceptance on real and planted data, without Prefect: k, names and their claims, transforms."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmentation.customers import pipeline
from segmentation.customers.config import resolve_config
from segmentation.customers.sample import make_customers
from segmentation.customers.transform import apply_transforms, choose_transforms
from segmentation.model import min_segment_size
from tests.conftest import shared_file

CC_FEATURES = ["BALANCE", "BALANCE_FREQUENCY", "PURCHASES", "ONEOFF_PURCHASES",
               "INSTALLMENTS_PURCHASES", "CASH_ADVANCE", "PURCHASES_FREQUENCY",
               "ONEOFF_PURCHASES_FREQUENCY", "PURCHASES_INSTALLMENTS_FREQUENCY",
               "CASH_ADVANCE_FREQUENCY", "CASH_ADVANCE_TRX", "PURCHASES_TRX", "CREDIT_LIMIT",
               "PAYMENTS", "MINIMUM_PAYMENTS", "PRC_FULL_PAYMENT", "TENURE"]
# Claims of the Mall rule names, from the README: role -> direction vs the population median.
MALL_CLAIMS = {"High Spenders": {"annual_income_k": "high", "spending_score": "high"},
               "Careful High Earners": {"annual_income_k": "high", "spending_score": "low"},
               "Young Impulse Buyers": {"annual_income_k": "low", "spending_score": "high",
                                        "age": "low"},
               "Budget Buyers": {"annual_income_k": "low", "spending_score": "low"},
               "Mid-Range Customers": {"annual_income_k": "mid", "spending_score": "mid"}}


def run_pure(path, **options):
    rows, _ = pipeline.ingest(path)
    config = resolve_config(list(rows.columns), **options)
    valid, quarantine, _ = pipeline.validate(rows, config, str(path))
    clean, _ = pipeline.clean(valid, config)
    return pipeline.segment_customers(clean, config), quarantine


def assert_claim(members: pd.Series, population: pd.Series, direction: str, name: str) -> None:
    seg, pop = members.median(), population.median()
    if direction == "high":
        assert seg > pop, (name, members.name, seg, pop)
    elif direction == "low":
        assert seg < pop, (name, members.name, seg, pop)
    elif direction == "none":
        assert (members == 0).mean() > max(0.5, (population == 0).mean()), (name, members.name)
    else:
        q1, q3 = population.quantile([0.25, 0.75])
        assert q1 <= seg <= q3, (name, members.name, seg, q1, q3)


def assert_descriptive_names_true(segments: pd.DataFrame, columns: list[str]) -> None:
    """'High X / Low Y (higher Z)': each term holds against the population median; qualifiers
    order the segments sharing a name."""
    by_label = {c.replace("_", " ").title(): c for c in columns}
    bases = {}
    for name, members in segments.groupby("segment_name"):
        base, _, qualifier = name.partition(" (")
        bases.setdefault(base, []).append((qualifier.rstrip(")"), members))
        for term in base.split(" / "):
            word, label = term.split(" ", 1)
            column = by_label[label]
            assert_claim(members[column], segments[column], word.lower(), name)
    for base, group in bases.items():
        if len(group) == 2:
            (q_a, a), (q_b, b) = group
            word, label = q_a.split(" ", 1)
            column = by_label[label]
            higher = a if word == "higher" else b
            lower = b if word == "higher" else a
            assert higher[column].mean() > lower[column].mean(), (base, q_a, q_b)


def test_mall_table_gives_five_segments_whose_names_are_true(mall_csv):
    result, quarantine = run_pure(mall_csv)
    assert quarantine.empty
    assert result.result.selection.k == 5 and not result.result.selection.weak_structure
    assert result.result.silhouette >= 0.55
    profiles = result.profiles.set_index("segment_name")
    assert set(profiles.index) == set(MALL_CLAIMS)
    top = profiles.loc["High Spenders"]
    assert top["annual_income_k"] > 75 and top["spending_score"] > 75
    assert profiles["size"].to_dict() == {      # golden values (README, "On real data")
        "Mid-Range Customers": 81, "High Spenders": 39, "Careful High Earners": 35,
        "Budget Buyers": 23, "Young Impulse Buyers": 22}
    segments = result.segments
    for name, claims in MALL_CLAIMS.items():
        members = segments[segments["segment_name"] == name]
        for column, direction in claims.items():
            assert_claim(members[column], segments[column], direction, name)
    assert all(t["transform"] == "none" for t in result.transforms.values())  # skew < 1: unchanged


def test_planted_groups_are_recovered(tmp_path):
    table = make_customers(n=400, seed=11)
    path = tmp_path / "planted.csv"
    table.drop(columns="planted_group").to_csv(path, index=False)
    result, _ = run_pure(path)
    ari = adjusted_rand_score(table["planted_group"], result.segments["segment_id"])
    assert ari >= 0.95
    named = pd.crosstab(table["planted_group"], result.segments["segment_name"])
    for planted in named.index:
        assert named.loc[planted].idxmax() == planted


@pytest.fixture(scope="module")
def cc_general():
    path = shared_file("customers/cc_general/CC_GENERAL.csv")
    return run_pure(path, id_column="CUST_ID", features=CC_FEATURES)


def test_cc_general_log_transforms_skewed_money_and_keeps_proportions(cc_general):
    result, quarantine = cc_general
    transforms = result.transforms
    logged = {c for c, t in transforms.items() if t["transform"] == "log1p"}
    assert {"purchases", "oneoff_purchases", "minimum_payments", "cash_advance", "balance"} <= logged
    assert {"tenure", "balance_frequency", "purchases_frequency"}.isdisjoint(logged)  # skew <= 1
    assert all(transforms[c]["skew"] > 1 and transforms[c]["skew_after"] < transforms[c]["skew"]
               for c in logged)
    # Missing values: quarantined by the default policy, each with its reason.
    reasons = quarantine["reason"].value_counts().to_dict()
    assert reasons == {"missing minimum_payments": 313, "missing credit_limit": 1}
    sizes = result.profiles["size"]
    assert sizes.sum() == 8950 - 314
    assert sizes.max() / sizes.sum() < 0.5                  # no catch-all segment
    assert sizes.min() >= min_segment_size(sizes.sum())


def test_cc_general_names_are_distinct_and_true(cc_general):
    result, _ = cc_general
    names = result.profiles["segment_name"]
    assert names.is_unique and not names.str.contains(r"\(\d+\)").any()
    assert not result.fallback_segments
    assert 3 <= result.result.selection.k <= 8 and result.result.selection.stability >= 0.75
    assert_descriptive_names_true(result.segments, [c.lower() for c in CC_FEATURES])
    # golden values (README, "On real data"): the same input gives the same names and sizes
    assert result.result.selection.k == 5
    assert dict(zip(names, result.profiles["size"])) == {
        "Low Purchases / Low Installments Purchases": 2281,
        "High Oneoff Purchases Frequency / High Purchases Trx": 1759,
        "High Purchases Installments Frequency / No Cash Advance": 1642,
        "No Cash Advance / Low Payments": 1591,
        "High Cash Advance Trx / High Minimum Payments": 1363}


def wholesale_like(n: int = 440, seed: int = 5) -> pd.DataFrame:
    """Six skewed annual-spend columns, two coded categoricals, no id column (like UCI Wholesale)."""
    rng = np.random.default_rng(seed)
    channel = rng.choice([1, 2], size=n, p=[0.68, 0.32])
    retail = channel == 2
    frame = pd.DataFrame({"Channel": channel, "Region": rng.choice([1, 2, 3], size=n,
                                                                   p=[0.18, 0.11, 0.71])})
    for column, horeca, shop in [("Fresh", 9.2, 8.8), ("Milk", 7.7, 9.1), ("Grocery", 7.9, 9.5),
                                 ("Frozen", 7.8, 7.0), ("Detergents_Paper", 6.0, 8.5),
                                 ("Delicassen", 6.7, 7.1)]:
        centre = np.where(retail, shop, horeca)
        frame[column] = np.round(np.exp(rng.normal(centre, 1.0))).astype(int)
    return frame


def test_a_table_without_id_uses_line_numbers_and_profiles_categoricals(tmp_path):
    table = wholesale_like()
    table = pd.concat([table, table.iloc[[3]]], ignore_index=True)   # an identical line: 2 customers
    path = tmp_path / "wholesale.csv"
    table.to_csv(path, index=False)
    spend = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]
    result, quarantine = run_pure(path, features=spend, categorical=["Channel", "Region"])
    assert quarantine.empty
    segments = result.segments
    assert segments["customer_id"].tolist() == [str(i) for i in range(2, len(table) + 2)]
    assert segments["customer_id"].tolist() == segments["source_row"].astype(str).tolist()
    assert all(t["transform"] == "log1p" for t in result.transforms.values())
    shares = result.profiles.filter(like="share_channel_")
    assert list(shares.columns) == ["share_channel_1", "share_channel_2"]
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert result.profiles.filter(like="share_region_").shape[1] == 3
    # Categoricals are profiled, not clustered: relabelling them changes no segment.
    table["Region"] = table["Region"].map({1: 3, 2: 1, 3: 2})
    table.to_csv(path, index=False)
    again, _ = run_pure(path, features=spend, categorical=["Channel", "Region"])
    assert np.array_equal(again.segments["segment_id"], segments["segment_id"])
    clustered, _ = run_pure(path, features=spend, categorical=["Channel", "Region"],
                            cluster_categorical=True)
    features = pipeline.feature_frame(clustered.segments, resolve_config(
        list(table.columns.str.lower()), features=spend, categorical=["Channel", "Region"],
        cluster_categorical=True))
    assert {"channel_1", "region_3"} <= set(features.columns)
    assert_descriptive_names_true(segments, [c.lower() for c in spend])


def test_choose_transforms_follows_skew_sign_and_mode():
    frame = pd.DataFrame({"skewed": [1.0] * 30 + [100.0], "symmetric": np.arange(31.0),
                          "negative": [-5.0] + [1.0] * 29 + [100.0]})
    auto = choose_transforms(frame, list(frame.columns))
    assert [auto[c]["transform"] for c in frame.columns] == ["log1p", "none", "none"]
    assert re.search(r"skewness [\d.]+ > 1", auto["skewed"]["why"])
    assert auto["negative"]["why"] == "has negative values"
    assert choose_transforms(frame, ["symmetric"], "log")["symmetric"]["transform"] == "log1p"
    assert choose_transforms(frame, ["skewed"], "none")["skewed"]["transform"] == "none"
    logged = apply_transforms(frame, auto)
    assert logged["skewed"].iloc[-1] == pytest.approx(np.log1p(100.0))
    assert logged["symmetric"].equals(frame["symmetric"])
    # Just above and just below the threshold of 1.
    barely = pd.DataFrame({"x": np.r_[np.zeros(60), np.ones(17)]})   # skewness 1.37
    flat = pd.DataFrame({"x": np.r_[np.zeros(60), np.ones(30)]})     # skewness ~ 0.72
    assert choose_transforms(barely, ["x"])["x"]["transform"] == "log1p"
    assert choose_transforms(flat, ["x"])["x"]["transform"] == "none"


def test_one_absurd_value_cannot_decide_the_segments(mall_csv, tmp_path):
    clean, _ = run_pure(mall_csv)
    table = pd.read_csv(mall_csv)
    absurd = pd.DataFrame([[201, "Male", 40, 1e308, 50]], columns=table.columns)
    path = tmp_path / "absurd.csv"
    pd.concat([table, absurd]).to_csv(path, index=False)
    result, _ = run_pure(path)
    assert result.result.selection.k == 5
    others = result.segments[result.segments["customer_id"] != "201"]
    assert adjusted_rand_score(clean.segments["segment_id"], others["segment_id"]) == 1.0
    row = result.segments[result.segments["customer_id"] == "201"].iloc[0]
    assert row["is_outlier"] and row["annual_income_k"] == 1e308     # published as read
    assert row["is_atypical"] and "annual_income_k: clipped for clustering" in row["atypical_reason"]
    assert result.profiles["annual_income_k"].max() < 140              # not in any segment's mean
    assert set(result.profiles["segment_name"]) == set(clean.profiles["segment_name"])
