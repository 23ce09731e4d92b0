"""Smart-meter flow: raw interval readings in, named load-profile segments for one run date out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
from prefect import flow, get_run_logger, unmapped
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from pydantic import Field

from segmentation.errors import InputError
from segmentation.preflight import check_timezone
from segmentation.parameters import (METER_K_MIN, DatasetName, Hemisphere, KMax, KMin, MinSegmentSize, KValue,
                                     KwhBands, MaxKwh, MeterFormat, QuarantineShare, RunDate,
                                     Shape, Timezone, WindowDays)
from segmentation.meters import record
from segmentation.artifact import with_settings
from segmentation.attributes import insert_section
from segmentation.parameters import Algorithm, AttributesId, AttributesPath, Compare, DaskAddress, \
    FreshIds, MinConfidence
from segmentation.cluster import dask_address as resolve_dask_address, shard_runner
from segmentation.algorithms import DEFAULT_ALGORITHM
from segmentation.meters.clean import CleaningPolicy
from segmentation.settings import MAX_QUARANTINE_SHARE, MIN_CONFIDENCE, SEED, RunPaths
from segmentation.threads import limit_threads
from tasks import meters as steps
from tasks.shared import (QuietFailure, StepTimer, artifact_key, exclusive_run,
                          publish_outputs, report_artifacts, resolve_run_date)
from tasks.shared import (compare_algorithms, compared_summary, history_report,
                          profile_member_attributes)


def default_meter_inputs(paths: RunPaths) -> list[str]:
    """Every file under ``<data-root>/raw/meters/`` (hidden files excluded)."""
    folder = paths.raw_dir / "meters"
    return [str(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)]


# At most two shards in memory at once (2 cores): memory stays bounded by shard size.
@flow(name="meter-segmentation", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=2))
def meter_flow(
    inputs: Annotated[list[str] | None, Field(description="Reading files; default: every file "
                                                          "under data/raw/meters/")] = None,
    dataset: DatasetName = "meters",
    format: MeterFormat = "auto",
    timezone: Timezone = "Europe/London",
    window_days: WindowDays = 365,
    k: KValue = None,
    k_min: KMin = METER_K_MIN,
    k_max: KMax = 10,
    min_segment_size: MinSegmentSize = None,
    run_date: RunDate = None,
    data_root: Annotated[str | None, Field(description="Data root; default: the project's data/")] = None,
    outputs_root: Annotated[str | None, Field(description="Outputs root; default: outputs/")] = None,
    max_kwh_per_interval: MaxKwh = 10.0,
    hemisphere: Hemisphere | None = None,
    kwh_bands: KwhBands = None,
    shape: Shape = "daily",
    max_quarantine_share: QuarantineShare = MAX_QUARANTINE_SHARE,
    attributes_path: AttributesPath = None,
    attributes_id: AttributesId = None,
    fresh_ids: FreshIds = False,
    algorithm: Algorithm = DEFAULT_ALGORITHM,
    min_confidence: MinConfidence = MIN_CONFIDENCE,
    compare: Compare = True,
    dask_address: DaskAddress = None,
) -> dict:
    """Ingest new reading files, clean and featurise per shard, segment, name and publish.

    Args:
        inputs: Reading files (CSV, CSV.gz or Parquet); empty: every file under <data_root>/raw/meters/
        dataset: Output dataset name: the folder under processed/ and outputs/
        format: File layout: auto-detect, long (meter_id,timestamp,kwh), lcl (London trial) or wide
        timezone: IANA zone in which naive timestamps are read, e.g. Europe/London
        window_days: Days of data to use, counted back from the last reading (1-3660)
        k: Fixed number of segments (2-30); empty: chosen by the k-selection rule
        k_min: Smallest k to evaluate (2-30; default 3 for load shapes)
        k_max: Largest k to evaluate (2-30)
        min_segment_size: Smallest segment in members; empty: max(2% of the members, 5)
        run_date: Partition date YYYY-MM-DD; empty: the scheduled date (Europe/London)
        data_root: Data root; empty: the project's data/
        outputs_root: Outputs root; empty: the project's outputs/
        max_kwh_per_interval: Plausible maximum kWh per interval; readings above are quarantined
        hemisphere: north or south, for winter and summer months; empty: from the time zone
        kwh_bands: Two mean-daily-kWh thresholds for Low/Medium/High Energy Users; empty: tertiles
        shape: Cluster on the daily shape, or on the weekday and weekend shapes side by side
        max_quarantine_share: A file with more of its readings quarantined is refused (0-1)
        attributes_path: Per-meter attribute table (CSV or Parquet) joined by meter_id; each
            column profiled per segment (profiles.parquet, manifest, report)
        attributes_id: Id column of the attribute table; empty: meter_id, id or the one *_id
        fresh_ids: Number segments by size (0 = largest) instead of following the
            previous run's ids (a first run numbers them so anyway)
        algorithm: kmeans, gmm (Gaussian mixture), agglomerative (Ward) or hdbscan
        min_confidence: Meters whose segment probability is below this are flagged
        compare: Compare every algorithm on the load shapes (report, comparison.parquet)
        dask_address: Dask scheduler tcp://HOST:PORT: ingestion and the shard features run on
            its workers (the data root must be shared); empty: $SEGMENT_DASK_ADDRESS, else here
    """
    with QuietFailure() as failure:
        limit_threads()          # SEGMENT_THREADS: see segmentation/threads.py
        if k_min > k_max:
            raise InputError(f"k_min ({k_min}) must not exceed k_max ({k_max})")
        if kwh_bands and not 0 <= kwh_bands[0] < kwh_bands[1]:
            raise InputError(f"kwh_bands needs two increasing thresholds >= 0, got {kwh_bands}")
        check_timezone(timezone)
        dask_address = resolve_dask_address(dask_address)
        logger = get_run_logger()
        paths = RunPaths.create(dataset, resolve_run_date(run_date), data_root, outputs_root)
        files = [str(Path(p).resolve()) for p in inputs] if inputs else default_meter_inputs(paths)
        attributes_path = str(Path(attributes_path).resolve()) if attributes_path else None
        store_dir = str(paths.store_dir)
        policy = CleaningPolicy()
        timer = StepTimer()

        with exclusive_run(paths), shard_runner(dask_address) as runner:
            progress = create_progress_artifact(0.0, key=artifact_key(dataset, "ingest-progress"),
                                                description=f"Ingesting {len(files)} reading files")
            ingested = []
            for i, path in enumerate(files, start=1):
                ingested.append(runner.submit(steps.ingest_meter_file, {
                    "path": path, "dataset_dir": store_dir, "fmt": format, "timezone": timezone,
                    "max_kwh": max_kwh_per_interval,
                    "max_quarantine_share": max_quarantine_share}).result())
                update_progress_artifact(progress, 100.0 * i / len(files),
                                         description=f"{i} of {len(files)} files: {Path(path).name}")
            timer.lap("ingest")

            plan = steps.plan_meter_window(store_dir, window_days, timezone, hemisphere,
                                           paths.run_date.isoformat())
            shard_dir = str(paths.work_dir / "shards")
            futures = runner.map(steps.meter_shard_features, {
                "dataset_dir": store_dir, "shard": plan["shards"], "window": unmapped(plan["window"]),
                "policy": unmapped(policy.__dict__), "out_dir": unmapped(shard_dir)})
            shards = [f.result() for f in futures]
            timer.lap("features")

            clustering = {"algorithm": algorithm, "min_confidence": min_confidence}
            segmented = steps.segment_meter_run(shards, paths, k, k_min, k_max, SEED, shape, kwh_bands,
                                                min_segment_size, fresh_ids, clustering)
            seg = segmented["segmentation"]
            attributes = (profile_member_attributes(attributes_path, attributes_id, "meter_id",
                                                    segmented["segments"], segmented["profiles"])
                          if attributes_path else None)
            profiles = pd.read_parquet(segmented["profiles"])
            timer.lap("segment")
            compared = (compare_algorithms(segmented["points"], paths, clustering, k=k,
                                           k_min=k_min, k_max=k_max,
                                           min_size=min_segment_size, unit="meters")
                        if compare else None)
            timer.lap("compare")
            quarantine = steps.collect_quarantine(store_dir, str(paths.work_dir / "quarantine.parquet"))
            counts = record.run_accounting(store_dir, shards, segmented["quarantine_meters"], quarantine["rows"])
            parameters = {"inputs": files, "dataset": dataset, "format": format, "timezone": timezone,
                          "window_days": window_days, "k": k, "k_min": k_min, "k_max": k_max,
                          "min_segment_size": min_segment_size, "seed": SEED,
                          "run_date": paths.run_date.isoformat(),
                          "max_kwh_per_interval": max_kwh_per_interval, "hemisphere": hemisphere,
                          "kwh_bands": kwh_bands, "shape": shape,
                          "max_quarantine_share": max_quarantine_share,
                          "attributes_path": attributes_path, "attributes_id": attributes_id,
                          **clustering, "compare": compare, "dask_address": dask_address,
                          **policy.__dict__}
            manifest, report = record.manifest_and_report(
                paths=paths, parameters=parameters, ingested=ingested, plan=plan, segmented=segmented,
                counts=counts, policies=record.policy_text(policy, max_kwh_per_interval),
                timings=timer.timings, store_dir=store_dir)
            manifest["store_months"] = record.months_used(shards)   # shard-months, issue 19
            manifest["alignment"] = segmented["alignment"]
            manifest["prediction"] = segmented["prediction"]
            report = history_report(report, segmented)
            if compared:
                manifest["comparison"] = compared["block"]
                report = insert_section(report, compared["section"])
            if attributes:
                manifest["attributes"] = attributes["manifest"]
                report = insert_section(report, attributes["section"])
            with_settings(segmented["model"], {      # how `segment assign` reads new files
                "format": format, "timezone": timezone, "window_days": window_days,
                "hemisphere": hemisphere, "max_kwh_per_interval": max_kwh_per_interval,
                "max_quarantine_share": max_quarantine_share, "min_confidence": min_confidence,
                **policy.__dict__})
            published = publish_outputs(
                paths, {"segments": segmented["segments"], "profiles": segmented["profiles"],
                        "quarantine": quarantine["quarantine"],
                        "quarantine_meters": segmented["quarantine_meters"],
                        "migrations": segmented["migrations"],
                        **segmented["prediction_tables"],
                        **({"comparison": compared["comparison"]} if compared else {})},
                {**segmented["plots"], **segmented["migration_plots"],
                 **(compared["plots"] if compared else {})}, manifest, report,
                record.data_docs_pages(ingested),
                {"model.json": segmented["model"]})
            segment_sizes = dict(zip(profiles["segment_name"], profiles["size"].astype(int)))
            report_artifacts(dataset, report, profiles.drop(
                columns=["centroid_profile", "profile_p10", "profile_p90", "monthly_index"]))
            logger.info("k=%s stability=%.2f silhouette=%.3f archetypes=%s bands=%s quarantined "
                        "readings=%s meters=%s", seg.selection.k, seg.selection.stability, seg.silhouette,
                        segment_sizes, manifest["consumption_bands"]["meters"],
                        counts["readings_quarantined"], counts["meters_quarantined"])
            for warning in segmented["quality"]["warnings"]:
                logger.warning(warning)
            return {"published": published, "k": seg.selection.k, "silhouette": seg.silhouette,
                    "comparison": compared_summary(compared, algorithm),
                    "segments": segment_sizes, "counts": counts, "window": plan["window"],
                    "resolution_min": plan["window"]["resolution_min"], "quality": segmented["quality"],
                    "consumption_bands": manifest["consumption_bands"]["meters"]}
    return failure.state
