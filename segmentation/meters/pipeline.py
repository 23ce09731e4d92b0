"""The heavy per-shard step and the store-wide counts, as plain functions.

``process_shard`` reads one shard's day vectors in the window (a matrix of
meters x intervals for a sixteenth of the meters) and nothing more; the
window comes from the ledger. Days that several files cover are merged here,
interval by interval: the reading of the file ingested last wins, and the
readings it supersedes are counted by reason (exact or conflicting
duplicate). The shard step reads and writes only files, so it can run in any
process or on any worker that sees the data root (a Dask task runner later).
"""

from __future__ import annotations

from datetime import date

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from segmentation.errors import InputError
from segmentation.io import write_json_atomic, write_parquet_atomic
from segmentation.meters.clean import (CONFLICTING_DUPLICATE, EXACT_DUPLICATE, CleaningPolicy,
                                       Window, coarsen, interpolate_short_gaps, make_window,
                                       meter_reason)
from segmentation.meters.day_vectors import MINUTE_US, DayCalendar, slots_per_day
from segmentation.meters.features import calendar, complete_days, meter_features
from segmentation.meters.seasons import resolve_hemisphere
from segmentation.meters.store import ReadingsStore

QUARANTINE_METERS_SCHEMA = pa.schema([
    ("meter_id", pa.string()), ("reason", pa.string()), ("n_readings", pa.int64()),
    ("n_readings_outside_window", pa.int64()), ("complete_days", pa.int64()),
    ("window_days", pa.int64())])

def plan_window(store: ReadingsStore, window_days: int, timezone: str,
                hemisphere: str | None = None, run_date: date | str | None = None) -> Window:
    """The run's window from the ledger's first and last reading and the coarsest resolution.

    ``hemisphere`` (north/south) defaults to the time zone's (``seasons.hemisphere_of``).
    With ``run_date`` the window ends with that local day at the latest: a run for a past
    date (a backfill, ``segment history``) uses only the readings up to its date, and a
    rerun for a date gives the same result after newer files arrived.
    """
    ledger = store.ledger()
    if not ledger or not store.shards():
        raise InputError("the readings store is empty: no file has been ingested",
                         file=str(store.root))
    store.check_timezone(timezone)
    spans = [e for e in ledger.values() if e.get("first_reading_utc")]
    if not spans:
        raise InputError("every reading of the ingested files was quarantined: nothing to segment "
                         "(see readings_quarantine)", file=str(store.root))
    first = min(pd.Timestamp(e["first_reading_utc"]) for e in spans)
    last = max(pd.Timestamp(e["last_reading_utc"]) for e in spans)
    if run_date is not None:
        day_end = (pd.Timestamp(str(run_date)) + pd.Timedelta(days=1)).tz_localize(timezone)
        if first >= day_end:
            raise InputError(f"no reading on or before the run date {run_date}: the first is "
                             f"{first.tz_convert(timezone):%Y-%m-%d %H:%M} ({timezone})",
                             file=str(store.root))
        last = min(last, day_end.tz_convert("UTC") - pd.Timedelta(microseconds=1))
    resolution = max(int(e["resolution_min"]) for e in ledger.values())
    side, _ = resolve_hemisphere(timezone, hemisphere)
    return make_window(first, last, window_days, resolution, timezone, side)


@dataclass
class ShardReadings:
    """One shard's in-window readings on the window's grid, files merged."""

    meters: np.ndarray       # ids of the meters with readings in the window, sorted
    values: np.ndarray       # meters x cells, kWh; NaN where no reading
    n_readings: np.ndarray   # readings kept per meter
    superseded: dict         # reason -> readings replaced by a later file's
    outside: pd.Series       # meter id -> readings outside the window (every meter of the shard)
    readings_in_window: int


def window_days(window: Window) -> DayCalendar:
    """The window's local days and their midnights in UTC."""
    first = window.start.tz_convert(window.timezone).tz_localize(None)
    last = (window.end - pd.Timedelta(microseconds=1)).tz_convert(window.timezone).tz_localize(None)
    return DayCalendar.spanning(first, last, window.timezone)


def _counts_per_meter(store: ReadingsStore, shard: int, days: DayCalendar) -> pd.DataFrame:
    """Stored readings per meter, inside and outside the window's days (every part)."""
    first, last = days.dates()[0], days.dates()[-1]
    frames = []
    for _, table in store.read_days(shard, columns=["meter_id", "day", "n_readings"]):
        day = table.column("day").to_numpy().astype("datetime64[D]")
        inside = (day >= first) & (day <= last)
        frames.append(pd.DataFrame({"meter_id": table.column("meter_id").to_numpy(zero_copy_only=False),
                                    "n_in": np.where(inside, table.column("n_readings").to_numpy(), 0),
                                    "n_out": np.where(inside, 0, table.column("n_readings").to_numpy())}))
    if not frames:
        return pd.DataFrame({"n_in": [], "n_out": []})
    return pd.concat(frames).groupby("meter_id").sum().sort_index()


def coarsen_days(values: np.ndarray, factor: int) -> np.ndarray:
    """Day vectors at a finer resolution summed to ``factor`` times coarser (NaN where none)."""
    if factor == 1:
        return values
    n, slots = values.shape
    return coarsen(values[:, :slots - slots % factor], factor)


def read_shard(store: ReadingsStore, shard: int, window: Window) -> ShardReadings:
    """One shard's day vectors in the window, merged file by file onto the window's grid.

    Files are applied oldest first; where a later file has a reading for an
    interval that already has one, the later reading wins and the earlier one
    is counted as superseded: an exact duplicate when equal, else conflicting.
    """
    days = window_days(window)
    counts = _counts_per_meter(store, shard, days)
    meters = counts.index[counts["n_in"] > 0].to_numpy()
    res_us = window.resolution * MINUTE_US
    n_cells = window.n_cells
    start_us = window.start.value // 1000
    offset = (days.start_us - start_us) // res_us
    length = days.day_lengths(window.resolution)
    values = np.full(len(meters) * n_cells, np.nan)
    superseded = {EXACT_DUPLICATE: 0, CONFLICTING_DUPLICATE: 0}
    first, last = days.dates()[0], days.dates()[-1]
    for entry, table in store.read_days(shard, ["meter_id", "day", "kwh"], first, last):
        if table.num_rows == 0:
            continue
        part_slots = slots_per_day(int(entry["resolution_min"]))
        kwh = table.column("kwh").combine_chunks().flatten().to_numpy().reshape(-1, part_slots)
        kwh = coarsen_days(kwh, window.resolution // int(entry["resolution_min"]))
        day = (table.column("day").to_numpy().astype("datetime64[D]") - first).astype(np.int64)
        row = np.searchsorted(meters, table.column("meter_id").to_numpy(zero_copy_only=False))
        slot = np.arange(kwh.shape[1])
        present = ~np.isnan(kwh) & (slot[None, :] < length[day][:, None])
        cells = (row * n_cells + offset[day])[:, None] + slot[None, :]
        cells, new = cells[present], kwh[present]
        old = values[cells]
        clash = ~np.isnan(old)
        same = old[clash] == new[clash]
        superseded[EXACT_DUPLICATE] += int(same.sum())
        superseded[CONFLICTING_DUPLICATE] += int((~same).sum())
        values[cells] = new
    values = values.reshape(len(meters), n_cells)
    kept = (~np.isnan(values)).sum(axis=1)
    return ShardReadings(meters=meters.astype(object), values=values, n_readings=kept,
                         superseded={k: v for k, v in superseded.items() if v},
                         outside=counts["n_out"].astype(int),
                         readings_in_window=int(counts["n_in"].sum()))


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
        "readings_superseded": int(sum(shard.superseded.values())),
        "readings_superseded_by_reason": dict(shard.superseded),
        "readings_used": int(n_readings[ok].sum()),
        "readings_of_quarantined_meters": int(n_readings[~ok].sum()),
        "interpolated_intervals": int(interpolated[ok].sum()),
        "missing_intervals": int(missing[ok].sum()),
        "meters_segmentable": int(ok.sum()),
        "meters_quarantined": int(len(quarantined_meters)),
    }
    if counts["readings_in_window"] != (counts["readings_superseded"] + counts["readings_used"]
                                        + counts["readings_of_quarantined_meters"]):
        raise AssertionError(f"shard accounting does not reconcile: {counts}")
    return {"features": features, "quarantined_meters": quarantined_meters, "counts": counts}


def process_shard(store: ReadingsStore, shard: int, window: Window, policy: CleaningPolicy,
                  out_dir: Path) -> dict:
    """Read one shard, clean it, compute features; write two Parquet files under ``out_dir``.

    Returns paths (``features``, ``quarantined_meters``) and ``counts``.
    """
    result = clean_and_featurise(read_shard(store, shard, window), window, policy)
    out_dir = Path(out_dir)
    paths = {
        "features": write_parquet_atomic(result["features"], out_dir / f"features-{shard:02d}.parquet"),
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
                       quarantined_meters: pd.DataFrame) -> dict:
    """Readings in = used + quarantined at ingestion (by reason) + superseded by a later file
    (by reason) + of quarantined meters + outside the window.

    Raises AssertionError when the numbers do not add up: no reading may go missing.
    """
    totals = store_counts(store)
    summed = {k: sum(c[k] for c in shard_counts) for k in shard_counts[0]
              if not isinstance(shard_counts[0][k], dict)} if shard_counts else {}
    superseded: dict[str, int] = {}
    for c in shard_counts:
        for reason, n in c.get("readings_superseded_by_reason", {}).items():
            superseded[reason] = superseded.get(reason, 0) + int(n)
    by_reason = dict(totals["ingest_quarantined_by_reason"])
    by_meter = (quarantined_meters.groupby(quarantined_meters["reason"].str.split(":").str[0])
                ["n_readings"].sum().to_dict() if len(quarantined_meters) else {})
    counts = {
        "files": totals["files"],
        "readings_in": totals["readings_in"],
        "readings_used": summed.get("readings_used", 0),
        "readings_quarantined": sum(by_reason.values()),
        "readings_quarantined_by_reason": dict(sorted(by_reason.items())),
        "readings_superseded": sum(superseded.values()),
        "readings_superseded_by_reason": dict(sorted(superseded.items())),
        "readings_of_quarantined_meters": summed.get("readings_of_quarantined_meters", 0),
        "readings_of_quarantined_meters_by_reason": {str(k): int(v) for k, v in sorted(by_meter.items())},
        "readings_outside_window": summed.get("readings_outside_window", 0),
        "interpolated_intervals": summed.get("interpolated_intervals", 0),
        "missing_intervals_left": summed.get("missing_intervals", 0),
        "meters_segmentable": summed.get("meters_segmentable", 0),
        "meters_quarantined": int(len(quarantined_meters)),
    }
    total = (counts["readings_used"] + counts["readings_quarantined"] + counts["readings_superseded"]
             + counts["readings_of_quarantined_meters"] + counts["readings_outside_window"])
    counts["reconciles"] = total == counts["readings_in"]
    if not counts["reconciles"]:
        raise AssertionError(f"reading accounting does not reconcile: {counts}")
    return counts
