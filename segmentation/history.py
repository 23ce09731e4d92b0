"""The dates of a history: month ends, weeks or days between two dates.

``segment history`` runs a dataset once per date, oldest first, so each run
aligns its segments with the one before and only uses data up to its own date
(purchase logs: as of the run date; meters: the window ending on it).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from segmentation.errors import InputError

EVERY = ("month", "week", "day")
MAX_RUNS = 400          # a typo in a year should not start thousands of runs
DEFAULT_MONTHS = 6      # without --from: the last six months


def history_range(date_from: str | None, end: date) -> tuple[date, date]:
    """(start, end): ``date_from``, or ``DEFAULT_MONTHS`` months before ``end``."""
    if date_from:
        return date.fromisoformat(date_from), end
    month = end.month - DEFAULT_MONTHS
    year, month = (end.year, month) if month > 0 else (end.year - 1, month + 12)
    return date(year, month, min(end.day, calendar.monthrange(year, month)[1])), end


def history_dates(start: date, end: date, every: str) -> list[date]:
    """Run dates from ``start`` to ``end`` inclusive: each month's last day (``month``), every
    seventh day from ``start`` (``week``), or every day (``day``)."""
    if every not in EVERY:
        raise InputError(f"--every must be one of {', '.join(EVERY)}, got '{every}'")
    if end < start:
        raise InputError(f"--to ({end}) is before --from ({start})")
    if every == "month":
        days, year, month = [], start.year, start.month
        while True:
            last = date(year, month, calendar.monthrange(year, month)[1])
            if last > end:
                break
            if last >= start:
                days.append(last)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        step = timedelta(days=7 if every == "week" else 1)
        days = [start + i * step for i in range((end - start) // step + 1)]
    if not days:
        raise InputError(f"no {every} end between {start} and {end}")
    if len(days) > MAX_RUNS:
        raise InputError(f"{len(days)} runs from {start} to {end} every {every}: at most "
                         f"{MAX_RUNS} in one history")
    return days
