"""The processed readings store: one row per (meter, local day), sharded by meter, with a ledger.

Layout under ``<data-root>/processed/<dataset>/``::

    days/_store.json                         shards, time zone of the local days, layout
    days/shard=NN/month=YYYY-MM/part-<sha16>.parquet
                                             day vectors from the file <sha16> for the meters
                                             hashed to shard NN, local days of one month:
                                             meter_id, day (local date), n_readings,
                                             n_quarantined, kwh (fixed-size list)
    days/_ledger/<sha256>.json               one entry per ingested file: counts by reason,
                                             resolution, order of ingestion (seq), span;
                                             its files named relative to the store
    readings_quarantine/part-<sha16>.parquet readings rejected at ingestion, with reasons
                                             (``QUARANTINE_SCHEMA``: the published columns)
    readings_validation/<sha16>.json         Great Expectations results of the file
    readings_validation/<sha16>/validation.html   their Data Docs page

A meter always lands in the same shard (crc32 of its id), so the feature
step reads one shard at a time, and a day always in the same month folder, so
a night's run reads only the months it changed (``months``). A file's day
vectors are one new part per shard and month: a nightly file of one day adds a
small part and rewrites nothing. (Stores written before the month folders
have ``shard=NN/part-<sha16>.parquet``; they are read as well.)
Days that several files cover are merged when read: per interval the
reading of the file ingested last wins (``pipeline.read_shard``).

Everything of a file is staged and moved in by ``commit``; the ledger entry
is written last and marks the file as ingested: a failed or killed
ingestion leaves nothing in the store, and re-ingesting rewrites the same parts.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segmentation import contract
from segmentation.errors import InputError
from segmentation.io import write_json_atomic, write_text_atomic
from segmentation.meters.day_vectors import MINUTE_US, DayCalendar, slots_per_day

DEFAULT_SHARDS = 16
LAYOUT = "days/shard=NN/month=YYYY-MM/part-<sha16>.parquet, one row per (meter, local day)"
# A reading's fields, whatever the file calls them (LCL: LCLid, DateTime, KWH/hh; wide: the
# timestamp column and the meter's column): quarantine's input columns, as text.
READING_FIELDS = ["meter_id", "timestamp", "kwh"]
QUARANTINE_SCHEMA = contract.quarantine_schema(READING_FIELDS)


def day_schema(resolution: int) -> pa.Schema:
    """A part's schema: the vector length follows the file's resolution."""
    return pa.schema([("meter_id", pa.string()), ("day", pa.date32()),
                      ("n_readings", pa.int16()), ("n_quarantined", pa.int16()),
                      ("kwh", pa.list_(pa.float64(), slots_per_day(resolution)))])


class ReadingsStore:
    """Paths, metadata and ledger of one dataset's store of day vectors."""

    def __init__(self, dataset_dir: Path, n_shards: int = DEFAULT_SHARDS):
        self.dataset_dir = Path(dataset_dir)
        self.root = self.dataset_dir / "days"
        self.quarantine_dir = self.dataset_dir / "readings_quarantine"
        self.validation_dir = self.dataset_dir / "readings_validation"
        meta = self.meta()
        self.n_shards = int(meta["n_shards"]) if meta else n_shards
        self.timezone: str | None = meta.get("timezone") if meta else None

    @property
    def data_root(self) -> Path | None:
        """The data root the store belongs to: the folder holding its ``processed/`` folder
        (``<root>/processed/.stores/D``), or None for a store elsewhere."""
        for folder in self.dataset_dir.resolve().parents:
            if folder.name == "processed":
                return folder.parent
        return None

    def meta(self) -> dict:
        path = self.root / "_store.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def check_timezone(self, timezone: str) -> None:
        """Local days are days of one zone: a store cannot mix zones."""
        if self.timezone and self.timezone != timezone:
            raise InputError(f"the store {self.root} holds local days in {self.timezone}; this run "
                             f"reads in {timezone}. Use --timezone {self.timezone}; or, if "
                             f"{self.timezone} was a mistake, empty the store with `segment store "
                             f"reset --dataset {self.dataset_dir.name}` and run again (every file "
                             "is ingested anew); or use another --dataset for another zone")

    def ensure(self, timezone: str) -> None:
        """Create the store's metadata on first use (the time zone is fixed from then on)."""
        self.check_timezone(timezone)
        if not self.meta():
            write_json_atomic({"n_shards": self.n_shards, "timezone": timezone, "layout": LAYOUT},
                              self.root / "_store.json")
            self.timezone = timezone

    def shard_of(self, meter_ids) -> np.ndarray:
        """Stable shard number of each (distinct) meter id: crc32 modulo the shard count."""
        return np.array([zlib.crc32(str(m).encode()) % self.n_shards for m in meter_ids],
                        dtype=np.int64)

    def shard_dir(self, shard: int) -> Path:
        return self.root / f"shard={shard:02d}"

    def shards(self) -> list[int]:
        """Shards holding at least one part."""
        return sorted(int(p.name.split("=")[1]) for p in self.root.glob("shard=*")
                      if any(p.rglob("part-*.parquet")))

    def part_files(self, shard: int, first_day=None, last_day=None) -> list[Path]:
        """The shard's part files, only the month folders that overlap [first_day, last_day]
        (and parts of the older layout, which are not split by month)."""
        lo = None if first_day is None else pd.Timestamp(first_day).strftime("%Y-%m")
        hi = None if last_day is None else pd.Timestamp(last_day).strftime("%Y-%m")
        folder = self.shard_dir(shard)
        months = [m for m in sorted(folder.glob("month=*"))
                  if (lo is None or m.name[6:] >= lo) and (hi is None or m.name[6:] <= hi)]
        return sorted(folder.glob("part-*.parquet")) + [p for m in months
                                                        for p in sorted(m.glob("part-*.parquet"))]

    def ledger(self) -> dict[str, dict]:
        """sha256 -> entry of every ingested file (read again only when an entry file was
        added, removed or rewritten: a store of two years of nightly files has ~730 entries,
        and every month of every shard asks)."""
        folder = self.root / "_ledger"
        try:
            with os.scandir(folder) as found:
                stamp = tuple(sorted((e.name, e.stat().st_mtime_ns, e.stat().st_size)
                                     for e in found if e.name.endswith(".json")))
        except FileNotFoundError:
            stamp = ()
        if getattr(self, "_ledger_stamp", None) != stamp:
            self._ledger = {name[:-5]: self._located(json.loads((folder / name).read_text()))
                            for name, _, _ in stamp}
            self._ledger_stamp = stamp
        return dict(self._ledger)

    def entry(self, sha: str) -> dict | None:
        path = self.root / "_ledger" / f"{sha}.json"
        return self._located(json.loads(path.read_text())) if path.exists() else None

    def _located(self, entry: dict) -> dict:
        """An entry with its validation files where this store is now: the ledger names them
        relative to the store (older ledgers: absolute), so a moved store still finds them."""
        tag = entry["sha256"][:16]
        return {**entry, "validation": str(self.validation_dir / f"{tag}.json"),
                "data_docs": str(self.validation_dir / tag)}

    def parts(self, shard: int, first_day=None, last_day=None) -> list[tuple[dict, Path]]:
        """(ledger entry, path) of the shard's parts, in ingestion order (oldest first; a
        file's months in order), only those that may hold days in [first_day, last_day]."""
        entries = {sha[:16]: e for sha, e in self.ledger().items()}
        found = [(entries[p.stem.removeprefix("part-")], p)
                 for p in self.part_files(shard, first_day, last_day)
                 if p.stem.removeprefix("part-") in entries]
        return sorted(found, key=lambda item: item[0]["seq"])

    def read_days(self, shard: int, columns: list[str] | None = None, first_day=None,
                  last_day=None) -> Iterator[tuple[dict, pa.Table]]:
        """Each part of the shard (oldest first) restricted to days in [first_day, last_day]."""
        for entry, path in self.parts(shard, first_day, last_day):
            filters = []
            if first_day is not None:
                filters.append(("day", ">=", pd.Timestamp(first_day).date()))
            if last_day is not None:
                filters.append(("day", "<=", pd.Timestamp(last_day).date()))
            yield entry, pq.read_table(path, columns=columns, filters=filters or None)

    def readings(self) -> pd.DataFrame:
        """Every stored reading as ``meter_id, timestamp (UTC), kwh, file`` (for checks and tests;
        the pipeline reads day vectors)."""
        frames = []
        for shard in self.shards():
            for entry, table in self.read_days(shard):
                frames.append(expand(table, entry["resolution_min"], self.timezone)
                              .assign(file=entry["sha256"][:16]))
        if not frames:
            return pd.DataFrame(columns=["meter_id", "timestamp", "kwh", "file"])
        return pd.concat(frames, ignore_index=True).sort_values(["meter_id", "timestamp", "file"],
                                                                ignore_index=True)

    def quarantine_parts(self) -> list[Path]:
        """The quarantine part of every ingested file, in ``QUARANTINE_SCHEMA``; a part an
        earlier version wrote (absolute ``source_file``, ``timestamp_raw``...) is rewritten
        in place first."""
        parts = [self.quarantine_dir / f"part-{sha[:16]}.parquet" for sha in self.ledger()]
        for part in parts:
            if part.exists() and "raw_line" not in pq.read_schema(part).names:
                table = legacy_quarantine(pq.read_table(part), self.timezone or "UTC",
                                          self.data_root)
                tmp = part.with_name(f".{part.name}.tmp")
                pq.write_table(table, tmp)
                os.replace(tmp, part)
        return parts

    def remove(self, sha: str) -> dict:
        """Take one ingested file out of the store (its parts, quarantine, validation, ledger
        entry); the store's time zone is forgotten with its last file. Returns the entry."""
        entry = self.entry(sha)
        if entry is None:
            raise InputError(f"no file with sha256 {sha} in the store {self.root}")
        tag = sha[:16]
        (self.root / "_ledger" / f"{sha}.json").unlink()      # first: the parts no longer count
        for part in self.root.glob(f"shard=*/**/part-{tag}.parquet"):
            part.unlink()
        (self.quarantine_dir / f"part-{tag}.parquet").unlink(missing_ok=True)
        (self.validation_dir / f"{tag}.json").unlink(missing_ok=True)
        shutil.rmtree(self.validation_dir / tag, ignore_errors=True)
        if not self.ledger():
            (self.root / "_store.json").unlink(missing_ok=True)
            shutil.rmtree(self.dataset_dir / "months", ignore_errors=True)   # ``months``' sums
            self.timezone = None
        return entry

    def find(self, key: str) -> list[str]:
        """sha256 of the ingested files a sha256 prefix or a path names."""
        resolved = str(Path(key).resolve()) if not all(c in "0123456789abcdef" for c in key) else None
        return [sha for sha, entry in self.ledger().items()
                if sha.startswith(key) or entry["path"] in (key, resolved)]

    def commit(self, stage: Path, sha: str, entry: dict, validation: dict, data_docs: str) -> dict:
        """Move a staged file into the store; the ledger entry is written last."""
        tag = sha[:16]
        self.ensure(entry["timezone"])
        for shard_part in sorted((stage / "days").glob("shard=*/**/part-*.parquet")):
            target = self.root / shard_part.relative_to(stage / "days")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(shard_part, target)
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        os.replace(stage / f"part-{tag}.parquet", self.quarantine_dir / f"part-{tag}.parquet")
        docs = self.validation_dir / tag
        write_text_atomic(data_docs, docs / "validation.html")
        results = self.validation_dir / f"{tag}.json"
        write_json_atomic(validation, results)
        relative = {"validation": os.path.relpath(results, self.dataset_dir),
                    "data_docs": os.path.relpath(docs, self.dataset_dir)}
        write_json_atomic({**entry, **relative}, self.root / "_ledger" / f"{sha}.json")
        return self._located(entry)


def csv_line(fields: list[pd.Series]) -> pd.Series:
    """Text fields joined as one CSV line: NULL as empty, a field with a comma or a quote
    quoted (the SQL twin is ``ingest._csv_field_sql``)."""
    def field(values: pd.Series) -> pd.Series:
        text = values.astype("string").fillna("")
        quote = text.str.contains(",", regex=False) | text.str.contains('"', regex=False)
        return text.where(~quote, '"' + text.str.replace('"', '""', regex=False) + '"')
    out = field(fields[0])
    for values in fields[1:]:
        out = out + "," + field(values)
    return out


def legacy_quarantine(table: pa.Table, timezone: str, data_root: Path | None) -> pa.Table:
    """A quarantine part of the first layout (``source_file`` absolute, ``timestamp_raw``,
    ``kwh_raw``, parsed ``timestamp`` and ``kwh``; duplicates without raw text) in
    ``QUARANTINE_SCHEMA``: the text where there was none is the parsed value written out
    (the timestamp in the store's local time)."""
    old = table.to_pandas()
    local = pd.to_datetime(old["timestamp"], utc=True).dt.tz_convert(timezone)
    stamp = old["timestamp_raw"].astype("string").fillna(
        local.dt.strftime("%Y-%m-%d %H:%M:%S").astype("string"))
    kwh = old["kwh_raw"].astype("string").fillna(
        pd.Series(pc.cast(table.column("kwh"), pa.string()).to_pandas(), index=old.index,
                  dtype="string"))
    frame = pd.DataFrame({
        "source_row": old["source_row"], "reason": old["reason"],
        "raw_line": csv_line([old["meter_id"], stamp, kwh]),
        "source_file": [contract.source_file_name(f, data_root) for f in old["source_file"]],
        "meter_id": old["meter_id"], "timestamp": stamp, "kwh": kwh})
    return pa.Table.from_pandas(frame, schema=QUARANTINE_SCHEMA, preserve_index=False)


def expand(table: pa.Table, resolution: int, timezone: str) -> pd.DataFrame:
    """Day vectors back to one row per reading: ``meter_id, timestamp (UTC), kwh``."""
    if table.num_rows == 0:
        return pd.DataFrame({"meter_id": pd.Series(dtype=object),
                             "timestamp": pd.Series(dtype="datetime64[us, UTC]"),
                             "kwh": pd.Series(dtype=float)})
    days = table.column("day").to_numpy().astype("datetime64[D]")
    calendar = DayCalendar.spanning(days.min(), days.max(), timezone)
    slots = slots_per_day(resolution)
    values = table.column("kwh").combine_chunks().flatten().to_numpy().reshape(-1, slots)
    row, slot = np.nonzero(~np.isnan(values))
    day_index = (days - calendar.dates()[0]).astype(np.int64)[row]
    micros = calendar.start_us[day_index] + slot * resolution * MINUTE_US
    return pd.DataFrame({"meter_id": np.asarray(table.column("meter_id").to_pylist(), object)[row],
                         "timestamp": pd.to_datetime(micros, unit="us", utc=True),
                         "kwh": values[row, slot]})
