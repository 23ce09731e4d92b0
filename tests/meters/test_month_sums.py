"""Monthly sums (``months``, ``sums``): a window's features computed month by month, with
months reused from the store, equal the features computed from the whole window's day
vectors at once, to 1e-9; a night's run reads only the months its file touched."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from segmentation.meters import months, sums
from segmentation.meters.clean import CleaningPolicy, interpolate_short_gaps
from segmentation.meters.features import LIST_FEATURES, SCALAR_FEATURES, meter_features
from segmentation.meters.ingest import ingest_file
from segmentation.meters.pipeline import plan_window, process_shard, read_range, window_days
from segmentation.meters.sample import write_sample_meters
from segmentation.meters.store import ReadingsStore
from tests.conftest import shared_file
from tests.meters.conftest import write_text
from tests.meters.conftest import long_csv

POLICY = CleaningPolicy()


def whole_window(store: ReadingsStore, window) -> pd.DataFrame:
    """The reference: every shard's window read at once, one matrix, features from it; and
    plain numpy's own mean, spread and 10th percentile of the complete days."""
    frames = []
    for shard in store.shards():
        readings = read_range(store, shard, window)
        filled, _, _ = interpolate_short_gaps(readings.values, POLICY.max_gap_minutes // window.resolution)
        frame = meter_features(readings.meters, filled, window)
        cal_day = _day_of_cells(window)
        complete = np.stack([np.bincount(cal_day, np.isnan(row), minlength=cal_day.max() + 1) == 0
                             for row in filled]) if len(filled) else np.empty((0, 0), bool)
        used = np.where(complete[:, cal_day], filled, np.nan)
        daily = np.stack([np.where(c, np.bincount(cal_day, np.nan_to_num(row)), np.nan)
                          for row, c in zip(filled, complete)]) if len(filled) else used
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")     # meters without complete days: NaN
            frame["numpy_p10"] = np.nanpercentile(used, 10, axis=1)
            frame["numpy_mean_daily"] = np.nanmean(daily, axis=1)
            frame["numpy_cv"] = np.nanstd(daily, axis=1) / np.nanmean(daily, axis=1)
        frames.append(frame)
    return pd.concat(frames).sort_values("meter_id", ignore_index=True)


def _day_of_cells(window) -> np.ndarray:
    local = window.grid().tz_convert(window.timezone)
    return np.unique(np.asarray(local.normalize().tz_localize(None)), return_inverse=True)[1]


def by_months(store: ReadingsStore, window, tmp_path, use_cache: bool = True) -> tuple:
    shards = [process_shard(store, s, window, POLICY, tmp_path / "work", use_cache)
              for s in store.shards()]
    features = pd.concat([pd.read_parquet(s["features"]) for s in shards])
    return features.sort_values("meter_id", ignore_index=True), [s["months"] for s in shards]


def assert_same_features(got: pd.DataFrame, reference: pd.DataFrame) -> None:
    reference = reference[reference["meter_id"].isin(got["meter_id"])].reset_index(drop=True)
    assert got["meter_id"].tolist() == reference["meter_id"].tolist()
    for column in SCALAR_FEATURES:
        assert np.allclose(got[column].to_numpy(float), reference[column].to_numpy(float),
                           rtol=1e-9, atol=1e-12, equal_nan=True), column
    for column in LIST_FEATURES:
        assert np.allclose(np.vstack(got[column]), np.vstack(reference[column]), rtol=1e-9,
                           atol=1e-12, equal_nan=True), column
    # numpy's own statistics on the whole window (not the sums' formulas)
    assert np.allclose(got["mean_daily_kwh"], reference["numpy_mean_daily"], rtol=1e-9)
    assert np.allclose(got["cv_daily"], reference["numpy_cv"], rtol=1e-9, equal_nan=True)


@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    """A generated two-year half-hourly store (gaps, bad values, duplicates, DST)."""
    tmp = tmp_path_factory.mktemp("two-years")
    files = write_sample_meters(tmp / "raw", n_meters=24, days=730, seed=5, end="2024-12-30")
    store = ReadingsStore(tmp / "processed" / "meters", n_shards=2)
    for path in files:
        ingest_file(path, store)
    return tmp, store


def test_two_years_by_months_equal_the_whole_window(two_years, tmp_path):
    _, store = two_years
    window = plan_window(store, 730, "Europe/London")
    reference = whole_window(store, window)
    cold, read = by_months(store, window, tmp_path)
    assert_same_features(cold, reference)
    # base load: numpy's percentile of the window's complete-day intervals
    p10 = reference.set_index("meter_id").loc[cold["meter_id"], "numpy_p10"].to_numpy()
    assert np.allclose(cold["base_load_kw"], p10 * 2, rtol=1e-9)
    assert sum(m["months_reused"] for m in read) == 0
    warm, reused = by_months(store, window, tmp_path)
    assert sum(m["months_read"] for m in reused) == 2 * len(store.shards())   # first and last
    assert sum(m["months_reused"] for m in reused) == 22 * len(store.shards())   # 24 months
    assert_same_features(warm, reference)
    assert_same_features(by_months(store, window, tmp_path, use_cache=False)[0], reference)


def test_a_nightly_file_reads_only_its_month_and_the_window_edges(two_years, tmp_path):
    # A copy of the shared store: this test adds a day to it, and the others expect it as
    # generated, whatever order the tests run in (mutmut runs them by duration).
    raw, shared = two_years
    shutil.copytree(shared.dataset_dir, tmp_path / "meters")
    store = ReadingsStore(tmp_path / "meters")
    window = plan_window(store, 365, "Europe/London")
    by_months(store, window, tmp_path)                       # the months in the store
    night = write_sample_meters(raw / "night", n_meters=24, days=1, seed=6, end="2024-12-31",
                                damage=False)
    for path in night:
        ingest_file(path, store)
    after = plan_window(store, 365, "Europe/London")
    features, read = by_months(store, after, tmp_path)
    # December changed (the new day), January 2024 starts the window (on the 2nd): both
    # read; the ten months between are reused
    assert [(m["months_read"], m["months_reused"]) for m in read] == [(2, 10)] * len(read)
    assert_same_features(features, whole_window(store, after))


def test_a_late_file_for_an_old_day_recomputes_that_month(tmp_path):
    store = ReadingsStore(tmp_path / "store", n_shards=1)
    days = pd.date_range("2024-01-01", "2024-06-30 23:30", freq="30min", tz="Europe/London")
    rows = [("A", t.strftime("%Y-%m-%d %H:%M:%S"), 0.2 + 0.1 * (t.hour >= 17)) for t in days]
    ingest_file(write_text(tmp_path, "a.csv", long_csv(rows)), store)
    window = plan_window(store, 365, "Europe/London")
    before, read = by_months(store, window, tmp_path)
    assert read[0]["months_read"] == 6
    # a correction of one day in March arrives later: March's sums are recomputed
    march = [("A", t.strftime("%Y-%m-%d %H:%M:%S"), 1.0)
             for t in pd.date_range("2024-03-12", "2024-03-12 23:30", freq="30min",
                                    tz="Europe/London")]
    ingest_file(write_text(tmp_path, "late.csv", long_csv(march)), store)
    after, read = by_months(store, window, tmp_path)
    assert read[0] == {"months_read": 3, "months_reused": 3, "months_reread_for_base_load": 0}
    assert after["mean_daily_kwh"].iloc[0] > before["mean_daily_kwh"].iloc[0]
    assert_same_features(after, whole_window(store, window))
    # the file taken out again: the same features as before it came
    store.remove(next(sha for sha, e in store.ledger().items() if e["path"].endswith("late.csv")))
    assert_same_features(by_months(store, window, tmp_path)[0], whole_window(store, window))
    assert np.isclose(by_months(store, window, tmp_path)[0]["mean_daily_kwh"].iloc[0],
                      before["mean_daily_kwh"].iloc[0], rtol=1e-12)


def test_base_load_is_exact_when_one_month_holds_the_lowest_readings(tmp_path):
    """A home empty for a month: its lowest tenth of the year lies in that month, beyond the
    third each month keeps; that month is read again keeping every value of that meter."""
    store = ReadingsStore(tmp_path / "store", n_shards=1)
    days = pd.date_range("2024-01-01", "2024-12-31 23:30", freq="30min", tz="Europe/London")
    rng = np.random.default_rng(0)
    kwh = rng.gamma(3, 0.1, len(days)).round(3) + 0.2
    away = (days.month == 8)
    kwh[away] = rng.uniform(0.01, 0.05, away.sum()).round(4)
    rows = [("A", t.strftime("%Y-%m-%d %H:%M:%S"), v) for t, v in zip(days, kwh)]
    steady = rng.gamma(3, 0.1, len(days)).round(3) + 0.2
    rows += [("B", t.strftime("%Y-%m-%d %H:%M:%S"), v) for t, v in zip(days, steady)]
    ingest_file(write_text(tmp_path, "year.csv", long_csv(rows)), store)
    window = plan_window(store, 365, "Europe/London")
    features, read = by_months(store, window, tmp_path)
    assert read[0]["months_reread_for_base_load"] == 1            # August (A; B's is spread)
    reference = whole_window(store, window)
    assert_same_features(features, reference)
    assert np.allclose(features["base_load_kw"], reference["numpy_p10"] * 2, rtol=1e-12)
    # August is kept with every value of A: the next run reuses it as it is
    again, read = by_months(store, window, tmp_path)
    assert read[0] == {"months_read": 2, "months_reused": 10, "months_reread_for_base_load": 0}
    assert_same_features(again, reference)


def test_low_percentile_is_numpys_and_says_when_it_cannot_know():
    rng = np.random.default_rng(1)
    values = rng.gamma(2, 0.3, size=(5, 400))
    cal = sums.Calendar(day=np.repeat(np.arange(10), 40), point=np.tile(np.arange(40) % 24, 10),
                        weekend_day=np.zeros(10, bool), month_day=np.ones(10, int), points=24)
    ids = np.array(list("abcde"), object)
    half = sums.Calendar(cal.day[:200], cal.point[:200], cal.weekend_day[:5], cal.month_day[:5], 24)
    halves = [sums.span_sums(ids, v, v, half) for v in (values[:, :200], values[:, 200:])]
    total = sums.combine(halves, ids, 24)
    got, exact, _ = sums.low_percentile(total)
    assert exact.all()
    assert np.allclose(got, np.percentile(values, 10, axis=1), rtol=0, atol=1e-15)
    # the lowest tenth all in one short span (a day of 40 of the 400 intervals), which kept
    # only a third of its values: the percentile cannot be known from what was kept
    ordered = np.sort(values, axis=1)
    day = sums.Calendar(cal.day[:40], cal.point[:40], cal.weekend_day[:1], cal.month_day[:1], 24)
    rest = sums.Calendar(cal.day[40:] - 1, cal.point[40:], cal.weekend_day[1:], cal.month_day[1:], 24)
    spans = [sums.span_sums(ids, ordered[:, :40], ordered[:, :40], day),
             sums.span_sums(ids, ordered[:, 40:], ordered[:, 40:], rest)]
    _, exact, needed = sums.low_percentile(sums.combine(spans, ids, 24))
    assert not exact.any() and (needed > spans[0].low_cut).all()
    every = [sums.span_sums(ids, ordered[:, :40], ordered[:, :40], day, tail_share=None), spans[1]]
    got, exact, _ = sums.low_percentile(sums.combine(every, ids, 24))
    assert exact.all() and np.allclose(got, np.percentile(values, 10, axis=1), atol=1e-15)


def test_month_spans_mark_the_window_edges_and_the_context():
    window_start = pd.Timestamp("2024-01-15")
    from segmentation.meters.day_vectors import DayCalendar
    spans = months.month_spans(DayCalendar.spanning(window_start, "2024-04-30", "Europe/London"), 120)
    assert [(s.label, s.interior) for s in spans] == [
        ("2024-01", False), ("2024-02", True), ("2024-03", True), ("2024-04", False)]
    february = spans[1]
    assert (str(february.read_first), str(february.read_last)) == ("2024-01-31", "2024-03-01")
    assert str(spans[0].read_first) == "2024-01-15"              # clipped to the window
    # a gap filled over more than a day needs more context
    longer = months.month_spans(DayCalendar.spanning(window_start, "2024-04-30", "Europe/London"),
                                1500)
    assert str(longer[1].read_first) == "2024-01-30"


def test_swiss_by_months_equal_the_whole_window(tmp_path):
    path = shared_file("meters/swiss_15min/elcons_15min_long.csv.gz")
    store = ReadingsStore(tmp_path / "processed" / "meters", n_shards=4)
    ingest_file(path, store, timezone="Europe/Zurich")
    window = plan_window(store, 365, "Europe/Zurich")
    features, read = by_months(store, window, tmp_path)
    assert len(features) == 530
    assert_same_features(features, whole_window(store, window))
    days = window_days(window)
    assert days.n_days == 49


def half_hour_rows(meter: str, start: str, end: str, kwh) -> list[tuple]:
    times = pd.date_range(start, f"{end} 23:30", freq="30min", tz="Europe/London")
    values = kwh(times) if callable(kwh) else [kwh] * len(times)
    return [(meter, t.strftime("%Y-%m-%d %H:%M:%S"), v) for t, v in zip(times, values)]


def test_a_file_read_again_with_other_settings_recomputes_its_months(tmp_path):
    """Same file, same sha256, read with another plausible maximum: its readings change, so
    every month it covers is summed again (the months are keyed by the order of ingestion)."""
    store = ReadingsStore(tmp_path / "store", n_shards=1)
    other = half_hour_rows("B", "2024-01-01", "2024-05-31", lambda t: 0.2 + 0.1 * (t.hour < 7))
    ingest_file(write_text(tmp_path, "b.csv", long_csv(other)), store)   # stays in the store
    rows = half_hour_rows("A", "2024-01-01", "2024-05-31",
                          lambda t: np.where((t.month == 3) & (t.hour == 19), 6.0,
                                             0.3 + 0.1 * (t.hour >= 17)))
    path = write_text(tmp_path, "a.csv", long_csv(rows))
    ingest_file(path, store)
    window = plan_window(store, 365, "Europe/London")
    before, _ = by_months(store, window, tmp_path)
    ingest_file(path, store, max_kwh=5.0)      # March's evening readings are now implausible
    after, read = by_months(store, window, tmp_path)
    assert read[0]["months_reused"] == 0
    assert after["mean_daily_kwh"].iloc[0] < before["mean_daily_kwh"].iloc[0]   # meter A
    assert_same_features(after, whole_window(store, window))


def test_an_empty_last_month_needs_no_second_read(tmp_path):
    """The window's edge months keep every value: a home empty in the window's last month
    has its base load there, and no month is read again for it, run after run."""
    store = ReadingsStore(tmp_path / "store", n_shards=1)
    rows = half_hour_rows("A", "2024-01-01", "2024-12-31",
                          lambda t: np.where(t.month == 12, 0.02, 0.3 + 0.2 * (t.hour >= 17)))
    ingest_file(write_text(tmp_path, "a.csv", long_csv(rows)), store)
    window = plan_window(store, 365, "Europe/London")
    for _ in range(2):
        features, read = by_months(store, window, tmp_path)
        assert read[0]["months_reread_for_base_load"] == 0
    # December's 1,488 readings are the lowest 8.5 %: the 10th percentile is the next, 0.3 kWh
    assert features["base_load_kw"].iloc[0] == pytest.approx(0.6)
    assert_same_features(features, whole_window(store, window))


def test_a_reading_that_changes_between_months_is_not_a_stuck_register(tmp_path):
    """Each month's readings are one value, the months' values differ: the meter is not
    'all readings identical'; one value in every month is."""
    store = ReadingsStore(tmp_path / "store", n_shards=1)
    rows = half_hour_rows("A", "2024-01-01", "2024-04-30",
                          lambda t: np.where(t.month % 2 == 0, 0.7, 0.5))
    rows += half_hour_rows("B", "2024-01-01", "2024-04-30", 0.5)
    ingest_file(write_text(tmp_path, "a.csv", long_csv(rows)), store)
    window = plan_window(store, 365, "Europe/London")
    process_shard(store, 0, window, POLICY, tmp_path / "work")
    result = process_shard(store, 0, window, POLICY, tmp_path / "work")     # months reused
    assert result["months"]["months_reused"] == 2
    stuck = pd.read_parquet(result["quarantined_meters"]).set_index("meter_id")["reason"]
    assert stuck.to_dict() == {"B": "all readings identical (stuck register)"}
    assert pd.read_parquet(result["features"])["meter_id"].tolist() == ["A"]
