"""Quarantine rules kept in a Great Expectations suite (``segmentation/rules.py``): the SQL and
reason of each rule come from the suite, table failures are named by the input's column, and a
disagreement between the suite and its SQL fails loudly. Plain dicts stand in for GX."""

from types import SimpleNamespace

import pytest

from segmentation.rules import check_groups, named_table_failures, quarantine_rules, \
    unexpected_counts

SUITE = {"expectations": [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "share_parsed"},
     "meta": {"level": "table", "source_column": "InvoiceDate",
              "reason": "most timestamps unreadable"}},
    {"type": "expect_column_values_to_be_null", "kwargs": {"column": "n_missing"},
     "meta": {"level": "table"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "quantity_abs_max"},
     "meta": {"quarantine_when": "abs(quantity) > $max_quantity OR $max < 0",
              "reason": "implausible quantity"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "customer_id"},
     "meta": {"quarantine_when": "customer_id IS NULL", "reason": "no customer id"}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {}, "meta": None},
    {"type": "expect_column_to_exist", "kwargs": {"column": "n_lines"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "n_lines"},
     "meta": {"quarantine_when": "", "reason": "an empty rule quarantines nothing"}},
]}


def test_each_rule_with_sql_is_listed_with_its_reason_and_placeholders_filled():
    rules = quarantine_rules(SUITE, {"max": -1, "max_quantity": 10000})
    assert rules == [
        ("expect_column_values_to_be_between:quantity_abs_max", "implausible quantity",
         "abs(quantity) > 10000 OR -1 < 0"),            # $max_quantity is not $max + "_quantity"
        ("expect_column_values_to_not_be_null:customer_id", "no customer id",
         "customer_id IS NULL")]


def test_a_rule_of_an_expectation_without_a_column_is_keyed_by_none():
    suite = {"expectations": [{"type": "expect_rows", "kwargs": {},
                               "meta": {"quarantine_when": "x", "reason": "r"}}]}
    assert quarantine_rules(suite, {}) == [("expect_rows:None", "r", "x")]


def outcome(table_failures=(), results=()):
    return SimpleNamespace(table_failures=list(table_failures),
                           result_json={"results": list(results)})


def test_table_failures_are_named_by_the_input_s_column_with_the_reason():
    failures = named_table_failures(outcome([
        {"expectation": "expect_column_values_to_be_between", "column": "share_parsed",
         "detail": "observed 0.2", "level": "table"},
        {"expectation": "expect_column_values_to_be_null", "column": "n_missing"},
        {"expectation": "expect_unknown", "column": "other", "detail": "odd"},
    ]), SUITE)
    assert failures == [
        {"expectation": "expect_column_values_to_be_between", "column": "InvoiceDate",
         "detail": "most timestamps unreadable; observed 0.2", "level": "table"},
        {"expectation": "expect_column_values_to_be_null", "column": "n_missing", "detail": ""},
        {"expectation": "expect_unknown", "column": "other", "detail": "odd"}]


def result(kind, column, unexpected):
    config = {"type": kind, "kwargs": {"column": column} if column else {}}
    return {"expectation_config": config,
            "result": None if unexpected is None else {"unexpected_count": unexpected}}


def test_unexpected_summary_rows_per_rule():
    found = unexpected_counts(outcome(results=[
        result("expect_a", "customer_id", 3), result("expect_b", "n_lines", None),
        result("expect_c", None, 2),
        {"expectation_config": {"type": "expect_d"}, "result": {"unexpected_count": None}}]))
    assert found == {"expect_a:customer_id": 3, "expect_b:n_lines": 0, "expect_c:None": 2,
                     "expect_d:None": 0}
    assert all(type(n) is int for n in found.values())
    assert unexpected_counts(SimpleNamespace(result_json={})) == {}     # no results: none


def test_a_rule_and_great_expectations_disagreeing_on_the_groups_fails():
    checked = outcome(results=[result("expect_a", "customer_id", 3),
                               result("expect_b", "ts", 0)])
    check_groups(checked, {"expect_a:customer_id": 3, "expect_b:ts": 0, "expect_c:x": 5},
                 "log.csv", "customers")                  # agree; a rule GE did not run: skipped
    with pytest.raises(AssertionError) as err:
        check_groups(checked, {"expect_a:customer_id": 3, "expect_b:ts": 1}, "log.csv",
                     "customers")
    assert str(err.value) == "log.csv: expect_b:ts found 0 customers, the quarantine rule 1"
