"""Run a Great Expectations suite kept as JSON in expectations/ on a DataFrame.

Each expectation's ``meta.level`` says what a failure means:

- ``table``: the table cannot be used (missing column, empty, wrong type):
  the run fails with a message naming the expectation and the column.
- ``row``: the failing rows go to quarantine with ``meta.reason``; the run goes on.

Suites may be templates: a kwarg value ``"$name"`` is replaced by a
configured column, and an expectation whose column is ``"$each:name"`` is
repeated for every column in that configured list.
"""

from __future__ import annotations

import copy
import functools
import html
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.errors import ValidationFailed
from segmentation.settings import EXPECTATIONS_DIR

ROW_PREFIX = "expect_column_values_"


@dataclass
class ValidationOutcome:
    """What a suite said about one table."""

    suite_name: str
    table_failures: list[dict]
    row_failures: pd.DataFrame  # row (index label), expectation, column, reason
    statistics: dict = field(default_factory=dict)
    result_json: dict = field(default_factory=dict)
    data_docs_html: str | None = None  # the validation page (Data Docs), when asked for

    @property
    def success(self) -> bool:
        return not self.table_failures and self.row_failures.empty


def load_suite(name: str, columns: dict[str, str | list[str]] | None = None,
               directory: Path = EXPECTATIONS_DIR) -> dict:
    """Read ``<directory>/<name>.json`` and expand its ``$`` placeholders from ``columns``."""
    suite = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    columns = columns or {}
    expanded = []
    for exp in suite["expectations"]:
        if not _placeholders_set(exp, columns):
            continue
        column = exp.get("kwargs", {}).get("column", "")
        if isinstance(column, str) and column.startswith("$each:"):
            for col in columns.get(column[len("$each:"):], []):
                expanded.append(_substitute(exp, columns, col))
        else:
            expanded.append(_substitute(exp, columns, None))
    suite = dict(suite, expectations=expanded)
    return suite


def _placeholders_set(exp: dict, columns: dict) -> bool:
    """False for an expectation marked ``optional`` whose placeholder has no column configured."""
    names = [v[1:].removeprefix("each:") for v in exp.get("kwargs", {}).values()
             if isinstance(v, str) and v.startswith("$")]
    missing = [n for n in names if not columns.get(n)]
    if missing and not (exp.get("meta") or {}).get("optional"):
        raise KeyError(f"suite expectation {exp['type']} needs column(s) {missing} configured")
    return not missing


def _substitute(exp: dict, columns: dict, each_column: str | None) -> dict:
    exp = copy.deepcopy(exp)
    for key, value in exp.get("kwargs", {}).items():
        if key == "column" and each_column is not None:
            exp["kwargs"][key] = each_column
        elif isinstance(value, str) and value.startswith("$"):
            exp["kwargs"][key] = columns[value[1:]]
    return exp


def _exception(info: dict | None) -> dict:
    """Great Expectations' exception info of one result, flat (``raised_exception``,
    ``exception_message``): flat when the expectation itself raised, one entry per metric
    (``{metric id: {...}}``) when a metric it needs raised, e.g. on values of mixed types
    (GX's own renderers read both)."""
    info = info or {}
    return info if "raised_exception" in info else next(iter(info.values()), {})


def _level(config) -> str:
    level = (config.meta or {}).get("level")
    return level or ("row" if config.type.startswith(ROW_PREFIX) else "table")


def validate_frame(frame: pd.DataFrame, suite: dict, *, data_docs: bool = False,
                   result_format: str = "COMPLETE") -> ValidationOutcome:
    """Validate ``frame`` against ``suite``; never raises for failed expectations.

    With ``data_docs`` the result is also rendered as a self-contained
    validation page (HTML, ``validation_page``), to publish with the run. Row failures
    (``row_failures``) need ``result_format="COMPLETE"``; ``"SUMMARY"`` gives
    counts only, and is faster on large frames.
    """
    from great_expectations.core.expectation_suite import ExpectationSuite

    source = _pandas_source()
    asset = f"{suite['name']}-{uuid.uuid4().hex[:8]}"
    batch = (source.add_dataframe_asset(asset)
             .add_batch_definition_whole_dataframe("whole")
             .get_batch(batch_parameters={"dataframe": frame}))
    result = batch.validate(ExpectationSuite(**copy.deepcopy(suite)),
                            result_format={"result_format": result_format})
    table_failures, rows = [], []
    for res in result.results:
        config = res.expectation_config
        column = config.kwargs.get("column")
        if res.success:
            continue
        raised = _exception(res.exception_info).get("raised_exception")
        if raised and column not in frame.columns:
            continue  # expect_column_to_exist already reports the missing column
        if _level(config) == "table" or raised:
            detail = res.result.get("observed_value")
            table_failures.append({"expectation": config.type, "column": column,
                                   "detail": None if detail is None else f"observed {detail}"})
            continue
        reason = (config.meta or {}).get("reason") or f"{config.type} on {column}"
        for index in res.result.get("unexpected_index_list") or []:
            rows.append({"row": index, "expectation": config.type, "column": column,
                         "reason": reason})
    row_failures = pd.DataFrame(rows, columns=["row", "expectation", "column", "reason"])
    result_json, statistics = result.to_json_dict(), dict(result.statistics)
    docs = render_data_docs(as_routed(result)) if data_docs else None
    return ValidationOutcome(suite_name=suite["name"], table_failures=table_failures,
                             row_failures=row_failures, statistics=statistics,
                             result_json=result_json, data_docs_html=docs)


def as_routed(result):
    """The result as Data Docs should tell it: an expectation that routes rows to quarantine
    (``level: row``) does not fail the validation; it shows how many rows it sent there.
    Only gate expectations (schema, types, empty table) can mark the page failed."""
    for res in result.results:
        config = res.expectation_config
        if (_level(config) != "row" or res.success
                or _exception(res.exception_info).get("raised_exception")):
            continue
        meta = config.meta or {}
        count = (res.result or {}).get("unexpected_count") or 0
        where = (f"left to the {meta['policy']} policy" if meta.get("policy")
                 else "routed to quarantine")
        config.description = (f"{meta.get('reason', config.type)}: {count} {meta.get('unit', 'rows')} "
                              f"{where}, as expected in real data; not a failure of the run")
        config.notes = ("Rows this expectation finds are routed to quarantine with the reason "
                        "above (the quarantine file lists them); they do not fail the validation.")
        res.success = True
    gates = [res.success for res in result.results]
    result.success = all(gates)
    evaluated = len(gates)
    passed = sum(gates)
    result.statistics.update({"successful_expectations": passed,
                              "unsuccessful_expectations": evaluated - passed,
                              "success_percent": 100.0 * passed / evaluated if evaluated else 100.0})
    return result


@functools.lru_cache(maxsize=1)
def _pandas_source():
    """One ephemeral Great Expectations context per process (creating one takes ~1.5 s)."""
    import great_expectations as gx  # slow import: only when a run validates

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    return context.data_sources.add_pandas("frames")


def render_data_docs(result) -> str:
    """The Data Docs page for one validation result, as standalone HTML (see ``validation_page``)."""
    return validation_page(result.to_json_dict())


# Our own page, not Great Expectations' DefaultJinjaPageView: that page loads jQuery, Bootstrap,
# bootstrap-table, Font Awesome, Vega and its logo from CDNs, none of which the GX wheel ships;
# offline it shows an unstyled page with a broken logo, blank status icons and script errors.
# Vendoring those libraries would mean ~1 MB of third-party JS per page to track; a page built
# from the result JSON with inline CSS and no scripts renders the same anywhere, with no network.
PAGE_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;
 margin:2em auto;max-width:80em;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;width:100%}
th,td{border:1px solid #ccc;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f2f2f2} td.number{text-align:right;font-variant-numeric:tabular-nums}
table.stats{width:auto} code{font-size:.92em;background:#f6f6f6;padding:0 .2em}
.status,.banner{font-weight:600;white-space:nowrap} tr.failed td{background:#fdecea}
tr.routed td{background:#fff8e1} .note{color:#555;font-size:.92em}
.status.passed{color:#1a7f37} .status.failed{color:#c62828} .status.routed{color:#8a5a00}
.banner{padding:.5em .8em;border-radius:4px;display:inline-block}
.banner.passed{background:#e6f4ea;color:#1a7f37} .banner.failed{background:#fdecea;color:#c62828}
"""


def validation_page(result: dict) -> str:
    """A self-contained HTML page for one validation result (``ExpectationSuiteValidationResult``
    as JSON, after ``as_routed``): no scripts, no external links, styles inline.

    One row per expectation: status, expectation and its condition, column, observed value,
    unexpected count and a few unexpected values. An expectation that routed rows to quarantine
    (passed, with unexpected values) is shown as routed, with the count and ``description``.
    """
    stats = result.get("statistics") or {}
    meta = result.get("meta") or {}
    status, kind = ("Succeeded", "passed") if result.get("success") else ("Failed", "failed")
    suite = _esc(result.get("suite_name") or "")
    rows = [_result_row(res) for res in result.get("results") or []]
    percent = stats.get("success_percent")
    stat_rows = [("Evaluated expectations", stats.get("evaluated_expectations")),
                 ("Successful expectations", stats.get("successful_expectations")),
                 ("Unsuccessful expectations", stats.get("unsuccessful_expectations")),
                 ("Success percent", None if percent is None else f"{percent:.4g}%"),
                 ("Great Expectations version", meta.get("great_expectations_version"))]
    stat_html = "".join(f"<tr><th>{_esc(name)}</th><td class='number'>{_esc(value)}</td></tr>"
                        for name, value in stat_rows if value is not None)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Validation: {suite}</title><style>{PAGE_STYLE}</style></head><body>\n"
        f"<h1>Validation result: suite <code>{suite}</code></h1>\n"
        f"<p class='banner {kind}'>"
        f"<strong>Status: {status}</strong></p>\n"
        "<p class='note'>Expectations that route rows to quarantine (level <code>row</code>) count "
        "those rows here; only gate expectations (schema, types, empty table) fail the page. "
        "The quarantine file lists each routed row with its reason.</p>\n"
        f"<h2>Statistics</h2>\n<table class='stats'>{stat_html}</table>\n"
        "<h2>Expectations</h2>\n<table><thead><tr><th>Status</th><th>Expectation</th>"
        "<th>Column</th><th>Observed value</th><th>Unexpected count</th>"
        "<th>Unexpected values (sample)</th></tr></thead><tbody>\n"
        + "\n".join(rows) + "\n</tbody></table>\n</body></html>\n")


def _result_row(res: dict) -> str:
    """One table row for one expectation result (JSON)."""
    config = res.get("expectation_config") or {}
    kwargs = config.get("kwargs") or {}
    outcome = res.get("result") or {}
    exception = _exception(res.get("exception_info"))
    error = exception.get("raised_exception")
    unexpected = outcome.get("unexpected_count")
    if not res.get("success"):
        kind, label = "failed", "✗ failed"
    elif unexpected:
        kind, label = "routed", "↪ routed"
    else:
        kind, label = "passed", "✓ passed"
    condition = ", ".join(f"{key}={_short(value)}" for key, value in kwargs.items()
                          if key not in ("batch_id", "column"))
    description = config.get("description")
    expectation = (f"<code>{_esc(config.get('type'))}</code>"
                   + (f"<br><span class='note'>{_esc(condition)}</span>" if condition else "")
                   + (f"<br>{_esc(description)}" if description else ""))
    if error:
        observed = f"error: {exception.get('exception_message')}"
    elif "observed_value" in outcome:
        observed = _short(outcome["observed_value"])
    elif outcome.get("element_count") is not None:
        observed = (f"{outcome.get('unexpected_percent') or 0:.3g}% unexpected of "
                    f"{outcome['element_count']} values")
        if outcome.get("missing_count"):
            observed += f" ({outcome['missing_count']} missing)"
    else:
        observed = ""
    sample = outcome.get("partial_unexpected_list") or []
    count = "" if unexpected is None else str(unexpected)
    return (f"<tr class='{kind}'><td class='status {kind}'>{label}</td><td>{expectation}</td>"
            f"<td>{_esc(kwargs.get('column', '(table)'))}</td><td>{_esc(observed)}</td>"
            f"<td class='number'>{count}</td><td>{_esc(_short(sample[:10])) if sample else ''}</td></tr>")


def _short(value, limit: int = 200) -> str:
    """A value as compact text, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def raise_for_table_failures(outcome: ValidationOutcome, file: str) -> None:
    """Fail the run, naming each failed table-level expectation and its column."""
    if outcome.table_failures:
        raise ValidationFailed(file, outcome.table_failures)


def split_row_failures(frame: pd.DataFrame, row_failures: pd.DataFrame
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows that passed, and rows that failed with all their reasons joined by '; '."""
    if row_failures.empty:
        return frame, frame.iloc[0:0].assign(reason=pd.Series(dtype="string"))
    reasons = (row_failures.drop_duplicates(["row", "reason"])
               .groupby("row", sort=True)["reason"].agg("; ".join))
    bad = frame.index.isin(reasons.index)
    quarantined = frame[bad].assign(reason=reasons.reindex(frame.index[bad]).to_numpy())
    return frame[~bad], quarantined


def coerce_numeric(frame: pd.DataFrame, columns: list[str], *, max_bad_share: float = 0.5
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse text columns as numbers; unparseable cells become row failures.

    A column where more than ``max_bad_share`` of the non-null cells are not
    numbers is left as text, so the suite's type expectation fails the table:
    that is a wrong column, not a few bad rows.

    Returns
    -------
    typed : DataFrame
    row_failures : DataFrame
        Same columns as ``ValidationOutcome.row_failures``.
    """
    typed, rows = frame.copy(), []
    for column in columns:
        if column not in frame.columns:
            continue
        values = frame[column].astype("string[pyarrow]").str.strip()
        number = pd.Series(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan),
                           index=frame.index)
        infinite = np.isinf(number)          # "inf", "1e999": not a value one can segment on
        parsed = number.where(~infinite)
        bad = values.notna() & parsed.isna()
        if bad.sum() > max_bad_share * max(values.notna().sum(), 1):
            continue
        typed[column] = parsed
        for index in frame.index[bad]:
            what = "not a finite number" if infinite[index] or str(values[index]).lower() in (
                "nan", "-nan", "+nan") else "non-numeric"
            rows.append({"row": index, "expectation": "values_parse_as_numbers", "column": column,
                         "reason": f"{what} {column}: {values[index]!r}" if what == "non-numeric"
                         else f"{column} is {what}: {values[index]!r}"})
    return typed, pd.DataFrame(rows, columns=["row", "expectation", "column", "reason"])
