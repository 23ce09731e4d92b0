"""What a meter run records about itself: policies, accounting, manifest and report.

Pure functions over the files the flow's tasks wrote (paths in, dicts and
text out), so the flow only wires tasks together.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segmentation.meters import outputs
from segmentation.meters.clean import CleaningPolicy
from segmentation.meters.pipeline import reading_accounting
from segmentation.meters.store import ReadingsStore
from segmentation.report import build_manifest
from segmentation.settings import RunPaths

TABLES = ("segments", "profiles", "quarantine", "quarantine_meters")
INPUT_FIELDS = ("path", "sha256", "format", "resolution_min", "rows_in", "rows_quarantined")


def policy_text(policy: CleaningPolicy, max_kwh: float) -> dict[str, str]:
    """The cleaning policies in words, for the report and the manifest."""
    return {
        "duplicates": "the reading ingested last wins (later file, then later row); within a file "
                      "the others are quarantined as exact or conflicting duplicates, across files "
                      "they are counted as superseded",
        "DST": "naive local times read in the time zone; repeated autumn hour: first reading "
               "summer time, second winter time; times inside the spring gap quarantined",
        "gaps": f"gaps <= {policy.max_gap_minutes} min interpolated linearly; longer left missing",
        "meters": f"quarantined with < 2 readings, all zero, one identical value throughout "
                  f"(stuck register), or complete days < "
                  f"{policy.min_coverage:.0%} of the window's days (window clipped to the data span)",
        "plausible maximum": f"{max_kwh} kWh per interval at the file's resolution "
                             f"(10 kWh per half hour is 20 kW)",
    }


def run_accounting(store_dir: str, shards: list[dict], quarantine_meters_file: str,
                   quarantine_rows: int) -> dict:
    """Readings in = used + quarantined by reason + superseded + of quarantined meters + outside
    the window, the quarantined ones checked against the rows of the published quarantine file."""
    counts = reading_accounting(ReadingsStore(Path(store_dir)), [s["counts"] for s in shards],
                                pd.read_parquet(quarantine_meters_file))
    if counts["readings_quarantined"] != quarantine_rows:
        raise AssertionError(f"quarantine.parquet has {quarantine_rows} rows, the accounting "
                             f"{counts['readings_quarantined']}")
    return counts


def months_used(shards: list[dict]) -> dict:
    """How the shards' window was summed: local months read from the day vectors, reused
    from the store's monthly sums, and read again for a base load (``pipeline.shard_sums``)."""
    return {key: sum(int(s.get("months", {}).get(key, 0)) for s in shards)
            for key in ("months_read", "months_reused", "months_reread_for_base_load")}


def data_docs_pages(ingested: list[dict]) -> dict[str, str]:
    """Published name -> file of each ingested file's Data Docs page."""
    return {f"data_docs/{Path(e['data_docs']).name}/{page.name}": str(page)
            for e in ingested if e.get("data_docs")
            for page in sorted(Path(e["data_docs"]).glob("*.html"))}


def planned_outputs(paths: RunPaths) -> dict[str, str]:
    """Where consumers find this run's outputs (listed in the report)."""
    planned = {name: str(paths.partition_dir / f"{name}.parquet") for name in TABLES}
    planned["migrations"] = str(paths.partition_dir / "migrations.parquet")
    planned["model"] = str(paths.partition_dir / "model.json")
    planned.update(latest=str(paths.latest_dir), plots=str(paths.report_dir / "plots"))
    planned["data docs (validation, one page per file)"] = str(paths.report_dir / "data_docs")
    return planned


def manifest_and_report(*, paths: RunPaths, parameters: dict, ingested: list[dict], plan: dict,
                        segmented: dict, counts: dict, policies: dict, timings: dict,
                        store_dir: str) -> tuple[dict, str]:
    """The run's manifest (dict) and markdown report."""
    store = ReadingsStore(Path(store_dir))
    seg = segmented["segmentation"]
    profiles = pd.read_parquet(segmented["profiles"])
    segments = pd.read_parquet(segmented["segments"], columns=[
        "segment_id", "segment_name", "consumption_band", "seasonal_user"])
    quarantined_meters = pd.read_parquet(segmented["quarantine_meters"])
    sizes = dict(zip(profiles["segment_name"], profiles["size"].astype(int)))
    report = outputs.meter_report(
        dataset=parameters["dataset"], run_date=paths.run_date, inputs=ingested,
        window=plan["window"], profiles=profiles, segments=segments, seg=seg,
        quality=segmented["quality"], counts=counts, quarantined_meters=quarantined_meters,
        policy=policies, outputs=planned_outputs(paths))
    bands = segments["consumption_band"].value_counts().astype(int).to_dict()
    manifest = build_manifest(
        dataset=parameters["dataset"], run_date=paths.run_date,
        inputs=[{k: e[k] for k in INPUT_FIELDS} | {"skipped": e["skipped"]} for e in ingested],
        counts=counts, parameters=parameters, selection=seg.selection, silhouette=seg.silhouette,
        timings=timings, segments=sizes, window=plan["window"], weighting=seg.weighting,
        quality=segmented["quality"],
        consumption_bands={"rule": seg.band_rule, "meters": bands},
        seasonal_users={"meters": int(segments["seasonal_user"].sum()),
                        "rule": "winter/summer ratio >= 1.5, window covers both seasons",
                        "hemisphere": plan["window"]["hemisphere"],
                        "hemisphere_source": plan["window"]["hemisphere_source"]},
        crosstab=outputs.crosstab(segments).to_dict(orient="records"),
        policies=policies,
        store={"files": len(store.ledger()), "shards": plan["shards"], "root": str(store.root)},
        quarantined_meters=quarantined_meters.groupby("reason").size().astype(int).to_dict(),
        expectations={sha[:16]: e["validation"] for sha, e in store.ledger().items()})
    return manifest, report
