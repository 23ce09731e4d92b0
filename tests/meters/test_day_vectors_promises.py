"""Promises of the day vectors (``segmentation.meters.day_vectors``, docs/meters.md step 1):
the duplicate policy within a file when the rows of one instant arrive in several batches, and
whole intervals per local day where the clocks move by half an hour."""

from __future__ import annotations

import numpy as np

from segmentation.meters.day_vectors import DayBlock, DayCalendar


def add(block: DayBlock, rows: list[tuple[int, float]]):
    """Readings ``(source_row, kwh)`` of meter 0, day 0, slot 7, as one batch."""
    n = len(rows)
    return block.add(np.zeros(n, np.int64), np.zeros(n, np.int64), np.full(n, 7),
                     np.array([k for _, k in rows]), np.array([r for r, _ in rows]))


def test_the_later_row_keeps_its_value_when_earlier_rows_arrive_after_it():
    """The later row wins whatever order the rows arrive in (DuckDB does not keep the file's
    order): a value already placed stays when earlier rows of that instant come in a later
    batch, two at once included, and each loser is reported with its own kWh and the winner's."""
    block = DayBlock(n_days=1, slots=50, capacity=2)
    _, none = add(block, [(30, 1.0)])
    _, lost = add(block, [(10, 3.0), (20, 4.0)])
    assert none.empty
    assert lost.sort_values("source_row")[["source_row", "kwh", "winner_kwh"]].values.tolist() == [
        [10, 3.0, 1.0], [20, 4.0, 1.0]]
    part = block.flush_all()[0]
    assert part.values[0][7] == 1.0 and part.n_readings.tolist() == [1]


def test_a_day_holds_whole_intervals_where_the_clocks_move_by_half_an_hour():
    """Intervals per local day are whole numbers: on Lord Howe Island the clocks move by 30
    minutes, so the spring day of 23.5 hours holds 47 half hours but only 23 whole hours, and
    the autumn day of 24.5 hours 49 half hours and 24 hours."""
    spring = DayCalendar.spanning("2024-10-05", "2024-10-07", "Australia/Lord_Howe")
    autumn = DayCalendar.spanning("2024-04-06", "2024-04-08", "Australia/Lord_Howe")
    assert spring.day_lengths(30).tolist() == [48, 47, 48]
    assert spring.day_lengths(60).tolist() == [24, 23, 24]
    assert autumn.day_lengths(30).tolist() == [48, 49, 48]
    assert autumn.day_lengths(60).tolist() == [24, 24, 24]
    assert spring.day_lengths(60).dtype.kind == "i"
