"""The heavy per-shard step and the store-wide queries, as plain functions.

``process_shard`` holds one shard's in-window readings in pandas and nothing
more; everything store-wide (span, counts, quarantine) is a DuckDB query over
the Parquet parts, so memory does not grow with the number of readings. The
shard step reads and writes only files, so it can run in any process or on
any worker that sees the data root (a Dask or Ray task runner later).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from segmentation.io import write_json_atomic, write_parquet_atomic
from segmentation.meters.clean import (CleaningPolicy, Window, coarsen, interpolate_short_gaps,
                                       make_window, meter_reason, place_on_grid, resolve_duplicates)
from segmentation.meters.features import calendar, complete_days, meter_features
from segmentation.meters.seasons import resolve_hemisphere
from segmentation.meters.store import ReadingsStore

QUARANTINE_METERS_SCHEMA = pa.schema([
    ("meter_id", pa.string()), ("reason", pa.string()), ("n_readings", pa.int64()),
    ("n_readings_outside_window", pa.int64()), ("complete_days", pa.int64()),
    ("window_days", pa.int64())])
DUPLICATES_SCHEMA = pa.schema([
    ("source_file", pa.string()), ("source_row", pa.int64()), ("meter_id", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")), ("kwh", pa.float64()), ("reason", pa.string())])


def _sql(query: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect() as con:
        con.execute("SET threads TO 2")
        return con.execute(query, params or []).df()


def all_parts(store: ReadingsStore) -> str:
    return str(store.root / "shard=*" / "*.parquet")


def plan_window(store: ReadingsStore, window_days: int, timezone: str,
                hemisphere: str | None = None) -> Window:
    """The run's window from the store's first and last reading and the coarsest resolution.

    ``hemisphere`` (north/south) defaults to the time zone's (``seasons.hemisphere_of``).
    """
    ledger = store.ledger()
    if not ledger or not store.shards():
        from segmentation.errors import InputError
        raise InputError("the readings store is empty: no file has been ingested",
                         file=str(store.root))
    span = _sql(f"SELECT min(timestamp) AS first, max(timestamp) AS last "
                f"FROM read_parquet('{all_parts(store)}')").iloc[0]
    resolution = max(int(e["resolution_min"]) for e in ledger.values())
    first, last = (pd.Timestamp(span[c]) for c in ("first", "last"))
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    side, _ = resolve_hemisphere(timezone, hemisphere)
    return make_window(first, last, window_days, resolution, timezone, side)


@dataclass
class ShardReadings:
    """One shard's in-window readings on the window's grid, duplicates resolved."""

    meters: np.ndarray       # ids of the meters with readings in the window, sorted
    values: np.ndarray       # meters x cells, kWh; NaN where no reading
    n_readings: np.ndarray   # readings kept per meter
    duplicates: pd.DataFrame  # readings dropped by the duplicate policy, with ``reason``
    outside: pd.Series       # meter id -> readings outside the window (every meter of the shard)
    readings_in_window: int


def read_shard(store: ReadingsStore, shard: int, window: Window) -> ShardReadings:
    """Read one shard's readings in the window onto the grid (DuckDB -> numpy, no frame of readings).

    Duplicates are found by counting readings per cell of the finest grid in
    the store; only those cells' readings are fetched again, with their file
    and row, for the duplicate policy.
    """
    parts = store.part_entries()
    fine = min(int(e["resolution_min"]) for e in parts.values())
    src = f"read_parquet('{store.shard_glob(shard)}', filename = true)"
    inside = "timestamp >= $start AND timestamp < $end"
    bounds = {"start": window.start.to_pydatetime(), "end": window.end.to_pydatetime()}
    n_cells = window.n_cells * (window.resolution // fine)
    with duckdb.connect() as con:
        con.execute("SET threads TO 2")
        counts = con.execute(f"SELECT meter_id, count_if({inside}) AS n_in, count_if(NOT ({inside})) "
                             f"AS n_out FROM {src} GROUP BY meter_id ORDER BY meter_id", bounds).df()
        meters = counts.loc[counts["n_in"] > 0, "meter_id"].to_numpy()
        con.register("meter_index", pd.DataFrame({"meter_id": meters, "i": np.arange(len(meters))}))
        cells = con.execute(
            f"SELECT i, (epoch_us(timestamp) - {window.start.value // 1000}) // {fine * 60_000_000} "
            f"AS cell, kwh FROM {src} JOIN meter_index USING (meter_id) WHERE {inside}",
            bounds).fetchnumpy()
        values, per_cell = place_on_grid(cells["i"], cells["cell"], cells["kwh"], len(meters), n_cells)
        duplicates = _resolve_duplicate_cells(con, src, values, per_cell, meters, window, fine, parts)
    n_readings = np.minimum(per_cell, 1).sum(axis=1)
    return ShardReadings(meters=meters.astype(object),
                         values=coarsen(values, window.resolution // fine), n_readings=n_readings,
                         duplicates=duplicates, outside=counts.set_index("meter_id")["n_out"],
                         readings_in_window=int(len(cells["kwh"])))


def _resolve_duplicate_cells(con, src: str, values: np.ndarray, per_cell: np.ndarray,
                             meters: np.ndarray, window: Window, fine: int, parts: dict
                             ) -> pd.DataFrame:
    """Apply the duplicate policy to cells with several readings: write each winner's kWh
    into ``values``; return the losers with their reason and source file."""
    rows, cols = np.nonzero(per_cell > 1)
    if not len(rows):
        return DUPLICATES_SCHEMA.empty_table().to_pandas()
    keys = pd.DataFrame({"meter_id": meters[rows],
                         "timestamp": window.start + pd.to_timedelta(cols * fine, unit="min")})
    con.register("duplicate_keys", keys)
    readings = con.execute(f"SELECT r.meter_id, r.timestamp, r.kwh, r.source_row, r.filename "
                           f"FROM {src} r SEMI JOIN duplicate_keys k "
                           f"ON r.meter_id = k.meter_id AND r.timestamp = k.timestamp").df()
    entry = readings["filename"].map(lambda f: parts.get(Path(f).name.rsplit("_", 1)[0], {}))
    readings = readings.assign(timestamp=readings["timestamp"].astype("datetime64[us, UTC]"),
                               seq=entry.map(lambda e: e.get("seq", 0)),
                               source_file=entry.map(lambda e: e.get("path")).fillna(readings["filename"]))
    kept, losers = resolve_duplicates(readings)
    index = {m: i for i, m in enumerate(meters)}
    k_rows = kept["meter_id"].map(index).to_numpy()
    k_cols = ((kept["timestamp"] - window.start) // pd.Timedelta(minutes=fine)).to_numpy()
    values[k_rows, k_cols] = kept["kwh"].to_numpy()
    return losers[DUPLICATES_SCHEMA.names].reset_index(drop=True)


def clean_and_featurise(shard: ShardReadings, window: Window, policy: CleaningPolicy) -> dict:
    """Gaps, meter quarantine and features for one shard's readings.

    Returns
    -------
    dict
        ``features`` (DataFrame, one row per segmentable meter), ``duplicates``
        (quarantined readings), ``quarantined_meters`` (DataFrame) and ``counts``.
    """
    meters, values, n_readings = shard.meters, shard.values, shard.n_readings
    filled, interpolated, missing = interpolate_short_gaps(
        values, policy.max_gap_minutes // window.resolution)
    cal = calendar(window)
    n_complete = complete_days(filled, cal).sum(axis=1)
    all_zero = np.nansum(np.abs(values), axis=1) == 0
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # meters without readings: NaN
        constant = np.nanmax(values, axis=1) == np.nanmin(values, axis=1)
    outside_by_meter = shard.outside
    reasons = [meter_reason(int(n), bool(z), int(c), cal.n_days, policy.min_coverage, bool(k))
               for n, z, c, k in zip(n_readings, all_zero, n_complete, constant)]
    ok = np.array([r is None for r in reasons], dtype=bool)
    rows = [{"meter_id": m, "reason": r, "n_readings": int(n),
             "n_readings_outside_window": int(outside_by_meter.get(m, 0)),
             "complete_days": int(c), "window_days": cal.n_days}
            for m, r, n, c in zip(meters, reasons, n_readings, n_complete) if r is not None]
    in_window = set(meters)
    for meter, n in outside_by_meter.items():  # meters with no reading in the window at all
        if meter not in in_window:
            rows.append({"meter_id": meter, "reason": "no readings in the window", "n_readings": 0,
                         "n_readings_outside_window": int(n), "complete_days": 0,
                         "window_days": cal.n_days})
    quarantined_meters = pd.DataFrame(rows, columns=QUARANTINE_METERS_SCHEMA.names)
    features = meter_features(meters[ok], filled[ok], window, cal)
    features["n_readings"] = n_readings[ok]
    features["interpolated_intervals"] = interpolated[ok]
    features["missing_intervals"] = missing[ok]
    counts = {
        "readings_in_window": shard.readings_in_window,
        "readings_outside_window": int(outside_by_meter.sum()),
        "duplicates_quarantined": int(len(shard.duplicates)),
        "readings_used": int(n_readings[ok].sum()),
        "readings_of_quarantined_meters": int(n_readings[~ok].sum()),
        "interpolated_intervals": int(interpolated[ok].sum()),
        "missing_intervals": int(missing[ok].sum()),
        "meters_segmentable": int(ok.sum()),
        "meters_quarantined": int(len(quarantined_meters)),
    }
    if counts["readings_in_window"] != (counts["duplicates_quarantined"] + counts["readings_used"]
                                        + counts["readings_of_quarantined_meters"]):
        raise AssertionError(f"shard accounting does not reconcile: {counts}")
    return {"features": features, "duplicates": shard.duplicates,
            "quarantined_meters": quarantined_meters, "counts": counts}


def process_shard(store: ReadingsStore, shard: int, window: Window, policy: CleaningPolicy,
                  out_dir: Path) -> dict:
    """Read one shard, clean it, compute features; write three Parquet files under ``out_dir``.

    Returns paths (``features``, ``duplicates``, ``quarantined_meters``) and ``counts``.
    """
    result = clean_and_featurise(read_shard(store, shard, window), window, policy)
    dups = result["duplicates"]
    out_dir = Path(out_dir)
    paths = {
        "features": write_parquet_atomic(result["features"], out_dir / f"features-{shard:02d}.parquet"),
        "duplicates": write_parquet_atomic(dups[DUPLICATES_SCHEMA.names], out_dir /
                                           f"duplicates-{shard:02d}.parquet", DUPLICATES_SCHEMA),
        "quarantined_meters": write_parquet_atomic(
            result["quarantined_meters"], out_dir / f"quarantined-meters-{shard:02d}.parquet",
            QUARANTINE_METERS_SCHEMA),
    }
    summary = {"shard": shard, **{k: str(v) for k, v in paths.items()}, "counts": result["counts"]}
    write_json_atomic(summary, out_dir / f"shard-{shard:02d}.json")
    return summary


def store_counts(store: ReadingsStore) -> dict:
    """Readings in (ledger), stored, and quarantined at ingestion by reason, over all files."""
    ledger = store.ledger()
    by_reason: dict[str, int] = {}
    for entry in ledger.values():
        for reason, n in entry["quarantined_by_reason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + int(n)
    return {"files": len(ledger), "readings_in": sum(int(e["rows_in"]) for e in ledger.values()),
            "readings_stored": sum(int(e["rows_stored"]) for e in ledger.values()),
            "ingest_quarantined_by_reason": by_reason}


def reading_accounting(store: ReadingsStore, shard_counts: list[dict],
                       quarantined_meters: pd.DataFrame, duplicate_reasons: dict[str, int]) -> dict:
    """Readings in = used + quarantined (by reason) + of quarantined meters + outside the window.

    Raises AssertionError when the numbers do not add up: no reading may go missing.
    """
    totals = store_counts(store)
    summed = {k: sum(c[k] for c in shard_counts) for k in shard_counts[0]} if shard_counts else {}
    by_reason = dict(totals["ingest_quarantined_by_reason"])
    for reason, n in duplicate_reasons.items():
        by_reason[reason] = by_reason.get(reason, 0) + int(n)
    by_meter = (quarantined_meters.groupby(quarantined_meters["reason"].str.split(":").str[0])
                ["n_readings"].sum().to_dict() if len(quarantined_meters) else {})
    counts = {
        "files": totals["files"],
        "readings_in": totals["readings_in"],
        "readings_used": summed.get("readings_used", 0),
        "readings_quarantined": sum(by_reason.values()),
        "readings_quarantined_by_reason": dict(sorted(by_reason.items())),
        "readings_of_quarantined_meters": summed.get("readings_of_quarantined_meters", 0),
        "readings_of_quarantined_meters_by_reason": {str(k): int(v) for k, v in sorted(by_meter.items())},
        "readings_outside_window": summed.get("readings_outside_window", 0),
        "interpolated_intervals": summed.get("interpolated_intervals", 0),
        "missing_intervals_left": summed.get("missing_intervals", 0),
        "meters_segmentable": summed.get("meters_segmentable", 0),
        "meters_quarantined": int(len(quarantined_meters)),
    }
    total = (counts["readings_used"] + counts["readings_quarantined"]
             + counts["readings_of_quarantined_meters"] + counts["readings_outside_window"])
    counts["reconciles"] = total == counts["readings_in"]
    if not counts["reconciles"]:
        raise AssertionError(f"reading accounting does not reconcile: {counts}")
    return counts
