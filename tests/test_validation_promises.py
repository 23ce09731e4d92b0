"""Promises of ``segmentation.validation`` not covered by ``test_validation_rules.py``: each
reason of a quarantined row is given once."""

from __future__ import annotations

from segmentation.validation import split_row_failures
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
