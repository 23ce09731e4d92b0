"""Customer segmentation flow: CSV in, named segments for one run date out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from prefect import flow, get_run_logger
from pydantic import Field

from segmentation.customers import outputs
from segmentation.customers.config import resolve_config
from segmentation.errors import InputError
from segmentation.report import accounting, build_manifest
from segmentation.settings import SEED, RunPaths
from tasks import customers as steps
from tasks.shared import (StepTimer, clear_work_dir, publish_outputs, report_artifacts,
                          resolve_run_date)

DatasetName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$",
                                   description="Name of the output dataset (folder under processed/)")]
RunDate = Annotated[str | None, Field(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                      description="Partition date YYYY-MM-DD; default: the scheduled date")]
KValue = Annotated[int | None, Field(ge=2, le=30, description="Fixed number of segments; empty: choose k")]
KMin = Annotated[int, Field(ge=2, le=30, description="Smallest k to evaluate")]
DATA_DOCS = "data_docs/validation.html"
KMax = Annotated[int, Field(ge=2, le=30, description="Largest k to evaluate")]


def default_customer_input(paths: RunPaths) -> str:
    """The one CSV under ``<data-root>/raw/customers/``."""
    files = sorted((paths.raw_dir / "customers").glob("*.csv"))
    if len(files) != 1:
        raise InputError(f"expected exactly one CSV in {paths.raw_dir / 'customers'}, found "
                         f"{len(files)}; pass input_path (CLI: --input)")
    return str(files[0])


@flow(name="customer-segmentation", log_prints=True)
def customer_flow(
    input_path: Annotated[str | None, Field(description="Customer CSV; default: the CSV in data/raw/customers/")] = None,
    dataset: DatasetName = "customers",
    id_column: Annotated[str | None, Field(description="Id column (original or snake_case name)")] = None,
    features: Annotated[list[str] | None, Field(description="Numeric columns to cluster on")] = None,
    categorical: Annotated[list[str] | None, Field(description="Categorical columns, one-hot encoded")] = None,
    k: KValue = None,
    k_min: KMin = 2,
    k_max: KMax = 10,
    run_date: RunDate = None,
    data_root: Annotated[str | None, Field(description="Data root; default: the project's data/")] = None,
    outputs_root: Annotated[str | None, Field(description="Outputs root; default: the project's outputs/")] = None,
    missing: Literal["quarantine", "impute"] = "quarantine",
    outliers: Literal["flag", "winsorize"] = "flag",
) -> dict:
    """Ingest, validate, clean, segment and publish a customer table for one run date.

    Args:
        input_path: Customer CSV; default: the one CSV in <data_root>/raw/customers/
        dataset: Output dataset name: the folder under processed/ and outputs/
        id_column: Id column, as in the file or in snake_case; default customer_id
        features: Numeric columns to cluster on; default (Mall table) income and spending score
        categorical: Categorical columns to one-hot encode and cluster on as well
        k: Fixed number of segments (2-30); empty: chosen by the k-selection rule
        k_min: Smallest k to evaluate (2-30)
        k_max: Largest k to evaluate (2-30)
        run_date: Partition date YYYY-MM-DD; empty: the scheduled date (Europe/London)
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
        missing: Rows with a missing feature value: quarantine them, or impute the median
        outliers: Values beyond 3 x IQR: flag them, or winsorize to the fences
    """
    if k_min > k_max:
        raise InputError(f"k_min ({k_min}) must not exceed k_max ({k_max})")
    logger = get_run_logger()
    paths = RunPaths.create(dataset, resolve_run_date(run_date), data_root, outputs_root)
    input_path = str(Path(input_path).resolve()) if input_path else default_customer_input(paths)
    timer = StepTimer()

    clear_work_dir(paths)
    ingested = steps.ingest_customers(input_path, paths)
    timer.lap("ingest")
    header = list(pd.read_parquet(ingested["rows"]).columns)
    config = resolve_config(header, id_column=id_column, features=features,
                            categorical=categorical, missing=missing, outliers=outliers,
                            file=input_path)
    validated = steps.validate_customers(ingested, config, paths)
    timer.lap("validate")
    cleaned = steps.clean_customers(validated, config, paths)
    timer.lap("clean")
    segmented = steps.segment_customers(cleaned, config, paths, k, k_min, k_max, SEED)
    timer.lap("segment")

    profiles = pd.read_parquet(segmented["profiles"])
    quarantine = pd.read_parquet(validated["quarantine"])
    counts = accounting(ingested["data_lines"], len(pd.read_parquet(segmented["segments"])),
                        quarantine)
    segment_sizes = dict(zip(profiles["segment_name"], profiles["size"].astype(int)))
    parameters = {"input_path": input_path, "dataset": dataset, "id_column": config.id_column,
                  "features": list(config.features), "categorical": list(config.categorical),
                  "k": k, "k_min": k_min, "k_max": k_max, "seed": SEED, "missing": missing,
                  "outliers": outliers, "run_date": paths.run_date.isoformat()}
    planned = {"segments": str(paths.partition_dir / "segments.parquet"),
               "profiles": str(paths.partition_dir / "profiles.parquet"),
               "quarantine": str(paths.partition_dir / "quarantine.parquet"),
               "latest": str(paths.latest_dir), "plots": str(paths.report_dir / "plots"),
               "data docs (validation)": str(paths.report_dir / DATA_DOCS)}
    report = outputs.customer_report(
        dataset=dataset, run_date=paths.run_date, input_path=input_path, profiles=profiles,
        selection=segmented["selection"], silhouette=segmented["silhouette"], counts=counts,
        cleaning=cleaned["cleaning"], paths=planned)
    manifest = build_manifest(
        dataset=dataset, run_date=paths.run_date,
        inputs=[{"path": input_path, "sha256": ingested["sha256"], "rows": ingested["data_lines"]}],
        counts=counts, parameters=parameters, selection=segmented["selection"],
        silhouette=segmented["silhouette"], timings=timer.timings, segments=segment_sizes,
        cleaning=cleaned["cleaning"], expectations=validated["expectations"])
    published = publish_outputs(
        paths, {"segments": segmented["segments"], "profiles": segmented["profiles"],
                "quarantine": validated["quarantine"]},
        segmented["plots"], manifest, report, {DATA_DOCS: validated["data_docs"]})
    clear_work_dir(paths)
    report_artifacts(dataset, report, profiles)
    logger.info("k=%s silhouette=%.3f segments=%s quarantined=%s", segmented["selection"].k,
                segmented["silhouette"], segment_sizes, counts["rows_quarantined"])
    return {"published": published, "k": segmented["selection"].k,
            "silhouette": segmented["silhouette"], "segments": segment_sizes, "counts": counts}
