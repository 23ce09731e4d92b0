"""The model artifact (segmentation/artifact.py), promise by promise on hand-made spaces and
models (no k-means): plain JSON (numpy numbers as numbers, NaN as null), the refusals in
one sentence, a new member placed by the run's own parameters step by step, the nearest
segment and the far-out fence (docs/outputs.md, "model.json")."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from segmentation.artifact import (FILE_NAME, FORMAT_VERSION, KINDS, ModelArtifact,
                                   ModelMismatch, _plain, describe_difference, k_summary,
                                   segments_of, table_points, table_space)
from segmentation.clustering import Scaling


def model(**changes) -> ModelArtifact:
    """Two segments (ids 4 and 9) in a plane; segment 9 too small for a fence."""
    values = dict(kind="customers", dataset="shop", run_date="2026-11-30",
                  space={"type": "table", "features": ["spend", "visits"]},
                  centroids=[[0.0, 0.0], [10.0, 0.0]],
                  segments=[{"segment_id": 4, "segment_name": "Small", "far_out_fence": 2.0},
                            {"segment_id": 9, "segment_name": "Big", "far_out_fence": None}],
                  k={"chosen": 2})
    values.update(changes)
    return ModelArtifact(**values)


# ------------------------------------------------------------------ the file

def test_the_model_file_is_plain_json_that_loads_back_the_same(tmp_path):
    saved = model(extra={"bands": [np.float64(1.5), 2.5], "n": np.int64(3),
                         "gap": np.float64("nan"), 7: (1, 2)})
    path = saved.save(tmp_path / FILE_NAME)
    data = json.loads(path.read_text())
    assert data["extra"] == {"bands": [1.5, 2.5], "n": 3, "gap": None, "7": [1, 2]}
    assert data["format_version"] == FORMAT_VERSION == 1 and FILE_NAME == "model.json"
    loaded = ModelArtifact.load(path)
    assert loaded.centroids == saved.centroids and loaded.segments == saved.segments
    assert loaded.features == ["spend", "visits"] and loaded.kind == "customers"
    assert set(KINDS) == {"customers", "meters", "transactions"}


def test_plain_turns_numpy_values_into_python_ones_and_nan_into_null():
    got = _plain({1: [np.float32(0.5), np.int32(2), float("nan"), np.bool_(True)],
                  "t": (np.float64("nan"), "x")})
    assert got == {"1": [0.5, 2, None, True], "t": [None, "x"]}
    assert type(got["1"][1]) is int and type(got["1"][0]) is float


def test_a_saved_model_of_the_right_kind_and_features_loads_and_keeps_unknown_keys_out(tmp_path):
    path = model().save(tmp_path / FILE_NAME)
    data = json.loads(path.read_text())
    data["added_by_a_later_version"] = 1
    path.write_text(json.dumps(data))
    loaded = ModelArtifact.load(path, kind="customers", features=("spend", "visits"))
    assert loaded.dataset == "shop" and loaded.k == {"chosen": 2}


@pytest.mark.parametrize("text, says", [
    ("[1, 2]", "has model format version None; this code reads version 1"),
    ('{"kind": "customers"}', "has model format version None; this code reads version 1"),
    ('{"format_version": "1"}', "has model format version '1'; this code reads version 1"),
])
def test_a_file_without_this_format_version_is_refused_naming_both(tmp_path, text, says):
    path = tmp_path / FILE_NAME
    path.write_text(text)
    with pytest.raises(ModelMismatch) as refused:
        ModelArtifact.load(path)
    assert str(refused.value) == (f"{path} {says}: run the dataset again to save a model this "
                                  "version can use")


def test_a_missing_broken_or_other_kind_of_file_is_refused_in_one_sentence(tmp_path):
    path = tmp_path / FILE_NAME
    with pytest.raises(ModelMismatch) as missing:
        ModelArtifact.load(path)
    assert str(missing.value) == (f"no model at {path}: runs published before models were "
                                  "saved have none; run the dataset again for a model")
    path.write_text("{not json")
    with pytest.raises(ModelMismatch) as broken:
        ModelArtifact.load(path)
    assert str(broken.value).startswith(f"{path} is not a model file (not JSON: Expecting")
    model(kind="meters").save(path)
    with pytest.raises(ModelMismatch) as other:
        ModelArtifact.load(path, kind="transactions")
    assert str(other.value) == f"{path} is a model of meters, not of transactions"


def test_the_feature_difference_is_said_in_words():
    assert describe_difference(["a", "b", "c"], ["a", "c", "d", "e"]) == (
        "a, b, c, and these members have a, c, d, e (b missing; d, e not in the model)")
    assert describe_difference(["a", "b"], ["b"]) == "a, b, and these members have b (a missing)"
    assert describe_difference(["a", "b", "c"], ["a"]) == (
        "a, b, c, and these members have a (b, c missing)")
    assert describe_difference(["a"], ["a", "z"]) == (
        "a, and these members have a, z (z not in the model)")
    assert describe_difference(["a", "b"], ["b", "a"]) == (
        "a, b, and these members have b, a (the same columns in another order)")


# ------------------------------------------------------------------ placing members

def test_each_point_goes_to_its_nearest_segment_atypical_only_beyond_that_segment_s_fence():
    placed = model().assign(np.array([[1.0, 0.0], [0.0, 3.0], [6.0, 0.0], [40.0, 0.0]]))
    assert list(placed.columns) == ["segment_id", "segment_name", "distance_to_centroid",
                                    "is_atypical", "atypical_reason", "segment_probability"]
    assert placed["segment_id"].tolist() == [4, 4, 9, 9]
    assert placed["segment_id"].dtype == np.int32
    assert placed["segment_name"].tolist() == ["Small", "Small", "Big", "Big"]
    assert placed["distance_to_centroid"].tolist() == pytest.approx([1.0, 3.0, 4.0, 30.0])
    # 3.0 is beyond Small's fence of 2.0; Big has no fence, so nothing is far from it
    assert placed["is_atypical"].tolist() == [False, True, False, False]
    assert placed["atypical_reason"].dtype == "string"
    assert placed["atypical_reason"].isna().tolist() == [True, False, True, True]
    assert placed.loc[1, "atypical_reason"] == (
        "far from every segment: distance 3.00 to the nearest centroid, beyond its segment's "
        "fence 2.00")


def test_a_point_exactly_on_the_fence_is_typical_and_its_reason_a_null_string():
    placed = model().assign(np.array([[0.0, 2.0]]))
    assert placed["is_atypical"].tolist() == [False]
    # a batch without one atypical member still has a string column (docs/outputs.md)
    assert placed["atypical_reason"].dtype == "string" and placed["atypical_reason"].isna().all()


def test_the_segments_of_a_fitted_model_are_written_in_the_order_of_their_stable_ids():
    class Fitted:                                       # what ``segments_of`` reads of it
        cluster_centers_ = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
        far_out_fences_ = np.array([1.5, np.nan, 2.5])

    centroids, segments = segments_of(Fitted(), {7: "A", 2: "B", 5: "C"}, {0: 7, 1: 2, 2: 5})
    assert centroids == [[2.0, 3.0], [4.0, 5.0], [0.0, 1.0]]
    assert segments == [{"segment_id": 2, "segment_name": "B", "far_out_fence": None},
                        {"segment_id": 5, "segment_name": "C", "far_out_fence": 2.5},
                        {"segment_id": 7, "segment_name": "A", "far_out_fence": 1.5}]
    assert all(type(s["segment_id"]) is int for s in segments)
    assert type(segments[1]["far_out_fence"]) is float
    by_size, _ = segments_of(Fitted(), {0: "A", 1: "B", 2: "C"})    # no ids: the model's own
    assert by_size == Fitted.cluster_centers_.tolist()


# ------------------------------------------------------------------ the table space

def space(**changes) -> dict:
    scaling = Scaling(["spend", "visits", "region_north"], [1.0, 2.0, 0.5], [2.0, 4.0, 0.5],
                      [1.0, 2.0, 1.0])
    values = dict(features=["spend", "visits"],
                  transforms={"spend": {"transform": "log1p"}, "visits": {"transform": "none"}},
                  clip_fences={"visits": [0.0, 10.0]}, scaling=scaling,
                  floors={"spend": 0.0, "visits": 2.5}, categorical=["region"],
                  impute_medians={"visits": 3.0}, winsorize_fences={"spend": [1.0, 100.0]})
    values.update(changes)
    return table_space(**values)


def test_the_table_space_keeps_each_step_s_parameters():
    got = space()
    assert got == {"type": "table", "features": ["spend", "visits"],
                   "impute_medians": {"visits": 3.0}, "winsorize_fences": {"spend": [1.0, 100.0]},
                   "floors": {"spend": 0.0, "visits": 2.5}, "transforms": {"spend": "log1p", "visits": "none"},
                   "clip_fences": {"visits": [0.0, 10.0]}, "categorical": ["region"],
                   "columns": ["spend", "visits", "region_north"], "mean": [1.0, 2.0, 0.5],
                   "scale": [2.0, 4.0, 0.5], "weights": [1.0, 2.0, 1.0]}
    bare = space(floors=None, impute_medians=None, winsorize_fences=None, categorical=())
    assert bare["floors"] == {} == bare["impute_medians"] == bare["winsorize_fences"]
    assert bare["categorical"] == []


def test_rows_reach_the_space_by_the_run_s_steps_in_order_and_say_what_was_clipped():
    rows = pd.DataFrame({"spend": [np.e - 1, 1000.0, -5.0], "visits": [np.nan, 30.0, 2.0],
                         "region": ["north", "south", "north"]}, index=[10, 11, 12])
    points, clipped = table_points(rows, space())
    # spend: winsorised to [1, 100], floored at 0, then log1p; visits: the median 3 for the
    # gap, floored at 2.5, then clipped to the far-out fence 10; region one-hot; then scaled
    # and weighted
    spend = np.log1p([np.e - 1, 100.0, 1.0])
    visits = np.array([3.0, 10.0, 2.5])
    north = np.array([1.0, 0.0, 1.0])
    expected = np.column_stack([(spend - 1) / 2, (visits - 2) / 4 * 2, (north - 0.5) / 0.5])
    assert points == pytest.approx(expected)
    assert clipped.tolist() == ["", "visits", ""] and clipped.index.tolist() == [10, 11, 12]
    assert rows["spend"].tolist()[1] == 1000.0                   # the caller's rows untouched


def test_without_categorical_columns_no_category_is_clustered():
    rows = pd.DataFrame({"spend": [0.0], "visits": [2.0], "region": ["north"]})
    points, _ = table_points(rows, space(categorical=[]))
    assert points[0, 2] == pytest.approx(-1.0)                  # region_north absent: 0


def test_the_k_rule_s_result_is_kept_as_plain_numbers():
    class Selection:
        k, rule, stability = np.int64(4), "knee", np.float32(0.75)

    class Fit:
        selection, silhouette = Selection(), np.float64(0.25)

    got = k_summary(Fit())
    assert got == {"chosen": 4, "rule": "knee", "stability": 0.75, "silhouette": 0.25}
    assert [type(v) for v in got.values()] == [int, str, float, float]


def test_a_model_s_features_are_its_space_s_and_none_without_them():
    assert model().features == ["spend", "visits"]
    assert model(space={"type": "meter-shape"}).features == []
    assert math.isclose(model().assign(np.array([[0.0, 0.0]]))["distance_to_centroid"][0], 0.0)


def test_the_model_records_the_package_version():
    import tomllib
    from pathlib import Path

    from segmentation.artifact import code_version

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert code_version() == project["project"]["version"]


def test_numpy_arrays_in_a_model_are_saved_as_json_lists():
    assert _plain({"bands": np.array([1.5, np.nan]), "k": np.int64(3)}) == {
        "bands": [1.5, None], "k": 3}
