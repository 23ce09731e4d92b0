"""One output contract for both datasets: the shared columns have the same names and types,
checked on Parquet written by each dataset's own schema and read back by DuckDB."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from segmentation import contract
from segmentation.customers import outputs as customer_outputs
from segmentation.customers import pipeline
from segmentation.customers.config import resolve_config
from segmentation.io import write_parquet_atomic
from segmentation.meters import outputs as meter_outputs
from segmentation.meters.sample import write_sample_meters
from segmentation.meters.segment import segment_meters
from segmentation.meters.ingest import ingest_file
from segmentation.meters.store import ReadingsStore
from tests.meters.conftest import run_store

RUN_DATE = date(2026, 11, 30)
SHARED_SEGMENTS = {"segment_id": "INTEGER", "segment_name": "VARCHAR", "segment_label": "VARCHAR",
                   "is_atypical": "BOOLEAN", "atypical_reason": "VARCHAR",
                   "distance_to_centroid": "DOUBLE", "run_date": "DATE"}
SHARED_PROFILES = {"segment_id": "INTEGER", "segment_name": "VARCHAR", "size": "BIGINT",
                   "share": "DOUBLE", "atypical": "BIGINT", "run_date": "DATE"}


def described(path) -> dict[str, str]:
    """Column -> DuckDB type, in file order."""
    return {row[0]: row[1] for row in duckdb.sql(f"DESCRIBE SELECT * FROM '{path}'").fetchall()}


@pytest.fixture(scope="module")
def customer_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("customers")
    from segmentation.customers.sample import write_sample_customers

    path = write_sample_customers(tmp / "raw", n=200, seed=7)
    rows, _ = pipeline.ingest(path)
    config = resolve_config(list(rows.columns))
    valid, _, _ = pipeline.validate(rows, config, str(path))
    result = pipeline.segment_customers(pipeline.clean(valid, config)[0], config)
    shares = [c for c in result.profiles.columns if c.startswith("share_")]
    return (write_parquet_atomic(result.segments.assign(run_date=RUN_DATE), tmp / "segments.parquet",
                                 customer_outputs.segments_schema(config)),
            write_parquet_atomic(result.profiles.assign(run_date=RUN_DATE), tmp / "profiles.parquet",
                                 customer_outputs.profiles_schema(config, shares)))


@pytest.fixture(scope="module")
def meter_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("meters")
    store = ReadingsStore(tmp / "store", n_shards=2)
    for path in write_sample_meters(tmp / "raw", n_meters=30, days=40, seed=4):
        ingest_file(path, store)
    features = run_store(store, tmp=tmp / "work")["features"]
    segments = meter_outputs.segments_table(features, segment_meters(features, k=3))
    profiles = meter_outputs.profiles_table(segments)
    return (write_parquet_atomic(segments.assign(run_date=RUN_DATE), tmp / "segments.parquet",
                                 meter_outputs.segments_schema()),
            write_parquet_atomic(profiles.assign(run_date=RUN_DATE), tmp / "profiles.parquet",
                                 meter_outputs.profiles_schema()))


def test_segments_share_names_types_and_order(customer_files, meter_files):
    customers, meters = described(customer_files[0]), described(meter_files[0])
    for dataset, columns in (("customers", customers), ("meters", meters)):
        names = list(columns)
        assert names[0] == contract.ID_COLUMNS[dataset] and columns[names[0]] == "VARCHAR"
        assert names[1:1 + len(contract.SEGMENT_COLUMNS)] == [c for c, _ in contract.SEGMENT_COLUMNS]
        assert names[-1] == "run_date"
        assert {c: columns[c] for c in SHARED_SEGMENTS} == SHARED_SEGMENTS


def test_profiles_share_names_types_and_order(customer_files, meter_files):
    for path in (customer_files[1], meter_files[1]):
        columns = described(path)
        assert list(columns)[:len(contract.PROFILE_COLUMNS)] == [c for c, _ in contract.PROFILE_COLUMNS]
        assert {c: columns[c] for c in SHARED_PROFILES} == SHARED_PROFILES
        total = duckdb.sql(f"SELECT sum(share), min(share), max(share) FROM '{path}'").fetchall()[0]
        assert abs(total[0] - 1) < 1e-9 and 0 < total[1] <= total[2] <= 1   # a fraction, not "12%"


def test_atypical_reason_is_null_exactly_when_not_atypical(customer_files, meter_files):
    for path in (customer_files[0], meter_files[0]):
        bad = duckdb.sql(f"SELECT count(*) FROM '{path}' WHERE is_atypical <> "
                         "(atypical_reason IS NOT NULL)").fetchall()[0][0]
        assert bad == 0
