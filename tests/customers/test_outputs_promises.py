"""What a customer run publishes, without Prefect (segmentation/customers/outputs.py,
docs/customers.md, docs/outputs.md): the quarantine's rows and text columns, the run date,
the plots' units and log axes, the report's names of categories, its segment table, its
cleaning lines and the report's sections (tests/customers/test_pipeline_steps.py and
tests/test_report.py hold the first promises of each)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from segmentation.customers import outputs
from segmentation.customers.config import CustomerConfig
from segmentation.quality import quality_section
from segmentation.report import accounting_section, kselection_section, markdown_table
from tests.test_report import figures_for, selection

# ---------------------------------------------------------------- quarantine rows


def test_an_exact_duplicate_has_its_own_line_as_raw_line():
    """docs/outputs.md: ``raw_line`` never null, an exact duplicate's included: each failed row
    gets the line of its own ``source_row``, whatever the frame's index."""
    failed = pd.DataFrame({"customer_id": ["7", "7"], "age": ["30", "30"],
                           "source_row": [4, 9], "reason": ["exact duplicate"] * 2},
                          index=[40, 90])
    table = outputs.quarantine_frame(failed, pd.DataFrame(columns=["source_row", "raw_line",
                                                                   "reason"]),
                                     "raw/c.csv", {4: "7,30", 9: "7,30 ", 2: "x"})
    assert table["raw_line"].tolist() == ["7,30", "7,30 "]
    assert str(table["raw_line"].dtype) == "string"


def test_the_quarantine_of_malformed_lines_only_has_text_reasons_and_lines():
    """quarantine.parquet's ``reason`` and ``raw_line`` are strings, for malformed lines too."""
    rejects = pd.DataFrame({"source_row": [3, 2], "raw_line": ["3,4", "1"],
                            "reason": ["2 fields where the header has 3",
                                       "1 field where the header has 3"]})
    table = outputs.quarantine_frame(pd.DataFrame(columns=["customer_id", "source_row"]),
                                     rejects, "c.csv", {})
    assert table["source_row"].tolist() == [2, 3]
    assert str(table["raw_line"].dtype) == "string" and str(table["reason"].dtype) == "string"
    assert table["source_file"].tolist() == ["c.csv", "c.csv"]


def test_failed_rows_are_written_as_read_in_text_and_the_caller_s_frame_is_left_alone():
    """Every input column as read, as text (nullable: a missing value stays missing);
    ``source_row`` stays a number."""
    failed = pd.DataFrame({"customer_id": ["1", "2"], "age": [130.0, np.nan],
                           "source_row": [2, 3], "reason": ["age outside 0-120", "x"]})
    table = outputs.quarantine_frame(failed, pd.DataFrame(columns=["source_row", "raw_line",
                                                                   "reason"]),
                                     "c.csv", {2: "1,130", 3: "2,"})
    assert table["age"].tolist()[0] == "130.0" and table["age"].isna().tolist() == [False, True]
    assert table["source_row"].tolist() == [2, 3] and table["source_row"].dtype.kind == "i"
    assert failed["age"].dtype == float and "raw_line" not in failed


# ---------------------------------------------------------------- text and run date


def test_as_text_leaves_the_caller_s_frame_and_source_row_as_they_are():
    """``as_text``: every column but source_row as nullable text, on a copy."""
    data = pd.DataFrame({"a": [1.5, None], "flag": [True, False], "source_row": [2, 3]})
    text = outputs.as_text(data)
    assert text["a"].tolist()[0] == "1.5" and text["a"].isna().tolist() == [False, True]
    assert str(text["flag"].dtype) == "string" and text["flag"].tolist() == ["True", "False"]
    assert data["a"].dtype == float and data["flag"].dtype == bool
    assert text["source_row"].tolist() == [2, 3]


def test_run_date_is_the_last_column_and_the_caller_s_frame_is_left_alone():
    """docs/outputs.md: ``run_date`` (a date) is always the last column."""
    data = pd.DataFrame({"segment_id": [0, 1], "size": [3, 4]})
    dated = outputs.with_run_date(data, date(2026, 11, 1))
    assert dated.columns.tolist() == ["segment_id", "size", "run_date"]
    assert dated["run_date"].tolist() == [date(2026, 11, 1)] * 2
    assert "run_date" not in data


# ---------------------------------------------------------------- category names


CONFIG = CustomerConfig("customer_id", ("annual_income_k", "spending_score"),
                        ("home", "home_region"),
                        {"income": "annual_income_k", "spending": "spending_score",
                         "gender": "gender", "age": "age"})


@pytest.mark.parametrize("column, expected", [
    ("share_home_region_north_east", "Home Region: north east"),   # the longer name wins
    ("share_home_owner", "Home: owner"),
    ("share_gender_female", "Gender: female"),                     # gender by its role
    ("share_other_x", "other x"),                                  # no column of the table
])
def test_a_category_is_named_by_its_column_then_its_value(column, expected):
    """The report's categories: ``share_<column>_<category>`` as "Column: category", the
    column named as in the segments."""
    assert outputs.category_label(column, CONFIG) == expected


# ---------------------------------------------------------------- segment table


def test_the_segment_table_has_every_numeric_column_in_the_profiles_in_order():
    """Centroids of the features, then of the role columns (age), each under its label; a
    numeric column the profiles do not hold is left out."""
    profiles = pd.DataFrame({"segment_id": [3], "segment_name": ["A"], "size": [1234567],
                             "share": [0.12345], "atypical": [12345], "age": [41.25],
                             "spending_score": [60.0], "annual_income_k": [70.5]})
    config = CustomerConfig("customer_id", ("spending_score", "annual_income_k", "visits"),
                            roles={"age": "age"})
    table = outputs.segments_table(profiles, config)
    assert table.columns.tolist() == ["id", "segment", "customers", "share", "atypical",
                                      "Spending score (1-100)", "Annual income (k$)", "Age (years)"]
    assert table.iloc[0].tolist() == ["3", "A", "1,234,567", "12.3%", "12,345", "60.0",
                                      "70.5", "41.2"]


# ---------------------------------------------------------------- cleaning lines


def test_cleaning_lines_say_the_defaults_when_the_policies_are_not_given():
    """Missing values quarantined and outliers flagged are the defaults; no outlier count,
    no outlier line; the caller's counts are left alone."""
    counts = {"outliers": 3}
    assert outputs.cleaning_lines(counts) == [
        "- missing values: rows with one are quarantined (--missing quarantine)",
        "- values imputed: none",
        "- outliers (beyond 3 x IQR from the quartiles): 3, flagged and kept as they are "
        "(--outliers flag)"]
    assert counts == {"outliers": 3}
    assert outputs.cleaning_lines({"imputed": None}) == [
        "- missing values: rows with one are quarantined (--missing quarantine)",
        "- values imputed: none"]


def test_an_unknown_outlier_policy_is_written_as_it_is():
    assert outputs.cleaning_lines({"outliers": 0, "outlier_policy": "drop"})[-1] == (
        "- outliers (beyond 3 x IQR from the quartiles): 0, drop")


def test_other_counts_follow_in_words_with_spaces_for_underscores():
    assert outputs.cleaning_lines({"rows_dropped": 1234})[2:] == ["- rows dropped: 1,234"]


# ---------------------------------------------------------------- plots


def test_the_plots_count_customers_and_draw_logged_features_on_log_axes():
    """docs/outputs.md: segment sizes in customers; the feature profile coloured against all
    customers; the scatter of two features on log axes where a feature is log-transformed
    (``plot_segment_scatter``)."""
    import matplotlib.pyplot as plt

    from tests.test_plots import customer_tables
    from tests.test_plots import selection as k_selection

    segments, profiles = customer_tables(columns=("annual_income_k", "spending_score"))
    config = CustomerConfig("customer_id", ("annual_income_k", "spending_score"))
    figures = outputs.customer_figures(segments, profiles, k_selection(), config,
                                       {"annual_income_k": {"transform": "log1p"},
                                        "spending_score": {"transform": "none"}},
                                       dataset="mall", run_date=date(2026, 11, 1))
    scatter = figures["segment_scatter"].axes[0]
    assert (scatter.get_xscale(), scatter.get_yscale()) == ("symlog", "linear")
    assert scatter.get_xlabel() == "Annual income (k$) (log scale)"
    assert figures["segment_sizes"].axes[0].get_xlabel() == "customers"
    texts = [t.get_text() for ax in figures["feature_profile"].axes
             for t in (ax.title, ax.yaxis.label, ax.xaxis.label)]
    assert any("the mean of all customers" in t for t in texts)
    assert any("segment mean vs all customers" in t for t in texts)
    for fig in figures.values():
        plt.close(fig)


# ---------------------------------------------------------------- the report


PROFILES = pd.DataFrame({"segment_id": [0, 1], "segment_name": ["High Spenders", "Budget Buyers"],
                         "size": [120, 80], "share": [0.6, 0.4], "atypical": [2, 0],
                         "annual_income_k": [90.0, 30.0], "spending_score": [80.0, 20.0],
                         "share_home_region_north": [0.254, 1.0],
                         "share_home_region_south": [0.746, 0.0]})
ROW_COUNTS = {"rows_in": 205, "rows_out": 200, "rows_quarantined": 5,
              "quarantined_by_reason": {"exact duplicate": 5}}
CLEANING = {"imputed": {}, "outliers": 4, "outlier_policy": "flag",
            "missing_policy": "quarantine"}
TRANSFORMS = {"annual_income_k": {"transform": "log1p", "why": "skewness 1.50 > 1"},
              "spending_score": {"transform": "none", "why": "skewness 0.10 <= 1"}}


def report(config: CustomerConfig = CONFIG, **changes) -> str:
    arguments = dict(dataset="mall", run_date=date(2026, 11, 1), input_path="raw/mall.csv",
                     profiles=PROFILES, selection=selection(), silhouette=0.3125,
                     counts=ROW_COUNTS, cleaning=CLEANING,
                     paths={"segments": "processed/mall/segments.parquet",
                            "plots": "outputs/mall/plots"},
                     quality=figures_for(0.9, fallback=0, atypical=0), transforms=TRANSFORMS,
                     identity="customer_id from column 'customer_id'", config=config)
    return outputs.customer_report(**{**arguments, **changes})


def section(text: str, heading: str) -> str:
    """One ``## heading`` section of the report, up to the next."""
    return next(part for part in text.split("\n\n## ") if part.startswith(heading))


def test_the_report_names_the_dataset_date_input_and_where_the_ids_come_from():
    text = report()
    assert text.startswith("# Segmentation report: mall, 2026-11-01\n\n"
                           "Input: `raw/mall.csv`; customer_id from column 'customer_id'.\n\n")


def test_the_report_s_segments_are_the_segment_table():
    """Segments, with the centroids in original units over typical members."""
    assert ("\n\n## Segments\nCentroids are the means of typical members in original units.\n\n"
            + markdown_table(outputs.segments_table(PROFILES, CONFIG)) + "\n\n") in report()


def test_the_categories_are_profiled_per_segment_in_whole_percents():
    """Categorical columns are profiled, not clustered (default): each segment's share of
    each category, under the category's name."""
    assert section(report(), "Categories per segment") == (
        "Categories per segment\nShare of each segment's members in each category (profiled "
        "only: not clustered on).\n\n"
        "| segment | Home Region: north | Home Region: south |\n| --- | --- | --- |\n"
        "| High Spenders | 25% | 75% |\n| Budget Buyers | 100% | 0% |")


def test_clustered_categories_are_not_said_to_be_profiled_only():
    """``--cluster-categorical``: the categories are one-hot encoded into the clustering."""
    config = CustomerConfig("customer_id", ("annual_income_k", "spending_score"),
                            ("home_region", "channel"), cluster_categorical=True)
    text = report(config)
    assert section(text, "Categories per segment").startswith(
        "Categories per segment\nShare of each segment's members in each category.\n\n")
    assert ("- clustered on: annual_income_k, spending_score and one-hot home_region, channel\n"
            in text)


def test_without_categorical_columns_there_is_no_categories_section():
    profiles = PROFILES.drop(columns=["share_home_region_north", "share_home_region_south"])
    config = CustomerConfig("customer_id", ("annual_income_k", "spending_score"),
                            cluster_categorical=True)
    text = report(config, profiles=profiles)
    assert "Categories" not in text
    assert "- clustered on: annual_income_k, spending_score\n" in text


def test_the_features_and_their_transforms_are_listed_with_the_reasons():
    """docs/customers.md step 4: the transform of each column with why; none logged: none."""
    assert section(report(), "Features and transforms") == (
        "Features and transforms\n"
        "- clustered on: annual_income_k, spending_score\n"
        "- log-transformed (log1p) before scaling: annual_income_k\n"
        "  - annual_income_k: log1p (skewness 1.50 > 1)\n"
        "  - spending_score: not transformed (skewness 0.10 <= 1)")
    unlogged = {"annual_income_k": {"transform": "none", "why": "w"}}
    assert section(report(transforms=unlogged), "Features and transforms").splitlines()[2:] == [
        "- log-transformed (log1p) before scaling: none",
        "  - annual_income_k: not transformed (w)"]
    both = {c: {"transform": "log1p", "why": "w"} for c in ("annual_income_k", "spending_score")}
    assert ("\n- log-transformed (log1p) before scaling: annual_income_k, spending_score\n"
            in report(transforms=both))


@pytest.mark.parametrize("left_out, note", [
    (("name", "city"), " (every numeric column but the id; not numeric, left out: name, city)"),
    ((), " (every numeric column but the id)")])
def test_every_numeric_column_clustered_is_said_with_the_columns_left_out(left_out, note):
    """docs/customers.md: with no --features (or --features all) every numeric column but the
    id is clustered; the report says so, and which columns were left out as text."""
    config = CustomerConfig("customer_id", ("a", "b"), all_numeric=True, not_numeric=left_out)
    text = report(config, profiles=PROFILES.iloc[:, :5],
                  transforms={"a": {"transform": "none", "why": "w"}})
    assert "\n- clustered on: a, b" + note + "\n" in text


def test_the_report_ends_with_quality_k_rows_cleaning_and_outputs():
    """The sections every report ends with, in order, from the run's figures."""
    text = report()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# Segmentation report: mall, 2026-11-01", "## Segments",
                        "## Categories per segment", "## Features and transforms",
                        "## Segment quality", "## Choice of k", "## Row accounting",
                        "## Cleaning", "## Outputs"]
    assert ("\n\n" + quality_section(figures_for(0.9, fallback=0, atypical=0)) + "\n\n"
            + kselection_section(selection(), 0.3125) + "\n\n"
            + accounting_section(ROW_COUNTS) + "\n\n"
            "## Cleaning\n" + "\n".join(outputs.cleaning_lines(CLEANING)) + "\n\n"
            "## Outputs\n- segments: `processed/mall/segments.parquet`\n"
            "- plots: `outputs/mall/plots`\n") in text
    assert text.endswith("`outputs/mall/plots`\n")
