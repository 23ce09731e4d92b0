"""The monthly sums' promises (docs/meters.md step 3, ``sums`` and ``months`` docstrings),
on tiny hand-made spans: each field of a span's sums is the obvious loop's, spans combine to
the whole span's sums, the base load is numpy's percentile and says when it cannot be known,
a month's sums survive the store, and they are reused only while their files are the same.

Every reference here is computed the slow, obvious way (loops over meters and days), not
with the module's sparse products.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import fields

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation.errors import InputError
from segmentation.io import write_json_atomic
from segmentation.meters import months, pipeline, sums
from segmentation.meters.clean import CONFLICTING_DUPLICATE, EXACT_DUPLICATE, make_window
from segmentation.meters.day_vectors import DayCalendar, slots_per_day
from segmentation.meters.store import LAYOUT, ReadingsStore, day_schema

# Six local days of four points each: Friday, Saturday, Sunday, Monday ... across three months.
POINTS = 4
DAY_OF_CELL = np.repeat(np.arange(6), POINTS)
WEEKEND = np.array([False, True, True, False, False, False])
MONTH = np.array([1, 1, 2, 2, 2, 3])
IDS = np.array(["A", "B", "C", "D", "E"], object)


def calendar(days: np.ndarray) -> sums.Calendar:
    """The calendar of the given days (indices into the six), re-based to 0."""
    days = np.asarray(days)
    return sums.Calendar(day=np.repeat(np.arange(len(days)), POINTS),
                         point=np.tile(np.arange(POINTS), len(days)),
                         weekend_day=WEEKEND[days], month_day=MONTH[days], points=POINTS)


def matrices() -> tuple[np.ndarray, np.ndarray]:
    """raw and filled (meters x 24 cells) with every case a span meets.

    A: every reading. B: two gaps filled by interpolation, and day 4 missing a value after
    it (incomplete). C: no reading at all. D: one complete day only (day 2, a Sunday), the
    others empty. E: a reading larger than any value of complete days on an incomplete day.
    """
    rng = np.random.default_rng(7)
    raw = rng.uniform(0.1, 2.0, (5, 24)).round(6)
    raw[1, [3, 9]] = np.nan
    filled = raw.copy()
    filled[1, [3, 9]] = [0.55, 0.65]
    raw[1, 17] = filled[1, 17] = np.nan
    raw[2] = filled[2] = np.nan
    keep = DAY_OF_CELL == 2
    raw[3, ~keep] = filled[3, ~keep] = np.nan
    raw[4, 1] = filled[4, 1] = np.nan           # day 0 incomplete
    raw[4, 2] = filled[4, 2] = 9.0              # its largest reading, not in a complete day
    return raw, filled


def loop_sums(raw: np.ndarray, filled: np.ndarray, days: np.ndarray) -> dict:
    """The expected fields, one meter and one day at a time."""
    out: dict[str, list] = {name: [] for name in (
        "n_readings", "interpolated", "raw_max", "raw_min", "complete_days", "weekend_days",
        "points", "points_weekday", "points_weekend", "daily_sum", "daily_m2",
        "weekday_daily_sum", "weekend_daily_sum", "cell_sum", "cell_count", "cell_max",
        "month_sum", "month_days", "values")}
    for r, f in zip(raw, filled):
        day_rows = [f[i * POINTS:(i + 1) * POINTS] for i in range(len(days))]
        complete = [not np.isnan(d).any() for d in day_rows]
        totals = [d.sum() for d, c in zip(day_rows, complete) if c]
        whole = [d for d, c in zip(day_rows, complete) if c]
        weekend = [WEEKEND[day] for day, c in zip(days, complete) if c]
        months = [MONTH[day] for day, c in zip(days, complete) if c]
        values = np.concatenate(whole) if whole else np.empty(0)
        out["n_readings"].append(int((~np.isnan(r)).sum()))
        out["interpolated"].append(int((np.isnan(r) & ~np.isnan(f)).sum()))
        out["raw_max"].append(np.max(r[~np.isnan(r)]) if (~np.isnan(r)).any() else np.nan)
        out["raw_min"].append(np.min(r[~np.isnan(r)]) if (~np.isnan(r)).any() else np.nan)
        out["complete_days"].append(len(whole))
        out["weekend_days"].append(int(sum(weekend)))
        out["points"].append(sum(whole, np.zeros(POINTS)))
        out["points_weekday"].append(sum((d for d, w in zip(whole, weekend) if not w),
                                         np.zeros(POINTS)))
        out["points_weekend"].append(sum((d for d, w in zip(whole, weekend) if w),
                                         np.zeros(POINTS)))
        out["daily_sum"].append(sum(totals))
        mean = sum(totals) / len(totals) if totals else 0.0
        out["daily_m2"].append(sum((t - mean) ** 2 for t in totals))
        out["weekday_daily_sum"].append(sum(t for t, w in zip(totals, weekend) if not w))
        out["weekend_daily_sum"].append(sum(t for t, w in zip(totals, weekend) if w))
        out["cell_sum"].append(values.sum())
        out["cell_count"].append(len(values))
        out["cell_max"].append(values.max() if len(values) else np.nan)
        out["month_sum"].append([sum(t for t, m in zip(totals, months) if m == k)
                                 for k in range(1, 13)])
        out["month_days"].append([sum(1 for m in months if m == k) for k in range(1, 13)])
        out["values"].append(np.sort(values))
    return {k: (v if k == "values" else np.array(v)) for k, v in out.items()}


def assert_fields(got: sums.MeterSums, expected: dict) -> None:
    for name, value in expected.items():
        if name == "values":
            continue
        assert np.allclose(getattr(got, name), value, rtol=1e-12, atol=1e-12,
                           equal_nan=True), name
        assert getattr(got, name).shape == np.shape(value), name


def test_a_spans_sums_are_the_obvious_loops():
    raw, filled = matrices()
    got = sums.span_sums(IDS, raw, filled, calendar(np.arange(6)))
    expected = loop_sums(raw, filled, np.arange(6))
    assert_fields(got, expected)
    assert got.meter_id.tolist() == IDS.tolist()
    for name in ("n_readings", "interpolated", "complete_days", "weekend_days", "cell_count",
                 "month_days", "superseded_exact", "superseded_conflicting"):
        assert np.issubdtype(getattr(got, name).dtype, np.integer), name
    # B: the two filled cells count as interpolated, day 4 (a missing value) is not complete
    assert got.interpolated.tolist() == [0, 2, 0, 0, 0]
    assert got.complete_days.tolist() == [6, 5, 0, 1, 5]
    # C has no reading: its extremes are unknown, not 0
    assert np.isnan(got.raw_max[2]) and np.isnan(got.raw_min[2]) and np.isnan(got.cell_max[2])
    # E's largest reading lies on an incomplete day: the interval maximum ignores it
    assert got.raw_max[4] == 9.0 and got.cell_max[4] < 9.0


def expected_low(values: np.ndarray, share: float | None) -> tuple[np.ndarray, float]:
    """The lowest ceil(share x n) + 2 values, sorted, and the largest kept when some are left
    out (+inf when every value is kept)."""
    n = len(values)
    keep = n if share is None else min(n, math.ceil(n * share) + 2)
    return np.sort(values)[:keep], (np.sort(values)[keep - 1] if keep < n else np.inf)


@pytest.mark.parametrize("share", [sums.TAIL_SHARE, 0.5, None])
def test_a_span_keeps_its_lowest_ceil_share_plus_two_values(share):
    raw, filled = matrices()
    got = sums.span_sums(IDS, raw, filled, calendar(np.arange(6)), tail_share=share)
    for i, values in enumerate(loop_sums(raw, filled, np.arange(6))["values"]):
        low, cut = expected_low(values, share)
        assert np.array_equal(got.low[i], low), (IDS[i], share)
        assert got.low_cut[i] == cut, (IDS[i], share)
    if share is sums.TAIL_SHARE:
        # A (24 values) keeps 10; D (one day, 4 values) keeps every value: no cut
        assert [len(x) for x in got.low] == [10, 9, 0, 4, 9]
        assert got.low_cut[3] == np.inf and got.low_cut[0] < np.inf


def test_a_long_span_keeps_exactly_its_lowest_values_in_any_order_given():
    """A month of half-hours in random order: the kept values are the lowest
    ceil(n / 3) + 2, sorted, and the cut the largest of them, however numpy's selection
    leaves the values it did not sort (small rows come out of it sorted anyway)."""
    rng = np.random.default_rng(11)
    days, points = 30, 48
    values = rng.gamma(2, 0.3, (3, days * points))
    cal = sums.Calendar(day=np.repeat(np.arange(days), points),
                        point=np.tile(np.arange(points), days),
                        weekend_day=np.zeros(days, bool), month_day=np.ones(days, int),
                        points=points)
    got = sums.span_sums(np.array(["A", "B", "C"], object), values, values, cal)
    for i in range(3):
        low, cut = expected_low(values[i], sums.TAIL_SHARE)
        assert len(low) == 482 and np.array_equal(got.low[i], low), i
        assert got.low_cut[i] == cut, i


def test_meters_asked_to_keep_every_value_keep_them():
    raw, filled = matrices()
    got = sums.span_sums(IDS, raw, filled, calendar(np.arange(6)),
                         keep_all=np.array([True, False, False, False, True]))
    values = loop_sums(raw, filled, np.arange(6))["values"]
    assert np.array_equal(got.low[0], values[0]) and got.low_cut[0] == np.inf
    assert np.array_equal(got.low[4], values[4]) and got.low_cut[4] == np.inf
    assert np.array_equal(got.low[1], expected_low(values[1], sums.TAIL_SHARE)[0])


def test_superseded_readings_are_passed_through_per_meter():
    raw, filled = matrices()
    got = sums.span_sums(IDS, raw, filled, calendar(np.arange(6)),
                         superseded=(np.array([1, 0, 2, 0, 0]), np.array([0, 3, 0, 0, 4])))
    assert got.superseded_exact.tolist() == [1, 0, 2, 0, 0]
    assert got.superseded_conflicting.tolist() == [0, 3, 0, 0, 4]
    none = sums.span_sums(IDS, raw, filled, calendar(np.arange(6)))
    assert none.superseded_exact.tolist() == none.superseded_conflicting.tolist() == [0] * 5


def spans_of(raw, filled, cuts, drop=None) -> list[sums.MeterSums]:
    """The six days cut into spans of whole days at ``cuts``; ``drop``: {span: meter rows
    that span does not hold} (a meter without readings there is simply absent)."""
    out = []
    for k, days in enumerate(np.split(np.arange(6), cuts)):
        cells = np.isin(DAY_OF_CELL, days)
        rows = np.array([i not in (drop or {}).get(k, ()) for i in range(len(IDS))])
        out.append(sums.span_sums(IDS[rows], raw[rows][:, cells], filled[rows][:, cells],
                                  calendar(days)))
    return out


@pytest.mark.parametrize("cuts", [[1], [2, 5], [1, 2, 3, 4, 5]])
def test_combined_spans_equal_the_whole_span(cuts):
    """sums add, extremes take the extreme, the spread of daily totals merges exactly."""
    raw, filled = matrices()
    whole = sums.span_sums(IDS, raw, filled, calendar(np.arange(6)), tail_share=None)
    # C has nothing anywhere, D nothing outside day 2: absent from those spans' meter lists
    drop = {k: [2] + ([3] if 2 not in days else []) for k, days in
            enumerate(np.split(np.arange(6), cuts))}
    parts = spans_of(raw, filled, cuts, drop)
    total = sums.combine(parts + [sums.MeterSums.empty(POINTS)], IDS, POINTS)
    expected = loop_sums(raw, filled, np.arange(6))
    assert_fields(total, expected)
    assert total.meter_id.tolist() == IDS.tolist()
    for name in ("complete_days", "n_readings", "cell_count", "month_days"):
        assert np.array_equal(getattr(total, name), getattr(whole, name)), name
    # the kept values are the spans' own, together; the cut is the lowest span's cut
    for i in range(len(IDS)):
        kept = np.concatenate([p.low[list(p.meter_id).index(IDS[i])] for p in parts
                               if IDS[i] in p.meter_id] or [np.empty(0)])
        assert np.array_equal(np.sort(total.low[i]), np.sort(kept)), IDS[i]
        cuts_i = [p.low_cut[list(p.meter_id).index(IDS[i])] for p in parts if IDS[i] in p.meter_id]
        assert total.low_cut[i] == min(cuts_i, default=np.inf), IDS[i]


def test_combining_nothing_is_the_neutral_element():
    total = sums.combine([], IDS, POINTS)
    assert total.meter_id.tolist() == IDS.tolist()
    for f in fields(total):
        value = getattr(total, f.name)
        assert len(value) == len(IDS), f.name
    assert np.isnan(total.raw_max).all() and np.isnan(total.raw_min).all()
    assert np.isnan(total.cell_max).all() and (total.low_cut == np.inf).all()
    assert total.points.shape == (5, POINTS) and total.month_sum.shape == (5, 12)
    assert all(len(x) == 0 for x in total.low)
    for name in ("n_readings", "complete_days", "daily_sum", "daily_m2", "cell_sum",
                 "cell_count", "superseded_exact"):
        assert not getattr(total, name).any(), name
    # a meter with a single span is that span, whatever came before it
    raw, filled = matrices()
    one = sums.span_sums(IDS, raw, filled, calendar(np.arange(6)))
    again = sums.combine([sums.MeterSums.empty(POINTS), one], IDS, POINTS)
    assert_fields(again, loop_sums(raw, filled, np.arange(6)))
    assert np.array_equal(again.low_cut, one.low_cut)
    # neutral in type too: counts stay integers and ids stay Python objects, whichever comes first
    for f in fields(total):
        assert getattr(total, f.name).dtype == getattr(one, f.name).dtype, f.name
        assert getattr(again, f.name).dtype == getattr(one, f.name).dtype, f.name


def test_the_zeros_of_one_meter_list_are_not_shared():
    """``reindex`` writes into the zeros: two fields (or two calls) must not share an array."""
    a = sums.zeros(IDS, POINTS)
    a.daily_sum[0] = 1.0
    a.n_readings[0] = 1
    a.points[0, 0] = 1.0
    assert a.daily_m2[0] == 0 and a.cell_sum[0] == 0 and a.weekday_daily_sum[0] == 0
    assert a.interpolated[0] == 0 and a.complete_days[0] == 0 and a.superseded_exact[0] == 0
    assert a.points_weekday[0, 0] == 0 and a.points_weekend[0, 0] == 0
    assert sums.zeros(IDS, POINTS).daily_sum[0] == 0


def test_reindex_puts_each_meter_on_its_row_and_refuses_a_stranger():
    raw, filled = matrices()
    one = sums.span_sums(IDS[[1, 3]], raw[[1, 3]], filled[[1, 3]], calendar(np.arange(6)))
    wide = sums.reindex(one, IDS, POINTS)
    assert wide.meter_id.tolist() == IDS.tolist()
    assert wide.n_readings.tolist() == [0, one.n_readings[0], 0, one.n_readings[1], 0]
    assert np.array_equal(wide.points[3], one.points[1])
    assert np.array_equal(wide.low[1], one.low[0]) and len(wide.low[0]) == 0
    assert np.isnan(wide.raw_max[0]) and wide.raw_max[1] == one.raw_max[0]
    for ids in (np.array(["A", "B", "Z"], object), np.array(["A", "BB", "C"], object),
                np.array(["0", "B", "D"], object)):
        stranger = sums.span_sums(ids, raw[:3], filled[:3], calendar(np.arange(6)))
        with pytest.raises(ValueError, match="not in the meter list"):
            sums.reindex(stranger, IDS, POINTS)
    assert len(sums.reindex(sums.MeterSums.empty(POINTS), IDS, POINTS)) == len(IDS)


def test_take_keeps_the_rows_of_every_field():
    raw, filled = matrices()
    one = sums.span_sums(IDS, raw, filled, calendar(np.arange(6)))
    part = one.take(np.array([False, True, False, True, False]))
    assert part.meter_id.tolist() == ["B", "D"] and len(part) == 2
    for f in fields(one):
        assert len(getattr(part, f.name)) == 2, f.name
    assert np.array_equal(part.points, one.points[[1, 3]])


# ---------------------------------------------------------------- the base load

def kept_all(values_per_meter: list[np.ndarray]) -> sums.MeterSums:
    """Sums that keep every value of each meter (one span of one-point days)."""
    total = sums.zeros(np.array([f"M{i}" for i in range(len(values_per_meter))], object), 1)
    total.low = sums._objects([np.asarray(v, float) for v in values_per_meter])
    total.cell_count = np.array([len(v) for v in values_per_meter], np.int64)
    return total


@pytest.mark.parametrize("q", [0, 10, 25, 37.5, 50, 90, 100])
def test_low_percentile_is_numpys_linear_rule(q):
    rng = np.random.default_rng(3)
    values = [rng.gamma(2, 0.3, n) for n in (1, 2, 3, 7, 10, 11, 12, 41, 400)]
    got, exact, needed = sums.low_percentile(kept_all([rng.permutation(v) for v in values]), q)
    assert exact.all()
    assert np.allclose(got, [np.percentile(v, q) for v in values], rtol=1e-14, atol=0)
    # the value each span must reach is the upper of the two order statistics used
    assert needed.tolist() == [np.sort(v)[math.ceil((len(v) - 1) * q / 100)] for v in values]


def test_the_default_percentile_is_the_tenth():
    rng = np.random.default_rng(4)
    values = [rng.gamma(2, 0.3, n) for n in (5, 23, 100)]
    got, _, _ = sums.low_percentile(kept_all(values))
    assert np.allclose(got, [np.percentile(v, 10) for v in values], rtol=1e-14, atol=0)


def test_a_meter_without_complete_days_has_no_base_load_and_needs_nothing():
    got, exact, needed = sums.low_percentile(kept_all([np.empty(0), np.array([2.0, 1.0])]))
    assert np.isnan(got[0]) and exact[0] and needed[0] == -np.inf
    assert got[1] == pytest.approx(1.1)


def test_a_meter_whose_base_load_is_not_known_leaves_the_next_meters_theirs():
    """Each meter's percentile is its own: one that kept too few values for the rank (to be
    read again) does not keep the meters after it from theirs."""
    total = kept_all([np.array([0.1, 0.2]), np.array([2.0, 1.0, 3.0])])
    total.cell_count[0] = 30       # 2 of 30 values kept: the 10th percentile needs ranks 2 and 3
    total.low_cut[0] = 0.2
    got, exact, needed = sums.low_percentile(total)
    assert not exact[0] and np.isnan(got[0]) and needed[0] == np.inf
    assert exact[1] and got[1] == pytest.approx(np.percentile([1.0, 2.0, 3.0], 10))


def test_too_few_kept_values_for_the_rank_is_not_exact():
    """One span of 30 values keeps 12: the median (ranks 14 and 15) cannot be known; the 10th
    percentile (ranks 2 and 3) can."""
    values = np.arange(30, dtype=float)[::-1] / 10
    one = sums.span_sums(np.array(["A"], object), values[None, :], values[None, :],
                         sums.Calendar(day=np.zeros(30, int), point=np.arange(30) % 3,
                                       weekend_day=np.array([False]), month_day=np.array([1]),
                                       points=3))
    assert len(one.low[0]) == 12 and one.low_cut[0] == pytest.approx(1.1)
    got, exact, needed = sums.low_percentile(one, 50)
    assert not exact[0] and np.isnan(got[0]) and needed[0] == np.inf
    got, exact, needed = sums.low_percentile(one, 10)
    assert exact[0] and got[0] == pytest.approx(np.percentile(values, 10))
    assert needed[0] == pytest.approx(0.3)
    # the upper order statistic exactly at the cut is still known; beyond it is not
    got, exact, needed = sums.low_percentile(one, 100 * 11 / 29)
    assert exact[0] and needed[0] == one.low_cut[0]
    assert got[0] == pytest.approx(np.percentile(values, 100 * 11 / 29))
    _, exact, _ = sums.low_percentile(one, 100 * 11.5 / 29)
    assert not exact[0]


# ---------------------------------------------------------------- months: spans, keys, files

ZONE = "Europe/London"


def spans_of_window(first: str, last: str, max_gap: int = 120) -> dict[str, months.MonthSpan]:
    return {s.label: s for s in months.month_spans(DayCalendar.spanning(first, last, ZONE), max_gap)}


@pytest.mark.parametrize("max_gap, days", [(0, 1), (120, 1), (1439, 1), (1440, 2), (2880, 3)])
def test_a_month_is_read_with_a_day_each_side_and_more_for_longer_gaps(max_gap, days):
    """A gap of up to ``max_gap`` minutes next to a month's first interval is filled from the
    reading before it, up to ``max_gap`` + one interval earlier: a gap of a whole day needs
    two days of context."""
    assert months.context_days(max_gap) == days


def test_a_month_is_interior_only_when_its_context_lies_inside_the_window():
    # the window starts on the day before February: February's context fits, exactly
    spans = spans_of_window("2024-01-31", "2024-03-01")
    assert [(s.label, s.interior) for s in spans.values()] == [
        ("2024-01", False), ("2024-02", True), ("2024-03", False)]
    feb = spans["2024-02"]
    assert (str(feb.first), str(feb.last)) == ("2024-02-01", "2024-02-29")
    assert (str(feb.read_first), str(feb.read_last)) == ("2024-01-31", "2024-03-01")
    # a window starting on the 1st (or ending on the last day) leaves that month's context out
    spans = spans_of_window("2024-02-01", "2024-02-29")
    assert [(s.label, s.interior) for s in spans.values()] == [("2024-02", False)]
    spans = spans_of_window("2024-01-31", "2024-02-29")
    assert not spans["2024-02"].interior and str(spans["2024-02"].read_last) == "2024-02-29"
    spans = spans_of_window("2024-02-01", "2024-03-01")
    assert not spans["2024-02"].interior and str(spans["2024-02"].read_first) == "2024-02-01"
    # the edge months' read days are clipped to the window on both sides
    jan = spans_of_window("2024-01-31", "2024-03-01")["2024-01"]
    assert (str(jan.first), str(jan.last), str(jan.read_first), str(jan.read_last)) == (
        "2024-01-31", "2024-01-31", "2024-01-31", "2024-02-01")


def test_the_cache_key_changes_with_each_setting_on_its_own(monkeypatch):
    key = months.cache_key(30, ZONE, 120)
    assert len(key) == 16 and int(key, 16) >= 0 and key == months.cache_key(30, ZONE, 120)
    others = {months.cache_key(60, ZONE, 120), months.cache_key(30, "Europe/Zurich", 120),
              months.cache_key(30, ZONE, 180)}
    assert key not in others and len(others) == 3
    monkeypatch.setattr(months, "VERSION", months.VERSION + 1)
    assert months.cache_key(30, ZONE, 120) != key


class Ledger:
    """A store that only answers ``ledger()``."""

    def __init__(self, entries: dict):
        self.entries = entries

    def ledger(self) -> dict:
        return self.entries


def us(text: str) -> int:
    return pd.Timestamp(text).value // 1000


def test_file_spans_name_each_file_by_sha_and_order_of_ingestion():
    store = Ledger({
        "a" * 64: {"seq": 5, "first_reading_utc": "2024-01-01T00:00:00+00:00",
                   "last_reading_utc": "2024-01-31T23:30:00+00:00"},
        "b" * 64: {"seq": 7, "first_reading_utc": None, "last_reading_utc": None},
        "c" * 64: {"seq": 9},
    })
    assert months.file_spans(store) == [
        ("a" * 16 + ":5", us("2024-01-01T00:00:00+00:00"), us("2024-01-31T23:30:00+00:00"))]


def test_identity_names_the_files_that_may_enter_the_read_days():
    """The read days of February (Jan 31 .. Mar 1, local): a file overlapping them by one
    microsecond enters, a file that ends before or starts after does not."""
    feb = spans_of_window("2024-01-15", "2024-03-15")["2024-02"]
    lo = us("2024-01-31T00:00:00+00:00")       # London midnight, winter: UTC
    hi = us("2024-03-02T00:00:00+00:00")
    files = [("z:1", lo - 10, lo), ("y:2", lo - 10, lo - 1), ("x:3", hi - 1, hi + 5),
             ("w:4", hi, hi + 5), ("v:5", lo - 5, hi + 5), ("u:6", lo + 5, lo + 6)]
    assert months.identity(files, feb, ZONE) == ["u:6", "v:5", "x:3", "z:1"]


def test_identity_follows_the_local_midnights():
    """In summer London's midnight is 23:00 UTC the day before."""
    jul = spans_of_window("2024-06-01", "2024-08-31")["2024-07"]     # read Jun 30 .. Aug 1
    lo, hi = us("2024-06-29T23:00:00+00:00"), us("2024-08-01T23:00:00+00:00")
    files = [("a:1", lo - 60, lo - 1), ("b:2", lo - 60, lo), ("c:3", hi - 1, hi),
             ("d:4", hi, hi + 1)]
    assert months.identity(files, jul, ZONE) == ["b:2", "c:3"]


def some_sums() -> sums.MeterSums:
    raw, filled = matrices()
    return sums.span_sums(IDS, raw, filled, calendar(np.arange(6)),
                          superseded=(np.array([1, 0, 2, 0, 0]), np.array([0, 3, 0, 0, 4])))


def assert_same_sums(got: sums.MeterSums, expected: sums.MeterSums) -> None:
    for f in fields(expected):
        a, b = getattr(got, f.name), getattr(expected, f.name)
        if f.name == "low":
            assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
        elif f.name == "meter_id":
            assert a.tolist() == b.tolist() and a.dtype == object
        else:
            assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), f.name
            assert a.dtype == b.dtype, f.name


def test_a_months_sums_come_back_from_parquet_as_they_were(tmp_path):
    path = tmp_path / "m.parquet"
    for original in (some_sums(), sums.MeterSums.empty(POINTS)):
        pq.write_table(months.to_table(original, {"identity": ["a:1"], "month": "2024-02"}), path)
        assert_same_sums(months.from_table(pq.read_table(path)), original)
        assert months.metadata(path) == {"identity": ["a:1"], "month": "2024-02"}


def test_metadata_of_a_missing_unreadable_or_plain_file_is_none(tmp_path):
    assert months.metadata(tmp_path / "missing.parquet") is None
    (tmp_path / "torn.parquet").write_bytes(b"PAR1 not a parquet file")
    assert months.metadata(tmp_path / "torn.parquet") is None
    pq.write_table(pa.table({"a": [1]}), tmp_path / "plain.parquet")
    assert months.metadata(tmp_path / "plain.parquet") is None


class Folder:
    """A store that only has a dataset folder."""

    def __init__(self, path):
        self.dataset_dir = path


def test_a_months_sums_are_reused_only_while_its_files_are_the_same(tmp_path):
    feb = spans_of_window("2024-01-15", "2024-03-15")["2024-02"]
    cache = months.MonthCache(Folder(tmp_path), 3, "k" * 16)
    assert cache.load(feb, ["a:1"]) is None                      # never saved
    cache.save(feb, ["a:1", "b:2"], some_sums())
    assert (tmp_path / "months" / ("k" * 16) / "shard=03" / "2024-02.parquet").exists()
    assert_same_sums(cache.load(feb, ["a:1", "b:2"]), some_sums())
    for files in (["a:1"], ["a:1", "b:2", "c:3"], ["a:1", "b:3"], []):
        assert cache.load(feb, files) is None, files
    # another shard, another key: not the same month
    assert months.MonthCache(Folder(tmp_path), 4, "k" * 16).load(feb, ["a:1", "b:2"]) is None
    assert months.MonthCache(Folder(tmp_path), 3, "j" * 16).load(feb, ["a:1", "b:2"]) is None
    (tmp_path / "months" / ("k" * 16) / "shard=03" / "2024-02.parquet").write_bytes(b"torn")
    assert cache.load(feb, ["a:1", "b:2"]) is None               # unreadable: recomputed


# ---------------------------------------------------------------- a store made by hand

def write_store(root, files: list[dict], timezone: str = ZONE) -> ReadingsStore:
    """A one-shard store of day vectors written directly: each file ``{"sha", "seq",
    "resolution", "rows": [(meter, "YYYY-MM-DD", kwh list)], "layout": "month" | "flat"}``
    gets its parts (one per local month, or one at the shard's root for the older layout)
    and its ledger entry, whose first and last readings are those of its rows."""
    write_json_atomic({"n_shards": 1, "timezone": timezone, "layout": LAYOUT},
                      root / "days" / "_store.json")
    for f in files:
        slots = slots_per_day(f["resolution"])
        frame = pd.DataFrame(
            [{"meter_id": m, "day": pd.Timestamp(d).date(),
              "n_readings": int(np.count_nonzero(~np.isnan(np.asarray(v, float)))),
              "n_quarantined": 0,
              "kwh": list(np.asarray(v, float)) + [np.nan] * (slots - len(v))}
             for m, d, v in f["rows"]])
        groups = ([("flat", frame)] if f.get("layout") == "flat" else
                  list(frame.groupby(frame["day"].map(lambda d: d.strftime("%Y-%m")))))
        for month, part in groups:
            folder = root / "days" / "shard=00"
            folder = folder if month == "flat" else folder / f"month={month}"
            folder.mkdir(parents=True, exist_ok=True)
            schema = day_schema(f["resolution"])     # NaN stays NaN (no reading), not null
            pq.write_table(pa.table([pa.array(part[c].tolist(), schema.field(c).type,
                                              from_pandas=False) for c in schema.names],
                                    schema=schema), folder / f"part-{f['sha'][:16]}.parquet")
        instants = [pd.Timestamp(d).tz_localize(timezone) + pd.Timedelta(minutes=f["resolution"] * i)
                    for _, d, v in f["rows"] for i, x in enumerate(v) if not np.isnan(x)]
        write_json_atomic({"sha256": f["sha"], "seq": f["seq"], "resolution_min": f["resolution"],
                           "path": f"{f['sha'][:4]}.csv", "rows_in": 0, "rows_stored": 0,
                           "quarantined_by_reason": {},
                           "first_reading_utc": min(instants).tz_convert("UTC").isoformat(),
                           "last_reading_utc": max(instants).tz_convert("UTC").isoformat()},
                          root / "days" / "_ledger" / f"{f['sha']}.json")
    return ReadingsStore(root)


def brute_counts(files: list[dict], first: str, last: str) -> dict:
    """Readings per meter inside [first, last] and outside, from the rows themselves."""
    out: dict[str, list[int]] = {}
    for f in files:
        for meter, day, v in f["rows"]:
            n = int(np.count_nonzero(~np.isnan(np.asarray(v, float))))
            inside = first <= day <= last
            out.setdefault(meter, [0, 0])[0 if inside else 1] += n
    return {m: tuple(c) for m, c in sorted(out.items())}


def counted(store, first: str, last: str) -> dict:
    frame = months.stored_counts(store, 0, np.datetime64(first), np.datetime64(last))
    assert list(frame.columns) == ["n_in", "n_out"] and list(frame.index) == sorted(frame.index)
    assert all(np.issubdtype(t, np.integer) for t in frame.dtypes)      # counts, not floats
    return {m: (int(r.n_in), int(r.n_out)) for m, r in frame.iterrows()}


def day_rows(meter: str, first: str, last: str, kwh: float, n: int = 24) -> list[tuple]:
    return [(meter, str(d.date()), [kwh] * n) for d in pd.date_range(first, last)]


def test_stored_counts_count_each_meters_readings_inside_and_outside_the_window(tmp_path):
    """Month folders wholly outside (January, May), wholly inside (March), the window's
    edge months (February, April) and a part of the older layout; a part whose file is not
    in the ledger does not count."""
    files = [
        {"sha": "f" * 64, "seq": 1, "resolution": 60,
         "rows": day_rows("A", "2024-01-20", "2024-05-10", 0.5)
         + [("B", "2024-02-09", [0.1] * 20 + [np.nan] * 4), ("B", "2024-02-10", [0.2] * 24)]},
        {"sha": "0" * 64, "seq": 2, "resolution": 60,
         "rows": day_rows("B", "2024-03-01", "2024-03-03", 0.3)
         + [("C", "2024-04-20", [0.4] * 24), ("C", "2024-04-21", [0.4] * 10)]},
        {"sha": "9" * 64, "seq": 3, "resolution": 60, "layout": "flat",
         "rows": [("A", "2024-01-02", [1.0] * 24), ("D", "2024-03-05", [1.0] * 7)]},
    ]
    store = write_store(tmp_path, files)
    orphan = tmp_path / "days" / "shard=00" / "month=2024-03" / ("part-" + "e" * 16 + ".parquet")
    orphan.write_bytes((orphan.parent / ("part-" + "0" * 16 + ".parquet")).read_bytes())
    # a month holding only a part whose ledger entry was never written (an interrupted
    # ingestion): nothing counts there, on the first run and on the next
    (tmp_path / "days" / "shard=00" / "month=2024-06").mkdir()
    (tmp_path / "days" / "shard=00" / "month=2024-06" / orphan.name).write_bytes(orphan.read_bytes())
    expected = brute_counts(files, "2024-02-10", "2024-04-20")
    assert counted(store, "2024-02-10", "2024-04-20") == expected
    assert expected["B"] == (24 + 72, 20) and expected["C"] == (24, 10)
    # the months wholly inside or outside are kept, and give the same counts again
    kept = sorted(p.name for p in (tmp_path / "months" / "counts" / "shard=00").glob("*.parquet"))
    assert kept == ["2024-01.parquet", "2024-03.parquet", "2024-05.parquet", "2024-06.parquet"]
    assert counted(store, "2024-02-10", "2024-04-20") == expected
    # counted once: January's part is not read again while its name and file are the same
    january = tmp_path / "days" / "shard=00" / "month=2024-01" / ("part-" + "f" * 16 + ".parquet")
    content = january.read_bytes()
    january.write_bytes(b"not read again")
    assert counted(store, "2024-02-10", "2024-04-20") == expected
    january.write_bytes(content)
    # another window over the same kept months
    assert counted(store, "2024-01-25", "2024-03-02") == brute_counts(files, "2024-01-25",
                                                                       "2024-03-02")


def test_stored_counts_follow_a_file_added_or_read_again(tmp_path):
    files = [{"sha": "a" * 64, "seq": 1, "resolution": 60,
              "rows": day_rows("A", "2024-01-01", "2024-04-30", 0.5)}]
    store = write_store(tmp_path, files)
    assert counted(store, "2024-02-10", "2024-04-20") == brute_counts(files, "2024-02-10",
                                                                       "2024-04-20")
    # a late file for January (outside) and March (inside)
    files.append({"sha": "b" * 64, "seq": 2, "resolution": 60,
                  "rows": [("A", "2024-01-05", [0.1] * 24), ("E", "2024-03-07", [0.1] * 5)]})
    store = write_store(tmp_path, files)
    assert counted(store, "2024-02-10", "2024-04-20") == brute_counts(files, "2024-02-10",
                                                                       "2024-04-20")
    # the first file read again with other settings: same name, fewer readings, a later seq
    files[0] = {"sha": "a" * 64, "seq": 3, "resolution": 60,
                "rows": day_rows("A", "2024-01-01", "2024-04-30", 0.5)[1:]}
    for old in (tmp_path / "days").rglob("part-" + "a" * 16 + ".parquet"):
        old.unlink()
    store = write_store(tmp_path, files)
    assert counted(store, "2024-02-10", "2024-04-20") == brute_counts(files, "2024-02-10",
                                                                       "2024-04-20")


def test_an_empty_shard_counts_nothing(tmp_path):
    store = write_store(tmp_path, [])
    assert counted(store, "2024-01-01", "2024-01-31") == {}


# ---------------------------------------------------------------- pipeline: reading a range


def local_window(first_day: str, last_day: str, resolution: int):
    """The window of local days ``first_day`` .. ``last_day`` (London)."""
    first = pd.Timestamp(first_day).tz_localize(ZONE).tz_convert("UTC")
    last = (pd.Timestamp(last_day) + pd.Timedelta(hours=23)).tz_localize(ZONE).tz_convert("UTC")
    return make_window(first, last, 10_000, resolution, ZONE)


def test_the_file_ingested_last_wins_whatever_its_hash_and_supersedes_by_reason(tmp_path):
    """Two files cover A's 10 January; the later one (by order of ingestion, its hash sorts
    first) has 12 equal readings, 6 different ones and leaves 6 intervals to the earlier."""
    later = [1.0] * 12 + [2.0] * 6 + [np.nan] * 6
    files = [{"sha": "f" * 64, "seq": 1, "resolution": 60,
              "rows": [("A", "2024-01-10", [1.0] * 24), ("A", "2024-01-08", [5.0] * 24),
                       ("C", "2024-01-13", [1.0] * 24), ("Z", "2024-01-05", [1.0] * 24)]},
             {"sha": "1" * 64, "seq": 2, "resolution": 60,
              "rows": [("A", "2024-01-10", later), ("B", "2024-01-11", [0.5] * 24)]}]
    store = write_store(tmp_path, files)
    window = local_window("2024-01-09", "2024-01-12", 60)
    got = pipeline.read_range(store, 0, window)
    assert got.meters.tolist() == ["A", "B"]            # C, Z and A's 8 January: outside
    assert got.values.shape == (2, 96)
    a_day = got.values[0, 24:48]
    assert a_day.tolist() == [1.0] * 12 + [2.0] * 6 + [1.0] * 6
    assert np.isnan(got.values[0, :24]).all() and np.isnan(got.values[0, 48:]).all()
    assert got.exact.tolist() == [[0, 12, 0, 0], [0, 0, 0, 0]]
    assert got.exact.dtype == got.conflicting.dtype == np.int64          # counts
    assert got.conflicting.tolist() == [[0, 6, 0, 0], [0, 0, 0, 0]]
    assert got.values[1, 48:72].tolist() == [0.5] * 24
    # the other order of ingestion: the first file's readings win and the 6 differ again
    files[0]["seq"], files[1]["seq"] = 3, 2
    store = write_store(tmp_path, files)
    again = pipeline.read_range(store, 0, window)
    assert again.values[0, 24:48].tolist() == [1.0] * 24
    assert again.exact.sum() == 12 and again.conflicting.sum() == 6


def test_a_range_without_readings_in_the_shard_is_empty(tmp_path):
    files = [{"sha": "a" * 64, "seq": 1, "resolution": 60,
              "rows": [("A", "2024-01-10", [1.0] * 24)]}]
    got = pipeline.read_range(write_store(tmp_path, files), 0,
                              local_window("2024-03-01", "2024-03-02", 60))
    assert got.meters.tolist() == [] and got.values.shape == (0, 48)
    assert got.exact.shape == got.conflicting.shape == (0, 2)


def test_a_file_without_readings_in_the_range_does_not_stop_the_later_ones(tmp_path):
    """The first file ingested has January days, none of them in the range: the files after
    it are read all the same."""
    files = [{"sha": "a" * 64, "seq": 1, "resolution": 60,
              "rows": [("A", "2024-01-02", [1.0] * 24)]},
             {"sha": "b" * 64, "seq": 2, "resolution": 60,
              "rows": [("A", "2024-01-10", [2.0] * 24)]}]
    window = local_window("2024-01-09", "2024-01-10", 60)
    got = pipeline.read_range(write_store(tmp_path, files), 0, window)
    assert got.meters.tolist() == ["A"] and got.values[0, 24:].tolist() == [2.0] * 24
    assert [str(d) for d in got.days.dates()] == ["2024-01-09", "2024-01-10"]


def test_a_finer_file_is_read_at_the_stores_coarsest_resolution(tmp_path):
    """A half-hourly file in a store with an hourly one: each hour is the sum of its two
    half hours, or the one that has a reading; NaN when neither has."""
    half = [0.25] * 48
    half[2] = np.nan                      # 01:00-01:30 missing: 01:00 is 0.25
    half[4] = half[5] = np.nan            # 02:00 missing
    files = [{"sha": "a" * 64, "seq": 1, "resolution": 60,
              "rows": [("A", "2024-01-09", [1.0] * 24)]},
             {"sha": "b" * 64, "seq": 2, "resolution": 30,
              "rows": [("A", "2024-01-10", half)]}]
    store = write_store(tmp_path, files)
    got = pipeline.read_range(store, 0, local_window("2024-01-09", "2024-01-10", 60))
    day = got.values[0, 24:48]
    assert day[0] == 0.5 and day[1] == 0.25 and np.isnan(day[2]) and (day[3:] == 0.5).all()
    assert pipeline.coarsen_days(np.arange(12.0).reshape(2, 6), 1).tolist() == \
        np.arange(12.0).reshape(2, 6).tolist()
    # a day vector holds 25 hours (50 half hours): the last odd slot is dropped, not wrapped
    assert pipeline.coarsen_days(np.ones((1, 5)), 2).tolist() == [[2.0, 2.0]]


def test_a_dst_day_is_read_on_its_own_length(tmp_path):
    """London's 31 March 2024 has 23 hours and 27 October 25: the cells follow."""
    files = [{"sha": "a" * 64, "seq": 1, "resolution": 60,
              "rows": [("A", "2024-03-30", [1.0] * 24), ("A", "2024-03-31", [2.0] * 23),
                       ("A", "2024-04-01", [3.0] * 24)]}]
    got = pipeline.read_range(write_store(tmp_path, files), 0,
                              local_window("2024-03-30", "2024-04-01", 60))
    assert got.values.shape == (1, 71) and got.offset.tolist() == [0, 24, 47]
    assert got.values[0].tolist() == [1.0] * 24 + [2.0] * 23 + [3.0] * 24


def span(label: str, first: str, last: str) -> months.MonthSpan:
    return months.MonthSpan(label, np.datetime64(first), np.datetime64(last), np.datetime64(first),
                            np.datetime64(last), True)


def test_consecutive_months_are_read_in_one_pass():
    jan, feb = span("2024-01", "2024-01-01", "2024-01-31"), span("2024-02", "2024-02-01", "2024-02-29")
    apr, may = span("2024-04", "2024-04-01", "2024-04-30"), span("2024-05", "2024-05-01", "2024-05-31")
    assert pipeline._runs([jan, feb, apr, may]) == [[jan, feb], [apr, may]]
    assert pipeline._runs([jan, apr]) == [[jan], [apr]]
    assert pipeline._runs([]) == []
    # a month of the window that starts late still follows the month before it
    late = span("2024-03", "2024-03-01", "2024-03-31")
    assert pipeline._runs([feb, late, apr]) == [[feb, late, apr]]


def test_days_window_is_the_grid_of_those_local_days():
    window = local_window("2024-03-01", "2024-04-30", 30)
    part = pipeline.days_window(window, np.datetime64("2024-03-30"), np.datetime64("2024-04-01"))
    assert part.start == pd.Timestamp("2024-03-30 00:00", tz="UTC")
    assert part.end == pd.Timestamp("2024-04-01 23:00", tz="UTC")      # BST midnight
    assert part.n_cells == 48 + 46 + 48 and part.resolution == 30 and part.timezone == ZONE
    days = pipeline.window_days(window)
    assert days.n_days == 61 and str(days.dates()[0]) == "2024-03-01"
    assert str(days.dates()[-1]) == "2024-04-30"
    # east of Greenwich a local midnight is the day before in UTC: the days stay local
    zurich = make_window(pd.Timestamp("2023-12-31 23:00", tz="UTC"),
                         pd.Timestamp("2024-01-03 22:00", tz="UTC"), 10_000, 60, "Europe/Zurich")
    days = pipeline.window_days(zurich)
    assert [str(d) for d in days.dates()] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert days.start_us[0] == us("2023-12-31 23:00+00:00")
    # west of it the window's last instant is the next day in UTC
    york = make_window(pd.Timestamp("2024-01-01 05:00", tz="UTC"),
                       pd.Timestamp("2024-01-04 04:00", tz="UTC"), 10_000, 60, "America/New_York")
    days = pipeline.window_days(york)
    assert [str(d) for d in days.dates()] == ["2024-01-01", "2024-01-02", "2024-01-03"]


# ---------------------------------------------------------------- pipeline: the accounting

def entry(rows_in: int, stored: int, **by_reason) -> dict:
    return {"rows_in": rows_in, "rows_stored": stored, "quarantined_by_reason": by_reason}


def shard(used: int, quarantined_meters: int, outside: int, exact: int = 0,
          conflicting: int = 0) -> dict:
    by_reason = {k: v for k, v in (("exact duplicate", exact),
                                   ("conflicting duplicate", conflicting)) if v}
    return {"readings_in_window": used + quarantined_meters + exact + conflicting,
            "readings_outside_window": outside, "readings_superseded": exact + conflicting,
            "readings_superseded_by_reason": by_reason, "readings_used": used,
            "readings_of_quarantined_meters": quarantined_meters, "interpolated_intervals": 3,
            "missing_intervals": 4, "meters_segmentable": 2, "meters_quarantined": 1}


def test_store_counts_add_every_files_readings_and_reasons():
    store = Ledger({"a": entry(100, 90, negative=6, implausible=4),
                    "b": entry(50, 49, negative=1), "c": entry(7, 7)})
    assert pipeline.store_counts(store) == {
        "files": 3, "readings_in": 157, "readings_stored": 146,
        "ingest_quarantined_by_reason": {"negative": 7, "implausible": 4}}


def test_readings_in_are_used_quarantined_superseded_of_quarantined_meters_or_outside():
    store = Ledger({"a": entry(100, 90, negative=6, implausible=4), "b": entry(64, 64)})
    shards = [shard(50, 10, 5, exact=3, conflicting=2), shard(60, 7, 13, exact=4)]
    meters = pd.DataFrame({"meter_id": ["x", "y", "z"], "n_readings": [10, 4, 3],
                           "reason": ["all readings are zero", "too little data: 1 of 9 days",
                                      "too little data: 2 of 9 days"]})
    counts = pipeline.reading_accounting(store, shards, meters)
    assert counts == {
        "files": 2, "readings_in": 164, "readings_used": 110, "readings_quarantined": 10,
        "readings_quarantined_by_reason": {"implausible": 4, "negative": 6},
        "readings_superseded": 9,
        "readings_superseded_by_reason": {"conflicting duplicate": 2, "exact duplicate": 7},
        "readings_of_quarantined_meters": 17,
        "readings_of_quarantined_meters_by_reason": {"all readings are zero": 10,
                                                     "too little data": 7},
        "readings_outside_window": 18, "interpolated_intervals": 6, "missing_intervals_left": 8,
        "meters_segmentable": 4, "meters_quarantined": 3, "reconciles": True}
    # a store of one shard: its counts are the run's
    one = pipeline.reading_accounting(Ledger({"a": entry(77, 77)}), [shard(50, 17, 10)], meters)
    assert (one["readings_used"], one["readings_of_quarantined_meters"],
            one["readings_outside_window"], one["reconciles"]) == (50, 17, 10, True)
    # one reading missing anywhere fails the run
    with pytest.raises(AssertionError, match="does not reconcile"):
        pipeline.reading_accounting(Ledger({"a": entry(161, 151, negative=10)}), shards, meters)
    with pytest.raises(AssertionError, match="does not reconcile"):
        pipeline.reading_accounting(store, [shards[0], shard(60, 7, 12, exact=4)], meters)


def test_a_store_without_shard_counts_reconciles_only_when_empty():
    empty = pd.DataFrame(columns=["meter_id", "n_readings", "reason"])
    counts = pipeline.reading_accounting(Ledger({}), [], empty)
    assert counts["readings_in"] == counts["readings_used"] == 0 and counts["reconciles"]
    assert counts == {
        "files": 0, "readings_in": 0, "readings_used": 0, "readings_quarantined": 0,
        "readings_quarantined_by_reason": {}, "readings_superseded": 0,
        "readings_superseded_by_reason": {}, "readings_of_quarantined_meters": 0,
        "readings_of_quarantined_meters_by_reason": {}, "readings_outside_window": 0,
        "interpolated_intervals": 0, "missing_intervals_left": 0, "meters_segmentable": 0,
        "meters_quarantined": 0, "reconciles": True}
    with pytest.raises(AssertionError):
        pipeline.reading_accounting(Ledger({"a": entry(5, 5)}), [], empty)


# ---------------------------------------------------------------- pipeline: the window

def test_the_window_runs_at_the_coarsest_resolution_over_every_files_span(tmp_path):
    files = [{"sha": "a" * 64, "seq": 1, "resolution": 30,
              "rows": [("A", "2024-01-03", [0.1] * 48), ("A", "2024-01-20", [0.1] * 48)]},
             {"sha": "b" * 64, "seq": 2, "resolution": 60,
              "rows": [("B", "2024-01-01", [0.1] * 24), ("B", "2024-01-10", [0.1] * 24)]}]
    store = write_store(tmp_path, files)
    window = pipeline.plan_window(store, 365, ZONE)
    assert window.resolution == 60 and window.timezone == ZONE and window.hemisphere == "north"
    assert (window.start, window.end) == (pd.Timestamp("2024-01-01", tz="UTC"),
                                          pd.Timestamp("2024-01-21", tz="UTC"))
    assert pipeline.plan_window(store, 365, ZONE, hemisphere="south").hemisphere == "south"
    assert pipeline.plan_window(store, 5, ZONE).start == pd.Timestamp("2024-01-16", tz="UTC")
    # a run for a past date ends with that local day, even inside a file's span
    dated = pipeline.plan_window(store, 365, ZONE, run_date="2024-01-12")
    assert (dated.start, dated.end) == (pd.Timestamp("2024-01-01", tz="UTC"),
                                        pd.Timestamp("2024-01-13", tz="UTC"))
    # the first local day itself is a valid run date; the day before is not, even when the
    # first reading is the very next instant
    assert pipeline.plan_window(store, 365, ZONE, run_date="2024-01-01").end == \
        pd.Timestamp("2024-01-02", tz="UTC")
    with pytest.raises(InputError) as refused:
        pipeline.plan_window(store, 365, ZONE, run_date="2023-12-31")
    assert str(refused.value) == (f"file '{tmp_path / 'days'}': no reading on or before the run "
                                  "date 2023-12-31: the first is 2024-01-01 00:00 (Europe/London)")


def test_a_window_cannot_be_planned_from_nothing(tmp_path):
    """Each refusal names the store."""
    with pytest.raises(InputError) as refused:
        pipeline.plan_window(ReadingsStore(tmp_path / "none"), 365, ZONE)
    assert str(refused.value) == (f"file '{tmp_path / 'none' / 'days'}': the readings store is "
                                  "empty: no file has been ingested")
    # a ledger whose parts are gone holds no reading either
    gone = write_store(tmp_path / "gone", [{"sha": "a" * 64, "seq": 1, "resolution": 60,
                                            "rows": [("A", "2024-01-03", [0.1] * 24)]}])
    for part in (tmp_path / "gone").rglob("part-*.parquet"):
        part.unlink()
    with pytest.raises(InputError, match="the readings store is empty"):
        pipeline.plan_window(gone, 365, ZONE)
    store = write_store(tmp_path / "q", [{"sha": "a" * 64, "seq": 1, "resolution": 60,
                                          "rows": [("A", "2024-01-03", [0.1] * 24)]}])
    ledger = tmp_path / "q" / "days" / "_ledger" / ("a" * 64 + ".json")
    ledger.write_text(json.dumps({**json.loads(ledger.read_text()), "first_reading_utc": None,
                                  "last_reading_utc": None}))
    with pytest.raises(InputError) as refused:
        pipeline.plan_window(ReadingsStore(tmp_path / "q"), 365, ZONE)
    assert str(refused.value) == (f"file '{tmp_path / 'q' / 'days'}': every reading of the "
                                  "ingested files was quarantined: nothing to segment (see "
                                  "readings_quarantine)")
    with pytest.raises(InputError, match="holds local days in Europe/London"):
        pipeline.plan_window(ReadingsStore(tmp_path / "q"), 365, "Europe/Zurich")


def test_a_run_date_before_the_first_reading_names_that_reading_in_local_time(tmp_path):
    """Zurich's first local day starts at 23:00 UTC the day before: a run for that day before
    is refused, and the sentence gives the first reading on the local clock."""
    store = write_store(tmp_path, [{"sha": "a" * 64, "seq": 1, "resolution": 60,
                                    "rows": [("A", "2024-01-01", [0.1] * 24)]}], "Europe/Zurich")
    with pytest.raises(InputError) as refused:
        pipeline.plan_window(store, 365, "Europe/Zurich", run_date="2023-12-31")
    assert str(refused.value).endswith("no reading on or before the run date 2023-12-31: the "
                                       "first is 2024-01-01 00:00 (Europe/Zurich)")
    window = pipeline.plan_window(store, 365, "Europe/Zurich", run_date="2024-01-01")
    assert window.end == pd.Timestamp("2024-01-01 23:00", tz="UTC")


# ---------------------------------------------------------------- pipeline: a shard's window

RUN_DATE = "2024-04-20"          # the window: 1 January .. 20 April 2024 (London), 111 days


def hours(day: str) -> int:
    """The local day's length in hours (London: 23 on 31 March 2024)."""
    start = pd.Timestamp(day)
    end = (start + pd.Timedelta(days=1)).tz_localize(ZONE)
    return int((end - start.tz_localize(ZONE)) / pd.Timedelta(hours=1))


def shard_files() -> list[dict]:
    """Two files over 1 January .. 30 April, one meter for each way through the shard step.

    A: a zero reading on 14 February, every hour but seven short gaps (one of an hour on 31 January 23:00 and on 1 April
    00:00, where a month's context fills them; two at 29 February 23:00 .. 1 March 00:00)
    and one long one (5 hours on 5 March); readings after the run date. B: a home empty in
    March, whose lowest tenth lies there (March read again for it); I: one empty in April,
    the window's last month, which keeps every value (nothing read again for it). C: all
    zero, D: one value (a stuck register), E: ten days, F: one reading, G: only after the
    run date. The later file (its hash sorts first) repeats 12 of A's readings of 20
    February, changes 6, leaves 6 to the earlier file, changes 6 of A's 1 and 29 February, and
    repeats C's 5 January and the first and last days of February (duplicates on a month's
    own days, not on its context's)."""
    rng = np.random.default_rng(11)
    days = [str(d.date()) for d in pd.date_range("2024-01-01", "2024-04-30")]
    gaps = {"2024-01-31": [23], "2024-02-10": [5], "2024-02-12": [3, 4], "2024-02-29": [23],
            "2024-03-01": [0], "2024-03-05": [8, 9, 10, 11, 12], "2024-04-01": [0]}
    rows = []
    for day in days:
        a = rng.uniform(0.1, 2.0, hours(day)).round(3)
        a[gaps.get(day, [])] = np.nan
        a[2] = 0.0 if day == "2024-02-14" else a[2]      # a zero among A's readings
        low = day.startswith("2024-03")
        b = (rng.uniform(0.01, 0.05, hours(day)) if low else rng.gamma(3, 0.1, hours(day)) + 0.2)
        away = day.startswith("2024-04")
        i = (rng.uniform(0.01, 0.05, hours(day)) if away else rng.gamma(3, 0.1, hours(day)) + 0.2)
        rows += [("A", day, list(a)), ("B", day, list(b.round(4))),
                 ("C", day, [0.0] * hours(day)), ("D", day, [0.5] * hours(day)),
                 ("I", day, list(i.round(4)))]
        if day <= "2024-01-10":
            rows.append(("E", day, list(rng.uniform(0.1, 1.0, 24).round(3))))
    rows += [("F", "2024-02-02", [np.nan] * 7 + [0.3] + [np.nan] * 16),
             ("G", "2024-04-25", [0.4] * 24)]
    a_20, a_1, a_29 = (next(v for m, d, v in rows if (m, d) == ("A", day))
                       for day in ("2024-02-20", "2024-02-01", "2024-02-29"))
    later = a_20[:12] + [x + 1.0 for x in a_20[12:18]] + [np.nan] * 6
    first_day, last_day = ([x + 1.0 for x in a[:6]] + [np.nan] * 18 for a in (a_1, a_29))
    return [{"sha": "f" * 64, "seq": 1, "resolution": 60, "rows": rows},
            {"sha": "1" * 64, "seq": 2, "resolution": 60,
             "rows": [("A", "2024-02-20", later), ("A", "2024-02-01", first_day),
                      ("A", "2024-02-29", last_day)] + [("C", day, [0.0] * 24) for day in
                                                      ("2024-01-05", "2024-02-01", "2024-02-29")]}]


def merged_cells(files: list[dict]) -> tuple[dict, dict]:
    """Each stored reading (meter, day, hour) -> value, the file ingested last winning; and
    the superseded readings counted by reason, the obvious way."""
    cells: dict = {}
    superseded = {EXACT_DUPLICATE: 0, CONFLICTING_DUPLICATE: 0}
    for f in sorted(files, key=lambda f: f["seq"]):
        for meter, day, values in f["rows"]:
            for hour, x in enumerate(values):
                if np.isnan(x):
                    continue
                if (meter, day, hour) in cells:
                    same = cells[(meter, day, hour)] == x
                    superseded[EXACT_DUPLICATE if same else CONFLICTING_DUPLICATE] += 1
                cells[(meter, day, hour)] = x
    return cells, superseded


def test_a_shards_window_is_summed_cleaned_counted_and_written(tmp_path):
    """The shard step on a hand-made store: features equal the whole window's (the months
    read in one pass, then reused, then not cached), each meter quarantined for its reason,
    every reading of the shard counted once, and the files it writes say the same."""
    from tests.meters.test_month_sums import POLICY, assert_same_features, whole_window

    files = shard_files()
    store = write_store(tmp_path / "store", files)
    window = pipeline.plan_window(store, 365, ZONE, run_date=RUN_DATE)
    assert window.resolution == 60 and window.n_cells == 111 * 24 - 1
    cells, superseded = merged_cells(files)
    inside = {k: v for k, v in cells.items() if k[1] <= RUN_DATE}
    stored = sum(int(np.count_nonzero(~np.isnan(np.asarray(v, float))))
                 for f in files for _, d, v in f["rows"] if d <= RUN_DATE)
    n_of = {m: sum(1 for k in inside if k[0] == m) for m in "ABCDEFGI"}
    per_day = Counter((m, d) for m, d, _ in inside)
    complete = {m: sum(1 for (k, d), n in per_day.items() if k == m and n == hours(d))
                for m in "ABCDEFGI"}
    out_of = {m: sum(1 for k in cells if k[0] == m and k[1] > RUN_DATE) for m in "ABCDEFGI"}
    assert n_of["A"] == window.n_cells - 7 - 5 and n_of["G"] == 0 and out_of["G"] == 24

    out = tmp_path / "work"
    first = pipeline.process_shard(store, 0, window, POLICY, out)
    assert first["months"] == {"months_read": 4, "months_reused": 0,
                               "months_reread_for_base_load": 1}       # March, for B
    quarantined = pd.read_parquet(first["quarantined_meters"])
    assert pq.read_schema(first["quarantined_meters"]).remove_metadata().equals(
        pipeline.QUARANTINE_METERS_SCHEMA)
    assert quarantined.to_dict("records") == [
        {"meter_id": m, "reason": reason, "n_readings": n_of[m],
         "n_readings_outside_window": out_of[m], "complete_days": complete[m],
         "window_days": 111}
        for m, reason in [("C", "all readings are zero"),
                          ("D", "all readings identical (stuck register)"),
                          ("E", "too little data: 10 of 111 days complete (9% < 60%)"),
                          ("F", "only 1 reading in the window"),
                          ("G", "no readings in the window")]]
    assert first["counts"] == {
        "readings_in_window": stored, "readings_outside_window": sum(out_of.values()),
        "readings_superseded": 102, "readings_superseded_by_reason": superseded,
        "readings_used": n_of["A"] + n_of["B"] + n_of["I"],
        "readings_of_quarantined_meters": sum(n_of[m] for m in "CDEFG"),
        "interpolated_intervals": 7, "missing_intervals": 5,
        "meters_segmentable": 3, "meters_quarantined": 5}
    assert superseded == {EXACT_DUPLICATE: 12 + 3 * 24, CONFLICTING_DUPLICATE: 6 + 6 + 6}
    assert first == {"shard": 0, "features": str(out / "features-00.parquet"),
                     "quarantined_meters": str(out / "quarantined-meters-00.parquet"),
                     "counts": first["counts"], "months": first["months"]}
    assert json.loads((out / "shard-00.json").read_text()) == first

    reference = whole_window(store, window)
    features = pd.read_parquet(first["features"])
    assert features["meter_id"].tolist() == ["A", "B", "I"]
    assert_same_features(features, reference)
    assert np.allclose(features["base_load_kw"],
                       reference.set_index("meter_id").loc[["A", "B", "I"], "numpy_p10"],
                       rtol=1e-12)
    assert features["n_readings"].tolist() == [n_of["A"], n_of["B"], n_of["I"]]
    assert features["interpolated_intervals"].tolist() == [7, 0, 0]
    assert features["missing_intervals"].tolist() == [5, 0, 0]

    # the next run reads the window's edge months only; March kept every value of B
    second = pipeline.process_shard(store, 0, window, POLICY, tmp_path / "again")
    assert second["months"] == {"months_read": 2, "months_reused": 2,
                                "months_reread_for_base_load": 0}
    assert_same_features(pd.read_parquet(second["features"]), reference)
    assert second["counts"] == first["counts"]
    assert pd.read_parquet(second["quarantined_meters"]).equals(quarantined)
    # a late file for 15 February: February is summed again, January and April as always
    late = {"sha": "5" * 64, "seq": 3, "resolution": 60,
            "rows": [("A", "2024-02-15", [3.0] * 24)]}
    store = write_store(tmp_path / "store", files + [late])
    third = pipeline.process_shard(store, 0, window, POLICY, tmp_path / "late")
    assert third["months"] == {"months_read": 3, "months_reused": 1,
                               "months_reread_for_base_load": 0}
    assert_same_features(pd.read_parquet(third["features"]), whole_window(store, window))

    # without the cache: every month read, none kept for the next run
    plain = write_store(tmp_path / "plain", files)
    for _ in range(2):
        done = pipeline.process_shard(plain, 0, window, POLICY, tmp_path / "plain-out",
                                      use_cache=False)
        assert done["months"] == {"months_read": 4, "months_reused": 0,
                                  "months_reread_for_base_load": 1}
        assert_same_features(pd.read_parquet(done["features"]), reference)
    # (the stored counts are kept there all the same: ``months.stored_counts``)
    assert [p.name for p in (plain.dataset_dir / "months").iterdir()] == ["counts"]


def test_a_shard_without_a_quarantined_meter_writes_an_empty_table(tmp_path):
    """Every meter segmentable: the quarantine file is written all the same, with its columns."""
    from tests.meters.test_month_sums import POLICY

    files = [{**f, "rows": [r for r in f["rows"] if r[0] == "A"]} for f in shard_files()]
    store = write_store(tmp_path, files)
    window = pipeline.plan_window(store, 365, ZONE, run_date="2024-02-10")
    done = pipeline.process_shard(store, 0, window, POLICY, tmp_path / "work")
    assert done["counts"]["meters_quarantined"] == 0
    table = pq.read_table(done["quarantined_meters"])
    assert table.num_rows == 0
    assert table.schema.remove_metadata().equals(pipeline.QUARANTINE_METERS_SCHEMA)


def test_a_shard_without_readings_in_the_window_quarantines_its_meters_only(tmp_path):
    """The window's five days hold no reading of the shard: nothing is segmented, and the
    meters with readings outside it are quarantined for that."""
    from tests.meters.test_month_sums import POLICY

    files = [{"sha": "a" * 64, "seq": 1, "resolution": 60,
              "rows": [("A", "2024-01-02", [0.3] * 24), ("G", "2024-04-25", [0.4] * 24)]}]
    store = write_store(tmp_path, files)
    window = pipeline.plan_window(store, 5, ZONE, run_date=RUN_DATE)
    done = pipeline.process_shard(store, 0, window, POLICY, tmp_path / "work")
    assert pd.read_parquet(done["features"]).empty
    assert pd.read_parquet(done["quarantined_meters"])[["meter_id", "reason"]].values.tolist() == [
        ["A", "no readings in the window"], ["G", "no readings in the window"]]
    assert (done["counts"]["readings_in_window"], done["counts"]["readings_outside_window"],
            done["counts"]["meters_segmentable"]) == (0, 48, 0)


def test_a_windows_sums_are_its_months_combined(tmp_path, monkeypatch):
    """``shard_sums`` for the shard's meters and one without readings (H): each field equals
    the whole window's span sums, the base load numpy's percentile of the complete days'
    values. A first run reads its one range once: March, read again for B's base load, is
    taken from that read, not from the store."""
    from tests.meters.test_month_sums import POLICY

    files = shard_files()
    store = write_store(tmp_path, files)
    window = pipeline.plan_window(store, 365, ZONE, run_date=RUN_DATE)
    readings = pipeline.read_range(store, 0, window)
    filled = pipeline.fill_gaps(readings, window, POLICY)
    assert np.isnan(filled).sum() == np.isnan(readings.values).sum() - 7     # A's short gaps
    whole = sums.span_sums(readings.meters, readings.values, filled,
                           pipeline.calendar(window), tail_share=None,
                           superseded=(readings.exact.sum(axis=1),
                                       readings.conflicting.sum(axis=1)))
    asked = np.array(["A", "B", "C", "D", "E", "F", "H", "I"], object)
    ranges = []
    read_range = pipeline.read_range
    monkeypatch.setattr(pipeline, "read_range",
                        lambda *args: ranges.append(args[2]) or read_range(*args))
    total, done = pipeline.shard_sums(store, 0, window, POLICY, asked)
    assert [(r.start, r.end) for r in ranges] == [(window.start, window.end)]
    assert done["months_read"] == 4 and done["months_reread_for_base_load"] == 1
    expected = sums.reindex(whole, asked, whole.points.shape[1])
    for field in fields(sums.MeterSums):
        if field.name in ("meter_id", "low", "low_cut"):
            continue
        assert np.allclose(getattr(total, field.name), getattr(expected, field.name),
                           rtol=1e-9, atol=1e-12, equal_nan=True), field.name
    assert total.meter_id.tolist() == asked.tolist()
    assert len(total.low) == len(asked)
    p10 = sums.low_percentile(expected)[0]
    assert np.allclose(done["base_load"], p10, equal_nan=True, rtol=1e-12)
    assert np.isnan(done["base_load"][6])                    # H: no complete day
    # by default the interior months come from the store the next time
    again, done = pipeline.shard_sums(store, 0, window, POLICY, asked)
    assert (done["months_read"], done["months_reused"]) == (2, 2)
    assert np.allclose(again.daily_sum, total.daily_sum, rtol=1e-12)
    # a reading the sums lost (one more stored than summed) stops the shard, saying so
    days = pipeline.window_days(window).dates()
    counts = months.stored_counts(store, 0, days[0], days[-1])
    cleaned = pipeline.clean_and_featurise(again, done["base_load"], counts, window, POLICY)
    assert cleaned["counts"]["meters_segmentable"] == 3
    counts.loc["A", "n_in"] += 1
    with pytest.raises(AssertionError, match="^shard accounting does not reconcile: {'readings_in"):
        pipeline.clean_and_featurise(again, done["base_load"], counts, window, POLICY)
