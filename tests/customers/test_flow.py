"""The customer flow end to end through the `segment` CLI, on a temporary Prefect API."""

import io
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from flows.customers import customer_flow
from segmentation.cli import main

pytestmark = pytest.mark.usefixtures("prefect_harness")
HEADER = "CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n"
RUN_DATE = "2026-11-20"


def run_cli(path, roots, *extra):
    """Run `segment run customers`; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "customers", "--input", str(path), "--run-date", RUN_DATE,
                 "--data-root", roots["data_root"], "--outputs-root", roots["outputs_root"], "--json",
                 *extra],
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def outputs(roots, dataset="customers"):
    partition = Path(roots["data_root"]) / "processed" / dataset / f"run_date={RUN_DATE}"
    manifest = json.loads((Path(roots["outputs_root"]) / dataset / RUN_DATE / "manifest.json").read_text())
    return partition, manifest


def test_run_publishes_typed_parquet_read_by_duckdb(sample_customers_csv, roots):
    code, out, _ = run_cli(sample_customers_csv, roots)
    assert code == 0
    printed = json.loads(out)
    partition, manifest = outputs(roots)
    assert printed["published"]["segments"] == str(partition / "segments.parquet")
    con = duckdb.connect()
    schema = dict((r[0], r[1]) for r in con.execute(
        f"DESCRIBE SELECT * FROM '{partition / 'segments.parquet'}'").fetchall())
    assert schema["customer_id"] == "VARCHAR" and schema["segment_id"] == "INTEGER"
    assert schema["segment_name"] == "VARCHAR" and schema["annual_income_k"] == "DOUBLE"
    assert schema["distance_to_centroid"] == "DOUBLE" and schema["run_date"] == "DATE"
    profile_types = dict((r[0], r[1]) for r in con.execute(
        f"DESCRIBE SELECT * FROM '{partition / 'profiles.parquet'}'").fetchall())
    assert profile_types["size"] == "BIGINT" and profile_types["share"] == "DOUBLE"
    n, names = con.execute(f"SELECT count(*), count(DISTINCT segment_name) FROM "
                           f"'{partition / 'segments.parquet'}'").fetchall()[0]
    assert n == 200 and names == manifest["k"]["chosen"]
    latest = Path(roots["data_root"]) / "processed/customers/latest/segments.parquet"
    assert pd.read_parquet(latest).equals(pd.read_parquet(partition / "segments.parquet"))
    report_dir = Path(roots["outputs_root"]) / "customers" / RUN_DATE
    assert {p.name for p in (report_dir / "plots").iterdir()} == {
        "k_selection.png", "segment_scatter.png", "segment_sizes.png", "feature_profile.png",
        "comparison.png", "dendrogram.png"}
    assert manifest["rows"]["rows_in"] == 200 and manifest["inputs"][0]["sha256"]
    html = (report_dir / "report.html").read_text()
    assert html.count("<img") == 6 and "High Spenders" in html and "<table>" in html
    assert manifest["comparison"]["published"] == "kmeans"
    assert printed["comparison"] == {"algorithm": "kmeans",
                                     "recommended": manifest["comparison"]["recommended"]}
    assert manifest["comparison"]["recommended"] in {"kmeans", "gmm", "agglomerative", "hdbscan"}
    compared = duckdb.sql(f"SELECT * FROM '{partition / 'comparison.parquet'}'").df()
    assert compared["algorithm"].tolist() == ["kmeans", "gmm", "agglomerative", "hdbscan"]
    assert "## Algorithms compared" in (report_dir / "report.md").read_text()
    page = f"data_docs/{manifest['inputs'][0]['sha256'][:16]}/validation.html"
    docs = (report_dir / page).read_text()
    assert "customer_id" in docs and "spending_score" in docs
    assert page in (report_dir / "report.md").read_text()


def test_a_gmm_run_without_comparison_keeps_its_mixture_and_places_its_own_members_exactly(
        sample_customers_csv, roots):
    code, out, err = run_cli(sample_customers_csv, roots, "--algorithm", "gmm", "--no-compare",
                             "--min-confidence", "0.9")
    assert code == 0, err
    assert json.loads(out)["comparison"] is None
    partition, manifest = outputs(roots)
    report = (Path(roots["outputs_root"]) / "customers" / RUN_DATE / "report.md").read_text()
    assert not (partition / "comparison.parquet").exists() and "comparison" not in manifest
    assert "## Algorithms compared" not in report and "lowest BIC" in report
    assert manifest["parameters"]["algorithm"] == "gmm" and not manifest["parameters"]["compare"]
    model = json.loads((partition / "model.json").read_text())
    assert model["algorithm"] == "gmm" and model["settings"]["min_confidence"] == 0.9
    mixture = model["membership"]["mixture"]
    k = manifest["k"]["chosen"]
    assert len(mixture["weights"]) == k and abs(sum(mixture["weights"]) - 1) < 1e-9
    assert pd.DataFrame(mixture["covariances"][0]).shape == (2, 2)       # income and score
    run = pd.read_parquet(partition / "segments.parquet")
    assert run["segment_probability"].between(0, 1).all()
    assert run["is_low_confidence"].tolist() == (run["segment_probability"] < 0.9).tolist()
    out = io.StringIO()
    assert main(["assign", "customers", "--input", str(sample_customers_csv), "--assign-date",
                 RUN_DATE, "--data-root", roots["data_root"], "--outputs-root",
                 roots["outputs_root"], "--json"], stdout=out, stderr=io.StringIO()) == 0
    placed = duckdb.sql(f"SELECT * FROM '{json.loads(out.getvalue())['published']['assignments.parquet']}'").df()
    both = run.merge(placed, on="customer_id", suffixes=("", "_assigned"), validate="1:1")
    assert len(both) == len(run) == len(placed)
    for column in ("segment_id", "distance_to_centroid", "segment_probability",
                   "is_low_confidence"):
        assert both[column].tolist() == both[f"{column}_assigned"].tolist(), column


def test_rerun_same_date_gives_identical_segments(sample_customers_csv, roots):
    assert run_cli(sample_customers_csv, roots, "--k", "5", "--no-compare")[0] == 0
    partition, _ = outputs(roots)
    first = pd.read_parquet(partition / "segments.parquet")
    assert run_cli(sample_customers_csv, roots, "--k", "5", "--no-compare")[0] == 0
    assert pd.read_parquet(partition / "segments.parquet").equals(first)


def test_rerun_with_different_input_replaces_the_date_whole(sample_customers_csv, roots, tmp_path):
    lines = Path(sample_customers_csv).read_text().splitlines(True)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("".join(lines) + "999,Male,30,-5,50\n")      # one row quarantined
    second.write_text("".join(lines[:121]))                        # 120 customers, all good
    assert run_cli(first, roots, "--k", "4", "--no-compare")[0] == 0
    partition, manifest = outputs(roots)
    assert manifest["rows"]["rows_quarantined"] == 1
    assert run_cli(second, roots, "--k", "4", "--no-compare")[0] == 0
    partition, manifest = outputs(roots)
    segments = pd.read_parquet(partition / "segments.parquet")
    assert len(segments) == 120 and manifest["rows"]["rows_in"] == 120
    assert len(pd.read_parquet(partition / "quarantine.parquet")) == 0
    assert manifest["inputs"][0]["path"].endswith("second.csv")
    latest = Path(roots["data_root"]) / "processed" / "customers" / "latest"
    assert pd.read_parquet(latest / "segments.parquet").equals(segments)


GOOD_ROWS = "".join(f"{i},{'Male' if i % 2 else 'Female'},{20 + i % 40},{15 + (i * 7) % 100},"
                    f"{1 + (i * 13) % 99}\n" for i in range(1, 41))

BAD_INPUTS = {
    # name: (file bytes, expected exit code, text expected in the error or a quarantine reason)
    "missing column": (("CustomerID,Gender,Age,Annual Income (k$)\n1,Male,20,30\n").encode(), 2,
                       "expect_column_to_exist on column 'spending_score'"),
    "extra unknown columns": ((HEADER.strip() + ",Notes\n" + GOOD_ROWS.replace("\n", ",hi\n")).encode(), 0, None),
    "empty file": (b"", 2, "the file is empty"),
    "header only": (HEADER.encode(), 2, "the file has a header line and no data rows"),
    "two rows": ((HEADER + "".join(GOOD_ROWS.splitlines(True)[:2])).encode(), 2,
                 "only 2 rows passed validation and cleaning, at least 3 are needed"),
    # one of each: every line is a row in the output or in quarantine, blank lines are not rows
    "messy rows": ((HEADER + GOOD_ROWS + "\n41,Male,30,20\n" + "42,Male,30,20,20,7\n"
                    + GOOD_ROWS.splitlines(True)[0] + "43,Female,30,20,\n").encode(), 0,
                   ["4 fields where the header has 5", "6 fields where the header has 5",
                    "exact duplicate of line 2", "missing spending_score"]),
    "over a tenth quarantined": ((HEADER + GOOD_ROWS + "".join(f"{50 + i},Male,30,20,\n"
                                                             for i in range(5))).encode(), 2,
                                 "5 of 45 rows (11%) would be quarantined (5 missing "
                                 "spending_score), more than the 10% allowed"),
    "text in a numeric column": ((HEADER + GOOD_ROWS + "99,Male,old,20,20\n").encode(), 0, "non-numeric age"),
    "duplicate ids": ((HEADER + GOOD_ROWS + "1,Female,33,20,20\n").encode(), 0, "duplicate id"),
    "null ids": ((HEADER + GOOD_ROWS + ",Female,33,20,20\n").encode(), 0, "null id"),
    "negative income": ((HEADER + GOOD_ROWS + "99,Female,33,-20,20\n").encode(), 0, "negative income"),
    "score 150": ((HEADER + GOOD_ROWS + "99,Female,33,20,150\n").encode(), 0, "spending score outside 1-100"),
    "semicolon separator": ((HEADER + GOOD_ROWS).replace(",", ";").encode(), 0, None),
    "non-UTF-8 bytes": ((HEADER + GOOD_ROWS + "99,F\xe9male,33,20,20\n").encode("latin-1"), 2, "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_clear_error_or_quarantine(case, tmp_path, roots):
    content, code, expected = BAD_INPUTS[case]
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    # the comparison of algorithms is not what these cases test (test_comparison.py does)
    exit_code, _, err = run_cli(path, roots, "--k", "3", "--no-compare")
    assert exit_code == code, err
    if code:
        assert "segment: error:" in err and "Traceback" not in err
        assert expected in err and str(path) in err
        assert not (Path(roots["data_root"]) / "processed/customers/latest").exists()
        return
    partition, manifest = outputs(roots)
    rows = manifest["rows"]
    lines = sum(1 for line in content.decode("utf-8").splitlines()[1:] if line.strip())
    assert rows["rows_in"] == lines == rows["rows_out"] + rows["rows_quarantined"]
    quarantine = pd.read_parquet(partition / "quarantine.parquet")
    assert len(quarantine) == rows["rows_quarantined"]
    assert len(pd.read_parquet(partition / "segments.parquet")) == rows["rows_out"]
    if isinstance(expected, list):
        assert sorted(quarantine["reason"]) == sorted(expected)
    elif expected:
        assert quarantine["reason"].str.contains(expected).any()


def test_missing_input_file(tmp_path, roots):
    code, _, err = run_cli(tmp_path / "nope.csv", roots)
    assert code == 2 and "file not found" in err


def test_table_without_id_with_categoricals_and_transforms(tmp_path, roots):
    from tests.customers.test_segmentation import wholesale_like

    path = tmp_path / "wholesale.csv"
    wholesale_like().to_csv(path, index=False)
    code, out, err = run_cli(path, roots, "--dataset", "wholesale",      # no --features: all
                             "--categorical", "Channel", "Region")
    assert code == 0, err
    partition, manifest = outputs(roots, "wholesale")
    assert manifest["customer_id"].startswith("no id column: customer_id is the data line number")
    assert manifest["clustered_on"] == ["fresh", "milk", "grocery", "frozen", "detergents_paper",
                                        "delicassen"]
    assert manifest["parameters"]["features_chosen"] == (
        "clustered on every numeric column but the id (6): fresh, milk, grocery, frozen, "
        "detergents_paper, delicassen")
    assert {t["transform"] for t in manifest["transforms"].values()} == {"log1p"}
    ids = duckdb.sql(f"SELECT min(customer_id::INT), max(customer_id::INT), count(*) "
                     f"FROM '{partition / 'segments.parquet'}'").fetchall()[0]
    assert ids == (2, 441, 440)
    shares = duckdb.sql(f"SELECT share_channel_1 + share_channel_2 FROM "
                        f"'{partition / 'profiles.parquet'}'").fetchall()
    assert all(abs(s - 1) < 1e-9 for (s,) in shares)
    report = (Path(roots["outputs_root"]) / "wholesale" / RUN_DATE / "report.md").read_text()
    assert "## Categories per segment" in report and "(profiled only: not clustered on)" in report
    assert "log-transformed (log1p) before scaling: fresh, milk" in report
    assert ("- clustered on: fresh, milk, grocery, frozen, detergents_paper, delicassen (every "
            "numeric column but the id)") in report


def test_features_naming_the_id_column_is_refused(mall_csv, roots):
    code, _, err = run_cli(mall_csv, roots, "--features", "CustomerID", "Age")
    assert code == 2 and "'customer_id' is the id column" in err and "Traceback" not in err


def test_a_second_run_of_the_same_dataset_and_date_is_refused_naming_the_first(
        sample_customers_csv, roots):
    from segmentation.locks import run_lock
    from segmentation.settings import RunPaths

    paths = RunPaths.create("customers", RUN_DATE, roots["data_root"], roots["outputs_root"])
    with run_lock(paths):
        code, _, err = run_cli(sample_customers_csv, roots, "--k", "3")
    assert code == 2 and "already running" in err and "Traceback" not in err
    assert not (Path(roots["data_root"]) / "processed/customers/latest").exists()
    assert run_cli(sample_customers_csv, roots, "--k", "3")[0] == 0     # free again


PREFLIGHT_CASES = {
    # name: (arguments after `segment run`, text of the one paragraph)
    "missing file": (["customers", "--input", "{tmp}/nope.csv"], "file not found"),
    "a directory": (["customers", "--input", "{tmp}"], "is a directory"),
    "feature not in the header": (["customers", "--input", "{mall}", "--features", "Income"],
                                  "--features names 'income', which is not in the header"),
    "k range": (["customers", "--input", "{mall}", "--k-min", "6", "--k-max", "3"],
                "--k-min (6) must not exceed --k-max (3)"),
    "dataset name": (["customers", "--input", "{mall}", "--dataset", "My Data"], "is not a dataset name"),
    "time zone": (["meters", "--input", "{mall}", "--timezone", "Mars/Olympus"], "unknown time zone"),
    "meter file format": (["meters", "--input", "{mall}"], "cannot tell the format from the header"),
}


@pytest.mark.parametrize("case", sorted(PREFLIGHT_CASES))
def test_bad_input_is_answered_before_prefect_starts(case, tmp_path, mall_csv, monkeypatch):
    from segmentation import prefect_startup

    def no_server():
        raise AssertionError("Prefect was started before the input was checked")

    monkeypatch.setattr(prefect_startup, "start_in_background", no_server)
    arguments, expected = PREFLIGHT_CASES[case]
    arguments = [a.format(tmp=tmp_path, mall=mall_csv) for a in arguments]
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", *arguments, "--data-root", str(tmp_path / "data")], stdout=out, stderr=err)
    assert code == 2 and expected in err.getvalue() and "Traceback" not in err.getvalue()


def test_a_run_stopped_by_its_input_logs_one_message_and_no_traceback(tmp_path, roots, caplog):
    path = tmp_path / "input.csv"
    path.write_text("CustomerID,Gender,Age,Annual Income (k$)\n1,Male,20,30\n")
    with caplog.at_level("INFO"):                 # the CLI prints the paragraph: no log repeats it
        code, _, err = run_cli(path, roots)
    assert code == 2 and "expect_column_to_exist on column 'spending_score'" in err
    assert err.count("failed validation") == 1
    assert not [r for r in caplog.records if "failed validation" in r.getMessage()]
    caplog.clear()
    with caplog.at_level("INFO"):                 # a deployment's run: its flow log says it once
        state = customer_flow(input_path=str(path), run_date=RUN_DATE, return_state=True, **roots)
    assert state.is_failed() and "failed validation" in state.message
    said = [r for r in caplog.records if "failed validation" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "ERROR" and said[0].exc_info is None
