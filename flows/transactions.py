"""Purchase-log flow: transaction lines in, behavioural (RFM) segments as of the run date out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow.parquet as pq
from prefect import flow, get_run_logger
from pydantic import Field

from segmentation.errors import InputError
from segmentation.artifact import with_settings
from segmentation.attributes import insert_section
from segmentation.parameters import (AttributesId, AttributesPath, Column, DatasetName, KMax, KMin, KValue, MaxQuantity,
                                     MinSegmentSize, QuarantineShare, RunDate, Timezone,
                                     TransactionWindow, FreshIds)
from segmentation.parameters import Algorithm, Compare, DaskAddress, MinConfidence
from segmentation.cluster import dask_address as resolve_dask_address, shard_runner
from segmentation.transactions.features import CLUSTER_SHARDS
from segmentation.algorithms import DEFAULT_ALGORITHM
from segmentation.report import build_manifest
from segmentation.settings import MAX_QUARANTINE_SHARE, MIN_CONFIDENCE, SEED, RunPaths
from segmentation.threads import limit_threads
from segmentation.transactions import outputs
from segmentation.transactions.config import CANCEL_PREFIX, MAX_QUANTITY, \
    resolve_transaction_config
from segmentation.transactions.ingest import read_header
from tasks import transactions as steps
from tasks.shared import (QuietFailure, StepTimer, compare_algorithms, compared_summary,
                          data_docs_page, exclusive_run, history_report,
                          one_raw_input, profile_member_attributes, publish_outputs,
                          report_artifacts, resolve_run_date)


def default_transaction_input(paths: RunPaths) -> str:
    """The one file under ``<data-root>/raw/transactions/``."""
    return one_raw_input(paths, "transactions", "*", "purchase log")


@flow(name="transaction-segmentation", log_prints=True)
def transaction_flow(
    input_path: Annotated[str | None, Field(description="Purchase log: CSV, gzip CSV or Parquet; default: the file in data/raw/transactions/")] = None,
    dataset: DatasetName = "transactions",
    customer_column: Column = None,
    timestamp_column: Column = None,
    amount_column: Column = None,
    quantity_column: Column = None,
    price_column: Column = None,
    order_column: Column = None,
    product_column: Column = None,
    country_column: Column = None,
    timezone: Timezone = "Europe/London",
    cancel_prefix: Annotated[str, Field(max_length=10, description="An order id starting with this is a cancellation")] = CANCEL_PREFIX,
    non_product_codes: Annotated[list[str] | None, Field(description="Product codes of non-product lines (postage, fees); empty: the Online Retail codes")] = None,
    max_quantity: MaxQuantity = MAX_QUANTITY,
    window_days: TransactionWindow = None,
    k: KValue = None,
    k_min: KMin = 2,
    k_max: KMax = 10,
    min_segment_size: MinSegmentSize = None,
    run_date: RunDate = None,
    data_root: Annotated[str | None, Field(description="Data root; default: the project's data/")] = None,
    outputs_root: Annotated[str | None, Field(description="Outputs root; default: the project's outputs/")] = None,
    max_quarantine_share: QuarantineShare = MAX_QUARANTINE_SHARE,
    attributes_path: AttributesPath = None,
    attributes_id: AttributesId = None,
    fresh_ids: FreshIds = False,
    algorithm: Algorithm = DEFAULT_ALGORITHM,
    min_confidence: MinConfidence = MIN_CONFIDENCE,
    compare: Compare = True,
    dask_address: DaskAddress = None,
) -> dict:
    """Ingest, validate, clean, compute behaviour as of the run date, segment and publish.

    Args:
        input_path: Purchase log (one row per line); default: the one file in <data_root>/raw/transactions/
        dataset: Output dataset name: the folder under processed/ and outputs/
        customer_column: Customer id column; default: found by name (CustomerID, customer_id, ...)
        timestamp_column: Date or date-time column, read in timezone; default: found by name
        amount_column: Line value; without it quantity x price
        quantity_column: Units on the line
        price_column: Unit price
        order_column: Order or invoice id; without it a customer's purchases on one day are one order
        product_column: Product code (non-product lines are recognised by it)
        country_column: Country, profiled per segment
        timezone: IANA zone the timestamps are read in; lines after the run date there are not seen
        cancel_prefix: Order ids starting with this are cancellations (returns)
        non_product_codes: Product codes excluded from spend and counted; empty: the Online Retail codes
        max_quantity: Lines with more units than this are quarantined
        window_days: Use only the N days up to the run date; empty: all history
        k: Fixed number of segments (2-30); empty: chosen by the k-selection rule
        k_min: Smallest k to evaluate (2-30)
        k_max: Largest k to evaluate (2-30)
        min_segment_size: Smallest segment in customers; empty: max(2% of the customers, 5)
        run_date: As-of date YYYY-MM-DD; empty: the scheduled date (Europe/London)
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
        max_quarantine_share: A log with more of its lines quarantined (anonymous sales not counted) is refused (0-1)
        attributes_path: Per-customer attribute table (CSV or Parquet) joined by customer_id;
            each column profiled per segment (profiles.parquet, manifest, report)
        attributes_id: Id column of the attribute table; empty: customer_id, id or the one *_id
        fresh_ids: Number segments by size (0 = largest) instead of following the
            previous run's ids (a first run numbers them so anyway)
        algorithm: kmeans, gmm (Gaussian mixture), agglomerative (Ward) or hdbscan
        min_confidence: Customers whose segment probability is below this are flagged
        compare: Compare every algorithm on the behavioural features (report, comparison.parquet)
        dask_address: Dask scheduler tcp://HOST:PORT: the customers' features are computed in
            16 shards on its workers (the data root must be shared); empty:
            $SEGMENT_DASK_ADDRESS, else here
    """
    with QuietFailure() as failure:
        limit_threads()
        if k_min > k_max:
            raise InputError(f"k_min ({k_min}) must not exceed k_max ({k_max})")
        dask_address = resolve_dask_address(dask_address)
        logger = get_run_logger()
        paths = RunPaths.create(dataset, resolve_run_date(run_date), data_root, outputs_root)
        input_path = (str(Path(input_path).resolve()) if input_path
                      else default_transaction_input(paths))
        given = {"customer": customer_column, "timestamp": timestamp_column,
                 "amount": amount_column, "quantity": quantity_column, "price": price_column,
                 "order": order_column, "product": product_column, "country": country_column}
        config = resolve_transaction_config(read_header(input_path), file=input_path, given=given,
                                            cancel_prefix=cancel_prefix,
                                            non_product=non_product_codes,
                                            max_quantity=max_quantity, window_days=window_days,
                                            timezone=timezone)
        logger.info("columns: %s", config.describe())
        attributes_path = str(Path(attributes_path).resolve()) if attributes_path else None
        timer = StepTimer()
        with exclusive_run(paths), shard_runner(dask_address) as runner:
            staged = steps.stage_transactions(input_path, paths)
            timer.lap("ingest")
            validated = steps.validate_transactions(staged, config, paths, max_quarantine_share)
            timer.lap("validate")
            featured = steps.transaction_features(validated, config, paths, runner,
                                                  CLUSTER_SHARDS if dask_address else 1)
            timer.lap("features")
            clustering = {"algorithm": algorithm, "min_confidence": min_confidence}
            segmented = steps.segment_transactions(featured, paths, k, k_min, k_max, SEED,
                                                   input_path, min_segment_size, fresh_ids,
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
            rejects = pq.read_metadata(staged["rejects"]).num_rows
            counts = outputs.line_accounting(staged["lines_in"], validated["counts"], rejects,
                                             featured)
            profiles = pd.read_parquet(segmented["profiles"])
            segment_sizes = dict(zip(profiles["segment_name"], profiles["size"].astype(int)))
            parameters = {"input_path": input_path, "dataset": dataset, "columns": config.columns,
                          "columns_found": config.found, "value": config.value_from,
                          "timezone": timezone, "cancel_prefix": cancel_prefix,
                          "non_product_codes": list(config.non_product),
                          "max_quantity": max_quantity, "window_days": window_days,
                          "time_format": validated["counts"]["time_format"], "k": k,
                          "k_min": k_min, "k_max": k_max, "min_segment_size": min_segment_size,
                          "seed": SEED, "max_quarantine_share": max_quarantine_share,
                          "attributes_path": attributes_path, "attributes_id": attributes_id,
                          **clustering, "compare": compare, "dask_address": dask_address,
                          "run_date": paths.run_date.isoformat()}
            docs = data_docs_page(staged["sha256"])
            planned = {"segments": str(paths.partition_dir / "segments.parquet"),
                       "profiles": str(paths.partition_dir / "profiles.parquet"),
                       "quarantine": str(paths.partition_dir / "quarantine.parquet"),
                       "migrations": str(paths.partition_dir / "migrations.parquet"),
                       "model": str(paths.partition_dir / "model.json"),
                       "latest": str(paths.latest_dir), "plots": str(paths.report_dir / "plots"),
                       "data docs (validation)": str(paths.report_dir / docs)}
            report = outputs.transaction_report(
                dataset=dataset, run_date=paths.run_date, input_path=input_path, config=config,
                profiles=profiles, selection=segmented["selection"],
                silhouette=segmented["silhouette"], counts=counts, cleaning=segmented["cleaning"],
                quality=segmented["quality"], transforms=segmented["transforms"],
                new_customers=segmented["new_customers"], paths=planned,
                extra_sections=[segmented["countries"]["section"]] if segmented["countries"] else [])
            report = history_report(report, segmented)
            if compared:
                report = insert_section(report, compared["section"])
            if attributes:
                report = insert_section(report, attributes["section"])
            manifest = build_manifest(
                dataset=dataset, run_date=paths.run_date,
                inputs=[{"path": input_path, "sha256": staged["sha256"],
                         "rows": staged["lines_in"]}],
                counts=counts, parameters=parameters, selection=segmented["selection"],
                silhouette=segmented["silhouette"], timings=timer.timings, segments=segment_sizes,
                cleaning=segmented["cleaning"], expectations=validated["expectations"],
                quality=segmented["quality"], transforms=segmented["transforms"],
                customer_id=f"customer_id from column '{config.column('customer')}'",
                new_customers=segmented["new_customers"], alignment=segmented["alignment"],
                prediction=segmented["prediction"],
                **({"countries": segmented["countries"]["manifest"]} if segmented["countries"]
                   else {}),
                **({"comparison": compared["block"]} if compared else {}),
                **({"attributes": attributes["manifest"]} if attributes else {}))
            with_settings(segmented["model"], {      # how `segment assign` reads new lines
                "given_columns": given, "timezone": timezone, "cancel_prefix": cancel_prefix,
                "non_product_codes": list(config.non_product), "max_quantity": max_quantity,
                "window_days": window_days, "max_quarantine_share": max_quarantine_share,
                "min_confidence": min_confidence})
            published = publish_outputs(
                paths, {"segments": segmented["segments"], "profiles": segmented["profiles"],
                        "quarantine": validated["quarantine"],
                        "migrations": segmented["migrations"],
                        **segmented["prediction_tables"],
                        **({"comparison": compared["comparison"]} if compared else {})},
                {**segmented["plots"], **segmented["migration_plots"],
                 **(compared["plots"] if compared else {})}, manifest, report,
                {docs: validated["data_docs"]},
                {"model.json": segmented["model"]})
            report_artifacts(dataset, report, profiles)
            logger.info("k=%s silhouette=%.3f segments=%s lines quarantined=%s",
                        segmented["selection"].k, segmented["silhouette"], segment_sizes,
                        counts["lines_quarantined"])
            for warning in segmented["quality"]["warnings"]:
                logger.warning(warning)
            return {"published": published, "k": segmented["selection"].k,
                    "comparison": compared_summary(compared, algorithm),
                    "silhouette": segmented["silhouette"], "segments": segment_sizes,
                    "counts": counts, "quality": segmented["quality"]}
    return failure.state
