"""Promises of ``segmentation.validation`` not covered by ``test_validation_rules.py``: each
reason of a quarantined row is given once, text parsed as float64 numbers, a rule that cannot
run fails the table, the suite is left as it was, the validation page's rows."""

from __future__ import annotations

import html

import pandas as pd

from segmentation.validation import coerce_numeric, split_row_failures
from tests.test_validation_rules import failures, frame


def test_a_reason_two_expectations_give_for_one_row_is_listed_once():
    """The quarantine's ``reason`` joins a row's reasons by "; " (docs/outputs.md): a reason two
    expectations (or two columns) give for the same row appears once."""
    _, quarantined = split_row_failures(frame(), failures(
        (12, "expect_column_values_to_be_between", "age", "age outside 0-120"),
        (12, "values_parse_as_numbers", "age", "age outside 0-120"),
        (12, "expect_column_values_to_be_unique", "id", "duplicate id"),
        (12, "expect_column_values_to_be_unique", "id_copy", "duplicate id")))
    assert quarantined["reason"].tolist() == ["age outside 0-120; duplicate id"]


def test_whole_numbers_in_text_parse_as_float64_like_every_numeric_column():
    """``coerce_numeric`` parses text columns as numbers: float64, the type numeric columns
    are published in (docs/outputs.md), whether or not the cells hold decimals or gaps."""
    text = pd.DataFrame({"age": ["30", " 41", "19"], "income": ["15", None, "2.5"]})
    typed, bad = coerce_numeric(text, ["age", "income"])
    assert bad.empty
    assert typed.dtypes.astype(str).to_dict() == {"age": "float64", "income": "float64"}
    assert typed["age"].tolist() == [30.0, 41.0, 19.0]


def test_a_column_mostly_not_numbers_is_left_as_text_and_the_others_are_still_parsed():
    """More than ``max_bad_share`` of a column's non-empty cells not numbers (one cell of one
    included) is a wrong column, not bad rows: it stays text for the suite's type expectation
    to fail the table, no row is blamed, and the columns after it are parsed."""
    text = pd.DataFrame({"age": ["x", "y", "30"], "one": [None, "twelve", None],
                         "income": ["15", "abc", "2.5"]})
    typed, bad = coerce_numeric(text, ["age", "one", "income"])
    assert typed["age"].equals(text["age"]) and typed["one"].equals(text["one"])
    assert typed["income"].dtype == "float64" and typed["income"].iloc[[0, 2]].tolist() == [15.0, 2.5]
    assert bad[["row", "column"]].values.tolist() == [[1, "income"]]


def test_each_quarantined_row_gets_its_own_reasons_whatever_the_frame_s_order():
    """Row failures name rows by their label: a frame not in label order still gets each
    row's reasons on that row."""
    shuffled = frame().loc[[13, 11, 12, 10]]
    _, quarantined = split_row_failures(shuffled, failures(
        (11, "e2", "age", "non-numeric age: 'x'"), (13, "e3", "id", "duplicate id")))
    assert quarantined["reason"].to_dict() == {13: "duplicate id", 11: "non-numeric age: 'x'"}


def test_the_page_has_a_row_per_statistic_and_per_expectation_with_all_its_conditions():
    """The validation page (docs/outputs.md) has one table row per statistic and one per
    expectation, on a line of its own, showing its condition: every argument but the column."""
    from segmentation.validation import validation_page

    between = {"success": True, "expectation_config": {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
        "result": {"unexpected_count": 0, "element_count": 3}}
    exists = {"success": True, "expectation_config": {"type": "expect_column_to_exist",
                                                      "kwargs": {"column": "age"}}}
    page = validation_page({"success": True, "suite_name": "s", "results": [between, exists],
                            "statistics": {"evaluated_expectations": 2,
                                           "successful_expectations": 2}})
    assert ("<table class='stats'><tr><th>Evaluated expectations</th><td class='number'>2</td>"
            "</tr><tr><th>Successful expectations</th><td class='number'>2</td></tr></table>"
            ) in page
    lines = [line for line in page.splitlines() if line.startswith("<tr class=")]
    assert len(lines) == 2 and all(line.endswith("</tr>") for line in lines)
    assert "<code>expect_column_values_to_be_between</code><br><span class='note'>min_value=0, " \
           "max_value=120</span>" in lines[0]
    assert "<code>expect_column_to_exist</code></td>" in lines[1]


def test_a_row_rule_that_cannot_run_on_its_column_fails_the_table_and_the_page():
    """A rule Great Expectations could not evaluate on a column that is there (values of mixed
    types: "wrong type", module docstring) makes the table unusable: a table failure naming the
    rule and its column, and on the validation page a failed rule with its error, not rows
    routed to quarantine. GX reports such an error per metric, not at the result's top level."""
    from segmentation.validation import validate_frame

    suite = {"name": "ages", "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "age", "min_value": 0, "max_value": 120},
         "meta": {"level": "row", "reason": "age outside 0-120"}}]}
    outcome = validate_frame(pd.DataFrame({"age": ["x", 30, 40]}), suite, data_docs=True)
    assert not outcome.success and outcome.row_failures.empty
    assert outcome.table_failures == [{"expectation": "expect_column_values_to_be_between",
                                       "column": "age", "detail": None}]
    page = outcome.data_docs_html
    assert "<strong>Status: Failed</strong>" in page and "routed" not in page.split("<tbody>")[1]
    assert "<tr class='failed'><td class='status failed'>✗ failed</td>" in page
    errors = outcome.result_json["results"][0]["exception_info"].values()
    message = next(e["exception_message"] for e in errors if e["raised_exception"])
    assert f"<td>age</td><td>{html.escape(f'error: {message}')}</td>" in page


def test_validating_leaves_the_suite_as_it_was_for_the_next_file():
    """A suite is loaded once and validates every file of a run (``load_suite``, then
    ``validate_frame`` per file): validating does not change it, its ``meta`` included."""
    import copy

    from segmentation.validation import validate_frame

    suite = {"name": "ids", "meta": {"version": 3}, "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"},
         "meta": {"level": "row", "reason": "null id"}}]}
    before = copy.deepcopy(suite)
    outcome = validate_frame(pd.DataFrame({"id": ["a", None]}), suite)
    assert outcome.row_failures["row"].tolist() == [1]
    assert suite == before


def test_a_missing_column_is_named_once_and_the_other_rules_still_judge_their_rows():
    """A missing column fails the table once, through ``expect_column_to_exist`` (the rules on
    it cannot run and are not listed again); the rules on the other columns still run: the run
    reports every table failure and every failing row (module docstring)."""
    from segmentation.validation import validate_frame

    suite = {"name": "people", "expectations": [
        {"type": "expect_column_to_exist", "kwargs": {"column": column}}
        for column in ("age", "id")] + [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "age", "min_value": 0, "max_value": 120},
         "meta": {"level": "row", "reason": "age outside 0-120"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"},
         "meta": {"level": "row", "reason": "null id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"},
         "meta": {"level": "row", "reason": "duplicate id"}}]}
    outcome = validate_frame(pd.DataFrame({"id": ["a", None, "c", "c"]}), suite)
    assert outcome.table_failures == [{"expectation": "expect_column_to_exist", "column": "age",
                                       "detail": None}]
    assert sorted(outcome.row_failures[["row", "reason"]].values.tolist()) == [
        [1, "null id"], [2, "duplicate id"], [3, "duplicate id"]]
