"""Read interval readings from long, London (LCL) or wide files, in chunks.

Formats (``format="auto"`` decides from the header):

- ``long``: one row per reading, columns ``meter_id, timestamp, kwh`` (names
  configurable with ``ColumnNames``).
- ``lcl``: the Low Carbon London files verbatim:
  ``LCLid,stdorToU,DateTime,KWH/hh (per half hour) `` (the last name ends in a
  space; missing readings are the text ``Null``).
- ``wide``: a timestamp column and one column per meter.

Files may be CSV, gzip-compressed CSV or Parquet (recognised by content, not
name). Every chunk comes out as the same canonical long frame
(``RAW_COLUMNS``) with the raw text kept for quarantine, then
``prepare_chunk`` parses it: naive timestamps are local time in ``timezone``.

Time-zone rule (documented in the README too):

- naive timestamps are local wall-clock time in ``timezone``; timestamps with
  an offset (``...+01:00``, ``Z``) or typed as UTC in Parquet are used as they are;
- autumn, repeated hour: for each meter the first reading at an ambiguous
  local time (in file order) is summer time, the second is winter time;
  further repeats are treated as winter time and handled by the duplicate policy;
- spring, missing hour: a reading stamped inside the skipped hour does not
  exist; it is quarantined with that reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segmentation.errors import InputError

FORMATS = ("auto", "long", "lcl", "wide")
RESOLUTIONS = (15, 30, 60)
CHUNK_ROWS = 1_000_000
LCL_METER, LCL_TIME, LCL_KWH = "LCLid", "DateTime", "KWH/hh (per half hour) "
RAW_COLUMNS = ["source_row", "meter_id", "timestamp_raw", "kwh_raw", "kwh"]
MISSING_TEXT = {"", "null", "na", "nan", "none", "n/a", "-"}
_OFFSET_RE = r"(?:Z|[+-]\d\d:?\d\d)\s*$"
_RESOLUTION_BLOCK = 1000  # rows per (meter, block) when looking for mixed resolutions


@dataclass(frozen=True)
class ColumnNames:
    """Names of the meter, timestamp and kWh columns in long and wide files."""

    meter: str = "meter_id"
    timestamp: str = "timestamp"
    kwh: str = "kwh"


@dataclass
class FileState:
    """What one file's chunks share: resolution and the ambiguous-hour counts."""

    path: str
    timezone: str
    resolution: int | None = None
    resolution_row: int | None = None
    ambiguous_seen: dict = field(default_factory=dict)  # (meter, local ts) -> readings so far


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
        opener = gzip.open if kind == "csv.gz" else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            line = handle.readline()
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the header ({err}); is the file truncated or not UTF-8?",
                         file=str(path), row=1) from None
    if not line.strip():
        raise InputError("the file is empty: expected a header line and readings",
                         file=str(path), row=1)
    return next(csv.reader([line]))


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


# ---------------------------------------------------------------- chunked reading

def _column_map(fmt: str, header: list[str], names: ColumnNames) -> dict[str, str]:
    """Source column -> canonical name for long and LCL files."""
    if fmt == "lcl":
        by_stripped = {h.strip(): h for h in header}
        return {by_stripped[LCL_METER.strip()]: "meter_id", by_stripped[LCL_TIME]: "timestamp_raw",
                by_stripped[LCL_KWH.strip()]: "kwh_raw"}
    return {names.meter: "meter_id", names.timestamp: "timestamp_raw", names.kwh: "kwh_raw"}


def _batches(path: Path, kind: str, columns: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    file = str(path)
    try:
        if kind == "parquet":
            yield from pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=columns)
            return
        stream = pa.input_stream(path, compression="gzip" if kind == "csv.gz" else None)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=64 << 20, encoding="utf8"),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns, column_types={c: pa.string() for c in columns},
                strings_can_be_null=False))
        for batch in reader:
            yield batch
    except InputError:
        raise
    except (OSError, EOFError, zlib.error, pa.ArrowInvalid) as err:
        text = str(err).splitlines()[0]
        hint = ("the gzip stream is truncated or corrupt" if kind == "csv.gz" and
                "parse error" not in text.lower() else "the file cannot be parsed")
        raise InputError(f"{hint}: {text}", file=file) from None


def iter_raw_chunks(path: Path, kind: str, fmt: str, header: list[str], names: ColumnNames,
                    chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Canonical long chunks (``RAW_COLUMNS``); ``source_row`` is the CSV line (header = 1)
    or the 1-based Parquet row."""
    first_row = 2 if kind != "parquet" else 1
    if fmt == "wide":
        columns, mapping = header, None
    else:
        mapping = _column_map(fmt, header, names)
        columns = list(mapping)
    offset = 0
    for batch in _batches(path, kind, columns, chunk_rows):
        frame = batch.to_pandas()
        rows = np.arange(offset, offset + len(frame), dtype=np.int64) + first_row
        offset += len(frame)
        if fmt == "wide":
            yield _melt_wide(frame, rows, names.timestamp)
        else:
            frame = frame.rename(columns=mapping)
            frame["source_row"] = rows
            yield _normalise_values(frame)


def _melt_wide(frame: pd.DataFrame, rows: np.ndarray, ts_column: str) -> pd.DataFrame:
    meters = [c for c in frame.columns if c != ts_column]
    n = len(frame)
    long = pd.DataFrame({
        "source_row": np.repeat(rows, len(meters)),
        "meter_id": np.tile(np.array(meters, dtype=object), n),
        "timestamp_raw": np.repeat(frame[ts_column].to_numpy(), len(meters)),
        "kwh_raw": frame[meters].to_numpy().reshape(-1),
    })
    return _normalise_values(long)


def _normalise_values(frame: pd.DataFrame) -> pd.DataFrame:
    """meter_id as stripped text; kwh as float with the raw text kept when it was text."""
    meter = frame["meter_id"].astype("string").str.strip()
    frame["meter_id"] = meter.mask(meter == "")
    raw = frame["kwh_raw"]
    if pd.api.types.is_numeric_dtype(raw):
        frame["kwh"] = raw.astype("float64")
        frame["kwh_raw"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    else:
        text = raw.astype("string").str.strip()
        missing = text.str.lower().isin(MISSING_TEXT) | text.isna()
        frame["kwh_raw"] = text.mask(text == "")
        frame["kwh"] = pd.to_numeric(text.mask(missing), errors="coerce").astype("float64")
    return frame[RAW_COLUMNS]


# ---------------------------------------------------------------- timestamps and resolution

def parse_timestamps(raw: pd.Series, timezone: str, meters: pd.Series,
                     state: FileState) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Raw timestamps -> (local naive, UTC, nonexistent flag), by the module's time-zone rule."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        utc = raw.dt.tz_convert("UTC")
        return utc.dt.tz_convert(timezone).dt.tz_localize(None), utc, pd.Series(False, index=raw.index)
    if pd.api.types.is_datetime64_dtype(raw):
        local = raw
    else:
        text = raw.astype("string").str.strip()
        sample = text.dropna().head(20)
        if len(sample) and sample.str.contains(_OFFSET_RE, regex=True).all():
            utc = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
            local = utc.dt.tz_convert(timezone).dt.tz_localize(None)
            return local, utc, pd.Series(False, index=raw.index)
        local = pd.to_datetime(text, format="ISO8601", errors="coerce")
    local = local.astype("datetime64[us]")
    as_summer = local.dt.tz_localize(timezone, ambiguous=np.ones(len(local), bool), nonexistent="NaT")
    as_winter = local.dt.tz_localize(timezone, ambiguous=np.zeros(len(local), bool), nonexistent="NaT")
    nonexistent = local.notna() & as_summer.isna()
    ambiguous = as_summer.notna() & (as_summer != as_winter)
    winter = pd.Series(False, index=local.index)
    if ambiguous.any():
        keys = pd.DataFrame({"m": meters[ambiguous].astype(str), "t": local[ambiguous]})
        occurrence = keys.groupby(["m", "t"], sort=False).cumcount().to_numpy()
        prior = np.array([state.ambiguous_seen.get(k, 0) for k in zip(keys["m"], keys["t"])])
        occurrence = occurrence + prior
        winter[ambiguous] = occurrence >= 1
        for key, count in keys.value_counts(sort=False).items():
            state.ambiguous_seen[key] = state.ambiguous_seen.get(key, 0) + int(count)
    utc = as_summer.where(~winter, as_winter).dt.tz_convert("UTC")
    return local, utc, nonexistent


def modal_resolutions(meters: pd.Series, utc: pd.Series, rows: pd.Series) -> pd.DataFrame:
    """Modal step in minutes per (meter, block of rows): ``meter_id, first_row, minutes, n``."""
    frame = pd.DataFrame({"m": meters, "t": utc, "row": rows}).dropna()
    if frame.empty:
        return pd.DataFrame(columns=["meter_id", "first_row", "minutes", "n"])
    frame = frame.sort_values(["m", "t"], kind="stable")
    step = frame["t"].diff().dt.total_seconds() / 60
    same = frame["m"].eq(frame["m"].shift())
    frame = frame.assign(step=step.where(same), block=frame["row"] // _RESOLUTION_BLOCK)
    frame = frame[frame["step"] > 0]
    counts = frame.groupby(["m", "block", "step"], sort=True).agg(
        n=("row", "size"), first_row=("row", "min")).reset_index()
    counts = counts.sort_values(["m", "block", "n"], ascending=[True, True, False], kind="stable")
    modal = counts.drop_duplicates(["m", "block"])
    totals = counts.groupby(["m", "block"])["n"].sum()
    modal = modal.assign(n=totals.loc[list(zip(modal["m"], modal["block"]))].to_numpy())
    return modal.rename(columns={"m": "meter_id", "step": "minutes"})[
        ["meter_id", "first_row", "minutes", "n"]].reset_index(drop=True)


def check_resolution(modal: pd.DataFrame, state: FileState) -> None:
    """Set the file's resolution from its first chunk; InputError if blocks disagree."""
    if modal.empty:
        return
    reliable = modal[modal["n"] >= 8]
    votes = (reliable if len(reliable) else modal).groupby("minutes")["n"].sum()
    if state.resolution is None:
        minutes = float(votes.idxmax())
        if minutes not in RESOLUTIONS:
            raise InputError(f"readings are {minutes:g} minutes apart; supported resolutions "
                             f"are {RESOLUTIONS} minutes", file=state.path, column="timestamp",
                             row=int(modal["first_row"].min()))
        state.resolution = int(minutes)
    odd = reliable[reliable["minutes"] != state.resolution]
    if len(odd):
        first = odd.sort_values("first_row").iloc[0]
        raise InputError(
            f"the file mixes resolutions: meter {first['meter_id']} has readings "
            f"{first['minutes']:g} minutes apart where the file's resolution is "
            f"{state.resolution} minutes; split the file by resolution",
            file=state.path, column="timestamp", row=int(first["first_row"]))


def prepare_chunk(raw: pd.DataFrame, state: FileState) -> pd.DataFrame:
    """Parse a canonical raw chunk: adds ``timestamp_local``, ``timestamp`` (UTC),
    ``nonexistent`` and ``grid_offset_s`` (seconds off the interval grid)."""
    local, utc, nonexistent = parse_timestamps(raw["timestamp_raw"], state.timezone,
                                               raw["meter_id"], state)
    check_resolution(modal_resolutions(raw["meter_id"], utc, raw["source_row"]), state)
    frame = raw.assign(timestamp_local=local, timestamp=utc, nonexistent=nonexistent)
    step_us = (state.resolution or 1) * 60 * 1_000_000
    micros = local.astype("datetime64[us]").astype("int64")
    frame["grid_offset_s"] = ((micros % step_us) / 1e6).where(local.notna())
    return frame.reset_index(drop=True)
