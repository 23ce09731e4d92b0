"""The UCI Online Retail log (../shared/data/transactions/online_retail/), as of 2011-12-09:
what its README says it holds is found, every line is accounted for, and every segment's
name is a claim that holds on its members."""

from datetime import date

import pandas as pd
import pytest

from segmentation.transactions import features, ingest
from segmentation.transactions.config import resolve_transaction_config
from segmentation.transactions.naming import CLAIMS, claim_holds
from segmentation.transactions.pipeline import segment_transactions
from tests.conftest import shared_file

pytestmark = pytest.mark.slow
RUN_DATE = date(2011, 12, 9)


@pytest.fixture(scope="module")
def online_retail(tmp_path_factory):
    path = shared_file("transactions/online_retail/online_retail.csv.gz")
    work = tmp_path_factory.mktemp("online-retail")
    staged = ingest.stage_lines(path, work / "staged.parquet")
    config = resolve_transaction_config(staged["header"])
    split = ingest.split_lines(str(work / "staged.parquet"), config, RUN_DATE, work, str(path))
    found = features.customer_features(split.lines, RUN_DATE, work / "features.parquet")
    frame = pd.read_parquet(work / "features.parquet")
    result, _ = segment_transactions(frame, k=5)          # the k the rule chooses here
    return staged, split.counts, found, result


def test_the_readme_s_oddities_are_found(online_retail):
    staged, counts, _, _ = online_retail
    assert staged["rows"] == 541_909 and len(staged["rejects"]) == 0
    reasons = counts["quarantined_by_reason"]

    def lines_with(reason):
        return sum(n for r, n in reasons.items() if reason in r.split("; "))

    assert counts["anonymous_sales"]["lines"] == lines_with("no customer id (anonymous sale)") \
        == 135_080                                             # CustomerID missing: 25%
    assert lines_with("exact duplicate line (the first is kept)") == 5_268
    assert lines_with("implausible quantity (more than 10000 units)") == 5   # 80,995 and kin
    assert counts["non_product_by_code"]["POST"]["lines"] + counts["lines_kept"] > 0
    assert set(counts["non_product_by_code"]) <= {"POST", "DOT", "C2", "M", "m", "D", "S",
                                                  "BANK CHARGES", "AMAZONFEE", "CRUK", "B"}
    assert counts["excluded_by_reason"] == {
        "non-product line (postage, fees, adjustments)": sum(
            v["lines"] for v in counts["non_product_by_code"].values())}   # nothing after D


def test_every_line_is_accounted_for(online_retail):
    staged, counts, found, _ = online_retail
    quarantined = sum(counts["quarantined_by_reason"].values())
    excluded = sum(counts["excluded_by_reason"].values())
    assert staged["rows"] == counts["lines_kept"] + quarantined + excluded
    assert counts["lines_kept"] == found["lines_used"] + found["returns_only"]["lines"]
    assert found["customers"] == 4_333 and found["returns"]["without_earlier_purchase"]["lines"]


def test_every_segment_name_holds_on_its_members(online_retail):
    *_, result = online_retail
    segments = result.segments
    names = set(segments["segment_name"])
    assert {"Champions", "New Customers", "Hibernating", "Returners"} <= names
    for name, members in segments.groupby("segment_name"):
        if name in CLAIMS:
            assert claim_holds(name, members, segments), name
        else:                  # a descriptive name: each "High X" term is a claim too
            for term in name.split(" / "):
                word, feature = term.split(" ", 1)
                column = feature.lower().replace(" ", "_")
                higher = members[column].median() > segments[column].median()
                assert higher if word == "High" else not higher, (name, term)
