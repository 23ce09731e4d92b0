"""Row accounting: counts by reason, and a lost row is an error, never a report."""

import pandas as pd
import pytest

from segmentation.errors import InputError
from segmentation.report import accounting, accounting_section, refuse_mostly_quarantined


def test_counts_reconcile_and_group_by_reason():
    quarantine = pd.DataFrame({"reason": ["null id", "null id", "missing age"]})
    counts = accounting(10, 7, quarantine)
    assert counts == {"rows_in": 10, "rows_out": 7, "rows_quarantined": 3,
                      "quarantined_by_reason": {"null id": 2, "missing age": 1}}
    assert accounting_section(counts).splitlines() == [
        "## Row accounting", "- rows in: 10", "- rows out: 7", "- rows quarantined: 3",
        "  - missing age: 1", "  - null id: 2", "- reconciles (in = out + quarantined): yes"]


def test_nothing_quarantined_gives_no_reasons():
    for empty in (pd.DataFrame({"reason": pd.Series([], dtype=str)}), pd.DataFrame()):
        counts = accounting(4, 4, empty)     # an empty quarantine may come without columns
        assert counts["quarantined_by_reason"] == {} and counts["rows_quarantined"] == 0


@pytest.mark.parametrize("rows_out", [6, 8])
def test_a_lost_or_invented_row_stops_the_run(rows_out):
    with pytest.raises(AssertionError, match="does not reconcile"):
        accounting(10, rows_out, pd.DataFrame({"reason": ["null id"] * 3}))


def test_the_report_says_no_when_counts_disagree():
    counts = {"rows_in": 10, "rows_out": 6, "rows_quarantined": 3}
    assert "reconciles (in = out + quarantined): NO" in accounting_section(counts)


def test_more_than_the_cap_quarantined_is_refused_naming_the_five_main_reasons():
    reasons = {"f": 1, "e": 2, "d": 2, "c": 3, "b": 4, "a": 5}
    refuse_mostly_quarantined(reasons, 17, 170, 0.1, unit="rows", hint="h", file="t.csv")  # at: ok
    with pytest.raises(InputError) as refused:
        refuse_mostly_quarantined(reasons, 17, 169, 0.1, unit="rows", hint="check it",
                                  file="t.csv")
    assert str(refused.value) == (
        "file 't.csv': 17 of 169 rows (10%) would be quarantined (5 a, 4 b, 3 c, 2 d, 2 e), "
        "more than the 10% allowed: check it")
