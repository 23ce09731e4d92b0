"""The store's layout promises (``segmentation/meters/store.py`` docstring, docs/meters.md
step 1): its metadata file, a meter's stable shard, the month folders a window reads, the
ledger's relative names and the validation results it points to, and an emptied store that
keeps nothing of its files (not even the monthly sums made from them)."""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation.errors import InputError

from segmentation.meters import store as store_module
from segmentation.meters.day_vectors import slots_per_day
from segmentation.meters.ingest import ingest_file
from segmentation.meters.store import LAYOUT, QUARANTINE_SCHEMA, ReadingsStore, day_schema
from tests.meters.conftest import long_csv, run_store, write_text


def day_part(days: list[str]) -> pa.Table:
    """One meter's day vectors, one reading each, on the local ``days``."""
    vector = [0.5] + [float("nan")] * (slots_per_day(30) - 1)
    return pa.table({"meter_id": ["M"] * len(days), "day": [date.fromisoformat(d) for d in days],
                     "n_readings": [1] * len(days), "n_quarantined": [0] * len(days),
                     "kwh": [vector] * len(days)}).cast(day_schema(30))


def commit_file(store: ReadingsStore, tmp_path, name: str, seq: int, folders: dict[str, list[str]],
                validation: dict | None = None) -> str:
    """A file moved into the store as ingestion stages it: a part per folder of shard 0
    (``month=YYYY-MM``, or ``""`` for the older layout without month folders)."""
    sha = hashlib.sha256(name.encode()).hexdigest()
    stage = tmp_path / f"stage-{sha[:8]}"
    for folder, days in folders.items():
        target = stage / "days" / "shard=00" / folder
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(day_part(days), target / f"part-{sha[:16]}.parquet")
    pq.write_table(QUARANTINE_SCHEMA.empty_table(), stage / f"part-{sha[:16]}.parquet")
    store.commit(stage, sha, {"sha256": sha, "path": str(tmp_path / name), "seq": seq,
                              "timezone": "Europe/London", "resolution_min": 30},
                 validation or {}, "<html>page</html>")
    return sha


def test_the_store_s_metadata_names_its_shards_zone_and_layout(tmp_path, store):
    """``days/_store.json``: the shard count, the zone of the local days and the layout, as
    the module's docstring gives it (a reader of the folder finds how it is laid out)."""
    commit_file(store, tmp_path, "a.csv", 0, {"month=2024-01": ["2024-01-10"]})
    meta = json.loads((store.root / "_store.json").read_text())
    assert meta == {"n_shards": 4, "timezone": "Europe/London", "layout": LAYOUT}
    assert ReadingsStore(store.dataset_dir, n_shards=16).n_shards == 4     # the store's, kept


@pytest.mark.parametrize("resolution, slots", [(15, 100), (30, 50), (60, 25)])
def test_a_part_holds_a_fixed_size_vector_of_the_day_s_intervals(resolution, slots):
    """``kwh`` is a fixed-size list: one value per interval of the longest local day (25
    hours, when the clocks go back) at the file's resolution; shorter days leave the last
    slots empty."""
    kwh = day_schema(resolution).field("kwh").type
    assert isinstance(kwh, pa.FixedSizeListType) and kwh.list_size == slots
    assert kwh.value_type == pa.float64()


def test_another_zone_is_refused_with_the_three_ways_out(tmp_path, store):
    """A run in another zone than the store's is refused with what to do: rerun in the
    store's zone, reset the store, or use another dataset."""
    commit_file(store, tmp_path, "a.csv", 0, {"month=2024-01": ["2024-01-10"]})
    with pytest.raises(InputError) as refused:
        ReadingsStore(store.dataset_dir).check_timezone("Europe/Zurich")
    message = str(refused.value)
    for remedy in ("holds local days in Europe/London; this run reads in Europe/Zurich",
                   "Use --timezone Europe/London",
                   "`segment store reset --dataset meters` and run again (every file is "
                   "ingested anew)", "or use another --dataset for another zone"):
        assert remedy in message


def test_the_ledger_is_read_again_only_when_an_entry_changes(tmp_path, store, monkeypatch):
    """Every month of every shard asks for the ledger: its entry files are read once, and
    again only when one is added, removed or rewritten."""
    first = commit_file(store, tmp_path, "a.csv", 0, {"month=2024-01": ["2024-01-10"]})
    reads = []
    real = store_module.json.loads
    monkeypatch.setattr(store_module.json, "loads", lambda text: reads.append(text) or real(text))
    for _ in range(3):
        assert list(store.ledger()) == [first]
    assert len(reads) == 1
    second = commit_file(store, tmp_path, "b.csv", 1, {"month=2024-01": ["2024-01-11"]})
    reads.clear()
    assert sorted(store.ledger()) == sorted([first, second]) and len(reads) == 2
    store.ledger()
    assert len(reads) == 2


def test_a_meter_always_lands_in_the_shard_of_the_crc32_of_its_id(store):
    """A meter's shard is crc32 of its id modulo the shard count: the same in every run and
    version (parts written years apart must meet), and different meters spread out."""
    ids = [f"MAC{n:06d}" for n in range(40)]
    shards = store.shard_of(ids)
    assert shards.tolist() == [zlib.crc32(m.encode()) % 4 for m in ids]
    assert ReadingsStore(store.dataset_dir / "x", n_shards=16).shard_of(
        ["MAC000002", "MAC000003", "N-17"]).tolist() == [0, 6, 12]           # fixed forever
    assert sorted(set(shards.tolist())) == [0, 1, 2, 3]
    assert shards.dtype == "int64"


def test_a_window_reads_only_the_month_folders_it_overlaps(tmp_path, store):
    """A night's run reads the months it changed: ``part_files``, ``parts`` and ``read_days``
    go into the month folders overlapping [first_day, last_day] (either bound open), and
    always into parts of the older layout, which are not split by month."""
    old = commit_file(store, tmp_path, "old.csv", 0, {"": ["2023-12-30"]})
    new = commit_file(store, tmp_path, "new.csv", 1, {
        f"month={m}": [f"{m}-15"] for m in ("2024-01", "2024-02", "2024-03")})
    folder = store.shard_dir(0)
    legacy = folder / f"part-{old[:16]}.parquet"

    def month(m: str):
        return folder / f"month={m}" / f"part-{new[:16]}.parquet"

    cases = {("2024-02-10", "2024-02-20"): ["2024-02"],
             ("2024-02-01", None): ["2024-02", "2024-03"],
             (None, "2024-02-29"): ["2024-01", "2024-02"],
             ("2024-01-31", "2024-03-01"): ["2024-01", "2024-02", "2024-03"],
             (None, None): ["2024-01", "2024-02", "2024-03"],
             ("2024-04-01", "2024-05-01"): []}
    for (first, last), months in cases.items():
        expected = [legacy] + [month(m) for m in months]
        assert store.part_files(0, first, last) == expected, (first, last)
        assert [path for _, path in store.parts(0, first, last)] == expected, (first, last)
        read = list(store.read_days(0, first_day=first, last_day=last))
        assert [entry["sha256"] for entry, _ in read] == [old] + [new] * len(months)
    # the days outside the window are filtered out of the parts read
    read = list(store.read_days(0, columns=["meter_id", "day"], first_day="2024-02-01",
                                last_day="2024-02-29"))
    assert [t.column_names for _, t in read] == [["meter_id", "day"]] * 2
    assert [t.column("day").to_pylist() for _, t in read] == [[], [date(2024, 2, 15)]]


def test_the_ledger_names_its_validation_files_relative_to_the_store(tmp_path, store):
    """The ledger entry on disk names the file's validation results and page relative to the
    store (``readings_validation/<sha16>.json`` and ``readings_validation/<sha16>``), so a
    moved store still finds them; the results are those given to ``commit``."""
    results = {"sha256": "x", "statistics": {"evaluated_expectations": 3}}
    sha = commit_file(store, tmp_path, "a.csv", 0, {"month=2024-01": ["2024-01-10"]}, results)
    on_disk = json.loads((store.root / "_ledger" / f"{sha}.json").read_text())
    assert on_disk["validation"] == f"readings_validation/{sha[:16]}.json"
    assert on_disk["data_docs"] == f"readings_validation/{sha[:16]}"
    assert json.loads((store.dataset_dir / on_disk["validation"]).read_text()) == results
    page = store.dataset_dir / on_disk["data_docs"] / "validation.html"
    assert page.read_text() == "<html>page</html>"
    assert (store.dataset_dir / "readings_quarantine" / f"part-{sha[:16]}.parquet").is_file()
    moved = tmp_path / "elsewhere" / "meters"
    moved.parent.mkdir()
    store.dataset_dir.rename(moved)
    entry = ReadingsStore(moved).entry(sha)
    assert json.loads(open(entry["validation"]).read()) == results


def test_an_emptied_store_keeps_nothing_of_its_files_not_even_the_monthly_sums(tmp_path, store):
    """The monthly sums (``months/``) are made from the stored files: taking out the store's
    last file takes them too, and the dataset folder holds no file afterwards. While a file
    is left, they stay."""
    rows = [("M", t.strftime("%Y-%m-%d %H:%M:%S"), round(0.2 + (i % 48) / 1000, 3))
            for i, t in enumerate(pd.date_range("2024-01-01", "2024-04-30 23:30", freq="30min"))]
    text = long_csv(rows)
    first = ingest_file(write_text(tmp_path, "m.csv", text), store)["sha256"]
    second = ingest_file(write_text(tmp_path, "n.csv", text.replace("\nM,", "\nN,")),
                         store)["sha256"]
    run_store(store, tmp=tmp_path / "work")
    sums = sorted(p for p in (store.dataset_dir / "months").rglob("*.parquet"))
    assert sums, "the run keeps the interior months' sums"
    store.remove(first)
    assert sorted((store.dataset_dir / "months").rglob("*.parquet")) == sums
    store.remove(second)
    assert [p for p in store.dataset_dir.rglob("*") if p.is_file()] == []


def test_each_part_holds_its_shard_s_meters_and_its_month_s_days(tmp_path, store):
    """A file's day vectors go to one part per shard and local month: meters of shards 0
    and 2 over a month's end give four parts, each with only its shard's meters and its
    month's days."""
    assert store.shard_of(["MAC000002", "MAC000003"]).tolist() == [0, 2]
    times = pd.date_range("2024-01-31 22:00", "2024-02-01 02:00", freq="30min")
    rows = [(m, f"{t:%Y-%m-%d %H:%M:%S}", f"0.{i + 100}") for m in ("MAC000002", "MAC000003")
            for i, t in enumerate(times)]
    path = write_text(tmp_path, "edge.csv", long_csv(rows))
    sha = ingest_file(path, store)["sha256"]
    parts = sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("part-*.parquet"))
    assert parts == [f"shard={s}/month={m}/part-{sha[:16]}.parquet"
                     for s in ("00", "02") for m in ("2024-01", "2024-02")]
    for shard, meter in ((0, "MAC000002"), (2, "MAC000003")):
        for month, days in (("2024-01", [date(2024, 1, 31)]), ("2024-02", [date(2024, 2, 1)])):
            table = pq.read_table(store.shard_dir(shard) / f"month={month}" / f"part-{sha[:16]}.parquet")
            assert table.column("meter_id").to_pylist() == [meter]
            assert table.column("day").to_pylist() == days
