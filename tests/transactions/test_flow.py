"""The purchase-log flow end to end through the `segment` CLI, on a temporary Prefect API."""

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.real_runs import MALFORMED_LINE, RUN_DATE

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_every_line_is_accounted_for_and_the_manifest_says_where(transaction_run):
    published, counts = transaction_run["published"], transaction_run["counts"]
    manifest = json.loads(Path(published["manifest"]).read_text())
    lines_in = len(transaction_run["input"].read_text().splitlines()) - 1
    assert manifest["rows"] == counts and counts["lines_in"] == lines_in and counts["reconciles"]
    assert counts["lines_in"] == (counts["lines_used"] + counts["lines_quarantined"]
                                  + counts["lines_excluded"])
    assert counts["excluded_by_reason"]["dated after the run date"] > 0   # the log runs on
    assert counts["quarantined_by_reason"]["malformed line"] == 1
    assert counts["anonymous_sales"]["lines"] > 0
    quarantine = pd.read_parquet(published["quarantine"])
    assert len(quarantine) == counts["lines_quarantined"]
    assert quarantine["raw_line"].notna().all()
    assert MALFORMED_LINE in set(quarantine["raw_line"])
    assert set(quarantine["source_file"]) == {"raw/transactions/log.csv"}


def test_segments_are_as_of_the_run_date_and_read_by_another_engine(transaction_run):
    published = transaction_run["published"]
    con = duckdb.connect()
    n, latest, scores = con.execute(
        f"SELECT count(*), max(last_purchase), count(*) FILTER (WHERE rfm_score = "
        f"r_score::VARCHAR || f_score::VARCHAR || m_score::VARCHAR) "
        f"FROM '{published['segments']}'").fetchall()[0]
    assert n == transaction_run["counts"]["customers_segmented"] == scores
    assert str(latest) <= RUN_DATE
    report = Path(published["report"]).read_text()
    for name in transaction_run["segments"]:
        assert name in report
    assert "## Line accounting" in report and "reconciles (in = used + quarantined + excluded): yes" in report


def test_countries_and_attributes_are_profiled_per_segment(transaction_run):
    published = transaction_run["published"]
    manifest = json.loads(Path(published["manifest"]).read_text())
    countries = manifest["countries"]
    assert 0 <= countries["cramers_v"] <= 1
    assert sum(countries["customers_by_country"].values()) == \
        transaction_run["counts"]["customers_segmented"]
    for mix in countries["mix"].values():
        assert abs(sum(mix.values()) - 1) < 1e-5      # five shares rounded to 6 decimals
    attributes = manifest["attributes"]["counts"]
    assert attributes["attribute_rows"] == 100
    assert attributes["members_with_attributes"] + attributes["attribute_ids_unmatched"] == 100
    assert Path(published["plots"], "country_mix.png").is_file()
    report = Path(published["report"]).read_text()
    assert "## Countries" in report and "## Member attributes" in report
    assert report.index("## Countries") < report.index("## Segment quality")


def test_history_runs_each_month_end_in_turn_and_keeps_segment_ids(tmp_path, monkeypatch):
    """`segment history` over a generated log: one published run per month end, each as of its
    date, each aligned with the one before (ids kept, members' previous segments, moves)."""
    import io

    from segmentation.cli import main
    from segmentation.transactions.sample import write_log

    from datetime import date

    log = write_log(tmp_path / "data" / "raw" / "shop.csv", n_customers=150, seed=11,
                    end=date(2024, 6, 30))
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"datasets:\n  shop:\n    kind: transactions\n    input: {log}\n    k: 4\n")
    monkeypatch.setenv("SEGMENT_CATALOG", str(catalog))
    out, err = io.StringIO(), io.StringIO()
    code = main(["history", "shop", "--from", "2024-04-01", "--to", "2024-06-30",
                 "--data-root", str(tmp_path / "data"), "--outputs-root", str(tmp_path / "out"),
                 "--json"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert sorted(json.loads(out.getvalue())) == ["2024-04-30", "2024-05-31", "2024-06-30"]
    processed = tmp_path / "data" / "processed" / "shop"
    runs = {day: pd.read_parquet(processed / f"run_date={day}" / "segments.parquet")
            for day in ("2024-04-30", "2024-05-31", "2024-06-30")}
    for day, segments in runs.items():
        assert pd.to_datetime(segments["last_purchase"]).max() <= pd.Timestamp(day)
    assert runs["2024-04-30"]["previous_segment_id"].isna().all()
    for before, after in (("2024-04-30", "2024-05-31"), ("2024-05-31", "2024-06-30")):
        joined = runs[after].merge(runs[before][["customer_id", "segment_id"]],
                                   on="customer_id", how="left", suffixes=("", "_before"))
        assert joined["previous_segment_id"].astype("Int64").equals(
            joined["segment_id_before"].astype("Int64"))
        manifest = json.loads((tmp_path / "out" / "shop" / after / "manifest.json").read_text())
        assert manifest["alignment"]["previous_run_date"] == before
        assert len(manifest["alignment"]["kept"]) >= 3            # most segments carry on
        moves = pd.read_parquet(processed / f"run_date={after}" / "migrations.parquet")
        assert moves["members"].sum() == len(set(runs[before]["customer_id"])
                                             | set(runs[after]["customer_id"]))
    first = json.loads((tmp_path / "out" / "shop" / "2024-05-31" / "manifest.json").read_text())
    assert first["prediction"]["written"] is False             # one earlier run: not enough
    assert not (processed / "run_date=2024-05-31" / "predictions.parquet").exists()
    last = json.loads((tmp_path / "out" / "shop" / "2024-06-30" / "manifest.json").read_text())
    assert last["prediction"]["written"] and last["prediction"]["runs"][-1] == "2024-06-30"
    assert len(last["prediction"]["backtest"]) == 1
    predicted = pd.read_parquet(processed / "run_date=2024-06-30" / "predictions.parquet")
    assert predicted["customer_id"].tolist() == runs["2024-06-30"]["customer_id"].tolist()
    shares = predicted.filter(like="p_segment_")
    assert sorted(int(c.rsplit("_", 1)[1]) for c in shares) == sorted(
        runs["2024-06-30"]["segment_id"].unique())
    assert ((shares.sum(axis=1) - 1).abs() < 1e-9).all()
    from tests.test_contract import DOC, doc_tables, expected_columns, mismatches
    import pyarrow.parquet as pq

    expected = expected_columns(doc_tables(DOC.read_text()), "predictions.parquet", "transactions")
    schema = pq.read_schema(processed / "run_date=2024-06-30" / "predictions.parquet")
    assert mismatches(expected, schema) == []
    report = (tmp_path / "out" / "shop" / "2024-06-30" / "report.md").read_text()
    assert "- next run predicted (predictions.parquet) by markov transition matrix" in report
    assert "## Segments over time\n- segment ids follow the run of 2024-05-31\n" in report
    assert (tmp_path / "out" / "shop" / "2024-06-30" / "plots" / "migrations.png").is_file()
    assert not (tmp_path / "out" / "shop" / "2024-04-30" / "plots" / "migrations.png").exists()
    assert (processed / "run_date=2024-06-30" / "model.json").is_file()
