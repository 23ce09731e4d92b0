"""Planted archetypes in generated data are recovered and named."""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segmentation.meters import outputs
from segmentation.meters.sample import ARCHETYPES, planted_archetypes, write_sample_meters
from segmentation.meters.segment import segment_meters
from segmentation.meters.store import ingest_file
from tests.meters.conftest import run_store


def test_generator_is_deterministic(tmp_path):
    a = write_sample_meters(tmp_path / "a", n_meters=8, days=20, seed=7)
    b = write_sample_meters(tmp_path / "b", n_meters=8, days=20, seed=7)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    frame = pd.read_parquet(a[0])
    assert list(frame.columns) == ["meter_id", "timestamp", "kwh"]
    assert frame["meter_id"].nunique() == 8


def test_planted_archetypes_recovered_and_named(tmp_path, store):
    n = 8 * len(ARCHETYPES)
    for path in write_sample_meters(tmp_path / "raw", n_meters=n, days=370, seed=3):
        ingest_file(path, store)
    result = run_store(store)
    features = result["features"]
    assert len(features) == n and result["counts"]["reconciles"]
    seg = segment_meters(features)
    truth = planted_archetypes(n, seed=3).set_index("meter_id").loc[features["meter_id"]]
    assert adjusted_rand_score(truth["group"], seg.labels) >= 0.9
    names = pd.Series([seg.names[int(s)] for s in seg.labels], index=truth.index)
    for expected, members in names.groupby(truth["expected_name"].to_numpy()):
        assert members.mode().iloc[0] == expected
    assert len(set(seg.names.values())) == len(seg.names)
    segments = outputs.segments_table(features, seg)
    profiles = outputs.profiles_table(segments)
    assert profiles["size"].sum() == n and abs(profiles["share"].sum() - 1) < 1e-9
    assert all(abs(sum(p) - 1) < 1e-3 for p in profiles["centroid_profile"])
    seasonal = profiles.set_index("segment_name").loc["Seasonal Users", "seasonal_index"]
    assert seasonal > 3  # planted winter/summer swing of +-75%
