"""Quarantine rules kept in a Great Expectations suite and applied in SQL.

Large inputs (readings, purchase lines) are validated through a summary with one
row per group (a meter's or a customer's month): each row-level expectation is
the exact aggregate form of a rule on one input row, and its ``meta`` carries
that rule as SQL (``quarantine_when``) and the ``reason`` a quarantined row
gets. After the quarantine pass the groups Great Expectations found unexpected
must be the groups holding a row quarantined for that reason
(``check_groups``): the suite and the SQL cannot drift apart silently.
"""

from __future__ import annotations


def quarantine_rules(suite: dict, placeholders: dict) -> list[tuple[str, str, str]]:
    """(expectation type + column, reason, SQL predicate on one row) of each quarantine rule;
    ``$name`` placeholders in the SQL are replaced from ``placeholders``."""
    rules = []
    for exp in suite["expectations"]:
        meta = exp.get("meta") or {}
        if meta.get("quarantine_when"):
            key = f"{exp['type']}:{exp['kwargs'].get('column')}"
            sql = meta["quarantine_when"]
            for name in sorted(placeholders, key=len, reverse=True):
                sql = sql.replace(f"${name}", str(placeholders[name]))
            rules.append((key, meta["reason"], sql))
    return rules


def named_table_failures(outcome, suite: dict) -> list[dict]:
    """Failed table-level expectations, named by the input's column (``meta.source_column``)."""
    source = {(e["type"], e["kwargs"].get("column")): (e.get("meta") or {})
              for e in suite["expectations"]}
    failures = []
    for failure in outcome.table_failures:
        meta = source.get((failure["expectation"], failure["column"]), {})
        failures.append({**failure, "column": meta.get("source_column", failure["column"]),
                         "detail": "; ".join(filter(None, [meta.get("reason"),
                                                           failure.get("detail")]))})
    return failures


def unexpected_counts(outcome) -> dict[str, int]:
    """Expectation type + column -> the summary rows Great Expectations found unexpected."""
    return {f"{r['expectation_config']['type']}:"
            f"{r['expectation_config'].get('kwargs', {}).get('column')}":
            int((r.get("result") or {}).get("unexpected_count") or 0)
            for r in outcome.result_json.get("results", [])}


def check_groups(outcome, groups_by_rule: dict[str, int], file: str, unit: str) -> None:
    """Raise when a rule quarantined rows in another number of groups than Great Expectations
    found unexpected summary rows (a bug: the suite and its SQL disagree)."""
    found = unexpected_counts(outcome)
    for key, groups in groups_by_rule.items():
        if key in found and found[key] != groups:
            raise AssertionError(f"{file}: {key} found {found[key]} {unit}, the quarantine "
                                 f"rule {groups}")
