"""The manifest and report pieces every run shares: exact text, exact figures, warnings on both
sides of each threshold."""

import json
import platform

import numpy as np
import pandas as pd
import pytest

from segmentation.kselect import MIN_STABILITY, KSelection
from segmentation.quality import MAX_ATYPICAL_SHARE, MAX_FALLBACK_SHARE, quality, quality_section
from segmentation.report import build_manifest, kselection_section, markdown_table, package_versions


def selection(stability: float = 0.9, weak: bool = False) -> KSelection:
    metrics = pd.DataFrame({"k": [3, 4], "inertia": [12.5, 9.25], "silhouette": [0.2, 0.1875],
                            "stability": [stability, 0.5], "feasible": [True, False]})
    return KSelection(k=3, rule="most stable k", knee=4, metrics=metrics, weak_structure=weak)


def test_markdown_table_formats_floats_and_escapes_pipes():
    frame = pd.DataFrame({"name": ["a|b", "c"], "share": [0.125, 1 / 3], "n": [1, 2]})
    assert markdown_table(frame) == ("| name | share | n |\n| --- | --- | --- |\n"
                                     "| a\\|b | 0.125 | 1 |\n| c | 0.333 | 2 |")
    assert markdown_table(frame, ".1%").splitlines()[2] == "| a\\|b | 12.5% | 1 |"
    assert markdown_table(pd.DataFrame({"x": [float("nan")]})).endswith("| nan |")


def test_kselection_section_states_the_choice_and_every_k():
    text = kselection_section(selection(), 0.1234)
    assert text.splitlines()[:5] == [
        "## Choice of k", "- chosen k: **3** (elbow: 4)", "- why: most stable k",
        "- the chosen k is stable: bootstrap ARI 0.90", "- silhouette of the final model: 0.123"]
    assert "| 4 | 9.250 | 0.188 | 0.500 | False |" in text


def test_kselection_section_says_plainly_when_structure_is_weak():
    lines = kselection_section(selection(0.6, weak=True), 0.1).splitlines()
    assert lines[3] == ("- **The data has weak structure**: no k gave segments that come back "
                        "reliably when the data are resampled; read the segments as a summary of "
                        "a continuum.")
    assert lines[5:7] == ["", "| k | inertia | silhouette | stability | feasible |"]


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
