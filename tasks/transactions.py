"""Tasks of the purchase-log flow: each reads and writes Parquet, paths in and paths out."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from segmentation.contract import source_file_name
from segmentation.errors import InputError, ValidationFailed
from segmentation.io import write_parquet_atomic
from segmentation.report import refuse_mostly_quarantined
from segmentation.settings import RunPaths
from segmentation.transactions import features as behaviour
from segmentation.transactions import ingest, outputs, pipeline
from segmentation.transactions.config import TransactionConfig
from segmentation.alignment import previous_run
from tasks.shared import (IO_RETRIES, checkpointed_input, history_outputs, segmentation_outputs,
                          validation_failure_artifact)


@task(name="stage-transactions", cache_policy=NO_CACHE, **IO_RETRIES)
def stage_transactions(input_path: str, paths: RunPaths) -> dict:
    """Stage the log once per content hash (text columns + line numbers); a rerun reuses it."""
    sha, checkpoint = checkpointed_input(input_path, paths)
    staged, rejects = checkpoint / "lines.parquet", checkpoint / "rejects.parquet"
    if not (staged.exists() and rejects.exists()):
        tmp = checkpoint / f".staging-{paths.run_date}.parquet"
        found = ingest.stage_lines(input_path, tmp)
        write_parquet_atomic(found["rejects"].astype({"raw_line": "string", "reason": "string"}),
                             rejects)
        tmp.replace(staged)
    import pyarrow.parquet as pq
    header = [n for n in pq.read_schema(staged).names if n != ingest.SOURCE_ROW]
    n_staged = pq.read_metadata(staged).num_rows
    n_rejects = pq.read_metadata(rejects).num_rows
    return {"path": input_path, "sha256": sha, "staged": str(staged), "rejects": str(rejects),
            "columns": header, "separator": ingest.separator_of(input_path),
            "lines_in": n_staged + n_rejects}


@task(name="validate-transactions", cache_policy=NO_CACHE)
def validate_transactions(staged: dict, config: TransactionConfig, paths: RunPaths,
                          max_quarantine_share: float) -> dict:
    """Great Expectations on the (customer, month) summary; lines quarantined, excluded or kept.

    Anonymous sales are quarantined but are not bad input: the share that fails the run
    counts the other reasons only."""
    try:
        split = ingest.split_lines(staged["staged"], config, paths.run_date, paths.work_dir,
                                   staged["path"])
    except ValidationFailed as failure:
        validation_failure_artifact(paths.dataset, failure.failures)
        raise
    rejects = pd.read_parquet(staged["rejects"])
    bad = {r: n for r, n in split.counts["quarantined_by_reason"].items()
           if r != outputs.ANONYMOUS}
    if len(rejects):
        bad["malformed line"] = len(rejects)
    in_scope = staged["lines_in"] - sum(n for r, n in split.counts["excluded_by_reason"].items()
                                        if r in (ingest.AFTER, ingest.BEFORE))
    refuse_mostly_quarantined(bad, sum(bad.values()), max(in_scope, 1), max_quarantine_share,
                              unit="lines (anonymous sales not counted)",
                              hint="check the column options (--customer-column, "
                                   "--amount-column, ...) and --max-quantity",
                              file=staged["path"])
    quarantine = _quarantine_table(staged, split, rejects, paths)
    docs = paths.work_dir / "data_docs" / "validation.html"
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(split.outcome.data_docs_html or "", encoding="utf-8")
    return {"lines": split.lines, "quarantine": quarantine, "counts": split.counts,
            "expectations": split.outcome.statistics, "data_docs": str(docs)}


def _quarantine_table(staged: dict, split, rejects: pd.DataFrame, paths: RunPaths) -> str:
    import duckdb

    source = source_file_name(staged["path"], paths.data_root)
    schema = outputs.quarantine_schema(staged["columns"])
    sql = outputs.quarantine_sql(staged["staged"], split.quarantine, staged["separator"], source,
                                 staged["columns"])
    with duckdb.connect() as con:
        frame = con.sql(sql).to_arrow_table().to_pandas()    # no extra copy of the rows
    if len(rejects):
        frame = pd.concat([frame, rejects.assign(source_file=source)], ignore_index=True)
        frame = frame.sort_values("source_row", kind="stable", ignore_index=True)
    target = paths.work_dir / "quarantine.parquet"
    write_parquet_atomic(frame.reindex(columns=schema.names), target, schema)
    return str(target)


@task(name="transaction-shard-features", cache_policy=NO_CACHE, **IO_RETRIES)
def transaction_shard_features(lines: str, run_date: str, shard: int, shards: int,
                               has_product: bool, out_dir: str) -> dict:
    """One shard of customers' features from the kept lines (a mapped task: paths in and out;
    a retried shard writes the same part)."""
    return behaviour.shard_features(lines, date.fromisoformat(run_date),
                                    Path(out_dir) / f"shard-{shard:02d}.parquet", shard, shards,
                                    has_product)


def transaction_features(validated: dict, config: TransactionConfig, paths: RunPaths,
                         runner, shards: int = 1) -> dict:
    """Behavioural features per customer as of the run date (DuckDB over the kept lines),
    in ``shards`` shards on ``runner`` (``segmentation.cluster.shard_runner``), then ranked."""
    target = paths.work_dir / "features.parquet"
    futures = runner.map(transaction_shard_features, {
        "lines": validated["lines"], "run_date": paths.run_date.isoformat(),
        "shard": list(range(shards)), "shards": shards,
        "has_product": config.column("product") is not None,
        "out_dir": str(paths.work_dir / "feature-shards")})
    found = behaviour.score_features([f.result() for f in futures], target)
    return {"features": str(target), **found}


@task(name="segment-transactions", cache_policy=NO_CACHE)
def segment_transactions(featured: dict, paths: RunPaths, k: int | None, k_min: int, k_max: int,
                         seed: int, source: str, min_size: int | None = None,
                         fresh_ids: bool = False, clustering: dict | None = None) -> dict:
    """Choose k, cluster, name, align ids with the previous run; write typed tables, the
    model, the points clustered, migrations and plots to the work dir (``clustering``:
    algorithm and min_confidence)."""
    frame = pd.read_parquet(featured["features"])
    if len(frame) < 3:
        raise InputError(f"only {len(frame)} customer{'' if len(frame) == 1 else 's'} bought "
                         f"anything on or before {paths.run_date}; at least 3 are needed to "
                         "segment; nothing was published", file=source)
    previous = previous_run(paths.dataset_dir, paths.run_date, "transactions", "customer_id",
                            fresh_ids)
    result, cleaning = pipeline.segment_transactions(frame, k=k, k_min=k_min, k_max=k_max,
                                                     seed=seed, min_size=min_size,
                                                     previous=previous.model,
                                                     previous_run_date=previous.run_date,
                                                     **(clustering or {}))
    pipeline.model_artifact(result, dataset=paths.dataset,
                            run_date=paths.run_date).save(paths.work_dir / "model.json")
    members, history = history_outputs(paths, result.segments, previous, result.alignment,
                                       "customer_id")
    segments = outputs.segment_rows(members).assign(run_date=paths.run_date)
    profiles = outputs.with_medians(result.profiles, result.segments).assign(
        run_date=paths.run_date)
    work = paths.work_dir
    write_parquet_atomic(segments, work / "segments.parquet", outputs.segments_schema())
    write_parquet_atomic(profiles, work / "profiles.parquet", outputs.profiles_schema())
    figures = outputs.transaction_figures(result.segments, result.profiles,
                                          result.result.selection, pipeline.features_config(),
                                          result.transforms, dataset=paths.dataset,
                                          run_date=paths.run_date, floors=pipeline.FLOORS)
    names = dict(zip(profiles["segment_id"].astype(int), profiles["segment_name"]))
    countries = outputs.country_profile(segments, names)
    if countries:
        from segmentation.attributes import plot_country_mix
        from segmentation.plots import plot_title

        figures["country_mix"] = plot_country_mix(
            countries["mix"], names, plot_title(paths.dataset, paths.run_date,
                                                "country mix per segment"))
    return {**segmentation_outputs(work, result, figures), **history, "cleaning": cleaning,
            "countries": countries and {"section": countries["section"],
                                        "manifest": countries["manifest"]},
            "new_customers": int(segments["is_new"].sum())}
