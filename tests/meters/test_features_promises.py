"""The load-profile features of docs/meters.md step 4, on tiny hand-made grids.

Each test builds a window in a zone that is not UTC (local days and hours are the run's
time zone's), fills the grid from local wall-clock times and checks one promise of
``segmentation.meters.features``: dayparts, weekday/weekend, the profile, the scalar
features, complete days only, monthly index and seasons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.meters.clean import make_window
from segmentation.meters.features import meter_features, profile_points
from segmentation.meters.seasons import summer_months, winter_months

ZONE = "Europe/Zurich"   # UTC+1 in winter, UTC+2 in summer: a UTC reading would shift hours


def window(first_day: str, last_day: str, resolution: int = 60, hemisphere: str = "north"):
    """The window of local days ``first_day`` .. ``last_day`` in ``ZONE``."""
    first = pd.Timestamp(first_day).tz_localize(ZONE).tz_convert("UTC")
    last = (pd.Timestamp(last_day) + pd.Timedelta(hours=23)).tz_localize(ZONE).tz_convert("UTC")
    return make_window(first, last, 10_000, resolution, ZONE, hemisphere)


def local_grid(win) -> pd.DatetimeIndex:
    return win.grid().tz_convert(ZONE)


def features_of(win, rows: list[np.ndarray]) -> pd.DataFrame:
    ids = np.array([f"M{i}" for i in range(len(rows))], dtype=object)
    return meter_features(ids, np.vstack(rows).astype(float), win)


# Local clock hours of each daypart as docs/meters.md states them: night 22-06 h,
# morning 06-10 h, daytime 10-16 h, evening 16-22 h.
def documented_daypart(hour: float) -> str:
    if hour >= 22 or hour < 6:
        return "night_share"
    if hour < 10:
        return "morning_share"
    if hour < 16:
        return "daytime_share"
    return "evening_share"


DAYPARTS = ["night_share", "morning_share", "daytime_share", "evening_share"]


@pytest.mark.parametrize("resolution", [30, 60])
def test_each_point_of_the_day_falls_in_its_documented_daypart(resolution):
    """A meter using energy only at one point of the local day has all of it in that point's
    daypart: both sides of every boundary (05:30/06:00, 09:30/10:00, 15:30/16:00, 21:30/22:00,
    23:xx/00:00) are checked."""
    win = window("2024-01-08", "2024-01-09", resolution)
    local = local_grid(win)
    points = profile_points(resolution)
    minute_of_day = local.hour * 60 + local.minute
    rows = [np.where(minute_of_day // (1440 // points) == p, 1.0, 0.0) for p in range(points)]
    features = features_of(win, rows)
    for p, (_, row) in enumerate(features.iterrows()):
        hour = p * 24 / points
        expected = documented_daypart(hour)
        for part in DAYPARTS:
            assert row[part] == pytest.approx(1.0 if part == expected else 0.0), (hour, part)
        assert row["peak_hour"] == hour


def test_daypart_shares_of_any_meter_sum_to_one():
    win = window("2024-01-08", "2024-01-10", 30)
    rng = np.random.default_rng(1)
    rows = [rng.uniform(0.05, 2.0, win.n_cells) for _ in range(5)]
    rows.append(rng.uniform(0.001, 0.002, win.n_cells))           # well under 1 kWh in all
    features = features_of(win, rows)
    assert np.allclose(features[DAYPARTS].sum(axis=1), 1.0)
    assert all(abs(sum(p) - 1) < 1e-5 for p in features["profile"])


def test_weekend_is_saturday_and_sunday_of_the_local_calendar():
    """Energy at the last hour of Friday and Sunday and the first hour of Saturday and Monday
    (local time; in UTC the Saturday hour would still be Friday): weekday profile from
    Friday and Monday, weekend profile from Saturday and Sunday."""
    win = window("2024-01-08", "2024-01-15")          # Monday .. the next Monday
    local = local_grid(win)
    kwh = np.zeros(win.n_cells)
    day = local.normalize().tz_localize(None)
    for date, hour, value in (("2024-01-12", 23, 1.0), ("2024-01-13", 0, 2.0),
                              ("2024-01-14", 23, 4.0), ("2024-01-15", 0, 8.0)):
        kwh[(day == pd.Timestamp(date)) & (local.hour == hour)] = value
    no_weekend = np.where(local.dayofweek >= 5, 0.0, 1.0)
    row, other = features_of(win, [kwh, no_weekend]).itertuples(index=False)
    row = row._asdict()
    assert np.isnan(other.weekday_weekend_ratio)       # a ratio over no weekend use: missing
    weekday, weekend = np.asarray(row["profile_weekday"]), np.asarray(row["profile_weekend"])
    assert weekday[23] == pytest.approx(1 / 9) and weekday[0] == pytest.approx(8 / 9)
    assert weekend[0] == pytest.approx(2 / 6) and weekend[23] == pytest.approx(4 / 6)
    # six weekdays (Mon-Fri and Monday) of 9 kWh in all; two weekend days of 6 kWh
    assert row["weekday_weekend_ratio"] == pytest.approx((9 / 6) / (6 / 2))


def test_profile_points_peak_and_peak_to_mean_at_15_minutes():
    """15-minute readings give the 48-point (30-minute) profile: each point sums two quarter
    hours; the peak hour is the start of the largest point."""
    win = window("2024-01-08", "2024-01-08", 15)
    local = local_grid(win)
    kwh = np.full(win.n_cells, 0.1)
    kwh[(local.hour == 19) & (local.minute == 30)] = 1.0
    kwh[(local.hour == 19) & (local.minute == 45)] = 0.5
    row = features_of(win, [kwh]).iloc[0]
    profile = np.asarray(row["profile"])
    total = 0.1 * 94 + 1.5
    assert len(profile) == 48      # shares rounded to 6 decimals: the sum within 48 x 5e-7
    assert profile.sum() == pytest.approx(1.0, abs=48 * 5e-7)
    assert profile[39] == pytest.approx(1.5 / total, abs=1e-6)
    assert profile[0] == pytest.approx(0.2 / total, abs=1e-6)
    assert row["peak_hour"] == 19.5
    assert row["peak_to_mean"] == pytest.approx((1.5 / total) / (1 / 48))
    assert profile_points(30) == 48 and profile_points(60) == 24


def test_load_factor_base_load_mean_and_variation_of_daily_totals():
    """Two complete days at 30 minutes: 1 kWh per interval with one interval of 5, then 2 kWh
    per interval."""
    win = window("2024-01-08", "2024-01-09", 30)
    kwh = np.r_[np.full(48, 1.0), np.full(48, 2.0)]
    kwh[36] = 5.0
    row = features_of(win, [kwh]).iloc[0]
    daily = np.array([47 + 5, 96.0])
    p10 = np.percentile(kwh, 10)
    assert row["mean_daily_kwh"] == pytest.approx(daily.mean())
    assert row["cv_daily"] == pytest.approx(daily.std() / daily.mean())
    assert row["load_factor"] == pytest.approx(kwh.mean() / 5.0)
    assert row["base_load_kw"] == pytest.approx(p10 * 2)          # kWh per half hour as kW
    assert row["base_load_share"] == pytest.approx(p10 * 48 / daily.mean())
    assert row["complete_days"] == 2 and row["coverage"] == 1.0


def test_only_complete_local_days_count():
    """A day missing one interval counts for nothing: not its total, not its shape."""
    win = window("2024-01-08", "2024-01-10")
    local = local_grid(win)
    kwh = np.where(local.hour == 8, 3.0, 1.0)
    day = local.normalize().tz_localize(None)
    incomplete = day == pd.Timestamp("2024-01-10")
    kwh[incomplete] = 50.0
    kwh[np.flatnonzero(incomplete)[5]] = np.nan
    row, full = (r._asdict() for r in features_of(win, [kwh, np.ones(win.n_cells)]).itertuples())
    assert full["complete_days"] == 3 and full["coverage"] == 1.0      # each meter its own days
    assert row["complete_days"] == 2 and row["coverage"] == pytest.approx(2 / 3)
    assert row["mean_daily_kwh"] == pytest.approx(26.0) and row["cv_daily"] == 0
    assert row["peak_hour"] == 8 and row["load_factor"] == pytest.approx(26 / 24 / 3)
    shape = np.where(np.arange(24) == 8, 3.0, 1.0) / 26                 # the complete days' shape
    assert np.allclose(row["profile"], shape, atol=1e-6)
    assert row["peak_to_mean"] == pytest.approx(3 / 26 * 24, abs=1e-5)
    assert features_of(win, [np.full(win.n_cells, np.nan)]).iloc[0]["complete_days"] == 0


def test_base_load_is_each_meter_s_own_tenth_percentile_of_interval_kwh():
    """``base_load_kw``: the 10th percentile of the meter's own interval kWh (as kW), not of
    the shard's: a meter using ten times as much has ten times the base load."""
    win = window("2024-01-08", "2024-01-09", 60)
    kwh = np.tile(np.arange(1.0, 25.0), 2)                    # 1..24 kWh in the hours of a day
    rows = features_of(win, [kwh, 10 * kwh])
    assert rows["base_load_kw"].tolist() == pytest.approx([np.percentile(kwh, 10),
                                                           np.percentile(10 * kwh, 10)])


def test_the_monthly_index_is_relative_to_each_meter_s_own_average_month():
    """Each meter's monthly index divides its months by its own average covered month, so a
    meter using ten times as much in the same pattern has the same index."""
    win = window("2024-01-25", "2024-02-20")
    kwh = np.where(local_grid(win).month == 1, 2 / 24, 4 / 24)
    index = features_of(win, [kwh, 10 * kwh])["monthly_index"]
    assert np.asarray(index[0])[:2] == pytest.approx([2 / 3, 4 / 3], abs=1e-6)
    assert np.allclose(np.asarray(index[1])[:2], np.asarray(index[0])[:2])


def test_a_meter_without_complete_days_has_no_peak_hour_rather_than_midnight():
    """Features use complete local days only: without any, the peak hour is missing (NaN,
    in a float column beside a meter that has one), not hour 0."""
    win = window("2024-01-08", "2024-01-09", 60)
    gappy = np.ones(win.n_cells)
    gappy[[3, 30]] = np.nan                                    # one gap in each local day
    rows = features_of(win, [gappy, np.ones(win.n_cells)])
    assert rows["complete_days"].tolist() == [0, 2]
    assert rows["peak_hour"].dtype == float and np.isnan(rows["peak_hour"][0])


def test_monthly_index_needs_seven_complete_days_in_the_month():
    """January with 7 complete days is covered, March with 6 is not (and is left out of
    the average month)."""
    win = window("2024-01-25", "2024-03-06")
    local = local_grid(win)
    kwh = np.select([local.month == 1, local.month == 2], [2 / 24, 4 / 24], 100 / 24)
    index = np.asarray(features_of(win, [kwh]).iloc[0]["monthly_index"])
    assert len(index) == 12                                      # one per calendar month
    assert index[0] == pytest.approx(2 / 3, abs=1e-6) and index[1] == pytest.approx(4 / 3, abs=1e-6)
    assert np.isnan(index[2]) and np.isnan(index[3:]).all()


def seasonal_window(first_day: str, last_day: str, hemisphere: str = "north"):
    """Daily kWh 3 in Dec-Feb, 1 in Jun-Aug, 2 in the months between; a second meter
    without readings in June has no summer (each meter's own days count)."""
    win = window(first_day, last_day, hemisphere=hemisphere)
    month = local_grid(win).month
    kwh = np.select([np.isin(month, (12, 1, 2)), np.isin(month, (6, 7, 8))], [3.0, 1.0], 2.0) / 24
    features = features_of(win, [kwh, np.where(month == 6, np.nan, kwh)])
    assert not features["seasonal_available"].iloc[1]
    return features.iloc[0]


def test_winter_summer_ratio_needs_fourteen_days_of_each_season_and_follows_the_hemisphere():
    north = seasonal_window("2023-02-15", "2023-06-14")      # 14 winter and 14 summer days
    assert north["seasonal_available"] and north["winter_summer_ratio"] == pytest.approx(3.0)
    south = seasonal_window("2023-02-15", "2023-06-14", hemisphere="south")
    assert south["seasonal_available"] and south["winter_summer_ratio"] == pytest.approx(1 / 3)
    for first, last in (("2023-02-16", "2023-06-14"), ("2023-02-15", "2023-06-13")):  # 13 days
        short = seasonal_window(first, last)
        assert not short["seasonal_available"] and np.isnan(short["winter_summer_ratio"])


def test_seasons_are_dec_feb_and_jun_aug_swapped_in_the_south():
    assert sorted(winter_months("north")) == sorted(summer_months("south")) == [1, 2, 12]
    assert sorted(summer_months("north")) == sorted(winter_months("south")) == [6, 7, 8]


def test_peak_to_mean_is_each_meter_s_own_profile_maximum_over_its_mean():
    """``peak_to_mean`` is max / mean of the meter's own profile: a flat meter beside a peaky
    one has 1, not the peaky meter's ratio."""
    win = window("2024-01-08", "2024-01-09", 60)
    hour = local_grid(win).hour
    peaky = np.where(hour == 18, 4.0, 1.0)                    # 27 kWh a day, 4 at 18 h
    rows = features_of(win, [peaky, np.ones(win.n_cells)])
    assert rows["peak_to_mean"].tolist() == pytest.approx([4 / 27 * 24, 1.0], abs=1e-6)


def test_a_base_load_already_known_is_the_one_used():
    """``features_from_sums(..., base_load=...)``: the 10th percentile of interval kWh when
    already known (a month read again keeping every value) is used as given, as kW and as a
    share of the mean day, rather than recomputed from the kept values."""
    from segmentation.meters.features import calendar, features_from_sums
    from segmentation.meters.sums import span_sums

    win = window("2024-01-08", "2024-01-09", 30)
    kwh = np.tile(np.linspace(0.5, 2.0, 48), 2)[None, :]
    cal = calendar(win)
    sums = span_sums(np.array(["M0"], dtype=object), kwh, kwh, cal, tail_share=None)
    known = np.array([0.25])                                  # not the kept values' percentile
    row = features_from_sums(sums, win, cal.n_days, base_load=known).iloc[0]
    mean_daily = kwh.sum() / 2
    assert row["base_load_kw"] == pytest.approx(0.25 * 2)     # kWh per half hour as kW
    assert row["base_load_share"] == pytest.approx(0.25 * 48 / mean_daily)
    computed = features_from_sums(sums, win, cal.n_days).iloc[0]
    assert computed["base_load_kw"] == pytest.approx(np.percentile(kwh, 10) * 2)


def test_one_row_per_meter_named_by_meter_id_in_the_order_given():
    """``meter_features``: one row per meter, ``meter_id`` first, in the row order of
    ``values``, then the scalar and list features."""
    from segmentation.meters.features import LIST_FEATURES, SCALAR_FEATURES

    win = window("2024-01-08", "2024-01-08", 60)
    ids = np.array(["zeta", "alpha"], dtype=object)
    rows = meter_features(ids, np.vstack([np.ones(win.n_cells), 2 * np.ones(win.n_cells)]), win)
    assert list(rows.columns) == ["meter_id", *SCALAR_FEATURES, *LIST_FEATURES]
    assert rows["meter_id"].tolist() == ["zeta", "alpha"]
    assert rows["mean_daily_kwh"].tolist() == pytest.approx([24.0, 48.0])
