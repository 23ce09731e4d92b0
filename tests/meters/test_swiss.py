"""The real Swiss 15-minute file (../shared/data), read in place."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.meters.segment import BANDS, segment_meters
from segmentation.meters.ingest import ingest_file
from segmentation.model import min_segment_size
from segmentation.quality import quality
from tests.conftest import shared_file
from tests.meters.conftest import duck, run_store
from tests.meters.naming_checks import assert_meter_names_true

ALL_ZERO = {"3487292", "5069667", "5219426", "5781866", "7761776"}


@pytest.fixture(scope="module")
def swiss(tmp_path_factory):
    from segmentation.meters.store import ReadingsStore

    path = shared_file("meters/swiss_15min/elcons_15min_long.csv.gz")
    store = ReadingsStore(tmp_path_factory.mktemp("swiss") / "processed" / "meters", n_shards=4)
    entry = ingest_file(path, store, timezone="Europe/Zurich")
    return store, entry, run_store(store, timezone="Europe/Zurich")


def test_swiss_file_is_labelled_or_quarantined_and_reconciles(swiss):
    store, entry, result = swiss
    assert entry["resolution_min"] == 15 and entry["rows_in"] == 2_526_048
    assert entry["quarantined_by_reason"]["negative reading"] == 15
    assert entry["quarantined_by_reason"][
        "implausible reading (above the maximum per interval)"] == 1484
    negatives = duck(f"SELECT DISTINCT meter_id FROM read_parquet('{store.quarantine_dir}/*.parquet') "
                     "WHERE reason = 'negative reading'")
    assert negatives == [("9717902",)]
    assert result["window"].n_days == 49
    meters = result["quarantined_meters"]
    labelled = set(result["features"]["meter_id"])
    assert len(labelled) + len(meters) == 537 and not labelled & set(meters["meter_id"])
    zero = set(meters.loc[meters["reason"] == "all readings are zero", "meter_id"])
    assert ALL_ZERO <= zero and len(zero) == 6
    counts = result["counts"]
    assert counts["reconciles"] and counts["readings_in"] == 2_526_048
    assert counts["readings_outside_window"] == 0
    assert result["features"]["seasonal_available"].sum() == 0  # seven weeks: no seasonality


def test_swiss_archetypes_are_stable_true_and_separate_storage_heating(swiss):
    features = swiss[2]["features"]
    seg = segment_meters(features)
    figures = quality(seg.selection, seg.silhouette, seg.labels, seg.atypical, seg.fallback_segments)
    sizes = np.bincount(seg.labels)
    # Golden values measured on the shared set (README of ../shared/data), seed 42:
    # k=3, stability 0.85, silhouette 0.150.
    assert seg.selection.k == 3 and not seg.selection.weak_structure
    assert {seg.names[s]: int(n) for s, n in enumerate(sizes)} == {
        "Night Users (moderate)": 277, "Morning & Evening Peakers": 197, "Night Users (strong)": 56}
    assert sizes.min() >= min_segment_size(len(features))      # no segment below the floor
    assert figures["fallback_named_share"] <= 0.15
    assert figures["stability"] == round(seg.selection.stability, 4) and figures["stability"] >= 0.75
    assert sizes.max() / len(features) < 0.6                    # not one catch-all segment
    assert_meter_names_true(features, seg.labels, seg.names)
    # Night-tariff storage heaters: a Night Users segment using most of its energy at night.
    night = features["night_share"].to_numpy()
    storage = [s for s, n in seg.names.items() if n.startswith("Night Users")
               and np.median(night[seg.labels == s]) > 0.7]
    assert storage
    # Bands are tertiles of the run's meters; seasonality cannot be judged from 7 weeks.
    assert set(seg.bands.value_counts()) <= {176, 177} and set(seg.bands) == set(BANDS)
    assert not seg.seasonal.any()
