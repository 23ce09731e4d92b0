"""Customer segmentation flow: CSV in, named segments for one run date out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow.parquet as pq
from prefect import flow, get_run_logger
from pydantic import Field

from segmentation.customers import outputs
from segmentation.customers.config import all_numeric, numeric_columns, resolve_config
from segmentation.customers.ingest import SOURCE_ROW
from segmentation.errors import InputError
from segmentation.parameters import (DatasetName, KMax, KMin, MinSegmentSize, KValue, Missing, Outliers,
                                     QuarantineShare, RunDate, Transform)
from segmentation.parameters import Algorithm, AttributesId, AttributesPath, Compare, FreshIds, \
    MinConfidence
from segmentation.algorithms import DEFAULT_ALGORITHM
from segmentation.artifact import with_settings
from segmentation.attributes import insert_section
from segmentation.report import accounting, build_manifest
from segmentation.settings import MAX_QUARANTINE_SHARE, MIN_CONFIDENCE, SEED, RunPaths
from segmentation.threads import limit_threads
from tasks import customers as steps
from tasks.shared import (QuietFailure, StepTimer, data_docs_page, exclusive_run,
                          one_raw_input, publish_outputs, report_artifacts, resolve_run_date)
from tasks.shared import (compare_algorithms, compared_summary, history_report,
                          profile_member_attributes)


def default_customer_input(paths: RunPaths) -> str:
    """The one CSV under ``<data-root>/raw/customers/``."""
    return one_raw_input(paths, "customers", "*.csv", "CSV")


@flow(name="customer-segmentation", log_prints=True)
def customer_flow(
    input_path: Annotated[str | None, Field(description="Customer CSV; default: the CSV in data/raw/customers/")] = None,
    dataset: DatasetName = "customers",
    id_column: Annotated[str | None, Field(description="Id column (original or snake_case name)")] = None,
    features: Annotated[list[str] | None, Field(description="Numeric columns to cluster on; [\"all\"] or empty: every numeric column (Mall table: income and score)")] = None,
    categorical: Annotated[list[str] | None, Field(description="Categorical columns, profiled per segment")] = None,
    k: KValue = None,
    k_min: KMin = 2,
    k_max: KMax = 10,
    min_segment_size: MinSegmentSize = None,
    run_date: RunDate = None,
    data_root: Annotated[str | None, Field(description="Data root; default: the project's data/")] = None,
    outputs_root: Annotated[str | None, Field(description="Outputs root; default: the project's outputs/")] = None,
    missing: Missing = "quarantine",
    outliers: Outliers = "flag",
    transform: Transform = "auto",
    cluster_categorical: bool = False,
    max_quarantine_share: QuarantineShare = MAX_QUARANTINE_SHARE,
    attributes_path: AttributesPath = None,
    attributes_id: AttributesId = None,
    fresh_ids: FreshIds = False,
    algorithm: Algorithm = DEFAULT_ALGORITHM,
    min_confidence: MinConfidence = MIN_CONFIDENCE,
    compare: Compare = True,
) -> dict:
    """Ingest, validate, clean, segment and publish a customer table for one run date.

    Args:
        input_path: Customer CSV; default: the one CSV in <data_root>/raw/customers/
        dataset: Output dataset name: the folder under processed/ and outputs/
        id_column: Id column, as in the file or in snake_case; default customer_id
        features: Numeric columns to cluster on, or ["all"] for every numeric column but the id;
            default: income and spending score for the Mall table, all for any other table
        categorical: Categorical columns, profiled per segment (share of each category)
        k: Fixed number of segments (2-30); empty: chosen by the k-selection rule
        k_min: Smallest k to evaluate (2-30)
        k_max: Largest k to evaluate (2-30)
        min_segment_size: Smallest segment in members; empty: max(2% of the members, 5)
        run_date: Partition date YYYY-MM-DD; empty: the scheduled date (Europe/London)
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
        missing: Rows with a missing feature value: quarantine them, or impute the median
        outliers: Values beyond 3 x IQR: flag them, or winsorize to the fences
        transform: Log right-skewed non-negative features (auto: skewness > 1), all (log) or none
        cluster_categorical: Cluster on the categorical columns too (default: only profile them)
        max_quarantine_share: A table with more of its rows quarantined is refused (0-1)
        attributes_path: Per-member attribute table (CSV or Parquet) joined by customer_id;
            each column profiled per segment (profiles.parquet, manifest, report)
        attributes_id: Id column of the attribute table; empty: customer_id, id or the one *_id
        fresh_ids: Number segments by size (0 = largest) instead of following the
            previous run's ids (a first run numbers them so anyway)
        algorithm: kmeans, gmm (Gaussian mixture), agglomerative (Ward) or hdbscan
        min_confidence: Members whose segment probability is below this are flagged
        compare: Compare every algorithm on the run's features (report, comparison.parquet)
    """
    with QuietFailure() as failure:
        limit_threads()          # SEGMENT_THREADS: see segmentation/threads.py
        if k_min > k_max:
            raise InputError(f"k_min ({k_min}) must not exceed k_max ({k_max})")
        logger = get_run_logger()
        paths = RunPaths.create(dataset, resolve_run_date(run_date), data_root, outputs_root)
        input_path = str(Path(input_path).resolve()) if input_path else default_customer_input(paths)
        attributes_path = str(Path(attributes_path).resolve()) if attributes_path else None
        timer = StepTimer()

        with exclusive_run(paths):
            ingested = steps.ingest_customers(input_path, paths)
            timer.lap("ingest")
            header = pq.read_schema(ingested["rows"]).names
            numeric = (numeric_columns(ingested["rows"], [c for c in header if c != SOURCE_ROW])
                       if all_numeric(features, header) else None)
            config = resolve_config(header, id_column=id_column, features=features,
                                    categorical=categorical, missing=missing, outliers=outliers,
                                    transform=transform, cluster_categorical=cluster_categorical,
                                    file=input_path, numeric=numeric)
            if config.features_note:
                logger.info(config.features_note)
            validated = steps.validate_customers(ingested, config, paths, max_quarantine_share)
            timer.lap("validate")
            cleaned = steps.clean_customers(validated, config, paths)
            timer.lap("clean")
            clustering = {"algorithm": algorithm, "min_confidence": min_confidence}
            segmented = steps.segment_customers(cleaned, config, paths, k, k_min, k_max, SEED,
                                                ingested["path"], min_segment_size, fresh_ids,
                                                clustering)
            timer.lap("segment")
            compared = (compare_algorithms(segmented["points"], paths, clustering, k=k,
                                           k_min=k_min, k_max=k_max,
                                           min_size=min_segment_size, unit="customers")
                        if compare else None)
            timer.lap("compare")
            attributes = (profile_member_attributes(attributes_path, attributes_id, "customer_id",
                                                    segmented["segments"], segmented["profiles"])
                          if attributes_path else None)

            profiles = pd.read_parquet(segmented["profiles"])
            quarantine = pd.read_parquet(validated["quarantine"], columns=["reason"])
            counts = accounting(ingested["data_lines"],
                                pq.read_metadata(segmented["segments"]).num_rows, quarantine)
            segment_sizes = dict(zip(profiles["segment_name"], profiles["size"].astype(int)))
            parameters = {"input_path": input_path, "dataset": dataset, "id_column": config.id_column,
                          "features": list(config.features),
                          "features_chosen": config.features_note or "given",
                          "categorical": list(config.categorical),
                          "k": k, "k_min": k_min, "k_max": k_max,
                          "min_segment_size": min_segment_size, "seed": SEED, "missing": missing,
                          "outliers": outliers, "transform": transform,
                          "cluster_categorical": cluster_categorical,
                          "max_quarantine_share": max_quarantine_share,
                          "attributes_path": attributes_path, "attributes_id": attributes_id,
                          **clustering, "compare": compare,
                          "run_date": paths.run_date.isoformat()}
            planned = {"segments": str(paths.partition_dir / "segments.parquet"),
                       "profiles": str(paths.partition_dir / "profiles.parquet"),
                       "quarantine": str(paths.partition_dir / "quarantine.parquet"),
                       "migrations": str(paths.partition_dir / "migrations.parquet"),
                       "model": str(paths.partition_dir / "model.json"),
                       "latest": str(paths.latest_dir), "plots": str(paths.report_dir / "plots"),
                       "data docs (validation)": str(paths.report_dir /
                                                     data_docs_page(ingested["sha256"]))}
            identity = (f"no id column: customer_id is the data line number in {Path(input_path).name}"
                        if config.id_from_line else f"customer_id from column '{config.id_column}'")
            report = outputs.customer_report(
                dataset=dataset, run_date=paths.run_date, input_path=input_path, profiles=profiles,
                selection=segmented["selection"], silhouette=segmented["silhouette"], counts=counts,
                cleaning=cleaned["cleaning"], paths=planned, quality=segmented["quality"],
                transforms=segmented["transforms"], identity=identity, config=config)
            report = history_report(report, segmented)
            if compared:
                report = insert_section(report, compared["section"])
            if attributes:
                report = insert_section(report, attributes["section"])
            manifest = build_manifest(
                dataset=dataset, run_date=paths.run_date,
                inputs=[{"path": input_path, "sha256": ingested["sha256"], "rows": ingested["data_lines"]}],
                counts=counts, parameters=parameters, selection=segmented["selection"],
                silhouette=segmented["silhouette"], timings=timer.timings, segments=segment_sizes,
                cleaning=cleaned["cleaning"], expectations=validated["expectations"],
                quality=segmented["quality"], transforms=segmented["transforms"], customer_id=identity,
                clustered_on=list(config.features) + (list(config.categorical)
                                                      if config.cluster_categorical else []),
                profiled_categorical=list(config.categorical), alignment=segmented["alignment"],
                prediction=segmented["prediction"],
                **({"comparison": compared["block"]} if compared else {}),
                **({"attributes": attributes["manifest"]} if attributes else {}))
            with_settings(segmented["model"], {      # how `segment assign` reads new members
                "id_column": id_column, "features": list(config.features),
                "categorical": list(config.categorical), "missing": missing,
                "outliers": outliers, "transform": transform,
                "cluster_categorical": cluster_categorical,
                "max_quarantine_share": max_quarantine_share, "min_confidence": min_confidence})
            published = publish_outputs(
                paths, {"segments": segmented["segments"], "profiles": segmented["profiles"],
                        "quarantine": validated["quarantine"],
                        "migrations": segmented["migrations"],
                        **segmented["prediction_tables"],
                        **({"comparison": compared["comparison"]} if compared else {})},
                {**segmented["plots"], **segmented["migration_plots"],
                 **(compared["plots"] if compared else {})}, manifest, report,
                {data_docs_page(ingested["sha256"]): validated["data_docs"]},
                {"model.json": segmented["model"]})
            report_artifacts(dataset, report, profiles)
            logger.info("k=%s stability=%.2f silhouette=%.3f segments=%s quarantined=%s",
                        segmented["selection"].k, segmented["selection"].stability,
                        segmented["silhouette"], segment_sizes, counts["rows_quarantined"])
            for warning in segmented["quality"]["warnings"]:
                logger.warning(warning)
            return {"published": published, "k": segmented["selection"].k,
                    "comparison": compared_summary(compared, algorithm),
                    "silhouette": segmented["silhouette"], "segments": segment_sizes, "counts": counts,
                    "quality": segmented["quality"]}
    return failure.state
