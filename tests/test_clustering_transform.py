"""Scaling and the model in one call (segmentation/clustering.py), and the customer feature
transforms (segmentation/customers/transform.py), on tiny frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.clustering import Scaling, centroids_in_units, profiles_table, segment
from segmentation.customers.transform import apply_transforms, choose_transforms
from segmentation.errors import InputError
from segmentation.kselect import NoSegments


def test_each_column_is_standard_scaled_constant_columns_stay_zero_then_weighted():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0], "c": [0.0, 0.0, 6.0]})
    X = Scaling.fit(frame).apply(frame)
    assert X[:, 0] == pytest.approx([-1.2247449, 0.0, 1.2247449])
    assert X[:, 1].tolist() == [0.0, 0.0, 0.0]
    weighted = Scaling.fit(frame, {"a": 0.5, "c": 2.0}).apply(frame)
    assert weighted[:, 0] == pytest.approx(X[:, 0] * 0.5)
    assert weighted[:, 2] == pytest.approx(X[:, 2] * 2.0)
    assert weighted[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_rows_that_are_all_alike_have_no_segments():
    with pytest.raises(NoSegments) as refused:
        segment(np.ones((1200, 2)), unit="meters")
    assert str(refused.value) == ("all 1,200 meters have the same values of the features: there "
                                  "are no segments to find. Nothing was published")


@pytest.mark.parametrize("k, n", [(1, 10), (10, 10), (11, 10)])
def test_a_given_k_needs_more_rows_than_k_and_at_least_two(k, n):
    X = np.arange(n * 2, dtype=float).reshape(n, 2)
    with pytest.raises(InputError) as refused:
        segment(X, k=k, unit="customers")
    assert str(refused.value) == (f"--k {k} needs more than {k} customers, and there are {n}: "
                                  "choose a smaller k or let the pipeline choose")


def test_a_given_k_just_below_the_row_count_is_fitted():
    X = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10, np.ones((5, 2)) * 20] + \
        np.random.default_rng(0).normal(0, 0.1, (15, 2))
    result = segment(X, k=3, min_size=2, n_boot=2)
    assert result.selection.k == 3 and sorted(np.bincount(result.labels)) == [5, 5, 5]
    assert result.silhouette > 0.9 and len(result.distance) == 15
    assert result.atypical.tolist() == [False] * 15
    assert result.atypical_reason == [None] * 15


def test_centroids_are_means_in_units_over_typical_members():
    features = pd.DataFrame({"income": [10.0, 20.0, 1000.0, 50.0, 70.0]})
    labels = np.array([0, 0, 0, 1, 1])
    assert centroids_in_units(features, labels)["income"].tolist() == [343.3333333333333, 60.0]
    typical = np.array([True, True, False, False, False])       # segment 1: none typical
    means = centroids_in_units(features, labels, typical)
    assert means.index.name == "segment_id" and means["income"].tolist() == [15.0, 60.0]


def test_profiles_have_the_contract_columns_then_the_centroids():
    labels = np.array([0, 0, 0, 1])
    centroids = pd.DataFrame({"income": [1.0, 2.0]}, index=pd.Index([0, 1], name="segment_id"))
    table = profiles_table(labels, {0: "Big", 1: "Small"}, centroids, np.array([1, 0, 0, 1]))
    assert list(table.columns) == ["segment_id", "segment_name", "size", "share", "atypical",
                                   "income"]
    assert table.to_dict("list") == {"segment_id": [0, 1], "segment_name": ["Big", "Small"],
                                     "size": [3, 1], "share": [0.75, 0.25], "atypical": [1, 1],
                                     "income": [1.0, 2.0]}
    assert table["segment_id"].dtype == np.int32 and table["size"].dtype == np.int64
    assert table["atypical"].dtype == np.int64
    assert profiles_table(labels, {0: "Big", 1: "Small"}, centroids)["atypical"].tolist() == [0, 0]


def test_a_transform_choice_is_recorded_with_its_skewness_before_and_after():
    frame = pd.DataFrame({"skewed": [1.0] * 30 + [100.0], "short": [1.0, 100.0] + [None] * 29})
    choice = choose_transforms(frame, ["skewed", "short"])
    skew = frame["skewed"].skew()
    assert choice["skewed"] == {"transform": "log1p", "skew": round(skew, 3),
                                "skew_after": round(np.log1p(frame["skewed"]).skew(), 3),
                                "why": f"skewness {skew:.2f} > 1.0"}
    assert choice["short"] == {"transform": "none", "skew": 0.0, "skew_after": 0.0,
                               "why": "skewness 0.00 <= 1.0"}          # two values: no skewness
    flat = choose_transforms(pd.DataFrame({"x": np.arange(31.0)}), ["x"])["x"]
    assert flat["skew_after"] == flat["skew"] == 0.0 and flat["why"] == "skewness 0.00 <= 1.0"


def test_log_and_none_modes_and_negative_columns():
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "neg": [-1.0, 0.0, 1.0, 50.0]})
    logged = choose_transforms(frame, ["x", "neg"], "log")
    assert logged["x"]["transform"] == "log1p" and logged["x"]["why"] == "--transform log"
    assert logged["neg"] == {"transform": "none", "skew": round(frame["neg"].skew(), 3),
                             "skew_after": round(frame["neg"].skew(), 3),
                             "why": "has negative values"}
    none = choose_transforms(frame, ["x"], "none")["x"]
    assert none["transform"] == "none" and none["why"] == "--transform none"
    with pytest.raises(ValueError, match=r"transform must be one of \('auto', 'log', 'none'\), "
                                         r"got 'sqrt'"):
        choose_transforms(frame, ["x"], "sqrt")


def test_missing_values_are_left_out_of_the_choice_and_kept_by_the_transform():
    frame = pd.DataFrame({"x": [0.0, None, 3.0, 1.0]})
    choice = choose_transforms(frame, ["x"], "log")
    out = apply_transforms(frame, choice)
    assert out["x"].iloc[[0, 2, 3]].tolist() == pytest.approx([0.0, np.log1p(3.0), np.log1p(1.0)])
    assert np.isnan(out["x"].iloc[1]) and frame["x"].iloc[2] == 3.0     # the input is unchanged
    assert apply_transforms(frame, {"x": {"transform": "none"}})["x"].equals(frame["x"])


def test_three_values_have_a_skewness_and_two_have_none_even_under_log():
    three = pd.DataFrame({"x": [0.0, 1.0, 100.0]})
    choice = choose_transforms(three, ["x"])["x"]
    skew = three["x"].skew()                          # pandas' skewness needs three values
    assert skew > 1.0 and choice["transform"] == "log1p"
    assert choice["skew"] == round(skew, 3)
    assert choice["skew_after"] == round(np.log1p(three["x"]).skew(), 3) != choice["skew"]
    two = choose_transforms(pd.DataFrame({"x": [1.0, 100.0]}), ["x"], "log")["x"]
    # Logged, but two values give no skewness after either: 0.0 as before, never NaN.
    assert two == {"transform": "log1p", "skew": 0.0, "skew_after": 0.0,
                   "why": "--transform log"}


def test_a_skewness_equal_to_the_threshold_is_not_above_it(monkeypatch):
    from segmentation.customers import transform

    frame = pd.DataFrame({"x": [1.0] * 30 + [100.0]})
    monkeypatch.setattr(transform, "SKEW_THRESHOLD", float(frame["x"].skew()))
    assert choose_transforms(frame, ["x"])["x"]["transform"] == "none"


def test_a_value_too_large_for_the_skewness_leaves_the_column_and_the_manifest_valid():
    """Skewness of values up to 1e200 overflows x**3 into NaN: the manifest held NaN (not
    JSON). The skew is null, and the absurd value, clipped and flagged anyway, does not
    decide the transform."""
    import json

    from segmentation.customers.transform import choose_transforms, skewness

    values = pd.Series([1.0, 2, 3, 4, 5, 1e200])
    assert skewness(values) is None
    chosen = choose_transforms(pd.DataFrame({"spend": values}), ["spend"])["spend"]
    assert chosen == {"transform": "none", "skew": None, "skew_after": None,
                      "why": "skewness not computable (a value of 1e+200 is too large for it); "
                             "left as it is"}
    json.dumps(chosen, allow_nan=False)
    logged = choose_transforms(pd.DataFrame({"spend": values}), ["spend"], "log")["spend"]
    assert logged["transform"] == "log1p" and logged["skew"] is None
    assert logged["skew_after"] == pytest.approx(pd.Series(np.log1p(values)).skew(), abs=1e-3)
    assert skewness(pd.Series([1.0, 2.0])) == 0.0
    assert skewness(pd.Series([1.0, 2.0, 10.0])) == pytest.approx(pd.Series([1.0, 2, 10]).skew())
