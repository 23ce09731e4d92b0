"""Promises of the day vectors (``segmentation.meters.day_vectors``, docs/meters.md step 1):
the duplicate policy within a file when the rows of one instant arrive in several batches, and
whole intervals per local day where the clocks move by half an hour; a day whose midnight comes
twice; the calendar's days; the meters a block keeps open."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.meters.day_vectors import DayBlock, DayCalendar
from tests.meters.conftest import ingest_file, stored, write_text


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


def test_a_day_whose_midnight_comes_twice_starts_at_the_first():
    """In Havana the clocks went back from 01:00 to 00:00 on 3 November 2024, so that day's
    midnight came twice (04:00 and 05:00 UTC). A day vector holds its day from the local
    midnight on, so the day starts at the first one and is 25 hours long: every reading of the
    local day has a place in it, none before its start."""
    days = DayCalendar.spanning("2024-11-02", "2024-11-04", "America/Havana")
    starts = [pd.Timestamp(int(us), unit="us", tz="UTC") for us in days.start_us]
    assert starts == [pd.Timestamp(t, tz="UTC") for t in
                      ("2024-11-02 04:00", "2024-11-03 04:00", "2024-11-04 05:00")]
    assert days.day_lengths(30).tolist() == [48, 50, 48]


def test_a_day_whose_midnight_is_skipped_starts_at_its_first_instant():
    """In Havana the clocks went from 00:00 to 01:00 on 10 March 2024: that day has no
    midnight and starts at its first instant, 01:00 summer time (05:00 UTC), 23 hours long."""
    days = DayCalendar.spanning("2024-03-09", "2024-03-11", "America/Havana")
    starts = [pd.Timestamp(int(us), unit="us", tz="UTC") for us in days.start_us]
    assert starts == [pd.Timestamp(t, tz="UTC") for t in
                      ("2024-03-09 05:00", "2024-03-10 05:00", "2024-03-11 04:00")]
    assert days.day_lengths(30).tolist() == [48, 46, 48]


def test_every_reading_of_a_day_whose_midnight_comes_twice_is_stored_at_its_instant(tmp_path,
                                                                                     store):
    """Two meters' readings of Havana's 3 November 2024 (local times, the repeated hour
    00:00-01:00 first in summer time): each reading is stored under its own meter at its own
    instant, the first hour's included, and none elsewhere."""
    zone = "America/Havana"
    instants = pd.date_range("2024-11-03 04:00", "2024-11-04 05:00", freq="30min", tz="UTC",
                             inclusive="left")
    local = instants.tz_convert(zone).strftime("%Y-%m-%d %H:%M:%S")
    rows = [(meter, t, round(base + i / 1000, 3)) for meter, base in (("M", 0.25), ("N", 0.5))
            for i, t in enumerate(local)]
    text = "meter_id,timestamp,kwh\n" + "".join(f"{m},{t},{k}\n" for m, t, k in rows)
    entry = ingest_file(write_text(tmp_path, "havana.csv", text), store, timezone=zone)
    assert len(instants) == 50 and entry["rows_stored"] == 100
    expected = pd.DataFrame({"meter_id": [m for m, _, _ in rows],
                             "timestamp": list(instants) * 2, "kwh": [k for *_, k in rows]})
    got = stored(store).sort_values(["meter_id", "timestamp"]).reset_index(drop=True)
    assert got["meter_id"].tolist() == expected["meter_id"].tolist()
    assert got["timestamp"].tolist() == expected["timestamp"].tolist()
    assert got["kwh"].tolist() == expected["kwh"].tolist()


def test_the_calendar_holds_its_local_days_in_its_zone():
    """``DayCalendar.spanning``: the local days from the first to the last, in the zone asked
    for; ``dates`` names them, ``day_of`` gives a naive local time's day."""
    days = DayCalendar.spanning("2024-03-30 17:00", "2024-04-01 08:30", "Europe/Zurich")
    assert days.first_day == pd.Timestamp("2024-03-30") and days.timezone == "Europe/Zurich"
    assert days.n_days == 3
    assert days.dates().tolist() == np.array(["2024-03-30", "2024-03-31", "2024-04-01"],
                                             dtype="datetime64[D]").tolist()
    assert days.dates().dtype == np.dtype("datetime64[D]")
    local = pd.to_datetime(["2024-03-30 00:00", "2024-03-31 23:30", "2024-04-01 12:00"])
    local_us = (local - pd.Timestamp(0)) // pd.Timedelta(1, "us")
    assert days.day_of(np.asarray(local_us, dtype=np.int64)).tolist() == [0, 1, 2]


def test_a_block_keeps_up_to_its_capacity_of_meters_open():
    """``DayBlock``: open day vectors of up to ``capacity`` meters: with room for two, two
    meters arriving in separate batches are both kept open, nothing is flushed until a third
    needs room."""
    block = DayBlock(n_days=1, slots=50, capacity=2)
    one = np.ones(1, np.int64)
    for meter in (0, 1):
        flushed, _ = block.add(meter * one, 0 * one, 3 * one, np.array([1.0]), meter * one)
        assert flushed == []
    flushed, _ = block.add(2 * one, 0 * one, 3 * one, np.array([1.0]), 2 * one)
    assert [part.meters.tolist() for part in flushed] == [[0, 1]]


def test_a_batch_with_a_repeat_and_a_reading_already_held_keeps_the_later_rows():
    """The later row wins for every instant of a batch that holds both a second row of one
    instant and an earlier row of an instant already placed; each loser is reported with its
    meter, day and slot; every instant placed is counted once."""
    block = DayBlock(n_days=2, slots=50, capacity=2)
    block.add(np.array([1]), np.array([1]), np.array([4]), np.array([9.0]), np.array([30]))
    _, lost = block.add(np.array([1, 1, 1, 1]), np.array([1, 0, 0, 0]), np.array([4, 6, 6, 8]),
                        np.array([1.0, 2.0, 3.0, 5.0]), np.array([10, 20, 21, 22]))
    lost = lost.sort_values("source_row")
    assert lost[["meter", "day", "slot", "source_row", "kwh", "winner_kwh"]].values.tolist() == [
        [1, 1, 4, 10, 1.0, 9.0], [1, 0, 6, 20, 2.0, 3.0]]
    part = block.flush_all()[0]
    held = {(int(d), int(s)): v[s] for d, v in zip(part.days, part.values)
            for s in np.flatnonzero(~np.isnan(v))}
    assert held == {(1, 4): 9.0, (0, 6): 3.0, (0, 8): 5.0}
    assert dict(zip(part.days.tolist(), part.n_readings.tolist())) == {0: 2, 1: 1}


def test_losers_of_a_batch_of_more_meters_than_the_block_holds_keep_integer_codes():
    """The losers frame names each loser by its meter code, day and slot and its source row:
    integers (the meter code indexes the file's meter ids), also when the batch holds more
    meters than the block and only some of its meters have a second row."""
    block = DayBlock(n_days=1, slots=50, capacity=2)
    _, lost = block.add(np.array([0, 0, 1, 2]), np.zeros(4, np.int64), np.array([5, 5, 6, 7]),
                        np.array([1.0, 2.0, 3.0, 4.0]), np.array([2, 3, 4, 5]))
    assert list(lost.columns) == ["meter", "day", "slot", "kwh", "source_row", "winner_kwh"]
    assert [lost[c].dtype.kind for c in ("meter", "day", "slot", "source_row")] == ["i"] * 4
    assert lost.values.tolist() == [[0, 0, 5, 1.0, 2, 2.0]]


LOSER_COLUMNS = ["meter", "day", "slot", "kwh", "source_row", "winner_kwh"]


def test_a_batch_without_duplicates_reports_an_empty_losers_frame_of_the_same_columns():
    """The losers frame has ``meter, day, slot, kwh, source_row, winner_kwh`` also when
    nobody lost: the caller stacks the frames of every batch, and an untyped empty frame
    would turn the codes of the batches with losers into floats."""
    block = DayBlock(n_days=1, slots=50, capacity=2)
    _, lost = block.add(np.array([0, 1]), np.zeros(2, np.int64), np.array([3, 3]),
                        np.array([1.0, 2.0]), np.array([2, 3]))
    assert lost.empty and list(lost.columns) == LOSER_COLUMNS
    assert [lost[c].dtype.kind for c in LOSER_COLUMNS] == ["i", "i", "i", "f", "i", "f"]


def test_an_empty_batch_places_nothing_flushes_nothing_and_keeps_what_is_open():
    """A batch of no readings (a filter can leave a batch empty) is answered, not refused:
    nothing flushed, no losers, and the meters already open stay open with their values."""
    block = DayBlock(n_days=1, slots=50, capacity=2)
    block.add(np.array([4]), np.array([0]), np.array([9]), np.array([2.5]), np.array([7]))
    none = np.empty(0, np.int64)
    flushed, lost = block.add(none, none, none, np.empty(0), none)
    assert flushed == [] and lost.empty and list(lost.columns) == LOSER_COLUMNS
    [part] = block.flush_all()
    assert part.meters.tolist() == [4] and part.values[0][9] == 2.5


def test_a_block_with_no_meter_open_flushes_no_part():
    """``flush_all`` gives one part per call only while meters are open: none for a new
    block, and none the second time (the first emptied it), so no empty part is written."""
    block = DayBlock(n_days=1, slots=50, capacity=2)
    assert block.flush_all() == []
    add(block, [(3, 1.0)])
    assert [part.meters.tolist() for part in block.flush_all()] == [[0]]
    assert block.flush_all() == []
