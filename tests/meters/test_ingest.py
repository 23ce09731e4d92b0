"""Ingestion of every format into the store, DST handling and bad inputs."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from segmentation.errors import InputError, ValidationFailed
from segmentation.meters.ingest import ingest_file
from tests.meters.conftest import day_rows, long_csv, quarantined, run_store, stored, \
    write_text


def test_lcl_format_with_null_and_trailing_space_header(tmp_path, store):
    text = ("LCLid,stdorToU,DateTime,KWH/hh (per half hour) \n"
            "MAC000002,Std,2012-10-12 00:30:00.0000000, 0 \n"
            "MAC000002,Std,2012-10-12 01:00:00.0000000, 0.257 \n"
            "MAC000002,Std,2012-10-12 01:30:00.0000000,Null\n"
            "MAC000002,Std,2012-10-12 02:00:00.0000000, 0.161 \n"
            "MAC000003,ToU,2012-10-12 00:30:00.0000000, 1.1 \n"
            "MAC000003,ToU,2012-10-12 01:00:00.0000000, 1.2 \n")
    # six readings: the one bad reading is 17% of the file, above the default cap
    entry = ingest_file(write_text(tmp_path, "lcl.csv", text), store, max_quarantine_share=0.2)
    assert entry["format"] == "lcl" and entry["resolution_min"] == 30
    readings = stored(store)
    assert list(readings["kwh"]) == [0.0, 0.257, 0.161, 1.1, 1.2]
    # 2012-10-12 is summer time: 00:30 local is 23:30 UTC the day before
    assert readings["timestamp"].iloc[0] == pd.Timestamp("2012-10-11 23:30", tz="UTC")
    bad = quarantined(store)
    assert list(bad["source_row"]) == [4] and list(bad["kwh"]) == ["Null"]
    # the reading's fields, the timestamp parsed while staging written back in ISO form
    assert list(bad["raw_line"]) == ["MAC000002,2012-10-12 01:30:00,Null"]
    assert list(bad["source_file"]) == ["lcl.csv"]   # relative to the data root (above processed/)
    assert bad["reason"].iloc[0] == "kwh missing or not a number"
    assert entry["rows_in"] == 6 == entry["rows_stored"] + entry["rows_quarantined"]


def test_wide_and_gzip_long_formats(tmp_path, store):
    wide = ("timestamp,A,B\n2024-01-01 00:00,0.1,0.2\n2024-01-01 01:00,0.3,\n"
            "2024-01-01 02:00,0.5,0.6\n")
    entry = ingest_file(write_text(tmp_path, "wide.csv", wide), store, max_quarantine_share=0.2)
    assert entry["format"] == "wide" and entry["resolution_min"] == 60 and entry["rows_in"] == 6
    gz = long_csv(day_rows("C", "2024-01-01", freq="15min"))
    entry = ingest_file(write_text(tmp_path, "long.csv.gz", gz), store)
    assert entry["kind"] == "csv.gz" and entry["resolution_min"] == 15 and entry["rows_stored"] == 96
    readings = stored(store)
    assert sorted(readings["meter_id"].unique()) == ["A", "B", "C"]
    assert quarantined(store)["meter_id"].tolist() == ["B"]  # the empty cell


def test_parquet_input_and_rerun_skips_by_content_hash(tmp_path, store):
    frame = pd.DataFrame(day_rows("P", "2024-02-01"), columns=["meter_id", "timestamp", "kwh"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    first = ingest_file(path, store)
    again = ingest_file(path, store)
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(path.read_bytes())
    third = ingest_file(copy, store)
    assert not first["skipped"] and again["skipped"] and third["skipped"]
    assert len(stored(store)) == 48


def test_dst_autumn_repeated_hour_and_spring_gap_are_not_errors(tmp_path, store):
    autumn = pd.date_range("2024-10-27", "2024-10-28", freq="30min", tz="Europe/London",
                           inclusive="left")
    spring = pd.date_range("2024-03-31", "2024-04-01", freq="30min", tz="Europe/London",
                           inclusive="left")
    rows = [("M", t.strftime("%Y-%m-%d %H:%M:%S"), 0.25 + i / 1000) for i, t in enumerate(autumn)]
    rows += [("M", t.strftime("%Y-%m-%d %H:%M:%S"), 0.25) for t in spring]
    assert len(autumn) == 50 and len(spring) == 46
    entry = ingest_file(write_text(tmp_path, "dst.csv", long_csv(rows)), store)
    assert entry["rows_quarantined"] == 0 and entry["rows_stored"] == 96
    readings = stored(store)
    autumn_stored = readings[readings["timestamp"] >= pd.Timestamp("2024-10-01", tz="UTC")]
    assert list(autumn_stored["timestamp"]) == list(autumn.tz_convert("UTC"))
    # Values, not only instants: in the repeated hour the first reading of the file is summer
    # time (01:00 BST = 00:00 UTC), the second winter time (01:00 GMT = 01:00 UTC).
    assert autumn_stored["kwh"].tolist() == [r[2] for r in rows[:50]]
    by_instant = autumn_stored.set_index("timestamp")["kwh"]
    assert by_instant[pd.Timestamp("2024-10-27 00:00", tz="UTC")] == 0.25 + 2 / 1000
    assert by_instant[pd.Timestamp("2024-10-27 01:00", tz="UTC")] == 0.25 + 4 / 1000
    result = run_store(store, window_days=400)
    q = result["quarantined_meters"]
    # both DST days (50 and 46 intervals) count as complete days: no gap, no duplicate
    assert q.set_index("meter_id").loc["M", "complete_days"] == 2
    assert result["counts"]["readings_superseded"] == 0 and quarantined(store).empty


def test_dst_spring_gap_timestamp_is_quarantined_with_reason(tmp_path, store):
    rows = day_rows("M", "2024-03-30") + [("M", "2024-03-31 01:30:00", 0.3)]
    ingest_file(write_text(tmp_path, "gap.csv", long_csv(rows)), store)
    assert quarantined(store)["reason"].tolist() == [
        "local time does not exist (inside the spring DST gap)"]


@pytest.mark.parametrize("case", ["negative", "implausible", "text", "timestamp", "offgrid"])
def test_bad_rows_are_quarantined_with_reason_and_row(tmp_path, store, case):
    rows = day_rows("M", "2024-01-10")
    bad = {"negative": ("M", "2024-01-11 00:00:00", -1.5),
           "implausible": ("M", "2024-01-11 00:00:00", 99),
           "text": ("M", "2024-01-11 00:00:00", "abc"),
           "timestamp": ("M", "yesterday", 0.5),
           "offgrid": ("M", "2024-01-11 00:10:00", 0.5)}[case]
    reason = {"negative": "negative reading",
              "implausible": "implausible reading (above the maximum per interval)",
              "text": "kwh missing or not a number", "timestamp": "timestamp missing or unparseable",
              "offgrid": "timestamp off the interval grid"}[case]
    entry = ingest_file(write_text(tmp_path, "bad.csv", long_csv(rows + [bad])), store)
    q = quarantined(store)
    assert q["reason"].tolist() == [reason]
    assert q["source_row"].tolist() == [50]  # header is line 1, 48 readings, then the bad one
    assert entry["rows_stored"] == 48


def test_a_quarantine_part_of_the_first_layout_is_rewritten_in_the_contract_s(tmp_path, store):
    """A store from before the contract: absolute source_file, timestamp_raw / kwh_raw, parsed
    columns, no text for duplicates. Collecting quarantine rewrites it in place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segmentation.meters.store import QUARANTINE_SCHEMA

    rows = day_rows("M", "2024-01-10")
    ingest_file(write_text(tmp_path, "old.csv", long_csv(rows + [rows[3]])), store)
    part = store.quarantine_parts()[0]
    old = pa.table({
        "source_file": [str(tmp_path / "old.csv"), "/elsewhere/x.csv"], "source_row": [5, 9],
        "meter_id": ["M", "A,B"], "timestamp_raw": [None, "yesterday"], "kwh_raw": [None, "0.5"],
        "timestamp": pa.array([pd.Timestamp("2024-07-10 00:30", tz="UTC"), None],
                              pa.timestamp("us", tz="UTC")),
        "kwh": [0.25, 0.5], "reason": ["exact duplicate", "timestamp missing or unparseable"]})
    pq.write_table(old, part)
    assert store.quarantine_parts() == [part]
    new = pq.read_table(part)
    assert new.schema.equals(QUARANTINE_SCHEMA)
    assert new.to_pylist() == [
        {"source_row": 5, "reason": "exact duplicate", "raw_line": "M,2024-07-10 01:30:00,0.25",
         "source_file": "old.csv", "meter_id": "M", "timestamp": "2024-07-10 01:30:00",
         "kwh": "0.25"},                             # summer time in London: UTC + 1
        {"source_row": 9, "reason": "timestamp missing or unparseable",
         "raw_line": '"A,B",yesterday,0.5', "source_file": "/elsewhere/x.csv", "meter_id": "A,B",
         "timestamp": "yesterday", "kwh": "0.5"}]


def test_duplicates_exact_and_conflicting(tmp_path, store):
    rows = day_rows("M", "2024-01-10")
    rows = rows + [rows[3], ("M", rows[5][1], 9.0)]
    entry = ingest_file(write_text(tmp_path, "dups.csv", long_csv(rows)), store)
    assert entry["rows_stored"] == 48  # within a file the duplicate policy runs at ingestion
    dups = quarantined(store)
    assert dups["reason"].tolist() == ["exact duplicate",
                                       "conflicting duplicate (superseded by a later reading)"]
    assert dups["source_row"].tolist() == [5, 7]  # lines of rows[3] and rows[5]: the earlier ones
    assert dups["kwh"].tolist() == ["0.5", "0.5"]       # as read, not null
    assert dups["raw_line"].tolist() == [",".join(map(str, rows[3])), ",".join(map(str, rows[5]))]
    result = run_store(store)
    # the later value (9.0) wins: 47 readings of 0.5 plus 9.0
    assert result["features"]["mean_daily_kwh"].tolist() == [32.5]
    assert result["counts"]["reconciles"] and result["counts"]["readings_used"] == 48
    assert result["counts"]["readings_quarantined_by_reason"] == {
        "conflicting duplicate (superseded by a later reading)": 1, "exact duplicate": 1}


def test_a_later_file_wins_per_interval_and_the_superseded_are_counted(tmp_path, store):
    ingest_file(write_text(tmp_path, "a.csv", long_csv(day_rows("M", "2024-01-10", 0.5))), store)
    ingest_file(write_text(tmp_path, "b.csv", long_csv(day_rows("M", "2024-01-10", 0.7)[:10])), store)
    result = run_store(store)
    assert result["counts"]["readings_superseded_by_reason"] == {
        "conflicting duplicate (superseded by a later reading)": 10}
    assert result["counts"]["reconciles"] and result["counts"]["readings_used"] == 48
    assert result["counts"]["readings_in"] == 58
    # the later file wins per interval: 10 readings of 0.7, the other 38 of 0.5
    assert result["features"]["mean_daily_kwh"].tolist() == [pytest.approx(38 * 0.5 + 10 * 0.7)]


def test_bad_files_give_clear_input_errors(tmp_path, store):
    cases = {
        "empty.csv": b"",
        "header.csv": b"meter_id,timestamp,kwh\n",
        "nokwh.csv": b"meter_id,timestamp\nM,2024-01-01 00:00,0.1\n",
        "other.csv": b"a,b,c\n1,2,3\n",
    }
    messages = {}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InputError) as err:
            ingest_file(path, store)
        assert err.value.file == str(path.resolve()) or err.value.file == str(path)
        messages[name] = err.value
    assert "empty" in str(messages["empty.csv"])
    assert "no readings" in str(messages["header.csv"])
    assert messages["nokwh.csv"].column == "kwh" and messages["nokwh.csv"].row == 1
    assert "cannot tell the format" in str(messages["other.csv"])
    with pytest.raises(InputError, match="unknown format 'xml'"):
        ingest_file(write_text(tmp_path, "x.csv", long_csv(day_rows("M", "2024-01-01"))), store,
                    fmt="xml")
    assert not list(store.root.glob("shard=*/*.parquet"))  # nothing half-written


def test_truncated_gzip_is_an_input_error_and_leaves_no_parts(tmp_path, store):
    rows = [r for d in pd.date_range("2024-01-01", periods=60) for r in day_rows("M", str(d.date()))]
    data = gzip.compress(long_csv(rows).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="': the gzip stream is truncated or corrupt: ") as err:
        ingest_file(path, store)
    assert err.value.file == str(path.resolve())
    assert not store.root.exists() or not list(store.root.glob("shard=*/*.parquet"))
    assert not list(store.dataset_dir.glob(".ingest-*"))


def test_file_mixing_15_and_30_minute_readings_is_rejected(tmp_path, store):
    rows = day_rows("A", "2024-01-01", freq="30min") + day_rows("B", "2024-01-01", freq="15min")
    path = write_text(tmp_path, "mixed.csv", long_csv(rows))
    with pytest.raises(InputError, match="mixes resolutions") as err:
        ingest_file(path, store)
    # B has more readings, so 15 minutes is the file's resolution and A is named,
    # at its first reading of the month (line 2, after the header)
    assert err.value.file == str(path.resolve())
    assert err.value.column == "timestamp" and err.value.row == 2
    assert "meter A has readings 30 minutes apart" in str(err.value)


def test_kwh_column_of_text_fails_validation_naming_the_column(tmp_path, store):
    rows = [(m, t, "n/a-" + str(i)) for i, (m, t, _) in enumerate(day_rows("M", "2024-01-01"))]
    with pytest.raises(ValidationFailed) as err:
        ingest_file(write_text(tmp_path, "text.csv", long_csv(rows)), store)
    assert "column 'kwh'" in str(err.value) and "text.csv" in str(err.value)
    assert "most kwh values are not numbers" in str(err.value)


def test_timestamps_mostly_unreadable_fail_validation_rather_than_the_resolution(tmp_path,
                                                                                 store):
    """When most timestamps do not parse, the file fails validation naming the timestamp
    column (a wrong column or format), not the resolution it has too few times to show."""
    rows = [("M", "2024-01-01 00:00:00", 0.5)] + [("M", f"soon {i}", 0.5) for i in range(9)]
    with pytest.raises(ValidationFailed) as err:
        ingest_file(write_text(tmp_path, "words.csv", long_csv(rows)), store)
    assert "column 'timestamp'" in str(err.value) and "words.csv" in str(err.value)
    assert "most timestamps cannot be parsed" in str(err.value)


def test_kwh_mostly_missing_markers_is_missing_readings_not_a_wrong_column(tmp_path, store):
    """The documented missing-value markers (NA, Null, ...) are missing readings: a file where
    most are missing is quarantined reading by reading (here allowed), never refused as a kWh
    column of words the way text in that column is."""
    rows = [(m, t, "NA" if i % 8 < 5 else k) for i, (m, t, k) in
            enumerate(day_rows("M", "2024-01-01"))]
    entry = ingest_file(write_text(tmp_path, "gaps.csv", long_csv(rows)), store,
                        max_quarantine_share=1.0)
    assert (entry["rows_stored"], entry["rows_quarantined"]) == (18, 30)
    assert entry["quarantined_by_reason"] == {"kwh missing or not a number": 30}


def test_a_csv_file_of_a_header_and_blank_lines_is_refused_at_its_first_data_row(tmp_path,
                                                                                 store):
    """A CSV file with its header but no reading (blank lines are no rows): one line naming
    the file and line 2, where the readings should start; nothing stored."""
    path = write_text(tmp_path, "blank.csv", "meter_id,timestamp,kwh\n\n\n")
    with pytest.raises(InputError) as err:
        ingest_file(path, store)
    assert str(err.value) == f"file '{path.resolve()}', row 2: the file has a header but no readings"
    assert not store.ledger()


def test_a_parquet_file_without_rows_is_refused_naming_it(tmp_path, store):
    """A Parquet file read in place with its columns but no rows: one line naming the file,
    nothing stored."""
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"meter_id": pd.Series([], dtype=str),
                  "timestamp": pd.Series([], dtype="datetime64[us]"),
                  "kwh": pd.Series([], dtype=float)}).to_parquet(path)
    with pytest.raises(InputError) as err:
        ingest_file(path, store)
    assert str(err.value) == f"file '{path.resolve()}': the file has no readings"
    assert not store.ledger()


def test_a_stage_left_by_a_killed_ingestion_is_removed_by_the_next_one(tmp_path, store):
    """A killed ingestion leaves its staging folder (``.ingest-<sha16>``, a copy of the raw
    file and DuckDB's spill) in the dataset's folder: the next ingestion of any file removes
    it, and its own when done, so no stray copy of raw data stays behind."""
    stale = store.dataset_dir / ".ingest-0123456789abcdef"
    (stale / "spill").mkdir(parents=True)
    (stale / "input.parquet").write_bytes(b"half a file")
    ingest_file(write_text(tmp_path, "a.csv", long_csv(day_rows("A", "2024-01-01"))), store)
    assert not list(store.dataset_dir.glob(".ingest-*"))
    assert len(store.ledger()) == 1


def test_meter_with_one_reading_is_quarantined_as_meter(tmp_path, store):
    rows = [r for d in pd.date_range("2024-01-01", periods=10)
            for r in day_rows("GOOD", str(d.date()), kwh=0.5 + d.day / 100)] \
        + [("ONE", "2024-01-05 10:00:00", 0.4)]
    ingest_file(write_text(tmp_path, "one.csv", long_csv(rows)), store)
    result = run_store(store)
    q = result["quarantined_meters"].set_index("meter_id")
    assert q.loc["ONE", "reason"] == "only 1 reading in the window"
    assert result["features"]["meter_id"].tolist() == ["GOOD"]
    assert result["counts"]["readings_of_quarantined_meters"] == 1


def test_a_meter_stuck_on_one_value_is_quarantined_as_a_stuck_register(tmp_path, store):
    rows = [r for d in pd.date_range("2024-01-01", periods=10)
            for r in day_rows("STUCK", str(d.date()), kwh=0.25)
            + day_rows("GOOD", str(d.date()), kwh=0.25 + d.day / 100)]
    ingest_file(write_text(tmp_path, "stuck.csv", long_csv(rows)), store)
    result = run_store(store)
    q = result["quarantined_meters"].set_index("meter_id")
    assert q.loc["STUCK", "reason"] == "all readings identical (stuck register)"
    assert result["features"]["meter_id"].tolist() == ["GOOD"]
    assert result["counts"]["readings_of_quarantined_meters"] == 480 and result["counts"]["reconciles"]


def test_time_zone_rule_in_the_southern_hemisphere(tmp_path, store):
    # Sydney: clocks go back on 2024-04-07 (02:00-03:00 twice) and forward on 2024-10-06
    autumn = pd.date_range("2024-04-07", "2024-04-08", freq="30min", tz="Australia/Sydney",
                           inclusive="left")
    spring = pd.date_range("2024-10-06", "2024-10-07", freq="30min", tz="Australia/Sydney",
                           inclusive="left")
    rows = [("S", t.strftime("%Y-%m-%d %H:%M:%S"), 0.2) for t in autumn.append(spring)]
    rows.append(("S", "2024-10-06 02:30:00", 0.2))  # inside the spring gap
    entry = ingest_file(write_text(tmp_path, "syd.csv", long_csv(rows)), store,
                        timezone="Australia/Sydney")
    assert len(autumn) == 50 and len(spring) == 46
    assert entry["rows_stored"] == 96 and entry["quarantined_by_reason"] == {
        "local time does not exist (inside the spring DST gap)": 1}
    assert list(stored(store)["timestamp"]) == list(autumn.append(spring).tz_convert("UTC"))


def test_timestamps_with_offsets_and_utc_typed_parquet_are_used_as_given(tmp_path, store):
    instants = pd.date_range("2024-06-01", periods=48, freq="30min", tz="Europe/London")
    rows = [("O", t.isoformat(), 0.3) for t in instants]  # e.g. 2024-06-01T00:00:00+01:00
    entry = ingest_file(write_text(tmp_path, "offsets.csv", long_csv(rows)), store)
    frame = pd.DataFrame({"meter_id": "U", "timestamp": instants.tz_convert("UTC"), "kwh": 0.3})
    frame.to_parquet(tmp_path / "utc.parquet")
    typed = ingest_file(tmp_path / "utc.parquet", store)
    assert entry["resolution_min"] == typed["resolution_min"] == 30
    assert entry["rows_stored"] == typed["rows_stored"] == 48
    readings = stored(store)
    for meter in ("O", "U"):
        assert list(readings.loc[readings["meter_id"] == meter, "timestamp"]) == list(
            instants.tz_convert("UTC"))


def test_an_lcl_parquet_file_is_read_in_place_by_its_lcl_columns(tmp_path, store):
    """Long and LCL Parquet is read in place (``sources.needs_staging``): an LCL file as
    Parquet, with its own column names (the kWh one with its trailing space), is stored as
    the same file as CSV would be."""
    frame = pd.DataFrame({"LCLid": ["MAC1"] * 4, "stdorToU": "Std",
                          "DateTime": pd.date_range("2013-01-10 00:00", periods=4, freq="30min"),
                          "KWH/hh (per half hour) ": [0.1, 0.2, 0.3, 0.4]})
    frame.to_parquet(tmp_path / "lcl.parquet")
    entry = ingest_file(tmp_path / "lcl.parquet", store)
    assert (entry["format"], entry["kind"], entry["rows_stored"]) == ("lcl", "parquet", 4)
    readings = stored(store)
    assert readings["meter_id"].unique().tolist() == ["MAC1"]
    assert list(readings["kwh"]) == [0.1, 0.2, 0.3, 0.4]
    assert list(readings["timestamp"]) == list(pd.date_range("2013-01-10", periods=4,
                                                             freq="30min", tz="UTC"))


def test_offsets_given_through_the_repeated_autumn_hour_keep_each_reading_at_its_instant(
        tmp_path, store):
    """Timestamps carrying their own offset (text with ``+01:00``, or Parquet typed in UTC) are
    instants: in the hour London repeats on 27 October 2024 each reading stays at the instant
    its offset names, whatever order the file gives them in, and none is a duplicate."""
    instants = pd.date_range("2024-10-27 00:00", "2024-10-27 23:30", freq="30min",
                             tz="Europe/London")            # 50 half hours
    kwh = [round(0.1 + i / 100, 2) for i in range(len(instants))]
    rows = [("O", t.isoformat(), k) for t, k in zip(instants, kwh)]
    rows[2:6] = rows[4:6] + rows[2:4]                      # the second 01:00, 01:30 first
    entry = ingest_file(write_text(tmp_path, "offsets.csv", long_csv(rows)), store)
    frame = pd.DataFrame({"meter_id": "U", "timestamp": instants.tz_convert("UTC"), "kwh": kwh})
    frame.iloc[[4, 5, 2, 3] + list(range(6, 50)) + [0, 1]].to_parquet(tmp_path / "utc.parquet")
    typed = ingest_file(tmp_path / "utc.parquet", store)
    assert entry["rows_stored"] == typed["rows_stored"] == 50
    assert entry["rows_quarantined"] == typed["rows_quarantined"] == 0
    readings = stored(store)
    for meter in ("O", "U"):
        mine = readings[readings["meter_id"] == meter].sort_values("timestamp")
        assert list(mine["timestamp"]) == list(instants.tz_convert("UTC")), meter
        assert list(mine["kwh"]) == kwh, meter


def test_the_ledger_says_when_and_with_which_columns_a_file_was_read(tmp_path, store):
    """A ledger entry records the column names the file was read with, so the same file and
    settings are skipped the next time (other names read it anew), and when it was ingested
    (local time with its UTC offset)."""
    from datetime import datetime, timezone

    from segmentation.meters.sources import ColumnNames

    names = ColumnNames(meter="house", timestamp="when", kwh="energy")
    text = "house,when,energy\n" + "".join(
        f"H,{t:%Y-%m-%d %H:%M:%S},0.5\n" for t in pd.date_range("2024-01-10", periods=48,
                                                                  freq="30min"))
    path = write_text(tmp_path, "named.csv", text)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    first = ingest_file(path, store, names=names)
    assert first["columns"] == ["house", "when", "energy"] and not first["skipped"]
    ingested = datetime.strptime(first["ingested_at"], "%Y-%m-%dT%H:%M:%S%z")
    assert before <= ingested <= datetime.now(timezone.utc)
    assert ingest_file(path, store, names=names)["skipped"]


def test_a_nightly_file_adds_its_day_and_rewrites_nothing(tmp_path, store):
    days = pd.date_range("2024-02-01", periods=10)
    history = [r for d in days for m in ("A", "B", "C")
               for r in day_rows(m, str(d.date()), kwh=0.3 + d.day / 100)]
    ingest_file(write_text(tmp_path, "history.csv", long_csv(history)), store)
    before = {p: p.read_bytes() for p in store.root.rglob("*.parquet")}
    nightly = [r for m in ("A", "B", "C") for r in day_rows(m, "2024-02-11", kwh=0.9)]
    entry = ingest_file(write_text(tmp_path, "nightly.csv", long_csv(nightly)), store)
    after = {p: p.read_bytes() for p in store.root.rglob("*.parquet")}
    assert all(after[p] == content for p, content in before.items())     # nothing rewritten
    new = [p for p in after if p not in before]
    assert new and all(p.name == f"part-{entry['sha256'][:16]}.parquet" for p in new)
    added = pd.concat([pd.read_parquet(p) for p in new])
    assert set(added["day"].astype(str)) == {"2024-02-11"} and added["n_readings"].sum() == 144
    result = run_store(store, window_days=365)
    assert result["window"].n_days == 11 and result["counts"]["readings_used"] == 11 * 144
    assert result["counts"]["reconciles"] and result["counts"]["readings_superseded"] == 0


def test_a_file_read_with_other_settings_replaces_its_readings_never_mixes(tmp_path, store):
    rows = day_rows("M", "2024-01-10", kwh=0.5) + [("M", "2024-01-11 00:00:00", 7.0)]
    path = write_text(tmp_path, "m.csv", long_csv(rows))
    first = ingest_file(path, store, max_kwh=5.0)                # 7.0 quarantined as implausible
    assert first["rows_quarantined"] == 1 and len(stored(store)) == 48
    again = ingest_file(path, store, max_kwh=5.0)
    assert again["skipped"]
    second = ingest_file(path, store, max_kwh=10.0)             # the same file, read differently
    assert not second["skipped"] and second["rows_quarantined"] == 0
    assert len(stored(store)) == 49 and len(store.ledger()) == 1 and quarantined(store).empty


def test_the_store_lists_removes_and_resets_files_from_the_command_line(tmp_path, capsys):
    import json as _json

    from segmentation.cli import main
    from segmentation.meters.store import ReadingsStore as Store
    from segmentation.settings import RunPaths

    data_root = tmp_path / "data"
    store = Store(RunPaths.create("meters", None, data_root).store_dir)
    a = write_text(tmp_path, "a.csv", long_csv(day_rows("A", "2024-01-10")))
    b = write_text(tmp_path, "b.csv", long_csv(day_rows("B", "2024-01-10")))
    c = write_text(tmp_path, "c.csv", long_csv(day_rows("C", "2024-01-10")))
    for path in (a, b, c):
        ingest_file(path, store)
    assert main(["store", "forget", str(c), "--data-root", str(data_root)]) == 0   # an alias
    assert set(stored(store)["meter_id"]) == {"A", "B"}
    capsys.readouterr()
    assert main(["store", "list", "--data-root", str(data_root)]) == 0
    shown = capsys.readouterr().out                               # for a person: one line a file
    assert shown.startswith("store ") and "2 file(s)" in shown and str(a) in shown
    assert main(["store", "list", "--data-root", str(data_root), "--json"]) == 0
    listed = _json.loads(capsys.readouterr().out)
    assert [f["path"] for f in listed["files"]] == sorted([str(a), str(b)], key=lambda p: [
        sha for sha, e in store.ledger().items() if e["path"] == p])
    assert main(["store", "remove", str(a), "--data-root", str(data_root)]) == 0
    assert set(stored(store)["meter_id"]) == {"B"} and len(store.ledger()) == 1
    assert main(["store", "reset", "--data-root", str(data_root)]) == 2   # needs --yes
    assert main(["store", "reset", "--yes", "--data-root", str(data_root)]) == 0
    assert stored(store).empty and not store.ledger() and store.meta() == {}
    ingest_file(a, Store(store.dataset_dir), timezone="Europe/Zurich")  # a new zone is now fine


def test_another_time_zone_is_refused_with_the_way_out(tmp_path, store):
    ingest_file(write_text(tmp_path, "a.csv", long_csv(day_rows("A", "2024-01-10"))), store)
    with pytest.raises(InputError, match="segment store reset"):
        ingest_file(write_text(tmp_path, "b.csv", long_csv(day_rows("B", "2024-01-10"))), store,
                    timezone="Australia/Sydney")


@pytest.mark.parametrize("when", ["2099-06-01 00:00:00", "2300-01-01 00:00:00", "1970-01-01 00:00:00"])
def test_implausible_timestamps_are_quarantined_and_do_not_move_the_window(tmp_path, store, when):
    rows = [r for d in pd.date_range("2024-01-01", periods=3)
            for r in day_rows("M", str(d.date()), kwh=0.3 + d.day / 100)]
    entry = ingest_file(write_text(tmp_path, "t.csv", long_csv(rows + [("M", when, 0.5)])), store)
    assert entry["quarantined_by_reason"] == {
        "implausible timestamp (before 1990 or after next month)": 1}
    result = run_store(store)
    assert result["window"].n_days == 3 and result["counts"]["readings_used"] == 144


def test_a_file_whose_every_timestamp_is_implausible_is_refused_naming_the_column(tmp_path,
                                                                                  store):
    """Readings all from before 1990 (a clock reset, a wrong column): one line naming the
    file and the timestamp column, with the plausible span; nothing stored."""
    path = write_text(tmp_path, "old.csv", long_csv(day_rows("M", "1985-03-01")))
    with pytest.raises(InputError) as err:
        ingest_file(path, store, max_quarantine_share=1.0)
    assert str(err.value) == (f"file '{path.resolve()}', column 'timestamp': no reading has a "
                              "plausible timestamp (1990 to the end of next month)")
    assert not store.ledger()


@pytest.mark.parametrize("value", ["-nan", "nan", "inf", "-inf"])
def test_nan_and_infinite_kwh_are_not_readings(tmp_path, store, value):
    rows = day_rows("M", "2024-01-10") + [("M", "2024-01-11 00:00:00", value)]
    entry = ingest_file(write_text(tmp_path, "n.csv", long_csv(rows)), store)
    assert entry["quarantined_by_reason"] == {"kwh missing or not a number": 1}
    assert entry["rows_stored"] == 48


def test_a_file_mostly_quarantined_is_refused_whole(tmp_path, store):
    good = day_rows("M", "2024-01-10")
    bad = [("M", t.replace("2024-01-11", "11.01.2024"), 0.5) for _, t, _ in day_rows("M", "2024-01-11")]
    with pytest.raises(InputError, match=r"48 of 96 readings \(50%\) would be quarantined"):
        ingest_file(write_text(tmp_path, "half.csv", long_csv(good + bad)), store)
    assert not store.ledger() and stored(store).empty
    entry = ingest_file(write_text(tmp_path, "half.csv", long_csv(good + bad)), store,
                        max_quarantine_share=0.6)
    assert entry["rows_stored"] == 48


def test_the_default_cap_refuses_a_file_above_ten_percent_quarantined(tmp_path, store):
    good = day_rows("M", "2024-01-10") + day_rows("M", "2024-01-11")[:6]      # 54 readings
    negative = [("M", f"2024-01-12 0{h}:00:00", -1.0) for h in range(7)]
    over = write_text(tmp_path, "over.csv", long_csv(good + negative))
    with pytest.raises(InputError, match=r"7 of 61 readings \(11%\) would be quarantined "
                                         r"\(7 negative reading\), more than the 10% allowed"
                       ) as refused:
        ingest_file(over, store)
    # one paragraph that names the file and says that none of it was kept, and what to check
    assert refused.value.file == str(Path(over).resolve())
    assert str(refused.value).endswith("allowed: check the format, time zone and columns; "
                                       "nothing of the file was stored")
    assert not store.ledger()
    entry = ingest_file(write_text(tmp_path, "at.csv", long_csv(good + negative[:6])), store)
    assert (entry["rows_quarantined"], entry["rows_in"]) == (6, 60)          # exactly 10%: kept


def test_data_docs_count_quarantined_readings_and_do_not_say_failed(tmp_path, store):
    rows = day_rows("M", "2024-01-10") + [("M", "2024-01-11 00:00:00", -1.5)]
    entry = ingest_file(write_text(tmp_path, "neg.csv", long_csv(rows)), store)
    page = (Path(entry["data_docs"]) / "validation.html").read_text()
    assert "negative reading: 1 (meter, month) groups of readings routed to quarantine" in page
    assert "Status: Succeeded" in " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert entry["quarantined_by_reason"] == {"negative reading": 1}


def test_data_docs_still_fail_on_a_gate_expectation(tmp_path, store):
    from segmentation.validation import load_suite, validate_frame

    frame = pd.DataFrame({"customer_id": ["1", "2"], "x": ["a", "b"]})
    outcome = validate_frame(frame, load_suite("customers", {"id": "customer_id", "required":
                                                             ["customer_id", "x"], "numeric": ["x"]}),
                             data_docs=True)
    text = " ".join(re.sub(r"<[^>]+>", " ", outcome.data_docs_html).split())
    assert outcome.table_failures and "Status: Failed" in text
