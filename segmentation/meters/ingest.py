"""Ingestion of one raw reading file into the store of day vectors, end to end.

1. **Read** (``sources``): long, LCL or wide; CSV, CSV.gz or Parquet; long
   Parquet in place, other files streamed into a staged long Parquet file.
2. **Summarise and validate**: one DuckDB pass gives a row per (meter, local
   month): counts, kWh range, DST and grid counts. The resolution is detected
   from it, and Great Expectations validates it (``expectations/readings.json``):
   each row-level expectation is the exact aggregate form of a rule on one
   reading, so GE's verdict per (meter, month) is the rule's. Table-level
   failures stop here, naming the file and column.
3. **Quarantine**: only when GE found failing rows, one DuckDB pass writes
   the readings each rule (the suite's ``quarantine_when`` SQL) selects, with
   their reasons; the groups found must equal GE's (no drift between the two).
4. **Day vectors**: one streaming pass of the remaining readings, converted
   to UTC by the time-zone rule (``sources``), placed into day vectors in
   numpy (``day_vectors.DayBlock``, bounded memory); readings for the same
   meter and instant within the file are resolved by the duplicate policy
   (the later row wins) and the losers quarantined with their rows.
5. **Commit** (``store.ReadingsStore.commit``): parts, quarantine, validation
   and last the ledger entry. Readings in = stored + quarantined, or it fails.

DuckDB's memory is capped (1 GB, spilling to disk) and the day vectors are
written as they fill, so memory does not grow with the file.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segmentation import contract
from segmentation.errors import InputError, ValidationFailed
from segmentation.io import sha256_file, sql_literal
from segmentation.meters import localtime, sources
from segmentation.meters.clean import CONFLICTING_DUPLICATE, EXACT_DUPLICATE
from segmentation.meters.day_vectors import MINUTE_US, DayBlock, DayCalendar, FlushedDays, \
    slots_per_day
from segmentation.meters.store import QUARANTINE_SCHEMA, ReadingsStore, day_schema
from segmentation.report import refuse_mostly_quarantined
from segmentation.rules import check_groups, named_table_failures, quarantine_rules, \
    unexpected_counts
from segmentation.settings import MAX_QUARANTINE_SHARE

DUCKDB_MEMORY_LIMIT = "1GB"  # DuckDB spills to disk beyond this: ingestion memory stays flat
BATCH_ROWS = 1_000_000
OPEN_METERS = 128            # day vectors held open at once (DayBlock capacity)
PART_ROW_GROUP = 1024        # (meter, day) rows per row group of a part (~0.5 MB)
WRITE_QUEUE = 8              # row groups queued for the writer thread (bounded memory)


@dataclass(frozen=True)
class IngestOptions:
    """How to read a file: its format, column names, time zone and plausible maximum."""

    fmt: str = "auto"
    names: sources.ColumnNames = field(default_factory=sources.ColumnNames)
    timezone: str = "Europe/London"
    max_kwh: float = 10.0
    max_quarantine_share: float = MAX_QUARANTINE_SHARE


@dataclass(frozen=True)
class RawFile:
    """One raw file being ingested: where it is, what it is, its staging folder."""

    path: Path
    kind: str
    fmt: str
    header: list[str]
    sha: str
    stage: Path
    source: str          # its name in quarantine: relative to the data root when inside it

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def tag(self) -> str:
        return self.sha[:16]


SUMMARY_SQL = """
SELECT meter_id, CAST(date_trunc('month', local) AS DATE) AS month, min(source_row) AS first_row,
       count(*) AS n_readings, count(local) AS n_timed, count_if(kwh IS NULL) AS n_kwh_missing,
       count_if(kwh_given) AS n_kwh_text, count_if(kwh IS NULL AND kwh_text IS NOT NULL
           AND lower(kwh_text) NOT IN ({missing})) AS n_kwh_not_number,
       min(kwh) AS kwh_min, max(kwh) AS kwh_max, count_if(nonexistent) AS n_nonexistent,
       count_if(ambiguous) AS n_ambiguous, count_if(on15) AS n_on15,
       min(local) AS local_min, max(local) AS local_max,
       count_if(on15 AND minute(local) IN (15, 45)) AS n_quarter,
       count_if(on15 AND minute(local) = 30) AS n_half
FROM readings GROUP BY ALL
"""


def detect_resolution(summary: pd.DataFrame, file: str) -> int:
    """The file's interval length in minutes, from the minutes of its readings.

    Per (meter, month): 15 when a quarter of the on-grid readings fall at :15
    or :45, else 30 when a quarter fall at :30, else 60. Months of eight readings
    or more vote (in a file without one, every month of two or more); the file's
    resolution is the one most of their readings vote for, and a voting month at
    another one means the file mixes resolutions (InputError naming the meter
    and its first row).
    """
    on15, timed = summary["n_on15"].to_numpy(), summary["n_timed"].to_numpy()
    if timed.sum() and on15.sum() < 0.5 * timed.sum():
        first = summary[summary["n_on15"] < summary["n_timed"]].sort_values("first_row").iloc[0]
        raise InputError(f"most readings are not on a 15-, 30- or 60-minute grid; supported "
                         f"resolutions are {sources.RESOLUTIONS} minutes", file=file,
                         column="timestamp", row=int(first["first_row"]))
    quarter, half = summary["n_quarter"].to_numpy(), summary["n_half"].to_numpy()
    minutes = np.where((quarter > 0) & (4 * quarter >= on15), 15,
                       np.where((half > 0) & (4 * half >= on15), 30, 60))
    usable = (on15 >= 2) & summary["meter_id"].notna().to_numpy()
    if not usable.any():
        raise InputError("cannot detect the interval length: no meter has two readings",
                         file=file, column="timestamp")
    pool = (on15 >= 8) if (on15 >= 8).any() else usable
    votes = pd.Series(on15[pool]).groupby(minutes[pool]).sum()
    resolution = int(votes.idxmax())
    odd = summary[pool & (minutes != resolution)]
    if len(odd):
        first = odd.sort_values("first_row").iloc[0]
        odd_minutes = int(minutes[summary.index.get_loc(first.name)])
        raise InputError(
            f"the file mixes resolutions: meter {first['meter_id']} has readings {odd_minutes} "
            f"minutes apart in {first['month']:%Y-%m} where the file's resolution is "
            f"{resolution} minutes; split the file by resolution",
            file=file, column="timestamp", row=int(first["first_row"]))
    return resolution


def validation_frame(summary: pd.DataFrame, resolution: int) -> pd.DataFrame:
    """The summary as Great Expectations sees it: grid counts at the file's resolution
    and the file-wide shares."""
    on_grid = {15: summary["n_on15"],
               30: summary["n_on15"] - summary["n_quarter"],
               60: summary["n_on15"] - summary["n_quarter"] - summary["n_half"]}[resolution]
    text = summary["n_kwh_text"].sum()
    months = pd.to_datetime(summary["month"])
    return summary.assign(
        month_index=(months.dt.year * 12 + months.dt.month - 1).astype("Int64"),
        n_off_grid=summary["n_timed"] - on_grid,
        share_timestamp_parsed=summary["n_timed"].sum() / max(summary["n_readings"].sum(), 1),
        share_kwh_numeric=1 - summary["n_kwh_not_number"].sum() / text if text else 1.0,
    )[["meter_id", "month", "month_index", "first_row", "n_readings", "n_timed", "n_kwh_missing", "n_nonexistent",
       "n_off_grid", "kwh_min", "kwh_max", "share_timestamp_parsed", "share_kwh_numeric"]]


def plausible_span(now: pd.Timestamp | None = None) -> dict:
    """Month-aligned bounds of plausible timestamps: from 1990 to the end of next month."""
    now = (now or pd.Timestamp.now()).normalize()
    last = (now.replace(day=1) + pd.DateOffset(months=2))
    return {"min_local": "1990-01-01 00:00:00", "max_local": last.strftime("%Y-%m-%d 00:00:00"),
            "min_month_index": 1990 * 12, "max_month_index": last.year * 12 + last.month - 2}


def _compact_results(outcome) -> list[dict]:
    """Per expectation: type, column, success, unexpected count (no index lists)."""
    rows = []
    for res in outcome.result_json.get("results", []):
        config = res["expectation_config"]
        kwargs = config.get("kwargs", {})
        rows.append({"expectation": config["type"], "column": kwargs.get("column"),
                     "success": res["success"],
                     "unexpected_count": (res.get("result") or {}).get("unexpected_count"),
                     "reason": (config.get("meta") or {}).get("reason")})
    return rows


# ---------------------------------------------------------------- one file, end to end

def ingest_file(path: Path | str, store: ReadingsStore, *, fmt: str = "auto",
                names: sources.ColumnNames = sources.ColumnNames(), timezone: str = "Europe/London",
                max_kwh: float = 10.0, max_quarantine_share: float = MAX_QUARANTINE_SHARE) -> dict:
    """Validate one raw file and add its day vectors to the store; skip it if already ingested.

    Returns
    -------
    dict
        The ledger entry: ``sha256, path, format, resolution_min, rows_in, rows_stored,
        rows_quarantined, quarantined_by_reason, skipped`` (True when already ingested), ...

    Raises
    ------
    InputError
        Unreadable file, unknown format, missing column, mixed resolutions, another time zone,
        more than ``max_quarantine_share`` of the readings quarantined (half a file unusable is
        a wrong file or wrong settings, not a few bad readings: nothing of it is stored).
    ValidationFailed
        A table-level expectation failed (names the file and column).
    """
    options = IngestOptions(fmt=fmt, names=names, timezone=timezone, max_kwh=max_kwh,
                            max_quarantine_share=max_quarantine_share)
    path = Path(path).resolve()
    kind = sources.file_kind(path)
    sha = sha256_file(path)
    header = sources.read_header(path, kind)
    detected = sources.detect_format(header, options.fmt, options.names, str(path))
    if (entry := store.entry(sha)) is not None and read_the_same_way(entry, detected, options):
        return {**entry, "skipped": True}
    store.check_timezone(timezone)
    if entry is not None:
        store.remove(sha)   # read differently now (format, maximum...): replace it, never mix
    for stale in store.dataset_dir.glob(".ingest-*"):   # left by a killed ingestion
        shutil.rmtree(stale, ignore_errors=True)
    raw = RawFile(path=path, kind=kind, fmt=detected, header=header, sha=sha,
                  stage=store.dataset_dir / f".ingest-{sha[:16]}",
                  source=contract.source_file_name(path, store.data_root))
    shutil.rmtree(raw.stage, ignore_errors=True)
    raw.stage.mkdir(parents=True)
    try:
        entry = _ingest_staged(raw, options, store)
    finally:
        shutil.rmtree(raw.stage, ignore_errors=True)
    return {**entry, "skipped": False}


def read_the_same_way(entry: dict, fmt: str, options: IngestOptions) -> bool:
    """Whether a file already in the store was read with these settings (then it is skipped)."""
    return (entry.get("format") == fmt and entry.get("timezone") == options.timezone
            and float(entry.get("max_kwh", -1)) == float(options.max_kwh)
            and entry.get("columns", list(sources.ColumnNames().__dict__.values()))
            == list(options.names.__dict__.values()))


def _connect(stage: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for setting in ("threads TO 2", f"memory_limit = '{DUCKDB_MEMORY_LIMIT}'",
                    f"temp_directory = {sql_literal(stage / 'spill')}",
                    "preserve_insertion_order = false",
                    "TimeZone = 'UTC'"):
        con.execute(f"SET {setting}")
    return con


@dataclass
class Prepared:
    """What the summary pass learnt about a file, for the later passes."""

    summary: pd.DataFrame
    resolution: int
    suite: dict
    outcome: object
    tz: dict             # SQL of the time-zone rule (``localtime.local_time_sql``)
    utc_given: bool      # timestamps carry their own offset or zone
    span: dict           # plausible timestamps (``plausible_span``)

    def placeholders(self, options: IngestOptions) -> dict:
        return {"max_kwh": repr(float(options.max_kwh)), **self.span}


def _ingest_staged(raw: RawFile, options: IngestOptions, store: ReadingsStore) -> dict:
    staged = raw.stage / "input.parquet" if sources.needs_staging(raw.kind, raw.fmt) else None
    if staged is not None and sources.stage_long_parquet(raw.path, raw.kind, raw.fmt, raw.header,
                                                         options.names, staged) == 0:
        raise InputError("the file has a header but no readings", file=raw.name, row=2)
    with _connect(raw.stage) as con:
        prepared = _summarise_and_validate(con, raw, options, staged)
        rejected = _quarantine_pass(con, raw, prepared, options)
        days = _day_vector_pass(con, raw, prepared, options, store, rejected)
    return _commit(raw, options, store, prepared, rejected, days)


def _summarise_and_validate(con, raw: RawFile, options: IngestOptions, staged: Path | None) -> Prepared:
    """Pass 1: the (meter, month) summary, the resolution and the Great Expectations verdict."""
    from segmentation.validation import load_suite, validate_frame

    source = sources.source_sql(raw.path, raw.kind, raw.fmt, raw.header, options.names, staged)
    types = sources.source_types(con, source)
    con.execute(f"CREATE TEMP VIEW typed AS {sources.typed_sql(source, types, options.timezone)}")
    years = [r[0] for r in con.execute(
        "SELECT DISTINCT year(local) FROM typed WHERE local IS NOT NULL").fetchall()]
    utc_given = types.ts == "instant" or types.ts_offsets
    # Instants need no zone rule: no local time is ambiguous or skipped, and their offsets
    # are never read (``_utc_us_sql`` takes the instant, ``_winter_rows`` returns none).
    tz = (localtime.local_time_sql(options.timezone, years) if not utc_given
          else {"ambiguous": "FALSE", "nonexistent": "FALSE"})
    con.execute(f"CREATE TEMP VIEW readings AS SELECT *, {tz['nonexistent']} AS nonexistent, "
                f"{tz['ambiguous']} AS ambiguous, epoch_us(local) % 900000000 = 0 AS on15 "
                f"FROM typed")
    missing = ", ".join(sql_literal(m) for m in sources.MISSING_TEXT)
    summary = con.execute(SUMMARY_SQL.format(missing=missing)).df()
    if summary.empty:   # a Parquet file without rows (a CSV one is refused while staging)
        raise InputError("the file has no readings", file=raw.name)
    resolution = None
    try:
        resolution = detect_resolution(summary, raw.name)
    except InputError:
        if summary["n_timed"].sum() >= 0.5 * summary["n_readings"].sum():
            raise  # timestamps parse: the grid or resolution is the problem
    span = plausible_span()
    suite = load_suite("readings", {"max_kwh": float(options.max_kwh), "max_readings_per_month":
                                    31 * (1440 + 60) // (resolution or 15), **span})
    outcome = validate_frame(validation_frame(summary, resolution or 15), suite,
                             data_docs=True, result_format="SUMMARY")
    if failures := named_table_failures(outcome, suite):
        raise ValidationFailed(raw.name, failures)
    if resolution is None:
        resolution = detect_resolution(summary, raw.name)
    con.execute(f"CREATE TEMP VIEW checked AS SELECT *, local IS NOT NULL AND "
                f"epoch_us(local) % {resolution * MINUTE_US} <> 0 AS off_grid FROM readings")
    return Prepared(summary, resolution, suite, outcome, tz, utc_given, span)


def _rules_sql(prepared: Prepared, options: IngestOptions) -> tuple[list, list[str]]:
    rules = quarantine_rules(prepared.suite, prepared.placeholders(options))
    return rules, [f"coalesce(({sql}), FALSE)" for _, _, sql in rules]


def _utc_us_sql(prepared: Prepared) -> str:
    """UTC microseconds of a reading (summer time inside an ambiguous hour, see ``_winter_rows``)."""
    if prepared.utc_given:
        return "epoch_us(instant)"
    return f"epoch_us(local) - {MINUTE_US} * CAST({prepared.tz['offset']} AS BIGINT)"


def _csv_field_sql(expr: str) -> str:
    """A text field for a CSV line: empty when NULL, quoted when it holds a comma or a quote."""
    return (f"CASE WHEN {expr} IS NULL THEN '' WHEN {expr} LIKE '%,%' OR {expr} LIKE '%\"%' "
            f"THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END")


def quarantine_fields_sql(raw: RawFile) -> str:
    """The columns of ``store.QUARANTINE_SCHEMA`` but ``reason``, from the ``typed`` relation.

    A reading's fields as text: the meter, the timestamp and the kWh as read; values
    parsed while staging (plain timestamps and numbers) are written back in ISO form
    (``2024-01-31 00:30:00``) and as the shortest decimal of the number (``0.161``).
    ``raw_line`` is those three joined by commas (``meter_id,timestamp,kwh``), whatever the
    file's layout: a wide file's line holds every meter, a Parquet file has no lines.
    """
    fields = {"meter_id": "meter_id",
              "timestamp": "coalesce(ts_text, CAST(instant AS VARCHAR), "
                           "strftime(local, '%Y-%m-%d %H:%M:%S'))",
              "kwh": "coalesce(kwh_text, CAST(kwh AS VARCHAR))"}
    raw_line = " || ',' || ".join(_csv_field_sql(f"({expr})") for expr in fields.values())
    return (f"source_row, {raw_line} AS raw_line, {sql_literal(raw.source)} AS source_file, "
            + ", ".join(f"{expr} AS {name}" for name, expr in fields.items()))


def _quarantine_pass(con, raw: RawFile, prepared: Prepared, options: IngestOptions) -> dict:
    """Pass 2 (only when GE found failing rows): the readings each rule selects, with reasons."""
    rules, flags = _rules_sql(prepared, options)
    expected = unexpected_counts(prepared.outcome)
    target = raw.stage / "rejected.parquet"
    if not any(expected.get(key, 0) for key, _, _ in rules):
        return {"file": None, "by_reason": {}, "per_day": pd.Series(dtype="int64")}
    reason = "concat_ws('; ', " + ", ".join(
        f"CASE WHEN {flag} THEN {sql_literal(r)} END"
        for flag, (_, r, _) in zip(flags, rules)) + ")"
    rejected = sql_literal(target)
    con.execute(
        f"COPY (SELECT {quarantine_fields_sql(raw)}, {reason} AS reason, "
        f"CAST(local AS DATE) AS local_day, "
        f"coalesce(meter_id, '?') || '|' || coalesce(CAST(date_trunc('month', local) AS VARCHAR), '?') "
        f"AS month_key, {', '.join(f'{f} AS f{i}' for i, f in enumerate(flags))} "
        f"FROM checked WHERE {' OR '.join(flags)}) TO {rejected} (FORMAT parquet)")
    by_reason = dict(con.execute(f"SELECT reason, count(*) FROM read_parquet({rejected}) "
                                 f"GROUP BY reason ORDER BY reason").fetchall())
    groups = con.execute("SELECT " + ", ".join(
        f"count(DISTINCT CASE WHEN f{i} THEN month_key END)" for i in range(len(rules)))
        + f" FROM read_parquet({rejected})").fetchall()[0]
    check_groups(prepared.outcome, {key: int(n) for (key, _, _), n in zip(rules, groups)},
                 raw.name, "(meter, month) groups")
    per_day = con.execute(f"SELECT meter_id, local_day, count(*) AS n FROM read_parquet({rejected}) "
                          f"WHERE meter_id IS NOT NULL AND local_day IS NOT NULL GROUP BY ALL").df()
    return {"file": target, "by_reason": {str(k): int(v) for k, v in by_reason.items()},
            "per_day": per_day.set_index(["meter_id", "local_day"])["n"] if len(per_day)
            else pd.Series(dtype="int64")}


def _winter_rows(con, prepared: Prepared) -> np.ndarray:
    """Source rows read as winter time: per meter, the later readings at an ambiguous local time."""
    if prepared.utc_given or not int(prepared.summary["n_ambiguous"].sum()):
        return np.empty(0, dtype=np.int64)
    return np.sort(con.execute(
        "SELECT source_row FROM (SELECT source_row, row_number() OVER (PARTITION BY meter_id, local "
        "ORDER BY source_row) AS k FROM readings WHERE ambiguous) WHERE k > 1").fetchnumpy()
        ["source_row"].astype(np.int64))


@dataclass
class DayParts:
    """What the day-vector pass wrote."""

    stored: int
    losers: pd.DataFrame
    first_us: int | None
    last_us: int | None
    meters: int


class _PartWriter:
    """Staged day-vector parts, one Parquet writer per (shard, month), fed as vectors are
    flushed; rows are buffered per part up to ``PART_ROW_GROUP`` so row groups stay whole
    (memory: at most a row group per open part). Encoding and writing run on one background
    thread (pyarrow releases the GIL) while the next batch is placed; the queue is bounded."""

    def __init__(self, raw: RawFile, store: ReadingsStore, resolution: int, meter_ids: np.ndarray,
                 calendar: DayCalendar):
        self.raw, self.schema, self.slots = raw, day_schema(resolution), slots_per_day(resolution)
        self.meter_ids = pa.array(meter_ids, pa.string())
        self.dates, self.n_days = pa.array(calendar.dates()), calendar.n_days
        months = calendar.dates().astype("datetime64[M]")
        self.month_of_day = (months - months[0]).astype(np.int64)
        self.month_names = [str(m) for m in np.arange(months[0], months[-1] + 1)]
        self.shard = store.shard_of(meter_ids)
        self.quarantined: dict[int, int] = {}   # meter code x n_days + day -> readings quarantined
        self.writers: dict[tuple, pq.ParquetWriter] = {}
        self.pending: dict[tuple, list[pa.Table]] = {}
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.inflight: deque = deque()
        self.stored = 0

    def count_quarantined(self, codes: np.ndarray, days: np.ndarray) -> None:
        for key in (codes.astype(np.int64) * self.n_days + days).tolist():
            self.quarantined[key] = self.quarantined.get(key, 0) + 1

    def write(self, flushed: FlushedDays) -> None:
        if not len(flushed.meters):
            return
        q = np.zeros(len(flushed.meters), np.int64)
        if self.quarantined:
            keys = flushed.meters.astype(np.int64) * self.n_days + flushed.days
            known = np.fromiter(self.quarantined.keys(), np.int64, len(self.quarantined))
            counts = np.fromiter(self.quarantined.values(), np.int64, len(self.quarantined))
            order = np.argsort(known)
            at = np.minimum(np.searchsorted(known[order], keys), len(known) - 1)
            q = np.where(known[order][at] == keys, counts[order][at], 0)
        group = self.shard[flushed.meters] * len(self.month_names) + self.month_of_day[flushed.days]
        order = np.argsort(group, kind="stable")
        starts = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
        table = pa.table({
            "meter_id": self.meter_ids.take(pa.array(flushed.meters)),
            "day": self.dates.take(pa.array(flushed.days)),
            "n_readings": pa.array(flushed.n_readings.astype(np.int16)),
            "n_quarantined": pa.array(np.minimum(q, 32767).astype(np.int16)),
            "kwh": pa.FixedSizeListArray.from_arrays(pa.array(flushed.values.reshape(-1)), self.slots),
        }, schema=self.schema).take(pa.array(order))
        for start, end in zip(starts, np.r_[starts[1:], len(order)]):
            shard, month = divmod(int(group[order[start]]), len(self.month_names))
            self._add((shard, self.month_names[month]), table.slice(start, end - start))
        self.stored += int(flushed.n_readings.sum())

    def _add(self, key: tuple, table: pa.Table) -> None:
        pending = self.pending.setdefault(key, [])
        pending.append(table)
        if sum(t.num_rows for t in pending) >= PART_ROW_GROUP:
            self._write(key)

    def _write(self, key: tuple) -> None:
        tables = self.pending.pop(key, [])
        if not tables:
            return
        if key not in self.writers:
            shard, month = key
            path = (self.raw.stage / "days" / f"shard={shard:02d}" / f"month={month}"
                    / f"part-{self.raw.tag}.parquet")
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers[key] = pq.ParquetWriter(path, self.schema)
        while len(self.inflight) >= WRITE_QUEUE:
            self.inflight.popleft().result()
        self.inflight.append(self.pool.submit(self.writers[key].write_table,
                                              pa.concat_tables(tables), PART_ROW_GROUP * 2))

    def close(self) -> None:
        try:
            for key in list(self.pending):
                self._write(key)
            while self.inflight:
                self.inflight.popleft().result()
        finally:
            self.pool.shutdown(wait=True)
            for writer in self.writers.values():
                writer.close()


def _day_vector_pass(con, raw: RawFile, prepared: Prepared, options: IngestOptions,
                     store: ReadingsStore, rejected: dict) -> DayParts:
    """Pass 3: the readings no rule rejects, streamed into day vectors (see the module docstring)."""
    _, flags = _rules_sql(prepared, options)
    summary = prepared.summary
    meters = summary["meter_id"].dropna().unique()
    con.register("meter_list", pd.DataFrame({"meter_id": meters}))
    coded = con.execute("SELECT meter_id, hash(meter_id) AS h FROM meter_list ORDER BY h").df()
    hashes = coded["h"].to_numpy(np.uint64)
    if len(np.unique(hashes)) != len(hashes):
        raise AssertionError(f"{raw.name}: two meter ids share a 64-bit hash")
    meter_ids = coded["meter_id"].to_numpy(object)
    months = pd.to_datetime(summary["month"])
    plausible = summary[(months >= prepared.span["min_local"]) & (months < prepared.span["max_local"])]
    if plausible["local_min"].isna().all():
        raise InputError("no reading has a plausible timestamp (1990 to the end of next month)",
                         file=raw.name, column="timestamp")
    calendar = DayCalendar.spanning(plausible["local_min"].min(), plausible["local_max"].max(),
                                    options.timezone)
    res_us = prepared.resolution * MINUTE_US
    slots = slots_per_day(prepared.resolution)
    winter = _winter_rows(con, prepared)
    woff = f"coalesce(CAST({prepared.tz['winter_offset']} AS INTEGER), 0)" if len(winter) else "0"
    query = (f"SELECT hash(meter_id) AS h, epoch_us(local) AS lu, {_utc_us_sql(prepared)} AS uu, "
             f"{woff} AS woff, ambiguous AS amb, kwh, source_row FROM checked "
             f"WHERE NOT ({' OR '.join(flags)})")
    block = DayBlock(calendar.n_days, slots, capacity=min(OPEN_METERS, max(len(meters), 1)))
    writer = _PartWriter(raw, store, prepared.resolution, meter_ids, calendar)
    per_day = rejected["per_day"]
    if len(per_day):
        codes = pd.Series(np.arange(len(meter_ids)), index=meter_ids)
        found = per_day.index.get_level_values(0).isin(codes.index)
        day_index = ((pd.to_datetime(per_day.index.get_level_values(1)) - calendar.first_day)
                     // pd.Timedelta(days=1)).to_numpy()
        inside = found & (day_index >= 0) & (day_index < calendar.n_days)
        codes_q = codes.reindex(per_day.index.get_level_values(0)[inside]).to_numpy()
        writer.count_quarantined(np.repeat(codes_q, per_day.to_numpy()[inside]),
                                 np.repeat(day_index[inside], per_day.to_numpy()[inside]))
    losers, first, last = [], None, None
    try:
        for batch in con.sql(query).to_arrow_reader(BATCH_ROWS):
            code = codes_of(batch.column("h").to_numpy(), hashes)
            local_us = batch.column("lu").to_numpy()
            utc_us = batch.column("uu").to_numpy().copy()
            rows = batch.column("source_row").to_numpy().astype(np.int64)
            if len(winter):
                amb = np.flatnonzero(batch.column("amb").to_numpy(zero_copy_only=False))
                late = amb[np.isin(rows[amb], winter)]
                utc_us[late] = (local_us[late]
                                - batch.column("woff").to_numpy()[late].astype(np.int64) * MINUTE_US)
            day = calendar.day_of(local_us)
            slot = (utc_us - calendar.start_us[day]) // res_us
            first = min(first, int(utc_us.min())) if first is not None else int(utc_us.min())
            last = max(last, int(utc_us.max())) if last is not None else int(utc_us.max())
            flushed, lost = block.add(code, day, slot, batch.column("kwh").to_numpy(), rows)
            if len(lost):
                losers.append(lost)
                writer.count_quarantined(lost["meter"].to_numpy(), lost["day"].to_numpy())
            for part in flushed:
                writer.write(part)
        for part in block.flush_all():
            writer.write(part)
    finally:
        writer.close()
    lost = pd.concat(losers, ignore_index=True) if losers else pd.DataFrame()
    return DayParts(stored=writer.stored, losers=_loser_rows(con, lost, raw, meter_ids),
                    first_us=first, last_us=last, meters=len(meters))


def codes_of(hashes_of_rows: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Meter code of each row from its id's hash; looked up once per run of equal hashes
    (a file sorted by meter has a few runs per batch)."""
    if not len(hashes_of_rows):
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, hashes_of_rows[1:] != hashes_of_rows[:-1]])
    lengths = np.diff(np.r_[starts, len(hashes_of_rows)])
    return np.repeat(np.searchsorted(hashes, hashes_of_rows[starts]), lengths)


def _loser_rows(con, lost: pd.DataFrame, raw: RawFile, meter_ids: np.ndarray) -> pd.DataFrame:
    """Duplicate losers as quarantine rows, with their fields as read: looked up by
    (row, meter) in the file, one more scan only when the file has duplicates."""
    if lost.empty:
        return QUARANTINE_SCHEMA.empty_table().to_pandas()
    exact = lost["kwh"].to_numpy() == lost["winner_kwh"].to_numpy()
    keys = pd.DataFrame({"source_row": lost["source_row"].to_numpy(np.int64),
                         "meter_id": meter_ids[lost["meter"].to_numpy()].astype(str),
                         "reason": np.where(exact, EXACT_DUPLICATE, CONFLICTING_DUPLICATE)})
    con.register("losers", keys)
    try:
        found = con.execute(f"SELECT {quarantine_fields_sql(raw)}, l.reason FROM typed "
                            "JOIN losers l USING (source_row, meter_id)").df()
    finally:
        con.unregister("losers")
    if len(found) != len(keys):
        raise AssertionError(f"{raw.name}: {len(keys)} duplicate readings, {len(found)} found again")
    return found[QUARANTINE_SCHEMA.names]


def _commit(raw: RawFile, options: IngestOptions, store: ReadingsStore, prepared: Prepared,
            rejected: dict, days: DayParts) -> dict:
    """The quarantine part and the ledger entry; readings in must equal stored + quarantined."""
    summary = prepared.summary
    frames = [days.losers]
    if rejected["file"] is not None:
        frames.insert(0, pd.read_parquet(rejected["file"], columns=QUARANTINE_SCHEMA.names))
    quarantine = pd.concat([f for f in frames if len(f)], ignore_index=True) \
        if any(len(f) for f in frames) else QUARANTINE_SCHEMA.empty_table().to_pandas()
    quarantine = quarantine.sort_values("source_row", kind="stable")
    pq.write_table(pa.Table.from_pandas(quarantine, schema=QUARANTINE_SCHEMA, preserve_index=False),
                   raw.stage / f"part-{raw.tag}.parquet")
    by_reason = dict(rejected["by_reason"])
    for reason, n in days.losers["reason"].value_counts().items():
        by_reason[str(reason)] = by_reason.get(str(reason), 0) + int(n)
    rows_in = int(summary["n_readings"].sum())
    quarantined = sum(by_reason.values())
    refuse_mostly_quarantined(by_reason, quarantined, rows_in, options.max_quarantine_share,
                              unit="readings", file=raw.name,
                              hint="check the format, time zone and columns; nothing of the file "
                                   "was stored")
    if rows_in != days.stored + quarantined:
        raise AssertionError(f"ingest accounting does not reconcile for {raw.name}: {rows_in} in, "
                             f"{days.stored} stored, {quarantined} quarantined")
    span = {"first_reading_utc": None if days.first_us is None else
            pd.Timestamp(days.first_us, unit="us", tz="UTC").isoformat(),
            "last_reading_utc": None if days.last_us is None else
            pd.Timestamp(days.last_us, unit="us", tz="UTC").isoformat()}
    entry = {"sha256": raw.sha, "path": raw.name, "format": raw.fmt, "kind": raw.kind,
             "timezone": options.timezone, "resolution_min": prepared.resolution,
             "seq": time.time_ns(), "rows_in": rows_in, "rows_stored": days.stored,
             "rows_quarantined": quarantined, "quarantined_by_reason": dict(sorted(by_reason.items())),
             "max_kwh": options.max_kwh, "columns": list(options.names.__dict__.values()),
             "meters": days.meters, **span,
             "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    validation = {"sha256": raw.sha, "file": raw.name, "validated": "per (meter, month) summary",
                  "rows": int(len(summary)), "statistics": prepared.outcome.statistics,
                  "expectations": _compact_results(prepared.outcome)}
    return store.commit(raw.stage, raw.sha, entry, validation, prepared.outcome.data_docs_html)
