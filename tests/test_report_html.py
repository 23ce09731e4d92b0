"""The self-contained HTML report: the markdown report's text and tables, plots embedded."""

import base64
import html
import io
import json
import re
from pathlib import Path

import pytest

from segmentation.cli import main
from segmentation.report_html import html_report, markdown_to_html
from tests.conftest import SHARED_DATA


def test_markdown_subset_becomes_html():
    page = markdown_to_html("# Title\n\nSome **bold** and `code`.\n\n| name | size |\n| --- | --- |\n"
                            "| A \\| B | 12.5% |\n\n- one\n  - nested\n- **Warning:** weak\n")
    assert "<h1>Title</h1>" in page and "<strong>bold</strong>" in page and "<code>code</code>" in page
    assert "<td>A | B</td>" in page and "<td class='number'>12.5%</td>" in page
    assert page.count("<li") == 3 and "<li class='warning'>" in page


def test_numbers_and_dashes_align_right_words_left():
    page = markdown_to_html("| k | ratio | note |\n| --- | --- | --- |\n| 1,234 | \u2014 | no |\n")
    assert "<td class='number'>1,234</td><td class='number'>\u2014</td><td>no</td>" in page


def test_plots_are_captioned_in_words(tmp_path):
    png = tmp_path / "k.png"
    png.write_bytes(b"\x89PNG fake")
    page = html_report("# R\n", {"k_selection": png, "daily_kwh": png, "new_plot": png})
    assert [h for h in re.findall(r"<h3>(.*?)</h3>", page)] == [
        "Choice of k", "Daily consumption (kWh/day) per archetype", "New plot"]


def test_plots_travel_inside_the_page(tmp_path):
    png = tmp_path / "sizes.png"
    png.write_bytes(b"\x89PNG fake")
    page = html_report("# Report: x\n\ntext\n", {"segment_sizes": png})
    assert "<title>Report: x</title>" in page
    assert base64.b64encode(b"\x89PNG fake").decode() in page and "src='data:image/png;base64," in page


# ---------------------------------------------------------------- real runs, read as words

# What a Python repr leaves in a report: dict or set braces, an empty list, flags, missing values.
REPR = re.compile(r"[{}]|\[\]|\b(True|False|None|nan|NaN)\b")
RUN_DATE = "2024-05-01"
METER_RUN_DATE = "2025-01-02"       # the sample readings end on 2024-12-31


def page_text(page: str) -> str:
    """What a reader sees of an HTML page: no style sheet, no embedded images, no tags."""
    page = re.sub(r"<style>.*?</style>|<img [^>]*>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "\n", page))


def reprs(text: str) -> list[str]:
    """Lines showing a Python repr (brackets included: the k rule's sentence lists k in words)."""
    return [line for line in text.splitlines()
            if REPR.search(line) or re.search(r"[\[\]]", line)]


@pytest.fixture(scope="module")
def customer_report_dir(prefect_harness, tmp_path_factory) -> Path:
    """The report folder of a real customer run: the Mall table, or 200 sample customers
    when ../shared is absent (a fresh clone)."""
    from segmentation.customers.sample import write_sample_customers

    base = tmp_path_factory.mktemp("customer-report")
    csv = SHARED_DATA / "mall" / "Mall_Customers.csv"
    if not csv.is_file():
        csv = write_sample_customers(base / "raw", n=200, seed=7)
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "customers", "--input", str(csv), "--run-date", RUN_DATE,
                 "--data-root", str(base / "data"), "--outputs-root", str(base / "outputs")],
                stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return base / "outputs" / "customers" / RUN_DATE


@pytest.fixture(scope="module")
def meter_published(prefect_harness, tmp_path_factory) -> dict:
    """What a small real meter run published: 32 generated meters, 60 days."""
    from flows.meters import meter_flow
    from segmentation.meters.sample import write_sample_meters

    base = tmp_path_factory.mktemp("meter-report")
    write_sample_meters(base / "data" / "raw" / "meters", n_meters=32, days=60, seed=5)
    return meter_flow(run_date=METER_RUN_DATE, data_root=str(base / "data"),
                      outputs_root=str(base / "outputs"))["published"]


@pytest.mark.slow      # one customer run (~10 s on a quiet machine)
def test_a_customer_report_reads_as_words_not_python(customer_report_dir):
    report = (customer_report_dir / "report.md").read_text()
    page = page_text((customer_report_dir / "report.html").read_text())
    manifest = json.loads((customer_report_dir / "manifest.json").read_text())
    assert reprs(report) == [] and reprs(page) == []
    assert f"- rows in: {manifest['rows']['rows_in']:,}" in report
    assert "- values imputed: none" in report and "| yes |" in report          # feasible k
    assert "| id | segment | customers | share | atypical |" in report
    assert "Annual income (k$)" in report and "Annual income (k$)" in page


@pytest.mark.slow      # one meter run (~15 s on a quiet machine)
def test_a_meter_report_reads_as_words_with_thousands_separators(meter_published):
    report = Path(meter_published["report"]).read_text()
    page = page_text(Path(meter_published["report_html"]).read_text())
    manifest = json.loads(Path(meter_published["manifest"]).read_text())
    assert reprs(report) == [] and reprs(page) == []
    readings = manifest["rows"]["readings_in"]
    assert readings >= 1000 and f"- readings in (all ingested files): {readings:,}" in report
    assert f"{readings:,} readings" in page and "," in f"{readings:,}"
    assert "Clustered on the daily load shape (centred log-ratio of hourly shares" in report
    assert "| mean daily consumption (kWh/day) | winter/summer ratio |" in report
