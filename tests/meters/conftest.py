"""Helpers for the meter tests: a store in tmp_path, and the pure pipeline without Prefect."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from segmentation.meters.clean import CleaningPolicy
from segmentation.meters.ingest import ingest_file
from segmentation.meters.pipeline import plan_window, process_shard, reading_accounting
from segmentation.meters.store import ReadingsStore


@pytest.fixture
def store(tmp_path) -> ReadingsStore:
    return ReadingsStore(tmp_path / "processed" / "meters", n_shards=4)


def write_text(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def day_rows(meter: str, day, kwh: float = 0.5, freq: str = "30min",
             n: int | None = None) -> list[tuple]:
    """Readings ``(meter, timestamp text, kwh)`` from local midnight of ``day`` every ``freq``:
    a whole day, or the first ``n``."""
    start = pd.Timestamp(day)
    times = (pd.date_range(start, start + pd.Timedelta(days=1), freq=freq, inclusive="left")
             if n is None else pd.date_range(start, periods=n, freq=freq))
    return [(meter, t.strftime("%Y-%m-%d %H:%M:%S"), kwh) for t in times]


def long_csv(rows: list[tuple], header: str = "meter_id,timestamp,kwh") -> str:
    """A long CSV file's text: the header, then one line per row."""
    return "\n".join([header] + [",".join(map(str, r)) for r in rows]) + "\n"


def stored_days(store: ReadingsStore) -> pd.DataFrame:
    """Every stored day vector (``meter_id, day, n_readings, n_quarantined, kwh``), part by part."""
    return pd.concat([table.to_pandas() for shard in store.shards()
                      for _, table in store.read_days(shard)], ignore_index=True)


def stored(store: ReadingsStore) -> pd.DataFrame:
    """Every reading in the store (day vectors expanded), ordered by meter and time."""
    return store.readings()[["meter_id", "timestamp", "kwh"]].reset_index(drop=True)


def duck(query: str, *, frame: bool = False):
    """The rows (or the frame) of one query, on a connection of its own.

    Not DuckDB's default connection (``duckdb.sql``): it is made once per process, and a
    process forked after it was made (mutmut runs each mutant in one) hangs on its first use.
    """
    with duckdb.connect() as con:
        result = con.sql(query)
        return result.df() if frame else result.fetchall()


def quarantined(store: ReadingsStore) -> pd.DataFrame:
    return duck(f"SELECT * FROM read_parquet('{store.quarantine_dir}/*.parquet') "
                "ORDER BY source_row", frame=True)


def run_store(store: ReadingsStore, window_days: int = 365, timezone: str = "Europe/London",
              tmp: Path | None = None) -> dict:
    """Shard step over every shard, then the accounting: what the flow does, without Prefect."""
    window = plan_window(store, window_days, timezone)
    out = tmp or store.dataset_dir / "work"
    shards = [process_shard(store, s, window, CleaningPolicy(), out) for s in store.shards()]
    features = pd.concat([pd.read_parquet(s["features"]) for s in shards], ignore_index=True)
    meters = pd.concat([pd.read_parquet(s["quarantined_meters"]) for s in shards], ignore_index=True)
    counts = reading_accounting(store, [s["counts"] for s in shards], meters)
    return {"window": window, "features": features.sort_values("meter_id").reset_index(drop=True),
            "quarantined_meters": meters, "counts": counts}


__all__ = ["ingest_file", "write_text", "stored", "quarantined", "run_store", "duck"]
