"""Read a customer CSV as text, keeping every row and its line number.

Nothing is typed or dropped here: rows whose field count does not match the
header are returned separately as rejects with a reason, so the run can
quarantine them.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

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


def decode(path: Path) -> str:
    """File text as UTF-8 (a BOM is dropped); a clear error for missing, empty or non-UTF-8 files."""
    if not path.is_file():
        raise InputError("file not found (check the --input path)", file=str(path))
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError("the file is empty: expected a header line and data rows", file=str(path))
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
        One row per well-formed data line, all values str or NA, plus ``source_row``.
    rejects : DataFrame
        Malformed lines: ``source_row``, ``raw_line`` and ``reason``.
    """
    path = Path(path)
    text = decode(path)
    lines = text.splitlines()
    separator = sniff_separator(lines[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    header = [canonical_name(h) for h in next(reader)]
    _check_header(header, path)
    good, rejects = [], []
    for record in reader:
        line_no = reader.line_num
        if not any(field.strip() for field in record):
            continue  # blank line: not a row
        if len(record) != len(header):
            rejects.append({SOURCE_ROW: line_no, "raw_line": separator.join(record),
                            "reason": f"{len(record)} fields where the header has {len(header)}"})
            continue
        good.append([_clean(v) for v in record] + [line_no])
    rows = pd.DataFrame(good, columns=header + [SOURCE_ROW]).astype(
        {c: "object" for c in header})
    return rows, pd.DataFrame(rejects, columns=[SOURCE_ROW, "raw_line", "reason"])


def _clean(value: str):
    value = value.strip()
    return pd.NA if value.lower() in MISSING_MARKERS else value


def _check_header(header: list[str], path: Path) -> None:
    if len(header) < 2:
        raise InputError("found a single column: is the separator one of , ; tab |?",
                         file=str(path), row=1)
    seen = set()
    for name in header:
        if not name:
            raise InputError("a header cell is empty", file=str(path), row=1)
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
