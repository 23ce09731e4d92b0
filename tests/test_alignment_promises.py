"""Segment ids across runs (segmentation/alignment.py), promise by promise, on small
hand-made models: the manifest's alignment block, the one space the centroids are
compared in, the distance limit, new ids never used, the previous run found on disk,
and who moved where (docs/outputs.md, "Segments over time" and `migrations.parquet`)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from segmentation.alignment import (MIGRATION_COLUMNS, PreviousRun, align, by_size,
                                    half_way, in_units, into_space, migrations,
                                    previous_in_space, previous_partition, previous_run,
                                    with_previous_ids)
from segmentation.artifact import ModelArtifact

SHAPE = {"type": "meter-shape", "shape": "daily", "features": ["profile"]}


def meter_model(centroids, ids, *, names=None, max_id=None) -> ModelArtifact:
    """A saved meter model with these centroids (rows) and stable ids; ``max_id`` None: a
    model saved without ``max_segment_id``."""
    names = names or [f"s{i}" for i in ids]
    extra = {} if max_id is None else {"max_segment_id": max_id}
    return ModelArtifact(kind="meters", dataset="grid", run_date="2026-10-31", space=dict(SHAPE),
                         centroids=[list(map(float, c)) for c in centroids],
                         segments=[{"segment_id": i, "segment_name": n, "far_out_fence": None}
                                   for i, n in zip(ids, names)],
                         k={"chosen": len(ids)}, extra=extra)


def table_space(features, *, mean, scale, weights, transforms, columns=None) -> dict:
    """A table space as ``artifact.table_space`` writes it (only what alignment reads)."""
    return {"type": "table", "features": list(features), "columns": list(columns or features),
            "mean": list(mean), "scale": list(scale), "weights": list(weights),
            "transforms": dict(transforms)}


def table_model(space: dict, centroids, ids) -> ModelArtifact:
    """A saved customer model in the table ``space``, its highest id its largest."""
    return ModelArtifact(kind="customers", dataset="shop", run_date="2026-10-31", space=space,
                         centroids=[list(map(float, c)) for c in centroids],
                         segments=[{"segment_id": i, "segment_name": f"s{i}",
                                    "far_out_fence": None} for i in ids],
                         k={"chosen": len(ids)}, extra={"max_segment_id": max(ids)})


# ------------------------------------------------------------------ the manifest's block

def test_the_manifest_says_how_far_each_kept_segment_moved_its_limit_and_what_is_new_or_gone():
    # segments 5 and 2 lie 2.4691357802 apart: each one's limit is half of that
    previous = meter_model([[0.0, 0.0], [2.4691357802, 0.0], [0.0, 30.0]], ids=[5, 2, 8],
                           names=["Night Users", "Evening Peakers", "Flat"], max_id=9)
    current = np.array([[0.1234567891, 0.0], [2.4691357802, 1.0], [50.0, 50.0], [-40.0, 0.0]])
    alignment = align(current, SHAPE, previous, previous_run_date="2026-10-31")
    alignment.name({5: "Night Users", 2: "Daytime Users", 10: "X", 11: "Y"})
    assert alignment.manifest() == {
        "previous_run_date": "2026-10-31",
        "kept": {"2": {"moved": 1.0, "limit": 1.234568},
                 "5": {"moved": 0.123457, "limit": 1.234568}},
        "new": [10, 11],
        "gone": [{"segment_id": 8, "segment_name": "Flat"}],
        "renamed": [{"segment_id": 2, "from": "Evening Peakers", "to": "Daytime Users"}],
        "max_segment_id": 11}
    assert list(alignment.manifest()["kept"]) == ["2", "5"]        # in id order


def test_a_lone_previous_segment_has_no_limit_and_the_manifest_says_null():
    alignment = align(np.array([[100.0, 100.0]]), SHAPE, meter_model([[0.0, 0.0]], ids=[0], max_id=0))
    assert alignment.ids == {0: 0} and alignment.limits == {0: np.inf}
    assert alignment.manifest()["kept"] == {"0": {"moved": pytest.approx(141.421356), "limit": None}}


def test_only_kept_segments_whose_name_changed_are_renamed_in_id_order():
    previous = meter_model([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], ids=[3, 1, 2],
                           names=["A", "B", "C"], max_id=3)
    alignment = align(np.array([[0.0, 10.0], [10.0, 0.0], [0.0, 0.0]]), SHAPE, previous)
    assert alignment.ids == {0: 2, 1: 1, 2: 3}
    alignment.name({1: "B2", 2: "C", 3: "A2"})
    assert alignment.renamed == [{"segment_id": 1, "from": "B", "to": "B2"},
                                 {"segment_id": 3, "from": "A", "to": "A2"}]
    assert alignment.previous_names == {3: "A", 1: "B", 2: "C"}


def test_a_first_run_numbers_by_size_and_every_segment_is_new():
    alignment = by_size(3)
    assert alignment.ids == {0: 0, 1: 1, 2: 2} and alignment.new == [0, 1, 2]
    assert alignment.max_segment_id == 2 and alignment.matched == {} and alignment.gone == []
    assert alignment.manifest() == {"previous_run_date": None, "kept": {}, "new": [0, 1, 2],
                                    "gone": [], "renamed": [], "max_segment_id": 2}


# ------------------------------------------------------------------ matching and ids

def test_a_model_saved_without_its_highest_id_gives_new_ids_above_its_segments():
    previous = meter_model([[0.0, 0.0], [10.0, 0.0]], ids=[4, 6], max_id=None)
    alignment = align(np.array([[0.0, 0.0], [50.0, 50.0]]), SHAPE, previous)
    assert alignment.ids == {0: 4, 1: 7} and alignment.new == [7]
    assert alignment.max_segment_id == 7


def test_limits_are_kept_by_stable_id_half_way_to_the_nearest_other_centroid():
    previous = meter_model([[0.0, 0.0], [6.0, 0.0], [6.0, 20.0]], ids=[7, 3, 9], max_id=9)
    alignment = align(np.array([[0.0, 0.0]]), SHAPE, previous)
    assert alignment.limits == {7: 3.0, 3: 3.0, 9: 10.0}
    assert [g["segment_id"] for g in alignment.gone] == [3, 9]
    assert alignment.max_segment_id == 9 and alignment.new == []


def test_half_way_is_half_the_distance_to_the_nearest_other_centroid():
    assert half_way(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, -8.0]])).tolist() == [2.5, 2.5, 4.0]
    assert half_way(np.array([[1.0, 2.0]])).tolist() == [np.inf]
    assert half_way(np.zeros((0, 2))).tolist() == []


def test_without_a_common_space_every_segment_is_new_and_every_previous_one_gone():
    previous = meter_model([[0.0, 0.0], [5.0, 5.0]], ids=[0, 1], max_id=1)
    other = align(np.array([[0.0, 0.0], [5.0, 5.0]]),
                  {"type": "meter-shape", "shape": "weekday-weekend"}, previous)
    assert other.ids == {0: 2, 1: 3} and other.new == [2, 3] and other.matched == {}
    assert [g["segment_id"] for g in other.gone] == [0, 1] and other.limits == {}


def test_only_the_same_kind_of_space_and_the_same_features_share_a_space():
    meters = meter_model([[1.0, 2.0]], ids=[0])
    assert previous_in_space(meters, dict(SHAPE)).tolist() == [[1.0, 2.0]]
    assert previous_in_space(meters, {"type": "meter-shape", "shape": "weekday-weekend"}) is None
    space = table_space(["a", "b"], mean=[0, 0], scale=[1, 1], weights=[1, 1], transforms={})
    assert previous_in_space(meters, space) is None
    table = table_model(space, [[1.0, 2.0]], ids=[0])
    assert previous_in_space(table, SHAPE) is None
    assert previous_in_space(table, space).tolist() == [[1.0, 2.0]]
    reordered = table_space(["b", "a"], mean=[0, 0], scale=[1, 1], weights=[1, 1], transforms={})
    assert previous_in_space(table, reordered) is None


# ------------------------------------------------------------------ one space

def test_centroids_go_back_to_feature_units_undoing_weights_scaling_and_log():
    space = table_space(["spend", "visits"], mean=[5.0, 3.0], scale=[2.0, 0.5],
                        weights=[2.0, 1.0], transforms={"spend": "log1p", "visits": "none"})
    units = in_units(table_model(space, [[2.0, 1.0], [-2.0, -2.0]], ids=[0, 1]))
    assert list(units.columns) == ["spend", "visits"]
    # spend: 2.0 / weight 2 * scale 2 + mean 5 = 7 on the log scale; visits: 1 * 0.5 + 3
    assert units["spend"].tolist() == pytest.approx([np.expm1(7.0), np.expm1(3.0)])
    assert units["visits"].tolist() == pytest.approx([3.5, 2.0])
    assert into_space(units, space) == pytest.approx(np.array([[2.0, 1.0], [-2.0, -2.0]]))


def test_points_enter_another_run_s_space_with_its_transforms_and_scaling():
    space = table_space(["spend", "visits"], mean=[1.0, 10.0], scale=[0.5, 4.0],
                        weights=[1.0, 3.0], transforms={"spend": "log1p", "visits": "none"},
                        columns=["spend", "visits", "region_north"])
    space["mean"].append(0.5)
    space["scale"].append(0.5)
    space["weights"].append(1.0)
    units = pd.DataFrame({"spend": [np.e - 1, -3.0], "visits": [14.0, 6.0]})
    points = into_space(units, space)
    # a negative amount is taken as 0 before the log (log1p(0) = 0); a one-hot column the
    # points lack is 0
    assert points == pytest.approx(np.array([[0.0, 3.0, -1.0], [-2.0, -3.0, -1.0]]))
    assert units["spend"].tolist() == [np.e - 1, -3.0]            # the caller's frame untouched


# ------------------------------------------------------------------ the previous run

def test_the_previous_run_is_found_only_in_run_date_partitions(tmp_path):
    for folder in ["run_date=2026-10-01", "run_date=2026-10-20.old", "latest",
                   "run_date=2026-10-25x"]:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "model.json").write_text("{}")
    assert previous_partition(tmp_path, date(2026, 11, 30)).name == "run_date=2026-10-01"
    assert previous_partition(tmp_path, date(2026, 10, 2)).name == "run_date=2026-10-01"
    assert previous_partition(tmp_path, date(2026, 10, 1)) is None


def test_a_previous_run_without_a_usable_model_keeps_its_members_and_says_why(tmp_path):
    partition = tmp_path / "run_date=2026-10-31"
    partition.mkdir()
    members = pd.DataFrame({"customer_id": ["a", "b"], "segment_id": [0, 1],
                            "segment_name": ["X", "Y"], "other": [1.0, 2.0]})
    members.to_parquet(partition / "segments.parquet")
    (partition / "model.json").write_text('{"format_version": 99}')
    previous = previous_run(tmp_path, date(2026, 11, 30), "customers", "customer_id")
    assert previous.run_date == "2026-10-31" and previous.model is None
    assert list(previous.segments.columns) == ["customer_id", "segment_id", "segment_name"]
    assert previous.note.startswith("the run of 2026-10-31 has no usable model (")
    assert previous.note.endswith("model format version 99; this code reads version 1: run the "
                                  "dataset again to save a model this version can use): "
                                  "segments numbered by size")


def test_a_previous_run_with_a_model_is_followed_and_a_model_of_another_kind_is_not(tmp_path):
    partition = tmp_path / "run_date=2026-10-31"
    partition.mkdir()
    pd.DataFrame({"meter_id": ["a"], "segment_id": [0], "segment_name": ["X"]}).to_parquet(
        partition / "segments.parquet")
    meter_model([[0.0, 0.0]], ids=[0], max_id=0).save(partition / "model.json")
    followed = previous_run(tmp_path, date(2026, 11, 30), "meters", "meter_id")
    assert followed.model is not None and followed.model.kind == "meters"
    assert followed.run_date == "2026-10-31" and followed.segments["meter_id"].tolist() == ["a"]
    assert followed.note == "segment ids follow the run of 2026-10-31"
    refused = previous_run(tmp_path, date(2026, 11, 30), "customers", "meter_id")
    assert refused.model is None and "is a model of meters, not of customers" in refused.note


def test_without_a_previous_run_every_member_s_previous_segment_is_null():
    segments = pd.DataFrame({"customer_id": ["a", "b"], "segment_id": [0, 1]}, index=[4, 9])
    before = with_previous_ids(segments, PreviousRun(), "customer_id")
    assert before.dtype == "Int32" and before.isna().all() and before.index.tolist() == [4, 9]


def test_each_member_carries_its_segment_of_the_previous_run_by_id_not_by_position():
    previous = PreviousRun("2026-10-31", None, pd.DataFrame(
        {"customer_id": ["a", "b", "d"], "segment_id": [3, 5, 4], "segment_name": "X"}))
    segments = pd.DataFrame({"customer_id": ["b", "a", "c"], "segment_id": [0, 0, 0]},
                            index=[7, 8, 9])
    before = with_previous_ids(segments, previous, "customer_id")
    assert before.tolist() == [5, 3, pd.NA] and before.dtype == "Int32"
    assert before.index.tolist() == [7, 8, 9]


# ------------------------------------------------------------------ who moved where

def test_a_first_run_has_an_empty_migrations_table_with_the_contract_s_columns_and_types():
    moves = migrations(pd.DataFrame({"customer_id": ["a"], "segment_id": [0],
                                     "segment_name": ["X"]}), None, "customer_id")
    assert len(moves) == 0 and list(moves.columns) == MIGRATION_COLUMNS
    assert [str(t) for t in moves.dtypes] == ["Int32", "string", "Int32", "string", "int64",
                                              "float64"]


def test_moves_are_counted_with_shares_of_the_from_segment_joiners_first_leavers_null():
    previous = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                             "segment_id": [1, 1, 1, 0, 0],
                             "segment_name": ["One", "One", "One", "Zero", "Zero"]})
    current = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "f", "g"],
                            "segment_id": [0, 1, 1, 2, 2, 0],
                            "segment_name": ["Zed", "Uno", "Uno", "Two", "Two", "Zed"]})
    moves = migrations(current, previous, "customer_id")
    assert list(moves.columns) == MIGRATION_COLUMNS
    rows = [tuple(None if pd.isna(v) else v for v in row) for row in moves.itertuples(index=False)]
    assert rows == [(None, None, 0, "Zed", 1, None), (None, None, 2, "Two", 1, None),
                    (0, "Zero", None, None, 1, 0.5), (0, "Zero", 2, "Two", 1, 0.5),
                    (1, "One", 0, "Zed", 1, pytest.approx(1 / 3)),
                    (1, "One", 1, "Uno", 2, pytest.approx(2 / 3))]
    assert [str(t) for t in moves.dtypes] == ["Int32", "string", "Int32", "string", "int64",
                                              "float64"]
    assert moves.index.tolist() == list(range(6))
