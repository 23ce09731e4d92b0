"""The Prefect flow end to end on small generated data: outputs, accounting, idempotent rerun."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from segmentation.meters.sample import planted_truth, write_sample_meters


def test_meter_flow_publishes_and_reruns_idempotently(prefect_harness, roots):
    from flows.meters import meter_flow

    raw = Path(roots["data_root"]) / "raw" / "meters"
    write_sample_meters(raw, n_meters=32, days=60, seed=5)
    first = meter_flow(run_date="2025-01-02", **roots)
    published = first["published"]
    segments = duckdb.sql(f"SELECT * FROM read_parquet('{published['segments']}')").df()
    meters_q = duckdb.sql(f"SELECT * FROM read_parquet('{published['quarantine_meters']}')").df()
    quarantine = duckdb.sql(f"SELECT reason, count(*) AS n FROM read_parquet('{published['quarantine']}') "
                            "GROUP BY reason").df()
    assert len(segments) + len(meters_q) == 32
    assert sum(first["segments"].values()) == len(segments)
    counts = first["counts"]
    assert counts["reconciles"] and counts["readings_quarantined"] == quarantine["n"].sum()
    assert dict(zip(quarantine["reason"], quarantine["n"])) == counts["readings_quarantined_by_reason"]
    manifest = json.loads(Path(published["manifest"]).read_text())
    assert manifest["rows"]["readings_in"] == counts["readings_in"]
    assert manifest["k"]["chosen"] == first["k"] and manifest["parameters"]["k_min"] == 3
    quality = manifest["quality"]
    assert quality["stability"] == round(manifest["k"]["stability"], 4)
    assert {"smallest_segment_share", "fallback_named_share", "atypical_share", "warnings"} <= set(quality)
    bands = segments.groupby("consumption_band").size().to_dict()
    assert bands == manifest["consumption_bands"]["meters"] and len(bands) == 3
    assert (segments["segment_label"].str.split(", ").str[:2].str.join(", ")
            == segments["consumption_band"] + ", " + segments["segment_name"]).all()
    report = Path(published["report"]).read_text()
    assert "## Archetype x consumption band" in report and "## Segment quality" in report
    plots = {p.name for p in Path(published["plots"]).iterdir()}
    assert {"archetypes.png", "seasonal_heatmap.png", "k_selection.png", "segment_sizes.png",
            "daily_kwh.png"} <= plots
    assert (Path(published["latest"]) / "segments.parquet").exists()
    report_dir = Path(published["report"]).parent
    pages = sorted((report_dir / "data_docs").rglob("validation.html"))
    assert pages and "kwh" in pages[0].read_text()
    assert str(report_dir / "data_docs") in Path(published["report"]).read_text()

    second = meter_flow(run_date="2025-01-02", **roots)
    assert second["counts"] == counts  # the file was skipped: no reading counted twice
    again = duckdb.sql(f"SELECT * FROM read_parquet('{second['published']['segments']}')").df()
    assert again.drop(columns=["run_date"]).equals(segments.drop(columns=["run_date"]))
    assert manifest["inputs"][0]["skipped"] is False
    manifest2 = json.loads(Path(second["published"]["manifest"]).read_text())
    assert manifest2["inputs"][0]["skipped"] is True
    # 60 days: two local months, both at the window's edges, read every run, none reused
    shards = len(list((Path(roots["data_root"]) / "processed").rglob("days/shard=*")))
    assert manifest2["store_months"] == {"months_read": 2 * shards, "months_reused": 0,
                                         "months_reread_for_base_load": 0}


def test_cli_southern_meters_with_fixed_bands(prefect_harness, roots, tmp_path):
    import io

    from segmentation.cli import main

    raw = tmp_path / "raw"
    out, err = io.StringIO(), io.StringIO()
    assert main(["sample-data", "--out", str(raw), "--meters", "36", "--days", "370",
                 "--customers", "20", "--kind", "planted", "--hemisphere", "south", "--json"],
                stdout=out, stderr=err) == 0, err.getvalue()
    assert main(["run", "meters", "--input", *json.loads(out.getvalue())["meters"],
                 "--timezone", "Australia/Sydney", "--kwh-bands", "5,15",
                 "--run-date", "2025-01-02", "--data-root", roots["data_root"],
                 "--outputs-root", roots["outputs_root"], "--json"], stdout=(out := io.StringIO()),
                stderr=err) == 0, err.getvalue()
    manifest = json.loads(Path(json.loads(out.getvalue())["published"]["manifest"]).read_text())
    assert manifest["consumption_bands"]["rule"]["rule"] == "fixed thresholds (--kwh-bands)"
    assert manifest["consumption_bands"]["meters"] == {"Low Energy Users": 12,
                                                       "Medium Energy Users": 12,
                                                       "High Energy Users": 12}
    assert manifest["k"]["chosen"] == 6 and not manifest["quality"]["warnings"]
    assert manifest["seasonal_users"]["hemisphere"] == "south"
    assert manifest["seasonal_users"]["meters"] == planted_truth(36, seed=42)["seasonal"].sum() == 12
    with pytest.raises(SystemExit) as refused:
        main(["run", "meters", "--kwh-bands", "15,5"], stderr=err)
    assert refused.value.code == 2


def test_meter_flow_rejects_bad_parameters_before_any_task(prefect_harness, roots):
    from flows.meters import meter_flow

    from segmentation.errors import InputError

    state = meter_flow(timezone="Mars/Olympus", **roots, return_state=True)
    assert state.is_failed() and state.name == "Failed"
    assert isinstance(state.result(raise_on_failure=False), InputError)
    assert state.message == "unknown time zone 'Mars/Olympus': use an IANA name such as Europe/London"
    with pytest.raises(InputError, match="unknown time zone"):    # a direct caller gets the error
        meter_flow(timezone="Mars/Olympus", **roots)
    with pytest.raises(Exception, match="window_days"):
        meter_flow(window_days=0, **roots)
