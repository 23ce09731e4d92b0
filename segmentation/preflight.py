"""Checks of a run's input that need no Prefect, done by the CLI before anything starts.

Everything that can be known from the arguments and the first bytes of the
input files is checked here, in well under a second: the files exist, are
files and are readable, their format is recognised, the header has the
columns the run names, the time zone exists, k_min <= k_max. A problem is
one ``InputError`` paragraph naming the file, the column and the row, before
Prefect's temporary server starts (5-6 s) and without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from segmentation.errors import InputError
from segmentation.settings import RunPaths

DATASET_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"  # the same pattern as parameters.DatasetName


def check_dataset(name: str) -> None:
    if not re.fullmatch(DATASET_PATTERN, name):
        raise InputError(f"--dataset '{name}' is not a dataset name: lower-case letters, digits, "
                         "'-' and '_', starting with a letter (it names folders)")


def check_k(k_min: int, k_max: int) -> None:
    if k_min > k_max:
        raise InputError(f"--k-min ({k_min}) must not exceed --k-max ({k_max})")


def check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone '{timezone}': use an IANA name such as "
                         "Europe/London") from None


def check_file(path: str | Path) -> Path:
    """An input that exists, is a regular file and can be read."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory, not a file: pass the file itself (or, for meters, "
                         "the files in it)", file=str(path))
    if not path.exists():
        raise InputError("file not found (check the path)", file=str(path))
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as err:
        raise InputError(f"cannot be read: {err.strerror}", file=str(path)) from None
    return path


def check_customers(input_path: str | None, paths: RunPaths, id_column: str | None,
                    features: list[str] | None, categorical: list[str] | None) -> None:
    """The table exists and its header has the columns the run names."""
    from segmentation.customers.config import resolve_config
    from segmentation.customers.ingest import read_header

    if input_path is None:
        return  # the flow looks in <data-root>/raw/customers/ and says what it found
    path = check_file(input_path)
    header = read_header(path)
    config = resolve_config(header, id_column=id_column, features=features,
                            categorical=categorical, file=str(path))
    named = [(config.id_column, "--id-column")] if id_column else []
    named += [(f, "--features") for f in config.features if features]
    named += [(c, "--categorical") for c in config.categorical]
    for column, option in named:
        if column not in header:
            raise InputError(f"{option} names '{column}', which is not in the header "
                             f"(columns: {', '.join(header)})", file=str(path), column=column,
                             row=1)


def check_meters(inputs: list[str] | None, fmt: str, timezone: str) -> None:
    """Every reading file exists and its format is recognised from its header."""
    from segmentation.meters import sources

    check_timezone(timezone)
    for name in inputs or []:
        path = check_file(name)
        kind = sources.file_kind(path)
        sources.detect_format(sources.read_header(path, kind), fmt, sources.ColumnNames(),
                              str(path))
