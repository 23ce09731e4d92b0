"""Cleaning policies for interval readings (all configurable through ``CleaningPolicy``).

- **Exact duplicates** (same meter, instant and kWh): one copy is kept, the
  others are quarantined as ``exact duplicate`` and counted.
- **Conflicting duplicates** (same meter and instant, different kWh, e.g. a
  meter that sent two values or a file re-sent with corrections): the reading
  ingested last wins (later file, then later row of the file); the others are
  quarantined as ``conflicting duplicate (superseded by a later reading)``.
  The repeated autumn hour is *not* a duplicate: the time-zone rule (``ingest``)
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
    """The run's window: UTC interval grid ``[start, end)`` at ``resolution`` minutes.

    ``hemisphere`` decides which months are winter and summer (``seasons``).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    resolution: int
    timezone: str
    hemisphere: str = "north"

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
                timezone: str, hemisphere: str = "north") -> Window:
    """The last ``window_days`` local days of data, clipped to the data's first day.

    ``first``/``last`` are the UTC instants of the first and last reading in the store.
    """
    last_day = last.tz_convert(timezone).normalize().tz_localize(None)
    first_day = first.tz_convert(timezone).normalize().tz_localize(None)
    start_day = max(first_day, last_day - pd.Timedelta(days=window_days - 1))
    start = start_day.tz_localize(timezone).tz_convert("UTC")
    end = (last_day + pd.Timedelta(days=1)).tz_localize(timezone).tz_convert("UTC")
    return Window(start=start, end=end, resolution=resolution, timezone=timezone,
                  hemisphere=hemisphere)


def place_on_grid(meter_index: np.ndarray, cell: np.ndarray, kwh: np.ndarray, n_meters: int,
                  n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Readings -> (values, counts), both meters x cells.

    ``values`` holds a reading's kWh, NaN where there is none; where a cell
    has several readings (``counts`` > 1, duplicates) it holds an arbitrary
    one, for the duplicate policy to overwrite. Counting on the grid makes
    the uniqueness check O(readings) instead of a sort or hash of all keys.
    """
    flat = meter_index.astype(np.int64) * n_cells + cell.astype(np.int64)
    counts = np.bincount(flat, minlength=n_meters * n_cells).reshape(n_meters, n_cells)
    values = np.full(n_meters * n_cells, np.nan)
    values[flat] = kwh
    return values.reshape(n_meters, n_cells), counts


def coarsen(values: np.ndarray, factor: int) -> np.ndarray:
    """Sum each run of ``factor`` cells (a store mixing resolutions is read at the coarsest);
    NaN where none of them has a reading."""
    if factor == 1:
        return values
    m, t = values.shape
    blocks = values.reshape(m, t // factor, factor)
    return np.where(np.isnan(blocks).all(axis=2), np.nan, np.nansum(blocks, axis=2))


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
                 min_coverage: float, constant: bool = False) -> str | None:
    """Why a meter cannot be segmented, or None.

    ``constant``: every reading has the same non-zero value, which no household
    draws for days on end: a stuck register, not a flat load.
    """
    if n_readings < 2:
        return f"only {n_readings} reading{'s' if n_readings != 1 else ''} in the window"
    if all_zero:
        return "all readings are zero"
    if constant:
        return "all readings identical (stuck register)"
    coverage = complete_days / window_days
    if coverage < min_coverage:
        return (f"too little data: {complete_days} of {window_days} days complete "
                f"({coverage:.0%} < {min_coverage:.0%})")
    return None
