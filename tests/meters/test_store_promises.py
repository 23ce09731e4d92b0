"""Promises of the readings store and its ingestion (docs/meters.md step 1, docs/outputs.md):
the ledger's settings key, the plausible dates, offsets read in a non-UTC run, ingestion order
against hash order, and the store lock held while a file is ingested."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import os
import threading
import time
from dataclasses import replace
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation.errors import InputError
from segmentation.locks import store_lock
from segmentation.meters.ingest import IngestOptions, ingest_file, plausible_span, read_the_same_way
from segmentation.meters.sources import ColumnNames
from segmentation.meters.day_vectors import slots_per_day
from segmentation.meters.store import QUARANTINE_SCHEMA, ReadingsStore, csv_line, day_schema, expand
from segmentation.settings import RunPaths
from tests.meters.conftest import long_csv, run_store, stored, write_text

IMPLAUSIBLE = "implausible timestamp (before 1990 or after next month)"


def half_hours(meter: str, day: str, kwh: float) -> list[tuple]:
    """A day of half-hourly readings, ``kwh`` plus a thousandth per half hour (not a stuck
    register)."""
    times = pd.date_range(day, periods=48, freq="30min")
    return [(meter, t.strftime("%Y-%m-%d %H:%M:%S"), round(kwh + i / 1000, 3))
            for i, t in enumerate(times)]


# ---------------------------------------------------------------- the ledger's settings key

def test_each_setting_of_the_ledger_key_on_its_own_means_read_anew(tmp_path, store):
    """A file already ingested is skipped only when read with the same format, time zone,
    plausible maximum and column names; any one of them changed reads it again."""
    path = write_text(tmp_path, "m.csv", long_csv(half_hours("M", "2024-01-10", 0.5)))
    entry = ingest_file(path, store, timezone="Europe/Zurich", max_kwh=5.0)
    same = IngestOptions(timezone="Europe/Zurich", max_kwh=5.0)
    assert read_the_same_way(entry, "long", same)
    assert read_the_same_way(store.entry(entry["sha256"]), "long", same)   # as the ledger keeps it
    assert not read_the_same_way(entry, "wide", same)
    changed = [replace(same, timezone="Europe/London"), replace(same, max_kwh=5.5)] + [
        replace(same, names=ColumnNames(**{field: "other"}))
        for field in ("meter", "timestamp", "kwh")]
    for options in changed:
        assert not read_the_same_way(entry, "long", options), options
    # a ledger entry of an earlier version, without column names, was read with the defaults
    older = {k: v for k, v in entry.items() if k != "columns"}
    assert read_the_same_way(older, "long", same)
    assert not read_the_same_way(older, "long", changed[-1])


# ---------------------------------------------------------------- plausible dates

@pytest.mark.parametrize("now, last_day, last_month", [
    ("2024-05-17 13:45", "2024-07-01", (2024, 6)),     # next month is June
    ("2024-12-31 23:59", "2025-02-01", (2025, 1)),     # next month is in the next year
    ("2025-01-01 00:00", "2025-03-01", (2025, 2)),
])
def test_plausible_dates_run_from_1990_to_the_end_of_next_month(now, last_day, last_month):
    span = plausible_span(pd.Timestamp(now))
    assert span["min_local"] == "1990-01-01 00:00:00"
    assert span["max_local"] == f"{last_day} 00:00:00"          # the first implausible instant
    # month index = year x 12 + month - 1 (ingest.validation_frame): first and last plausible month
    assert span["min_month_index"] == 1990 * 12 + 1 - 1
    assert span["max_month_index"] == last_month[0] * 12 + last_month[1] - 1


def test_the_plausible_span_is_checked_on_both_sides_at_ingestion(tmp_path, store):
    """The first instant of 1990 and the last half hour of next month are readings; the half
    hour before 1990 and the first instant after next month are quarantined as implausible."""
    end = pd.Timestamp(plausible_span()["max_local"])
    edges = [("M", "1989-12-31 23:30:00", 0.2), ("M", "1990-01-01 00:00:00", 0.2),
             ("M", str(end - pd.Timedelta(minutes=30)), 0.2), ("M", str(end), 0.2)]
    entry = ingest_file(write_text(tmp_path, "edges.csv", long_csv(
        half_hours("M", "2024-01-10", 0.5) + edges)), store)
    assert entry["quarantined_by_reason"] == {IMPLAUSIBLE: 2}
    assert entry["rows_stored"] == 50
    kept = stored(store)["timestamp"].dt.tz_convert("Europe/London").dt.tz_localize(None)
    assert pd.Timestamp("1990-01-01") in set(kept) and end - pd.Timedelta(minutes=30) in set(kept)


# ---------------------------------------------------------------- offsets in a non-UTC run

def test_offsets_are_instants_and_local_days_are_the_run_s_zone(tmp_path, store):
    """Timestamps with an offset (``+05:30``, ``Z``) are used as the instants they name, in a
    run whose zone (Zurich, UTC+2 in June) is neither the offset nor UTC; the day vectors hold
    Zurich's local days."""
    instants = pd.date_range("2024-06-01 00:00", periods=48, freq="30min", tz="Asia/Kolkata")
    rows = [("K", t.isoformat(), 0.3) for t in instants]
    rows += [("Z", t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), 0.4) for t in instants]
    entry = ingest_file(write_text(tmp_path, "offsets.csv", long_csv(rows)), store,
                        timezone="Europe/Zurich")
    assert entry["rows_stored"] == 96 and entry["resolution_min"] == 30
    readings = stored(store)
    for meter in ("K", "Z"):
        assert list(readings.loc[readings["meter_id"] == meter, "timestamp"]) == list(
            instants.tz_convert("UTC"))
    # 2024-06-01 00:00 +05:30 is 2024-05-31 20:30 in Zurich: 7 half hours on May 31
    days = pd.concat([pd.read_parquet(p) for p in store.root.rglob("part-*.parquet")])
    per_day = days.groupby(days["day"].astype(str))["n_readings"].sum().to_dict()
    assert per_day == {"2024-05-31": 14, "2024-06-01": 82}
    assert entry["first_reading_utc"] == instants[0].tz_convert("UTC").isoformat()


# ---------------------------------------------------------------- ingestion order, not hash order

def test_the_file_ingested_last_wins_even_when_its_hash_sorts_first(tmp_path, store):
    """Parts are named by the file's hash; the merge must follow the order of ingestion."""
    first = write_text(tmp_path, "first.csv", long_csv(half_hours("M", "2024-01-10", 0.5)))
    first_tag = hashlib.sha256(first.read_bytes()).hexdigest()[:16]
    for zeros in range(100):      # a later file whose hash sorts before the first one's
        later_rows = half_hours("M", "2024-01-10", 0.7)
        later_rows[0] = ("M", later_rows[0][1], "0.7" + "0" * zeros)   # the same number
        later = write_text(tmp_path, "later.csv", long_csv(later_rows))
        if hashlib.sha256(later.read_bytes()).hexdigest()[:16] < first_tag:
            break
    ingest_file(first, store)
    ingest_file(later, store)
    result = run_store(store)
    counts = result["counts"]
    assert counts["readings_superseded_by_reason"] == {
        "conflicting duplicate (superseded by a later reading)": 48}
    # the later file's readings in every interval
    assert result["features"]["mean_daily_kwh"].tolist() == [
        pytest.approx(sum(kwh for _, _, kwh in half_hours("M", "2024-01-10", 0.7)))]
    ingested = [e["path"] for e in sorted(store.ledger().values(), key=lambda e: e["seq"])]
    assert ingested == [str(first.resolve()), str(later.resolve())]
    assert [e["sha256"][:16] for e, _ in store.parts(store.shards()[0])] == [
        first_tag, hashlib.sha256(later.read_bytes()).hexdigest()[:16]]


# ---------------------------------------------------------------- the store lock

def lock_is_free(path) -> bool:
    """Whether another open of the lock file could take it now (a flock is per open file)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_the_ingestion_task_holds_the_store_lock_and_waits_for_it(tmp_path, monkeypatch):
    """One ingestion per meter store at a time: the task ingests inside the store's lock
    (``processed/.locks/store-<dataset>.lock``), and waits while another holds it."""
    import tasks.meters as meter_tasks

    paths = RunPaths.create("meters", None, tmp_path)
    lock = paths.locks_dir / f"store-{paths.store_dir.name}.lock"
    seen = []

    def ingest(path, store, **_):
        seen.append((lock_is_free(lock), time.monotonic(), store.dataset_dir))
        return {"path": path}

    monkeypatch.setattr(meter_tasks, "ingest_file", ingest)
    args = ("f.csv", str(paths.store_dir), "auto", "Europe/London", 10.0, 0.1)
    assert meter_tasks.ingest_meter_file.fn(*args) == {"path": "f.csv"}
    assert seen[0][0] is False and seen[0][2] == paths.store_dir
    assert lock_is_free(lock)                                   # released afterwards
    with store_lock(paths.store_dir):
        other = threading.Thread(target=meter_tasks.ingest_meter_file.fn, args=args)
        other.start()
        time.sleep(0.3)
        assert len(seen) == 1                                  # waiting, not ingesting
        released = time.monotonic()
    other.join(timeout=10)
    assert len(seen) == 2 and seen[1][1] >= released
    with store_lock(RunPaths.create("other", None, tmp_path).store_dir):  # another store: no wait
        meter_tasks.ingest_meter_file.fn(*args)
    assert len(seen) == 3


def test_removing_files_from_the_store_holds_the_store_lock(tmp_path, monkeypatch):
    """`segment store remove` takes files out under the same lock as ingestion."""
    from segmentation.cli import manage_store

    paths = RunPaths.create("meters", None, tmp_path)
    store = ReadingsStore(paths.store_dir)
    ingest_file(write_text(tmp_path, "a.csv", long_csv(half_hours("A", "2024-01-10", 0.5))), store)
    lock = paths.locks_dir / f"store-{paths.store_dir.name}.lock"
    held = []
    original = ReadingsStore.remove
    monkeypatch.setattr(ReadingsStore, "remove",
                        lambda self, sha: held.append(lock_is_free(lock)) or original(self, sha))

    class Args:
        dataset, data_root, store_command, files, yes = "meters", tmp_path, "reset", [], True

    assert manage_store(Args())["files_left"] == 0 and held == [False]


def test_a_run_for_a_date_uses_only_the_readings_up_to_that_local_day(tmp_path, store):
    """A backfill or a history run reads no reading after its date, so a rerun for a date
    gives the same window after newer files arrived."""
    from segmentation.errors import InputError
    from segmentation.meters.pipeline import plan_window

    rows = [r for day in ("2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04")
            for r in half_hours("MTR1", day, 0.25)]
    ingest_file(write_text(tmp_path, "a.csv", long_csv(rows)), store, timezone="Europe/Zurich")
    latest = plan_window(store, 14, "Europe/Zurich")
    assert latest.end == pd.Timestamp("2024-03-04 23:00", tz="UTC")       # midnight in Zurich
    on_the_2nd = plan_window(store, 14, "Europe/Zurich", run_date="2024-03-02")
    assert on_the_2nd.end == pd.Timestamp("2024-03-02 23:00", tz="UTC")
    assert on_the_2nd.start == latest.start == pd.Timestamp("2024-02-29 23:00", tz="UTC")
    two_days = plan_window(store, 2, "Europe/Zurich", run_date="2024-03-03")
    assert (two_days.start, two_days.end) == (pd.Timestamp("2024-03-01 23:00", tz="UTC"),
                                              pd.Timestamp("2024-03-03 23:00", tz="UTC"))
    assert plan_window(store, 14, "Europe/Zurich", run_date="2024-12-31").end == latest.end
    with pytest.raises(InputError, match="no reading on or before the run date 2024-02-29"):
        plan_window(store, 14, "Europe/Zurich", run_date="2024-02-29")


# ---------------------------------------------------------------- quarantine of the store

def committed(store: ReadingsStore, tmp_path, name: str, seq: int = 0, days=None) -> str:
    """A file ``tmp_path/name`` moved into the store as ingestion does (``commit``): one day
    part in shard 0 (``days``, or none), an empty quarantine part, validation results and page.
    Returns its sha256."""
    sha = hashlib.sha256(name.encode()).hexdigest()
    stage = tmp_path / f"stage-{sha[:8]}"
    (stage / "days" / "shard=00").mkdir(parents=True)
    pq.write_table(day_schema(30).empty_table() if days is None else days,
                   stage / "days" / "shard=00" / f"part-{sha[:16]}.parquet")
    pq.write_table(QUARANTINE_SCHEMA.empty_table(), stage / f"part-{sha[:16]}.parquet")
    store.commit(stage, sha, {"sha256": sha, "path": str((tmp_path / name).resolve()), "seq": seq,
                              "timezone": "Europe/London", "resolution_min": 30}, {}, "<html></html>")
    return sha


def test_the_quarantine_parts_are_those_of_the_files_ingested(tmp_path, store):
    """Each ingested file has its quarantine part (``readings_quarantine/part-<sha16>``), even
    when nothing of it was quarantined: the paths collected are the files written."""
    shas = [committed(store, tmp_path, name, seq) for seq, name in enumerate(["a.csv", "b.csv"])]
    parts = store.quarantine_parts()
    assert sorted(parts) == sorted(store.quarantine_dir / f"part-{sha[:16]}.parquet"
                                   for sha in shas)
    assert all(part.is_file() for part in parts)


def test_a_reading_s_raw_line_is_a_csv_line_of_its_fields():
    """docs/outputs.md, ``raw_line``: the fields joined by commas, a field quoted when it holds
    a comma or a quote (the quote doubled, as CSV writes it), never null: a missing field is
    empty. A CSV reader gives the fields back."""
    meters = pd.Series(["M1", "A,B", 'say "hi"', None], dtype="string")
    stamps = pd.Series(["2024-01-10 00:30:00", None, "x", '"'], dtype="string")
    kwh = pd.Series(["0.5", "1", None, "Null"], dtype="string")
    lines = csv_line([meters, stamps, kwh])
    assert lines.tolist() == ["M1,2024-01-10 00:30:00,0.5", '"A,B",,1', '"say ""hi""",x,',
                              ',"""",Null']
    fields = [[None if v is pd.NA else v for v in column] for column in (meters, stamps, kwh)]
    assert [next(csv.reader([line])) for line in lines] == [
        ["" if v is None else v for v in row] for row in zip(*fields)]


def test_removing_a_file_takes_out_everything_of_it_and_nothing_else(tmp_path, store):
    """``segment store remove``: the file's day parts, quarantine part, validation results and
    page, and ledger entry go; another file's stay."""
    gone, kept = committed(store, tmp_path, "gone.csv", 0), committed(store, tmp_path, "kept.csv", 1)
    files = sorted(p.relative_to(store.dataset_dir) for p in store.dataset_dir.rglob("*")
                   if p.is_file())
    assert store.remove(gone)["sha256"] == gone
    left = sorted(p.relative_to(store.dataset_dir) for p in store.dataset_dir.rglob("*")
                  if p.is_file())
    assert left == [p for p in files if gone[:16] not in str(p) and gone not in str(p)]
    assert len(files) - len(left) == 5 and list(store.ledger()) == [kept]
    assert not (store.validation_dir / gone[:16]).exists()
    with pytest.raises(InputError, match=f"no file with sha256 {gone}"):
        store.remove(gone)


def test_the_store_s_zone_is_forgotten_with_its_last_file(tmp_path, store):
    """The store's days belong to one zone while it holds files; emptied by ``remove``, it
    takes a run in another zone (docs/meters.md, `segment store remove`)."""
    first, second = committed(store, tmp_path, "a.csv", 0), committed(store, tmp_path, "b.csv", 1)
    store.remove(first)
    with pytest.raises(InputError, match="holds local days in Europe/London"):
        ReadingsStore(store.dataset_dir).check_timezone("Europe/Zurich")
    store.remove(second)
    store.check_timezone("Europe/Zurich")
    assert ReadingsStore(store.dataset_dir).timezone is None
    ReadingsStore(store.dataset_dir).check_timezone("Europe/Zurich")


def test_a_file_is_found_by_a_sha256_prefix_or_by_its_path(tmp_path, store, monkeypatch):
    """`segment store remove FILE`: FILE is a sha256 prefix or the file's path, absolute or
    relative to the working directory."""
    sha = committed(store, tmp_path, "in/my.txt")
    other = committed(store, tmp_path, "x.csv", 1)
    monkeypatch.chdir(tmp_path)
    for key in (sha[:6], sha, str(tmp_path / "in" / "my.txt"), "in/my.txt", "./in/../in/my.txt"):
        assert store.find(key) == [sha], key
    assert store.find("in/other.txt") == [] and store.find(other[:12]) == [other]


def test_stored_readings_are_the_day_vectors_at_their_utc_instants_with_their_file(tmp_path, store):
    """``ReadingsStore.readings``: every stored reading as ``meter_id, timestamp (UTC), kwh,
    file`` (the file's sha256 tag, as in the part's name), in meter and time order, numbered
    from 0; no day vectors give no readings, with the same columns, the time in UTC and kWh as
    floats."""
    later, earlier = [float("nan")] * slots_per_day(30), [float("nan")] * slots_per_day(30)
    later[0], earlier[3] = 0.25, 0.5        # London in summer: local midnight is 23:00 UTC
    days = pa.table({"meter_id": ["M", "M"], "day": [date(2024, 7, 11), date(2024, 7, 10)],
                     "n_readings": [1, 1], "n_quarantined": [0, 0],
                     "kwh": [later, earlier]}).cast(day_schema(30))
    assert list(store.readings().columns) == ["meter_id", "timestamp", "kwh", "file"]   # empty
    sha = committed(store, tmp_path, "m.csv", days=days)
    readings = store.readings()
    assert readings.to_dict("list") == {
        "meter_id": ["M", "M"], "kwh": [0.5, 0.25], "file": [sha[:16]] * 2,
        "timestamp": [pd.Timestamp("2024-07-10 00:30", tz="UTC"),
                      pd.Timestamp("2024-07-10 23:00", tz="UTC")]}
    assert readings.index.tolist() == [0, 1]
    empty = expand(days.slice(0, 0), 30, "Europe/London")
    assert list(empty.columns) == ["meter_id", "timestamp", "kwh"]
    assert empty.empty and str(empty["timestamp"].dtype) == str(readings["timestamp"].dtype) == \
        "datetime64[us, UTC]" and empty["kwh"].dtype == readings["kwh"].dtype == float
