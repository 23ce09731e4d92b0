"""The dates of a history (segmentation/history.py), boundary by boundary: the six months
before the end when no start is given, month ends across a year, a step of a week or a
day, and the refusals in words (``segment history --from --to --every``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from segmentation.errors import InputError
from segmentation.history import DEFAULT_MONTHS, MAX_RUNS, history_dates, history_range


@pytest.mark.parametrize("end, start", [
    (date(2024, 6, 30), date(2023, 12, 30)),      # six months back lands on December
    (date(2024, 7, 31), date(2024, 1, 31)),       # ... or on January of the same year
    (date(2024, 12, 31), date(2024, 6, 30)),      # June has 30 days: the last one
    (date(2025, 5, 31), date(2024, 11, 30)),
    (date(2023, 8, 29), date(2023, 2, 28)),       # no 29 February in 2023
])
def test_without_a_start_the_history_begins_six_months_before_its_end(end, start):
    assert DEFAULT_MONTHS == 6
    assert history_range(None, end) == (start, end)
    assert history_range("", end) == (start, end)


def test_a_start_given_is_taken_as_it_is():
    assert history_range("2011-03-01", date(2011, 11, 30)) == (date(2011, 3, 1),
                                                               date(2011, 11, 30))


def test_month_ends_run_from_the_start_s_month_through_december_into_the_next_year():
    assert history_dates(date(2023, 10, 31), date(2024, 3, 31), "month") == [
        date(2023, 10, 31), date(2023, 11, 30), date(2023, 12, 31), date(2024, 1, 31),
        date(2024, 2, 29), date(2024, 3, 31)]
    # a start after its month's end: that month ends before the history begins
    assert history_dates(date(2024, 1, 31), date(2024, 2, 29), "month") == [
        date(2024, 1, 31), date(2024, 2, 29)]
    assert history_dates(date(2024, 2, 1), date(2024, 2, 29), "month") == [date(2024, 2, 29)]


def test_weeks_step_seven_days_from_the_start_and_days_one():
    weeks = history_dates(date(2024, 1, 1), date(2024, 3, 1), "week")
    assert weeks[0] == date(2024, 1, 1) and weeks[-1] == date(2024, 2, 26) and len(weeks) == 9
    assert {b - a for a, b in zip(weeks, weeks[1:])} == {timedelta(days=7)}
    days = history_dates(date(2023, 12, 30), date(2024, 1, 2), "day")
    assert days == [date(2023, 12, 30), date(2023, 12, 31), date(2024, 1, 1), date(2024, 1, 2)]


def test_an_unknown_step_is_refused_naming_the_three_there_are():
    with pytest.raises(InputError) as refused:
        history_dates(date(2024, 1, 1), date(2024, 2, 1), "fortnight")
    assert str(refused.value) == "--every must be one of month, week, day, got 'fortnight'"


def test_a_range_that_ends_before_it_begins_is_refused_and_one_day_is_a_history():
    with pytest.raises(InputError) as refused:
        history_dates(date(2024, 1, 2), date(2024, 1, 1), "week")
    assert str(refused.value) == "--to (2024-01-01) is before --from (2024-01-02)"
    assert history_dates(date(2024, 1, 31), date(2024, 1, 31), "month") == [date(2024, 1, 31)]
    assert history_dates(date(2024, 1, 9), date(2024, 1, 9), "week") == [date(2024, 1, 9)]


def test_a_range_without_a_month_end_is_refused_in_words():
    with pytest.raises(InputError) as refused:
        history_dates(date(2024, 3, 1), date(2024, 3, 30), "month")
    assert str(refused.value) == "no month end between 2024-03-01 and 2024-03-30"


def test_at_most_max_runs_in_one_history_and_one_more_is_refused_saying_how_many():
    start = date(2020, 1, 1)
    assert len(history_dates(start, start + timedelta(days=MAX_RUNS - 1), "day")) == MAX_RUNS
    with pytest.raises(InputError) as refused:
        history_dates(start, start + timedelta(days=MAX_RUNS), "day")
    assert str(refused.value) == (f"{MAX_RUNS + 1} runs from 2020-01-01 to "
                                  f"{start + timedelta(days=MAX_RUNS)} every day: at most "
                                  f"{MAX_RUNS} in one history")
