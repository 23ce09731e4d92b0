"""Member attributes in the report and the manifest (segmentation/attributes.py), word for word
on small hand-made tables: the report's section (the join's counts, Cramér's V in words with its
p-value, one compact row per segment), the country tables, the manifest's entry, where the
section goes, and the exact refusals of an unusable table."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segmentation import attributes as A
from segmentation.errors import InputError


def profile_of(members: list[str], labels: list[int], **columns) -> A.AttributeProfile:
    ids = columns.pop("id")
    return A.profile_attributes(members, labels,
                                pd.DataFrame(columns, index=pd.Index(ids, name="member_id")))


def small_profile() -> A.AttributeProfile:
    # Region determines the segment among members with a region; member 5 has no row.
    return profile_of(["1", "2", "3", "4", "5"], [0, 1, 0, 1, 1], id=["1", "2", "3", "4"],
                      region=["N", "S", "N", None], size=[1.0, 2.0, None, 4.0])


def test_the_report_section_says_the_join_the_link_in_words_and_a_row_per_segment():
    assert A.attributes_section(small_profile(), {0: "A", 1: "B"}) == "\n".join([
        "## Member attributes",
        "- members with attributes: 4 of 5; without: 1",
        "- rows of the attribute table: 4; ids that match no segmented member (unknown, or set "
        "aside by this run): 0",
        "",
        "Link between the segments and each categorical attribute, Cramér's V: 0 = independent, "
        "1 = the attribute determines the segment (below 0.1 negligible, below 0.3 weak, below "
        "0.5 moderate, else strong). Values beyond the 20 most frequent are pooled as 'other'.",
        "",
        "| attribute | Cramér's V | link | p (chi-square) |",
        "| --- | --- | --- | --- |",
        "| region | 1.000 | strong | 0.135 |",
        "",
        "p: the chance of a link this strong between independent segments and values; above "
        "0.05, the link may be chance.",
        "",
        "Per segment, over its members with attributes: the mean of each numeric attribute, the "
        "most common value of each categorical one with its share (every share is in "
        "profiles.parquet).",
        "",
        "| segment | with attributes | region | size (mean) |",
        "| --- | --- | --- | --- |",
        "| A | 2 | N (100%) | 1.00 |",
        "| B | 2 | S (50%) | 3.00 |"])


def test_without_categorical_attributes_there_is_no_link_table_and_a_title_may_be_given():
    profile = profile_of(["1", "2"], [0, 1], id=["1", "2"], size=[1.0, 3.0])
    section = A.attributes_section(profile, {0: "A"}, title="Customer attributes")
    assert section.startswith("## Customer attributes\n- members with attributes: 2 of 2;")
    assert "Cramér" not in section and "p:" not in section
    assert section.endswith("| A | 1 | 1.00 |\n| 1 | 1 | 3.00 |")   # an unnamed segment: its id


@pytest.mark.parametrize("v, word", [(0.0, "negligible"), (0.0999, "negligible"),
                                     (0.1, "weak"), (0.2999, "weak"), (0.3, "moderate"),
                                     (0.4999, "moderate"), (0.5, "strong"), (1.0, "strong"),
                                     (float("nan"), "\u2014"), (None, "\u2014")])
def test_cramers_v_in_words_at_each_boundary(v, word):
    assert A.strength_word(v) == word


@pytest.mark.parametrize("p, text", [(0.0009, "< 0.001"), (0.001, "0.001"), (0.0456, "0.046"),
                                     (float("nan"), "\u2014"), (None, "\u2014")])
def test_a_p_value_in_the_report(p, text):
    assert A._p_text(p) == text


def test_a_segment_without_any_value_shows_a_dash():
    profile = profile_of(["1", "2", "3"], [0, 0, 1], id=["1", "2"], region=["N", "S"])
    table = A.compact_table(profile, {0: "A", 1: "B"})
    assert table["region"].tolist() == ["N (50%)", "\u2014"]
    assert table["with attributes"].tolist() == ["2", "0"]


def test_the_manifest_rounds_the_statistics_to_six_decimals():
    profile = profile_of(list("1234567"), [0, 0, 0, 1, 1, 1, 1], id=list("1234567"),
                         region=["N", "S", "N", "S", "N", "N", "S"])
    assert profile.strength["region"] == pytest.approx(1 / 6)
    assert A.manifest_entry(profile, "a.csv", "id")["strength_cramers_v"] == {"region": 0.166667}


def test_the_manifest_entry_keeps_kinds_rounded_statistics_and_null_where_undefined():
    entry = A.manifest_entry(small_profile(), "a.csv", "id")
    assert entry == {"path": "a.csv", "id_column": "id",
                     "columns": {"region": "categorical", "size": "numeric"},
                     "strength_cramers_v": {"region": 1.0},
                     "p_value_chi_square": {"region": 0.135335},
                     "counts": {"attribute_rows": 4, "attribute_ids_unmatched": 0,
                                "members_with_attributes": 4, "members_without_attributes": 1}}
    one_value = profile_of(["1", "2"], [0, 1], id=["1", "2"], region=["N", "N"])
    undefined = A.manifest_entry(one_value, "b.parquet", "member")
    assert undefined["strength_cramers_v"] == {"region": None}
    assert undefined["p_value_chi_square"] == {"region": None}


def test_a_section_goes_before_segment_quality_or_at_the_end():
    report = "# R\n\n## Segments\nx\n\n## Segment quality\ny\n"
    assert A.insert_section(report, "## S\nz") == \
        "# R\n\n## Segments\nx\n\n## S\nz\n\n## Segment quality\ny\n"
    assert A.insert_section("# R\n\n## Segments\nx\n\n", "## S\nz") == \
        "# R\n\n## Segments\nx\n\n## S\nz\n"
    assert A.insert_section(report, "## S\nz", before="## Segments") == \
        "# R\n\n## S\nz\n\n## Segments\nx\n\n## Segment quality\ny\n"
    # At the end, only the trailing blank lines go: the last line's text stays whole.
    assert A.insert_section("# R\nsize XX\n\n", "## S") == "# R\nsize XX\n\n## S\n"
    assert A.insert_section("# R\nbreak  \n", "## S") == "# R\nbreak  \n\n## S\n"
    # Only a whole heading line counts: "## Segment quality checks" is another heading.
    assert A.insert_section("# R\n## Segment quality checks\n", "## S") == \
        "# R\n## Segment quality checks\n\n## S\n"


def test_the_country_tables_in_the_report():
    countries = pd.Series(["UK", "UK", "FR", None])
    mix, by_country = A.country_profile([0, 0, 1, 1], {0: "Big", 1: "Small"}, countries)
    assert A.country_section(mix, by_country, {0: "Big", 1: "Small"}) == "\n".join([
        "## Countries", "Each segment's customers by country (each row sums to 100%):", "",
        "| segment | UK | FR | missing | Other |", "| --- | --- | --- | --- | --- |",
        "| Big | 100% | 0% | 0% | 0% |", "| Small | 0% | 50% | 50% | 0% |", "",
        "Each country's customers across the segments (each row sums to 100%):", "",
        "| country | customers | Big | Small |", "| --- | --- | --- | --- |",
        "| UK | 2 | 100% | 0% |", "| FR | 1 | 0% | 100% |", "| missing | 1 | 0% | 100% |"])
    assert by_country["customers"].dtype == np.int64
    assert by_country.index.name == "country" and mix.index.name == "segment_id"
    assert by_country.columns.name is None and mix.columns.name is None


def test_a_segment_without_customers_shows_dashes_and_one_without_a_name_its_id():
    mix, by_country = A.country_profile([0, 1], {0: "Big", 2: "Empty"}, pd.Series(["UK", "FR"]))
    section = A.country_section(mix, by_country, {0: "Big", 2: "Empty"})
    assert "| Big | 100% | 0% | 0% |\n| 1 | 0% | 100% | 0% |\n| Empty | \u2014 | \u2014 | \u2014 |" \
        in section


def test_the_compact_table_has_every_attribute_in_order():
    profile = profile_of(["1", "2"], [0, 1], id=["1", "2"], size=[1.0, 3.0], region=["N", "S"])
    table = A.compact_table(profile, {0: "A", 1: "B"})
    assert table.columns.tolist() == ["segment", "with attributes", "size (mean)", "region"]
    assert table["region"].tolist() == ["N (100%)", "S (100%)"]


def test_countries_with_equal_counts_keep_their_order_and_segments_without_a_name_show_ids():
    countries = pd.Series(["FR", "UK", "DE", "UK", "FR"])
    mix, by_country = A.country_profile([0, 1, 1, 2, 2], {0: "Big"}, countries, top=2)
    assert list(mix.index) == [0, 1, 2] and list(mix.columns) == ["FR", "UK", "Other"]
    assert list(by_country.index) == ["FR", "UK"]          # 2 each: most frequent first, stable
    assert list(by_country.columns) == ["Big", "1", "2", "customers"]


# ---------------------------------------------------------------- refusals, word for word

def refusal(call, *args) -> InputError:
    with pytest.raises(InputError) as refused:
        call(*args)
    return refused.value


def test_the_id_column_is_the_one_named_else_the_member_id_id_or_the_one_ending_in_id():
    header = ["member_no", "region"]
    assert A.resolve_id_column(header, "Member No", "customer_id", "f.csv") == "member_no"
    assert A.resolve_id_column(["customer_id", "id", "x_id"], None, "customer_id", "f") == \
        "customer_id"
    assert A.resolve_id_column(["x_id", "id"], None, "customer_id", "f") == "id"
    assert A.resolve_id_column(["region", "house_id"], None, "", "f") == "house_id"
    missing = refusal(A.resolve_id_column, header, "Member", "customer_id", "f.csv")
    assert str(missing) == ("file 'f.csv', column 'Member': the id column 'Member' "
                            "(--attributes-id) is not in the header (columns: member_no, region)")
    for ambiguous in (["region"], ["a_id", "b_id"]):
        error = refusal(A.resolve_id_column, ambiguous, None, "customer_id", "f.csv")
        assert str(error) == (f"file 'f.csv': no id column found (columns: "
                              f"{', '.join(ambiguous)}): name it with --attributes-id")


def test_rows_without_an_id_and_repeated_ids_are_refused_naming_the_rows():
    rows = pd.Series([2, 3, 4, 5], index=[10, 11, 12, 13])
    blank = refusal(A._check_ids, pd.Series(["1", None, "", "4"]), rows, "id", "f.csv")
    assert str(blank) == ("file 'f.csv', column 'id', row 3: 2 row(s) have no id: each row of "
                          "attributes needs the member it describes")
    repeated = refusal(A._check_ids, pd.Series(["7", "8", "7", "7"]), rows, "id", "f.csv")
    assert str(repeated) == ("file 'f.csv', column 'id', row 4: id '7' comes 3 times (rows 2, "
                             "4, 5): each member needs one row of attributes")
    two = refusal(A._check_ids, pd.Series(["7", "8", "8", "7"]), rows, "id", "f.csv")
    assert str(two) == ("file 'f.csv', column 'id', row 5: id '7' comes 2 times (rows 2, 5): "
                        "each member needs one row of attributes")       # the first repeated
    A._check_ids(pd.Series(["1", "2"]), pd.Series([2, 3]), "id", "f.csv")


def test_a_parquet_table_is_read_with_canonical_names_and_row_numbers_from_1(tmp_path):
    path = tmp_path / "a.parquet"
    frame = pd.DataFrame({"Member No": ["7", "8"], "Tariff": ["flat", "tou"]})
    frame.to_parquet(tmp_path / "plain.parquet", index=False)
    assert A.attribute_header(tmp_path / "plain.parquet") == ["member_no", "tariff"]
    frame.set_axis([5, 9]).to_parquet(path)          # pandas keeps this index in the file
    assert A.attribute_header(path) == ["member_no", "tariff"]   # and it is no column
    read = A._read_parquet(path)
    assert read.columns.tolist() == ["member_no", "tariff", "source_row"]
    assert read["source_row"].tolist() == [1, 2] and read.index.tolist() == [0, 1]
    frame = A.load_attributes(path, "Member No")
    # The index is named member_id whatever the file calls its id column.
    assert frame.index.name == "member_id" and frame.index.tolist() == ["7", "8"]
    assert frame.columns.tolist() == ["tariff"]
    twice = tmp_path / "twice.parquet"
    pd.DataFrame({"Region": ["N"], "region ": ["S"], "id": ["1"]}).to_parquet(twice)
    error = refusal(A.load_attributes, twice, "id")
    assert str(error) == f"file '{twice}', column 'region': two columns name the same column"


def test_a_table_with_a_header_and_no_rows_is_refused_at_row_2(tmp_path):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"id": pd.Series([], dtype="string"), "x": pd.Series([], dtype="string")}) \
        .to_parquet(path)
    error = refusal(A.load_attributes, path, "id")
    assert str(error) == f"file '{path}', row 2: the attribute table has a header and no rows"


def test_a_malformed_csv_line_is_named_with_its_row_and_count(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,region\n1,N\n2,S,x\n3,N,y\n")
    error = refusal(A.load_attributes, path, "id")
    assert str(error).startswith(f"file '{path}', row 3: 2 malformed line(s) in the attribute "
                                 "table, the first: ")
    assert error.row == 3


def test_a_missing_file_is_named():
    error = refusal(A.attribute_header, "/nowhere/a.csv")
    assert str(error) == "file '/nowhere/a.csv': file not found (check the --attributes path)"


@pytest.mark.parametrize("values, numeric", [
    (["1", "2", "3", "4", "5", "6", "7", "8", "9", "x"], True),     # 90% numbers: numeric
    (["1", "2", "3", "4", "5", "6", "7", "8", "x", "y"], False),    # 80%: text
    (["1", "inf", "3"], False),                                     # infinity is no number
    ([None, "NA", " "], False),                                     # no value at all: text
    (["1", "2", "NA", "n/a", "Null", "None", "-", "?", "nan"], True),   # markers are missing
])
def test_a_column_is_numeric_when_nine_in_ten_of_its_values_are_finite_numbers(values, numeric):
    typed = A.typed_column(pd.Series(values, dtype="object"))
    assert pd.api.types.is_float_dtype(typed) == numeric
    if numeric and len(values) == 10:
        assert typed.iloc[:9].tolist() == [float(v) for v in values[:9]]
        assert math.isnan(typed.iloc[9])


def test_a_boolean_column_is_text_and_numbers_stay_numbers():
    assert A.typed_column(pd.Series([True, False])).tolist() == ["True", "False"]
    assert A.typed_column(pd.Series([1, 2], index=[4, 5])).tolist() == [1.0, 2.0]
    # Parquet floats: infinities are no values (a segment's mean stays finite), and a column
    # without any value is text, as the CSV path has them.
    floats = A.typed_column(pd.Series([1.0, np.inf, -np.inf, 4.0]))
    assert floats.dtype == float and floats.isna().tolist() == [False, True, True, False]
    empty = A.typed_column(pd.Series([np.nan, np.nan]))
    assert empty.dtype == "string" and empty.isna().all()


# ---------------------------------------------------------------- profiles

def test_every_column_is_profiled_whatever_its_kind_and_order():
    profile = profile_of(["1", "2", "3"], [0, 1, 1], id=["1", "2", "3"],
                         size=[1.0, 2.0, 4.0], region=["N", "S", "S"], area=[5.0, 6.0, 8.0])
    assert profile.columns == {"size": "numeric", "region": "categorical", "area": "numeric"}
    per = profile.per_segment
    assert per.index.name == "segment_id" and per.index.tolist() == [0, 1]
    # The shares first (most frequent value first), then the means (docs/outputs.md).
    assert per.columns.tolist() == ["attr_members", "attr_share_region_s", "attr_share_region_n",
                                    "attr_mean_size", "attr_mean_area"]
    assert per["attr_members"].dtype == np.int64
    assert per["attr_mean_area"].tolist() == [5.0, 7.0]


def test_a_value_without_members_is_left_out_of_cramers_v():
    counts = pd.DataFrame({"a": [3, 1], "b": [1, 3], "c": [0, 0]})
    assert A.cramers_v(counts) == pytest.approx(A.cramers_v(counts[["a", "b"]]))
    assert A.chance_of(counts) == pytest.approx(A.chance_of(counts[["a", "b"]]))
    assert math.isnan(A.cramers_v(pd.DataFrame({"a": [3, 1], "c": [0, 0]})))


def test_the_profiles_schema_and_the_merge_keep_every_segment():
    profile = profile_of(["1", "2"], [0, 1], id=["1", "2"], region=["N", "S"], size=[1.0, 2.0])
    schema = A.profiles_schema(pa.schema([("segment_id", pa.int32()), ("run_date", pa.date32())]),
                               profile.per_segment)
    assert [(f.name, f.type) for f in schema] == [
        ("segment_id", pa.int32()), ("attr_members", pa.int64()),
        ("attr_share_region_n", pa.float64()), ("attr_share_region_s", pa.float64()),
        ("attr_mean_size", pa.float64()), ("run_date", pa.date32())]
    profiles = pd.DataFrame({"segment_id": [0, 1, 2], "segment_name": ["A", "B", "C"]})
    merged = A.merge_profiles(profiles, profile.per_segment)
    assert merged["segment_id"].tolist() == [0, 1, 2]          # a segment without attributes stays
    assert merged["attr_members"].iloc[:2].tolist() == [1, 1]
    assert merged["attr_members"].isna().iloc[2]


def test_a_value_with_no_letters_or_digits_gets_a_column_named_blank():
    assert A.share_names("region", ["?", "N"]) == ["attr_share_region_blank",
                                                   "attr_share_region_n"]


def test_the_country_mix_plot_stacks_each_segment_s_shares_to_the_whole_bar():
    mix = pd.DataFrame({"UK": [0.75, 0.02], "FR": [0.25, 0.5], "Other": [0.0, 0.48]},
                       index=pd.Index([0, 1], name="segment_id"))
    figure = A.plot_country_mix(mix, {0: "Big spenders"}, "shop: country mix per segment")
    ax = figure.axes[0]
    assert ax.get_title() == "shop: country mix per segment"
    assert ax.get_xlabel() == "share of the segment's customers" and ax.get_xlim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Big spenders", "1"]
    # One bar per segment and country, each starting where the previous country's ended.
    bars = [(p.get_y(), round(p.get_x(), 6), round(p.get_width(), 6)) for p in ax.patches]
    big = sorted((x, w) for y, x, w in bars if abs(y - ax.patches[0].get_y()) < 1e-9)
    assert big == [(0.0, 0.75), (0.75, 0.25), (1.0, 0.0)]
    one = sorted((x, w) for y, x, w in bars if abs(y - ax.patches[1].get_y()) < 1e-9)
    assert one == [(0.0, 0.02), (0.02, 0.5), (0.52, 0.48)]
    grey = matplotlib.colors.to_rgba("lightgrey")
    assert [p.get_facecolor() == grey for p in ax.patches] == [False] * 4 + [True] * 2
    tab20 = plt.get_cmap("tab20").colors                 # countries in the tab20 colours
    assert ax.patches[0].get_facecolor() == matplotlib.colors.to_rgba(tab20[0])
    assert ax.patches[2].get_facecolor() == matplotlib.colors.to_rgba(tab20[1])
    assert all(p.get_edgecolor() == matplotlib.colors.to_rgba("white") for p in ax.patches)
    # Pieces of 6% or more carry their share, in their middle; narrower ones none.
    texts = sorted((round(t.get_position()[0], 6), t.get_text()) for t in ax.texts)
    assert texts == [(0.27, "50%"), (0.375, "75%"), (0.76, "48%"), (0.875, "25%")]
    assert all(t.get_ha() == "center" and t.get_va() == "center" and t.get_fontsize() == 8
               for t in ax.texts)
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "country"
    assert [t.get_text() for t in legend.get_texts()] == ["UK", "FR", "Other"]
    assert all(t.get_fontsize() == 8 for t in legend.get_texts())
    assert ax.xaxis.get_major_formatter()(0.5, 0) == "50%"          # shares as percentages
    plt.close(figure)


def test_a_parquet_table_written_without_pandas_has_its_columns_as_header(tmp_path):
    # Written by Arrow itself (DuckDB, Spark...): no pandas metadata, so no index to leave out.
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"Member No": ["7", "8"], "Tariff": ["flat", "tou"]}), path)
    assert pq.read_schema(path).pandas_metadata is None
    assert A.attribute_header(path) == ["member_no", "tariff"]
