"""Cleaning policies for interval readings (all configurable through ``CleaningPolicy``).

- **Exact duplicates** (same meter, instant and kWh): one copy is kept, the
  others are quarantined as ``exact duplicate`` and counted.
- **Conflicting duplicates** (same meter and instant, different kWh, e.g. a
  meter that sent two values or a file re-sent with corrections): the reading
  ingested last wins (later file, then later row of the file); the others are
  quarantined as ``conflicting duplicate (superseded by a later reading)``.
  The repeated autumn hour is *not* a duplicate: ``ingest.parse_timestamps``
  gives its two readings different UTC instants.
- **Gaps**: readings are placed on the UTC interval grid of the window. A gap
  of at most ``max_gap_minutes`` (default 120) between two readings is filled
  by linear interpolation; longer gaps, and gaps at the start or end of the
  window, stay missing. Both are counted per meter.
- **Meters** are quarantined with a reason when they have fewer than two
  readings in the window, only zero readings, or complete days on fewer than
  ``min_coverage`` (default 60%) of the window's days. The window is the last
  ``window_days`` of data, clipped to the data's own span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EXACT_DUPLICATE = "exact duplicate"
CONFLICTING_DUPLICATE = "conflicting duplicate (superseded by a later reading)"


@dataclass(frozen=True)
class CleaningPolicy:
    max_gap_minutes: int = 120
    min_coverage: float = 0.6


def resolve_duplicates(frame: pd.DataFrame, order: list[str] | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep one reading per (meter_id, timestamp) by the duplicate policy.

    Parameters
    ----------
    frame : DataFrame
        Readings with ``meter_id``, ``timestamp``, ``kwh`` and the ordering columns.
    order : list of str
        Columns giving ingestion order, earliest first (default ``seq, source_row``
        where present).

    Returns
    -------
    kept, quarantined : DataFrame
        ``quarantined`` has the dropped readings with a ``reason``.
    """
    order = order or [c for c in ("seq", "source_row") if c in frame.columns]
    key = ["meter_id", "timestamp"]
    repeated = frame.duplicated(key, keep=False)
    if not repeated.any():
        return frame, frame.iloc[0:0].assign(reason=pd.Series(dtype="string"))
    dups = frame[repeated].sort_values(key + order, kind="stable")
    loser = dups.duplicated(key, keep="last")
    winners = dups[~loser].set_index(key)["kwh"]
    losers = dups[loser]
    winner_kwh = winners.reindex(pd.MultiIndex.from_frame(losers[key])).to_numpy()
    reason = np.where(losers["kwh"].to_numpy() == winner_kwh, EXACT_DUPLICATE, CONFLICTING_DUPLICATE)
    quarantined = losers.assign(reason=pd.Series(reason, index=losers.index, dtype="string"))
    return frame.drop(index=losers.index), quarantined


@dataclass(frozen=True)
class Window:
    """The run's window: UTC interval grid ``[start, end)`` at ``resolution`` minutes."""

    start: pd.Timestamp
    end: pd.Timestamp
    resolution: int
    timezone: str

    @property
    def n_cells(self) -> int:
        return int((self.end - self.start) / pd.Timedelta(minutes=self.resolution))

    def grid(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, self.end, freq=f"{self.resolution}min", inclusive="left")

    @property
    def n_days(self) -> int:
        local = self.grid().tz_convert(self.timezone)
        return int(local.normalize().nunique())


def make_window(first: pd.Timestamp, last: pd.Timestamp, window_days: int, resolution: int,
                timezone: str) -> Window:
    """The last ``window_days`` local days of data, clipped to the data's first day.

    ``first``/``last`` are the UTC instants of the first and last reading in the store.
    """
    last_day = last.tz_convert(timezone).normalize().tz_localize(None)
    first_day = first.tz_convert(timezone).normalize().tz_localize(None)
    start_day = max(first_day, last_day - pd.Timedelta(days=window_days - 1))
    start = start_day.tz_localize(timezone).tz_convert("UTC")
    end = (last_day + pd.Timedelta(days=1)).tz_localize(timezone).tz_convert("UTC")
    return Window(start=start, end=end, resolution=resolution, timezone=timezone)


def to_grid(readings: pd.DataFrame, window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place readings on the window's grid.

    Returns
    -------
    meters : ndarray of str
        Meter ids, sorted; row i of the matrices.
    values : ndarray (meters x cells)
        kWh per interval, NaN where no reading. Finer readings in one cell
        (a store mixing resolutions) are summed.
    n_readings : ndarray of int
        Readings per meter.
    """
    codes, meters = pd.factorize(readings["meter_id"], sort=True)
    step_us = window.resolution * 60 * 1_000_000
    start_us = window.start.value // 1000  # Timestamp.value is in ns
    ts_us = readings["timestamp"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
    cell = (ts_us - start_us) // step_us
    n_cells = window.n_cells
    flat = codes.astype(np.int64) * n_cells + cell
    size = len(meters) * n_cells
    total = np.bincount(flat, weights=readings["kwh"].to_numpy(), minlength=size)
    count = np.bincount(flat, minlength=size)
    values = np.where(count > 0, total, np.nan).reshape(len(meters), n_cells)
    n_readings = np.bincount(codes, minlength=len(meters))
    return np.asarray(meters, dtype=object), values, n_readings


def interpolate_short_gaps(values: np.ndarray, max_gap_cells: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill interior gaps of at most ``max_gap_cells`` cells linearly, row by row.

    Returns the filled matrix, interpolated cells per row and cells left missing per row.
    """
    m, t = values.shape
    valid = ~np.isnan(values)
    idx = np.broadcast_to(np.arange(t), (m, t))
    prev = np.maximum.accumulate(np.where(valid, idx, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(valid, idx, t)[:, ::-1], axis=1)[:, ::-1]
    gap = nxt - prev - 1
    fill = ~valid & (prev >= 0) & (nxt < t) & (gap <= max_gap_cells)
    rows, cols = np.nonzero(fill)
    p, n = prev[rows, cols], nxt[rows, cols]
    out = values.copy()
    out[rows, cols] = values[rows, p] + (values[rows, n] - values[rows, p]) * (cols - p) / (n - p)
    interpolated = fill.sum(axis=1)
    missing = (~valid).sum(axis=1) - interpolated
    return out, interpolated, missing


def meter_reason(n_readings: int, all_zero: bool, complete_days: int, window_days: int,
                 min_coverage: float) -> str | None:
    """Why a meter cannot be segmented, or None."""
    if n_readings < 2:
        return f"only {n_readings} reading{'s' if n_readings != 1 else ''} in the window"
    if all_zero:
        return "all readings are zero"
    coverage = complete_days / window_days
    if coverage < min_coverage:
        return (f"too little data: {complete_days} of {window_days} days complete "
                f"({coverage:.0%} < {min_coverage:.0%})")
    return None
