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
