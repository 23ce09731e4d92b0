"""The history flow: one catalog dataset run for each date in turn, oldest first."""

from __future__ import annotations

from typing import Annotated, Literal

from prefect import flow, get_run_logger
from pydantic import Field

from flows.nightly import run_dataset
from segmentation.catalog import catalog_entry
from segmentation.errors import SegmentationError
from segmentation.history import history_dates, history_range
from segmentation.parameters import DaskAddress, DatasetName, Root
from segmentation.threads import limit_threads
from tasks.shared import QuietFailure, resolve_run_date

Day = Annotated[str | None, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")]


@flow(name="history-segmentation", log_prints=True)
def history_flow(name: DatasetName, date_from: Day = None, date_to: Day = None,
                 every: Literal["month", "week", "day"] = "month", data_root: Root = None,
                 outputs_root: Root = None, dask_address: DaskAddress = None) -> dict:
    """Run one dataset of the catalog for each date from ``date_from`` to ``date_to``.

    Each run uses only the data up to its date and aligns its segment ids with the run
    before it; the first failing date stops the history (later runs would align with a
    gap), naming the date.

    Args:
        name: The dataset's name in the catalog
        date_from: First date YYYY-MM-DD (with every=month: the first month end on or after
            it); empty: six months before date_to
        date_to: Last date YYYY-MM-DD; empty: the scheduled date (Europe/London)
        every: month (each month's last day), week (every seventh day) or day
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
        dask_address: Dask scheduler tcp://HOST:PORT for every run (meters, purchase logs);
            empty: the catalog's, else $SEGMENT_DASK_ADDRESS, else here
    """
    with QuietFailure() as failure:
        limit_threads()
        days = history_dates(*history_range(date_from, resolve_run_date(date_to)), every)
        entry = catalog_entry(name)
        results = {}
        for day in days:
            state = run_dataset(entry, day.isoformat(), data_root, outputs_root, dask_address)
            if not state.is_completed():
                raise SegmentationError(f"history of {name}: the run of {day} failed "
                                        f"({state.message}); {len(results)} of {len(days)} "
                                        "dates completed")
            results[day.isoformat()] = state.result()
        get_run_logger().info("history of %s: %d runs, %s to %s", name, len(days), days[0],
                              days[-1])
        return results
    return failure.state
