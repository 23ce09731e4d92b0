"""The real Swiss 15-minute file (../shared/data), read in place."""

from __future__ import annotations

import duckdb
import pandas as pd

from segmentation.meters.segment import segment_meters
from segmentation.meters.store import ingest_file
from tests.conftest import shared_file
from tests.meters.conftest import run_store

ALL_ZERO = {"3487292", "5069667", "5219426", "5781866", "7761776"}


def test_swiss_file_is_labelled_or_quarantined_and_reconciles(store):
    path = shared_file("meters/swiss_15min/elcons_15min_long.csv.gz")
    entry = ingest_file(path, store, timezone="Europe/Zurich")
    assert entry["resolution_min"] == 15 and entry["rows_in"] == 2_526_048
    assert entry["quarantined_by_reason"]["negative reading"] == 15
    assert entry["quarantined_by_reason"][
        "implausible reading (above the maximum per interval)"] == 1484
    negatives = duckdb.sql(f"SELECT DISTINCT meter_id FROM read_parquet('{store.quarantine_dir}/*.parquet') "
                           "WHERE reason = 'negative reading'").fetchall()
    assert negatives == [("9717902",)]
    result = run_store(store, timezone="Europe/Zurich")
    assert result["window"].n_days == 49
    meters = result["quarantined_meters"]
    labelled = set(result["features"]["meter_id"])
    assert len(labelled) + len(meters) == 537 and not labelled & set(meters["meter_id"])
    zero = set(meters.loc[meters["reason"] == "all readings are zero", "meter_id"])
    assert ALL_ZERO <= zero and len(zero) == 6
    counts = result["counts"]
    assert counts["reconciles"] and counts["readings_in"] == 2_526_048
    assert counts["readings_outside_window"] == 0
    seg = segment_meters(result["features"])
    assert 2 <= seg.selection.k <= 10 and len(set(seg.names.values())) == seg.selection.k
    assert result["features"]["seasonal_available"].sum() == 0  # seven weeks: no seasonality
    print("swiss k", seg.selection.k, "silhouette", round(seg.silhouette, 3),
          pd.Series([seg.names[int(s)] for s in seg.labels]).value_counts().to_dict(),
          meters["reason"].value_counts().to_dict())
