"""The model artifact (segmentation/artifact.py): a run's model saved as plain JSON, loaded
with checks, and placing members exactly where the run put them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmentation.artifact import FORMAT_VERSION, ModelArtifact, ModelMismatch
from segmentation.customers import pipeline
from segmentation.customers.config import CustomerConfig, resolve_config
from tests.conftest import shared_file


def run_table(valid: pd.DataFrame, config: CustomerConfig, **kwargs):
    """clean -> segment -> model, as the customer flow does."""
    frame, _ = pipeline.clean(valid, config)
    segmented = pipeline.segment_customers(frame, config,
                                           cleaned_with=pipeline.cleaning_parameters(valid, config),
                                           **kwargs)
    return segmented, pipeline.model_artifact(segmented, kind="customers", dataset="shop",
                                              run_date="2026-11-30")


def mall_rows() -> tuple[pd.DataFrame, CustomerConfig]:
    rows, _ = pipeline.ingest(shared_file("mall/Mall_Customers.csv"))
    config = resolve_config([c for c in rows.columns if c != "source_row"])
    valid, _, _ = pipeline.validate(rows, config, "Mall_Customers.csv")
    return valid, config


def messy_table(n: int = 240, seed: int = 3) -> pd.DataFrame:
    """Skewed money, missing values, an absurd value and a category: every step has work."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer_id": [str(i) for i in range(n)],
                          "spend": rng.lognormal(6, 1.2, n), "visits": rng.poisson(4, n) * 1.0,
                          "age": rng.integers(18, 80, n) * 1.0,
                          "region": rng.choice(["north", "south", "east"], n)})
    frame.loc[[5, 17, 40], "visits"] = np.nan
    frame.loc[9, "spend"] = 1e9
    return frame


@pytest.fixture(scope="module")
def messy():
    """A run of the messy table (k=3, missing values imputed): its rows, segments and model."""
    valid = messy_table()
    config = CustomerConfig("customer_id", ("spend", "visits", "age"), missing="impute")
    segmented, model = run_table(valid, config, k=3)
    return valid, segmented, model


def test_the_mall_run_s_own_members_are_placed_exactly_where_the_run_put_them(tmp_path):
    valid, config = mall_rows()
    segmented, model = run_table(valid, config)
    loaded = ModelArtifact.load(model.save(tmp_path / "model.json"), kind="customers",
                                features=list(config.features))
    placed = pipeline.assign_rows(valid, loaded)
    published = segmented.segments
    assert placed["segment_id"].tolist() == published["segment_id"].tolist()
    assert placed["segment_name"].tolist() == published["segment_name"].tolist()
    assert np.array_equal(placed["distance_to_centroid"], published["distance_to_centroid"])


@pytest.mark.parametrize("policies", [dict(missing="impute", outliers="winsorize"),
                                      dict(missing="impute", outliers="flag")])
def test_every_cleaning_step_is_replayed_with_the_run_s_parameters(policies, tmp_path):
    valid = messy_table()
    config = CustomerConfig("customer_id", ("spend", "visits", "age"), ("region",),
                            cluster_categorical=True, **policies)
    segmented, model = run_table(valid, config, k=4)
    loaded = ModelArtifact.load(model.save(tmp_path / "model.json"))
    space = loaded.space
    assert space["transforms"]["spend"] == "log1p" and space["impute_medians"]["visits"] > 0
    assert bool(space["winsorize_fences"]) == (policies["outliers"] == "winsorize")
    assert "region_north" in space["columns"]
    placed = pipeline.assign_rows(valid, loaded)
    published = segmented.segments
    assert placed["segment_id"].tolist() == published["segment_id"].tolist()
    assert np.array_equal(placed["distance_to_centroid"], published["distance_to_centroid"])
    if policies["outliers"] == "flag":                 # the absurd spend is clipped, as in the run
        assert placed.loc[9, "is_atypical"] and published.loc[9, "is_atypical"]
        assert "beyond the far-out fence of spend" in placed.loc[9, "atypical_reason"]


def test_new_members_use_the_run_s_parameters_not_their_own(messy, tmp_path):
    valid, _, model = messy
    one = valid.iloc[[0]].copy()
    alone = pipeline.assign_rows(one, model)                 # one member: no spread of its own
    among = pipeline.assign_rows(valid, model).iloc[[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, among, check_exact=False, rtol=1e-12)
    gap = valid.iloc[[5]].copy()                             # missing visits: the run's median
    filled = gap.assign(visits=model.space["impute_medians"]["visits"])
    pd.testing.assert_frame_equal(pipeline.assign_rows(gap, model),
                                  pipeline.assign_rows(filled, model))
    unseen = valid.iloc[[0]].assign(region="west")           # categories are not clustered here
    assert pipeline.assign_rows(unseen, model)["segment_id"].item() == alone["segment_id"].item()


def test_a_member_far_from_every_segment_is_atypical_with_the_reason(messy, tmp_path):
    valid, _, model = messy
    odd = valid.iloc[[0]].assign(age=10_000.0, visits=400.0)
    placed = pipeline.assign_rows(odd, model)
    assert placed["is_atypical"].item()
    assert "far from every segment" in placed["atypical_reason"].item()
    assert "beyond the far-out fence of visits, age" in placed["atypical_reason"].item()
    typical = pipeline.assign_rows(valid, model)
    assert (~typical["is_atypical"]).mean() > 0.9


def test_the_file_is_plain_json_with_a_version_and_no_pickle(messy, tmp_path):
    valid, _, model = messy
    data = json.loads(model.save(tmp_path / "model.json").read_text())
    assert data["format_version"] == FORMAT_VERSION and data["kind"] == "customers"
    assert data["space"]["features"] == ["spend", "visits", "age"]
    assert len(data["centroids"]) == 3 == len(data["segments"]) == data["k"]["chosen"]
    assert [s["segment_id"] for s in data["segments"]] == [0, 1, 2]
    assert all(isinstance(s["segment_name"], str) for s in data["segments"])
    assert data["code_version"]


@pytest.mark.parametrize("change, says", [
    (lambda d: d.update(format_version=99), "has model format version 99; this code reads "
                                             f"version {FORMAT_VERSION}"),
    (lambda d: d.update(kind="meters"), "is a model of meters, not of customers"),
])
def test_another_version_or_kind_is_refused_in_one_sentence(messy, change, says, tmp_path):
    valid, _, model = messy
    path = model.save(tmp_path / "model.json")
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ModelMismatch) as refused:
        ModelArtifact.load(path, kind="customers", features=["spend", "visits", "age"])
    assert says in str(refused.value) and str(path) in str(refused.value)


def test_another_feature_list_is_refused_naming_the_difference(messy, tmp_path):
    valid, _, model = messy
    path = model.save(tmp_path / "model.json")
    with pytest.raises(ModelMismatch) as refused:
        ModelArtifact.load(path, features=["spend", "age", "income"])
    assert str(refused.value) == (
        f"{path} was fitted on features spend, visits, age, and these members have spend, age, "
        "income (visits missing; income not in the model); the same features, in the same "
        "order, are needed to use it")
    with pytest.raises(ModelMismatch, match="the same columns in another order"):
        ModelArtifact.load(path, features=["age", "spend", "visits"])
    ModelArtifact.load(path, features=["spend", "visits", "age"])      # the same: accepted


def test_a_missing_or_broken_file_is_refused_in_words(tmp_path):
    with pytest.raises(ModelMismatch, match="no model at .*run the dataset again"):
        ModelArtifact.load(tmp_path / "model.json")
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelMismatch, match="is not a model file"):
        ModelArtifact.load(tmp_path / "model.json")
