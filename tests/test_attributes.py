"""Member attributes and countries profiled per segment (segmentation/attributes.py), as
docs/customers.md promises: ids joined after the customer pipeline's normalisation, unmatched
ids and members without attributes counted, shares summing to 1, means over members with a
value, Cramér's V from 0 (independent) to 1 (determines the segment), clear errors."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segmentation import attributes as A
from segmentation.errors import InputError
from segmentation.preflight import check_attributes
from tests.conftest import shared_file


def write(tmp_path, text: str, name: str = "attributes.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def table(**columns) -> pd.DataFrame:
    """An attribute table as ``load_attributes`` returns it: index the member id."""
    ids = columns.pop("id")
    return pd.DataFrame(columns, index=pd.Index(ids, name="member_id"))


# ---------------------------------------------------------------- reading

def test_a_table_is_read_with_normalised_ids_typed_columns_and_missing_markers(tmp_path):
    path = write(tmp_path, "Member ID;Region;Household size;Postcode\n"
                           "0042;North;2;AB1\n7;n/a;3.5;CD2\n8.0; South ;x;EF3\n"
                           + "".join(f"{i};East;{i};GH{i}\n" for i in range(10, 20)))
    frame = A.load_attributes(path, "Member ID")
    assert list(frame.index[:3]) == ["42", "7", "8"]
    assert list(frame.columns) == ["region", "household_size", "postcode"]
    assert frame["household_size"].dtype == float           # 12 of 13 values are numbers
    assert math.isnan(frame.loc["8", "household_size"]) and frame.loc["7", "household_size"] == 3.5
    assert pd.isna(frame.loc["7", "region"]) and frame.loc["8", "region"] == "South"
    assert frame["region"].dtype != float


def test_a_column_with_fewer_than_90_percent_numbers_stays_text():
    values = pd.Series(["1", "2", "3", "4", "5", "6", "7", "8", "a", "b"])
    assert A.typed_column(values).dtype != float
    assert A.typed_column(pd.concat([values[:9], pd.Series(["9"])])).dtype == float


def test_gzip_csv_and_parquet_read_like_csv(tmp_path):
    text = "customer_id,tariff,area\n1,flat,50\n2,tou,60\n"
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    parquet = tmp_path / "a.parquet"
    pd.DataFrame({"CustomerID": [1.0, 2.0], "Tariff": ["flat", "tou"], "area": [50, 60]}) \
        .to_parquet(parquet)
    for path in (gz, parquet):
        frame = A.load_attributes(path, "customer_id")
        assert list(frame.index) == ["1", "2"], path
        assert frame["area"].tolist() == [50.0, 60.0] and frame["tariff"].tolist() == ["flat", "tou"]


def test_a_missing_id_column_names_the_file_the_column_and_the_header(tmp_path):
    path = write(tmp_path, "member,region\n1,North\n")
    with pytest.raises(InputError) as error:
        A.load_attributes(path, "Member ID")
    text = str(error.value)
    assert str(path) in text and "'Member ID'" in text and "columns: member, region" in text


def test_a_duplicated_id_is_named_with_its_rows(tmp_path):
    path = write(tmp_path, "id,region\n1,North\n42,South\n0042,East\n")
    with pytest.raises(InputError) as error:
        A.load_attributes(path, "id")
    assert error.value.file == str(path) and error.value.column == "id"
    assert "id '42' comes 2 times (rows 3, 4)" in str(error.value)


@pytest.mark.parametrize("text, expected", [
    ("", "the file is empty"),
    ("id,region\n", "has a header and no rows"),
    ("id,region\n,North\n", "have no id"),
    ("id,region\n1,North,extra\n", "malformed line"),
])
def test_an_unusable_table_is_refused_naming_the_file(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=expected) as error:
        A.load_attributes(path, "id")
    assert str(path) in str(error.value)


def test_preflight_finds_the_id_column_or_says_how_to_name_it(tmp_path):
    check_attributes(str(write(tmp_path, "CustomerID,region\n1,North\n")), None, "customers")
    check_attributes(str(write(tmp_path, "meter_id,tariff\nM1,flat\n")), None, "meters")
    check_attributes(str(write(tmp_path, "Member No,region\n1,North\n")), "member_no", "customers")
    with pytest.raises(InputError, match="name it with --attributes-id"):
        check_attributes(str(write(tmp_path, "member,region\n1,North\n")), None, "customers")
    with pytest.raises(InputError, match="'Member No' .* not in the header"):
        check_attributes(str(write(tmp_path, "member,region\n1,North\n")), "Member No", "customers")
    with pytest.raises(InputError, match="file not found"):
        check_attributes(str(tmp_path / "nowhere.csv"), None, "customers")
    with pytest.raises(InputError, match="pass the table with --attributes"):
        check_attributes(None, "member", "customers")


# ---------------------------------------------------------------- profiling

def test_unmatched_ids_and_members_without_attributes_are_counted_exactly():
    attributes = table(id=["1", "2", "3", "77", "78"], region=["N", "S", "N", "N", "S"])
    profile = A.profile_attributes(["0001", "2", "3", "4", "5", "6"], [0, 0, 1, 1, 1, 0],
                                   attributes)
    assert profile.counts == {"attribute_rows": 5, "attribute_ids_unmatched": 2,
                              "members_with_attributes": 3, "members_without_attributes": 3}
    assert profile.per_segment[A.MEMBERS_COLUMN].tolist() == [2, 1]
    assert profile.columns == {"region": "categorical"}


def test_shares_sum_to_one_per_segment_among_members_with_attributes_missing_included():
    attributes = table(id=[str(i) for i in range(8)],
                       region=["N", "N", None, "S", "S", "S", "N", None])
    profile = A.profile_attributes([str(i) for i in range(9)], [0, 0, 0, 0, 1, 1, 1, 1, 1],
                                   attributes)
    shares = profile.per_segment.filter(like="attr_share_region_")
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert shares.loc[0, "attr_share_region_n"] == 0.5           # 2 of the 4 with attributes
    assert shares.loc[0, "attr_share_region_missing"] == 0.25
    assert shares.loc[1, "attr_share_region_missing"] == 0.25    # member 8 has no row: not counted
    assert profile.categories["region"]["attr_share_region_missing"] == A.MISSING


def test_rare_values_are_pooled_beyond_the_cap():
    values = [f"v{i}" for i in range(25) for _ in range(25 - i)]     # v0 most frequent
    counts = A.category_counts(np.zeros(len(values), int), values)
    assert list(counts.columns) == [f"v{i}" for i in range(A.MAX_CATEGORIES)] + [A.OTHER]
    assert counts[A.OTHER].iloc[0] == sum(25 - i for i in range(A.MAX_CATEGORIES, 25))


def test_numeric_means_are_over_the_members_with_a_value():
    attributes = table(id=["1", "2", "3", "4", "5"], size=[1.0, 3.0, np.nan, 10.0, 20.0])
    profile = A.profile_attributes(["1", "2", "3", "4", "5", "6"], [0, 0, 0, 1, 1, 2], attributes)
    means = profile.per_segment["attr_mean_size"]
    assert means[0] == 2.0 and means[1] == 15.0 and math.isnan(means[2])
    assert profile.columns == {"size": "numeric"} and profile.strength == {}


def test_cramers_v_is_0_for_an_independent_attribute_and_1_for_a_determining_one():
    ids = [str(i) for i in range(12)]
    labels = [0] * 6 + [1] * 6
    attributes = table(id=ids, independent=["a", "b", "c"] * 4,
                       determining=["x"] * 6 + ["y"] * 3 + ["z"] * 3)
    profile = A.profile_attributes(ids, labels, attributes)
    strength = profile.strength
    assert strength["independent"] == pytest.approx(0.0, abs=1e-12)
    assert strength["determining"] == pytest.approx(1.0)
    assert profile.p_values["independent"] == pytest.approx(1.0)    # no sign of a link
    assert profile.p_values["determining"] < 0.01                   # 12 members, chi-square 12
    assert A.strength_word(0.05) == "negligible" and A.strength_word(0.2) == "weak"
    assert A.strength_word(0.4) == "moderate" and A.strength_word(0.9) == "strong"
    assert [A.strength_word(v) for v in (0.1, 0.3, 0.5)] == ["weak", "moderate", "strong"]


def test_cramers_v_is_undefined_with_one_value():
    attributes = table(id=["1", "2"], region=["N", "N"])
    profile = A.profile_attributes(["1", "2"], [0, 1], attributes)
    assert math.isnan(profile.strength["region"])
    entry = A.manifest_entry(profile, "a.csv", "id")
    assert entry["strength_cramers_v"] == {"region": None} == entry["p_value_chi_square"]


def test_values_that_read_alike_get_distinct_columns():
    assert A.share_names("region", ["North", "north", "N-1"]) == [
        "attr_share_region_north", "attr_share_region_north_2", "attr_share_region_n_1"]


def test_profiles_gain_the_columns_before_run_date_and_the_report_a_section():
    attributes = table(id=["1", "2", "3"], region=["N", "S", "N"], size=[1.0, 2.0, 3.0])
    profile = A.profile_attributes(["1", "2", "3", "4"], [0, 1, 0, 2], attributes)
    profiles = pd.DataFrame({"segment_id": [0, 1, 2], "segment_name": ["A", "B", "C"],
                             "run_date": pd.Timestamp("2026-01-01").date()})
    merged = A.merge_profiles(profiles, profile.per_segment)
    schema = A.profiles_schema(pa.schema([("segment_id", pa.int32()), ("segment_name", pa.string()),
                                          ("run_date", pa.date32())]), profile.per_segment)
    assert schema.names == ["segment_id", "segment_name", "attr_members", "attr_share_region_n",
                            "attr_share_region_s", "attr_mean_size", "run_date"]
    assert merged["attr_members"].tolist() == [2, 1, 0]
    section = A.attributes_section(profile, {0: "A", 1: "B", 2: "C"})
    assert "members with attributes: 3 of 4; without: 1" in section
    assert "| region | 1.000 | strong |" in section and "| A | 2 | N (100%) | 2.00 |" in section
    report = A.insert_section("# R\n\n## Segments\nx\n\n## Segment quality\ny\n", section)
    assert report.index("## Member attributes") < report.index("## Segment quality")


# ---------------------------------------------------------------- countries

def test_country_mix_and_each_country_across_segments_sum_to_one():
    countries = pd.Series(["UK"] * 5 + ["FR"] * 2 + ["DE", "ES", None])
    labels = [0, 0, 0, 1, 1, 0, 1, 1, 0, 1]
    mix, by_country = A.country_profile(labels, {0: "Big", 1: "Small", 2: "Empty"}, countries,
                                        top=2)
    assert list(mix.columns) == ["UK", "FR", "missing", "Other"]
    assert np.allclose(mix.loc[[0, 1]].sum(axis=1), 1.0) and mix.loc[2].isna().all()
    assert mix.loc[0, "Other"] == 0.2 and mix.loc[0, "UK"] == 0.6
    assert list(by_country.index) == ["UK", "FR", "missing"]
    assert by_country["customers"].tolist() == [5, 2, 1]
    assert np.allclose(by_country[["Big", "Small"]].sum(axis=1), 1.0)
    section = A.country_section(mix, by_country, {0: "Big", 1: "Small", 2: "Empty"})
    assert "| Big | 60% | 20% | 0% | 20% |" in section and "| UK | 5 | 60% | 40% | 0% |" in section
    few, _ = A.country_profile(labels, {0: "Big", 1: "Small"}, countries.fillna("UK"), top=5)
    assert list(few.columns) == ["UK", "FR", "DE", "ES", "Other"] and (few["Other"] == 0).all()
    figure = A.plot_country_mix(mix, {0: "Big", 1: "Small", 2: "Empty"}, "shop: countries")
    assert len(figure.axes[0].patches) == 3 * 4


# ---------------------------------------------------------------- real data

def test_mall_customers_join_a_generated_attribute_table(tmp_path):
    """The Mall table's CustomerID against an attribute table keyed the same way: every
    customer but the 20 left out matched, the 5 extra ids counted, region independent of a
    random split and determining a split by region."""
    mall = pd.read_csv(shared_file("mall/Mall_Customers.csv"))
    ids = mall["CustomerID"].astype(str)
    rng = np.random.default_rng(0)
    kept = mall.iloc[20:]
    path = tmp_path / "regions.csv"
    pd.DataFrame({"CustomerID": [f"{i:05d}" for i in kept["CustomerID"]] + list(range(900, 905)),
                  "Region": rng.choice(["North", "South"], len(kept) + 5),
                  "Household size": rng.integers(1, 6, len(kept) + 5)}).to_csv(path, index=False)
    attributes = A.load_attributes(path, "CustomerID")
    random_split = rng.integers(0, 3, len(mall))
    profile = A.profile_attributes(ids, random_split, attributes)
    assert profile.counts == {"attribute_rows": 185, "attribute_ids_unmatched": 5,
                              "members_with_attributes": 180, "members_without_attributes": 20}
    assert profile.strength["region"] < 0.3
    by_region = attributes["region"].reindex(ids.to_numpy()).map({"North": 0, "South": 1})
    split = A.profile_attributes(ids[20:], by_region.iloc[20:].astype(int), attributes)
    assert split.strength["region"] == pytest.approx(1.0)
    assert "| region | 1.000 | strong | < 0.001 |" in A.attributes_section(split, {0: "N", 1: "S"})
    assert np.allclose(profile.per_segment.filter(like="attr_share_").sum(axis=1), 1.0)
