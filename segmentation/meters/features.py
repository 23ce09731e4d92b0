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

Every feature is computed from ``sums.MeterSums`` (sums, counts and extremes
that add up over spans of days), so the features of a window are the same
whether its matrix is summed at once (``meter_features``) or its months are
summed one by one and combined (``pipeline``, ``months``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.meters.clean import Window
from segmentation.meters.seasons import summer_months, winter_months
from segmentation.meters.sums import Calendar, MeterSums, complete_days, low_percentile, span_sums

__all__ = ["Calendar", "calendar", "complete_days", "features_from_sums", "meter_features"]

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


def _shares(sums: np.ndarray) -> np.ndarray:
    total = sums.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, sums / total, np.nan)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / b, np.nan)


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
    sums = span_sums(np.asarray(meters, object), values, values, cal, tail_share=None)
    return features_from_sums(sums, window, cal.n_days)


def features_from_sums(sums: MeterSums, window: Window, n_days: int,
                       base_load: np.ndarray | None = None) -> pd.DataFrame:
    """The features of ``sums`` over a window of ``n_days`` local days (see the module
    docstring); ``base_load``: the 10th percentile of interval kWh when already known."""
    points = sums.points.shape[1]
    n_complete = sums.complete_days
    p10 = low_percentile(sums)[0] if base_load is None else base_load
    profile, weekday_profile, weekend_profile = (
        _shares(sums.points), _shares(sums.points_weekday), _shares(sums.points_weekend))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_daily = _ratio(sums.daily_sum, n_complete)
        cv_daily = np.sqrt(_ratio(sums.daily_m2, n_complete)) / mean_daily
        weekday_mean = _ratio(sums.weekday_daily_sum, n_complete - sums.weekend_days)
        weekend_mean = _ratio(sums.weekend_daily_sum, sums.weekend_days)
        load_factor = _ratio(sums.cell_sum, sums.cell_count) / sums.cell_max
        monthly = _ratio(sums.month_sum, sums.month_days)
        covered = sums.month_days >= MIN_MONTH_DAYS
        month_mean = _ratio(np.where(covered, monthly, 0).sum(axis=1), covered.sum(axis=1))
        month_index = np.where(covered, monthly / month_mean[:, None], np.nan)
        winter, winter_days = _season(sums, winter_months(window.hemisphere))
        summer, summer_days = _season(sums, summer_months(window.hemisphere))
    seasonal = (winter_days >= MIN_SEASON_DAYS) & (summer_days >= MIN_SEASON_DAYS)
    cells_per_day = 1440 // window.resolution
    hours = np.arange(points) * 24 / points
    frame = pd.DataFrame({
        "meter_id": sums.meter_id,
        "mean_daily_kwh": mean_daily,
        "peak_hour": np.where(n_complete > 0, np.nanargmax(np.nan_to_num(profile, nan=-1), axis=1)
                              * 24 / points, np.nan),
        "peak_to_mean": np.nanmax(np.nan_to_num(profile, nan=0), axis=1) * points,
        "load_factor": load_factor,
        "base_load_kw": p10 * 60 / window.resolution,
        "base_load_share": _ratio(p10 * cells_per_day, mean_daily),
        "cv_daily": cv_daily,
        "weekday_weekend_ratio": _ratio(weekday_mean, weekend_mean),
        "winter_summer_ratio": np.where(seasonal, _ratio(winter, summer), np.nan),
        "seasonal_available": seasonal,
        **{name: np.nansum(np.where(in_daypart(hours, spans), profile, 0), axis=1)
           for name, spans in DAYPARTS.items()},
        "coverage": n_complete / n_days,
        "complete_days": n_complete,
    })
    for name, matrix in (("profile", profile), ("profile_weekday", weekday_profile),
                         ("profile_weekend", weekend_profile), ("monthly_index", month_index)):
        frame[name] = list(np.round(matrix, 6))
    return frame


def in_daypart(hours: np.ndarray, spans: tuple[tuple[int, int], ...]) -> np.ndarray:
    """True for the profile points (start hours) inside any of the daypart's spans."""
    return np.logical_or.reduce([(hours >= lo) & (hours < hi) for lo, hi in spans])


def _season(sums: MeterSums, months) -> tuple[np.ndarray, np.ndarray]:
    columns = np.asarray(months) - 1
    days = sums.month_days[:, columns].sum(axis=1)
    return _ratio(sums.month_sum[:, columns].sum(axis=1), days), days
