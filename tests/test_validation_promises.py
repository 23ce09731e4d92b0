"""Promises of ``segmentation.validation`` not covered by ``test_validation_rules.py``: each
reason of a quarantined row is given once, text parsed as float64 numbers."""

from __future__ import annotations

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
