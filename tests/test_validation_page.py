"""The offline validation page (docs/outputs.md) from a result as JSON, and how routed rows
are told from failed gates (segmentation/validation.py), without Great Expectations."""

from __future__ import annotations

from types import SimpleNamespace

from segmentation.validation import _level, _result_row, _short, as_routed, validation_page


def config(type_, meta=None, **kwargs):
    return SimpleNamespace(type=type_, meta=meta, kwargs=kwargs, description=None, notes=None)


def outcome(cfg, success, result=None, error=False):
    return SimpleNamespace(expectation_config=cfg, success=success, result=result or {},
                           exception_info={"raised_exception": error})


def test_the_level_is_the_meta_s_else_row_for_value_expectations():
    assert _level(config("expect_column_values_to_be_unique")) == "row"
    assert _level(config("expect_column_to_exist")) == "table"
    assert _level(config("expect_column_values_to_be_unique", {"level": "table"})) == "table"
    assert _level(config("expect_table_row_count_to_be_between", {"level": "row"})) == "row"
    assert _level(config("expect_column_values_to_be_unique", {"reason": "x"})) == "row"


def test_row_rules_after_gates_are_told_as_routed_too():
    """Every failed row rule is told as routed, wherever it stands: gates before it, passed or
    failed, change nothing."""
    passed_gate = outcome(config("expect_column_to_exist"), True)
    failed_gate = outcome(config("expect_column_to_exist"), False)
    routed = outcome(config("expect_column_values_to_be_unique", {"level": "row"}), False,
                     {"unexpected_count": 2})
    result = as_routed(SimpleNamespace(results=[passed_gate, failed_gate, routed], success=False,
                                       statistics={}))
    assert [r.success for r in result.results] == [True, False, True]
    assert routed.expectation_config.description.startswith(
        "expect_column_values_to_be_unique: 2 rows routed to quarantine")


def test_routed_rows_pass_with_their_count_and_only_gates_fail_the_page():
    routed = outcome(config("expect_column_values_to_be_between",
                            {"level": "row", "reason": "age outside 0-120"}), False,
                     {"unexpected_count": 3})
    policy = outcome(config("expect_column_values_to_not_be_null",
                            {"level": "row", "reason": "missing x", "policy": "impute",
                             "unit": "values"}), False, {"unexpected_count": None})
    gate = outcome(config("expect_column_to_exist"), False)
    broken = outcome(config("expect_column_values_to_be_unique"), False, error=True)
    result = SimpleNamespace(results=[routed, policy, gate, broken], success=False,
                             statistics={"evaluated_expectations": 4})
    assert as_routed(result) is result
    assert [r.success for r in result.results] == [True, True, False, False]
    assert routed.expectation_config.description == (
        "age outside 0-120: 3 rows routed to quarantine, as expected in real data; not a "
        "failure of the run")
    assert policy.expectation_config.description == (
        "missing x: 0 values left to the impute policy, as expected in real data; not a "
        "failure of the run")
    assert routed.expectation_config.notes.startswith("Rows this expectation finds are routed")
    assert gate.expectation_config.description is None
    assert result.success is False and result.statistics == {
        "evaluated_expectations": 4, "successful_expectations": 2,
        "unsuccessful_expectations": 2, "success_percent": 50.0}
    only_routed = SimpleNamespace(results=[outcome(config("expect_column_values_to_be_unique",
                                                          {"level": "row"}), False)],
                                  success=False, statistics={})
    assert as_routed(only_routed).success is True
    assert only_routed.results[0].expectation_config.description.startswith(
        "expect_column_values_to_be_unique: 0 rows routed")
    empty = as_routed(SimpleNamespace(results=[], success=False, statistics={}))
    assert empty.success is True and empty.statistics["success_percent"] == 100.0


def row(res: dict) -> str:
    return _result_row(res)


def test_a_row_per_expectation_with_status_condition_observed_count_and_sample():
    failed = row({"success": False, "expectation_config": {
        "type": "expect_column_values_to_be_in_type_list",
        "kwargs": {"column": "age", "type_list": ["int64"], "batch_id": "b"}},
        "result": {"observed_value": "str"}})
    assert failed == ("<tr class='failed'><td class='status failed'>✗ failed</td><td>"
                      "<code>expect_column_values_to_be_in_type_list</code><br><span "
                      "class='note'>type_list=[&quot;int64&quot;]</span></td><td>age</td>"
                      "<td>str</td><td class='number'></td><td></td></tr>")
    routed = row({"success": True, "expectation_config": {
        "type": "expect_column_values_to_be_in_set", "kwargs": {"column": "g"},
        "description": "unknown gender: 2 rows"},
        "result": {"unexpected_count": 2, "element_count": 40, "unexpected_percent": 5.0,
                   "missing_count": 1, "partial_unexpected_list": [f"v{i}" for i in range(12)]}})
    assert routed.startswith("<tr class='routed'><td class='status routed'>↪ routed</td>")
    assert "<br>unknown gender: 2 rows</td>" in routed
    assert "<td>5% unexpected of 40 values (1 missing)</td><td class='number'>2</td>" in routed
    assert ("<td>[&quot;v0&quot;, &quot;v1&quot;, &quot;v2&quot;, &quot;v3&quot;, &quot;v4&quot;, "
            "&quot;v5&quot;, &quot;v6&quot;, &quot;v7&quot;, &quot;v8&quot;, &quot;v9&quot;]"
            "</td></tr>") in routed
    passed = row({"success": True, "expectation_config": {"type": "expect_table_row_count",
                                                          "kwargs": {}},
                  "result": {"unexpected_count": 0, "element_count": 5}})
    assert passed == ("<tr class='passed'><td class='status passed'>✓ passed</td><td><code>"
                      "expect_table_row_count</code></td><td>(table)</td><td>0% unexpected of 5 "
                      "values</td><td class='number'>0</td><td></td></tr>")
    error = row({"success": False, "expectation_config": {"type": "t", "kwargs": {"column": "c"}},
                 "exception_info": {"raised_exception": True,
                                    "exception_message": "no column <c>"}})
    assert "<td>error: no column &lt;c&gt;</td>" in error
    assert "<td></td><td class='number'></td>" in row({"success": True})


def test_long_values_are_cut_with_an_ellipsis():
    assert _short("x" * 200) == "x" * 200
    assert _short("x" * 201) == "x" * 199 + "…"
    assert _short({"a": "é"}) == '{"a": "é"}'
    assert _short(5, limit=1) == "5"


def test_the_page_states_the_suite_status_and_statistics():
    page = validation_page({"success": False, "suite_name": "cust<omers>",
                            "statistics": {"evaluated_expectations": 3,
                                           "successful_expectations": 2,
                                           "unsuccessful_expectations": 1,
                                           "success_percent": 66.666666},
                            "meta": {"great_expectations_version": "1.24"},
                            "results": [{"success": True}]})
    assert "<title>Validation: cust&lt;omers&gt;</title>" in page
    assert "<h1>Validation result: suite <code>cust&lt;omers&gt;</code></h1>" in page
    assert "<p class='banner failed'><strong>Status: Failed</strong></p>" in page
    for name, value in (("Evaluated expectations", "3"), ("Successful expectations", "2"),
                        ("Unsuccessful expectations", "1"), ("Success percent", "66.67%"),
                        ("Great Expectations version", "1.24")):
        assert f"<tr><th>{name}</th><td class='number'>{value}</td></tr>" in page
    assert page.count("<tr class='passed'>") == 1 and "<script" not in page
    bare = validation_page({"success": True})
    assert "<p class='banner passed'><strong>Status: Succeeded</strong></p>" in bare
    assert "<table class='stats'></table>" in bare and "Success percent" not in bare


def test_the_page_explains_routed_rows_and_heads_its_tables():
    page = validation_page({"success": True, "suite_name": "s", "results": []})
    assert page.startswith("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                           "<meta name='viewport' content='width=device-width, "
                           "initial-scale=1'><title>")
    assert ("<p class='note'>Expectations that route rows to quarantine (level <code>row</code>) "
            "count those rows here; only gate expectations (schema, types, empty table) fail the "
            "page. The quarantine file lists each routed row with its reason.</p>") in page
    assert "<h2>Statistics</h2>\n<table class='stats'>" in page
    assert ("<h2>Expectations</h2>\n<table><thead><tr><th>Status</th><th>Expectation</th>"
            "<th>Column</th><th>Observed value</th><th>Unexpected count</th>"
            "<th>Unexpected values (sample)</th></tr></thead><tbody>\n\n</tbody></table>\n"
            "</body></html>\n") in page
    assert "<style>" in page and "http" not in page.replace("http-equiv", "")
