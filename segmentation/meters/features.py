"""Per-meter load-profile features from a cleaned interval grid (one shard of meters).

All features use complete local days only (days whose every interval has a
reading after short-gap interpolation); local time is the run's time zone.

- ``profile``: mean daily profile normalised by daily total: share of energy
  per point of the local day, 48 points (30-minute) when the data resolution
  is 15 or 30 minutes, 24 (hourly) at 60 minutes. Sums to 1. Computed as the
  energy per point over complete days divided by their total energy.
- ``profile_weekday`` / ``profile_weekend``: the same over Monday-Friday / weekend days.
- ``peak_hour`` (start hour of the profile's maximum), ``peak_to_mean`` (max / mean of the profile).
- ``load_factor``: mean interval kWh / maximum interval kWh.
- ``base_load_kw``: 10th percentile of interval kWh as average kW;
  ``base_load_share``: that level held all day, as a share of mean daily kWh.
- ``mean_daily_kwh``, ``cv_daily`` (std / mean of daily totals),
  ``weekday_weekend_ratio`` (mean weekday / mean weekend daily kWh).
- ``monthly_index``: per calendar month (1..12) the month's mean daily kWh
  divided by the mean over covered months (>= 7 complete days); NaN when not covered.
- ``winter_summer_ratio``: mean daily kWh in winter / in summer, when each has
  >= 14 complete days (``seasonal_available``); NaN otherwise. Winter is
  Dec-Feb and summer Jun-Aug in the northern hemisphere, the reverse in the
  southern (``window.hemisphere``, see ``seasons``).
- ``night_share`` (22-06 h), ``morning_share`` (06-10 h), ``daytime_share``
  (10-16 h), ``evening_share`` (16-22 h): shares of the profile; the four
  dayparts cover the whole day, so the shares sum to 1.
- ``coverage``: complete days / days in the window; ``complete_days``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from segmentation.meters.clean import Window
from segmentation.meters.seasons import summer_months, winter_months

# Local hours [from, to) of each daypart; night wraps midnight.
DAYPARTS = {"night_share": ((22, 24), (0, 6)), "morning_share": ((6, 10),),
            "daytime_share": ((10, 16),), "evening_share": ((16, 22),)}
MIN_MONTH_DAYS, MIN_SEASON_DAYS = 7, 14
SCALAR_FEATURES = ["mean_daily_kwh", "peak_hour", "peak_to_mean", "load_factor", "base_load_kw",
                   "base_load_share", "cv_daily", "weekday_weekend_ratio", "winter_summer_ratio",
                   "seasonal_available", "night_share", "morning_share", "daytime_share",
                   "evening_share", "coverage", "complete_days"]
LIST_FEATURES = ["profile", "profile_weekday", "profile_weekend", "monthly_index"]


def profile_points(resolution: int) -> int:
    return 48 if resolution <= 30 else 24


@dataclass(frozen=True)
class Calendar:
    """Local-time position of every grid cell of a window."""

    day: np.ndarray          # cell -> local day index
    point: np.ndarray        # cell -> profile point
    weekend_day: np.ndarray  # day -> Saturday/Sunday
    month_day: np.ndarray    # day -> month 1..12
    points: int

    @property
    def n_days(self) -> int:
        return len(self.weekend_day)


def calendar(window: Window) -> Calendar:
    """Local day, profile point, weekend and month of the window's cells."""
    local = window.grid().tz_convert(window.timezone)
    points = profile_points(window.resolution)
    days, day = np.unique(np.asarray(local.normalize().tz_localize(None)), return_inverse=True)
    days = pd.DatetimeIndex(days)
    minute = np.asarray(local.hour * 60 + local.minute)
    return Calendar(day=day, point=minute // (1440 // points),
                    weekend_day=np.asarray(days.dayofweek >= 5), month_day=np.asarray(days.month),
                    points=points)


def _indicator(index: np.ndarray, n: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(len(index)), (np.arange(len(index)), index)),
                             shape=(len(index), n))


def _times(dense: np.ndarray, indicator: sparse.csr_matrix) -> np.ndarray:
    """dense (m x cells) @ indicator (cells x n), keeping the sparse matrix on the left."""
    return np.asarray((indicator.T @ dense.T).T)


def _shares(sums: np.ndarray) -> np.ndarray:
    total = sums.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, sums / total, np.nan)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / b, np.nan)


def complete_days(values: np.ndarray, cal: Calendar) -> np.ndarray:
    """meters x days: True where every interval of the local day has a value."""
    missing = _times(np.isnan(values).astype(float), _indicator(cal.day, cal.n_days))
    return missing == 0


def meter_features(meters: np.ndarray, values: np.ndarray, window: Window,
                   cal: Calendar | None = None) -> pd.DataFrame:
    """One row per meter (``meter_id`` + ``SCALAR_FEATURES`` + ``LIST_FEATURES``).

    Parameters
    ----------
    meters : ndarray
        Meter ids, row order of ``values``.
    values : ndarray (meters x cells)
        kWh per interval on the window's grid after interpolation; NaN = missing.
    window : Window
        The grid's window (time zone, resolution).
    """
    cal = cal or calendar(window)
    complete = complete_days(values, cal)
    n_complete = complete.sum(axis=1)
    by_day = _indicator(cal.day, cal.n_days)
    filled = np.nan_to_num(values)
    daily = np.where(complete, _times(filled, by_day), np.nan)
    used = np.where(complete[:, cal.day], filled, 0.0)
    used_nan = np.where(complete[:, cal.day], values, np.nan)
    weekend_cell = cal.weekend_day[cal.day]
    by_point = _indicator(cal.point, cal.points)
    profile = _shares(_times(used, by_point))
    weekday_profile = _shares(_times(used * ~weekend_cell, by_point))
    weekend_profile = _shares(_times(used * weekend_cell, by_point))

    with np.errstate(invalid="ignore", divide="ignore"), _quiet():
        mean_daily = np.nanmean(daily, axis=1)
        cv_daily = np.nanstd(daily, axis=1) / mean_daily
        weekday_mean = np.nanmean(np.where(~cal.weekend_day, daily, np.nan), axis=1)
        weekend_mean = np.nanmean(np.where(cal.weekend_day, daily, np.nan), axis=1)
        interval_max = np.nanmax(used_nan, axis=1)
        load_factor = np.nanmean(used_nan, axis=1) / interval_max
        p10 = np.nanpercentile(used_nan, 10, axis=1)
        monthly, month_days = _monthly(daily, complete, cal)
        month_index = monthly / np.nanmean(np.where(month_days >= MIN_MONTH_DAYS, monthly, np.nan),
                                           axis=1, keepdims=True)
        month_index = np.where(month_days >= MIN_MONTH_DAYS, month_index, np.nan)
        winter, winter_days = _season(daily, complete, cal, winter_months(window.hemisphere))
        summer, summer_days = _season(daily, complete, cal, summer_months(window.hemisphere))
    seasonal = (winter_days >= MIN_SEASON_DAYS) & (summer_days >= MIN_SEASON_DAYS)
    cells_per_day = 1440 // window.resolution
    hours = np.arange(cal.points) * 24 / cal.points
    frame = pd.DataFrame({
        "meter_id": meters,
        "mean_daily_kwh": mean_daily,
        "peak_hour": np.where(n_complete > 0, np.nanargmax(np.nan_to_num(profile, nan=-1), axis=1)
                              * 24 / cal.points, np.nan),
        "peak_to_mean": np.nanmax(np.nan_to_num(profile, nan=0), axis=1) * cal.points,
        "load_factor": load_factor,
        "base_load_kw": p10 * 60 / window.resolution,
        "base_load_share": _ratio(p10 * cells_per_day, mean_daily),
        "cv_daily": cv_daily,
        "weekday_weekend_ratio": _ratio(weekday_mean, weekend_mean),
        "winter_summer_ratio": np.where(seasonal, _ratio(winter, summer), np.nan),
        "seasonal_available": seasonal,
        **{name: np.nansum(np.where(in_daypart(hours, spans), profile, 0), axis=1)
           for name, spans in DAYPARTS.items()},
        "coverage": n_complete / cal.n_days,
        "complete_days": n_complete,
    })
    for name, matrix in (("profile", profile), ("profile_weekday", weekday_profile),
                         ("profile_weekend", weekend_profile), ("monthly_index", month_index)):
        frame[name] = list(np.round(matrix, 6))
    return frame


def in_daypart(hours: np.ndarray, spans: tuple[tuple[int, int], ...]) -> np.ndarray:
    """True for the profile points (start hours) inside any of the daypart's spans."""
    return np.logical_or.reduce([(hours >= lo) & (hours < hi) for lo, hi in spans])


def _monthly(daily: np.ndarray, complete: np.ndarray, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    months = np.arange(1, 13)
    in_month = cal.month_day[None, :] == months[:, None]            # 12 x days
    sums = np.nan_to_num(daily) @ in_month.T
    days = complete.astype(float) @ in_month.T
    return _ratio(sums, days), days


def _season(daily, complete, cal, months) -> tuple[np.ndarray, np.ndarray]:
    mask = np.isin(cal.month_day, months)
    days = (complete & mask).sum(axis=1)
    return _ratio(np.nansum(np.where(mask, daily, np.nan), axis=1), days), days


class _quiet:
    """Silence numpy's all-NaN slice warnings (meters without complete days give NaN)."""

    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
