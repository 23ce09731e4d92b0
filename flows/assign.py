"""Assign flow: new members placed in a published run's segments, without refitting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from segmentation import assignment
from segmentation.io import write_json_atomic, write_text_atomic
from segmentation.cluster import dask_address as resolve_dask_address
from segmentation.parameters import AssignKind, DaskAddress, DatasetName, ModelChoice, QuarantineShare, \
    RunDate
from segmentation.publish import publish_assignment
from segmentation.settings import RunPaths
from segmentation.threads import limit_threads
from tasks import assign as steps
from tasks.shared import QuietFailure, exclusive_run, resolve_run_date


@flow(name="assign-segments", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=2))
def assign_flow(
    kind: AssignKind,
    inputs: Annotated[list[str], Field(min_length=1, description="New members: a customer "
                                       "table, a purchase log, or meter reading files")],
    dataset: DatasetName | None = None,
    model: ModelChoice = assignment.LATEST,
    assign_date: RunDate = None,
    data_root: Annotated[str | None, Field(description="Data root; default: the project's data/")] = None,
    outputs_root: Annotated[str | None, Field(description="Outputs root; default: outputs/")] = None,
    max_quarantine_share: QuarantineShare | None = None,
    dask_address: DaskAddress = None,
) -> dict:
    """Place new members in the segments of a published run, read as that run read its input.

    Args:
        kind: customers, meters or transactions: the kind of the dataset's runs
        inputs: The new members' file (meters: one or more reading files)
        dataset: The published dataset whose model is used; empty: the kind's name
        model: latest, or the run date YYYY-MM-DD of the model to use
        assign_date: Date of the assignment YYYY-MM-DD (purchase logs: features as of it;
            meters: the window ends with it); empty: today (Europe/London)
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
        max_quarantine_share: Refuse the input when a larger share of it is quarantined
            (0-1); empty: the model's run's (a handful of new members may need more)
        dask_address: Dask scheduler tcp://HOST:PORT: meter files are ingested and featurised,
            and members placed in chunks, on its workers; empty: $SEGMENT_DASK_ADDRESS, else here
    """
    with QuietFailure() as failure:
        limit_threads()
        dataset = dataset or kind
        paths = RunPaths.create(dataset, resolve_run_date(assign_date), data_root, outputs_root)
        model_path = assignment.model_file(paths.dataset_dir, dataset, model)
        fitted = assignment.load_model(model_path, kind)
        settings = {**fitted.settings, **({"max_quarantine_share": max_quarantine_share}
                                          if max_quarantine_share is not None else {}),
                    "dask_address": resolve_dask_address(dask_address)}
        files = [str(Path(p).resolve()) for p in inputs]
        with exclusive_run(paths):
            read = steps.READERS[kind](files, settings, paths)
            placed = steps.place_members(read["members"], kind, read["id_column"],
                                         str(model_path), paths, settings["dask_address"])
            rows = pd.read_parquet(placed)
            manifest = assignment.assignment_manifest(
                kind=kind, dataset=dataset, assign_date=paths.run_date, model_path=model_path,
                model=fitted, inputs=read["inputs"], counts=read["counts"], rows=rows)
            work = paths.work_dir
            outputs = {"assignments.parquet": placed,
                     **{f"{name}.parquet": path for name, path in read["tables"].items()},
                     "manifest.json": write_json_atomic(manifest, work / "manifest.json"),
                     "report.md": write_text_atomic(assignment.assignment_report(manifest),
                                                    work / "assignment-report.md")}
            published = publish_assignment(paths, outputs, paths.run_date.isoformat())
            get_run_logger().info("placed %s members with the model of %s: %s (%s atypical)",
                                  len(rows), fitted.run_date, manifest["segments"],
                                  manifest["atypical"])
            return {"published": published, "model_run_date": fitted.run_date,
                    "segments": manifest["segments"], "atypical": manifest["atypical"],
                    "counts": read["counts"]}
    return failure.state
