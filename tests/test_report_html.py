"""The self-contained HTML report: the markdown report's text and tables, plots embedded."""

import base64

from segmentation.report_html import html_report, markdown_to_html


def test_markdown_subset_becomes_html():
    page = markdown_to_html("# Title\n\nSome **bold** and `code`.\n\n| name | size |\n| --- | --- |\n"
                            "| A \\| B | 12.5% |\n\n- one\n  - nested\n- **Warning:** weak\n")
    assert "<h1>Title</h1>" in page and "<strong>bold</strong>" in page and "<code>code</code>" in page
    assert "<td>A | B</td>" in page and "<td class='number'>12.5%</td>" in page
    assert page.count("<li") == 3 and "<li class='warning'>" in page


def test_plots_travel_inside_the_page(tmp_path):
    png = tmp_path / "sizes.png"
    png.write_bytes(b"\x89PNG fake")
    page = html_report("# Report: x\n\ntext\n", {"segment_sizes": png})
    assert "<title>Report: x</title>" in page
    assert base64.b64encode(b"\x89PNG fake").decode() in page and "src='data:image/png;base64," in page
