"""The manifest and report pieces every run shares: exact text, exact figures, warnings on both
sides of each threshold."""

import json
import platform

import numpy as np
import pandas as pd
import pytest

from segmentation.kselect import MIN_STABILITY, KSelection
from segmentation.quality import MAX_ATYPICAL_SHARE, MAX_FALLBACK_SHARE, quality, quality_section
from segmentation.report import (DASH, accounting_section, build_manifest, format_compact,
                                 format_count, format_number, is_missing, kselection_section,
                                 kmetrics_table, markdown_table, package_versions, plain, words,
                                 yes_no)


def selection(stability: float = 0.9, weak: bool = False) -> KSelection:
    metrics = pd.DataFrame({"k": [3, 4], "inertia": [12.5, 9.25], "silhouette": [0.2, 0.1875],
                            "stability": [stability, 0.5], "feasible": [True, False]})
    return KSelection(k=3, rule="most stable k", knee=4, metrics=metrics, weak_structure=weak)


def test_markdown_table_formats_floats_and_escapes_pipes():
    frame = pd.DataFrame({"name": ["a|b", "c"], "share": [0.125, 1 / 3], "n": [1, 2]})
    assert markdown_table(frame) == ("| name | share | n |\n| --- | --- | --- |\n"
                                     "| a\\|b | 0.125 | 1 |\n| c | 0.333 | 2 |")
    assert markdown_table(frame, ".1%").splitlines()[2] == "| a\\|b | 12.5% | 1 |"


def test_markdown_table_writes_no_python_values():
    frame = pd.DataFrame({"n": [2526048, 7], "x": [108377.66, float("nan")],
                          "ok": [True, False], "note": ["", None]})
    assert markdown_table(frame).splitlines()[2:] == ["| 2,526,048 | 108,377.660 | yes |  |",
                                                      f"| 7 | {DASH} | no | {DASH} |"]
    assert markdown_table(pd.DataFrame({"a|b": [np.int64(1234)]})).splitlines()[0] == "| a\\|b |"
    assert markdown_table(pd.DataFrame({"x": [np.int64(1234), np.bool_(True)]},
                                       dtype=object)).endswith("| 1,234 |\n| yes |")


@pytest.mark.parametrize("value, expected", [
    (2385.6, "2.4k"), (3.4e6, "3.4M"), (0.254, "0.25"), (11.42, "11.4"), (1.0, "1"),
    (867.9, "868"), (999.7, "1k"), (999_600.0, "1M"), (-2500, "-2.5k"), (2.5e9, "2.5B"),
    (0.0, "0"), (0.001, "\u22480"), (-0.004, "\u22480"), (0.006, "0.01"), (12_345, "12k"),
    (float("nan"), DASH), (None, DASH),
])
def test_format_compact_fits_a_heatmap_cell(value, expected):
    assert format_compact(value) == expected


@pytest.mark.parametrize("value, decimals, expected", [
    (2526048, None, "2,526,048"), (np.int64(8950), None, "8,950"), (2385.6, None, "2,386"),
    (41.25, None, "41.2"), (0.914, None, "0.91"), (9.999, None, "10.0"), (1234.5, 1, "1,234.5"),
    (0.5, 3, "0.500"), (True, None, "yes"), (float("nan"), None, DASH), (None, 2, DASH),
])
def test_format_number_separates_thousands_and_dashes_what_is_missing(value, decimals, expected):
    assert format_number(value, decimals) == expected


def test_counts_words_and_flags_read_as_words():
    assert format_count(2526048) == "2,526,048" and format_count(np.int64(12)) == "12"
    assert format_count(float("nan")) == DASH
    assert (yes_no(True), yes_no(np.bool_(False))) == ("yes", "no")
    assert words([]) == "none" and words(["a", 3, 1234]) == "a, 3, 1,234"
    assert words([], empty="nothing") == "nothing"
    assert [is_missing(v) for v in (None, float("nan"), np.nan, pd.NA, 0, "", "nan")] \
        == [True, True, True, True, False, False, False]


def test_plain_has_no_python_reprs():
    assert plain({}) == "none" and plain([]) == "none" and plain(set()) == "none"
    assert plain({"credit_limit": 1, "minimum_payments": 313}) \
        == "credit limit 1, minimum payments 313"
    assert plain(["a", "b"]) == "a, b" and plain({"b", "a"}) == "a, b"
    assert plain(True) == "yes" and plain(False) == "no"
    assert plain(None) == "not available" and plain(float("nan")) == "not available"
    assert plain(2526048) == "2,526,048" and plain(0.25) == "0.25" and plain("as is") == "as is"
    assert plain({"shape": "daily", "columns": 24, "kept": [], "weights": {"a": True}}) \
        == "shape daily, columns 24, kept none, weights a yes"


def test_accounting_section_separates_thousands():
    counts = {"rows_in": 8950, "rows_out": 8636, "rows_quarantined": 314,
              "quarantined_by_reason": {"missing minimum_payments": 1313}}
    assert accounting_section(counts).splitlines()[1:5] == [
        "- rows in: 8,950", "- rows out: 8,636", "- rows quarantined: 314",
        "  - missing minimum_payments: 1,313"]


def test_kselection_section_states_the_choice_and_every_k():
    text = kselection_section(selection(), 0.1234)
    assert text.splitlines()[:5] == [
        "## Choice of k", "- chosen k: **3** (elbow: k=4)", "- why: most stable k",
        "- the chosen k is stable: bootstrap ARI 0.90", "- silhouette of the final model: 0.123"]
    assert "| 4 | 9.25 | 0.188 | 0.500 | no |" in text and "| 3 | 12.5 | 0.200 | 0.900 | yes |" in text


def test_kselection_section_says_plainly_when_structure_is_weak():
    lines = kselection_section(selection(0.6, weak=True), 0.1).splitlines()
    assert lines[3] == ("- **The data has weak structure**: no k gave segments that come back "
                        "reliably when the data are resampled; read the segments as a summary of "
                        "a continuum.")
    assert lines[5:7] == ["", "| k | inertia | silhouette | stability (bootstrap ARI) | feasible |"]


def test_the_metrics_table_has_readable_headers_and_dashes_for_an_infeasible_k():
    metrics = pd.DataFrame({
        "k": [2, 3], "feasible": [True, False], "inertia": [108377.66, np.nan],
        "silhouette": [0.2581, np.nan], "calinski_harabasz": [3061.906, np.nan],
        "davies_bouldin": [1.4941, np.nan], "stability": [0.9391, np.nan],
        "smallest_share": [0.3544, np.nan], "atypical": [3.0, np.nan],
        "note": ["", "a segment below 5 members"], "new_metric": [0.5, None]})
    table = kmetrics_table(metrics)
    assert list(table.columns) == [
        "k", "feasible", "inertia", "silhouette", "Calinski-Harabasz", "Davies-Bouldin",
        "stability (bootstrap ARI)", "smallest segment", "atypical members", "note", "new metric"]
    assert table.iloc[0].tolist() == ["2", "yes", "108,378", "0.258", "3,061.9", "1.494",
                                      "0.939", "35.4%", "3", "", "0.50"]
    assert table.iloc[1].tolist() == ["3", "no"] + [DASH] * 7 + ["a segment below 5 members",
                                                                 "not available"]
    no_elbow = KSelection(k=2, rule="r", knee=None, metrics=metrics)
    assert kselection_section(no_elbow, 0.2).splitlines()[1] == "- chosen k: **2** (elbow: none found)"
    # A metric no k has (BIC of a k-means run) is left out; a Gaussian mixture's is shown.
    assert "BIC" not in kmetrics_table(metrics.assign(bic=np.nan)).columns
    with_bic = kmetrics_table(metrics.assign(bic=[12345.67, np.nan]))
    assert with_bic["BIC"].tolist() == ["12,345.7", DASH]
    assert "note" in kmetrics_table(metrics.assign(note=None)).columns     # always said


def test_package_versions_name_python_and_every_package():
    versions = package_versions()
    assert versions["python"] == platform.python_version()
    assert versions["pandas"] == pd.__version__ and versions["numpy"] == np.__version__
    assert len(versions) == 11 and "not installed" not in versions.values()


def test_a_package_that_is_not_installed_says_so(monkeypatch):
    monkeypatch.setattr("segmentation.report.PACKAGES", ["pandas", "no-such-package-xyz"])
    assert package_versions()["no-such-package-xyz"] == "not installed"


def test_manifest_is_json_ready_and_rounded():
    counts = {"rows_in": 3, "rows_out": 3, "rows_quarantined": 0}
    sel = selection(0.123456789)
    sel.metrics.loc[1, "silhouette"] = np.nan          # a k that could not be scored
    manifest = build_manifest(dataset="d", run_date="2026-11-30", inputs=[{"file": "f"}],
                              counts=counts, parameters={"k": None}, selection=sel,
                              silhouette=0.1234567891, timings={"ingest": 1.23456},
                              segments={"A": 3}, extra_key=1)
    assert json.loads(json.dumps(manifest)) == manifest
    assert manifest["k"] == {
        "chosen": 3, "rule": "most stable k", "knee": 4, "stability": 0.123457,
        "weak_structure": False,
        "metrics": [{"k": 3, "inertia": 12.5, "silhouette": 0.2, "stability": 0.123457,
                     "feasible": True},
                    {"k": 4, "inertia": 9.25, "silhouette": None, "stability": 0.5,
                     "feasible": False}]}
    assert manifest["silhouette"] == 0.123457 and manifest["timings_seconds"] == {"ingest": 1.235}
    assert (manifest["dataset"], manifest["run_date"], manifest["rows"], manifest["extra_key"]) \
        == ("d", "2026-11-30", counts, 1)
    assert manifest["inputs"] == [{"file": "f"}] and manifest["segments"] == {"A": 3}
    assert manifest["parameters"] == {"k": None} and manifest["packages"] == package_versions()
    weak = build_manifest(dataset="d", run_date="2026-11-30", inputs=[], counts=counts,
                          parameters={}, selection=selection(0.5, weak=True), silhouette=0.1,
                          timings={}, segments={})
    assert weak["k"]["weak_structure"] is True


def figures_for(stability: float, fallback: int, atypical: int, n: int = 100) -> dict:
    labels = np.repeat([0, 1, 2], [n - 2 * (n // 4), n // 4, n // 4])
    flags = np.zeros(n, dtype=bool)
    flags[:atypical] = True
    fallback_segments = {1} if fallback else set()
    return quality(selection(stability, stability < MIN_STABILITY), 0.15, labels, flags,
                   fallback_segments)


def test_quality_figures_are_exact():
    figures = figures_for(0.9, fallback=1, atypical=3)
    assert figures == {"k": 3, "stability": 0.9, "weak_structure": False, "silhouette": 0.15,
                       "smallest_segment_share": 0.25, "fallback_named_share": 0.25,
                       "atypical_share": 0.03, "warnings": figures["warnings"]}
    thirds = quality(selection(0.123456), 0.654321, np.array([0, 1, 2, 2, 2, 2]),
                     np.array([1, 0, 0, 0, 0, 0], bool), {0})          # rounded to 4 places
    assert (thirds["stability"], thirds["silhouette"], thirds["smallest_segment_share"],
            thirds["fallback_named_share"], thirds["atypical_share"]) \
        == (0.1235, 0.6543, 0.1667, 0.1667, 0.1667)


def test_the_weak_structure_warning_says_what_it_means_for_members():
    assert figures_for(0.5, fallback=0, atypical=0)["warnings"] == [
        f"weak structure: the chosen k=3 has bootstrap stability 0.50 (< {MIN_STABILITY}); "
        "segments are a useful summary but members near their borders will move between runs"]


def test_fallback_share_exactly_at_the_limit_is_not_a_warning():
    labels = np.repeat([0, 1], [85, 15])
    assert MAX_FALLBACK_SHARE == 0.15
    figures = quality(selection(), 0.2, labels, np.zeros(100, bool), {1})
    assert figures["fallback_named_share"] == 0.15 and figures["warnings"] == []


@pytest.mark.parametrize("stability, fallback, atypical, expected", [
    (MIN_STABILITY, 0, 5, []),
    (MIN_STABILITY - 0.01, 0, 5, ["weak structure"]),
    (0.9, 1, 6, ["of members are in segments no name fits", "of members are atypical"]),
])
def test_quality_warns_on_the_far_side_of_each_threshold(stability, fallback, atypical, expected):
    assert MAX_FALLBACK_SHARE < 0.25 and MAX_ATYPICAL_SHARE == 0.05   # the cases straddle these
    figures = figures_for(stability, fallback, atypical)
    assert len(figures["warnings"]) == len(expected)
    for warning, phrase in zip(figures["warnings"], expected):
        assert phrase in warning


def test_quality_section_lists_figures_then_warnings():
    text = quality_section(figures_for(0.5, fallback=1, atypical=6))
    assert text.splitlines()[:6] == [
        "## Segment quality", "- stability of k=3 (bootstrap ARI): 0.50 (weak structure)",
        "- silhouette: 0.150", "- smallest segment: 25.0% of members",
        "- members in fallback-named segments: 25.0%", "- atypical members: 6.0%"]
    assert text.count("- **Warning:** ") == 3
    calm = quality_section(figures_for(0.9, fallback=0, atypical=0))
    assert calm.splitlines()[1] == "- stability of k=3 (bootstrap ARI): 0.90"
    assert calm.endswith("- no warnings") and "weak structure" not in calm


# ---------------------------------------------------------------- the datasets' report pieces

def test_customer_report_tables_have_readable_headers_units_and_separators():
    from segmentation.customers.config import CustomerConfig
    from segmentation.customers.outputs import category_label, cleaning_lines, segments_table

    config = CustomerConfig(id_column="customer_id", features=("annual_income_k", "balance"),
                            categorical=("gender", "home_region"))
    profiles = pd.DataFrame({"segment_id": [0, 1], "segment_name": ["Big", "Small"],
                             "size": [2281, 12], "share": [0.995, 0.005], "atypical": [1500, 0],
                             "annual_income_k": [55.25, 120.0], "balance": [2385.6, np.nan]})
    table = segments_table(profiles, config)
    assert list(table.columns) == ["id", "segment", "customers", "share", "atypical",
                                   "Annual income (k$)", "Balance"]
    assert table.iloc[0].tolist() == ["0", "Big", "2,281", "99.5%", "1,500", "55.2", "2,386"]
    assert table.iloc[1].tolist() == ["1", "Small", "12", "0.5%", "0", "120.0", DASH]
    assert category_label("share_home_region_north_east", config) == "Home Region: north east"
    assert category_label("share_gender_female", config) == "Gender: female"
    assert cleaning_lines({"imputed": {}, "outliers": 4087, "outlier_policy": "flag",
                           "missing_policy": "quarantine"}) == [
        "- missing values: rows with one are quarantined (--missing quarantine)",
        "- values imputed: none",
        "- outliers (beyond 3 x IQR from the quartiles): 4,087, flagged and kept as they are "
        "(--outliers flag)"]
    assert cleaning_lines({"imputed": {"credit_limit": 1, "age": 0, "minimum_payments": 1313},
                           "outliers": 2, "outlier_policy": "winsorize",
                           "missing_policy": "impute", "extra": [True, None]}) == [
        "- missing values: filled with the column median (--missing impute)",
        "- values imputed: Credit Limit 1, Minimum Payments 1,313",
        "- outliers (beyond 3 x IQR from the quartiles): 2, clipped to the fences "
        "(--outliers winsorize)",
        "- extra: yes, not available"]


def test_meter_report_pieces_say_in_words_what_is_not_available():
    from segmentation.meters.outputs import archetype_table, clustering_sentence, utc_time

    profiles = pd.DataFrame({"segment_id": [0, 1], "segment_name": ["Night Users", "Day Users"],
                             "size": [1277, 3], "share": [0.9977, 0.0023], "atypical": [4, 0],
                             "mean_daily_kwh": [53.216, 1234.5], "winter_summer_ratio": [np.nan, 1.5],
                             "peak_hour": [2.5, 15.0]})
    table = archetype_table(profiles)
    assert list(table.columns) == ["id", "archetype", "meters", "share", "atypical",
                                   "mean daily consumption (kWh/day)", "winter/summer ratio",
                                   "peak hour (local, median)"]
    assert table.iloc[0].tolist() == ["0", "Night Users", "1,277", "99.8%", "4", "53.2", DASH, "2.5"]
    assert table.iloc[1].tolist() == ["1", "Day Users", "3", "0.2%", "0", "1,234.5", "1.50", "15.0"]
    weighting = {"shape": "daily", "representation": "centred log-ratio of hourly shares",
                 "columns": 24, "magnitude": "consumption_band (not clustered)",
                 "seasonality": "seasonal_user (not clustered)"}
    assert clustering_sentence(weighting) == (
        "Clustered on the daily load shape (centred log-ratio of hourly shares, 24 columns); "
        "magnitude: consumption_band (not clustered); seasonality: seasonal_user (not clustered).")
    assert clustering_sentence({"shape": "weekday-weekend", "columns": 48, "weights": {}}) == (
        "Clustered on the weekday and weekend load shapes (48 columns); weights: none.")
    assert utc_time("2018-10-28T23:00:00+00:00") == "2018-10-28 23:00"
