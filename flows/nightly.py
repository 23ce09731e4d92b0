"""The nightly parent flow: customers, then meters, for one run date."""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from flows.customers import customer_flow
from flows.meters import meter_flow
from segmentation.errors import SegmentationError
from segmentation.parameters import RunDate
from segmentation.settings import RunPaths
from tasks.shared import QuietFailure, resolve_run_date


@flow(name="nightly-segmentation", log_prints=True)
def nightly_flow(
    run_date: RunDate = None,
    data_root: Annotated[str | None, Field(description="Data root; default: the project's data/")] = None,
    outputs_root: Annotated[str | None, Field(description="Outputs root; default: the project's outputs/")] = None,
) -> dict:
    """Run every dataset with raw data for the same date; fail if any of them failed.

    One failing dataset does not stop the other: each publishes on its own.

    Args:
        run_date: Partition date YYYY-MM-DD; empty: the scheduled date (Europe/London)
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
    """
    with QuietFailure() as failure:
        day = resolve_run_date(run_date).isoformat()
        raw = RunPaths.create("nightly", day, data_root, outputs_root).raw_dir
        common = {"run_date": day, "data_root": data_root, "outputs_root": outputs_root}
        runs = {}
        if any((raw / "customers").glob("*.csv")):
            runs["customers"] = customer_flow(**common, return_state=True)
        if (raw / "meters").is_dir() and any((raw / "meters").iterdir()):
            runs["meters"] = meter_flow(**common, return_state=True)
        if not runs:
            raise SegmentationError(f"no raw data under {raw} (customers/*.csv or meters/): "
                                    "run `segment sample-data` or drop files there")
        failed = [name for name, state in runs.items() if not state.is_completed()]
        results = {name: state.result() for name, state in runs.items() if state.is_completed()}
        if failed:
            raise SegmentationError(f"nightly run {day}: {', '.join(failed)} failed: "
                                    + "; ".join(f"{n}: {runs[n].message}" for n in failed))
        get_run_logger().info("nightly run %s completed: %s", day, ", ".join(runs))
        return results
    return failure.state

