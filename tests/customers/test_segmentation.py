"""Acceptance on real and planted data, without Prefect."""

import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segmentation.customers import pipeline
from segmentation.customers.config import resolve_config
from segmentation.customers.sample import make_customers


def run_pure(path):
    rows, _ = pipeline.ingest(path)
    config = resolve_config(list(rows.columns))
    valid, quarantine, _ = pipeline.validate(rows, config, str(path))
    clean, _ = pipeline.clean(valid, config)
    return pipeline.segment_customers(clean, config), quarantine


def test_mall_table_gives_five_segments_with_high_spenders(mall_csv):
    result, quarantine = run_pure(mall_csv)
    assert quarantine.empty
    assert result.result.selection.k == 5
    assert result.result.silhouette >= 0.55
    profiles = result.profiles.set_index("segment_name")
    top = profiles.loc["High Spenders"]
    assert top["annual_income_k"] > 75 and top["spending_score"] > 75
    assert profiles["size"].sum() == 200
    assert profiles.index.is_unique


def test_planted_groups_are_recovered(tmp_path):
    table = make_customers(n=400, seed=11)
    path = tmp_path / "planted.csv"
    table.drop(columns="planted_group").to_csv(path, index=False)
    result, _ = run_pure(path)
    ari = adjusted_rand_score(table["planted_group"], result.segments["segment_id"])
    assert ari >= 0.95
    # Each planted group is named after what it was planted as.
    named = pd.crosstab(table["planted_group"], result.segments["segment_name"])
    for planted in named.index:
        assert named.loc[planted].idxmax() == planted
