"""Read a customer CSV as text, keeping every row and its line number.

Nothing is typed or dropped here: rows whose field count does not match the
header are returned separately as rejects with a reason, so the run can
quarantine them. Blank lines (nothing but separators and spaces) are not rows.

Two readers give the same result. A file without quote characters, where
every record is one line, is read by Arrow's multi-threaded CSV parser, with
line numbers and field counts found by a vectorised scan of the bytes (a
million rows in about a second). A file with quotes, where a field may hold
a separator or a line break, is read by Python's ``csv`` module, which
tracks line numbers through quoted fields.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from segmentation.errors import InputError

SOURCE_ROW = "source_row"  # 1-based line number in the input file (header = line 1)
MISSING_MARKERS = {"", "?", "na", "n/a", "nan", "null", "none", "-"}
SEPARATORS = [",", ";", "\t", "|"]

# Spellings seen in published copies of the Mall Customers table.
ALIASES = {
    "customerid": "customer_id",
    "customer_id": "customer_id",
    "genre": "gender",
    "gender": "gender",
    "sex": "gender",
    "annual_income_k": "annual_income_k",
    "annual_income": "annual_income_k",
    "spending_score_1_100": "spending_score",
    "spending_score": "spending_score",
}
GENDER_CODES = {"f": "Female", "female": "Female", "m": "Male", "male": "Male"}


def canonical_name(name: str) -> str:
    """``'Annual Income (k$)'`` -> ``'annual_income_k'``: lower snake case, known aliases applied."""
    snake = re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
    return ALIASES.get(snake, snake)


def decode(path: Path, raw: bytes | None = None) -> str:
    """File text as UTF-8 (a BOM is dropped); a clear error for missing, empty or non-UTF-8 files."""
    raw = read_bytes(path) if raw is None else raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise InputError(f"byte 0x{raw[err.start]:02x} at offset {err.start} is not UTF-8; "
                         "re-save the file as UTF-8", file=str(path), row=line) from None


def sniff_separator(header_line: str) -> str:
    """The separator that splits the header into the most fields."""
    return max(SEPARATORS, key=header_line.count)


def read_customer_csv(path: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CSV as strings with canonical column names.

    Returns
    -------
    rows : DataFrame
        One row per well-formed data line, all values text (``string[pyarrow]``)
        or NA, plus ``source_row`` (int64, the line number; header = 1).
    rejects : DataFrame
        Malformed lines: ``source_row``, ``raw_line`` and ``reason``.
    """
    path = Path(path)
    raw = read_bytes(path)
    header, separator = _parse_header(path, raw)
    fast = _read_unquoted(raw, separator, header) if b'"' not in raw else None
    if fast is None:
        good, rejects = _read_quoted(decode(path, raw), separator, header)
    else:
        good, rejects = fast
    return good, pd.DataFrame(rejects, columns=[SOURCE_ROW, "raw_line", "reason"])


def read_bytes(path: Path) -> bytes:
    """The file's bytes (gzip-compressed files decompressed); clear errors for a missing,
    unreadable or empty file."""
    if path.is_dir():
        raise InputError("is a directory, not a file: pass the CSV file itself", file=str(path))
    if not path.is_file():
        raise InputError("file not found (check the --input path)", file=str(path))
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":   # gzip, whatever the name says
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise InputError(f"the file is gzip-compressed but cannot be decompressed ({err}); "
                             "is it truncated?", file=str(path)) from None
    if not raw.strip():
        raise InputError("the file is empty: expected a header line and data rows", file=str(path))
    return raw


def read_header(path: Path | str) -> list[str]:
    """The canonical column names of the header line, checked; reads only the first line
    (whole file when gzip-compressed)."""
    path = Path(path)
    raw = _head(path)                       # names a missing, directory or empty file
    if raw[:2] == b"\x1f\x8b":
        raw = read_bytes(path)
    return _parse_header(path, raw)[0]


def _header_line(path: Path, raw: bytes) -> str:
    """The first line as text, decoded strictly: a bad byte in the header is named like one in
    any other line (Arrow skips the header line, so nothing else would see it)."""
    end = raw.find(b"\n")
    return (decode(path, raw if end < 0 else raw[:end]).splitlines() or [""])[0]


def _parse_header(path: Path, raw: bytes) -> tuple[list[str], str]:
    """The canonical column names of the header line, checked, and the separator sniffed
    from it."""
    first = _header_line(path, raw)
    separator = sniff_separator(first)
    header = [canonical_name(h) for h in next(csv.reader([first], delimiter=separator))]
    _check_header(header, path)
    return header, separator


def _head(path: Path) -> bytes:
    if path.is_dir():
        raise InputError("is a directory, not a file: pass the CSV file itself", file=str(path))
    if not path.is_file():
        raise InputError("file not found (check the --input path)", file=str(path))
    with open(path, "rb") as handle:
        raw = handle.read(65536)
    if not raw.strip():
        raise InputError("the file is empty: expected a header line and data rows", file=str(path))
    return raw


def _text_frame(columns: dict[str, pa.ChunkedArray | pa.Array], lines: np.ndarray) -> pd.DataFrame:
    """Cleaned text columns (missing markers -> NA) as ``string[pyarrow]`` plus ``source_row``."""
    markers = pa.array(sorted(MISSING_MARKERS))
    frame = {}
    for name, values in columns.items():
        trimmed = pc.utf8_trim_whitespace(values)
        missing = pc.is_in(pc.utf8_lower(trimmed), value_set=markers)
        frame[name] = pd.Series(pc.if_else(missing, pa.scalar(None, pa.string()), trimmed),
                                dtype=pd.StringDtype("pyarrow"))
    frame[SOURCE_ROW] = pd.Series(lines, dtype="int64")
    return pd.DataFrame(frame)


def _read_unquoted(raw: bytes, separator: str, header: list[str]
                   ) -> tuple[pd.DataFrame, list[dict]] | None:
    """Arrow's parser for a file with no quotes; None when its rows do not line up with the
    lines found by the byte scan (then the ``csv`` module reads the file)."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.r_[0, newlines + 1]
    ends = np.r_[newlines, len(buf)]
    if starts[-1] == len(buf):
        starts, ends = starts[:-1], ends[:-1]
    if b"\r" in raw.replace(b"\r\n", b""):
        return None  # bare carriage returns: line breaks Arrow and this scan would count differently
    def per_line(byte_values: bytes) -> np.ndarray:
        """How many of these bytes each line holds (few positions: cheap, unlike a cumsum)."""
        where = np.flatnonzero(np.isin(buf, np.frombuffer(byte_values, np.uint8)))
        return np.bincount(np.searchsorted(starts, where, side="right") - 1, minlength=len(starts))

    seps = per_line(separator.encode())
    length = ends - starts - (buf[np.maximum(ends - 1, 0)] == 13)   # without a trailing CR
    content = length - per_line(bytes(set(b" \t" + separator.encode())))  # not blank or separator
    numbers = np.arange(1, len(starts) + 1)
    data = numbers > 1
    parsed_by_arrow = data & (length > 0)           # Arrow skips empty lines only
    right_count = seps == len(header) - 1
    rejected = parsed_by_arrow & ~right_count & (content > 0)
    invalid: list[str] = []

    def skip(row) -> str:
        invalid.append(row.text)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, encoding="utf8"),
            parse_options=pacsv.ParseOptions(delimiter=separator, quote_char=False,
                                              invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                 strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None  # e.g. bytes that are not UTF-8: the slow path names the line
    arrow_rows = parsed_by_arrow & right_count
    if table.num_rows != int(arrow_rows.sum()) or len(invalid) != int((parsed_by_arrow & ~right_count).sum()):
        return None
    keep = (content[arrow_rows] > 0)                 # rows of only separators are blank lines
    table = table.filter(pa.array(keep))
    frame = _text_frame({h: table.column(h) for h in header}, numbers[arrow_rows][keep])
    rejects = [{SOURCE_ROW: int(n), "raw_line": raw[starts[n - 1]:ends[n - 1]].decode(
                    "utf-8", errors="replace").rstrip("\r"),
                "reason": f"{int(seps[n - 1]) + 1} fields where the header has {len(header)}"}
               for n in numbers[rejected]]
    return frame, rejects


def _read_quoted(text: str, separator: str, header: list[str]) -> tuple[pd.DataFrame, list[dict]]:
    """Python's csv module: quoted fields may hold separators and line breaks."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    next(reader)
    good, lines, rejects = [], [], []
    end = reader.line_num
    for record in reader:
        start, end = end + 1, reader.line_num   # a quoted line break spans lines: its first
        if not any(field.strip() for field in record):
            continue  # blank line: not a row
        if len(record) != len(header):
            rejects.append({SOURCE_ROW: start, "raw_line": separator.join(record),
                            "reason": f"{len(record)} fields where the header has {len(header)}"})
            continue
        good.append(record)
        lines.append(start)
    columns = list(zip(*good)) if good else [()] * len(header)
    frame = _text_frame({h: pa.array(c, pa.string()) for h, c in zip(header, columns)},
                        np.asarray(lines, dtype=np.int64))
    return frame, rejects


def source_lines(path: Path | str, rows) -> dict[int, str]:
    """The text of the records that start at the given lines (header = line 1), as in the
    file, without the line break; a quoted field spanning lines gives all of its lines.

    Lines are counted as both readers count them: a line ends at ``\\n``, ``\\r\\n`` or a
    bare ``\\r``. Read again only for the few quarantined rows, so ingestion keeps no text.
    """
    wanted = set(int(r) for r in rows)
    if not wanted:
        return {}
    path = Path(path)
    raw = read_bytes(path)
    text = decode(path, raw)
    physical = io.StringIO(text, newline="").readlines()
    if '"' not in text:                       # one record per line
        return {n: physical[n - 1].rstrip("\r\n") for n in sorted(wanted) if n <= len(physical)}
    reader = csv.reader(iter(physical), delimiter=sniff_separator(physical[0]))
    found, end = {}, 0
    for _ in reader:                          # as ``_read_quoted`` numbers records
        start, end = end + 1, reader.line_num
        if start in wanted:
            found[start] = "".join(physical[start - 1:end]).rstrip("\r\n")
    return found


def _check_header(header: list[str], path: Path) -> None:
    if len(header) < 2:
        raise InputError("the first line has a single column: is the separator one of , ; tab |, "
                         "or is there a title line above the header? The header must be line 1",
                         file=str(path), row=1)
    seen = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise InputError(f"header cell {position} of {len(header)} is empty: is there a title "
                             "line above the header, or a trailing separator? The header must be "
                             "line 1 and name every column", file=str(path), row=1)
        if name in seen:
            raise InputError("two header cells name the same column", file=str(path),
                             column=name, row=1)
        seen.add(name)


def normalise_ids(ids: pd.Series) -> pd.Series:
    """Strip zero padding from numeric ids (``'0001'`` and ``'1'`` are one customer)."""
    text = ids.astype("string").str.strip()
    numeric = text.str.fullmatch(r"\d+").fillna(False)
    return text.where(~numeric, text.str.lstrip("0").replace("", "0"))


def normalise_gender(values: pd.Series) -> pd.Series:
    """M/F/Male/Female in any case -> 'Male'/'Female'; anything else is kept for validation to reject."""
    text = values.astype("string").str.strip()
    return text.str.lower().map(GENDER_CODES).fillna(text).astype("string")
