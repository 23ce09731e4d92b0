"""The validation helpers' promises without Great Expectations: every reason of a failing
row kept (joined by "; "), text parsed as numbers with a reason per bad cell, suite templates
expanded, table failures named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmentation.errors import ValidationFailed
from segmentation.validation import (ValidationOutcome, coerce_numeric, load_suite,
                                     raise_for_table_failures, split_row_failures)

FAILURE_COLUMNS = ["row", "expectation", "column", "reason"]


def failures(*rows) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(FAILURE_COLUMNS, r)) for r in rows], columns=FAILURE_COLUMNS)


def frame() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c", "d"], "age": ["30", "x", "200", "41"]},
                        index=[10, 11, 12, 13])


def test_a_row_failing_two_rules_keeps_both_reasons_in_order():
    valid, quarantined = split_row_failures(frame(), failures(
        (12, "e1", "age", "age outside 0-120"), (11, "e2", "age", "non-numeric age: 'x'"),
        (12, "e3", "id", "duplicate id"), (12, "e1", "age", "age outside 0-120")))
    assert valid.index.tolist() == [10, 13] and valid.equals(frame().loc[[10, 13]])
    assert quarantined.index.tolist() == [11, 12]                       # input order
    assert quarantined["reason"].tolist() == ["non-numeric age: 'x'",
                                              "age outside 0-120; duplicate id"]
    assert quarantined[["id", "age"]].equals(frame().loc[[11, 12], ["id", "age"]])


def test_no_failures_quarantine_nothing_with_the_same_columns():
    valid, quarantined = split_row_failures(frame(), failures())
    assert valid.equals(frame())
    assert quarantined.empty and list(quarantined.columns) == ["id", "age", "reason"]
    assert str(quarantined["reason"].dtype) == "string"


def test_numbers_are_parsed_and_each_bad_cell_is_a_row_failure():
    text = pd.DataFrame({"age": [" 30 ", "thirty", None, "1e2", "inf", "-nan", "41"],
                         "name": list("abcdefg")}, index=range(2, 9))
    typed, bad = coerce_numeric(text, ["age", "absent"])
    assert typed["age"].tolist()[:2] == [30.0, None] or np.isnan(typed["age"].iloc[1])
    assert typed["age"].iloc[0] == 30.0 and typed["age"].iloc[3] == 100.0
    assert typed["age"].iloc[[1, 2, 4, 5]].isna().all()         # inf is no value to segment on
    assert typed["age"].dtype == float and typed["name"].equals(text["name"])
    assert bad.to_dict("records") == [
        {"row": 3, "expectation": "values_parse_as_numbers", "column": "age",
         "reason": "non-numeric age: 'thirty'"},
        {"row": 6, "expectation": "values_parse_as_numbers", "column": "age",
         "reason": "age is not a finite number: 'inf'"},
        {"row": 7, "expectation": "values_parse_as_numbers", "column": "age",
         "reason": "age is not a finite number: '-nan'"}]


@pytest.mark.parametrize("value", ["nan", "NaN", "+nan", "-inf", "1e999"])
def test_every_spelling_of_not_a_finite_number_says_so(value):
    _, bad = coerce_numeric(pd.DataFrame({"x": ["1", "2", value]}), ["x"])
    assert bad["reason"].tolist() == [f"x is not a finite number: {value!r}"]


def test_a_column_mostly_text_is_left_as_text_for_the_type_expectation():
    half = pd.DataFrame({"x": ["1", "a", None, None]})            # 1 of 2 given values bad
    typed, bad = coerce_numeric(half, ["x"])
    assert typed["x"].dtype == float and bad["reason"].tolist() == ["non-numeric x: 'a'"]
    most = pd.DataFrame({"x": ["1", "a", "b"]})                  # 2 of 3: a wrong column
    typed, bad = coerce_numeric(most, ["x"])
    assert typed["x"].tolist() == ["1", "a", "b"] and bad.empty
    assert list(bad.columns) == FAILURE_COLUMNS
    typed, bad = coerce_numeric(most, ["x"], max_bad_share=0.7)
    assert typed["x"].dtype == float and len(bad) == 2
    empty = pd.DataFrame({"x": pd.Series([None, None], dtype="string")})
    typed, bad = coerce_numeric(empty, ["x"])
    assert typed["x"].isna().all() and typed["x"].dtype == float and bad.empty


SUITE = {"name": "things", "meta": {"version": 1}, "expectations": [
    {"type": "expect_column_to_exist", "kwargs": {"column": "$each:required"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "$id"},
     "meta": {"level": "row", "reason": "null id"}},
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "$age", "min_value": 0}, "meta": {"optional": True}},
]}


def test_a_suite_template_is_expanded_from_the_configured_columns(tmp_path):
    (tmp_path / "things.json").write_text(json.dumps(SUITE))
    suite = load_suite("things", {"required": ["id", "age"], "id": "id", "age": "years"},
                       directory=tmp_path)
    assert suite["name"] == "things" and suite["meta"] == {"version": 1}
    assert [(e["type"], e["kwargs"]) for e in suite["expectations"]] == [
        ("expect_column_to_exist", {"column": "id"}),
        ("expect_column_to_exist", {"column": "age"}),
        ("expect_column_values_to_not_be_null", {"column": "id"}),
        ("expect_column_values_to_be_between", {"column": "years", "min_value": 0})]
    assert SUITE["expectations"][0]["kwargs"]["column"] == "$each:required"   # template kept


def test_an_optional_expectation_without_its_column_is_skipped_a_required_one_is_an_error(
        tmp_path):
    (tmp_path / "things.json").write_text(json.dumps(SUITE))
    suite = load_suite("things", {"required": ["id"], "id": "id"}, directory=tmp_path)
    assert [e["kwargs"]["column"] for e in suite["expectations"]] == ["id", "id"]
    with pytest.raises(KeyError, match=r"expect_column_values_to_not_be_null needs column\(s\) "
                                       r"\['id'\] configured"):
        load_suite("things", {"required": ["id"]}, directory=tmp_path)


def test_a_skipped_optional_expectation_leaves_every_one_after_it(tmp_path):
    """Skipping an optional expectation whose column is not configured skips that one only;
    and an expectation repeated for each column gets its other placeholders filled in each
    copy."""
    suite = {"name": "things", "expectations": [SUITE["expectations"][2]] + [
        {"type": "expect_column_pair_values_a_to_be_greater_than_b",
         "kwargs": {"column": "$each:money", "column_B": "$id"}},
        SUITE["expectations"][1]]}
    (tmp_path / "things.json").write_text(json.dumps(suite))
    got = load_suite("things", {"money": ["spent", "paid"], "id": "cid"}, directory=tmp_path)
    assert [e["kwargs"] for e in got["expectations"]] == [
        {"column": "spent", "column_B": "cid"}, {"column": "paid", "column_B": "cid"},
        {"column": "cid"}]


def test_table_failures_stop_the_run_naming_expectation_column_and_detail():
    outcome = ValidationOutcome("things", [
        {"expectation": "expect_column_to_exist", "column": "age", "detail": None},
        {"expectation": "expect_table_row_count_to_be_between", "column": None,
         "detail": "observed 0"}], failures())
    assert not outcome.success
    with pytest.raises(ValidationFailed) as failed:
        raise_for_table_failures(outcome, "in.csv")
    assert str(failed.value) == ("file 'in.csv' failed validation: expect_column_to_exist on "
                                 "column 'age'; expect_table_row_count_to_be_between (observed 0)")
    passed = ValidationOutcome("things", [], failures())
    assert passed.success
    raise_for_table_failures(passed, "in.csv")
    assert not ValidationOutcome("things", [], failures((1, "e", "c", "r"))).success
