"""What a purchase-log run publishes, without Prefect (segmentation/transactions/outputs.py,
docs/transactions.md, docs/outputs.md): the segments' typed columns and RFM string, the
profiles' medians over all members, the quarantine's rows (``raw_line`` as CSV writes the
line), the line accounting and its section, the country profile and the report's pieces."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmentation.transactions import outputs
from segmentation.transactions.config import resolve_transaction_config
from segmentation.transactions.features import RETURNS_ONLY
from tests.test_report import selection

# ---------------------------------------------------------------- segments and profiles


@pytest.mark.parametrize("file, schema", [
    ("segments", lambda: outputs.segments_schema()),
    ("profiles", lambda: outputs.profiles_schema()),
    ("quarantine", lambda: outputs.quarantine_schema(["InvoiceNo", 'Cust "ID"', "Country"]))])
def test_the_declared_schemas_follow_the_page(file, schema):
    """docs/outputs.md: the columns of a purchase-log run's files, in order, with their types
    (the published files, attributes included, are checked against the page by
    tests/test_contract.py; the ``attr_`` columns come with ``--attributes`` only)."""
    from tests.test_contract import DOC, doc_tables, expected_columns, mismatches

    expected = [(name, kind) for name, kind in expected_columns(
        doc_tables(DOC.read_text()), f"{file}.parquet", "transactions")
        if not name.startswith("attr_")]
    assert expected and mismatches(expected, schema()) == []


def test_the_rfm_score_joins_the_three_scores_in_the_order_r_f_m():
    """docs/transactions.md: ``rfm_score`` joins r, f and m ("545")."""
    segments = pd.DataFrame({"r_score": [5, 1], "f_score": [4, 2], "m_score": [1, 3],
                             "first_purchase": ["2011-01-02", "2011-03-04"],
                             "last_purchase": ["2011-05-06", "2011-07-08"]})
    rows = outputs.segment_rows(segments)
    assert rows["rfm_score"].tolist() == ["541", "123"]
    assert "rfm_score" not in segments                    # the caller's frame is left alone


def test_purchase_dates_become_dates():
    """segments.parquet's ``first_purchase`` and ``last_purchase`` are dates (date32)."""
    segments = pd.DataFrame({"r_score": [3], "f_score": [3], "m_score": [3],
                             "first_purchase": [pd.Timestamp("2011-01-02 13:45")],
                             "last_purchase": ["2011-05-06"]})
    rows = outputs.segment_rows(segments)
    assert rows["first_purchase"].tolist() == [date(2011, 1, 2)]
    assert rows["last_purchase"].tolist() == [date(2011, 5, 6)]
    assert type(rows["first_purchase"][0]) is date


def test_each_segment_s_medians_are_over_all_its_members():
    """profiles.parquet: ``median_recency_days``, ``median_frequency``, ``median_monetary`` per
    segment over all members (typical or not), matched to the segment by id, not by row."""
    segments = pd.DataFrame({"segment_id": [0, 0, 0, 1, 1],
                             "recency_days": [1.0, 2.0, 90.0, 4.0, 6.0],
                             "frequency": [10.0, 1.0, 3.0, 2.0, 2.0],
                             "monetary": [5.0, 500.0, 50.0, -10.0, 30.0]})
    profiles = pd.DataFrame({"segment_id": [1, 0], "segment_name": ["B", "A"]})
    found = outputs.with_medians(profiles, segments)
    assert found.columns.tolist() == ["segment_id", "segment_name", "median_recency_days",
                                      "median_frequency", "median_monetary"]
    assert found["segment_name"].tolist() == ["B", "A"]
    assert found["median_recency_days"].tolist() == [5.0, 2.0]
    assert found["median_frequency"].tolist() == [2.0, 3.0]
    assert found["median_monetary"].tolist() == [10.0, 50.0]


# ---------------------------------------------------------------- quarantine rows


def csv_line(fields, separator):
    """The line as Python's csv module writes it (quotes only where needed)."""
    out = io.StringIO()
    csv.writer(out, delimiter=separator, lineterminator="\n").writerow(fields)
    return out.getvalue()[:-1]


def quarantine_rows(folder, columns, rows, quarantined, separator, source_file="log.csv"):
    """quarantine_sql run by DuckDB on a staged Parquet of ``rows`` (source_row from 2) and a
    quarantined Parquet of ``{source_row: reason}``, written in reverse line order."""
    folder.mkdir(parents=True, exist_ok=True)
    staged = pd.DataFrame(rows, columns=columns)
    staged.insert(0, "source_row", range(2, len(rows) + 2))
    staged.to_parquet(folder / "staged.parquet")
    pd.DataFrame({"source_row": list(quarantined)[::-1],
                  "reason": list(quarantined.values())[::-1]}).to_parquet(
        folder / "quarantined.parquet")
    sql = outputs.quarantine_sql(str(folder / "staged.parquet"),
                                 str(folder / "quarantined.parquet"), separator, source_file,
                                 columns)
    with duckdb.connect() as con:
        return con.sql(sql).df()


LOG = [["A1", "Mug, large", "3", "17850"],
       ['A2', 'The "Best" mug', "1", "17850"],
       ["A3", "plain", "2", ""],
       ["A4", "semi;colon", "5", "13047"]]
COLUMNS = ["InvoiceNo", "Description", "Quantity", "CustomerID"]


def test_quarantine_rows_are_the_quarantined_lines_in_line_order_with_their_fields(tmp_path):
    """docs/outputs.md: one row per rejected line, in line order: ``source_row``, ``reason``,
    ``raw_line``, ``source_file``, then every column of the log as read."""
    found = quarantine_rows(tmp_path, COLUMNS, LOG, {3: "zero quantity", 5: "exact duplicate",
                                                     4: "no customer id"}, ",")
    assert found.columns.tolist() == ["source_row", "reason", "raw_line", "source_file",
                                      *COLUMNS]
    assert found["source_row"].tolist() == [3, 4, 5]
    assert found["reason"].tolist() == ["zero quantity", "no customer id", "exact duplicate"]
    assert found[COLUMNS].values.tolist() == LOG[1:]
    assert found["source_file"].tolist() == ["log.csv"] * 3


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_raw_line_is_the_line_as_csv_writes_it_with_the_file_s_separator(tmp_path, separator):
    """``raw_line``: the fields joined by the file's separator; a field holding the separator
    or a double quote is quoted (quotes doubled), as CSV quotes it, the others are not."""
    found = quarantine_rows(tmp_path, COLUMNS, LOG, {2: "r", 3: "r", 4: "r", 5: "r"}, separator)
    assert found["raw_line"].tolist() == [csv_line(row, separator) for row in LOG]


def test_raw_line_with_a_semicolon_separator_leaves_commas_alone(tmp_path):
    """A `;` file: a comma in a field is no reason to quote it, a semicolon is."""
    found = quarantine_rows(tmp_path, COLUMNS, LOG, {2: "r", 5: "r"}, ";")
    assert found["raw_line"].tolist() == ['A1;Mug, large;3;17850', 'A4;"semi;colon";5;13047']


def test_without_a_separator_a_parquet_row_s_fields_are_joined_by_commas(tmp_path):
    """A Parquet log has no lines: its row's fields joined by commas, quoted as CSV does."""
    found = quarantine_rows(tmp_path, COLUMNS, LOG, {2: "r", 3: "r", 5: "r"}, None)
    assert found["raw_line"].tolist() == ['A1,"Mug, large",3,17850',
                                          'A2,"The ""Best"" mug",1,17850', "A4,semi;colon,5,13047"]


def test_a_source_file_with_an_apostrophe_is_written_as_it_is(tmp_path):
    """``source_file`` names the input, whatever characters its path holds."""
    found = quarantine_rows(tmp_path, COLUMNS, LOG, {2: "r"}, ",",
                            source_file="raw/O'Brien's shop/log.csv")
    assert found["source_file"].tolist() == ["raw/O'Brien's shop/log.csv"]


def test_column_names_with_double_quotes_are_read_and_kept(tmp_path):
    """A log's own columns keep their names as in the header, a double quote included."""
    columns = ['Cust "ID"', 'say "hi"']
    found = quarantine_rows(tmp_path, columns, [["7", 'x"y'], ["8", "z"]], {3: "r"}, ",")
    assert found.columns.tolist()[4:] == columns
    assert found[columns].values.tolist() == [["8", "z"]]
    assert found["raw_line"].tolist() == ["8,z"]


def test_a_missing_field_of_a_parquet_row_leaves_its_place_empty_and_raw_line_never_null(
        tmp_path):
    """docs/outputs.md: ``raw_line`` is never null; a Parquet log's anonymous sale (a null
    customer id) is written as CSV writes a missing field: an empty one."""
    found = quarantine_rows(tmp_path, COLUMNS, [["A1", None, "3", None]], {2: "r"}, None)
    assert found["raw_line"].tolist() == ["A1,,3,"]
    assert found["CustomerID"].isna().all()                  # the column itself stays null


def test_work_files_in_a_folder_with_an_apostrophe_are_read(tmp_path):
    """Any folder will do (a data root under ``O'Brien's shop``): the staged and quarantined
    files are read wherever they are."""
    found = quarantine_rows(tmp_path / "O'Brien's shop", COLUMNS, LOG, {2: "r"}, ",")
    assert found["raw_line"].tolist() == ['A1,"Mug, large",3,17850']


# ---------------------------------------------------------------- line accounting


def split_counts(quarantined=None, excluded=None, non_product=None):
    return {"quarantined_by_reason": quarantined or {}, "excluded_by_reason": excluded or {},
            "anonymous_sales": {"lines": 2, "value": 12.5},
            "non_product_by_code": non_product or {}}


def feature_counts(used, returns_only_lines=0, customers=4):
    return {"lines_used": used, "customers": customers,
            "returns": {"lines": 3, "value": 7.45,
                        "without_earlier_purchase": {"lines": 1, "value": 2.0, "customers": 1}},
            "returns_only": {"lines": returns_only_lines,
                             "customers": 1 if returns_only_lines else 0}}


def test_lines_in_are_used_plus_quarantined_plus_excluded():
    """docs/transactions.md: lines in = used + quarantined + excluded; the manifest's counts
    say where each went, by reason, as plain ints."""
    split = split_counts({"no customer id (anonymous sale)": np.int64(2),
                          "zero quantity": np.int64(1)},
                         {"dated after the run date": np.int64(4)},
                         {"POST": {"lines": 1, "value": 18.0}})
    counts = outputs.line_accounting(np.int64(20), split, 0, feature_counts(np.int64(13)))
    assert counts == {
        "lines_in": 20, "lines_used": 13, "lines_quarantined": 3,
        "quarantined_by_reason": {"no customer id (anonymous sale)": 2, "zero quantity": 1},
        "lines_excluded": 4, "excluded_by_reason": {"dated after the run date": 4},
        "customers_segmented": 4, "anonymous_sales": {"lines": 2, "value": 12.5},
        "returns": feature_counts(0)["returns"], "customers_with_returns_only": 0,
        "non_product_by_code": {"POST": {"lines": 1, "value": 18.0}}, "reconciles": True}
    assert all(type(counts[k]) is int for k in ("lines_in", "lines_used", "lines_quarantined",
                                                "lines_excluded", "customers_segmented"))


def test_malformed_lines_are_quarantined_under_their_reason():
    """A malformed line (the wrong number of fields) is quarantined, "malformed line"."""
    counts = outputs.line_accounting(10, split_counts({"zero quantity": 1}), 3, feature_counts(6))
    assert counts["quarantined_by_reason"] == {"zero quantity": 1, "malformed line": 3}
    assert counts["lines_quarantined"] == 4


def test_malformed_lines_add_to_a_malformed_count_already_there():
    counts = outputs.line_accounting(10, split_counts({"malformed line": 2}), 3, feature_counts(5))
    assert counts["quarantined_by_reason"] == {"malformed line": 5}


def test_no_malformed_lines_no_malformed_reason():
    counts = outputs.line_accounting(7, split_counts({"zero quantity": 1}), 0, feature_counts(6))
    assert counts["quarantined_by_reason"] == {"zero quantity": 1}


def test_the_lines_of_customers_with_returns_only_are_excluded_under_their_reason():
    """docs/transactions.md: a customer with returns only: excluded, counted."""
    counts = outputs.line_accounting(12, split_counts(excluded={"non-product code": 1}), 0,
                                     feature_counts(9, returns_only_lines=2))
    assert counts["excluded_by_reason"] == {"non-product code": 1, RETURNS_ONLY: 2}
    assert counts["lines_excluded"] == 3 and counts["customers_with_returns_only"] == 1
    none = outputs.line_accounting(10, split_counts(excluded={"non-product code": 1}), 0,
                                   feature_counts(9))
    assert none["excluded_by_reason"] == {"non-product code": 1}


@pytest.mark.parametrize("lines_in", [11, 13])
def test_counts_that_do_not_reconcile_fail_the_run(lines_in):
    """The accounting always holds, or the run fails (a line too many or too few)."""
    with pytest.raises(AssertionError, match="does not reconcile"):
        outputs.line_accounting(lines_in, split_counts({"zero quantity": 1}, {"x": 1}), 0,
                                feature_counts(10))


def accounting_counts(**changes):
    counts = {"lines_in": 12345, "lines_used": 12000, "customers_segmented": 1500,
              "lines_quarantined": 300, "quarantined_by_reason": {"zero quantity": 100,
                                                                  "malformed line": 200},
              "lines_excluded": 45, "excluded_by_reason": {RETURNS_ONLY: 45},
              "reconciles": True, "anonymous_sales": {"lines": 2500, "value": 12345.678},
              "returns": {"lines": 1200, "value": 4321.5,
                          "without_earlier_purchase": {"lines": 30, "value": 210.25,
                                                       "customers": 7}},
              "non_product_by_code": {}}
    return {**counts, **changes}


def test_the_accounting_section_lists_every_reason_and_count():
    """The report's line accounting: in, used (customers), quarantined and excluded by reason
    (sorted), whether it reconciles, anonymous sales and returns with their values."""
    assert outputs.accounting_section(accounting_counts()).splitlines() == [
        "## Line accounting",
        "- lines in: 12,345",
        "- used for features: 12,000 (1,500 customers)",
        "- quarantined: 300 (a line with several reasons is listed under all of them)",
        "  - malformed line: 200",
        "  - zero quantity: 100",
        "- excluded: 45",
        f"  - {RETURNS_ONLY}: 45",
        "- reconciles (in = used + quarantined + excluded): yes",
        "- anonymous sales (no customer id): 2,500 lines, value 12,346",
        "- returns netted against purchases: 1,200 lines, value 4,322; of them with no earlier "
        "purchase in the data: 30 lines of 7 customers, value 210.2 (kept and netted)"]


def test_the_accounting_section_says_no_when_the_counts_do_not_reconcile():
    text = outputs.accounting_section(accounting_counts(reconciles=False))
    assert "- reconciles (in = used + quarantined + excluded): NO" in text.splitlines()


def test_non_product_lines_are_listed_by_code_only_when_there_are_some():
    """Non-product codes: excluded from spend, counted by code."""
    text = outputs.accounting_section(accounting_counts(non_product_by_code={
        "POST": {"lines": 1204, "value": 3.0}, "M": {"lines": 5, "value": 1.0}}))
    assert text.splitlines()[-1] == "- non-product lines by code: POST 1,204, M 5"
    assert "non-product" not in outputs.accounting_section(accounting_counts())


# ---------------------------------------------------------------- countries


NAMES = {0: "Champions", 1: "Hibernating"}


def test_no_country_profile_without_a_country_column_or_any_country():
    segments = pd.DataFrame({"segment_id": [0, 1, 0, 1]})
    assert outputs.country_profile(segments, NAMES) is None
    assert outputs.country_profile(segments.assign(country=None), NAMES) is None


def test_cramers_v_is_1_when_the_country_decides_the_segment():
    """The manifest's ``countries``: Cramér's V of segment against country, 1 when the country
    decides the segment, with the chi-square p-value; the section says it in words."""
    segments = pd.DataFrame({"segment_id": [0] * 30 + [1] * 20,
                             "country": ["UK"] * 30 + ["France"] * 20})
    found = outputs.country_profile(segments, NAMES)
    manifest = found["manifest"]
    assert set(manifest) == {"cramers_v", "p_value_chi_square", "customers_by_country", "mix"}
    assert manifest["cramers_v"] == pytest.approx(1.0)
    assert manifest["p_value_chi_square"] < 0.001
    assert manifest["customers_by_country"] == {"UK": 30, "France": 20}
    assert json.loads(json.dumps(manifest)) == manifest          # JSON-ready as it is
    assert manifest["mix"] == {"Champions": {"UK": 1.0, "France": 0.0, "Other": 0.0},
                               "Hibernating": {"UK": 0.0, "France": 1.0, "Other": 0.0}}
    assert found["section"].startswith("## Countries")
    assert found["section"].endswith(
        "Cramér's V of segment against country: 1.000 (strong; chi-square p < 0.001): 0 means "
        "the segments have the same country mix, 1 that the country decides the segment.")
    assert found["mix"].loc[0, "UK"] == 1.0 and found["by_country"].loc["France", "customers"] == 20


def test_cramers_v_is_about_0_when_every_segment_has_the_same_country_mix():
    segments = pd.DataFrame({"segment_id": [0] * 40 + [1] * 20,
                             "country": ["UK", "UK", "UK", "France"] * 10
                             + ["UK", "UK", "UK", "France"] * 5})
    found = outputs.country_profile(segments, NAMES)
    assert found["manifest"]["cramers_v"] == pytest.approx(0.0, abs=1e-9)
    assert found["manifest"]["p_value_chi_square"] == pytest.approx(1.0)
    assert found["manifest"]["mix"]["Hibernating"] == {"UK": 0.75, "France": 0.25, "Other": 0.0}
    assert "Cramér's V of segment against country: 0.000 (negligible; chi-square p 1.000)" \
        in found["section"]


def test_with_one_country_cramers_v_is_undefined_and_null():
    """One country: no association to measure: null in the manifest, a dash in the report."""
    segments = pd.DataFrame({"segment_id": [0, 0, 1, 1], "country": ["UK"] * 4})
    found = outputs.country_profile(segments, NAMES)
    assert found["manifest"]["cramers_v"] is None
    assert found["manifest"]["p_value_chi_square"] is None
    assert "Cramér's V of segment against country: nan (—; chi-square p —)" in found["section"]


def test_the_figures_are_rounded_to_six_places():
    segments = pd.DataFrame({"segment_id": [0] * 3 + [1] * 4,
                             "country": ["UK", "UK", "France", "UK", "France", "France", "EIRE"]})
    manifest = outputs.country_profile(segments, NAMES)["manifest"]
    assert manifest["mix"]["Champions"]["UK"] == 0.666667
    for value in (manifest["cramers_v"], manifest["p_value_chi_square"]):
        assert value == round(value, 6) and 0 < value < 1


# ---------------------------------------------------------------- the report


PROFILES = pd.DataFrame({
    "segment_id": [0, 12], "segment_name": ["Champions", "Hibernating"], "size": [1234, 56],
    "share": [0.95659, 0.04341], "median_recency_days": [5.0, 1234.5],
    "median_frequency": [25.0, 1.0], "median_monetary": [6543.21, np.nan],
    "tenure_days": [330.25, 300.0], "avg_order_value": [240.0, 0.914],
    "return_rate": [0.0125, 0.0]})


def test_the_rfm_table_formats_counts_shares_and_values():
    """The report's segment table: ids and counts with thousands separators, shares and
    return rates as percents with one decimal, values as the report writes numbers."""
    table = outputs.rfm_table(PROFILES)
    assert table.columns.tolist() == [
        "id", "segment", "customers", "share", "median recency (days)", "median orders",
        "median net spend", "mean tenure (days)", "mean order value", "mean return rate"]
    assert table.values.tolist() == [
        ["0", "Champions", "1,234", "95.7%", "5.00", "25.0", "6,543", "330.2", "240.0", "1.2%"],
        ["12", "Hibernating", "56", "4.3%", "1,234", "1.00", "—", "300.0", "0.91", "0.0%"]]


def report(**changes):
    config = resolve_transaction_config(["InvoiceNo", "InvoiceDate", "CustomerID", "Amount"],
                                        window_days=changes.pop("window_days", None),
                                        timezone="Europe/Paris")
    quality = {"k": 3, "stability": 0.9, "weak_structure": False, "silhouette": 0.25,
               "smallest_segment_share": 0.1, "fallback_named_share": 0.0,
               "atypical_share": 0.02, "warnings": []}
    arguments = dict(dataset="shop", run_date=date(2011, 12, 9), input_path="raw/log.csv",
                     config=config, profiles=PROFILES, selection=selection(), silhouette=0.25,
                     counts=accounting_counts(), cleaning={"outliers": 3},
                     quality=quality, transforms={"frequency": {"transform": "log1p"},
                                                  "recency_days": {"transform": "none"},
                                                  "monetary": {"transform": "log1p"}},
                     new_customers=1234, paths={"segments": "processed/shop/segments.parquet"})
    return outputs.transaction_report(**{**arguments, **changes})


def test_the_report_says_which_lines_the_features_are_from():
    """Features as of D from all lines dated on or before D, or the N days up to D with
    ``--window-days N``; in the run's time zone; the value's source and each role's column."""
    text = report()
    assert text.startswith("# Segmentation report: shop, 2011-12-09\n\n")
    assert ("Input: `raw/log.csv`; one row per purchase line (customer: 'CustomerID'; "
            "timestamp: 'InvoiceDate'; amount: 'Amount'; order: 'InvoiceNo'; value = amount); "
            "features as of 2011-12-09 from all lines dated on or before 2011-12-09 "
            "(timestamps read in Europe/Paris).") in text
    assert ("features as of 2011-12-09 from the 90 days up to 2011-12-09 (timestamps"
            in report(window_days=90))


def test_the_report_lists_the_log_transformed_features_or_none():
    assert "- log-transformed (log1p) before scaling: frequency, monetary\n" in report()
    assert "- log-transformed (log1p) before scaling: none\n" in report(
        transforms={"monetary": {"transform": "none"}})


def test_the_report_says_how_the_segments_were_made():
    """The segments' table (medians over all members, means over typical members) and the
    features: the six clustered, net spend floored at 0, the transforms and the RFM scores."""
    text = report()
    assert ("## Segments\nMedians over all members; means over typical members.\n\n"
            + outputs.markdown_table(outputs.rfm_table(PROFILES))) in text
    assert ("## Features and transforms\n"
            "- clustered on: recency_days, frequency, monetary, tenure_days, avg_order_value, "
            "return_rate (net spend below 0 counts as 0 for clustering)\n"
            "- log-transformed (log1p) before scaling: frequency, monetary\n"
            "- RFM scores: quintiles 1-5 of recency (5 = most recent), frequency and net spend "
            "(5 = highest), in `r_score`, `f_score`, `m_score` and `rfm_score`\n\n") in text


def test_the_report_counts_the_new_customers():
    """``is_new``: first order within 30 days of D, counted in the report."""
    assert ("New customers (first order within 30 days of the run date, flagged `is_new` "
            "whatever their segment): 1,234.") in report()


def test_the_report_s_sections_come_in_order_with_the_extra_ones_before_quality():
    text = report(extra_sections=["## Countries\nall UK"])
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# Segmentation report: shop, 2011-12-09", "## Segments",
                        "## Features and transforms", "## Countries", "## Segment quality",
                        "## Choice of k", "## Line accounting", "## Cleaning", "## Outputs"]
    assert text.endswith("- segments: `processed/shop/segments.parquet`\n")
