"""Read a purchase log, validate it with Great Expectations, and split its lines.

Paths in, paths out (a Dask worker can run each step on its own):

1. ``stage_lines``: the file (CSV, gzip CSV or Parquet) streamed into a staged
   Parquet file of text columns with ``source_row`` (CSV: the line number,
   header = 1; Parquet: the row, from 1). Malformed lines are returned, not lost.
2. ``split_lines``: in DuckDB, as of the run date D. A line dated after D, or
   before the window, is excluded and counted; every other line is checked by
   the rules of ``expectations/transactions.json`` (validated by Great
   Expectations on the per-customer summary) and quarantined with all
   its reasons, or it is a non-product line (postage, fees: excluded from
   spend and counted), or it is kept in ``lines.parquet`` for the features.

A line's value is its amount, or quantity x unit price; a return (negative
quantity or amount, or an order id starting with the cancellation prefix) has
a negative value and is netted against the customer's purchases.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segmentation.customers.ingest import SEPARATORS, sniff_separator
from segmentation.errors import InputError, ValidationFailed
from segmentation.io import sql_literal
from segmentation.lines import LineCounter
from segmentation.rules import check_groups, named_table_failures, quarantine_rules, \
    unexpected_counts
from segmentation.transactions.config import TransactionConfig

SOURCE_ROW = "source_row"
MISSING_TEXT = ("", "null", "na", "n/a", "nan", "none", "-", "?")
# Timestamp layouts tried on a sample; the one that reads the most values wins, earlier on a tie
# (ISO first; month-first before day-first, as spreadsheet exports of US-made logs write them).
TIME_FORMATS = (None, "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
                "%d/%m/%Y %H:%M:%S", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y",
                "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%m/%d/%y %H:%M",
                "%d/%m/%y %H:%M", "%m/%d/%y", "%d/%m/%y", "%Y%m%d")
SAMPLE = 100_000
NON_PRODUCT = "non-product line (postage, fees, adjustments)"
AFTER = "dated after the run date"
BEFORE = "dated before the window"


# ---------------------------------------------------------------- 1. staging

def file_kind(path: Path) -> str:
    """``parquet``, ``csv.gz`` or ``csv`` from the first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return "parquet" if head == b"PAR1" else "csv.gz" if head[:2] == b"\x1f\x8b" else "csv"


def read_header(path: Path | str) -> list[str]:
    """The column names as written (CSV: the first line, split on the sniffed separator)."""
    path = Path(path)
    kind = file_kind(path)
    if kind == "parquet":
        return list(pq.read_schema(path).names)
    opener = gzip.open if kind == "csv.gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        line = handle.readline().rstrip("\r\n")
    if not line.strip():
        raise InputError("the file is empty: expected a header line and purchase lines",
                         file=str(path), row=1)
    return next(csv.reader([line], delimiter=sniff_separator(line)))


def stage_lines(path: Path | str, target: Path | str) -> dict:
    """Stream the log into ``target`` (Parquet: ``source_row`` + every column as text).

    Returns
    -------
    dict
        ``header`` (names as written), ``separator`` (None for Parquet), ``rows``
        (lines staged) and ``rejects`` (DataFrame: ``source_row, raw_line, reason``
        of lines with the wrong number of fields).
    """
    path, target = Path(path), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    header = read_header(path)
    if file_kind(path) == "parquet":
        return _stage_parquet(path, target, header)
    separator = _separator(path)
    skipped: list[dict] = []

    def on_invalid(row) -> str:
        skipped.append({SOURCE_ROW: row.number, "raw_line": row.text,
                        "reason": f"malformed line: {row.expected_columns} fields expected, "
                                  f"{row.actual_columns} found"})
        return "skip"

    schema = pa.schema([(SOURCE_ROW, pa.int64())] + [(h, pa.string()) for h in _unique(header)])
    # Arrow numbers rows without the empty lines it skips; LineCounter counts them back in.
    compression = "gzip" if file_kind(path) == "csv.gz" else None
    with LineCounter(pa.input_stream(path, compression=compression)) as lines:
        reader = pacsv.open_csv(
            lines, read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 24,
                                                 column_names=_unique(header), skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=separator, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in _unique(header)}, strings_can_be_null=False,
                quoted_strings_can_be_null=False))
        rows, next_line = 0, 2
        with pq.ParquetWriter(target, schema) as writer:
            for batch in reader:
                # Line numbers of this batch's rows: the next lines not skipped as malformed.
                bad = np.array(sorted(r[SOURCE_ROW] for r in skipped
                                      if r[SOURCE_ROW] >= next_line), dtype=np.int64)
                candidates = np.arange(next_line, next_line + batch.num_rows + len(bad))
                numbers = candidates[~np.isin(candidates, bad)][:batch.num_rows]
                next_line = int(numbers[-1]) + 1 if len(numbers) else next_line
                table = pa.Table.from_batches([batch]).add_column(
                    0, SOURCE_ROW, pa.array(lines.physical(numbers)))
                writer.write_table(table.cast(schema))
                rows += batch.num_rows
    if rows == 0 and not skipped:
        raise InputError("the file has a header but no purchase lines", file=str(path), row=2)
    rejects = pd.DataFrame(skipped, columns=[SOURCE_ROW, "raw_line", "reason"])
    rejects[SOURCE_ROW] = lines.physical(rejects[SOURCE_ROW].to_numpy(dtype=np.int64))
    return {"header": header, "separator": separator, "rows": rows, "rejects": rejects}


def separator_of(path: Path | str) -> str | None:
    """The CSV separator of a log (None for Parquet)."""
    return None if file_kind(Path(path)) == "parquet" else _separator(Path(path))


def _separator(path: Path) -> str:
    opener = gzip.open if file_kind(path) == "csv.gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        line = handle.readline()
    return sniff_separator(line) if any(s in line for s in SEPARATORS) else ","


def _unique(header: list[str]) -> list[str]:
    """Column names made unique (a repeated name gets ``_2``...), as Parquet needs."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _stage_parquet(path: Path, target: Path, header: list[str]) -> dict:
    names = _unique(header)
    schema = pa.schema([(SOURCE_ROW, pa.int64())] + [(h, pa.string()) for h in names])
    rows = 0
    with pq.ParquetWriter(target, schema) as writer:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1_000_000):
            columns = [pa.array(np.arange(rows + 1, rows + 1 + batch.num_rows, dtype=np.int64))]
            columns += [_as_text(batch.column(i)) for i in range(batch.num_columns)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            rows += batch.num_rows
    if rows == 0:
        raise InputError("the file has no purchase lines", file=str(path))
    return {"header": header, "separator": None, "rows": rows,
            "rejects": pd.DataFrame(columns=[SOURCE_ROW, "raw_line", "reason"])}


def _as_text(column: pa.Array) -> pa.Array:
    """A Parquet column as text: timestamps in ISO form, numbers as written by Arrow."""
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        return pa.compute.strftime(column, format="%Y-%m-%dT%H:%M:%S%z")
    return column.cast(pa.string())


# ---------------------------------------------------------------- 2. typing in SQL

def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(column: str | None) -> str:
    """A column's text, trimmed; NULL when absent or a missing marker."""
    if column is None:
        return "CAST(NULL AS VARCHAR)"
    markers = ", ".join(sql_literal(m) for m in MISSING_TEXT)
    return (f"CASE WHEN lower(trim({_ident(column)})) IN ({markers}) THEN NULL "
            f"ELSE trim({_ident(column)}) END")


def _number(text: str) -> str:
    """Text (a column of the inner query) as a number: plain numbers directly; else currency
    signs and spaces dropped, ``2,55`` read as 2.55 and ``1,234.5`` as 1234.5; NULL when not
    a finite number."""
    bare = f"regexp_replace({text}, '^[£$€]|\\s', '', 'g')"
    slow = (f"TRY_CAST(CASE WHEN regexp_matches({bare}, '^-?[0-9]+,[0-9]{{1,2}}$') "
            f"THEN replace({bare}, ',', '.') ELSE replace({bare}, ',', '') END AS DOUBLE)")
    parsed = f"coalesce(TRY_CAST({text} AS DOUBLE), {slow})"
    return f"CASE WHEN {text} IS NOT NULL AND isfinite({parsed}) THEN {parsed} END"


def customer_id_sql(text: str) -> str:
    """Customer ids as text; numbers unpadded and without a ``.0`` (``"0042"``, ``"42.0"``
    and ``"42"`` are one customer, as in customer tables)."""
    return (f"CASE WHEN regexp_matches({text}, '^[0-9]+(\\.0+)?$') THEN coalesce(nullif("
            f"ltrim(regexp_replace({text}, '\\.0+$', ''), '0'), ''), '0') ELSE {text} END")


def timestamp_format(con, staged: str, column: str) -> str | None:
    """The layout of the timestamps (``TIME_FORMATS``), or ``"offset"`` when they carry a
    UTC offset or zone; decided on a sample of the file's first lines."""
    text = _text(column)
    sample = f"(SELECT {text} AS t FROM read_parquet({sql_literal(staged)}) LIMIT {SAMPLE})"
    counts = con.execute("SELECT count(t), count(*) FILTER (WHERE regexp_matches(t, "
                         "'(Z|[+-][0-9][0-9]:?[0-9][0-9])$')), " + ", ".join(
                             f"count({_parse_ts('t', f)})" for f in TIME_FORMATS)
                         + f" FROM {sample}").fetchall()[0]
    given, offsets, parsed = counts[0], counts[1], counts[2:]
    if given and offsets >= 0.9 * given:
        return "offset"
    best = max(range(len(TIME_FORMATS)), key=lambda i: (parsed[i], -i))
    return TIME_FORMATS[best]


def _parse_ts(text: str, fmt: str | None) -> str:
    if fmt is None:
        return f"TRY_CAST({text} AS TIMESTAMP)"
    return f"try_strptime({text}, {sql_literal(fmt)})"


def typed_sql(staged: str, config: TransactionConfig, fmt: str | None) -> str:
    """Staged text -> one typed row per line (``meta.line_columns`` of the suite)."""
    c = config.column
    roles = ("customer", "timestamp", "quantity", "price", "amount", "order", "product", "country")
    texts = ", ".join(f"{_text(c(role))} AS t_{role}" for role in roles)
    ts = (f"timezone({sql_literal(config.timezone)}, TRY_CAST(t_timestamp AS TIMESTAMPTZ))"
          if fmt == "offset" else _parse_ts("t_timestamp", fmt))
    quantity, price, amount = _number("t_quantity"), _number("t_price"), _number("t_amount")
    cancel = (f"coalesce(starts_with(upper(t_order), {sql_literal(config.cancel_prefix.upper())}), FALSE)"
              if config.cancel_prefix and c("order") else "FALSE")
    value = "amount" if c("amount") else "quantity * price"
    unit_price = ("price" if not c("amount") else
                  "amount / nullif(abs(quantity), 0)" if c("quantity") else "amount")
    originals = ", ".join(_ident(h) for h in _unique_from(staged))
    source = f"read_parquet({sql_literal(staged)})"
    # Exact duplicates: lines whose hash repeats are few; only they are ranked by every field
    # (a window partitioned by eight text columns over every line needs gigabytes).
    return f"""
        WITH hashed AS (SELECT *, hash({originals}) AS line_hash FROM {source}),
        repeated AS (SELECT line_hash FROM hashed GROUP BY ALL HAVING count(*) > 1),
        ranked AS (
            SELECT source_row, row_number() OVER (PARTITION BY {originals}
                                                  ORDER BY source_row) AS dup_rank
            FROM hashed WHERE line_hash IN (SELECT line_hash FROM repeated))
        SELECT source_row, customer_id, ts, CAST(ts AS DATE) AS day, order_id, product,
               country, quantity, {unit_price} AS unit_price, is_return,
               CASE WHEN is_return THEN -abs({value}) ELSE {value} END AS value, dup_rank
        FROM (
            SELECT *, coalesce(quantity < 0, FALSE) OR coalesce(amount < 0, FALSE) OR {cancel}
                   AS is_return
            FROM (
                SELECT source_row, {customer_id_sql('t_customer')} AS customer_id, {ts} AS ts,
                       t_order, t_order AS order_id, t_product AS product,
                       t_country AS country, {quantity} AS quantity, {price} AS price,
                       {amount} AS amount, coalesce(dup_rank, 1) AS dup_rank
                FROM (SELECT source_row, {texts} FROM {source})
                LEFT JOIN ranked USING (source_row)))"""


def _unique_from(staged: str) -> list[str]:
    return [n for n in pq.read_schema(staged).names if n != SOURCE_ROW]


# ---------------------------------------------------------------- 3. validate and split

SUMMARY_SQL = """
    SELECT customer_id, count(*) AS n_lines, count(*) FILTER (WHERE ts IS NULL) AS n_ts_missing,
           min(year(ts) * 12 + month(ts) - 1) AS min_month_index,
           count(*) FILTER (WHERE value IS NULL) AS n_value_missing,
           count(*) FILTER (WHERE NOT is_return AND unit_price <= 0) AS n_bad_price,
           count(*) FILTER (WHERE quantity = 0) AS n_zero_quantity,
           max(abs(quantity)) AS quantity_abs_max,
           count(*) FILTER (WHERE dup_rank > 1) AS n_duplicates
    FROM in_scope GROUP BY ALL"""
# DuckDB may use this much memory, then spills to the run's work folder: a log of any length
# is split in bounded memory.
MEMORY_LIMIT = "1GB"


@dataclass(frozen=True)
class Split:
    """Where the lines went, as files and counts."""

    lines: str                 # kept lines (Parquet)
    quarantine: str            # quarantined lines: source_row, reason
    counts: dict               # see ``split_lines``
    outcome: object            # the Great Expectations outcome (``ValidationOutcome``)


def split_lines(staged: str, config: TransactionConfig, run_date: date, work: Path | str,
                file: str) -> Split:
    """Exclude, validate, quarantine and keep the staged lines as of ``run_date``.

    Returns
    -------
    Split
        ``counts``: ``lines_staged``, ``excluded_by_reason`` (after the run date, before
        the window, non-product lines), ``quarantined_by_reason`` (a line with several
        reasons is counted once, under all its reasons joined by "; "), ``lines_kept``,
        ``anonymous_sales`` (lines and value), ``non_product_by_code``, ``time_format``.

    Raises
    ------
    ValidationFailed
        A table-level expectation failed (the wrong column, most values unreadable).
    """
    import duckdb

    from segmentation.validation import load_suite, validate_frame

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    typed = str(work / "typed_lines.parquet")
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute(f"SET temp_directory = {sql_literal(work / 'duckdb-spill')}")
        con.execute("SET preserve_insertion_order = false")
        fmt = timestamp_format(con, staged, config.column("timestamp"))
        con.execute(f"COPY ({typed_sql(staged, config, fmt)}) TO {sql_literal(typed)} (FORMAT parquet)")
        start = (run_date - timedelta(days=config.window_days) if config.window_days else None)
        scope = f"ts IS NULL OR (day <= DATE '{run_date}'" + (
            f" AND day > DATE '{start}')" if start else ")")
        con.execute(f"CREATE TEMP VIEW typed AS SELECT * FROM read_parquet({sql_literal(typed)})")
        con.execute(f"CREATE TEMP VIEW in_scope AS SELECT * FROM typed WHERE {scope}")
        excluded = dict(con.execute(
            f"SELECT CASE WHEN day > DATE '{run_date}' THEN '{AFTER}' ELSE '{BEFORE}' END, "
            f"count(*) FROM typed WHERE NOT ({scope}) GROUP BY 1").fetchall())
        shares = con.execute("SELECT count(ts) / greatest(count(*), 1), count(value) / "
                             "greatest(count(*), 1) FROM typed").fetchall()[0]
        summary = con.execute(SUMMARY_SQL).df().assign(share_timestamp_parsed=shares[0],
                                                        share_value_numeric=shares[1])
        suite = _suite(load_suite, config)
        outcome = validate_frame(summary, suite, data_docs=True, result_format="SUMMARY")
        if failures := named_table_failures(outcome, suite):
            raise ValidationFailed(file, failures)
        rules = quarantine_rules(suite, {"max_quantity": _number_text(config.max_quantity)})
        flags = [f"coalesce(({sql}), FALSE)" for _, _, sql in rules]
        reason = "concat_ws('; ', " + ", ".join(
            f"CASE WHEN {flag} THEN {sql_literal(r)} END" for flag, (_, r, _) in zip(flags, rules)) + ")"
        con.execute(f"CREATE TEMP VIEW judged AS SELECT *, {reason} AS reason, "
                    + ", ".join(f"{f} AS f{i}" for i, f in enumerate(flags))
                    + " FROM in_scope")
        _check_rule_groups(con, outcome, rules, file)
        quarantine = str(work / "quarantined_lines.parquet")
        con.execute(f"COPY (SELECT source_row, reason FROM judged WHERE reason <> '' "
                    f"ORDER BY source_row) TO {sql_literal(quarantine)} (FORMAT parquet)")
        by_reason = dict(con.execute(f"SELECT reason, count(*) FROM read_parquet({sql_literal(quarantine)}) "
                                     "GROUP BY 1 ORDER BY 1").fetchall())
        anonymous = con.execute("SELECT count(*), coalesce(sum(CAST(value AS DECIMAL(38, 6))), 0) "
                                "FROM in_scope WHERE customer_id IS NULL").fetchall()[0]
        codes = ", ".join(sql_literal(code) for code in config.non_product) or "NULL"
        non_product = (f"product IN ({codes})" if config.column("product") and config.non_product
                       else "FALSE")
        by_code = con.execute(f"SELECT product, count(*), round(sum(CAST(value AS DECIMAL(38, 6))), "
                              f"2) FROM judged "
                              f"WHERE reason = '' AND {non_product} GROUP BY 1 ORDER BY 1"
                              ).fetchall()
        lines = str(work / "lines.parquet")
        con.execute(f"COPY (SELECT source_row, customer_id, ts, day, coalesce(order_id, "
                    f"customer_id || '|' || CAST(day AS VARCHAR)) AS order_key, product, country, "
                    f"quantity, value, is_return FROM judged WHERE reason = '' AND NOT "
                    f"({non_product})) TO {sql_literal(lines)} (FORMAT parquet)")
        kept = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(lines)})").fetchall()[0][0]
    Path(typed).unlink()
    n_non_product = sum(n for _, n, _ in by_code)
    if n_non_product:
        excluded[NON_PRODUCT] = n_non_product
    counts = {"lines_staged": int(sum(excluded.values()) + sum(by_reason.values()) + kept),
              "lines_kept": int(kept),
              "quarantined_by_reason": {str(k): int(v) for k, v in by_reason.items()},
              "excluded_by_reason": {str(k): int(v) for k, v in sorted(excluded.items())},
              "anonymous_sales": {"lines": int(anonymous[0]), "value": round(float(anonymous[1]), 2)},
              "non_product_by_code": {str(code): {"lines": int(n), "value": float(v or 0)}
                                      for code, n, v in by_code},
              "time_format": fmt or "ISO 8601"}
    return Split(lines, quarantine, counts, outcome)


def _suite(load_suite, config: TransactionConfig) -> dict:
    """The suite with the file's column names in ``meta.source_column``."""
    suite = load_suite("transactions", {"max_quantity": config.max_quantity})
    value_column = config.column("amount") or config.column("price")
    names = {"$timestamp_column": config.column("timestamp"), "$value_column": value_column}
    for exp in suite["expectations"]:
        meta = exp.get("meta") or {}
        if meta.get("source_column") in names:
            meta["source_column"] = names[meta["source_column"]]
        if "reason" in meta:
            meta["reason"] = meta["reason"].replace("$max_quantity",
                                                    _number_text(config.max_quantity))
    return suite


def _number_text(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() else repr(float(value))


def _check_rule_groups(con, outcome, rules: list, file: str) -> None:
    """Each rule's lines must fall in exactly the customers (summary rows) GE flagged."""
    if not any(unexpected_counts(outcome).get(key, 0) for key, _, _ in rules):
        flagged = con.execute("SELECT count(*) FROM judged WHERE reason <> ''").fetchall()[0][0]
        if flagged:
            raise AssertionError(f"{file}: {flagged} lines quarantined but Great Expectations "
                                 "found no unexpected summary row")
        return
    key = "coalesce(customer_id, '?')"
    groups = con.execute("SELECT " + ", ".join(
        f"count(DISTINCT CASE WHEN f{i} THEN {key} END)" for i in range(len(rules)))
        + " FROM judged").fetchall()[0]
    check_groups(outcome, {k: int(n) for (k, _, _), n in zip(rules, groups)}, file,
                 "customers (summary rows)")
