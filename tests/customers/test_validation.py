"""The customers suite: table failures stop the run, row failures go to quarantine."""

import pandas as pd
import pytest

from segmentation.customers import pipeline
from segmentation.customers.config import resolve_config
from segmentation.errors import ValidationFailed
from segmentation.validation import load_suite

HEADER = ["CustomerID", "Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"]
GOOD = [["1", "Male", "19", "15", "39"], ["2", "Female", "21", "15", "81"],
        ["3", "Female", "20", "16", "6"], ["4", "Male", "23", "16", "77"]]


def ingest(tmp_path, rows, header=HEADER):
    """Write rows as a CSV and ingest it the way the flow does."""
    path = tmp_path / "c.csv"
    pd.DataFrame(rows, columns=header).to_csv(path, index=False)
    frame, rejects = pipeline.ingest(path)
    return frame, resolve_config(list(frame.columns)), str(path)


def reasons(tmp_path, bad_rows):
    frame, config, path = ingest(tmp_path, GOOD + bad_rows)
    valid, quarantine, _ = pipeline.validate(frame, config, path)
    assert len(valid) + len(quarantine) == len(frame)  # every row accounted for
    return valid, quarantine


def test_suite_json_is_versioned_and_expands_placeholders():
    config = resolve_config(["customer_id", "gender", "age", "annual_income_k", "spending_score"])
    suite = load_suite("customers", config.suite_columns())
    columns = {e["kwargs"].get("column") for e in suite["expectations"]}
    assert {"customer_id", "age", "annual_income_k", "spending_score", "gender"} <= columns
    assert not any(str(c).startswith("$") for c in columns)


@pytest.mark.parametrize("bad,reason", [
    (["", "Male", "30", "20", "50"], "null id"),
    (["5", "Male", "130", "20", "50"], "age outside 0-120"),
    (["5", "Male", "30", "-20", "50"], "negative income"),
    (["5", "Male", "30", "20", "150"], "spending score outside 1-100"),
    (["5", "Robot", "30", "20", "50"], "unknown gender"),
    (["5", "Male", "thirty", "20", "50"], "non-numeric age: 'thirty'"),
    (["5", "Male", "30", "20", ""], "missing spending_score"),
])
def test_bad_rows_are_quarantined_with_reason(tmp_path, bad, reason):
    valid, quarantine = reasons(tmp_path, [bad])
    assert len(valid) == len(GOOD)
    assert quarantine["reason"].tolist() == [reason] or reason in quarantine["reason"].iloc[0]
    assert quarantine["source_row"].tolist() == [len(GOOD) + 2]


def test_conflicting_duplicate_ids_quarantine_every_copy(tmp_path):
    valid, quarantine = reasons(tmp_path, [["1", "Male", "40", "50", "50"]])
    assert sorted(quarantine["customer_id"]) == ["1", "1"]
    assert set(quarantine["reason"]) == {"duplicate id with conflicting values"}


def test_exact_duplicate_keeps_first_copy(tmp_path):
    valid, quarantine = reasons(tmp_path, [GOOD[0]])
    assert "1" in set(valid["customer_id"])
    assert quarantine["reason"].tolist() == ["exact duplicate of line 2"]


def test_zero_padded_duplicate_is_the_same_customer(tmp_path):
    valid, quarantine = reasons(tmp_path, [["0001", "male", "19", "15", "39"]])
    assert quarantine["reason"].tolist() == ["exact duplicate of line 2"]


def test_missing_column_fails_naming_expectation_and_column(tmp_path):
    frame, _, path = ingest(tmp_path, [r[:4] for r in GOOD], HEADER[:4])
    config = resolve_config(list(frame.columns))
    with pytest.raises(ValidationFailed) as err:
        pipeline.validate(frame, config, path)
    message = str(err.value)
    assert "expect_column_to_exist on column 'spending_score'" in message and path in message
    # said once: the expectations that cannot run on the missing column are not listed
    assert [f["column"] for f in err.value.failures] == ["spending_score"]


def test_header_only_fails_row_count(tmp_path):
    frame, config, path = ingest(tmp_path, [])
    with pytest.raises(ValidationFailed, match=r"expect_table_row_count_to_be_between "
                                               r"\(observed 0\)$"):
        pipeline.validate(frame, config, path)


def test_text_column_fails_type_expectation(tmp_path):
    rows = [[r[0], r[1], r[2], "lots", r[4]] for r in GOOD]
    frame, config, path = ingest(tmp_path, rows)
    with pytest.raises(ValidationFailed, match="expect_column_values_to_be_in_type_list on column "
                                               "'annual_income_k'"):
        pipeline.validate(frame, config, path)


def test_extra_columns_are_ignored(tmp_path):
    rows = [r + ["x"] for r in GOOD]
    frame, config, path = ingest(tmp_path, rows, HEADER + ["Loyalty Card"])
    valid, quarantine, _ = pipeline.validate(frame, config, path)
    assert len(valid) == len(GOOD) and quarantine.empty
    assert "loyalty_card" not in valid.columns


def test_a_row_that_fails_two_rules_keeps_both_reasons(tmp_path):
    valid, quarantine = reasons(tmp_path, [["5", "Robot", "130", "20", "150"],
                                           ["6", "Male", "thirty", "-5", "50"]])
    assert len(valid) == len(GOOD) and quarantine["source_row"].tolist() == [6, 7]
    assert [sorted(r.split("; ")) for r in quarantine["reason"]] == [
        ["age outside 0-120", "spending score outside 1-100",
         "unknown gender (expected M/F/Male/Female)"],
        ["negative income", "non-numeric age: 'thirty'"]]


def test_a_row_rule_without_a_reason_is_named_by_its_expectation_and_column():
    from segmentation.validation import validate_frame

    suite = {"name": "tiny", "expectations": [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"},
         "meta": {"level": "table"}}]}
    frame = pd.DataFrame({"id": ["a", "b", "a", None]}, index=[7, 8, 9, 10])
    outcome = validate_frame(frame, suite)
    assert outcome.suite_name == "tiny" and outcome.data_docs_html is None
    assert outcome.row_failures.to_dict("records") == [
        {"row": i, "expectation": "expect_column_values_to_be_unique", "column": "id",
         "reason": "expect_column_values_to_be_unique on id"} for i in (7, 9)]
    assert outcome.table_failures == [{"expectation": "expect_column_values_to_not_be_null",
                                       "column": "id", "detail": None}]
    assert outcome.statistics["evaluated_expectations"] == 2
    assert outcome.result_json["success"] is False
    summary = validate_frame(frame, suite, result_format="SUMMARY")
    assert summary.row_failures.empty and list(summary.row_failures.columns) == [
        "row", "expectation", "column", "reason"]


def test_validation_uses_an_in_memory_context_without_progress_bars_or_gx_warnings(tmp_path,
                                                                                    monkeypatch):
    """Nothing is written where the run starts, and a run's log holds no GX progress bars or
    warnings (the cached source is built afresh here)."""
    import logging

    from segmentation import validation

    monkeypatch.chdir(tmp_path)
    logger = logging.getLogger("great_expectations")
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    source = validation._pandas_source.__wrapped__()
    assert type(source._data_context).__name__ == "EphemeralDataContext"
    assert source._data_context.variables.progress_bars == {"globally": False}
    assert logger.level == logging.ERROR
    assert list(tmp_path.iterdir()) == []
