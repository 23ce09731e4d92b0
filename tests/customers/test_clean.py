"""Cleaning policies on hand-made columns: median imputation, Tukey fences, flag vs winsorize."""

import numpy as np
import pandas as pd
import pytest

from segmentation.customers.clean import (FAILURE_COLUMNS, OUTLIER_IQR_FACTOR, exact_duplicates,
                                          flag_outliers, impute_median, missing_values,
                                          outlier_fences, winsorize)

# quartiles 2 and 4 (IQR 2) -> fences 2 - 3*2 = -4 and 4 + 3*2 = 10
BASE = [1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0]


def frame(*extra):
    return pd.DataFrame({"x": BASE + list(extra), "y": [3.0] * (len(BASE) + len(extra))})


def test_fences_are_quartiles_plus_minus_three_iqr():
    assert OUTLIER_IQR_FACTOR == 3.0
    fences = outlier_fences(frame(), ["x"])
    assert fences.loc["x"].tolist() == [pytest.approx(-4.0), pytest.approx(10.0)]


def test_flag_marks_values_beyond_either_fence_and_not_on_it():
    data = pd.DataFrame({"x": BASE * 3 + [10.0, -4.0, 40.0, -40.0]})
    fences = outlier_fences(data, ["x"]).loc["x"]
    on_upper, on_lower = fences["upper"], fences["lower"]
    data.loc[24:25, "x"] = [on_upper, on_lower]
    flags = flag_outliers(data, ["x"])
    assert flags.tolist() == [False] * 26 + [True, True]


def test_flag_is_any_column():
    data = frame(3.0, 3.0)
    data.loc[8, "y"] = 99.0             # y has no spread: its fences are 3 and 3
    assert flag_outliers(data, ["x", "y"]).tolist() == [False] * 8 + [True, False]


def test_winsorize_clips_to_the_fences_and_keeps_every_row():
    data = pd.DataFrame({"x": BASE * 3 + [40.0, -40.0]})
    fences = outlier_fences(data, ["x"]).loc["x"]
    clipped = winsorize(data, ["x"])
    assert len(clipped) == len(data)
    assert clipped["x"].iloc[-2:].tolist() == [fences["upper"], fences["lower"]]
    assert clipped["x"].iloc[:-2].equals(data["x"].iloc[:-2])
    assert data["x"].iloc[-1] == -40.0                            # the input is not modified


def test_impute_fills_the_median_and_counts_per_column():
    data = pd.DataFrame({"x": [1.0, np.nan, 3.0, 10.0, np.nan], "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    filled, counts = impute_median(data, ["x", "y"])
    assert filled["x"].tolist() == [1.0, 3.0, 3.0, 10.0, 3.0]      # median of 1, 3, 10
    assert counts == {"x": 2, "y": 0}
    assert data["x"].isna().sum() == 2                            # the input is not modified


def test_missing_values_names_row_and_column():
    raw = pd.DataFrame({"x": [1.0, None, 2.0], "y": [None, 1.0, 1.0]})
    failures = missing_values(raw, ["x", "y", "absent"])
    assert list(failures.columns) == FAILURE_COLUMNS == ["row", "expectation", "column", "reason"]
    assert failures.values.tolist() == [
        [1, "missing_value", "x", "missing x"], [0, "missing_value", "y", "missing y"]]
    assert list(missing_values(raw, ["absent"]).columns) == FAILURE_COLUMNS    # none: same shape


def test_exact_duplicates_name_the_first_copy_even_with_missing_values():
    rows = pd.DataFrame({"id": ["1", "2", "1", None, None, "3"], "x": ["a", None, "a", "b", "b", "c"],
                         "source_row": [2, 3, 4, 5, 6, 7]}, index=[10, 11, 12, 13, 14, 15])
    failures = exact_duplicates(rows)
    assert list(failures.columns) == FAILURE_COLUMNS
    assert failures.values.tolist() == [
        [12, "exact_duplicate", None, "exact duplicate of line 2"],
        [14, "exact_duplicate", None, "exact duplicate of line 5"]]       # NA equals NA here
    assert list(exact_duplicates(rows.iloc[:2]).columns) == FAILURE_COLUMNS


def test_far_out_values_are_clipped_to_the_fences_for_clustering_and_named_per_row():
    from segmentation.customers.pipeline import clip_far_out

    a = np.arange(20, dtype=float)
    features = pd.DataFrame({"a": a, "b": a, "flat": np.r_[np.zeros(19), 1e308]}, index=range(5, 25))
    features.loc[7, "a"] = 1e308
    features.loc[9, ["a", "b"]] = -500.0
    clipped, which = clip_far_out(features)
    # a: q1 5.75, q3 15.25, fences -22.75 and 43.75; b: q1 4.5, q3 14.25, lower fence -24.75
    assert clipped.loc[7, "a"] == 43.75 and clipped.loc[9, "a"] == -22.75
    assert clipped.loc[9, "b"] == -24.75
    assert clipped["flat"].equals(features["flat"])   # quartiles coincide: no fence, left as is
    assert clipped.drop(index=[7, 9]).equals(features.drop(index=[7, 9]))
    assert which.to_dict() == {i: {7: "a", 9: "a, b"}.get(i, "") for i in range(5, 25)}
