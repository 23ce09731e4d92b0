"""Tasks of the assign flow: read new members with a run's settings, place them in its segments.

Each ``read_*`` wires the kind's own ingestion, validation and feature tasks (the ones
its runs use) with the settings the model kept, so new members reach the model's space
by the same steps; meters are ingested into a scratch store in the assignment's work
folder: the dataset's store is not touched.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task, unmapped
from prefect.cache_policies import NO_CACHE

from segmentation.artifact import ModelArtifact
from segmentation.assignment import assignment_rows, one_input
from segmentation.cluster import shard_runner
from segmentation.contract import assignments_schema
from segmentation.io import write_parquet_atomic
from segmentation.settings import RunPaths
from segmentation.transactions.features import CLUSTER_SHARDS
from tasks.shared import IO_RETRIES
from tasks import customers as customer_steps
from tasks import meters as meter_steps
from tasks import transactions as transaction_steps


def read_customers(files: list[str], settings: dict, paths: RunPaths) -> dict:
    """Ingest and validate a customer table as the model's run did (its id column,
    features, categorical columns and missing-value policy)."""
    from segmentation.customers.config import resolve_config
    from segmentation.report import accounting

    path = one_input(files, "customers")
    ingested = customer_steps.ingest_customers(path, paths)
    config = resolve_config(pq.read_schema(ingested["rows"]).names,
                            id_column=settings["id_column"], features=settings["features"],
                            categorical=settings["categorical"], missing=settings["missing"],
                            outliers=settings["outliers"], transform=settings["transform"],
                            cluster_categorical=settings["cluster_categorical"], file=path)
    validated = customer_steps.validate_customers(ingested, config, paths,
                                                  settings["max_quarantine_share"])
    quarantine = pd.read_parquet(validated["quarantine"], columns=["reason"])
    counts = accounting(ingested["data_lines"], pq.read_metadata(validated["valid"]).num_rows,
                        quarantine)
    return {"members": [validated["valid"]], "id_column": config.id_column,
            "tables": {"quarantine": validated["quarantine"]}, "counts": counts,
            "inputs": [{"path": path, "sha256": ingested["sha256"],
                        "rows": ingested["data_lines"]}]}


def read_transactions(files: list[str], settings: dict, paths: RunPaths) -> dict:
    """Stage and validate a purchase log with the run's columns and rules; behaviour
    features as of the assignment's date."""
    from segmentation.transactions.config import resolve_transaction_config
    from segmentation.transactions.ingest import read_header
    from segmentation.transactions.outputs import line_accounting

    path = one_input(files, "transactions")
    config = resolve_transaction_config(
        read_header(path), file=path, given=settings["given_columns"],
        cancel_prefix=settings["cancel_prefix"], non_product=settings["non_product_codes"],
        max_quantity=settings["max_quantity"], window_days=settings["window_days"],
        timezone=settings["timezone"])
    staged = transaction_steps.stage_transactions(path, paths)
    validated = transaction_steps.validate_transactions(staged, config, paths,
                                                        settings["max_quarantine_share"])
    address = settings.get("dask_address")           # the flow's --dask-address
    with shard_runner(address) as runner:
        featured = transaction_steps.transaction_features(validated, config, paths, runner,
                                                          CLUSTER_SHARDS if address else 1)
    counts = line_accounting(staged["lines_in"], validated["counts"],
                             pq.read_metadata(staged["rejects"]).num_rows, featured)
    return {"members": [featured["features"]], "id_column": "customer_id",
            "tables": {"quarantine": validated["quarantine"]}, "counts": counts,
            "inputs": [{"path": path, "sha256": staged["sha256"], "rows": staged["lines_in"]}]}


def read_meters(files: list[str], settings: dict, paths: RunPaths) -> dict:
    """Ingest reading files into a scratch store with the run's format, time zone and
    plausible maximum, then clean and featurise the window up to the assignment's date."""
    from segmentation.meters import record
    from segmentation.meters.clean import CleaningPolicy
    from segmentation.meters.pipeline import QUARANTINE_METERS_SCHEMA

    scratch, work = str(paths.work_dir / "store"), paths.work_dir
    policy = {k: settings[k] for k in CleaningPolicy.__dataclass_fields__}
    with shard_runner(settings.get("dask_address")) as runner:   # the flow's --dask-address
        ingested = [runner.submit(meter_steps.ingest_meter_file, {
            "path": f, "dataset_dir": scratch, "fmt": settings["format"],
            "timezone": settings["timezone"], "max_kwh": settings["max_kwh_per_interval"],
            "max_quarantine_share": settings["max_quarantine_share"]}).result() for f in files]
        plan = meter_steps.plan_meter_window(scratch, settings["window_days"], settings["timezone"],
                                             settings["hemisphere"], paths.run_date.isoformat())
        futures = runner.map(meter_steps.meter_shard_features, {
            "dataset_dir": scratch, "shard": plan["shards"], "window": unmapped(plan["window"]),
            "policy": unmapped(policy), "out_dir": unmapped(str(work / "shards"))})
        shards = [f.result() for f in futures]
    set_aside = meter_steps.by_meter([s["quarantined_meters"] for s in shards])
    meters_file = str(write_parquet_atomic(set_aside, work / "quarantine_meters.parquet",
                                           QUARANTINE_METERS_SCHEMA))
    quarantine = meter_steps.collect_quarantine(scratch, str(work / "quarantine.parquet"))
    counts = record.run_accounting(scratch, shards, meters_file, quarantine["rows"])
    return {"members": [s["features"] for s in shards], "id_column": "meter_id",
            "tables": {"quarantine": quarantine["quarantine"], "quarantine_meters": meters_file},
            "counts": counts,
            "inputs": [{"path": e["path"], "sha256": e["sha256"], "rows": e["rows_in"]}
                       for e in ingested]}


READERS = {"customers": read_customers, "meters": read_meters,
           "transactions": read_transactions}


PLACE_CHUNK_ROWS = 250_000   # members per placement task on a Dask cluster (locally: one task)


def gather_members(member_files: list[str], kind: str, target: Path, chunk_rows: int) -> Path:
    """Every member in one Parquet file, in a run's order (meters by id), one row group per
    placement task of at most ``chunk_rows`` members (other kinds stream, batch by batch)."""
    if kind == "meters":
        pq.write_table(pa.Table.from_pandas(meter_steps.by_meter(member_files),
                                            preserve_index=False), target,
                       row_group_size=chunk_rows)
        return target
    with pq.ParquetWriter(target, pq.ParquetFile(member_files[0]).schema_arrow) as writer:
        for file in member_files:
            for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows):
                writer.write_batch(batch, row_group_size=chunk_rows)
    return target


@task(name="place-member-chunk", cache_policy=NO_CACHE, **IO_RETRIES)
def place_member_chunk(members_file: str, row_group: int, kind: str, id_column: str,
                       model_file: str, assign_date: str, out_dir: str) -> str:
    """One row group of members at their nearest segments of the saved model (a mapped task:
    paths in, a part out; placement is per member, so chunks give the rows of one call)."""
    from segmentation.customers.pipeline import assign_rows
    from segmentation.meters.segment import assign_meters

    model = ModelArtifact.load(model_file, kind=kind)
    members = pq.ParquetFile(members_file).read_row_group(row_group).to_pandas()
    placed = assign_meters(members, model) if kind == "meters" else assign_rows(members, model)
    rows = assignment_rows(members[id_column], placed, kind, model,
                           date.fromisoformat(assign_date))
    return str(write_parquet_atomic(rows, Path(out_dir) / f"part-{row_group:05d}.parquet",
                                    assignments_schema(kind)))


def place_members(member_files: list[str], kind: str, id_column: str, model_file: str,
                  paths: RunPaths, dask_address: str | None = None) -> str:
    """Each member of ``member_files`` (validated rows, behaviour or meter features) at
    its nearest segment of the saved model; writes assignments.parquet to the work dir.
    On a Dask cluster they are placed in chunks of ``PLACE_CHUNK_ROWS`` on its workers."""
    schema = assignments_schema(kind)
    target = paths.work_dir / "assignments.parquet"
    members = gather_members(member_files, kind, paths.work_dir / "members.parquet",
                             PLACE_CHUNK_ROWS if dask_address else 2**62)
    gathered = pq.ParquetFile(members).metadata
    chunks = gathered.num_row_groups
    if not gathered.num_rows:
        return str(write_parquet_atomic(schema.empty_table().to_pandas(), target, schema))
    with shard_runner(dask_address) as runner:
        futures = runner.map(place_member_chunk, {
            "members_file": str(members), "row_group": list(range(chunks)), "kind": kind,
            "id_column": id_column, "model_file": model_file,
            "assign_date": paths.run_date.isoformat(), "out_dir": str(paths.work_dir / "placed")})
        parts = [f.result() for f in futures]
    with pq.ParquetWriter(target.with_suffix(".tmp"), schema) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part, schema=schema))
    target.with_suffix(".tmp").replace(target)
    return str(target)
