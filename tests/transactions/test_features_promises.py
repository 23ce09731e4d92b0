"""``customer_features``'s promises beyond the features' values (``test_features.py``): a log
without a product column, any folder, the counts it returns (rounded money, plain ints)."""

from datetime import date

import pandas as pd

from segmentation.transactions.features import customer_features
from tests.transactions.test_features import D, line


def write_lines(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    frame.to_parquet(folder / "lines.parquet")
    return folder / "lines.parquet"


ROWS = [line("A", 40, 10.125, "o1", "P1"), line("A", 40, 5.0, "o1", "P2"),
        line("A", 3, -2.004, "c1", "P1", is_return=True),
        line("B", 10, 7.5, "o2", "P3"), line("B", 12, -1.333, "c2", "P3", is_return=True),
        line("Z", 8, -4.111, "c3", "P3", is_return=True)]


def test_counts_round_money_to_cents_and_are_plain_numbers(tmp_path):
    counts = customer_features(write_lines(tmp_path, ROWS), D, tmp_path / "features.parquet")
    assert counts == {"customers": 2, "lines_used": 5,
                      "returns": {"lines": 3, "value": 7.45,
                                  "without_earlier_purchase": {"lines": 2, "value": 5.44,
                                                               "customers": 2}},
                      "returns_only": {"lines": 1, "customers": 1}}
    assert type(counts["customers"]) is int and type(counts["lines_used"]) is int
    assert type(counts["returns"]["value"]) is float


def test_without_a_product_column_distinct_products_is_null(tmp_path):
    lines = write_lines(tmp_path, ROWS)
    customer_features(lines, D, tmp_path / "with.parquet")
    customer_features(lines, D, tmp_path / "without.parquet", has_product=False)
    with_products = pd.read_parquet(tmp_path / "with.parquet").set_index("customer_id")
    without = pd.read_parquet(tmp_path / "without.parquet").set_index("customer_id")
    assert list(with_products["distinct_products"]) == [2, 1]
    assert without["distinct_products"].isna().all()
    pd.testing.assert_frame_equal(with_products.drop(columns="distinct_products"),
                                  without.drop(columns="distinct_products"))


def test_any_folder_and_file_name_will_do(tmp_path):
    """A quote in the lines' and the target's path (``O'Brien's shop``), a target folder not
    made yet."""
    lines = write_lines(tmp_path / "O'Brien's shop", ROWS)
    target = tmp_path / "O'Brien's shop" / "new" / "run" / "features.parquet"
    counts = customer_features(lines, date(2011, 12, 9), target)
    assert counts["customers"] == 2 and len(pd.read_parquet(target)) == 2


def test_features_in_shards_equal_one_query_and_its_counts(tmp_path):
    from segmentation.transactions.features import score_features, shard_features

    rows = ROWS + [line(c, d, 3.0 + d, f"o{c}{d}", "P9") for c in "CDEFGH" for d in (5, 20, 60)]
    lines = write_lines(tmp_path, rows)
    whole = customer_features(lines, D, tmp_path / "whole.parquet")
    parts = [shard_features(lines, D, tmp_path / f"s{i}.parquet", i, 3) for i in range(3)]
    assert all(pd.read_parquet(p["part"]).shape[0] < whole["customers"] for p in parts)
    assert score_features(parts, tmp_path / "sharded.parquet") == whole
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "sharded.parquet"),
                                  pd.read_parquet(tmp_path / "whole.parquet"))


def test_an_unreadable_log_fails_with_its_own_error_and_leaves_no_part(tmp_path):
    import duckdb
    import pytest

    with pytest.raises(duckdb.IOException):
        customer_features(tmp_path / "missing.parquet", D, tmp_path / "features.parquet")
    assert list(tmp_path.iterdir()) == []
