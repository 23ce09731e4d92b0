"""The processed readings store and ingestion of one raw file into it.

Layout under ``<data-root>/processed/<dataset>/``::

    readings/_store.json                      number of shards (fixed when created)
    readings/shard=NN/part-<sha16>_<i>.parquet  readings of the meters hashed to shard NN
                                                (meter_id, timestamp UTC, kwh, source_row)
    readings/_ledger/<sha256>.json              one entry per ingested file: counts, resolution
    readings_quarantine/part-<sha16>.parquet    readings rejected at ingestion, with reasons
    readings_validation/<sha16>.json            Great Expectations results of the file
    readings_validation/<sha16>/validation.html their Data Docs page

A meter always lands in the same shard (crc32 of its id), so the feature
step reads one shard at a time, and a nightly increment only adds parts.
A file whose sha256 is already in the ledger is skipped.

Ingestion is DuckDB SQL over the file (CSV and wide files are first streamed
into a staged long Parquet file), in a few streaming passes with memory
bounded by DuckDB's limit, never by the file's size:

1. summary: one row per (meter, local month): counts, kWh range, DST and grid
   counts. Great Expectations validates it (``expectations/readings.json``);
   the resolution is detected from it.
2. the readings failing a rule go to the quarantine part with their reasons;
3. the others, converted to UTC by the time-zone rule, are written to the shards.

Parts are written to a staging folder and moved in only when the whole file
has been read and validated, then its ledger entry is written: a failed file
leaves nothing behind, and re-ingesting after a crash rewrites the same parts.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from segmentation.errors import InputError, ValidationFailed
from segmentation.io import sha256_file, write_json_atomic, write_text_atomic
from segmentation.meters import ingest

DEFAULT_SHARDS = 16
READING_SCHEMA = pa.schema([("meter_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
                            ("kwh", pa.float64()), ("source_row", pa.int64())])
QUARANTINE_SCHEMA = pa.schema([
    ("source_file", pa.string()), ("source_row", pa.int64()), ("meter_id", pa.string()),
    ("timestamp_raw", pa.string()), ("kwh_raw", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")), ("kwh", pa.float64()), ("reason", pa.string())])
DUCKDB_MEMORY_LIMIT = "1GB"  # DuckDB spills to disk beyond this: ingestion memory stays flat


class ReadingsStore:
    """Paths and ledger of one dataset's readings store."""

    def __init__(self, dataset_dir: Path, n_shards: int = DEFAULT_SHARDS):
        self.dataset_dir = Path(dataset_dir)
        self.root = self.dataset_dir / "readings"
        self.quarantine_dir = self.dataset_dir / "readings_quarantine"
        self.validation_dir = self.dataset_dir / "readings_validation"
        meta = self.root / "_store.json"
        if meta.exists():
            self.n_shards = int(json.loads(meta.read_text())["n_shards"])
        else:
            self.n_shards = n_shards

    def _ensure(self) -> None:
        meta = self.root / "_store.json"
        if not meta.exists():
            write_json_atomic({"n_shards": self.n_shards, "layout": "shard=NN/part-<sha16>.parquet"},
                              meta)

    def shard_of(self, meter_ids) -> np.ndarray:
        """Stable shard number of each (distinct) meter id: crc32 modulo the shard count."""
        return np.array([zlib.crc32(str(m).encode()) % self.n_shards for m in meter_ids],
                        dtype=np.int64)

    def shard_glob(self, shard: int) -> str:
        return str(self.root / f"shard={shard:02d}" / "*.parquet")

    def part_entries(self) -> dict[str, dict]:
        """Part-name prefix (``part-<sha16>``) -> ledger entry of the file it came from."""
        return {f"part-{sha[:16]}": entry for sha, entry in self.ledger().items()}

    def shards(self) -> list[int]:
        """Shards holding at least one part."""
        return sorted(int(p.name.split("=")[1]) for p in self.root.glob("shard=*")
                      if any(p.glob("*.parquet")))

    def ledger(self) -> dict[str, dict]:
        """sha256 -> entry of every ingested file."""
        return {p.stem: json.loads(p.read_text()) for p in sorted((self.root / "_ledger").glob("*.json"))}

    def entry(self, sha: str) -> dict | None:
        path = self.root / "_ledger" / f"{sha}.json"
        return json.loads(path.read_text()) if path.exists() else None



# ---------------------------------------------------------------- ingestion of one file

SUMMARY_SQL = """
SELECT meter_id, CAST(date_trunc('month', local) AS DATE) AS month, min(source_row) AS first_row,
       count(*) AS n_readings, count(local) AS n_timed, count_if(kwh IS NULL) AS n_kwh_missing,
       count(kwh_text) AS n_kwh_text, count_if(kwh IS NULL AND kwh_text IS NOT NULL
           AND lower(kwh_text) NOT IN ({missing})) AS n_kwh_not_number,
       min(kwh) AS kwh_min, max(kwh) AS kwh_max, count_if(nonexistent) AS n_nonexistent,
       count_if(ambiguous) AS n_ambiguous, count_if(on15) AS n_on15,
       count_if(on15 AND minute(local) IN (15, 45)) AS n_quarter,
       count_if(on15 AND minute(local) = 30) AS n_half
FROM readings GROUP BY ALL
"""


def _connect(stage: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for setting in ("threads TO 2", f"memory_limit = '{DUCKDB_MEMORY_LIMIT}'",
                    f"temp_directory = '{stage / 'spill'}'", "preserve_insertion_order = false",
                    "TimeZone = 'UTC'"):
        con.execute(f"SET {setting}")
    return con


def detect_resolution(summary: pd.DataFrame, file: str) -> int:
    """The file's interval length in minutes, from the minutes of its readings.

    Per (meter, month): 15 when a quarter of the on-grid readings fall at :15
    or :45, else 30 when a quarter fall at :30, else 60. The file's resolution
    is the one most readings vote for; a month of eight readings or more at
    another one means the file mixes resolutions (InputError naming the meter
    and its first row).
    """
    on15, timed = summary["n_on15"].to_numpy(), summary["n_timed"].to_numpy()
    if timed.sum() and on15.sum() < 0.5 * timed.sum():
        first = summary[summary["n_on15"] < summary["n_timed"]].sort_values("first_row").iloc[0]
        raise InputError(f"most readings are not on a 15-, 30- or 60-minute grid; supported "
                         f"resolutions are {ingest.RESOLUTIONS} minutes", file=file,
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
    return summary.assign(
        n_off_grid=summary["n_timed"] - on_grid,
        share_timestamp_parsed=summary["n_timed"].sum() / max(summary["n_readings"].sum(), 1),
        share_kwh_numeric=1 - summary["n_kwh_not_number"].sum() / text if text else 1.0,
    )[["meter_id", "month", "first_row", "n_readings", "n_timed", "n_kwh_missing", "n_nonexistent",
       "n_off_grid", "kwh_min", "kwh_max", "share_timestamp_parsed", "share_kwh_numeric"]]


def reading_rules(suite: dict, max_kwh: float) -> list[tuple[str, str, str]]:
    """(expectation type + column, reason, SQL predicate on one reading) of each quarantine rule."""
    rules = []
    for exp in suite["expectations"]:
        meta = exp.get("meta") or {}
        if meta.get("quarantine_when"):
            key = f"{exp['type']}:{exp['kwargs'].get('column')}"
            rules.append((key, meta["reason"], meta["quarantine_when"].replace("$max_kwh", repr(max_kwh))))
    return rules


def table_failures(outcome, suite: dict) -> list[dict]:
    """Failed table-level expectations, named by the file's column."""
    source = {(e["type"], e["kwargs"].get("column")): (e.get("meta") or {}) for e in suite["expectations"]}
    failures = []
    for failure in outcome.table_failures:
        meta = source.get((failure["expectation"], failure["column"]), {})
        failures.append({**failure, "column": meta.get("source_column", failure["column"]),
                         "detail": "; ".join(filter(None, [meta.get("reason"), failure.get("detail")]))})
    return failures


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


def ingest_file(path: Path | str, store: ReadingsStore, *, fmt: str = "auto",
                names: ingest.ColumnNames = ingest.ColumnNames(), timezone: str = "Europe/London",
                max_kwh: float = 10.0) -> dict:
    """Validate one raw file and add its readings to the store; skip it if already ingested.

    Returns
    -------
    dict
        The ledger entry: ``sha256, path, format, resolution_min, rows_in, rows_stored,
        rows_quarantined, quarantined_by_reason, skipped`` (True when already ingested).

    Raises
    ------
    InputError
        Unreadable file, unknown format, missing column, mixed resolutions.
    ValidationFailed
        A table-level expectation failed (names the file and column).
    """
    path = Path(path).resolve()
    file = str(path)
    kind = ingest.file_kind(path)
    sha = sha256_file(path)
    if (entry := store.entry(sha)) is not None:
        return {**entry, "skipped": True}
    header = ingest.read_header(path, kind)
    fmt = ingest.detect_format(header, fmt, names, file)
    stage = store.dataset_dir / f".ingest-{sha[:16]}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        entry = _ingest_staged(path, kind, fmt, header, names, timezone, max_kwh, store, stage, sha)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {**entry, "skipped": False}


def _ingest_staged(path, kind, fmt, header, names, timezone, max_kwh, store, stage, sha) -> dict:
    from segmentation.validation import load_suite, validate_frame

    file = str(path)
    staged = stage / "input.parquet" if ingest.needs_staging(kind, fmt) else None
    if staged is not None and ingest.stage_long_parquet(path, kind, fmt, header, names, staged) == 0:
        raise InputError("the file has a header but no readings", file=file, row=2)
    with _connect(stage) as con:
        source = ingest.source_sql(path, kind, fmt, header, names, staged)
        types = ingest.source_types(con, source)
        con.execute(f"CREATE TEMP VIEW typed AS {ingest.typed_sql(source, types, timezone)}")
        years = [r[0] for r in con.execute(
            "SELECT DISTINCT year(local) FROM typed WHERE local IS NOT NULL").fetchall()]
        tz = (ingest.local_time_sql(timezone, years) if types.ts != "instant" and not types.ts_offsets
              else {"offset": "0", "winter_offset": "0", "ambiguous": "FALSE", "nonexistent": "FALSE"})
        con.execute(f"CREATE TEMP VIEW readings AS SELECT *, {tz['nonexistent']} AS nonexistent, "
                    f"{tz['ambiguous']} AS ambiguous, epoch_us(local) % 900000000 = 0 AS on15 "
                    f"FROM typed")
        missing = ", ".join(ingest.sql_literal(m) for m in ingest.MISSING_TEXT)
        summary = con.execute(SUMMARY_SQL.format(missing=missing)).df()
        if summary.empty or int(summary["n_readings"].sum()) == 0:
            raise InputError("the file has a header but no readings", file=file, row=2)
        resolution = None
        try:
            resolution = detect_resolution(summary, file)
        except InputError:
            if summary["n_timed"].sum() >= 0.5 * summary["n_readings"].sum():
                raise  # timestamps parse: the grid or resolution is the problem
        suite = load_suite("readings", {"max_kwh": float(max_kwh), "max_readings_per_month":
                                        31 * (1440 + 60) // (resolution or 15)})
        outcome = validate_frame(validation_frame(summary, resolution or 15), suite,
                                 data_docs=True, result_format="SUMMARY")
        if failures := table_failures(outcome, suite):
            raise ValidationFailed(file, failures)
        if resolution is None:
            resolution = detect_resolution(summary, file)
        counts = _write_parts(con, store, stage, sha, file, summary, reading_rules(suite, max_kwh),
                              resolution, tz, utc_given=types.ts == "instant" or types.ts_offsets)
    _check_against_expectations(outcome, counts["groups_by_rule"], file)
    return _commit(store, stage, sha, path, fmt, kind, timezone, resolution, max_kwh, summary,
                   outcome, counts)


def _offset_sql(con, tz: dict, ambiguous_rows: int) -> str:
    """Minutes east of UTC of a reading's local time, by the time-zone rule (see ``ingest``)."""
    if not ambiguous_rows:
        return tz["offset"]
    # Per meter, the first reading at an ambiguous local time is summer time, later ones winter.
    con.execute("CREATE TEMP TABLE winter_rows AS SELECT source_row FROM (SELECT source_row, "
                "row_number() OVER (PARTITION BY meter_id, local ORDER BY source_row) AS k "
                "FROM readings WHERE ambiguous) WHERE k > 1")
    return (f"CASE WHEN ambiguous AND source_row IN (SELECT source_row FROM winter_rows) "
            f"THEN {tz['winter_offset']} ELSE {tz['offset']} END")


def _utc_sql(offset: str | None, *, whole_seconds: bool) -> str:
    """UTC instant of a reading: ``instant`` when the file gives it (``offset`` None), else
    local time minus the offset. On-grid readings are whole seconds, where ``to_timestamp``
    is exact and avoids a per-row time-zone library call, the costliest step of the write."""
    if offset is None:
        return "instant"
    seconds = "epoch_us(local) // 1000000" if whole_seconds else "epoch_us(local) / 1e6"
    return f"to_timestamp({seconds} - 60 * CAST({offset} AS BIGINT))"


def _write_parts(con, store: ReadingsStore, stage: Path, sha: str, file: str, summary: pd.DataFrame,
                 rules: list[tuple[str, str, str]], resolution: int, tz: dict, utc_given: bool) -> dict:
    """Quarantine part and shard parts of one file into ``stage``; their counts."""
    con.execute(f"CREATE TEMP VIEW checked AS SELECT *, local IS NOT NULL AND "
                f"epoch_us(local) % {resolution * 60_000_000} <> 0 AS off_grid FROM readings")
    flags = [f"coalesce(({sql}), FALSE)" for _, _, sql in rules]
    failed = " OR ".join(flags)
    reason = "concat_ws('; ', " + ", ".join(
        f"CASE WHEN {flag} THEN {ingest.sql_literal(r)} END" for flag, (_, r, _) in zip(flags, rules)) + ")"
    offset = None if utc_given else _offset_sql(con, tz, int(summary["n_ambiguous"].sum()))
    rejected = stage / "rejected.parquet"
    con.execute(
        f"COPY (SELECT {ingest.sql_literal(file)} AS source_file, source_row, meter_id, "
        f"coalesce(ts_text, strftime(local, '%Y-%m-%d %H:%M:%S')) AS timestamp_raw, "
        f"kwh_text AS kwh_raw, CASE WHEN local IS NULL OR nonexistent THEN NULL ELSE {_utc_sql(offset, whole_seconds=False)} END "
        f"AS timestamp, kwh, {reason} AS reason, "
        f"coalesce(meter_id, '?') || '|' || coalesce(CAST(date_trunc('month', local) AS VARCHAR), '?') "
        f"AS month_key, {', '.join(f'{f} AS f{i}' for i, f in enumerate(flags))} "
        f"FROM checked WHERE {failed}) TO '{rejected}' (FORMAT parquet)")
    meters = summary["meter_id"].dropna().unique()
    con.register("meter_shards", pd.DataFrame({"meter_id": meters, "shard": store.shard_of(meters)}))
    stored = con.execute(
        f"COPY (SELECT meter_id, timestamp, kwh, source_row, shard FROM (SELECT meter_id, "
        f"{_utc_sql(offset, whole_seconds=True)} AS timestamp, kwh, source_row FROM checked WHERE NOT ({failed})) "
        f"JOIN meter_shards USING (meter_id)) "
        f"TO '{stage / 'readings'}' (FORMAT parquet, PARTITION_BY (shard), "
        f"FILENAME_PATTERN 'part-{sha[:16]}_{{i}}')").fetchall()[0][0]
    by_reason = dict(con.execute(f"SELECT reason, count(*) FROM read_parquet('{rejected}') "
                                 f"GROUP BY reason ORDER BY reason").fetchall())
    groups = con.execute("SELECT " + ", ".join(
        f"count(DISTINCT CASE WHEN f{i} THEN month_key END)" for i in range(len(rules)))
        + f" FROM read_parquet('{rejected}')").fetchall()[0]
    con.execute(f"COPY (SELECT {', '.join(QUARANTINE_SCHEMA.names)} FROM read_parquet('{rejected}') "
                f"ORDER BY source_row) TO '{stage / f'part-{sha[:16]}.parquet'}' (FORMAT parquet)")
    return {"stored": int(stored), "by_reason": {str(k): int(v) for k, v in by_reason.items()},
            "groups_by_rule": {key: int(n) for (key, _, _), n in zip(rules, groups)}}


def _check_against_expectations(outcome, groups_by_rule: dict[str, int], file: str) -> None:
    """Great Expectations' unexpected (meter, month) rows must be the groups quarantined by the
    matching reading rule: the suite and the rules cannot drift apart silently."""
    for res in outcome.result_json.get("results", []):
        config = res["expectation_config"]
        key = f"{config['type']}:{config.get('kwargs', {}).get('column')}"
        if key in groups_by_rule:
            found = int((res.get("result") or {}).get("unexpected_count") or 0)
            if found != groups_by_rule[key]:
                raise AssertionError(f"{file}: {key} found {found} (meter, month) groups, the "
                                     f"quarantine rule {groups_by_rule[key]}")


def _commit(store, stage, sha, path, fmt, kind, timezone, resolution, max_kwh, summary,
            outcome, counts) -> dict:
    """Move the staged parts in, then write the ledger entry (last: it marks the file done)."""
    file, tag = str(path), sha[:16]
    rows_in = int(summary["n_readings"].sum())
    quarantined = sum(counts["by_reason"].values())
    if rows_in != counts["stored"] + quarantined:
        raise AssertionError(f"ingest accounting does not reconcile for {file}: {rows_in} in, "
                             f"{counts['stored']} stored, {quarantined} quarantined")
    store._ensure()
    for shard_dir in sorted((stage / "readings").glob("shard=*")):
        target = store.root / f"shard={int(shard_dir.name.split('=')[1]):02d}"
        target.mkdir(parents=True, exist_ok=True)
        for part in sorted(shard_dir.glob("*.parquet")):
            os.replace(part, target / part.name)
    store.quarantine_dir.mkdir(parents=True, exist_ok=True)
    os.replace(stage / f"part-{tag}.parquet", store.quarantine_dir / f"part-{tag}.parquet")
    docs = store.validation_dir / tag
    write_text_atomic(outcome.data_docs_html, docs / "validation.html")
    results = store.validation_dir / f"{tag}.json"
    write_json_atomic({"sha256": sha, "file": file, "validated": "per (meter, month) summary",
                       "rows": int(len(summary)), "statistics": outcome.statistics,
                       "expectations": _compact_results(outcome)}, results)
    entry = {"sha256": sha, "path": file, "format": fmt, "kind": kind, "timezone": timezone,
             "resolution_min": resolution, "seq": time.time_ns(), "rows_in": rows_in,
             "rows_stored": counts["stored"], "rows_quarantined": quarantined,
             "quarantined_by_reason": counts["by_reason"], "max_kwh": max_kwh,
             "meters": int(summary["meter_id"].nunique()), "validation": str(results),
             "data_docs": str(docs), "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json_atomic(entry, store.root / "_ledger" / f"{sha}.json")
    return entry
