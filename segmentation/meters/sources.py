"""Read interval readings from long, London (LCL) or wide files as one relation for DuckDB.

Formats (``format="auto"`` decides from the header):

- ``long``: one row per reading, columns ``meter_id, timestamp, kwh`` (names
  configurable with ``ColumnNames``).
- ``lcl``: the Low Carbon London files verbatim:
  ``LCLid,stdorToU,DateTime,KWH/hh (per half hour) `` (the last name ends in a
  space; missing readings are the text ``Null``).
- ``wide``: a timestamp column and one column per meter.

Files may be CSV, gzip-compressed CSV or Parquet (recognised by content, not
name). Every file becomes the same canonical long relation for DuckDB
(``source_row, meter_raw, ts_raw, kwh_raw``): long Parquet is read in place;
CSV and wide files are first streamed, batch by batch, into a staged long
Parquet file (``stage_long_parquet``), which parses the plain timestamps and
numbers in Arrow once, so DuckDB's passes do not parse the same text again.
``typed_sql`` then types the relation in SQL: naive timestamps are local time
in ``timezone``.

The time-zone rule itself is ``segmentation.meters.localtime``.
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segmentation.errors import InputError
from segmentation.filecheck import scan_text
from segmentation.io import sql_literal
from segmentation.lines import LineCounter

FORMATS = ("auto", "long", "lcl", "wide")
RESOLUTIONS = (15, 30, 60)
BATCH_ROWS = 1_000_000  # rows per batch when staging Parquet wide files
CSV_BLOCK = 64 << 20   # bytes per batch when staging CSV files
LCL_METER, LCL_TIME, LCL_KWH = "LCLid", "DateTime", "KWH/hh (per half hour) "
CANONICAL = ["source_row", "meter_raw", "ts_raw", "kwh_raw"]
# A staged file also carries the values parsed while staging; ts_raw / kwh_raw then keep
# text only where parsing failed, for DuckDB to read (or quarantine) as before.
STAGED = CANONICAL + ["ts_value", "kwh_value"]
MISSING_TEXT = ("", "null", "na", "nan", "none", "n/a", "-")
HEADER_LIMIT = 64 << 20  # bytes: a first line longer than this is no header
LINE_END = re.compile(rb"[\r\n]")
_OFFSET_RE = re.compile(r"(?:Z|[+-]\d\d:?\d\d)\s*$")


@dataclass(frozen=True)
class ColumnNames:
    """Names of the meter, timestamp and kWh columns in long and wide files."""

    meter: str = "meter_id"
    timestamp: str = "timestamp"
    kwh: str = "kwh"


# ---------------------------------------------------------------- file type and format

def file_kind(path: Path) -> str:
    """``parquet``, ``csv.gz`` or ``csv`` from the first bytes; InputError otherwise."""
    if not path.is_file():
        raise InputError("file not found (check the --input path)", file=str(path))
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head:
        raise InputError("the file is empty: expected a header line and readings", file=str(path))
    if head == b"PAR1":
        return "parquet"
    if head[:2] == b"\x1f\x8b":
        return "csv.gz"
    if path.suffix.lower() in (".csv", ".txt", ".tsv") or b"\x00" not in head:
        return "csv"
    raise InputError("unknown file type: expected CSV, gzip-compressed CSV or Parquet",
                     file=str(path))


def read_header(path: Path, kind: str) -> list[str]:
    """Column names as written (no stripping: the LCL kWh name ends in a space)."""
    if kind == "parquet":
        return list(pq.read_schema(path).names)
    try:
        # The first line's bytes only: a text reader would decode a block ahead and blame the
        # header for a bad byte further down (that one is named by its line when staging).
        opener = gzip.open if kind == "csv.gz" else open
        with opener(path, "rb") as handle:
            line = _first_line(handle, str(path)).decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the header ({err}); is the file truncated or not UTF-8?",
                         file=str(path), row=1) from None
    if not line.strip():
        raise InputError("the file is empty: expected a header line and readings",
                         file=str(path), row=1)
    return next(csv.reader([line]))


def _first_line(handle, file: str) -> bytes:
    """The bytes before the first line end (``\\n``, ``\\r``), read in blocks: a wide file's
    header holds every meter's name, so it may be long, but not without bound."""
    parts: list[bytes] = []
    read = 0
    while block := handle.readline(1 << 16):     # up to a \n, or 64 KiB of a long line
        end = LINE_END.search(block)
        if end:
            parts.append(block[:end.start()])
            break
        parts.append(block)
        read += len(block)
        if read > HEADER_LIMIT:
            raise InputError(f"the first line is longer than {HEADER_LIMIT / 2**20:g} MiB: expected "
                             "a header line of column names", file=file, row=1)
    return b"".join(parts)


def detect_format(header: list[str], requested: str, names: ColumnNames, file: str) -> str:
    """The format to read ``header`` with; InputError naming the missing column otherwise."""
    if requested not in FORMATS:
        raise InputError(f"unknown format '{requested}': use one of {', '.join(FORMATS)}", file=file)
    stripped = [h.strip() for h in header]
    if requested == "lcl" or (requested == "auto" and LCL_METER in stripped):
        for column in (LCL_METER, LCL_TIME, LCL_KWH):
            if column.strip() not in stripped:
                raise InputError(f"LCL format needs columns {LCL_METER}, {LCL_TIME}, "
                                 f"'{LCL_KWH}'; found {header}", file=file, column=column, row=1)
        return "lcl"
    if requested == "long" or (requested == "auto" and names.meter in header):
        for column in (names.meter, names.timestamp, names.kwh):
            if column not in header:
                raise InputError(f"long format needs columns {names.meter}, {names.timestamp}, "
                                 f"{names.kwh}; found {header}", file=file, column=column, row=1)
        return "long"
    if requested == "wide" or (requested == "auto" and names.timestamp in header):
        if names.timestamp not in header:
            raise InputError(f"wide format needs a '{names.timestamp}' column; found {header}",
                             file=file, column=names.timestamp, row=1)
        if len(header) < 2:
            raise InputError("wide format needs one column per meter besides the timestamp",
                             file=file, row=1)
        return "wide"
    raise InputError(f"cannot tell the format from the header {header}: expected long "
                     f"({names.meter}, {names.timestamp}, {names.kwh}), LCL ({LCL_METER}, ...) "
                     f"or wide ({names.timestamp} + one column per meter); pass --format",
                     file=file, row=1)


# ---------------------------------------------------------------- the canonical long relation

def _column_map(fmt: str, header: list[str], names: ColumnNames) -> dict[str, str]:
    """Source column -> canonical name for long and LCL files."""
    if fmt == "lcl":
        by_stripped = {h.strip(): h for h in header}
        return {by_stripped[LCL_METER.strip()]: "meter_raw", by_stripped[LCL_TIME]: "ts_raw",
                by_stripped[LCL_KWH.strip()]: "kwh_raw"}
    return {names.meter: "meter_raw", names.timestamp: "ts_raw", names.kwh: "kwh_raw"}


def _batches(path: Path, kind: str, columns: list[str]
             ) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """Batches of ``columns`` (CSV cells as text), each with its rows' ``source_row``: the
    1-based Parquet row, or the CSV line (header = 1; Arrow skips empty lines, ``LineCounter``
    counts them back in). InputError for unreadable files."""
    file = str(path)
    try:
        if kind == "parquet":
            first = 1
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
                yield batch, np.arange(first, first + batch.num_rows, dtype=np.int64)
                first += batch.num_rows
            return
        compression = "gzip" if kind == "csv.gz" else None
        with LineCounter(pa.input_stream(path, compression=compression)) as lines:
            reader = pacsv.open_csv(
                lines,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK, encoding="utf8"),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    include_columns=columns, column_types={c: pa.string() for c in columns},
                    strings_can_be_null=False))
            ordinal = 2                  # Arrow's rows after the header, empty lines skipped
            for batch in reader:
                yield batch, lines.physical(np.arange(ordinal, ordinal + batch.num_rows))
                ordinal += batch.num_rows
    except (OSError, EOFError, zlib.error, pa.ArrowInvalid) as err:
        text = str(err).splitlines()[0]
        if "invalid UTF8" in text or re.search(r"Expected \d+ columns, got \d+", text):
            # The preflight's pass names the bad byte's or the ragged line (runs that skipped
            # the preflight, e.g. from the Prefect UI, get the same sentence here).
            scan_text(path, compressed=kind == "csv.gz", fields=True)
        hint = ("the gzip stream is truncated or corrupt" if kind == "csv.gz" and
                "parse error" not in text.lower() else "the file cannot be parsed")
        raise InputError(f"{hint}: {text}", file=file) from None


def _long_batch(batch: pa.RecordBatch, source_rows: np.ndarray, fmt: str, mapping: dict | None,
                ts_column: str) -> pa.Table:
    """One batch in staged long form (``STAGED``); wide batches are melted meter by meter."""
    rows = pa.array(source_rows, pa.int64())
    if fmt != "wide":
        table = pa.Table.from_batches([batch]).rename_columns([mapping[c] for c in batch.schema.names])
        table = table.append_column("source_row", rows)
        return _parsed(table["source_row"], table["meter_raw"], table["ts_raw"], table["kwh_raw"])
    meters = [c for c in batch.schema.names if c != ts_column]
    n = batch.num_rows
    return _parsed(pa.concat_arrays([rows] * len(meters)),
                   pa.array(np.repeat(np.array(meters, dtype=object), n), pa.string()),
                   pa.concat_arrays([batch.column(ts_column)] * len(meters)),
                   pa.concat_arrays([batch.column(m) for m in meters]))


def _parsed(source_row, meter, ts, kwh) -> pa.Table:
    """Plain timestamps (``YYYY-MM-DD HH:MM:SS``, a ``T``, zero fractions) and numbers parsed
    in Arrow; anything else stays text for DuckDB's SQL (offsets, dates, "Null", typos)."""
    null_ts = pa.nulls(len(ts), pa.timestamp("us"))
    if pa.types.is_timestamp(ts.type) and ts.type.tz is None:
        ts_value, ts_text = pc.cast(ts, pa.timestamp("us")), pa.nulls(len(ts), pa.string())
    elif pa.types.is_string(ts.type) or pa.types.is_large_string(ts.type):
        trimmed = pc.utf8_trim_whitespace(ts)
        head = pc.utf8_slice_codeunits(trimmed, 0, 19)
        tail = pc.utf8_ltrim(pc.utf8_ltrim(pc.utf8_slice_codeunits(trimmed, 19), "."), "0")
        parsed = pc.strptime(head, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
        if parsed.null_count > ts.null_count:   # ISO with a T: only then pay for a second parse
            parsed = pc.coalesce(parsed, pc.strptime(head, format="%Y-%m-%dT%H:%M:%S", unit="us",
                                                     error_is_null=True))
        ok = pc.fill_null(pc.and_(pc.is_valid(parsed), pc.equal(tail, "")), False)
        ts_value = pc.if_else(ok, parsed, null_ts)
        ts_text = pc.if_else(ok, pa.nulls(len(ts), pa.string()), pc.cast(ts, pa.string()))
    else:
        ts_value, ts_text = null_ts, pc.cast(ts, pa.string())
    if pa.types.is_integer(kwh.type) or pa.types.is_floating(kwh.type) or pa.types.is_decimal(kwh.type):
        kwh_value, kwh_text = pc.cast(kwh, pa.float64()), pa.nulls(len(kwh), pa.string())
    else:
        text = pc.utf8_trim_whitespace(pc.cast(kwh, pa.string()))
        marker = pc.is_in(pc.utf8_lower(text), value_set=pa.array(MISSING_TEXT))
        try:
            kwh_value = pc.cast(pc.if_else(marker, pa.nulls(len(kwh), pa.string()), text), pa.float64())
            kwh_text = pc.if_else(marker, text, pa.nulls(len(kwh), pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            kwh_value, kwh_text = pa.nulls(len(kwh), pa.float64()), pc.cast(kwh, pa.string())
    return pa.table({"source_row": source_row, "meter_raw": pc.cast(meter, pa.string()),
                     "ts_raw": ts_text, "kwh_raw": kwh_text, "ts_value": ts_value,
                     "kwh_value": kwh_value})


def needs_staging(kind: str, fmt: str) -> bool:
    """Long and LCL Parquet is read in place; CSV and wide files are staged first."""
    return kind != "parquet" or fmt == "wide"


def stage_long_parquet(path: Path, kind: str, fmt: str, header: list[str], names: ColumnNames,
                       out: Path) -> int:
    """Stream ``path`` into ``out``, a long Parquet file with the canonical columns.

    ``source_row`` is the CSV line (header = 1, empty lines counted) or the 1-based Parquet
    row. Returns the number of rows read (a wide file's rows, not its readings).
    """
    mapping = None if fmt == "wide" else _column_map(fmt, header, names)
    columns = header if fmt == "wide" else list(mapping)
    readings, writer, pending = 0, None, deque()
    # Parsing a batch (Arrow compute, GIL released) overlaps reading and writing the others;
    # at most two batches wait, so memory stays bounded.
    with ThreadPoolExecutor(max_workers=2) as pool:
        try:
            for batch, rows in _batches(path, kind, columns):
                pending.append(pool.submit(_long_batch, batch, rows, fmt, mapping, names.timestamp))
                readings += batch.num_rows
                while len(pending) > 2 or (pending and pending[0].done()):
                    writer = _write_staged(writer, pending.popleft().result(), out)
            while pending:
                writer = _write_staged(writer, pending.popleft().result(), out)
        finally:
            if writer is not None:
                writer.close()
    return readings


def _write_staged(writer: pq.ParquetWriter | None, table: pa.Table, out: Path) -> pq.ParquetWriter:
    if writer is None:
        writer = pq.ParquetWriter(out, table.schema)
    writer.write_table(table.cast(writer.schema))
    return writer


def source_sql(path: Path, kind: str, fmt: str, header: list[str], names: ColumnNames,
               staged: Path | None) -> str:
    """A DuckDB query returning the canonical columns of the file (or its staged copy)."""
    if staged is not None:
        return f"SELECT {', '.join(STAGED)} FROM read_parquet({sql_literal(staged)})"
    mapping = _column_map(fmt, header, names)
    cols = ", ".join(f'{_ident(src)} AS {dst}' for src, dst in mapping.items())
    return (f"SELECT file_row_number + 1 AS source_row, {cols}, CAST(NULL AS TIMESTAMP) AS ts_value, "
            f"CAST(NULL AS DOUBLE) AS kwh_value "
            f"FROM read_parquet({sql_literal(path)}, file_row_number = true)")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- typing, time zones

@dataclass(frozen=True)
class SourceTypes:
    """How the canonical columns are typed in the file: decides the parsing SQL."""

    ts: str        # "local" (naive timestamps), "instant" (with a time zone) or "text"
    ts_offsets: bool  # text timestamps carry an offset or Z
    kwh_numeric: bool


def source_types(con, source: str) -> SourceTypes:
    """Inspect the canonical relation's column types and a sample of its timestamps."""
    types = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {source}").fetchall()}
    ts_type, kwh_type = types["ts_raw"].upper(), types["kwh_raw"].upper()
    offsets = False
    if ts_type in ("VARCHAR", "STRING"):
        sample = [r[0] for r in con.execute(
            f"SELECT trim(ts_raw) FROM ({source}) WHERE nullif(trim(ts_raw), '') IS NOT NULL "
            f"LIMIT 20").fetchall()]
        offsets = bool(sample) and all(_OFFSET_RE.search(s) for s in sample)
        ts = "text"
    elif "TIME ZONE" in ts_type:
        ts = "instant"
    elif ts_type.startswith("TIMESTAMP") or ts_type == "DATE":
        ts = "local"
    else:
        ts = "text"
    numeric = any(kwh_type.startswith(t) for t in ("DOUBLE", "FLOAT", "DECIMAL", "INTEGER", "BIGINT",
                                                    "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
                                                    "UINTEGER", "REAL"))
    return SourceTypes(ts=ts, ts_offsets=offsets, kwh_numeric=numeric)


def typed_sql(source: str, types: SourceTypes, timezone: str) -> str:
    """Canonical relation -> ``source_row, meter_id, ts_text, kwh_text, kwh, kwh_given, local, instant``.

    ``local`` is the naive local time; ``instant`` the UTC time when the file
    gives it (offsets, or a time-zone-aware type), else NULL (decided later by
    the time-zone rule). ``kwh`` is NULL for missing values, text that is not a
    number, and NaN or infinity (``-nan`` in a file is not a reading); ``kwh_given``: the cell held a value or some text. Values parsed while
    staging (``ts_value``, ``kwh_value``) come first; the text is parsed only where they are NULL.
    """
    missing = ", ".join(sql_literal(m) for m in MISSING_TEXT)
    if types.kwh_numeric:
        kwh, kwh_text = "CAST(kwh_raw AS DOUBLE)", "CAST(NULL AS VARCHAR)"
    else:
        kwh_text = "nullif(trim(CAST(kwh_raw AS VARCHAR)), '')"
        kwh = (f"CASE WHEN lower({kwh_text}) IN ({missing}) THEN NULL "
               f"ELSE TRY_CAST({kwh_text} AS DOUBLE) END")
    tz = sql_literal(timezone)
    if types.ts == "local":
        ts_text, local, instant = ("CAST(NULL AS VARCHAR)", "CAST(ts_raw AS TIMESTAMP)",
                                   "CAST(NULL AS TIMESTAMPTZ)")
    elif types.ts == "instant":
        ts_text, instant = "CAST(NULL AS VARCHAR)", "CAST(ts_raw AS TIMESTAMPTZ)"
        local = f"timezone({tz}, {instant})"
    else:
        ts_text = "nullif(trim(CAST(ts_raw AS VARCHAR)), '')"
        if types.ts_offsets:
            instant = f"TRY_CAST({ts_text} AS TIMESTAMPTZ)"
            local = f"timezone({tz}, {instant})"
        else:
            local, instant = f"TRY_CAST({ts_text} AS TIMESTAMP)", "CAST(NULL AS TIMESTAMPTZ)"
    if types.ts != "instant" and not types.ts_offsets:
        local = f"coalesce(ts_value, {local})"
    return (f"SELECT source_row, nullif(trim(CAST(meter_raw AS VARCHAR)), '') AS meter_id, "
            f"{ts_text} AS ts_text, {kwh_text} AS kwh_text, "
            f"CASE WHEN isfinite(coalesce(kwh_value, {kwh})) THEN coalesce(kwh_value, {kwh}) END AS kwh, "
            f"kwh_value IS NOT NULL OR {kwh_text} IS NOT NULL AS kwh_given, {local} AS local, "
            f"{instant} AS instant FROM ({source})")
