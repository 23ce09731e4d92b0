"""Row accounting: counts by reason, and a lost row is an error, never a report."""

import pandas as pd
import pytest

from segmentation.report import accounting, accounting_section


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
