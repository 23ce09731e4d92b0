"""Tasks of the customer flow: each reads and writes Parquet in the run's work dir."""

from __future__ import annotations


import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from segmentation.customers import outputs, pipeline
from segmentation.customers.config import CustomerConfig
from segmentation.contract import source_file_name
from segmentation.customers.ingest import SOURCE_ROW, source_lines
from segmentation.errors import InputError, ValidationFailed
from segmentation.io import write_parquet_atomic, write_text_atomic
from segmentation.report import refuse_mostly_quarantined
from segmentation.settings import MAX_QUARANTINE_SHARE, RunPaths
from segmentation.alignment import previous_run
from tasks.shared import (IO_RETRIES, checkpointed_input, history_outputs, segmentation_outputs,
                          validation_failure_artifact)


@task(name="ingest-customers", cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_customers(input_path: str, paths: RunPaths) -> dict:
    """Read the CSV once per content hash: a rerun reuses the checkpoint."""
    sha, checkpoint = checkpointed_input(input_path, paths)
    rows_file, rejects_file = checkpoint / "rows.parquet", checkpoint / "rejects.parquet"
    reused = rows_file.exists() and rejects_file.exists()
    if not reused:
        rows, rejects = pipeline.ingest(input_path)
        write_parquet_atomic(rows.astype({c: "string" for c in rows.columns if c != SOURCE_ROW}),
                             rows_file)
        write_parquet_atomic(rejects.astype({"raw_line": "string", "reason": "string"}), rejects_file)
    n_rows = len(pd.read_parquet(rows_file, columns=[SOURCE_ROW]))
    n_rejects = len(pd.read_parquet(rejects_file, columns=[SOURCE_ROW]))
    return {"path": input_path, "sha256": sha, "rows": str(rows_file), "rejects": str(rejects_file),
            "data_lines": n_rows + n_rejects, "checkpoint_reused": reused}


def read_rows(path: str) -> pd.DataFrame:
    """Checkpointed text rows back as Arrow-backed text with NA for missing (a million rows of
    Python string objects would take ten times the memory)."""
    rows = pd.read_parquet(path)
    text = [c for c in rows.columns if c != SOURCE_ROW]
    return rows.astype({c: pd.StringDtype("pyarrow") for c in text})


@task(name="validate-customers", cache_policy=NO_CACHE)
def validate_customers(ingested: dict, config: CustomerConfig, paths: RunPaths,
                       max_quarantine_share: float = MAX_QUARANTINE_SHARE) -> dict:
    """Run the Great Expectations suite; failing rows go to quarantine, a bad table fails the run,
    and so does a table with more than ``max_quarantine_share`` of its rows quarantined."""
    rows = read_rows(ingested["rows"])
    try:
        valid, quarantine, outcome = pipeline.validate(rows, config, ingested["path"])
    except ValidationFailed as failure:
        validation_failure_artifact(paths.dataset, failure.failures)
        raise
    rejects = pd.read_parquet(ingested["rejects"])
    reasons = pd.concat([quarantine["reason"], rejects["reason"]]).astype(str)
    reasons = reasons.str.split("; ").explode().value_counts()
    refuse_mostly_quarantined({str(r): int(n) for r, n in reasons.items()},
                              len(quarantine) + len(rejects),
                              ingested["data_lines"], max_quarantine_share, unit="rows",
                              hint="check the columns, separator and --missing policy",
                              file=ingested["path"])
    quarantine = outputs.quarantine_frame(
        quarantine, rejects, source_file_name(ingested["path"], paths.data_root),
        source_lines(ingested["path"], quarantine[SOURCE_ROW]))
    schema = outputs.quarantine_schema(list(rows.columns))
    work = paths.work_dir
    write_parquet_atomic(valid, work / "valid.parquet")
    write_parquet_atomic(quarantine.reindex(columns=schema.names), work / "quarantine.parquet", schema)
    docs = write_text_atomic(outcome.data_docs_html, work / "data_docs" / "validation.html")
    return {"valid": str(work / "valid.parquet"), "quarantine": str(work / "quarantine.parquet"),
            "expectations": outcome.statistics, "columns": list(rows.columns),
            "data_docs": str(docs)}


@task(name="clean-customers", cache_policy=NO_CACHE)
def clean_customers(validated: dict, config: CustomerConfig, paths: RunPaths) -> dict:
    """Missing-value and outlier policies."""
    valid = pd.read_parquet(validated["valid"])
    frame, counts = pipeline.clean(valid, config)
    target = write_parquet_atomic(frame, paths.work_dir / "clean.parquet")
    return {"clean": str(target), "cleaning": counts,
            "cleaned_with": pipeline.cleaning_parameters(valid, config)}


@task(name="segment-customers", cache_policy=NO_CACHE)
def segment_customers(cleaned: dict, config: CustomerConfig, paths: RunPaths,
                      k: int | None, k_min: int, k_max: int, seed: int,
                      source: str | None = None, min_size: int | None = None,
                      fresh_ids: bool = False, clustering: dict | None = None) -> dict:
    """Choose k, cluster, name, align ids with the previous run; write typed tables, the
    model, the points clustered, migrations and plots to the work dir (``clustering``:
    algorithm and min_confidence)."""
    frame = pd.read_parquet(cleaned["clean"])
    if len(frame) < 3:
        quarantine = pd.read_parquet(paths.work_dir / "quarantine.parquet", columns=["reason"])
        reasons = quarantine["reason"].str.split("; ").explode().value_counts()
        why = (f"; {len(quarantine)} rows were quarantined ("
               + ", ".join(f"{n} {r}" for r, n in reasons.items()) + ")") if len(quarantine) else ""
        raise InputError(f"only {len(frame)} row{'' if len(frame) == 1 else 's'} passed "
                         "validation and cleaning, at least 3 are "
                         f"needed to segment{why}; nothing was published", file=source)
    previous = previous_run(paths.dataset_dir, paths.run_date, "customers", "customer_id",
                            fresh_ids)
    result = pipeline.segment_customers(frame, config, k=k, k_min=k_min, k_max=k_max, seed=seed,
                                         min_size=min_size, cleaned_with=cleaned["cleaned_with"],
                                         previous=previous.model,
                                         previous_run_date=previous.run_date,
                                         **(clustering or {}))
    pipeline.model_artifact(result, kind="customers", dataset=paths.dataset,
                            run_date=paths.run_date).save(paths.work_dir / "model.json")
    members, history = history_outputs(paths, result.segments, previous, result.alignment,
                                       "customer_id")
    segments = outputs.with_run_date(members, paths.run_date)
    profiles = outputs.with_run_date(result.profiles, paths.run_date)
    work = paths.work_dir
    write_parquet_atomic(segments, work / "segments.parquet", outputs.segments_schema(config))
    shares = [c for c in profiles.columns if c.startswith("share_")]
    write_parquet_atomic(profiles, work / "profiles.parquet", outputs.profiles_schema(config, shares))
    figures = outputs.customer_figures(result.segments, result.profiles,
                                       result.result.selection, config, result.transforms,
                                       dataset=paths.dataset, run_date=paths.run_date)
    return {**segmentation_outputs(work, result, figures), **history}
