"""The dates of a history (segmentation/history.py)."""

from datetime import date

import pytest

from segmentation.errors import InputError
from segmentation.history import MAX_RUNS, history_dates


def test_month_ends_from_the_first_on_or_after_the_start_to_the_last_on_or_before_the_end():
    assert history_dates(date(2011, 3, 1), date(2011, 6, 29), "month") == [
        date(2011, 3, 31), date(2011, 4, 30), date(2011, 5, 31)]
    assert history_dates(date(2011, 11, 30), date(2012, 2, 29), "month") == [
        date(2011, 11, 30), date(2011, 12, 31), date(2012, 1, 31), date(2012, 2, 29)]


def test_weeks_and_days_step_from_the_start_and_include_the_end():
    assert history_dates(date(2024, 5, 1), date(2024, 5, 15), "week") == [
        date(2024, 5, 1), date(2024, 5, 8), date(2024, 5, 15)]
    assert history_dates(date(2024, 5, 1), date(2024, 5, 14), "week")[-1] == date(2024, 5, 8)
    assert history_dates(date(2024, 2, 28), date(2024, 3, 1), "day") == [
        date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    assert history_dates(date(2024, 5, 1), date(2024, 5, 1), "day") == [date(2024, 5, 1)]


@pytest.mark.parametrize("start, end, every, says", [
    (date(2024, 5, 2), date(2024, 5, 1), "day", "--to (2024-05-01) is before --from (2024-05-02)"),
    (date(2024, 5, 2), date(2024, 5, 30), "month", "no month end between 2024-05-02 and 2024-05-30"),
    (date(2024, 5, 1), date(2024, 5, 30), "year", "--every must be one of month, week, day"),
    (date(2000, 1, 1), date(2024, 1, 1), "day", f"at most {MAX_RUNS} in one history"),
])
def test_a_range_that_gives_no_runs_or_too_many_is_refused_in_words(start, end, every, says):
    with pytest.raises(InputError, match=says.replace("(", r"\(").replace(")", r"\)")):
        history_dates(start, end, every)
    assert len(history_dates(date(2000, 1, 1), date(2000, 1, 1) + (MAX_RUNS - 1) * (
        date(2000, 1, 2) - date(2000, 1, 1)), "day")) == MAX_RUNS


def test_without_a_start_a_history_covers_the_six_months_before_its_end():
    from segmentation.history import history_range

    assert history_range(None, date(2024, 8, 31)) == (date(2024, 2, 29), date(2024, 8, 31))
    assert history_range(None, date(2024, 3, 15)) == (date(2023, 9, 15), date(2024, 3, 15))
    assert history_range("2024-01-01", date(2024, 3, 15)) == (date(2024, 1, 1), date(2024, 3, 15))
    assert len(history_dates(*history_range(None, date(2024, 8, 31)), "month")) == 7
