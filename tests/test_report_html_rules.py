"""The report's markdown subset as HTML (segmentation/report_html.py): every construct the
pipeline writes, escaped, and one page with its plots inside."""

from __future__ import annotations

import base64

from segmentation.report_html import html_report, markdown_to_html


def test_headings_keep_their_level_and_text_is_escaped():
    assert markdown_to_html("# One\n## Two <b>\n### Three") == \
        "<h1>One</h1>\n<h2>Two &lt;b&gt;</h2>\n<h3>Three</h3>"
    assert markdown_to_html("a & b\n\n\nc") == "<p>a &amp; b</p>\n<p>c</p>"
    assert markdown_to_html("**x** and `y` and **z**") == \
        "<p><strong>x</strong> and <code>y</code> and <strong>z</strong></p>"


def test_a_table_has_a_header_and_rows_numbers_right_aligned():
    page = markdown_to_html("| a | b |\n|:---|---:|\n| 1.5e+03 | x |\n| -2 | 45% |\nafter")
    assert page == ("<table><tr><th>a</th><th>b</th></tr>"
                    "<tr><td class='number'>1.5e+03</td><td>x</td></tr>"
                    "<tr><td class='number'>-2</td><td class='number'>45%</td></tr></table>\n"
                    "<p>after</p>")


def test_a_pipe_line_without_a_separator_line_is_text():
    assert markdown_to_html("| a | b |\n| 1 | 2 |") == "<p>| a | b |</p>\n<p>| 1 | 2 |</p>"
    assert markdown_to_html("| a |") == "<p>| a |</p>"


def test_lists_nested_items_and_warnings():
    page = markdown_to_html("- one\n  - two\n- **Warning:** three\n\nend")
    assert page == ("<ul><li>one</li><li>&nbsp;&nbsp;&nbsp;&nbsp;two</li>"
                    "<li class='warning'><strong>Warning:</strong> three</li></ul>\n<p>end</p>")


def test_the_page_is_titled_by_the_first_heading_and_carries_its_plots(tmp_path):
    png = tmp_path / "segment_sizes.png"
    png.write_bytes(b"\x89PNG data")
    encoded = base64.b64encode(b"\x89PNG data").decode()
    page = html_report("intro\n# Report: shop <1>\n", {"segment_sizes": png})
    assert page.startswith("<!DOCTYPE html><html><head><meta charset='utf-8'>"
                           "<title>Report: shop &lt;1&gt;</title><style>")
    assert ("<h2>Plots</h2><h3>Segment sizes</h3><img alt='segment_sizes' "
            f"src='data:image/png;base64,{encoded}'>"
            "</body></html>") in page
    bare = html_report("no heading", {})
    assert "<title>Segmentation report</title>" in bare and "Plots" not in bare


def test_a_table_without_rows_and_separators_with_colons_and_spaces_are_tables():
    assert markdown_to_html("| a | b |\n| --- | --- |") == \
        "<table><tr><th>a</th><th>b</th></tr></table>"
    assert markdown_to_html("| a | b |\n| :--- | ---: |\n| 1 | x |") == (
        "<table><tr><th>a</th><th>b</th></tr>"
        "<tr><td class='number'>1</td><td>x</td></tr></table>")
    # A second line of words, however short, is a row of text, not a separator.
    assert markdown_to_html("| name |\n| X |") == "<p>| name |</p>\n<p>| X |</p>"


def test_a_list_may_start_with_a_nested_item():
    assert markdown_to_html("  - nested\n- top") == \
        "<ul><li>&nbsp;&nbsp;&nbsp;&nbsp;nested</li><li>top</li></ul>"


def test_the_title_is_the_heading_s_whole_text_and_plots_follow_one_another(tmp_path):
    png = tmp_path / "p.png"
    png.write_bytes(b"\x89PNG")
    encoded = base64.b64encode(b"\x89PNG").decode()
    page = html_report("# XL shop: report\n", {"segment_sizes": png, "archetypes": png})
    assert "<title>XL shop: report</title>" in page
    assert page.endswith(
        f"<h2>Plots</h2><h3>Segment sizes</h3><img alt='segment_sizes' src='data:image/png;"
        f"base64,{encoded}'><h3>Archetype daily curves</h3><img alt='archetypes' "
        f"src='data:image/png;base64,{encoded}'></body></html>")
    assert html_report("text", {}).endswith("<p>text</p></body></html>")
