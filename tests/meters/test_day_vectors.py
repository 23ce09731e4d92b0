"""Day vectors: placement, the duplicate policy within a file, bounded memory, DST day lengths."""

import numpy as np
import pandas as pd

from segmentation.meters.day_vectors import DayBlock, DayCalendar, slots_per_day


def test_day_lengths_follow_dst_and_vectors_hold_25_hours():
    days = DayCalendar.spanning("2024-03-30", "2024-04-01", "Europe/London")
    assert days.day_lengths(30).tolist() == [48, 46, 48]
    autumn = DayCalendar.spanning("2024-10-27", "2024-10-27", "Europe/London")
    assert autumn.day_lengths(30).tolist() == [50] and slots_per_day(30) == 50
    assert slots_per_day(15) == 100 and slots_per_day(60) == 25
    # local midnight in UTC: 00:00 GMT in winter, 23:00 the day before in summer
    assert pd.Timestamp(days.start_us[2], unit="us", tz="UTC") == pd.Timestamp("2024-03-31 23:00", tz="UTC")


def collect(flushed):
    rows = {}
    for part in flushed:
        for m, d, v in zip(part.meters, part.days, part.values):
            rows.setdefault((int(m), int(d)), []).append(v)
    return rows


def test_readings_land_at_their_day_and_slot():
    block = DayBlock(n_days=3, slots=50, capacity=4)
    flushed, losers = block.add(np.array([0, 0, 1]), np.array([0, 2, 1]), np.array([0, 47, 5]),
                                np.array([1.5, 2.5, 3.5]), np.array([2, 3, 4]))
    assert not flushed and losers.empty
    rows = collect(block.flush_all())
    assert sorted(rows) == [(0, 0), (0, 2), (1, 1)]
    assert rows[(0, 2)][0][47] == 2.5 and np.isnan(rows[(0, 2)][0][:47]).all()
    assert rows[(1, 1)][0][5] == 3.5


def test_the_later_row_wins_whatever_order_the_rows_arrive_in():
    block = DayBlock(n_days=1, slots=50, capacity=2)
    # rows 10 (1.0), 30 (2.0) and 20 (2.0) for the same instant; 30 arrives in a later batch first
    _, lost_a = block.add(np.array([0, 0]), np.array([0, 0]), np.array([7, 7]),
                          np.array([1.0, 2.0]), np.array([10, 20]))
    _, lost_b = block.add(np.array([0]), np.array([0]), np.array([7]), np.array([2.0]),
                          np.array([30]))
    lost = pd.concat([lost_a, lost_b]).sort_values("source_row")
    assert lost["source_row"].tolist() == [10, 20]
    assert (lost["kwh"] == lost["winner_kwh"]).tolist() == [False, True]   # conflicting, exact
    assert collect(block.flush_all())[(0, 0)][0][7] == 2.0
    block = DayBlock(n_days=1, slots=50, capacity=2)
    _, lost = block.add(np.array([0, 0]), np.array([0, 0]), np.array([7, 7]),
                        np.array([5.0, 1.0]), np.array([40, 10]))      # later row first in the batch
    assert lost["source_row"].tolist() == [10]
    assert collect(block.flush_all())[(0, 0)][0][7] == 5.0


def test_memory_is_bounded_by_the_open_meters_and_nothing_is_lost():
    rng = np.random.default_rng(0)
    n = 600
    meters, days, slots = rng.integers(0, 9, n), rng.integers(0, 4, n), rng.integers(0, 48, n)
    keep = ~pd.DataFrame({"m": meters, "d": days, "s": slots}).duplicated().to_numpy()
    meters, days, slots = meters[keep], days[keep], slots[keep]
    kwh = np.arange(len(meters), dtype=float)
    block = DayBlock(n_days=4, slots=50, capacity=3)
    flushed = []
    for chunk in np.array_split(np.arange(len(meters)), 20):            # interleaved meters
        out, lost = block.add(meters[chunk], days[chunk], slots[chunk], kwh[chunk], chunk + 2)
        assert lost.empty and len(block.position) <= 3
        flushed += out
    flushed += block.flush_all()
    assert sum(int(p.n_readings.sum()) for p in flushed) == len(meters)
    placed = {}
    for part in flushed:
        for m, d, v in zip(part.meters, part.days, part.values):
            for s in np.flatnonzero(~np.isnan(v)):
                placed[(int(m), int(d), int(s))] = v[s]
    assert placed == {(int(m), int(d), int(s)): k for m, d, s, k in zip(meters, days, slots, kwh)}
