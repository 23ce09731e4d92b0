"""Cleaning policies for interval readings (all configurable through ``CleaningPolicy``).

- **Duplicates** (same meter and instant): the reading ingested last wins,
  the later file, then the later row of the file. The others are an *exact
  duplicate* (same kWh) or a *conflicting duplicate (superseded by a later
  reading)*. Within one file they are quarantined with their rows at
  ingestion (``day_vectors.DayBlock``); across files they are counted when
  the files' day vectors are merged (``pipeline.read_shard``). The repeated
  autumn hour is *not* a duplicate: the time-zone rule (``sources``) gives
  its two readings different UTC instants.
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
