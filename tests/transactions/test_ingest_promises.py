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
    work = tmp_path / "runs" / "r1" / "work"           # made with its parents
    split = ingest.split_lines(str(tmp_path / "in" / "staged.parquet"),
                               resolve_transaction_config(staged["header"]), RUN_DATE, work,
                               str(log))
    assert list(elsewhere.iterdir()) == []
    assert Path(split.lines).parent == work and Path(split.quarantine).parent == work
    assert split.outcome.data_docs_html and "transactions" in split.outcome.data_docs_html


def test_unreadable_timestamps_fail_the_table_naming_the_file_and_the_column(tmp_path):
    text = "customer,date,amount\n1,soon,5\n2,later,6\n3,2011-01-03,7\n"
    with pytest.raises(ValidationFailed) as failed:
        stage_and_split(tmp_path, text)
    assert failed.value.file == str(tmp_path / "log.csv")
    assert "on column 'date' (most timestamps cannot be read: wrong column or format)" in \
        str(failed.value)
