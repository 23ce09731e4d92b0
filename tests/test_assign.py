"""`segment assign`: new members placed in a published run's segments without refitting
(segmentation/assignment.py, flows/assign.py). A run's own input, assigned with its model on
its date, must come out with the run's labels exactly, for every kind."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation import assignment, contract
from segmentation.artifact import ModelArtifact, ModelMismatch
from segmentation.errors import InputError
from segmentation.publish import publish_assignment
from segmentation.settings import RunPaths
from tests.real_runs import RUN_DATE, roots_of
from tests.test_contract import DOC, columns, doc_tables

# ---------------------------------------------------------------- the model to use


def publish_partition(dataset_dir: Path, day: str, settings: dict | None = None,
                      latest: bool = False) -> None:
    """A published run's model (kind customers) and, with ``latest``, its latest/ copy."""
    for folder in [dataset_dir / f"run_date={day}"] + ([dataset_dir / "latest"] if latest else []):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(json.dumps({
            "format_version": 1, "kind": "customers", "dataset": "shop", "run_date": day,
            "space": {"features": ["spend"]}, "centroids": [[0.0]],
            "segments": [{"segment_id": 0, "segment_name": "All", "far_out_fence": None}],
            "k": {"chosen": 1}, "settings": settings if settings is not None else {"x": 1}}))
        (folder / "_run.json").write_text(json.dumps({"run_date": day}))


def test_latest_is_the_run_latest_holds_and_a_date_is_that_run(tmp_path):
    publish_partition(tmp_path, "2026-10-31")
    publish_partition(tmp_path, "2026-11-30", latest=True)
    assert assignment.model_file(tmp_path, "shop") == tmp_path / "run_date=2026-11-30" / "model.json"
    assert assignment.model_file(tmp_path, "shop", "2026-10-31") == \
        tmp_path / "run_date=2026-10-31" / "model.json"


def test_a_missing_model_is_refused_naming_the_runs_that_have_one(tmp_path):
    with pytest.raises(InputError) as none:
        assignment.model_file(tmp_path, "shop")
    assert str(none.value) == (f"dataset 'shop' has no model for the latest run in {tmp_path}: "
                               "no run of it has saved a model yet: run it first (`segment run`)")
    publish_partition(tmp_path, "2026-10-31")
    publish_partition(tmp_path, "2026-11-30")
    with pytest.raises(InputError, match="no model for a run of 2026-09-30 .* runs with a model: "
                                         "2026-10-31, 2026-11-30"):
        assignment.model_file(tmp_path, "shop", "2026-09-30")
    with pytest.raises(InputError) as bad:
        assignment.model_file(tmp_path, "shop", "yesterday")
    assert str(bad.value) == "--model 'yesterday' is neither 'latest' nor a run date YYYY-MM-DD"


def test_a_model_of_another_kind_or_without_its_run_s_settings_is_refused(tmp_path):
    publish_partition(tmp_path, "2026-11-30", settings={})
    path = tmp_path / "run_date=2026-11-30" / "model.json"
    with pytest.raises(ModelMismatch) as old:
        assignment.load_model(path, "customers")
    assert str(old.value) == (f"{path} does not say how its run read the input (saved before "
                              "models kept their settings): run the dataset again, then assign")
    with pytest.raises(ModelMismatch, match="is a model of customers, not of meters"):
        assignment.load_model(path, "meters")


def test_a_table_or_log_is_one_file_and_meters_may_be_several():
    assert assignment.one_input(["a.csv"], "customers") == "a.csv"
    with pytest.raises(InputError) as two:
        assignment.one_input(["a.csv", "b.csv"], "transactions")
    assert str(two.value) == "assigning transactions takes one input file, got 2: a.csv, b.csv"


# ---------------------------------------------------------------- the contract


def test_the_page_states_the_columns_the_code_writes():
    tables = doc_tables(DOC.read_text())
    shared = columns(tables[("assignments.parquet", "shared")], "customers")
    meters = columns(tables[("assignments.parquet", "meters")], "meters")
    assert list(contract.assignments_schema("customers")) == [pa.field(n, t) for n, t in shared]
    after = [n for n, _ in shared].index("is_low_confidence") + 1
    expected = (columns(tables[("assignments.parquet", "shared")], "meters")[:after] + meters
                + shared[after:])
    assert list(contract.assignments_schema("meters")) == [pa.field(n, t) for n, t in expected]


def test_rows_carry_the_id_the_model_s_date_and_the_assignment_s_date():
    model = ModelArtifact(kind="meters", dataset="m", run_date="2026-11-30", space={},
                          centroids=[], segments=[], k={})
    placed = pd.DataFrame({"segment_id": [2], "segment_name": ["Night Users"],
                           "segment_label": ["Low Energy Users - Night Users"],
                           "distance_to_centroid": [0.5], "is_atypical": [False],
                           "atypical_reason": pd.Series([None], dtype="string"),
                           "segment_probability": [0.59],
                           "consumption_band": ["Low Energy Users"], "seasonal_user": [False]})
    placed.index = [5]                        # rows as they came: the index is not a column
    rows = assignment.assignment_rows(pd.Series([17]), placed, "meters", model, date(2026, 12, 2))
    assert "index" not in rows.columns
    table = pa.Table.from_pandas(rows[contract.assignments_schema("meters").names],
                                 schema=contract.assignments_schema("meters"),
                                 preserve_index=False)
    assert table.to_pylist() == [{
        "meter_id": "17", "segment_id": 2, "segment_name": "Night Users",
        "segment_label": "Low Energy Users - Night Users", "distance_to_centroid": 0.5,
        "is_atypical": False, "atypical_reason": None, "segment_probability": 0.59,
        "is_low_confidence": True, "consumption_band": "Low Energy Users",
        "seasonal_user": False, "model_run_date": date(2026, 11, 30),
        "assign_date": date(2026, 12, 2)}]        # 0.59 is below the default 0.6
    customers = assignment.assignment_rows(pd.Series(["a"]), placed.drop(columns="segment_label"),
                                           "customers", model, date(2026, 12, 2))
    assert customers["segment_label"].tolist() == ["Night Users"]   # the name, as in segments
    model.settings = {"min_confidence": 0.59}          # the run's own threshold
    at = assignment.assignment_rows(pd.Series(["a"]), placed, "meters", model, date(2026, 12, 2))
    assert at["is_low_confidence"].tolist() == [False]
    old = placed.assign(segment_probability=np.nan)    # a model saved without membership
    unknown = assignment.assignment_rows(pd.Series(["a"]), old, "meters", model, date(2026, 12, 2))
    assert unknown["is_low_confidence"].isna().all()


def test_the_manifest_and_report_say_which_model_placed_how_many_where(tmp_path):
    model = ModelArtifact(kind="customers", dataset="shop", run_date="2026-11-30", space={},
                          centroids=[], k={"chosen": 2}, code_version="1.2.3",
                          segments=[{"segment_id": 0, "segment_name": "Budget Buyers"},
                                    {"segment_id": 3, "segment_name": "High Spenders"}],
                          settings={"missing": "impute"})
    rows = pd.DataFrame({"segment_name": ["High Spenders", "Budget Buyers", "High Spenders"],
                         "is_atypical": [True, False, False]})
    counts = {"rows_in": 4, "rows_out": 3, "rows_quarantined": 1, "quarantined_by_reason": {}}
    manifest = assignment.assignment_manifest(
        kind="customers", dataset="shop", assign_date=date(2026, 12, 2),
        model_path=tmp_path / "model.json", model=model,
        inputs=[{"path": "/in/new.csv", "sha256": "ab", "rows": 4},
                {"path": "/in/more.csv", "sha256": "cd", "rows": 0}], counts=counts, rows=rows)
    assert manifest == {
        "dataset": "shop", "kind": "customers", "assign_date": "2026-12-02",
        "model": {"path": str(tmp_path / "model.json"), "run_date": "2026-11-30",
                  "code_version": "1.2.3", "k": 2, "algorithm": "kmeans",
                  "segments": {"0": "Budget Buyers", "3": "High Spenders"}},
        "settings": {"missing": "impute"},
        "inputs": [{"path": "/in/new.csv", "sha256": "ab", "rows": 4},
                   {"path": "/in/more.csv", "sha256": "cd", "rows": 0}], "counts": counts,
        "segments": {"High Spenders": 2, "Budget Buyers": 1}, "atypical": 1}
    report = assignment.assignment_report(manifest)
    assert report.startswith("# Assignment: shop, 2026-12-02\n\nNew members placed in the "
                             "segments of the run of 2026-11-30 (kmeans, k=2, `")
    assert report.split("\n\n")[1].endswith("then given its nearest segment centroid.")
    mixture = assignment.assignment_report({**manifest, "model": {**manifest["model"],
                                                                   "algorithm": "gmm"}})
    assert "its most probable component of the run's Gaussian mixture." in mixture
    for line in ["## Input\n- `/in/new.csv`\n- `/in/more.csv`\n\n", "## Members placed\n- High Spenders: 2 (67%)\n"
                 "- Budget Buyers: 1 (33%)", "1 of them are atypical",
                 "## Accounting\n- rows in: 4\n- rows out: 3\n- rows quarantined: 1"]:
        assert line in report, line
    assert "quarantined by reason" not in report                 # counts only, not dicts
    assert assignment.summary_lines({}) == "No member could be placed."


# ---------------------------------------------------------------- publishing


def test_an_assignment_is_published_beside_the_runs_and_a_rerun_replaces_its_date(tmp_path):
    from segmentation.publish import publish_run

    paths = RunPaths.create("shop", "2026-11-30", tmp_path / "data", tmp_path / "out")
    publish_run(paths, {"segments": pd.DataFrame({"customer_id": ["a"], "segment_id": [0]})},
                manifest={}, report_md="# run", figures={})
    before = (paths.latest_dir / "segments.parquet").read_bytes()
    first, second = tmp_path / "first.parquet", tmp_path / "second.parquet"
    pd.DataFrame({"customer_id": ["x"]}).to_parquet(first)
    pd.DataFrame({"customer_id": ["y", "z"]}).to_parquet(second)
    published = publish_assignment(paths, {"assignments.parquet": first}, "2026-12-01")
    publish_assignment(paths, {"assignments.parquet": first}, "2026-12-02")
    assert Path(published["assignments.parquet"]) == (
        paths.dataset_dir / "assignments" / "assign_date=2026-12-01" / "assignments.parquet")
    publish_assignment(paths, {"assignments.parquet": second}, "2026-12-01")   # a rerun
    day = paths.dataset_dir / "assignments" / "assign_date=2026-12-01"
    assert pd.read_parquet(day / "assignments.parquet")["customer_id"].tolist() == ["y", "z"]
    assert (paths.dataset_dir / "assignments" / "assign_date=2026-12-02").is_dir()
    assert (paths.latest_dir / "segments.parquet").read_bytes() == before
    assert (paths.partition_dir / "segments.parquet").read_bytes() == before
    assert (paths.report_dir / "report.md").read_text() == "# run"
    # a later run keeps the assignments
    publish_run(RunPaths.create("shop", "2026-12-31", tmp_path / "data", tmp_path / "out"),
                {"segments": pd.DataFrame({"customer_id": ["a"], "segment_id": [0]})},
                manifest={}, report_md="# run 2", figures={})
    assert pd.read_parquet(day / "assignments.parquet")["customer_id"].tolist() == ["y", "z"]
    assert len(list(paths.versions_dir.iterdir())) <= 2          # older versions removed


# ---------------------------------------------------------------- the command line


def test_the_command_refuses_a_dataset_without_a_model_before_prefect_starts(tmp_path):
    from segmentation.cli import main

    table = tmp_path / "new.csv"
    table.write_text("CustomerID,Annual Income (k$)\n1,15\n")
    err = io.StringIO()
    code = main(["assign", "customers", "--input", str(table), "--dataset", "shop",
                 *sum((["--" + k.replace("_", "-"), v] for k, v in roots_of(tmp_path).items()), [])],
                stdout=io.StringIO(), stderr=err)
    assert code == 2
    assert "dataset 'shop' has no model for the latest run" in err.getvalue()
    assert "Traceback" not in err.getvalue() and "prefect" not in err.getvalue().lower()


# ---------------------------------------------------------------- real assignments


def copied(root: Path, tmp_path: Path) -> Path:
    """A copy of a published project (links kept): assigning publishes into it."""
    target = tmp_path / "project"
    shutil.copytree(root, target, symlinks=True)
    return target


def read_back(published: dict, name: str) -> pd.DataFrame:
    """A published table read by DuckDB, not by the engine that wrote it."""
    return duckdb.sql(f"SELECT * FROM '{published[name]}'").df()


def same_labels(run: pd.DataFrame, placed: pd.DataFrame, id_column: str,
                also: tuple[str, ...] = ()) -> None:
    merged = run.merge(placed, on=id_column, suffixes=("", "_assigned"), validate="1:1")
    assert len(merged) == len(run) == len(placed)
    for column in ("segment_id", "segment_name", "distance_to_centroid", *also):
        assert merged[column].tolist() == merged[f"{column}_assigned"].tolist(), column


@pytest.mark.usefixtures("prefect_harness")
def test_a_customer_run_s_own_table_is_assigned_exactly_as_the_run_labelled_it(real_runs, tmp_path):
    from flows.assign import assign_flow

    root = copied(real_runs["root"], tmp_path)
    data = root / "data" / "processed" / "customers"
    settings = json.loads((data / "latest" / "model.json").read_text())["settings"]
    assert settings["categorical"] == ["gender"] and settings["missing"] == "quarantine"
    before = (data / "latest" / "segments.parquet").read_bytes()
    result = assign_flow(kind="customers", inputs=[str(root / "data" / "raw" / "customers" /
                                                       "customers.csv")],
                         assign_date=RUN_DATE, **roots_of(root))
    placed = read_back(result["published"], "assignments.parquet")
    run = pd.read_parquet(data / "latest" / "segments.parquet")
    same_labels(run, placed, "customer_id", also=("segment_probability", "is_low_confidence"))
    far = run["atypical_reason"].fillna("").str.contains("far from every segment|clipped")
    assert placed.set_index("customer_id").loc[run["customer_id"], "is_atypical"].tolist() == \
        far.tolist()
    quarantine = read_back(result["published"], "quarantine.parquet")
    assert sorted(quarantine["source_row"]) == sorted(
        pd.read_parquet(data / "latest" / "quarantine.parquet")["source_row"])
    counts = result["counts"]
    assert counts["rows_in"] == counts["rows_out"] + counts["rows_quarantined"]
    assert counts["rows_out"] == len(placed) and counts["rows_quarantined"] == len(quarantine)
    assert set(placed["model_run_date"].astype(str)) == {RUN_DATE}
    assert (data / "latest" / "segments.parquet").read_bytes() == before
    manifest = json.loads(Path(result["published"]["manifest.json"]).read_text())
    assert manifest["model"]["run_date"] == RUN_DATE and manifest["segments"] == result["segments"]
    assert sum(manifest["segments"].values()) == len(placed)


@pytest.mark.usefixtures("prefect_harness")
def test_a_meter_run_s_own_files_are_assigned_as_the_run_labelled_them_and_its_store_is_untouched(
        real_runs, tmp_path):
    from flows.assign import assign_flow

    root = copied(real_runs["root"], tmp_path)
    store = root / "data" / "processed" / ".stores" / "meters"
    ledger = sorted(p.name for p in store.rglob("*"))
    files = sorted(str(p) for p in (root / "data" / "raw" / "meters").iterdir())
    result = assign_flow(kind="meters", inputs=files, assign_date=RUN_DATE, **roots_of(root))
    placed = read_back(result["published"], "assignments.parquet")
    run = pd.read_parquet(root / "data" / "processed" / "meters" / "latest" / "segments.parquet")
    same_labels(run, placed, "meter_id", also=("consumption_band", "seasonal_user",
                                               "segment_label"))
    set_aside = read_back(result["published"], "quarantine_meters.parquet")
    assert sorted(set_aside["meter_id"]) == sorted(pd.read_parquet(
        root / "data" / "processed" / "meters" / "latest" / "quarantine_meters.parquet")["meter_id"])
    assert result["counts"]["reconciles"] and result["counts"]["readings_quarantined"] == len(
        read_back(result["published"], "quarantine.parquet"))
    assert sorted(p.name for p in store.rglob("*")) == ledger


@pytest.mark.usefixtures("prefect_harness")
def test_a_purchase_log_run_s_own_log_is_assigned_as_the_run_labelled_it(transaction_run,
                                                                         tmp_path):
    from flows.assign import assign_flow

    root = copied(Path(transaction_run["input"]).parents[3], tmp_path)
    log = root / "data" / "raw" / "transactions" / "log.csv"
    result = assign_flow(kind="transactions", inputs=[str(log)], assign_date=RUN_DATE,
                         **roots_of(root))
    placed = read_back(result["published"], "assignments.parquet")
    run = pd.read_parquet(root / "data" / "processed" / "transactions" / "latest" /
                          "segments.parquet")
    same_labels(run, placed, "customer_id")
    counts = result["counts"]
    assert counts["lines_in"] == (counts["lines_used"] + counts["lines_quarantined"]
                                  + counts["lines_excluded"])
    assert counts["customers_segmented"] == len(placed)
    # a later date: recency grows, so the same customers need not stay where they were
    later = assign_flow(kind="transactions", inputs=[str(log)], assign_date="2027-06-30",
                        **roots_of(root))
    moved = read_back(later["published"], "assignments.parquet")
    assert set(moved["assign_date"].astype(str)) == {"2027-06-30"}
    both = moved.merge(placed, on="customer_id", suffixes=("_later", ""))
    assert len(both) == len(placed) < len(moved)         # and customers who first bought since
    assert (both["distance_to_centroid_later"] != both["distance_to_centroid"]).any()
    assert pq.read_schema(later["published"]["assignments.parquet"]).remove_metadata() == \
        contract.assignments_schema("transactions")


def test_assign_dataset_takes_the_kind_from_the_catalog(tmp_path, monkeypatch):
    from segmentation.cli import main

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("datasets:\n  shop-log:\n    kind: transactions\n    input: raw/log.csv\n")
    monkeypatch.setenv("SEGMENT_CATALOG", str(catalog))
    publish_partition(tmp_path / "data" / "processed" / "shop-log", "2026-11-30", latest=True)
    err = io.StringIO()                 # a customers model where the catalog says transactions
    code = main(["assign", "dataset", "shop-log", "--input", str(catalog),
                 "--data-root", str(tmp_path / "data")], stdout=io.StringIO(), stderr=err)
    assert code == 2 and "is a model of customers, not of transactions" in err.getvalue()
    code = main(["assign", "dataset", "nowhere", "--input", str(catalog)],
                stdout=io.StringIO(), stderr=(err := io.StringIO()))
    assert code == 2 and "no dataset 'nowhere' in the catalog" in err.getvalue()


@pytest.mark.usefixtures("prefect_harness")
def test_a_handful_of_members_with_a_duplicate_are_placed_and_the_duplicate_quarantined(
        real_runs, tmp_path):
    from flows.assign import assign_flow

    root = copied(real_runs["root"], tmp_path)
    table = tmp_path / "three.csv"
    table.write_text("CustomerID,Genre,Age,Annual Income (k$),Spending Score (1-100)\n"
                     "7,Male,30,60,50\n7,Male,30,60,50\n8,Female,40,80,20\n")
    refused = assign_flow(kind="customers", inputs=[str(table)], assign_date=RUN_DATE,
                          return_state=True, **roots_of(root))
    assert refused.is_failed()                        # 1 of 3 is more than the run's share
    assert "1 of 3 rows (33%) would be quarantined" in str(refused.result(raise_on_failure=False))
    result = assign_flow(kind="customers", inputs=[str(table)], assign_date=RUN_DATE,
                         max_quarantine_share=0.5, **roots_of(root))
    placed = read_back(result["published"], "assignments.parquet")
    assert placed["customer_id"].tolist() == ["7", "8"]
    quarantine = read_back(result["published"], "quarantine.parquet")
    assert quarantine["source_row"].tolist() == [3] and "duplicate" in quarantine["reason"][0]
    assert result["counts"] == {"rows_in": 3, "rows_out": 2, "rows_quarantined": 1,
                                "quarantined_by_reason": {"exact duplicate of line 2": 1}}
