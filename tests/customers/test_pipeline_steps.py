"""The customer run's pure steps (segmentation/customers/pipeline.py) and what it publishes
(segmentation/customers/outputs.py), on tiny frames: docs/customers.md steps 1-4."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segmentation.customers import outputs, pipeline
from segmentation.customers.config import CustomerConfig, resolve_config

MALL = ["customer_id", "gender", "age", "annual_income_k", "spending_score"]


def test_ids_are_unpadded_gender_spelled_out_and_tables_without_ids_numbered():
    rows = pd.DataFrame({"customer_id": ["007", " 12"], "gender": ["f", "MALE"],
                         "age": ["1", "2"], "annual_income_k": ["3", "4"],
                         "spending_score": ["5", "6"], "source_row": [2, 3]})
    out = pipeline.normalise(rows.copy(), resolve_config(MALL))
    assert out["customer_id"].tolist() == ["7", "12"] and out["gender"].tolist() == ["Female", "Male"]
    assert out["customer_id"].dtype == object and out["gender"].dtype == object
    lines = pipeline.normalise(rows.drop(columns=["customer_id"]).copy(),
                               resolve_config(MALL[1:], features=["age"]))
    assert lines["customer_id"].tolist() == ["2", "3"]


def frame(values: dict) -> pd.DataFrame:
    return pd.DataFrame(values, index=range(10, 10 + len(next(iter(values.values())))))


def test_missing_values_are_imputed_with_the_median_when_asked_and_outliers_flagged():
    config = CustomerConfig("customer_id", ("x",), missing="impute")
    data = frame({"x": [1.0, 2.0, 3.0, None, 2.0, 3.0, 1.0, 2.0, 500.0]})
    clean, counts = pipeline.clean(data, config)
    assert clean["x"].iloc[3] == 2.0 and clean["x"].iloc[8] == 500.0       # flagged, kept
    assert clean["is_outlier"].tolist() == [False] * 8 + [True]
    assert counts == {"imputed": {"x": 1}, "outliers": 1, "outlier_policy": "flag",
                      "missing_policy": "impute"}
    assert data["x"].isna().sum() == 1                                  # the input is unchanged


def test_winsorize_clips_outliers_to_the_fences_and_still_flags_them():
    config = CustomerConfig("customer_id", ("x",), outliers="winsorize")
    data = frame({"x": [1.0, 2.0, 3.0, 2.0, 3.0, 1.0, 2.0, 500.0]})
    clean, counts = pipeline.clean(data, config)
    assert clean["x"].iloc[-1] < 500.0 and clean["is_outlier"].iloc[-1]
    assert counts == {"imputed": {}, "outliers": 1, "outlier_policy": "winsorize",
                      "missing_policy": "quarantine"}
    empty, counts = pipeline.clean(data.iloc[0:0], config)
    assert empty.empty and counts["outliers"] == 0 and "is_outlier" in empty.columns


def test_features_are_transformed_and_categoricals_one_hot_only_when_clustered():
    data = frame({"x": [0.0, 1.0, 3.0], "region": ["n", "s", "n"]})
    profiled = CustomerConfig("id", ("x",), ("region",))
    logged = pipeline.feature_frame(data, profiled, {"x": {"transform": "log1p"}})
    assert list(logged.columns) == ["x"] and logged["x"].tolist() == pytest.approx(
        np.log1p([0.0, 1.0, 3.0]))
    clustered = CustomerConfig("id", ("x",), ("region",), cluster_categorical=True)
    both = pipeline.feature_frame(data, clustered)
    assert list(both.columns) == ["x", "region_n", "region_s"]
    assert both["region_n"].tolist() == [1.0, 0.0, 1.0] and both["x"].tolist() == [0.0, 1.0, 3.0]
    assert list(pipeline.feature_frame(data, CustomerConfig("id", ("x",), (),
                                                            cluster_categorical=True)).columns) == ["x"]


def test_an_absurd_value_is_clipped_to_its_fence_for_clustering_and_named():
    features = frame({"a": [1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 1e308],
                      "b": [5.0, 6.0, 5.0, 6.0, 5.0, 6.0, 5.0, -1e9],
                      "same": [1.0] * 8})
    clipped, which = pipeline.clip_far_out(features)
    q1, q3 = features["a"].quantile([0.25, 0.75])
    assert clipped["a"].iloc[-1] == q3 + 3 * (q3 - q1)
    assert clipped["a"].iloc[:-1].tolist() == features["a"].iloc[:-1].tolist()
    assert clipped["same"].tolist() == [1.0] * 8                        # no fence: untouched
    assert which.tolist() == [""] * 7 + ["a, b"]
    assert features["a"].iloc[-1] == 1e308 and which.index.equals(features.index)


def test_categorical_shares_per_segment_with_missing_and_blank_categories():
    data = frame({"region": ["North", "North", None, "South East"], "ch": ["1", "2", "1", "!"]})
    shares = pipeline.categorical_shares(data, np.array([0, 0, 1, 1]), ["region", "ch"])
    assert list(shares.columns) == ["share_region_north", "share_region_south_east",
                                    "share_region_missing", "share_ch_blank", "share_ch_1",
                                    "share_ch_2"]
    assert shares.loc[0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.5, 0.5]
    assert shares.loc[1].tolist() == [0.0, 0.5, 0.5, 0.5, 0.5, 0.0]
    none = pipeline.categorical_shares(data, np.array([2, 0, 2, 0]), [])
    assert none.index.tolist() == [0, 2] and none.columns.empty


def test_categories_spelled_alike_are_one_category_with_one_share_column():
    """docs/outputs.md: one ``share_<column>_<category>`` per category; values whose names
    are alike once written as a column name (North, north, NORTH!) are that one category,
    so the profiles never hold two columns of one name (profiles.parquet could not be
    written: a run with such a column failed with a traceback)."""
    data = frame({"region": ["North", "north", "NORTH!", "South", None, "missing"]})
    shares = pipeline.categorical_shares(data, np.array([0, 0, 1, 1, 1, 1]), ["region"])
    assert list(shares.columns) == ["share_region_north", "share_region_south",
                                    "share_region_missing"]
    assert shares.loc[0].tolist() == [1.0, 0.0, 0.0]
    assert shares.loc[1].tolist() == [0.25, 0.25, 0.5]


def test_quarantine_rows_are_in_line_order_with_their_lines_and_file():
    failed = pd.DataFrame({"customer_id": ["1", None], "age": [130.0, 20.0],
                           "source_row": [5, 2], "reason": ["age outside 0-120", "null id"]})
    rejects = pd.DataFrame({"source_row": [3], "raw_line": ["3,4"],
                            "reason": ["2 fields where the header has 3"]})
    table = outputs.quarantine_frame(failed, rejects, "raw/c.csv", {5: "1,130", 2: ",20"})
    assert table["source_row"].tolist() == [2, 3, 5]
    assert table["raw_line"].tolist() == [",20", "3,4", "1,130"]
    assert table["reason"].tolist() == ["null id", "2 fields where the header has 3",
                                        "age outside 0-120"]
    assert table["age"].tolist()[::2] == ["20.0", "130.0"] and table["source_file"].eq(
        "raw/c.csv").all()
    assert str(table["age"].dtype) == "string" and str(table["source_file"].dtype) == "string"
    only_rejects = outputs.quarantine_frame(failed.iloc[0:0], rejects, "c.csv", {})
    assert only_rejects["source_row"].tolist() == [3]
    nothing = outputs.quarantine_frame(failed.iloc[0:0], rejects.iloc[0:0], "c.csv", {})
    assert nothing.empty and "source_file" in nothing.columns


def test_the_customer_schemas_follow_the_contract():
    config = CustomerConfig("customer_id", ("annual_income_k", "visits"), ("region",),
                            {"age": "age", "gender": "gender"})
    segments = outputs.segments_schema(config)
    assert segments.names[:10] == ["customer_id", "segment_id", "segment_name", "segment_label",
                                   "is_atypical", "atypical_reason", "distance_to_centroid",
                                   "previous_segment_id", "segment_probability",
                                   "is_low_confidence"]
    assert segments.names[10:] == ["annual_income_k", "visits", "age", "region", "gender",
                                  "is_outlier", "source_row", "run_date"]
    assert segments.field("previous_segment_id").type == pa.int32()
    assert segments.field("age").type == pa.float64() and segments.field("region").type == pa.string()
    assert segments.field("is_outlier").type == pa.bool_()
    profiles = outputs.profiles_schema(config, ["share_region_n"])
    assert profiles.names[5:] == ["annual_income_k", "visits", "age", "share_region_n", "run_date"]
    assert outputs.quarantine_schema(["customer_id", "source_row", "age"]).names == [
        "source_row", "reason", "raw_line", "source_file", "customer_id", "age"]


def test_text_columns_and_the_run_date():
    data = pd.DataFrame({"a": [1.5, None], "source_row": [2, 3]})
    text = outputs.as_text(data)
    assert str(text["a"].dtype) == "string" and text["source_row"].dtype == np.int64
    assert outputs.with_run_date(data, date(2026, 11, 1))["run_date"].tolist() == [
        date(2026, 11, 1)] * 2
    config = CustomerConfig("gender", ("x",), ("gender", "region"), {"gender": "gender"})
    assert outputs._text_columns(config) == ["region"]      # the id is not a text column twice
    assert outputs.category_label("share_channel_2", config) == "channel 2"
