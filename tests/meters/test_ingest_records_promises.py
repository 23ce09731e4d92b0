"""What ingestion records beside the readings (``ingest`` docstrings, docs/meters.md step 1):
the validation results kept per file, the quarantine's CSV line as DuckDB writes it (the twin
of ``store.csv_line``), and the meter codes of a batch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from segmentation.meters.ingest import DUCKDB_MEMORY_LIMIT, _connect, _csv_field_sql, \
    codes_of, ingest_file
from segmentation.meters.store import csv_line
from tests.meters.conftest import day_rows, duck, long_csv, stored_days, write_text


def test_each_file_keeps_its_validation_results_per_expectation(tmp_path, store):
    """``readings_validation/<sha16>.json``: per expectation its type, column, verdict, the
    (meter, month) rows it found unexpected and the reason quarantine gives; the file, its
    hash and what was validated."""
    times = pd.date_range("2024-01-10", periods=48, freq="30min")
    rows = [("M", t, 0.5 + i / 1000) for i, t in enumerate(times)] + [("N", times[0], -1.0),
                                                                        ("N", times[1], 0.2)]
    path = write_text(tmp_path, "m.csv", long_csv(rows))
    entry = ingest_file(path, store)
    results = json.loads(open(entry["validation"]).read())
    assert results["sha256"] == entry["sha256"] and results["file"] == str(path.resolve())
    assert results["validated"] == "per (meter, month) summary" and results["rows"] == 2
    assert results["statistics"]["evaluated_expectations"] == len(results["expectations"])
    by_rule = {(r["expectation"], r["column"]): r for r in results["expectations"]}
    assert set(next(iter(by_rule.values()))) == {"expectation", "column", "success",
                                                 "unexpected_count", "reason"}
    negative = by_rule[("expect_column_values_to_be_between", "kwh_min")]
    assert negative["success"] is False and negative["unexpected_count"] == 1
    assert negative["reason"] == "negative reading"
    assert entry["quarantined_by_reason"] == {"negative reading": 1}
    assert [key for key, r in by_rule.items() if not r["success"]] == [
        ("expect_column_values_to_be_between", "kwh_min")]


def test_the_quarantine_line_sql_writes_what_csv_line_writes():
    """Readings rejected in DuckDB and readings rewritten in pandas get the same ``raw_line``:
    NULL empty, a field with a comma or a quote quoted, the quote doubled."""
    values = ["M1", "A,B", 'say "hi"', None, '"', "", "a,\"b\""]

    def in_sql(value):
        literal = "NULL" if value is None else "'" + value.replace("'", "''") + "'"
        return duck(f"SELECT {_csv_field_sql('v')} FROM (SELECT {literal} AS v)")[0][0]

    got = [in_sql(v) for v in values]
    assert got == csv_line([pd.Series(values, dtype="string")]).tolist()
    assert got == ["M1", '"A,B"', '"say ""hi"""', "", '""""', "", '"a,""b"""']


def test_each_row_gets_the_code_of_its_meter_s_hash():
    """A batch's rows are coded by the position of their meter's hash among the file's sorted
    hashes, whatever the order of the rows (a file not sorted by meter too)."""
    hashes = np.array([3, 7, 11], dtype=np.uint64)
    rows = np.array([7, 7, 3, 11, 11, 7, 3], dtype=np.uint64)
    codes = codes_of(rows, hashes)
    assert codes.tolist() == [1, 1, 0, 2, 2, 1, 0]
    empty = codes_of(np.array([], dtype=np.uint64), hashes)
    assert empty.dtype == np.int64 and len(empty) == 0


def test_duckdb_spills_into_the_file_s_stage_within_its_memory_cap(tmp_path):
    """Ingestion's DuckDB is capped at 1 GB and spills into the file's stage, which ingestion
    removes whatever happens (a killed run leaves nothing in the working directory); two
    threads; instants in UTC."""
    with _connect(tmp_path / "stage") as con:
        def setting(name):
            return con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0]

        assert setting("temp_directory") == str(tmp_path / "stage" / "spill")
        assert setting("threads") == 2 and setting("TimeZone") == "UTC"
        assert setting("preserve_insertion_order") is False
        assert DUCKDB_MEMORY_LIMIT == "1GB" and setting("memory_limit") == "953.6 MiB"   # 10^9 B


def test_each_stored_day_counts_its_readings_stored_and_quarantined(tmp_path, store):
    """A part's ``n_readings`` and ``n_quarantined`` (docs/meters.md, the store): per meter and
    local day, the readings placed in the vector and those of that day quarantined, whether
    by a rule (a negative reading) or as a duplicate's loser (exact or conflicting)."""
    def half_hours(meter, day, n=48):
        return [(meter, t.strftime("%Y-%m-%d %H:%M:%S"), round(0.3 + i / 1000, 3))
                for i, t in enumerate(pd.date_range(day, periods=n, freq="30min"))]

    m10, m11, n10 = half_hours("M", "2024-01-10"), half_hours("M", "2024-01-11", 4), \
        half_hours("N", "2024-01-10")
    rows = (m10 + [m10[3]] + m11 + [("M", "2024-01-11 05:00:00", -1.0)] + n10
            + [("N", n10[7][1], 9.0), ("N", n10[8][1], 8.0)] + half_hours("N", "2024-01-11", 4))
    entry = ingest_file(write_text(tmp_path, "q.csv", long_csv(rows)), store)
    assert entry["quarantined_by_reason"] == {
        "conflicting duplicate (superseded by a later reading)": 2, "exact duplicate": 1,
        "negative reading": 1}
    days = stored_days(store)
    counts = {(r.meter_id, str(r.day)): (r.n_readings, r.n_quarantined)
              for r in days.itertuples()}
    assert counts == {("M", "2024-01-10"): (48, 1), ("M", "2024-01-11"): (4, 1),
                      ("N", "2024-01-10"): (48, 2), ("N", "2024-01-11"): (4, 0)}


def test_a_day_s_quarantined_count_stops_at_the_largest_int16(tmp_path, store):
    """``n_quarantined`` is an int16: a day with more quarantined readings than it holds says
    32,767, never a negative number (here 33,000 repeats of one reading, a file allowed to
    be mostly quarantined)."""
    rows = [("M", "2024-01-10 00:00:00", 0.5)] * 33_001 + [     # hourly: the repeats vote too
        ("M", f"{t:%Y-%m-%d %H:%M:%S}", f"0.{i + 100}") for i, t in
        enumerate(pd.date_range("2024-01-10 01:00", periods=23, freq="h"))]
    path = write_text(tmp_path, "repeats.csv", long_csv(rows))
    entry = ingest_file(path, store, max_quarantine_share=1.0)
    assert entry["quarantined_by_reason"] == {"exact duplicate": 33_000}
    days = stored_days(store)
    assert days[["n_readings", "n_quarantined"]].values.tolist() == [[24, 32_767]]


def test_more_meters_than_the_block_holds_are_all_stored(tmp_path, store):
    """Day vectors are built for at most 128 meters at a time (``OPEN_METERS``): a file of
    more meters is placed in several flushes, and every reading of every meter is stored and
    counted (readings in = stored + quarantined)."""
    times = pd.date_range("2024-01-10", periods=4, freq="30min")
    rows = [(f"M{m:03d}", f"{t:%Y-%m-%d %H:%M:%S}", f"0.{m + 100}") for m in range(130) for t in times]
    path = write_text(tmp_path, "many.csv", long_csv(rows))
    entry = ingest_file(path, store)
    assert (entry["rows_in"], entry["rows_stored"], entry["meters"]) == (520, 520, 130)
    days = stored_days(store)
    assert sorted(days["meter_id"]) == [f"M{m:03d}" for m in range(130)]
    assert days["n_readings"].tolist() == [4] * 130


def test_every_quarantine_part_is_in_the_contract_s_schema_with_or_without_rejections(
        tmp_path, store):
    """``quarantine_parts``: the part of every ingested file is in ``QUARANTINE_SCHEMA``: a
    file with nothing to quarantine too (no column typed from an empty frame), and one whose
    part holds a rejected reading, a duplicate and its winner's superseded twin."""
    import pyarrow.parquet as pq

    from segmentation.meters.store import QUARANTINE_SCHEMA

    times = pd.date_range("2024-01-10", periods=48, freq="30min")
    clean = [("M", t, 0.5) for t in times]
    messy = [("N", t, 0.5) for t in times] + [("N", times[0], 0.5), ("N", times[1], 0.7),
                                               ("N", times[2], -1.0)]
    ingest_file(write_text(tmp_path, "clean.csv", long_csv(clean)), store)
    entry = ingest_file(write_text(tmp_path, "messy.csv", long_csv(messy)), store,
                        max_quarantine_share=0.2)
    assert entry["rows_quarantined"] == 3
    parts = store.quarantine_parts()
    assert len(parts) == 2
    for part in parts:
        assert pq.read_schema(part).remove_metadata().equals(QUARANTINE_SCHEMA), part
    assert sorted(len(pq.read_table(p)) for p in parts) == [0, 3]


def test_a_file_that_stores_nothing_records_no_reading_span_and_the_window_ignores_it(
        tmp_path, store):
    """The ledger's ``first_reading_utc`` / ``last_reading_utc`` are the file's first and last
    reading stored, in UTC, and None when it stored none (every reading quarantined, a file
    allowed to be): the run's window comes from the files that stored readings."""
    from segmentation.meters.pipeline import plan_window

    good = [("M", t, 0.5) for t in pd.date_range("2024-01-10 00:00", periods=48, freq="30min")]
    bad = [("N", t, -1.0) for t in pd.date_range("2023-06-01 00:00", periods=48, freq="30min")]
    kept = ingest_file(write_text(tmp_path, "good.csv", long_csv(good)), store)
    lost = ingest_file(write_text(tmp_path, "bad.csv", long_csv(bad)), store,
                       max_quarantine_share=1.0)
    assert (lost["rows_stored"], lost["rows_quarantined"]) == (0, 48)
    assert lost["first_reading_utc"] is None and lost["last_reading_utc"] is None
    assert store.ledger()[lost["sha256"]]["first_reading_utc"] is None
    assert (kept["first_reading_utc"], kept["last_reading_utc"]) == (
        "2024-01-10T00:00:00+00:00", "2024-01-10T23:30:00+00:00")
    window = plan_window(store, window_days=7, timezone="Europe/London")
    assert window.end == pd.Timestamp("2024-01-11", tz="UTC")


def test_a_month_may_hold_31_days_of_25_hours_of_readings_and_no_more(tmp_path, store):
    """The (meter, month) check ``n_readings`` at most 31 x 25 hours of intervals: 1,550 at 30
    minutes. A month of every half hour and 62 repeats passes it, one more repeat fails it
    (the repeats themselves are quarantined as duplicates either way)."""
    times = [f"{t:%Y-%m-%d %H:%M:%S}" for t in pd.date_range("2024-01-01", periods=1488,
                                                             freq="30min")]
    verdicts = []
    for repeats in (62, 63):
        rows = [("M", t, 0.5) for t in times] + [("M", t, 0.5) for t in times[:repeats]]
        entry = ingest_file(write_text(tmp_path, f"m{repeats}.csv", long_csv(rows)), store)
        assert entry["rows_in"] == 1488 + repeats
        assert entry["quarantined_by_reason"] == {"exact duplicate": repeats}
        results = json.loads(open(entry["validation"]).read())
        [check] = [r for r in results["expectations"] if r["column"] == "n_readings"]
        verdicts.append((check["success"], check["unexpected_count"]))
    assert verdicts == [(True, 0), (False, 1)]


def test_a_rejected_reading_counts_on_its_own_day_at_either_end_of_the_file(tmp_path, store):
    """``n_quarantined`` counts a reading a rule rejects on its own meter and local day, the
    file's first day included; a reading outside the plausible span (here on the day after
    the last plausible one, for both meters) has no stored day and counts on none."""
    from segmentation.meters.ingest import plausible_span

    first_out = pd.Timestamp(plausible_span()["max_local"])
    last_in, first_day = first_out - pd.Timedelta(days=1), first_out - pd.Timedelta(days=4)
    rows = [r for m in ("A", "B") for r in day_rows(m, first_day, freq="h", n=4)
            + day_rows(m, last_in, freq="h", n=4)
            + [(m, f"{first_out:%Y-%m-%d %H:%M:%S}", 0.5)]] + [
        ("A", f"{first_day:%Y-%m-%d} 05:00:00", -1.0)]
    entry = ingest_file(write_text(tmp_path, "ends.csv", long_csv(rows)), store,
                        max_quarantine_share=1.0)
    assert entry["quarantined_by_reason"] == {
        "implausible timestamp (before 1990 or after next month)": 2, "negative reading": 1}
    counts = {(r.meter_id, str(r.day)): (r.n_readings, r.n_quarantined)
              for r in stored_days(store).itertuples()}
    assert counts == {("A", str(first_day.date())): (4, 1), ("A", str(last_in.date())): (4, 0),
                      ("B", str(first_day.date())): (4, 0), ("B", str(last_in.date())): (4, 0)}


def test_the_reading_span_covers_every_batch_of_the_file(tmp_path, store, monkeypatch):
    """The ledger's first and last reading are those of the whole file, however many batches
    DuckDB streams it in and in whatever order (batches of 5 rows here)."""
    from segmentation.meters import ingest

    monkeypatch.setattr(ingest, "BATCH_ROWS", 5)
    # the latest readings first and the earliest last: neither end is in the last batch
    rows = (day_rows("O", "2024-03-02", freq="h") + day_rows("M", "2024-03-01", freq="h")
            + day_rows("N", "2024-02-27", freq="h"))
    entry = ingest_file(write_text(tmp_path, "batches.csv", long_csv(rows)), store)
    assert entry["rows_stored"] == 72
    assert (entry["first_reading_utc"], entry["last_reading_utc"]) == (
        "2024-02-27T00:00:00+00:00", "2024-03-02T23:00:00+00:00")
