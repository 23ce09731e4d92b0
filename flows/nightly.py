"""The nightly parent flow (every dataset of the catalog) and the one-dataset flow."""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from flows.customers import customer_flow
from flows.meters import meter_flow
from flows.transactions import transaction_flow
from segmentation.catalog import Dataset, catalog_entry, load_catalog
from segmentation.errors import InputError, SegmentationError
from segmentation.parameters import DatasetName, RunDate
from segmentation.settings import RunPaths
from segmentation.threads import limit_threads
from tasks.shared import QuietFailure, resolve_run_date

FLOWS = {"customers": customer_flow, "meters": meter_flow, "transactions": transaction_flow}
SHARDED = ("meters", "transactions")     # the kinds whose heavy steps can run on Dask
Root = Annotated[str | None, Field(description="Root folder; empty: the project's data/ or outputs/")]


def datasets(raw_dir) -> dict[str, Dataset]:
    """The catalog's datasets; without a catalog, the two folders of raw data that have files."""
    catalog = load_catalog()
    if catalog:
        return catalog
    found = {}
    if any((raw_dir / "customers").glob("*.csv")):
        found["customers"] = Dataset("customers", "customers")
    if (raw_dir / "meters").is_dir() and any((raw_dir / "meters").iterdir()):
        found["meters"] = Dataset("meters", "meters")
    if (raw_dir / "transactions").is_dir() and any((raw_dir / "transactions").iterdir()):
        found["transactions"] = Dataset("transactions", "transactions")
    return found


def run_dataset(entry: Dataset, day: str, data_root: str | None, outputs_root: str | None,
                dask_address: str | None = None):
    """One dataset's flow as a subflow; returns its final state (``dask_address``: instead
    of the catalog's, for the kinds with per-shard steps)."""
    paths = RunPaths.create(entry.name, day, data_root, outputs_root)
    parameters = entry.flow_parameters(paths.data_root)
    if dask_address:
        if entry.kind not in SHARDED:
            raise InputError(f"dataset '{entry.name}' is a {entry.kind} table: it has no "
                             f"per-shard steps to run on Dask (meters and transactions have)")
        parameters["dask_address"] = dask_address
    return FLOWS[entry.kind](**parameters, run_date=day, data_root=data_root,
                             outputs_root=outputs_root, return_state=True)


@flow(name="nightly-segmentation", log_prints=True)
def nightly_flow(run_date: RunDate = None, data_root: Root = None, outputs_root: Root = None) -> dict:
    """Run every dataset of the catalog for the same date; fail at the end naming the failed.

    One failing dataset does not stop the others: each publishes on its own.

    Args:
        run_date: Partition date YYYY-MM-DD; empty: the scheduled date (Europe/London)
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
    """
    with QuietFailure() as failure:
        limit_threads()          # SEGMENT_THREADS: see segmentation/threads.py
        day = resolve_run_date(run_date).isoformat()
        raw = RunPaths.create("nightly", day, data_root, outputs_root).raw_dir
        entries = datasets(raw)
        if not entries:
            raise SegmentationError(f"no dataset to run: no catalog (segmentation.yaml) and no "
                                    f"raw data under {raw} (customers/*.csv, meters/ or transactions/); run "
                                    "`segment sample-data` or drop files there")
        runs, failed = {}, {}
        for name, entry in entries.items():
            try:
                runs[name] = run_dataset(entry, day, data_root, outputs_root)
            except InputError as err:       # the entry's input matches nothing: that one fails
                failed[name] = str(err)
        failed.update({n: s.message for n, s in runs.items() if not s.is_completed()})
        failed = {n: failed[n] for n in entries if n in failed}          # in catalog order
        results = {n: s.result() for n, s in runs.items() if s.is_completed()}
        if failed:
            raise SegmentationError(f"nightly run {day}: {', '.join(failed)} failed ("
                                    f"{len(results)} of {len(entries)} completed): "
                                    + "; ".join(f"{n}: {m}" for n, m in failed.items()))
        get_run_logger().info("nightly run %s completed: %s", day, ", ".join(runs))
        return results
    return failure.state


@flow(name="dataset-segmentation", log_prints=True)
def dataset_flow(name: DatasetName, run_date: RunDate = None, data_root: Root = None,
                 outputs_root: Root = None) -> dict:
    """Run one dataset of the catalog (segmentation.yaml) for one date.

    Args:
        name: The dataset's name in the catalog
        run_date: Partition date YYYY-MM-DD; empty: the scheduled date (Europe/London)
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
    """
    with QuietFailure() as failure:
        state = run_dataset(catalog_entry(name), resolve_run_date(run_date).isoformat(),
                            data_root, outputs_root)
        return state.result()
    return failure.state
