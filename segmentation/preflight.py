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

from segmentation.parameters import has_k
from segmentation.errors import InputError
from segmentation.filecheck import check_table_file
from segmentation.settings import RunPaths

DATASET_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"  # the same pattern as parameters.DatasetName


def check_dataset(name: str) -> None:
    if not re.fullmatch(DATASET_PATTERN, name):
        raise InputError(f"--dataset '{name}' is not a dataset name: lower-case letters, digits, "
                         "'-' and '_', starting with a letter (it names folders)")


def check_k(k_min: int, k_max: int) -> None:
    if k_min > k_max:
        raise InputError(f"--k-min ({k_min}) must not exceed --k-max ({k_max})")


def check_algorithm(algorithm: str, k: int | None) -> None:
    """HDBSCAN finds its own number of segments: a given k is refused before anything starts."""
    if k is not None and not has_k(algorithm):
        raise InputError(f"--k {k} cannot be used with --algorithm {algorithm}: it finds its "
                         "own number of segments (its minimum size is --min-segment-size)")


def check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        near = nearest_zones(timezone)
        hint = (f"did you mean {' or '.join(near)}?" if near else
                "use an IANA name such as Europe/London")
        raise InputError(f"unknown time zone '{timezone}': {hint}") from None


def nearest_zones(name: str, n: int = 3) -> list[str]:
    """The IANA zone names closest to a mistyped one (case-insensitive), best first."""
    import difflib
    from zoneinfo import available_timezones

    zones = sorted(available_timezones())
    by_lower = {z.lower(): z for z in zones}
    if name.lower() in by_lower:            # only the case was wrong
        return [by_lower[name.lower()]]
    city = name.rsplit("/", 1)[-1].lower()
    found = [z for z in by_lower if z.rsplit("/", 1)[-1] == city]    # London, Europe/Sydney
    found += [z for z in difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.75)
              if z not in found]
    found = found[:n]
    return [by_lower[z] for z in found]


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
    """The table exists, is a UTF-8 CSV with rows, and its header has the columns the run
    names. The file's bytes are checked before pandas is imported (a second on a busy machine)."""
    if input_path is None:
        return  # the flow looks in <data-root>/raw/customers/ and says what it found
    path = check_file(input_path)
    check_table_file(path, accepted="a CSV customer table (CSV, or CSV compressed with gzip)")
    from segmentation.customers.config import resolve_config
    from segmentation.customers.ingest import read_header

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
    """Every reading file exists, is UTF-8 CSV with rows and one field per column on every
    line (Arrow's reader refuses a file otherwise) or Parquet with rows, and its format is
    recognised from its header."""
    check_timezone(timezone)
    files = [check_file(name) for name in inputs or []]
    for path in files:
        check_table_file(path, accepted="a table of readings (CSV, gzip-compressed CSV or Parquet)",
                         allow_parquet=True, fields=True)
    from segmentation.meters import sources

    for path in files:
        kind = sources.file_kind(path)
        sources.detect_format(sources.read_header(path, kind), fmt, sources.ColumnNames(),
                              str(path))


def check_transactions(input_path: str | None, columns: dict[str, str | None],
                       timezone: str) -> None:
    """The log exists, is UTF-8 CSV or Parquet with rows, and its header has a customer, a
    timestamp and a value column (by option or by name)."""
    check_timezone(timezone)
    if input_path is None:
        return  # the flow looks in <data-root>/raw/transactions/ and says what it found
    path = check_file(input_path)
    check_table_file(path, accepted="a purchase log (CSV, gzip-compressed CSV or Parquet)",
                     allow_parquet=True)
    from segmentation.transactions.config import resolve_transaction_config
    from segmentation.transactions.ingest import read_header

    resolve_transaction_config(read_header(path), file=str(path),
                               given={k.removesuffix("_column"): v for k, v in columns.items()})


def check_attributes(path: str | None, id_column: str | None, kind: str) -> None:
    """The attribute table exists, is a UTF-8 CSV with rows or Parquet, and has its id
    column (``--attributes-id``, else the kind's member id, ``id`` or the one ``*_id``
    column)."""
    if path is None:
        if id_column is not None:
            raise InputError(f"--attributes-id '{id_column}' names the id column of an attribute "
                             "table: pass the table with --attributes")
        return
    checked = check_file(path)
    check_table_file(checked, accepted="a per-member attribute table (CSV, gzip-compressed CSV "
                                       "or Parquet)", allow_parquet=True)
    from segmentation.attributes import attribute_header, resolve_id_column
    from segmentation.contract import ID_COLUMNS

    resolve_id_column(attribute_header(checked), id_column, ID_COLUMNS.get(kind, "customer_id"),
                      str(checked))


def check_assignment(kind: str, dataset: str, inputs: list[str], model: str, assign_date,
                     data_root: str | None, outputs_root: str | None) -> None:
    """``segment assign``: the dataset has the model asked for, of this kind and with its
    run's settings; the dataset and date are free; the input passes the checks a run of
    that model would make, with the run's settings."""
    from segmentation.assignment import load_model, model_file, one_input
    from segmentation.locks import check_run_free

    check_dataset(dataset)
    paths = RunPaths.create(dataset, assign_date, data_root, outputs_root)
    settings = load_model(model_file(paths.dataset_dir, dataset, model), kind).settings
    if kind != "meters":
        one_input(inputs, kind)
    check_run_free(paths)
    if kind == "customers":
        check_customers(inputs[0], paths, settings["id_column"], settings["features"],
                        settings["categorical"])
    elif kind == "transactions":
        check_transactions(inputs[0], {f"{role}_column": column for role, column
                                       in settings["given_columns"].items()},
                           settings["timezone"])
    else:
        check_meters(inputs, settings["format"], settings["timezone"])
