"""Staging a purchase log (segmentation/transactions/ingest.py, docs/transactions.md): a
Parquet log staged like a CSV one (a line number from 1, every column as text, timestamps with
a zone in ISO form), and the separator of each kind of file; no Great Expectations here."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation.errors import InputError, ValidationFailed
from segmentation.transactions import ingest
from segmentation.transactions.config import resolve_transaction_config
from tests.transactions.test_ingest import RUN_DATE, stage_and_split


def test_a_parquet_log_is_staged_as_text_with_line_numbers(tmp_path):
    log = tmp_path / "log.parquet"
    table = pa.table({
        "Invoice": ["A1", "A2", "A3"], "Quantity": [3, -1, 12],
        "Price": [2.5, 0.85, 10.0],
        "At": pa.array([1_700_000_000_000_000, 1_700_003_600_000_000, 1_700_007_200_000_000],
                       pa.timestamp("us", tz="Australia/Sydney")),
        "Local": pa.array([0, 60_000_000, 120_000_000], pa.timestamp("us"))})
    pq.write_table(table.rename_columns(["Invoice", "Quantity", "Price", "At", "Invoice"]), log)
    staged = tmp_path / "work" / "staged.parquet"
    found = ingest.stage_lines(log, staged)
    assert found["header"] == ["Invoice", "Quantity", "Price", "At", "Invoice"]
    assert found["separator"] is None and found["rows"] == 3
    assert found["rejects"].empty
    assert found["rejects"].columns.tolist() == ["source_row", "raw_line", "reason"]
    read = pq.read_table(staged)
    assert read.schema == pa.schema([("source_row", pa.int64()), ("Invoice", pa.string()),
                                     ("Quantity", pa.string()), ("Price", pa.string()),
                                     ("At", pa.string()), ("Invoice_2", pa.string())])
    assert read.to_pydict() == {
        "source_row": [1, 2, 3], "Invoice": ["A1", "A2", "A3"], "Quantity": ["3", "-1", "12"],
        "Price": ["2.5", "0.85", "10"],
        # An instant with a zone: local time with its offset, which the run reads as an instant.
        "At": ["2023-11-15T09:13:20.000000+1100", "2023-11-15T10:13:20.000000+1100",
               "2023-11-15T11:13:20.000000+1100"],
        "Invoice_2": ["1970-01-01 00:00:00.000000", "1970-01-01 00:01:00.000000",
                      "1970-01-01 00:02:00.000000"]}


def test_a_large_parquet_log_is_numbered_across_batches(tmp_path, monkeypatch):
    log = tmp_path / "log.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(5)]}), log, row_group_size=2)
    real = pq.ParquetFile.iter_batches
    monkeypatch.setattr(pq.ParquetFile, "iter_batches",
                        lambda self, batch_size: real(self, batch_size=2))
    found = ingest.stage_lines(log, tmp_path / "staged.parquet")
    assert found["rows"] == 5
    assert pq.read_table(tmp_path / "staged.parquet")["source_row"].to_pylist() == [1, 2, 3, 4, 5]


def test_a_parquet_log_without_lines_is_refused(tmp_path):
    log = tmp_path / "log.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string())}), log)
    with pytest.raises(InputError) as refused:
        ingest.stage_lines(log, tmp_path / "staged.parquet")
    assert str(refused.value) == f"file '{log}': the file has no purchase lines"


@pytest.mark.parametrize("text, gzipped, separator", [
    ("Invoice;Quantity\nA1;3\n", False, ";"), ("Invoice\tQuantity\n", True, "\t"),
    ("Invoice|Quantity\n", False, "|"), ("\ufeffInvoice,Quantity\n", False, ","),
    ("Invoice\nA1\n", False, ","),                       # one column: the comma by default
])
def test_the_separator_of_a_csv_log(tmp_path, text, gzipped, separator):
    path = tmp_path / ("log.csv.gz" if gzipped else "log.csv")
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    assert ingest.separator_of(path) == separator
    assert ingest.separator_of(str(path)) == separator


def test_a_parquet_log_has_no_separator(tmp_path):
    log = tmp_path / "log.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(log)
    assert ingest.separator_of(log) is None


# ---------------------------------------------------------------- typing (DuckDB, then GX)

def sample_format(tmp_path, values: list[str]) -> str | None:
    staged = tmp_path / "staged.parquet"
    pq.write_table(pa.table({"t": values}), staged)
    with duckdb.connect() as con:
        return ingest.timestamp_format(con, str(staged), "t")


def test_offsets_win_when_nine_in_ten_timestamps_carry_one(tmp_path):
    plain = ["2011-06-01 10:00:00"] * 10
    assert sample_format(tmp_path, ["2011-06-01T10:00:00+02:00"] * 9 + plain[:1]) == "offset"
    assert sample_format(tmp_path, ["2011-06-01T10:00:00Z"] + plain[:9]) is None   # ISO, no zone
    assert sample_format(tmp_path, plain) is None


def test_on_a_tie_the_earlier_layout_wins_month_first_before_day_first(tmp_path):
    # 1/2/2011 reads as 2 January (month first) and as 1 February (day first).
    assert sample_format(tmp_path, ["1/2/2011 10:00", "3/4/2011 11:30"]) == "%m/%d/%Y %H:%M"
    assert sample_format(tmp_path, ["13/2/2011 10:00", "3/4/2011 11:30"]) == "%d/%m/%Y %H:%M"


def test_a_cancelled_order_is_a_return_and_a_free_purchase_is_quarantined_in_amount_logs(
        tmp_path):
    text = ("Invoice,Customer,Date,Quantity,Amount,Country\n"
            "C200,7,2011-06-01,2,6.00,France\n"      # cancelled order, positive numbers
            "X201,7,2011-06-02,4,10.00,France\n"
            "X202,8,2011-06-03,2,-3.00,Spain\n"      # a negative amount: a return
            "X203,8,2011-06-04,2,0,Spain\n")         # a purchase at a price of 0
    split = stage_and_split(tmp_path, text, given={"order": "Invoice"})
    lines = pd.read_parquet(split.lines).set_index("source_row").sort_index()
    assert lines["is_return"].tolist() == [True, False, True]
    assert lines["value"].tolist() == [-6.0, 10.0, -3.0]           # the amount, negative if a return
    assert lines["order_key"].tolist() == ["C200", "X201", "X202"]
    assert lines["country"].tolist() == ["France", "France", "Spain"]
    price = "zero or negative price on a purchase line"
    assert split.counts["quarantined_by_reason"] == {price: 1}
    # Without a quantity, the amount is the price.
    (tmp_path / "b").mkdir()
    amounts = stage_and_split(tmp_path / "b", "Customer,Date,Amount\n7,2011-06-01,4.5\n"
                                              "8,2011-06-01,0\n")
    assert pd.read_parquet(amounts.lines)["source_row"].tolist() == [2]
    assert amounts.counts["quarantined_by_reason"] == {price: 1}
    # A line of no units is no purchase, whatever its amount: 0 for 0 and 0 units for 5.
    (tmp_path / "c").mkdir()
    nothing = stage_and_split(tmp_path / "c", "Customer,Date,Quantity,Amount\n7,2011-06-01,0,0\n"
                                              "8,2011-06-01,0,5\n9,2011-06-01,1,5\n")
    assert pd.read_parquet(nothing.lines)["source_row"].tolist() == [4]
    assert nothing.counts["quarantined_by_reason"] == {"zero quantity (no units on the line)": 2}


def test_a_log_in_a_folder_with_a_quote_and_columns_with_quotes_is_read(tmp_path):
    folder = tmp_path / "o'brien"
    folder.mkdir()
    text = 'Cust "ID",Date,Amount\n7,2011-06-01,4.5\n'
    split = stage_and_split(folder, text, given={"customer": 'Cust "ID"'})
    assert pd.read_parquet(split.lines)["customer_id"].tolist() == ["7"]


def test_a_split_writes_only_into_its_work_folder_and_makes_a_validation_page(tmp_path,
                                                                              monkeypatch):
    log = tmp_path / "in" / "log.csv"
    log.parent.mkdir()
    log.write_text("Customer,Date,Amount\n7,2011-06-01,4.5\n")
    staged = ingest.stage_lines(log, tmp_path / "in" / "staged.parquet")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)                       # nothing may land in the working folder
    # ... not even while the split runs (seen while Great Expectations validates, when every
    # intermediate file exists), so two runs started from one folder never meet.
    import segmentation.validation as validation

    seen, real = [], validation.validate_frame

    def validate(*args, **kwargs):
        seen.append(sorted(p.name for p in elsewhere.iterdir()))
        return real(*args, **kwargs)
    monkeypatch.setattr(validation, "validate_frame", validate)
    work = tmp_path / "runs" / "r1" / "work"           # made with its parents
    split = ingest.split_lines(str(tmp_path / "in" / "staged.parquet"),
                               resolve_transaction_config(staged["header"]), RUN_DATE, work,
                               str(log))
    assert seen == [[]] and list(elsewhere.iterdir()) == []
    assert Path(split.lines).parent == work and Path(split.quarantine).parent == work
    assert split.outcome.data_docs_html and "transactions" in split.outcome.data_docs_html


def test_unreadable_timestamps_fail_the_table_naming_the_file_and_the_column(tmp_path):
    text = "customer,date,amount\n1,soon,5\n2,later,6\n3,2011-01-03,7\n"
    with pytest.raises(ValidationFailed) as failed:
        stage_and_split(tmp_path, text)
    assert failed.value.file == str(tmp_path / "log.csv")
    assert "on column 'date' (most timestamps cannot be read: wrong column or format)" in \
        str(failed.value)


# ---------------------------------------------------------------- the suite and the SQL agree

def drifted(rule_reason: str, sql: str):
    """``quarantine_rules`` with one rule's SQL replaced: a suite and SQL that disagree."""
    real = ingest.quarantine_rules

    def rules(suite, placeholders):
        return [(key, reason, sql if reason == rule_reason else rule)
                for key, reason, rule in real(suite, placeholders)]
    return rules


DUPLICATE = "exact duplicate line (the first is kept)"


def test_lines_quarantined_where_great_expectations_found_nothing_fail_the_run(tmp_path,
                                                                               monkeypatch):
    # docs/transactions.md: the customers GE flagged must be those holding a quarantined
    # line for each rule, "or the run fails: the suite and the SQL cannot drift apart".
    monkeypatch.setattr(ingest, "quarantine_rules", drifted(DUPLICATE, "dup_rank >= 1"))
    with pytest.raises(AssertionError) as failed:
        stage_and_split(tmp_path, "Customer,Date,Amount\n7,2011-06-01,4.5\n8,2011-06-02,3\n")
    assert str(failed.value) == (f"{tmp_path / 'log.csv'}: 2 lines quarantined but Great "
                                 "Expectations found no unexpected summary row")


def test_a_rule_that_quarantines_other_customers_than_great_expectations_fails_the_run(
        tmp_path, monkeypatch):
    # Great Expectations finds the anonymous lines' summary row; the drifted duplicate rule
    # quarantines lines of two customers (7 and the anonymous ones) where GE found none.
    monkeypatch.setattr(ingest, "quarantine_rules", drifted(DUPLICATE, "dup_rank >= 1"))
    with pytest.raises(AssertionError) as failed:
        stage_and_split(tmp_path, "Customer,Date,Amount\n7,2011-06-01,4.5\n,2011-06-02,3\n")
    assert str(failed.value) == (
        f"{tmp_path / 'log.csv'}: expect_column_values_to_be_between:n_duplicates found 0 "
        "customers (summary rows), the quarantine rule 2")


def test_the_suite_and_the_sql_agree_on_anonymous_lines_counted_as_one_summary_row(tmp_path):
    # Two anonymous lines are one summary row (customer NULL) for GE and one group for the
    # check: the run goes on and quarantines both.
    split = stage_and_split(tmp_path, "Customer,Date,Amount\n7,2011-06-01,4.5\n"
                                      ",2011-06-02,3\nNA,2011-06-03,2\n")
    assert split.counts["quarantined_by_reason"] == {"no customer id (anonymous sale)": 2}


# ---------------------------------------------------------------- cancellations

def test_an_empty_cancel_prefix_makes_no_order_a_cancellation(tmp_path):
    # --cancel-prefix '' : the log marks returns by their sign only.
    text = "Invoice,Customer,Date,Quantity,Price\nC1,7,2011-06-01,2,3.0\nX2,7,2011-06-02,-1,3.0\n"
    split = stage_and_split(tmp_path, text, cancel_prefix="")
    lines = pd.read_parquet(split.lines).sort_values("source_row")
    assert lines["is_return"].tolist() == [False, True]
    assert lines["value"].tolist() == [6.0, -3.0]


# ---------------------------------------------------------------- the split's counts

def test_a_split_counts_every_line_once_with_anonymous_and_non_product_values(tmp_path):
    # The manifest's accounting (docs/transactions.md): lines in = used + quarantined +
    # excluded; anonymous sales with their value (to the cent); non-product lines by code
    # with their value, a free one (a return at price 0) at 0.
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    text = header + "\n" + "\n".join([
        "1,A1,CUP,3,2011-06-01 10:00:00,1.111,12345,UK",        # kept
        "1,A1,CUP,3,2011-06-01 10:00:00,1.111,,UK",             # anonymous, 3.333
        "2,A2,CUP,1,2011-06-02 10:00:00,1.111,,UK",             # anonymous, 1.111
        "3,POST,POSTAGE,1,2011-06-03 10:00:00,18.00,12345,UK",  # non-product
        "C4,DOT,DOTCOM,-1,2011-06-04 10:00:00,0,12345,UK",      # non-product return, 0
        "5,A1,CUP,1,2011-07-05 10:00:00,1,12345,UK",            # after the run date
        "6,A1,CUP,abc,2011-06-06 10:00:00,1,12345,UK"]) + "\n"  # value not a number
    split = stage_and_split(tmp_path, text)
    assert split.counts == {
        "lines_staged": 7, "lines_kept": 1,
        "quarantined_by_reason": {"no customer id (anonymous sale)": 2,
                                  "quantity, price or amount missing or not a number": 1},
        "excluded_by_reason": {"dated after the run date": 1,
                               "non-product line (postage, fees, adjustments)": 2},
        "anonymous_sales": {"lines": 2, "value": 4.44},
        "non_product_by_code": {"DOT": {"lines": 1, "value": 0.0},
                                "POST": {"lines": 1, "value": 18.0}},
        "time_format": "ISO 8601"}
    assert pd.read_parquet(split.lines)["source_row"].tolist() == [2]
    assert pd.read_parquet(split.quarantine).to_dict("list") == {
        "source_row": [3, 4, 8],
        "reason": ["no customer id (anonymous sale)", "no customer id (anonymous sale)",
                   "quantity, price or amount missing or not a number"]}


def test_a_split_names_the_timestamp_layout_it_read(tmp_path):
    split = stage_and_split(tmp_path, "customer;date;amount\n7;01.06.2011;4,50\n")
    assert split.counts["time_format"] == "%d.%m.%Y"
    assert pd.read_parquet(split.lines)["value"].tolist() == [4.5]


# ---------------------------------------------------------------- staging a CSV log

def test_a_gzip_log_with_a_bom_and_semicolons_is_staged_as_written(tmp_path):
    log = tmp_path / "log.csv.gz"
    log.write_bytes(gzip.compress("\ufeffInvoice;Customer;Code;Price\r\n"
                                  "A1;0042;007;2.50\r\nA2;;NA;1,5\r\n".encode("utf-8")))
    target = tmp_path / "a" / "b" / "staged.parquet"          # made with its parents
    found = ingest.stage_lines(log, target)
    assert found["header"] == ["Invoice", "Customer", "Code", "Price"]
    assert found["separator"] == ";" and found["rows"] == 2
    assert found["rejects"].columns.tolist() == ["source_row", "raw_line", "reason"]
    # Every column as text, as written: no number is re-spelled, nothing is made null.
    read = pq.read_table(target)
    assert read.schema == pa.schema([("source_row", pa.int64())] + [
        (name, pa.string()) for name in ("Invoice", "Customer", "Code", "Price")])
    assert read.to_pydict() == {"source_row": [2, 3], "Invoice": ["A1", "A2"],
                                "Customer": ["0042", ""], "Code": ["007", "NA"],
                                "Price": ["2.50", "1,5"]}


def test_a_header_without_lines_is_refused_at_row_2(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("customer,date,amount\n")
    with pytest.raises(InputError) as refused:
        ingest.stage_lines(log, tmp_path / "staged.parquet")
    assert str(refused.value) == f"file '{log}', row 2: the file has a header but no purchase lines"


def test_a_log_of_malformed_lines_only_is_staged_with_its_rejects(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("customer,date,amount\n1,2011-01-01\n")
    found = ingest.stage_lines(log, tmp_path / "staged.parquet")
    assert found["rows"] == 0
    assert found["rejects"]["source_row"].tolist() == [2]


def test_line_numbers_hold_across_blocks_with_malformed_lines(tmp_path, monkeypatch):
    # A log longer than Arrow's block is read in batches: each staged row keeps its line
    # number, and the malformed lines theirs, wherever the blocks end.
    real = ingest.pacsv.ReadOptions
    monkeypatch.setattr(ingest.pacsv, "ReadOptions",
                        lambda **options: real(**{**options, "block_size": 40}))
    def malformed(n: int) -> bool:          # every third line, and a run filling whole blocks
        return n % 3 == 0 or 20 <= n < 35

    lines = {n: (f"{n},2011-01-01" if malformed(n) else f"{n},2011-01-01,{n}.5")
             for n in range(2, 62)}
    log = tmp_path / "log.csv"
    log.write_text("customer,date,amount\n" + "\n".join(lines.values()) + "\n")
    found = ingest.stage_lines(log, tmp_path / "staged.parquet")
    good = [n for n in lines if not malformed(n)]
    assert found["rows"] == len(good)
    assert found["rejects"]["source_row"].tolist() == [n for n in lines if malformed(n)]
    staged = pq.read_table(tmp_path / "staged.parquet").to_pydict()
    assert staged["source_row"] == good
    assert staged["customer"] == [str(n) for n in good]         # each row's own number


@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("name", ["log.csv", "log.csv.gz", "log-gzipped.csv"])
def test_lines_after_empty_lines_keep_their_numbers_in_the_file(tmp_path, end, name):
    """Arrow skips empty lines; the staged rows and the malformed lines are still numbered by
    their lines in the file (docs/outputs.md, ``source_row``), plain or gzip-compressed (told
    by its bytes, not its name)."""
    lines = ["customer,date,amount", "1,2011-01-01,1.5", "", "", "3,2011-01-02,2.5", "4,oops",
             "", "5,2011-01-03,3.5", ""]
    data = end.join(lines).encode()
    log = tmp_path / name
    log.write_bytes(data if name == "log.csv" else gzip.compress(data))
    found = ingest.stage_lines(log, tmp_path / "staged.parquet")
    staged = pq.read_table(tmp_path / "staged.parquet").to_pydict()
    assert staged["source_row"] == [2, 5, 8]
    assert staged["customer"] == ["1", "3", "5"]
    assert found["rejects"]["source_row"].tolist() == [6]
    assert found["rejects"]["raw_line"].tolist() == ["4,oops"]


def test_lines_that_differ_only_by_an_empty_field_and_na_are_not_duplicates(tmp_path):
    # An exact duplicate has every field equal as written: "" and "NA" differ.
    text = ("Customer,Date,Amount,Note\n7,2011-06-01,4.5,\n7,2011-06-01,4.5,NA\n"
            "7,2011-06-01,4.5,NA\n")
    split = stage_and_split(tmp_path, text)
    assert pd.read_parquet(split.lines)["source_row"].tolist() == [2, 3]
    assert split.counts["quarantined_by_reason"] == {DUPLICATE: 1}


# ---------------------------------------------------------------- the suite's words

def test_unreadable_prices_fail_the_table_naming_the_price_column(tmp_path):
    text = ("Customer,Date,Qty,UnitPrice\n1,2011-01-01,1,x\n2,2011-01-02,1,y\n"
            "3,2011-01-03,1,2\n")
    with pytest.raises(ValidationFailed) as failed:
        stage_and_split(tmp_path, text)
    assert "on column 'UnitPrice' (most line values are not numbers: wrong column?)" in \
        str(failed.value)


def test_a_fractional_max_quantity_is_the_bound_and_is_written_in_the_reason(tmp_path):
    text = "Customer,Date,Quantity,Price\n7,2011-06-01,2.5,1\n7,2011-06-02,2.6,1\n"
    split = stage_and_split(tmp_path, text, max_quantity=2.5)
    assert pd.read_parquet(split.lines)["source_row"].tolist() == [2]
    assert split.counts["quarantined_by_reason"] == {
        "implausible quantity (more than 2.5 units)": 1}


# ---------------------------------------------------------------- the header

@pytest.mark.parametrize("data", [b"", b"\r\n", b" \n7,2011-06-01,4.5\n"])
def test_an_empty_log_is_refused_at_row_1(tmp_path, data):
    log = tmp_path / "log.csv"
    log.write_bytes(data)
    with pytest.raises(InputError) as refused:
        ingest.read_header(log)
    assert str(refused.value) == (f"file '{log}', row 1: the file is empty: expected a header "
                                  "line and purchase lines")


def test_a_header_keeps_its_names_as_written_up_to_an_empty_last_column(tmp_path):
    # A spreadsheet's export may end each line with a separator: an empty last column.
    log = tmp_path / "log.csv"
    log.write_bytes(b"Customer\tDate\tAmount\tFLAG X\t\r\n7\t2011-06-01\t4.5\tY\t\r\n")
    assert ingest.read_header(log) == ["Customer", "Date", "Amount", "FLAG X", ""]
    last = tmp_path / "last.csv"
    last.write_text("customer;date;TAX\n")
    assert ingest.read_header(last) == ["customer", "date", "TAX"]
    found = ingest.stage_lines(log, tmp_path / "staged.parquet")
    assert found["rows"] == 1 and found["rejects"].empty
    assert pq.read_table(tmp_path / "staged.parquet")["Amount"].to_pylist() == ["4.5"]
