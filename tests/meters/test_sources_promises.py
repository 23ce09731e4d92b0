"""Promises of reading meter files (``segmentation.meters.sources``, docs/meters.md step 1):
long Parquet read in place whatever its column names; a wide Parquet file's typed time column
(plain or zoned); what staging parses and what it leaves to DuckDB; timestamps with a tail;
files read in several batches; gzip recognised by content."""

from __future__ import annotations

import gzip
import re
import threading
import time

import pandas as pd
import pytest
import pyarrow as pa
import pyarrow.parquet as pq

from segmentation.errors import InputError, ValidationFailed
from segmentation.meters import sources
from segmentation.meters.ingest import ingest_file
from segmentation.meters.sources import (STAGED, ColumnNames, read_header, source_sql,
                                         stage_long_parquet)
from tests.meters.conftest import duck, quarantined, stored


def test_long_parquet_columns_are_read_whatever_characters_their_names_hold(tmp_path):
    """Column names are configurable (``ColumnNames``); a name with a double quote, a space or
    a comma is still the column it names."""
    names = ColumnNames(meter='meter "id"', timestamp="time, local", kwh="kWh 'hh'")
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table({names.meter: ["M1", "M2"], names.timestamp: ["2024-01-10 00:00:00"] * 2,
                             names.kwh: [0.5, 0.25]}), path)
    query = source_sql(path, "parquet", "long", read_header(path, "parquet"), names, None)
    assert duck(f"SELECT source_row, meter_raw, ts_raw, kwh_raw FROM ({query}) ORDER BY 1") == [
        (1, "M1", "2024-01-10 00:00:00", 0.5), (2, "M2", "2024-01-10 00:00:00", 0.25)]


def _wide_readings(tmp_path, store, timestamps: pa.Array, name: str):
    """Stored readings of a wide Parquet file (meters A and B) whose time column is typed."""
    path = tmp_path / name
    pq.write_table(pa.table({"timestamp": timestamps, "A": [0.25, 0.5, 0.75], "B": [1.0, 1.25, 1.5]}),
                   path)
    ingest_file(path, store, timezone="Europe/London")
    return stored(store)


def test_a_wide_parquet_file_s_plain_timestamps_are_local_times_in_the_run_s_zone(tmp_path, store):
    """A timestamp column typed without a zone is read as the wall clock of ``timezone``, as the
    same text in a CSV file is: midnight of 1 July in London is 23:00 UTC the day before."""
    local = pa.array(pd.date_range("2024-07-01 00:00", periods=3, freq="h"), pa.timestamp("us"))
    readings = _wide_readings(tmp_path, store, local, "wide_plain.parquet")
    assert list(readings["timestamp"].unique()) == list(
        pd.date_range("2024-06-30 23:00", periods=3, freq="h", tz="UTC"))
    assert readings.groupby("meter_id")["kwh"].sum().to_dict() == {"A": 1.5, "B": 3.75}


def test_a_wide_parquet_file_s_zoned_timestamps_keep_their_instant(tmp_path, store):
    """A timestamp column typed with a zone names instants: they are not read again as London
    wall-clock times (midnight UTC stays midnight UTC, not 23:00 the day before)."""
    instants = pa.array(pd.date_range("2024-07-01 00:00", periods=3, freq="h", tz="UTC"),
                        pa.timestamp("us", tz="UTC"))
    readings = _wide_readings(tmp_path, store, instants, "wide_zoned.parquet")
    assert list(readings["timestamp"].unique()) == list(
        pd.date_range("2024-07-01 00:00", periods=3, freq="h", tz="UTC"))


def test_a_timestamp_with_characters_after_its_seconds_is_quarantined_not_truncated(tmp_path,
                                                                                   store):
    """Only zero fractions may follow the seconds (``00:30:00.0000000`` in the London files);
    anything else makes the timestamp unparseable, not silently cut to its first 19 characters."""
    day = [f"M,{t:%Y-%m-%d %H:%M:%S},0.5" for t in pd.date_range("2024-01-10", periods=48,
                                                                   freq="30min")]
    lines = day + ["M,2024-01-11 00:00:00.0000000,0.5", "M,2024-01-11 00:30:00X,0.5",
                   "M,2024-01-11 01:00:00.000x,0.5"]
    path = tmp_path / "tails.csv"
    path.write_text("meter_id,timestamp,kwh\n" + "\n".join(lines) + "\n")
    entry = ingest_file(path, store)
    assert entry["rows_stored"] == 49
    assert quarantined(store)[["source_row", "reason"]].values.tolist() == [
        [51, "timestamp missing or unparseable"], [52, "timestamp missing or unparseable"]]


def test_staging_parses_plain_timestamps_and_numbers_and_keeps_the_rest_as_text(tmp_path):
    """A staged file (``STAGED``) holds the values Arrow parsed once (a space or a ``T`` between
    date and time, zero fractions, numbers) and keeps text only where parsing failed (an
    offset, a word, a missing marker), for DuckDB to read or quarantine. (A batch with a kWh
    that is not a number keeps all its kWh as text: DuckDB then tells them apart.)"""
    path = tmp_path / "long.csv"
    path.write_text("meter_id,timestamp,kwh\n"
                    "M,2024-01-10 00:30:00,0.5\n"
                    "M,2024-01-10T01:00:00,0.25\n"
                    "M,2024-01-10 01:30:00.0000000, 1 \n"
                    "M,2024-01-10 02:00:00+01:00,Null\n"
                    "M,yesterday,-\n")
    out = tmp_path / "staged.parquet"
    header = read_header(path, "csv")
    assert stage_long_parquet(path, "csv", "long", header, ColumnNames(), out) == 5
    staged = pq.read_table(out).to_pandas()
    assert list(staged.columns) == STAGED
    assert staged["source_row"].tolist() == [2, 3, 4, 5, 6]
    assert staged["ts_value"].iloc[:3].tolist() == list(
        pd.date_range("2024-01-10 00:30", periods=3, freq="30min"))
    assert staged["ts_raw"].iloc[:3].isna().all() and staged["ts_value"].iloc[3:].isna().all()
    assert staged["ts_raw"].iloc[3:].tolist() == ["2024-01-10 02:00:00+01:00", "yesterday"]
    assert staged["kwh_value"].iloc[:3].tolist() == [0.5, 0.25, 1.0]
    assert staged["kwh_raw"].iloc[:3].isna().all() and staged["kwh_value"].iloc[3:].isna().all()
    assert staged["kwh_raw"].iloc[3:].tolist() == ["Null", "-"]


def test_a_file_read_in_several_batches_is_read_as_one(tmp_path, store, monkeypatch):
    """Batches are staged one after another into one file: row numbers run on across them, and
    a first batch whose kWh text holds a word (kept as text for DuckDB) does not stop later
    batches of plain numbers from being written."""
    monkeypatch.setattr(sources, "BATCH_ROWS", 2)
    times = pd.date_range("2024-01-10", periods=48, freq="30min").strftime("%Y-%m-%d %H:%M:%S")
    kwh = ["abc"] + ["0.5"] * 45 + ["xyz", "0.5"]
    path = tmp_path / "wide_text.parquet"
    pq.write_table(pa.table({"timestamp": list(times), "A": kwh, "B": ["0.25"] * 48}), path)
    entry = ingest_file(path, store)
    assert entry["rows_stored"] == 94
    assert quarantined(store)[["source_row", "meter_id", "reason"]].values.tolist() == [
        [1, "A", "kwh missing or not a number"], [47, "A", "kwh missing or not a number"]]
    readings = stored(store)
    assert readings.groupby("meter_id")["kwh"].sum().to_dict() == {"A": 23.0, "B": 12.0}


@pytest.mark.parametrize("name", ["blocks.csv", "blocks.csv.gz"])
def test_a_csv_file_is_staged_block_by_block(tmp_path, monkeypatch, name):
    """Large inputs stream: a CSV file is read in blocks of ``CSV_BLOCK`` bytes, one batch
    each, never whole, and the staged rows keep their line numbers across the blocks."""
    monkeypatch.setattr(sources, "CSV_BLOCK", 512)
    seen: list[int] = []
    real = sources._long_batch
    monkeypatch.setattr(sources, "_long_batch",
                        lambda batch, *args: seen.append(batch.num_rows) or real(batch, *args))
    rows = [f"M,{t:%Y-%m-%d %H:%M:%S},0.5" for t in pd.date_range("2024-01-10", periods=480,
                                                                    freq="30min")]
    text = ("meter_id,timestamp,kwh\n" + "\n".join(rows) + "\n").encode()     # 13 KB
    path = tmp_path / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    staged = tmp_path / "staged.parquet"
    kind = sources.file_kind(path)
    assert stage_long_parquet(path, kind, "long", read_header(path, kind),
                              ColumnNames(), staged) == 480
    assert len(seen) >= 20 and max(seen) <= 512 // 26 + 1 and sum(seen) == 480
    assert pq.read_table(staged)["source_row"].to_pylist() == list(range(2, 482))


def test_a_line_longer_than_a_block_is_refused_in_words_not_as_truncated(tmp_path,
                                                                          monkeypatch):
    """A line Arrow cannot fit in one block is a file that cannot be parsed, said with
    Arrow's reason, not a truncated stream."""
    monkeypatch.setattr(sources, "CSV_BLOCK", 64)
    path = tmp_path / "long.csv"
    path.write_text("meter_id,timestamp,kwh\nM,2024-01-10 00:00:00," + "1" * 200 + "\n")
    with pytest.raises(InputError) as err:
        stage_long_parquet(path, "csv", "long", read_header(path, "csv"), ColumnNames(),
                           tmp_path / "staged.parquet")
    assert str(err.value) == (f"file '{path}': the file cannot be parsed: straddling object "
                              "straddles two block boundaries (try to increase block size?)")


def test_a_gzip_file_is_recognised_by_its_content_not_its_name(tmp_path, store):
    """A gzip-compressed CSV file named without ``.gz`` is still decompressed: files are
    recognised by their first bytes (docs/meters.md, step 1)."""
    rows = [f"M,{t:%Y-%m-%d %H:%M:%S},0.5" for t in pd.date_range("2024-01-10", periods=48,
                                                                    freq="30min")]
    path = tmp_path / "readings.csv"
    path.write_bytes(gzip.compress(("meter_id,timestamp,kwh\n" + "\n".join(rows) + "\n").encode()))
    entry = ingest_file(path, store)
    assert entry["rows_stored"] == 48 and stored(store)["kwh"].sum() == 24.0


@pytest.mark.parametrize("name", ["ragged.csv", "ragged.csv.gz"])
def test_a_line_with_the_wrong_number_of_fields_is_named_by_its_line(tmp_path, store, monkeypatch,
                                                                      name):
    """A line with more (or fewer) fields than the header refuses the file with its line
    number, also when Arrow read it in a later block and empty lines came before it."""
    monkeypatch.setattr(sources, "CSV_BLOCK", 256)
    rows = [f"M,{t:%Y-%m-%d %H:%M:%S},0.5" for t in pd.date_range("2024-01-10", periods=48,
                                                                    freq="30min")]
    lines = rows[:5] + [""] + rows[5:30] + ["M,2024-01-10 15:00:00,0.5,extra"] + rows[30:]
    text = "meter_id,timestamp,kwh\n" + "\n".join(lines) + "\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    with pytest.raises(InputError, match=r"row 33: 4 fields where the header has 3: every line "
                                         r"needs one field per column$") as err:
        ingest_file(path, store)
    assert err.value.row == 33 and err.value.file == str(path.resolve())
    assert not list(store.root.glob("shard=*/*.parquet"))


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("name", ["gaps.csv", "gaps.csv.gz"])
def test_a_quarantined_reading_after_empty_lines_is_named_by_its_line(tmp_path, store,
                                                                      monkeypatch, end, name):
    """Arrow skips empty lines; a quarantined reading is still named by its line in the file
    (docs/outputs.md, ``source_row``), also in a later block, and the staged rows too."""
    monkeypatch.setattr(sources, "CSV_BLOCK", 256)
    rows = [f"M,{t:%Y-%m-%d %H:%M:%S},0.5" for t in pd.date_range("2024-01-10", periods=48,
                                                                    freq="30min")]
    lines = (rows[:5] + ["", ""] + rows[5:30] + ["", "M,2024-01-11 00:00:00,abc", ""]
             + rows[30:] + [""])
    text = end.join(["meter_id,timestamp,kwh"] + lines)
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    ingest_file(path, store)
    bad = quarantined(store)
    assert bad["source_row"].tolist() == [35] and bad["raw_line"].tolist() == [
        "M,2024-01-11 00:00:00,abc"]
    header = read_header(path, sources.file_kind(path))
    staged = tmp_path / "staged.parquet"
    stage_long_parquet(path, sources.file_kind(path), "long", header, ColumnNames(), staged)
    numbers = pq.read_table(staged)["source_row"].to_pylist()
    assert numbers == [n for n, line in enumerate(["h"] + lines, start=1) if line][1:]


def test_staging_holds_a_bounded_number_of_batches_whatever_the_file_s_length(tmp_path,
                                                                              monkeypatch):
    """Large inputs stream: while batches are parsed on two threads, at most three batches
    read from the file wait to be written, however many it has (here 24, parsing made slow)."""
    monkeypatch.setattr(sources, "BATCH_ROWS", 2)
    real_batches, real_parse, real_write = (sources._batches, sources._long_batch,
                                            sources._write_staged)
    lock, counts = threading.Lock(), {"read": 0, "written": 0, "most_waiting": 0}

    def counted_batches(*args):
        for batch in real_batches(*args):
            with lock:
                counts["read"] += 1
                counts["most_waiting"] = max(counts["most_waiting"],
                                             counts["read"] - counts["written"])
            yield batch

    def slow_parse(*args):
        time.sleep(0.02)
        return real_parse(*args)

    def counted_write(writer, table, out):
        with lock:
            counts["written"] += 1
        return real_write(writer, table, out)

    monkeypatch.setattr(sources, "_batches", counted_batches)
    monkeypatch.setattr(sources, "_long_batch", slow_parse)
    monkeypatch.setattr(sources, "_write_staged", counted_write)
    times = pd.date_range("2024-01-10", periods=48, freq="30min")
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"timestamp": times.strftime("%Y-%m-%d %H:%M:%S").tolist(),
                             "A": [0.5] * 48}), path)
    rows = stage_long_parquet(path, "parquet", "wide", read_header(path, "parquet"),
                              ColumnNames(), tmp_path / "staged.parquet")
    assert rows == 48 and counts["read"] == counts["written"] == 24
    assert 1 <= counts["most_waiting"] <= 3
    assert pq.read_table(tmp_path / "staged.parquet")["source_row"].to_pylist() == list(
        range(1, 49))


def test_a_parquet_time_column_of_numbers_fails_validation_naming_the_column(tmp_path, store):
    """Numbers (epoch seconds) in the time column are not timestamps: the file fails validation
    on ``timestamp`` with the reason, instead of being cast or crashing the run."""
    times = pd.date_range("2024-02-01", periods=48, freq="30min")
    path = tmp_path / "epoch.parquet"
    pd.DataFrame({"meter_id": "P", "timestamp": times.astype("int64") // 10**9,
                  "kwh": 0.5}).to_parquet(path)
    with pytest.raises(ValidationFailed, match="column 'timestamp'.*cannot be parsed"):
        ingest_file(path, store)
    assert not list(store.root.glob("shard=*/*.parquet"))


def test_in_a_file_of_offsets_a_timestamp_without_one_is_not_guessed(tmp_path, store):
    """When the file's timestamps carry UTC offsets, one without an offset is not read as a
    wall-clock time of the run's zone: it is quarantined, the others kept at their instants."""
    instants = pd.date_range("2024-06-01", periods=48, freq="30min", tz="Europe/London")
    lines = [f"M,{t.isoformat()},0.5" for t in instants] + ["M,2024-06-02 00:00:00,0.5"]
    path = tmp_path / "offsets.csv"
    path.write_text("meter_id,timestamp,kwh\n" + "\n".join(lines) + "\n")
    entry = ingest_file(path, store)
    assert entry["rows_stored"] == 48
    assert quarantined(store)[["source_row", "reason"]].values.tolist() == [
        [50, "timestamp missing or unparseable"]]
    assert list(stored(store)["timestamp"]) == list(instants.tz_convert("UTC"))


@pytest.mark.parametrize("name", ["latin1.csv", "latin1.csv.gz"])
def test_a_byte_that_is_not_utf8_is_named_by_its_line_not_blamed_on_the_header(tmp_path, store,
                                                                                name):
    """A file saved in another encoding is refused naming the line of its first bad byte (the
    sentence of the CLI's preflight), not as an unreadable header or a truncated gzip."""
    rows = [f"M,{t:%Y-%m-%d %H:%M:%S},0.5" for t in pd.date_range("2024-01-10", periods=48,
                                                                    freq="30min")]
    text = ("meter_id,timestamp,kwh\n" + "\n".join(rows) + "\n").encode()
    text = text.replace(b"M,2024-01-10 20:00:00", "Mé,2024-01-10 20:00:00".encode("latin-1"))
    path = tmp_path / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    with pytest.raises(InputError, match=r"byte 0xe9 .* is not UTF-8") as err:
        ingest_file(path, store)
    assert err.value.row == 42


def test_a_header_ending_in_a_carriage_return_only_is_read(tmp_path):
    """Old Mac line ends (``\\r``) end the header as ``\\n`` and ``\\r\\n`` do."""
    for end in ("\n", "\r\n", "\r"):
        path = tmp_path / "cr.csv"
        path.write_bytes(end.join(["meter_id,timestamp,kwh", "M,2024-01-10 00:00:00,0.5"]).encode())
        assert read_header(path, "csv") == ["meter_id", "timestamp", "kwh"]


def test_a_wide_header_longer_than_a_read_block_is_read_whole(tmp_path):
    """A wide file's header names every meter: 5,000 meters with long ids (over 90 KB of
    header) are all read and all staged, none dropped at a block boundary."""
    meters = [f"METER-{i:012d}" for i in range(5000)]
    path = tmp_path / "wide.csv"
    path.write_text("timestamp," + ",".join(meters) + "\r\n" + "2024-01-10 00:00:00,"
                    + ",".join(["0.5"] * 5000) + "\r\n")
    header = read_header(path, "csv")
    assert header == ["timestamp"] + meters
    staged = tmp_path / "staged.parquet"
    stage_long_parquet(path, "csv", "wide", header, ColumnNames(), staged)
    assert sorted(pq.read_table(staged)["meter_raw"].to_pylist()) == meters


def test_a_first_line_beyond_the_header_limit_is_refused_at_row_1(tmp_path, monkeypatch):
    """A file without a line end in its first HEADER_LIMIT bytes has no header line: refused
    naming the file and row 1, without reading further."""
    monkeypatch.setattr(sources, "HEADER_LIMIT", 1 << 16)
    path = tmp_path / "blob.csv"
    path.write_bytes(b"x," * (1 << 16) + b"\n")
    with pytest.raises(InputError) as err:
        read_header(path, "csv")
    assert str(err.value) == (f"file '{path}', row 1: the first line is longer than 0.0625 MiB: "
                              "expected a header line of column names")
    assert err.value.file == str(path) and err.value.row == 1
    monkeypatch.setattr(sources, "HEADER_LIMIT", 1 << 20)
    assert len(read_header(path, "csv")) == (1 << 16) + 1       # within the limit: read
    monkeypatch.setattr(sources, "HEADER_LIMIT", 1 << 17)
    exact = tmp_path / "exact.csv"                               # exactly the limit: read
    exact.write_bytes(b"x," * (1 << 16) + b"\n")
    assert len(read_header(exact, "csv")) == (1 << 16) + 1


@pytest.mark.parametrize("case", ["bad byte", "truncated gzip"])
def test_an_unreadable_header_is_named_at_row_1(tmp_path, case):
    """A header that is not UTF-8, or a gzip file cut inside its first line, is refused with
    one sentence naming the file and row 1."""
    path = tmp_path / "r.csv"
    if case == "bad byte":
        path.write_bytes("meter_id,timestamp,kWh \xe9\nM,2024-01-10 00:00:00,0.5\n".encode("latin-1"))
        kind = "csv"
    else:
        path.write_bytes(gzip.compress(b"meter_id,timestamp,kwh" * 400 + b"\n")[:60])
        kind = "csv.gz"
    with pytest.raises(InputError) as err:
        read_header(path, kind)
    assert re.fullmatch(rf"file '{re.escape(str(path))}', row 1: cannot read the header \(.+\); "
                        r"is the file truncated or not UTF-8\?", str(err.value)), str(err.value)
    assert err.value.file == str(path) and err.value.row == 1


def test_a_blank_first_line_is_an_empty_header(tmp_path):
    """The header is the first line: a file starting with a blank line has none."""
    path = tmp_path / "r.csv"
    path.write_text("  \nmeter_id,timestamp,kwh\nM,2024-01-10 00:00:00,0.5\n")
    with pytest.raises(InputError) as err:
        read_header(path, "csv")
    assert str(err.value) == (f"file '{path}', row 1: the file is empty: expected a header "
                              "line and readings")
    assert err.value.file == str(path) and err.value.row == 1


def test_a_missing_or_empty_file_is_named_with_what_is_wrong(tmp_path):
    """Each refusal names the file and says what is wrong in words (no traceback)."""
    missing, empty = tmp_path / "nowhere.csv", tmp_path / "empty.csv"
    empty.write_bytes(b"")
    for path, words in ((missing, "file not found (check the --input path)"),
                        (empty, "the file is empty: expected a header line and readings")):
        with pytest.raises(InputError) as err:
            sources.file_kind(path)
        assert err.value.file == str(path) and str(err.value).endswith(": " + words)


def test_a_text_file_is_csv_whatever_its_name(tmp_path):
    """Files are recognised by content: text without NUL bytes is CSV under any name."""
    path = tmp_path / "readings.dat"
    path.write_text("meter_id,timestamp,kwh\nM,2024-01-10 00:00:00,0.5\n")
    assert sources.file_kind(path) == "csv"


@pytest.mark.parametrize("name, content, kind", [
    ("r.bin", b"PAR1" + bytes(16), "parquet"),
    ("r.csv", b"\x1f\x8b\x08\x00" + bytes(8), "csv.gz"),
    ("r.dat", b"meter_id,timestamp,kwh\n", "csv"),
    ("r.CSV", b"m\x00\x00\x00,t,k\n", "csv"),        # zero bytes, but named as text
    ("r.txt", b"m\x00,t\n", "csv"),
    ("r.tsv", b"m\x00,t\n", "csv"),
    ("r.csv", b"PAR", "csv"),                        # three bytes of text
])
def test_a_file_s_kind_comes_from_its_first_bytes_then_its_name(tmp_path, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    assert sources.file_kind(path) == kind


def test_zero_bytes_in_a_file_not_named_as_text_are_an_unknown_type(tmp_path):
    path = tmp_path / "r.bin"
    path.write_bytes(b"\x00\x01\x02\x03rest")
    with pytest.raises(InputError) as err:
        sources.file_kind(path)
    assert str(err.value) == (f"file '{path}': unknown file type: expected CSV, gzip-compressed "
                              "CSV or Parquet")
    assert err.value.file == str(path) and err.value.row is None


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match=r"file not found \(check the --input path\)"):
        sources.file_kind(tmp_path)


# ---------------------------------------------------------------- the format from the header

NAMES = ColumnNames()
FORMAT_REFUSALS = [
    # requested, header, message, column
    ("csv", ["meter_id", "timestamp", "kwh"],
     "unknown format 'csv': use one of auto, long, lcl, wide", None),
    ("lcl", ["meter_id", "DateTime", "KWH/hh (per half hour) "],
     "LCL format needs columns LCLid, DateTime, 'KWH/hh (per half hour) '; found ['meter_id', "
     "'DateTime', 'KWH/hh (per half hour) ']", "LCLid"),
    ("auto", ["LCLid", "DateTime", "kwh"],
     "LCL format needs columns LCLid, DateTime, 'KWH/hh (per half hour) '; found ['LCLid', "
     "'DateTime', 'kwh']", "KWH/hh (per half hour) "),
    ("long", ["meter", "timestamp", "kwh"],
     "long format needs columns meter_id, timestamp, kwh; found ['meter', 'timestamp', 'kwh']",
     "meter_id"),
    ("auto", ["meter_id", "time", "kwh"],
     "long format needs columns meter_id, timestamp, kwh; found ['meter_id', 'time', 'kwh']",
     "timestamp"),
    ("wide", ["time", "A", "B"],
     "wide format needs a 'timestamp' column; found ['time', 'A', 'B']", "timestamp"),
    ("wide", ["timestamp"],
     "wide format needs one column per meter besides the timestamp", None),
    ("auto", ["when", "A"],
     "cannot tell the format from the header ['when', 'A']: expected long (meter_id, timestamp, "
     "kwh), LCL (LCLid, ...) or wide (timestamp + one column per meter); pass --format", None),
]


@pytest.mark.parametrize("requested, header, message, column", FORMAT_REFUSALS)
def test_a_header_that_does_not_fit_the_format_is_refused_naming_the_column(
        requested, header, message, column):
    """Each format asked for (or told from the header) names the column it misses, in the
    file's first row; an unknown format lists the known ones."""
    with pytest.raises(InputError) as err:
        sources.detect_format(header, requested, NAMES, "r.csv")
    assert err.value.file == "r.csv" and err.value.column == column
    assert err.value.row == (None if requested == "csv" else 1)
    assert str(err.value).endswith(": " + message), str(err.value)


@pytest.mark.parametrize("requested, header, expected", [
    ("lcl", ["LCLid", "stdorToU", "DateTime", "KWH/hh (per half hour) "], "lcl"),
    ("auto", [" LCLid ", "DateTime", "KWH/hh (per half hour)"], "lcl"),   # names stripped
    ("long", ["meter_id", "timestamp", "kwh", "note"], "long"),
    ("wide", ["timestamp", "meter_id"], "wide"),       # a meter called meter_id, asked for wide
    ("auto", ["timestamp", "A"], "wide"),
])
def test_a_header_is_read_in_the_format_asked_for_or_told_from_it(requested, header, expected):
    assert sources.detect_format(header, requested, NAMES, "r.csv") == expected
