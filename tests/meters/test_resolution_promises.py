"""The interval length of a file and the summary Great Expectations judges
(``ingest.detect_resolution`` and ``ingest.validation_frame`` docstrings, docs/meters.md
step 1), on (meter, month) summaries written by hand: no file, no DuckDB."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation.errors import InputError
from segmentation.meters.ingest import detect_resolution, validation_frame


def month(meter, minutes: int, n: int, first_row: int, when: str = "2024-01-01",
          timed: int | None = None) -> dict:
    """A (meter, month) summary row of ``n`` on-grid readings ``minutes`` apart: at 15
    minutes half fall at :15 or :45 and a quarter at :30; at 30 half at :30."""
    quarter = n // 2 if minutes == 15 else 0
    half = n // 4 if minutes == 15 else n // 2 if minutes == 30 else 0
    return {"meter_id": meter, "month": pd.Timestamp(when), "first_row": first_row,
            "n_readings": n if timed is None else timed, "n_timed": n if timed is None else timed,
            "n_on15": n, "n_quarter": quarter, "n_half": half}


def summary(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


@pytest.mark.parametrize("minutes", [15, 30, 60])
def test_a_file_of_one_resolution_is_detected_as_it(minutes):
    assert detect_resolution(summary(month("A", minutes, 96, 2), month("B", minutes, 40, 98)),
                             "f.csv") == minutes


@pytest.mark.parametrize("quarter, half, minutes", [
    (25, 0, 15),      # a quarter of the on-grid readings at :15/:45 (exactly): 15 minutes
    (24, 50, 30),     # just under a quarter there; half at :30: 30 minutes
    (0, 25, 30),      # a quarter at :30 (exactly): 30 minutes
    (0, 24, 60),      # just under: hourly
    (0, 0, 60),
])
def test_each_meter_month_votes_by_the_share_of_its_readings_off_the_hour(quarter, half, minutes):
    row = {**month("A", 60, 100, 2), "n_quarter": quarter, "n_half": half}
    assert detect_resolution(summary(row), "f.csv") == minutes


def test_the_resolution_most_readings_vote_for_wins_and_the_other_meter_is_named():
    """Votes count readings, not meters: two 30-minute meters of 20 readings lose to one
    15-minute meter of 100; the first odd (meter, month) by row is named with its month."""
    rows = summary(month("A", 30, 20, 40, "2024-03-01"), month("B", 30, 20, 9, "2024-02-01"),
                   month("C", 15, 100, 2))
    with pytest.raises(InputError) as err:
        detect_resolution(rows, "f.csv")
    assert err.value.file == "f.csv" and err.value.column == "timestamp" and err.value.row == 9
    assert ("meter B has readings 30 minutes apart in 2024-02 where the file's resolution is "
            "15 minutes; split the file by resolution") in str(err.value)
    assert detect_resolution(summary(month("A", 30, 60, 40), month("C", 15, 50, 2),
                                     month("C", 30, 8, 99, "2024-02-01")).iloc[[0, 2]],
                             "f.csv") == 30


def test_months_of_fewer_than_eight_readings_do_not_vote_when_others_can():
    """A month of a few readings (a meter's first or last hours) is too short to tell its
    resolution: with any month of eight or more, only those vote, and the short ones are
    not called mixed; with none, every month of two or more votes (and can be mixed)."""
    rows = summary(month("A", 30, 8, 2), month("B", 15, 7, 20), month("C", 15, 6, 40))
    assert detect_resolution(rows, "f.csv") == 30
    with pytest.raises(InputError, match="mixes resolutions"):
        detect_resolution(summary(month("A", 30, 8, 2), month("B", 15, 8, 20)), "f.csv")
    short = summary(month("B", 15, 7, 20), month("C", 30, 1, 40))
    assert detect_resolution(short, "f.csv") == 15          # one reading: no interval
    pair = summary({**month("A", 60, 2, 2), "n_quarter": 1})   # 00:00 and 00:15
    assert detect_resolution(pair, "f.csv") == 15
    with pytest.raises(InputError, match="meter C has readings 30 minutes apart") as err:
        detect_resolution(short.assign(n_on15=[7, 3], n_half=[1, 1]), "f.csv")
    assert err.value.row == 40


def test_without_a_meter_of_two_readings_the_length_cannot_be_detected():
    """One reading per meter, or readings without a meter: no interval to measure."""
    lonely = summary(month("A", 30, 1, 2), month(None, 30, 50, 3))
    with pytest.raises(InputError, match="cannot detect the interval length: no meter has two "
                                         "readings") as err:
        detect_resolution(lonely, "f.csv")
    assert err.value.file == "f.csv" and err.value.column == "timestamp"
    assert str(err.value).endswith(": cannot detect the interval length: no meter has two "
                                   "readings")
    assert detect_resolution(summary(month("A", 30, 2, 2)), "f.csv") == 30


def test_a_file_mostly_off_the_grid_is_refused_at_its_first_month_off_it():
    """When fewer than half the timed readings sit on a 15-minute grid, the file is not of a
    supported resolution: refused naming the first row of the earliest month off the grid.
    Half on the grid is enough."""
    rows = summary(month("A", 30, 10, 50, timed=30), month("B", 30, 10, 5, timed=10),
                   month("C", 30, 9, 7, timed=20))
    with pytest.raises(InputError, match=r"most readings are not on a 15-, 30- or 60-minute grid; "
                                         r"supported resolutions are \(15, 30, 60\) minutes") as err:
        detect_resolution(rows, "f.csv")
    assert (err.value.file, err.value.column, err.value.row) == ("f.csv", "timestamp", 7)
    half = summary(month("A", 30, 10, 50, timed=20))
    assert detect_resolution(half, "f.csv") == 30


def test_the_validation_frame_counts_off_grid_readings_at_the_file_s_resolution():
    """``n_off_grid`` is the timed readings not on the file's grid: at 15 minutes those off
    the quarter hours, at 30 also those at :15/:45, at 60 also those at :30."""
    row = {**month("A", 15, 96, 2, "2024-02-01"), "n_timed": 100, "n_readings": 101,
           "n_kwh_missing": 1, "n_kwh_text": 0, "n_kwh_not_number": 0, "n_nonexistent": 0,
           "kwh_min": 0.1, "kwh_max": 0.9}
    frames = {r: validation_frame(summary(row), r) for r in (15, 30, 60)}
    assert [frames[r]["n_off_grid"].tolist() for r in (15, 30, 60)] == [[4], [52], [76]]
    frame = frames[30]
    assert list(frame.columns) == [
        "meter_id", "month", "month_index", "first_row", "n_readings", "n_timed",
        "n_kwh_missing", "n_nonexistent", "n_off_grid", "kwh_min", "kwh_max",
        "share_timestamp_parsed", "share_kwh_numeric"]
    assert frame["month_index"].tolist() == [2024 * 12 + 1] and str(frame["month_index"].dtype) == "Int64"
    assert frame["share_timestamp_parsed"].tolist() == [100 / 101]
    assert frame["share_kwh_numeric"].tolist() == [1.0]        # no kWh given as text


def test_the_file_wide_shares_are_over_every_month():
    """The shares Great Expectations gates on are file-wide: timestamps parsed over readings
    (a file of no readings counts as none parsed), numbers over the kWh given as text."""
    base = {"n_kwh_missing": 0, "n_nonexistent": 0, "kwh_min": 0.1, "kwh_max": 0.9}
    rows = summary({**month("A", 30, 10, 2, "2023-12-01"), **base, "n_readings": 40,
                    "n_timed": 30, "n_kwh_text": 20, "n_kwh_not_number": 5},
                   {**month("B", 30, 10, 9, "2024-01-01"), **base, "n_readings": 10,
                    "n_timed": 10, "n_kwh_text": 20, "n_kwh_not_number": 1})
    frame = validation_frame(rows, 30)
    assert frame["share_timestamp_parsed"].tolist() == [40 / 50] * 2
    assert frame["share_kwh_numeric"].tolist() == [1 - 6 / 40] * 2
    assert frame["month_index"].tolist() == [2023 * 12 + 11, 2024 * 12]
    empty = rows.assign(n_readings=0, n_timed=0)
    assert validation_frame(empty, 30)["share_timestamp_parsed"].tolist() == [0.0, 0.0]
    one = rows.iloc[:1].assign(n_readings=1, n_timed=1)
    assert validation_frame(one, 30)["share_timestamp_parsed"].tolist() == [1.0]
