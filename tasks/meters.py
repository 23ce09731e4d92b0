"""Tasks of the meter flow: thin wrappers that pass file paths and small dicts, never frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from segmentation.errors import ValidationFailed
from segmentation.io import write_parquet_atomic
from segmentation.alignment import previous_run
from segmentation.locks import store_lock
from segmentation.meters import outputs, pipeline
from segmentation.meters.clean import CleaningPolicy, Window
from segmentation.meters.ingest import ingest_file
from segmentation.meters.seasons import resolve_hemisphere
from segmentation.meters.segment import model_artifact, segment_meters
from segmentation.meters.store import ReadingsStore
from segmentation.publish import save_figure
from segmentation.quality import quality
from segmentation.settings import RunPaths
from tasks.shared import IO_RETRIES, history_outputs, save_points, validation_failure_artifact


def window_to_dict(window: Window) -> dict:
    return {"start": window.start.isoformat(), "end": window.end.isoformat(),
            "resolution_min": window.resolution, "timezone": window.timezone,
            "days": window.n_days, "hemisphere": window.hemisphere}


def window_from_dict(data: dict) -> Window:
    return Window(start=pd.Timestamp(data["start"]), end=pd.Timestamp(data["end"]),
                  resolution=int(data["resolution_min"]), timezone=data["timezone"],
                  hemisphere=data.get("hemisphere", "north"))


@task(name="ingest-meter-file", cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_meter_file(path: str, dataset_dir: str, fmt: str, timezone: str, max_kwh: float,
                      max_quarantine_share: float) -> dict:
    """Stream one raw file into the readings store (skipped when its sha256 is known)."""
    try:
        with store_lock(Path(dataset_dir)):
            return ingest_file(path, ReadingsStore(Path(dataset_dir)), fmt=fmt, timezone=timezone,
                               max_kwh=max_kwh, max_quarantine_share=max_quarantine_share)
    except ValidationFailed as failure:
        validation_failure_artifact(Path(dataset_dir).name, failure.failures)  # the dataset name
        raise


@task(name="plan-meter-window", cache_policy=NO_CACHE)
def plan_meter_window(dataset_dir: str, window_days: int, timezone: str,
                      hemisphere: str | None = None, run_date: str | None = None) -> dict:
    """The window (the last ``window_days`` of data up to the run date, seasons of the
    hemisphere) and the shards."""
    store = ReadingsStore(Path(dataset_dir))
    window = pipeline.plan_window(store, window_days, timezone, hemisphere, run_date)
    _, source = resolve_hemisphere(timezone, hemisphere)
    return {"window": window_to_dict(window) | {"hemisphere_source": source},
            "shards": store.shards()}


@task(name="meter-shard-features", cache_policy=NO_CACHE, **IO_RETRIES)
def meter_shard_features(dataset_dir: str, shard: int, window: dict, policy: dict,
                         out_dir: str) -> dict:
    """Clean one shard of meters and compute their features (a mapped task)."""
    return pipeline.process_shard(ReadingsStore(Path(dataset_dir)), shard, window_from_dict(window),
                                  CleaningPolicy(**policy), Path(out_dir))


def by_meter(files: list[str]) -> pd.DataFrame:
    """The shards' tables (features, meters set aside) as one, in meter id order."""
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values(
        "meter_id", kind="stable", ignore_index=True)


@task(name="segment-meters", cache_policy=NO_CACHE)
def segment_meter_run(shards: list[dict], paths: RunPaths, k: int | None, k_min: int, k_max: int,
                      seed: int, shape: str = "daily",
                      kwh_bands: list[float] | None = None, min_size: int | None = None,
                      fresh_ids: bool = False, clustering: dict | None = None) -> dict:
    """Archetypes, bands, seasonal flags and names, ids aligned with the previous run; write
    tables, the model, the points clustered, migrations and plots to the work dir
    (``clustering``: algorithm and min_confidence)."""
    features = by_meter([s["features"] for s in shards])
    quarantined_meters = by_meter([s["quarantined_meters"] for s in shards])
    previous = previous_run(paths.dataset_dir, paths.run_date, "meters", "meter_id", fresh_ids)
    seg = segment_meters(features, k=k, k_min=k_min, k_max=k_max, seed=seed, shape=shape,
                         kwh_bands=tuple(kwh_bands) if kwh_bands else None,
                         quarantined=quarantined_meters, min_size=min_size,
                         previous=previous.model, previous_run_date=previous.run_date,
                         **(clustering or {}))
    segments, history = history_outputs(paths, outputs.segments_table(features, seg), previous,
                                        seg.alignment, "meter_id")
    profiles = outputs.profiles_table(segments)
    figures_of_quality = quality(seg.selection, seg.silhouette, seg.labels, seg.atypical,
                                 seg.fallback_segments)
    work = paths.work_dir
    files = {
        "segments": write_parquet_atomic(segments.assign(run_date=paths.run_date),
                                         work / "segments.parquet", outputs.segments_schema()),
        "profiles": write_parquet_atomic(profiles.assign(run_date=paths.run_date),
                                         work / "profiles.parquet", outputs.profiles_schema()),
        "quarantine_meters": write_parquet_atomic(quarantined_meters, work / "quarantine_meters.parquet",
                                                  pipeline.QUARANTINE_METERS_SCHEMA),
        "model": model_artifact(seg, shape=shape, dataset=paths.dataset,
                                run_date=paths.run_date).save(work / "model.json"),
        "points": save_points(seg.points, segments, work, seg.fit.algorithm,
                              seg.selection.stability),
    }
    (work / "plots").mkdir(parents=True, exist_ok=True)
    figures = outputs.meter_figures(segments, profiles, seg.selection, seg.band_rule,
                                    dataset=paths.dataset, run_date=paths.run_date)
    plots = {name: str(save_figure(fig, work / "plots" / f"{name}.png")) for name, fig in figures.items()}
    return {**{k: str(v) for k, v in files.items()}, **history, "plots": plots, "segmentation": seg,
            "quality": figures_of_quality}


@task(name="collect-meter-quarantine", cache_policy=NO_CACHE, **IO_RETRIES)
def collect_quarantine(dataset_dir: str, out: str) -> dict:
    """Rejected readings of every ingested file, in one file."""
    store = ReadingsStore(Path(dataset_dir))
    parts = [str(part) for part in store.quarantine_parts()]
    rows = outputs.write_quarantine(parts, Path(out))
    return {"quarantine": out, "rows": rows}
