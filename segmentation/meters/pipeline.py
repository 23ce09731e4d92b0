"""The heavy per-shard step and the store-wide counts, as plain functions.

``process_shard`` sums one shard's window month by month (``months``): the
months whose files changed are read (a matrix of meters x intervals for a
sixteenth of the meters, one run of consecutive months at a time), the
others come from the store's monthly sums; the window comes from the ledger.
Days that several files cover are merged when read, interval by interval:
the reading of the file ingested last wins, and the readings it supersedes
are counted by reason (exact or conflicting duplicate). The shard step reads
and writes only files, so it can run in any process or on any worker that
sees the data root (a Dask task runner later).
"""

from __future__ import annotations

from datetime import date

from dataclasses import dataclass, replace
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
from segmentation.meters import months, sums
from segmentation.meters.features import calendar, features_from_sums, profile_points
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
class RangeReadings:
    """One shard's readings in a span of whole local days, files merged, on its UTC grid."""

    meters: np.ndarray       # ids of the meters with readings in the span, sorted
    values: np.ndarray       # meters x cells, kWh; NaN where no reading
    days: DayCalendar        # the span's days
    offset: np.ndarray       # day -> its first cell
    exact: np.ndarray        # meters x days: readings superseded by an equal later one
    conflicting: np.ndarray  # ... by a different later one


def window_days(window: Window) -> DayCalendar:
    """The window's local days and their midnights in UTC."""
    first = window.start.tz_convert(window.timezone).tz_localize(None)
    last = (window.end - pd.Timedelta(microseconds=1)).tz_convert(window.timezone).tz_localize(None)
    return DayCalendar.spanning(first, last, window.timezone)


def days_window(window: Window, first_day, last_day) -> Window:
    """The window's grid restricted to the local days [first_day, last_day]."""
    days = DayCalendar.spanning(first_day, last_day, window.timezone)
    return replace(window, start=pd.Timestamp(int(days.start_us[0]), unit="us", tz="UTC"),
                   end=pd.Timestamp(int(days.next_us[-1]), unit="us", tz="UTC"))


def coarsen_days(values: np.ndarray, factor: int) -> np.ndarray:
    """Day vectors at a finer resolution summed to ``factor`` times coarser (NaN where none)."""
    if factor == 1:
        return values
    n, slots = values.shape
    return coarsen(values[:, :slots - slots % factor], factor)


def read_range(store: ReadingsStore, shard: int, window: Window) -> RangeReadings:
    """One shard's day vectors in ``window`` (whole local days), merged file by file.

    Files are applied oldest first; where a later file has a reading for an
    interval that already has one, the later reading wins and the earlier one
    is counted as superseded: an exact duplicate when equal, else conflicting.
    """
    days = window_days(window)
    first, last = days.dates()[0], days.dates()[-1]
    ids = [t.column("meter_id").to_numpy(zero_copy_only=False)
           for _, t in store.read_days(shard, ["meter_id", "day"], first, last)]
    meters = np.unique(np.concatenate(ids)) if ids else np.empty(0, object)
    res_us = window.resolution * MINUTE_US
    n_cells = window.n_cells
    offset = (days.start_us - days.start_us[0]) // res_us
    length = days.day_lengths(window.resolution)
    values = np.full(len(meters) * n_cells, np.nan)
    exact = np.zeros((len(meters), days.n_days), np.int64)
    conflicting = np.zeros_like(exact)
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
        where_row, _ = np.nonzero(present)
        cells, new = cells[present], kwh[present]
        old = values[cells]
        clash = ~np.isnan(old)
        same = old[clash] == new[clash]
        clash_row, clash_day = row[where_row[clash]], day[where_row[clash]]
        np.add.at(exact, (clash_row[same], clash_day[same]), 1)
        np.add.at(conflicting, (clash_row[~same], clash_day[~same]), 1)
        values[cells] = new
    return RangeReadings(meters=meters.astype(object), values=values.reshape(len(meters), n_cells),
                         days=days, offset=offset, exact=exact, conflicting=conflicting)


def fill_gaps(readings: RangeReadings, window: Window, policy: CleaningPolicy) -> np.ndarray:
    """The range's matrix with its short gaps interpolated (``clean``)."""
    return interpolate_short_gaps(readings.values, policy.max_gap_minutes // window.resolution)[0]


def range_sums(readings: RangeReadings, filled: np.ndarray, window: Window,
               spans: list[months.MonthSpan], keep_all: np.ndarray | None = None
               ) -> dict[str, sums.MeterSums]:
    """The sums of each month span inside a range read (``filled``: its gaps interpolated;
    ``keep_all``: ids of meters whose every interval value is kept for the base load)."""
    dates = readings.days.dates()
    out = {}
    for span in spans:
        d0, d1 = int(np.searchsorted(dates, span.first)), int(np.searchsorted(dates, span.last))
        c0 = readings.offset[d0]
        c1 = readings.offset[d1] + readings.days.day_lengths(window.resolution)[d1]
        cal = calendar(days_window(window, span.first, span.last))
        # A month at the window's edge is summed anew every run and never kept: it keeps
        # every value, so it never needs reading again for a base load.
        out[span.label] = sums.span_sums(
            readings.meters, readings.values[:, c0:c1], filled[:, c0:c1], cal,
            tail_share=sums.TAIL_SHARE if span.interior else None,
            superseded=(readings.exact[:, d0:d1 + 1].sum(axis=1),
                        readings.conflicting[:, d0:d1 + 1].sum(axis=1)),
            keep_all=None if keep_all is None else np.isin(readings.meters, keep_all))
    return out


def _runs(spans: list[months.MonthSpan]) -> list[list[months.MonthSpan]]:
    """Consecutive months grouped, so each group is read in one pass."""
    runs: list[list] = []
    for span in spans:
        if runs and runs[-1][-1].last + np.timedelta64(1, "D") == span.first:
            runs[-1].append(span)
        else:
            runs.append([span])
    return runs


def shard_sums(store: ReadingsStore, shard: int, window: Window, policy: CleaningPolicy,
               meters: np.ndarray, use_cache: bool = True) -> tuple[sums.MeterSums, dict]:
    """The window's sums for ``meters`` (sorted ids), month by month: interior months from
    the store's monthly sums while their files are unchanged, the others read and kept.

    Returns the sums and ``{"months_read", "months_reused", "months_reread_for_base_load",
    "base_load"}``.
    """
    points = profile_points(window.resolution)
    spans = months.month_spans(window_days(window), policy.max_gap_minutes)
    cache = months.MonthCache(store, shard, months.cache_key(window.resolution, window.timezone,
                                                                policy.max_gap_minutes))
    found, files = {}, {}
    ingested = months.file_spans(store)
    for span in spans:
        if span.interior:
            files[span.label] = months.identity(ingested, span, window.timezone)
            if use_cache and (hit := cache.load(span, files[span.label])) is not None:
                found[span.label] = hit

    held: list = []     # a range read whole (a first run): kept for a base-load re-read

    def read(todo: list[months.MonthSpan], keep_all: np.ndarray | None = None) -> None:
        runs = _runs(todo)
        for run in runs:
            if held and held[0].days.dates()[0] <= run[0].read_first \
                    and run[-1].read_last <= held[0].days.dates()[-1]:
                readings, filled = held
            else:
                readings = read_range(store, shard, days_window(window, run[0].read_first,
                                                                 run[-1].read_last))
                filled = fill_gaps(readings, window, policy)
                if len(runs) == 1 and not held:
                    held.extend([readings, filled])
            computed = range_sums(readings, filled, window, run, keep_all)
            for span in run:
                if span.interior and use_cache:
                    cache.save(span, files[span.label], computed[span.label])
            found.update(computed)

    todo = [span for span in spans if span.label not in found]
    read(todo)
    total = sums.combine([found[span.label] for span in spans], meters, points)
    base_load, exact, needed = sums.low_percentile(total)
    short = []
    if not exact.all():
        # A meter's lowest tenth lies mostly in a few months (a home empty for a month):
        # those months are read again keeping every value of that meter, and kept so.
        low_meters = meters[~exact]
        short = [span for span in spans if (sums.reindex(found[span.label], meters, points)
                                            .low_cut[~exact] < needed[~exact]).any()]
        read(short, keep_all=low_meters)
        total = sums.combine([found[span.label] for span in spans], meters, points)
        base_load, exact, _ = sums.low_percentile(total)
        if not exact.all():
            raise AssertionError(f"shard {shard}: base load not exact for {meters[~exact][:5]}")
    total.low = np.empty(len(total), object)   # spent: the percentile is known
    return total, {"months_read": len(todo), "months_reused": len(spans) - len(todo),
                   "months_reread_for_base_load": len(short), "base_load": base_load}


def clean_and_featurise(total: sums.MeterSums, base_load: np.ndarray, counts: pd.DataFrame,
                        window: Window, policy: CleaningPolicy) -> dict:
    """Meter quarantine and features for one shard's window sums.

    Returns
    -------
    dict
        ``features`` (DataFrame, one row per segmentable meter), ``quarantined_meters``
        (DataFrame) and ``counts``.
    """
    meters, n_readings = total.meter_id, total.n_readings
    n_days = window_days(window).n_days
    n_complete = total.complete_days
    all_zero = (np.nan_to_num(total.raw_max) == 0) & (np.nan_to_num(total.raw_min) == 0)
    constant = total.raw_max == total.raw_min
    outside_by_meter = counts["n_out"].astype(int)
    reasons = [meter_reason(int(n), bool(z), int(c), n_days, policy.min_coverage, bool(k))
               for n, z, c, k in zip(n_readings, all_zero, n_complete, constant)]
    ok = np.array([r is None for r in reasons], dtype=bool)
    rows = [{"meter_id": m, "reason": r, "n_readings": int(n),
             "n_readings_outside_window": int(outside_by_meter.get(m, 0)),
             "complete_days": int(c), "window_days": n_days}
            for m, r, n, c in zip(meters, reasons, n_readings, n_complete) if r is not None]
    in_window = set(meters)
    for meter, n in outside_by_meter.items():  # meters with no reading in the window at all
        if meter not in in_window:
            rows.append({"meter_id": meter, "reason": "no readings in the window", "n_readings": 0,
                         "n_readings_outside_window": int(n), "complete_days": 0,
                         "window_days": n_days})
    quarantined_meters = pd.DataFrame(rows, columns=QUARANTINE_METERS_SCHEMA.names)
    interpolated = total.interpolated
    missing = window.n_cells - n_readings - interpolated
    features = features_from_sums(total.take(ok), window, n_days, base_load[ok])
    features["n_readings"] = n_readings[ok]
    features["interpolated_intervals"] = interpolated[ok]
    features["missing_intervals"] = missing[ok]
    superseded = {EXACT_DUPLICATE: int(total.superseded_exact.sum()),
                  CONFLICTING_DUPLICATE: int(total.superseded_conflicting.sum())}
    counts = {
        "readings_in_window": int(counts["n_in"].sum()),
        "readings_outside_window": int(outside_by_meter.sum()),
        "readings_superseded": int(sum(superseded.values())),
        "readings_superseded_by_reason": {k: v for k, v in superseded.items() if v},
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
                  out_dir: Path, use_cache: bool = True) -> dict:
    """Sum one shard's window month by month, clean it, compute features; write two Parquet
    files under ``out_dir``.

    Returns paths (``features``, ``quarantined_meters``), ``counts`` and ``months``
    (months read, reused from the store, read again for the base load).
    """
    days = window_days(window)
    counts = months.stored_counts(store, shard, days.dates()[0], days.dates()[-1])
    meters = counts.index[counts["n_in"] > 0].to_numpy(object)
    total, done = shard_sums(store, shard, window, policy, meters, use_cache)
    result = clean_and_featurise(total, done.pop("base_load"), counts, window, policy)
    out_dir = Path(out_dir)
    paths = {
        "features": write_parquet_atomic(result["features"], out_dir / f"features-{shard:02d}.parquet"),
        "quarantined_meters": write_parquet_atomic(
            result["quarantined_meters"], out_dir / f"quarantined-meters-{shard:02d}.parquet",
            QUARANTINE_METERS_SCHEMA),
    }
    summary = {"shard": shard, **{k: str(v) for k, v in paths.items()}, "counts": result["counts"],
               "months": done}
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
