"""What a meter run records about itself (segmentation/meters/record.py): the cleaning
policies in words, the reading accounting checked against the quarantine file, where the
outputs are, and what the manifest is given, on hand-made files (no Prefect, no k-means)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from segmentation.meters import record
from segmentation.meters.clean import CleaningPolicy
from segmentation.meters.store import ReadingsStore
from segmentation.settings import RunPaths


def test_the_policies_in_words_carry_the_run_s_settings():
    text = record.policy_text(CleaningPolicy(max_gap_minutes=90, min_coverage=0.75), 2.5)
    assert list(text) == ["duplicates", "DST", "gaps", "meters", "plausible maximum"]
    assert text["duplicates"].startswith("the reading ingested last wins (later file, then later ")
    assert text["duplicates"].endswith("across files they are counted as superseded")
    assert text["DST"].startswith("naive local times read in the time zone; repeated autumn ")
    assert text["DST"].endswith("times inside the spring gap quarantined")
    assert text["gaps"] == "gaps <= 90 min interpolated linearly; longer left missing"
    assert text["meters"] == ("quarantined with < 2 readings, all zero, one identical value "
                              "throughout (stuck register), or complete days < 75% of the "
                              "window's days (window clipped to the data span)")
    assert text["plausible maximum"] == ("2.5 kWh per interval at the file's resolution "
                                         "(10 kWh per half hour is 20 kW)")


def quarantined_meters(path, reasons: dict[str, int]):
    frame = pd.DataFrame({"meter_id": [f"m{i}" for i in range(len(reasons))],
                          "reason": list(reasons), "n_readings": list(reasons.values())})
    frame.to_parquet(path)
    return str(path)


def test_the_accounting_must_match_the_rows_of_the_quarantine_file(tmp_path):
    # An empty store: no reading in, none used; the quarantined meter file is read all the same.
    meters = quarantined_meters(tmp_path / "qm.parquet", {"all zero": 0})
    shards = [{"counts": {"readings_used": 0, "readings_of_quarantined_meters": 0,
                          "readings_outside_window": 0}}]
    counts = record.run_accounting(str(tmp_path / "store"), shards, meters, 0)
    assert counts["readings_quarantined"] == 0
    assert counts["readings_of_quarantined_meters_by_reason"] == {"all zero": 0}
    with pytest.raises(AssertionError, match=r"^quarantine.parquet has 3 rows, the "
                                             r"accounting 0$"):
        record.run_accounting(str(tmp_path / "store"), shards, meters, 3)


def test_each_ingested_file_s_validation_pages_are_published_under_its_folder(tmp_path):
    docs = tmp_path / "docs" / "abc123"
    docs.mkdir(parents=True)
    for name in ("b.html", "a.html", "notes.txt"):
        (docs / name).write_text("x")
    pages = record.data_docs_pages([{"data_docs": str(docs)}, {"data_docs": None}, {}])
    assert pages == {"data_docs/abc123/a.html": str(docs / "a.html"),
                     "data_docs/abc123/b.html": str(docs / "b.html")}


def test_the_planned_outputs_are_the_partition_s_tables_latest_plots_and_pages(tmp_path):
    paths = RunPaths.create("homes", "2026-11-01", tmp_path / "d", tmp_path / "o")
    part = paths.partition_dir
    assert record.planned_outputs(paths) == {
        "segments": str(part / "segments.parquet"), "profiles": str(part / "profiles.parquet"),
        "quarantine": str(part / "quarantine.parquet"),
        "quarantine_meters": str(part / "quarantine_meters.parquet"),
        "migrations": str(part / "migrations.parquet"), "model": str(part / "model.json"),
        "latest": str(paths.latest_dir), "plots": str(paths.report_dir / "plots"),
        "data docs (validation, one page per file)": str(paths.report_dir / "data_docs")}


def test_the_manifest_and_report_are_given_the_run_s_segments_bands_and_store(tmp_path,
                                                                                monkeypatch):
    # The report's and manifest's own builders are tested with them; here, what this run
    # hands them: sizes by name, band and seasonal counts, the store's files, each input's fields.
    given: dict = {}
    monkeypatch.setattr(record.outputs, "meter_report",
                        lambda **kw: given.setdefault("report", kw) and "the report")
    monkeypatch.setattr(record, "build_manifest", lambda **kw: given.setdefault("manifest", kw))
    paths = RunPaths.create("homes", "2026-11-01", tmp_path / "d", tmp_path / "o")
    pd.DataFrame({"segment_name": ["Evening Peak", "Flat"], "size": [2.0, 1.0]}).to_parquet(
        tmp_path / "profiles.parquet")
    pd.DataFrame({"segment_id": [0, 0, 1], "segment_name": ["Evening Peak"] * 2 + ["Flat"],
                  "consumption_band": ["High", "Low", "Low"],
                  "seasonal_user": [True, False, True], "kwh": [1.0, 2.0, 3.0]}).to_parquet(
        tmp_path / "segments.parquet")
    quarantined_meters(tmp_path / "qm.parquet", {"all zero": 4, "stuck register": 7})
    # One ingested file in the store's ledger (its entry as `commit` writes it, reduced to the key).
    sha = "ab" * 32
    ledger = tmp_path / "store" / "days" / "_ledger"
    ledger.mkdir(parents=True)
    (ledger / f"{sha}.json").write_text(json.dumps({"sha256": sha}))
    seg = SimpleNamespace(selection="the selection", silhouette=0.25, weighting={"w": 1},
                          band_rule={"low_kwh": 5.0, "high_kwh": 12.0})
    entry = {"path": "a.csv", "sha256": "f" * 64, "format": "long", "resolution_min": 30,
             "rows_in": 10, "rows_quarantined": 1, "skipped": False, "data_docs": None,
             "validation": "ignored"}
    window = {"hemisphere": "south", "hemisphere_source": "given (--hemisphere)"}
    manifest, report = record.manifest_and_report(
        paths=paths, parameters={"dataset": "homes"}, ingested=[entry],
        plan={"window": window, "shards": 4},
        segmented={"segmentation": seg, "profiles": str(tmp_path / "profiles.parquet"),
                   "segments": str(tmp_path / "segments.parquet"),
                   "quarantine_meters": str(tmp_path / "qm.parquet"), "quality": {"q": 1}},
        counts={"files": 0}, policies={"p": "text"}, timings={"t": 1.0},
        store_dir=str(tmp_path / "store"))
    assert report == "the report"
    made = given["manifest"]
    assert manifest is made
    assert made["segments"] == {"Evening Peak": 2, "Flat": 1}
    # Counts are integers in the manifest's JSON (2, not 2.0).
    for counted in (made["segments"], made["consumption_bands"]["meters"],
                    made["quarantined_meters"]):
        assert all(type(n) is int for n in counted.values()), counted
    assert made["inputs"] == [{"path": "a.csv", "sha256": "f" * 64, "format": "long",
                               "resolution_min": 30, "rows_in": 10, "rows_quarantined": 1,
                               "skipped": False}]
    assert made["consumption_bands"] == {"rule": {"low_kwh": 5.0, "high_kwh": 12.0},
                                         "meters": {"Low": 2, "High": 1}}
    assert made["seasonal_users"] == {
        "meters": 2, "rule": "winter/summer ratio >= 1.5, window covers both seasons",
        "hemisphere": "south", "hemisphere_source": "given (--hemisphere)"}
    assert made["quarantined_meters"] == {"all zero": 1, "stuck register": 1}
    assert made["store"] == {"files": 1, "shards": 4,
                             "root": str(tmp_path / "store" / "days")}
    assert made["expectations"] == {
        sha[:16]: str(ReadingsStore(tmp_path / "store").validation_dir / f"{sha[:16]}.json")}
    assert made["crosstab"][0]["archetype"] == "Evening Peak" and len(made["crosstab"]) == 2
    assert (made["dataset"], made["run_date"], made["selection"], made["silhouette"]) == (
        "homes", paths.run_date, "the selection", 0.25)
    assert (made["window"], made["weighting"], made["quality"], made["policies"],
            made["timings"], made["counts"], made["parameters"]) == (
        window, {"w": 1}, {"q": 1}, {"p": "text"}, {"t": 1.0}, {"files": 0}, {"dataset": "homes"})
    shown = given["report"]
    assert shown["outputs"] == record.planned_outputs(paths) and shown["seg"] is seg
    assert shown["inputs"] == [entry] and shown["policy"] == {"p": "text"}
    assert shown["segments"].columns.tolist() == ["segment_id", "segment_name",
                                                  "consumption_band", "seasonal_user"]
    assert (shown["dataset"], shown["run_date"], shown["window"], shown["quality"],
            shown["counts"]) == ("homes", paths.run_date, window, {"q": 1}, {"files": 0})
    assert shown["profiles"]["size"].tolist() == [2.0, 1.0]
    assert shown["quarantined_meters"]["reason"].tolist() == ["all zero", "stuck register"]
