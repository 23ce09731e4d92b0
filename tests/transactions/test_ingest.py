"""Each cleaning rule on both sides of its threshold, every line accounted for, as of D.

One small log in the Online Retail layout holds a pair of lines per rule (one kept, one
not); the split runs once (Great Expectations included) and each line's fate is checked.
"""

from datetime import date

import pandas as pd
import pytest

from segmentation.transactions import ingest
from segmentation.transactions.config import resolve_transaction_config

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
RUN_DATE = date(2011, 6, 30)
# line number (header = 1) -> (line, where it must end: "kept", "excluded: ..." or reasons)
LINES = {
    2: ("100,A1,CUP,5,2011-06-01 10:00:00,2.00,12345,United Kingdom", "kept"),
    3: ("100,A1,CUP,5,2011-06-01 10:00:00,2.00,12345,United Kingdom",
        "exact duplicate line (the first is kept)"),
    4: ("100,A1,CUP,6,2011-06-01 10:00:00,2.00,12345,United Kingdom", "kept"),  # one field differs
    5: ("101,A1,CUP,5,2011-06-02 10:00:00,2.00,,United Kingdom", "no customer id (anonymous sale)"),
    6: ("101,A2,CUP,5,2011-06-02 10:00:00,2.00,NA,United Kingdom",
        "no customer id (anonymous sale)"),
    7: ("102,A3,CUP,5,2011-06-03 10:00:00,0,12345,United Kingdom",
        "zero or negative price on a purchase line"),
    8: ("102,A4,CUP,5,2011-06-03 10:00:00,0.01,12345,United Kingdom", "kept"),
    9: ("C103,A1,CUP,-1,2011-06-04 10:00:00,0,12345,United Kingdom", "kept"),  # a return: no price
    10: ("104,A5,CUP,10000,2011-06-05 10:00:00,1.00,12345,United Kingdom", "kept"),
    11: ("104,A6,CUP,10001,2011-06-05 10:00:00,1.00,12345,United Kingdom",
         "implausible quantity (more than 10000 units)"),
    12: ("C104,A6,CUP,-10001,2011-06-05 11:00:00,1.00,12345,United Kingdom",
         "implausible quantity (more than 10000 units)"),
    13: ("105,A1,CUP,5,not a date,2.00,12345,United Kingdom", "timestamp missing or unreadable"),
    14: ("106,A1,CUP,5,2011-07-01 00:00:00,2.00,12345,United Kingdom",
         "excluded: dated after the run date"),
    15: ("107,A1,CUP,5,2011-06-30 23:59:00,2.00,12345,United Kingdom", "kept"),
    16: ("107,POST,POSTAGE,1,2011-06-30 23:59:00,18.00,12345,United Kingdom",
         "excluded: non-product line (postage, fees, adjustments)"),
    17: ("107,POSTX,POSTER,1,2011-06-30 23:59:00,18.00,12345,United Kingdom", "kept"),
    18: ("108,A1,CUP,5,2011-06-06 10:00:00,0,,United Kingdom",
         "no customer id (anonymous sale); zero or negative price on a purchase line"),
    19: ("109,A1,CUP,5,1989-12-31 10:00:00,2.00,12345,United Kingdom",
         "implausible timestamp (before 1990)"),
    20: ("110,A1,CUP,abc,2011-06-07 10:00:00,2.00,12345,United Kingdom",
         "quantity, price or amount missing or not a number"),
    21: ("111,A1,CUP,5,1990-01-01 00:00:00,2.00,12345,United Kingdom", "kept"),
    22: ("112,A1,CUP,0,2011-06-08 10:00:00,2.00,12345,United Kingdom",
         "zero quantity (no units on the line)"),
    23: ("113,A1,CUP,0,2011-06-08 10:00:00,0,12345,United Kingdom",
         "zero or negative price on a purchase line; zero quantity (no units on the line)"),
}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("rules")
    log = root / "log.csv"
    log.write_text(HEADER + "\n" + "\n".join(line for line, _ in LINES.values()) + "\n")
    staged = ingest.stage_lines(log, root / "staged.parquet")
    config = resolve_transaction_config(staged["header"])
    return ingest.split_lines(str(root / "staged.parquet"), config, RUN_DATE, root / "work",
                              str(log))


def test_every_line_ends_where_its_rule_says(split):
    kept = set(pd.read_parquet(split.lines)["source_row"])
    quarantined = pd.read_parquet(split.quarantine).set_index("source_row")["reason"].to_dict()
    for row, (_, fate) in LINES.items():
        if fate == "kept":
            assert row in kept and row not in quarantined, row
        elif fate.startswith("excluded"):
            assert row not in kept and row not in quarantined, row
        else:
            assert quarantined.get(row) == fate, row


def test_counts_reconcile_and_name_each_exclusion(split):
    counts = split.counts
    fates = [fate for _, fate in LINES.values()]
    assert counts["lines_staged"] == len(LINES)
    assert counts["lines_kept"] == fates.count("kept")
    assert counts["excluded_by_reason"] == {"dated after the run date": 1,
                                            "non-product line (postage, fees, adjustments)": 1}
    assert counts["non_product_by_code"] == {"POST": {"lines": 1, "value": 18.0}}
    assert sum(counts["quarantined_by_reason"].values()) == sum(
        1 for f in fates if f != "kept" and not f.startswith("excluded"))


def test_anonymous_sales_are_counted_with_their_value(split):
    assert split.counts["anonymous_sales"] == {"lines": 3, "value": 20.0}   # 10 + 10 + 0


def test_returns_are_kept_with_a_negative_value(split):
    lines = pd.read_parquet(split.lines).set_index("source_row")
    assert lines.loc[9, "is_return"] and lines.loc[9, "value"] == 0
    assert not lines.loc[2, "is_return"] and lines.loc[2, "value"] == 10.0


def test_great_expectations_saw_the_summary(split):
    assert split.outcome.statistics["evaluated_expectations"] >= 9
    assert split.outcome.data_docs_html and "transactions" in split.outcome.data_docs_html


def stage_and_split(tmp_path, text, run_date=RUN_DATE, **options):
    log = tmp_path / "log.csv"
    log.write_text(text)
    staged = ingest.stage_lines(log, tmp_path / "staged.parquet")
    config = resolve_transaction_config(staged["header"], **options)
    return ingest.split_lines(str(tmp_path / "staged.parquet"), config, run_date,
                              tmp_path / "work", str(log))


def test_a_window_excludes_lines_before_it_and_keeps_its_first_day(tmp_path):
    text = (HEADER + "\n1,A,X,1,2011-06-20 10:00:00,1,7,UK\n2,A,X,1,2011-06-21 00:00:00,1,7,UK\n"
            "3,A,X,1,2011-06-30 10:00:00,1,7,UK\n")
    split = stage_and_split(tmp_path, text, window_days=10)
    assert sorted(pd.read_parquet(split.lines)["source_row"]) == [3, 4]
    assert split.counts["excluded_by_reason"] == {"dated before the window": 1}


def test_offset_timestamps_are_read_in_the_run_s_time_zone(tmp_path):
    # 23:30 UTC on 30 June is 01:30 on 1 July in Zurich: after the run date there.
    text = ("customer,ts,amount\n7,2011-06-30T23:30:00+00:00,5\n7,2011-06-30T21:30:00Z,5\n")
    split = stage_and_split(tmp_path, text, timezone="Europe/Zurich")
    lines = pd.read_parquet(split.lines)
    assert list(lines["source_row"]) == [3]
    assert str(lines["ts"].iloc[0]) == "2011-06-30 23:30:00"
    assert split.counts["excluded_by_reason"] == {"dated after the run date": 1}


def test_month_first_dates_and_currency_amounts_are_read(tmp_path):
    text = ("customer,date,dollars\n0042,6/29/2011 8:26,$3.50\n42.0,12/1/2010 9:00,\"1,234.50\"\n")
    split = stage_and_split(tmp_path, text, given={"amount": "dollars"})
    lines = pd.read_parquet(split.lines).sort_values("source_row")
    assert list(lines["customer_id"]) == ["42", "42"]           # one customer
    assert list(lines["value"]) == [3.5, 1234.5]
    assert [str(d) for d in lines["day"]] == ["2011-06-29", "2010-12-01"]


def test_a_malformed_line_is_returned_with_its_number(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("customer,date,amount\n1,2011-01-01,5\n2,2011-01-02\n3,2011-01-03,7\n")
    staged = ingest.stage_lines(log, tmp_path / "staged.parquet")
    assert staged["rejects"].to_dict("records") == [
        {"source_row": 3, "raw_line": "2,2011-01-02",
         "reason": "malformed line: 3 fields expected, 2 found"}]
    rows = pd.read_parquet(tmp_path / "staged.parquet")
    assert list(rows["source_row"]) == [2, 4] and list(rows["customer"]) == ["1", "3"]


def test_most_values_unreadable_fails_the_table_naming_the_column(tmp_path):
    from segmentation.errors import ValidationFailed

    text = "customer,date,amount\n1,2011-01-01,x\n2,2011-01-02,y\n3,2011-01-03,7\n"
    with pytest.raises(ValidationFailed, match="column 'amount'"):
        stage_and_split(tmp_path, text)
