"""The run's report as one self-contained HTML file: the markdown report with its plots inside.

A manager opens one file; nothing else needs to travel with it. The markdown
the pipeline writes uses a small subset (headings, paragraphs, bullet lists,
tables, bold, inline code), converted here without a dependency; the plots are
embedded as base64 PNG images after the report's text.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f2f2f2; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 0.2rem; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0 1.5rem; }
.warning { color: #a40000; }
"""
NUMBER = re.compile(r"^(-?[\d,]*\.?\d+(e[+-]?\d+)?%?|\u2014)$")   # an em dash: a number not available
# A plot's heading on the page (a plot not listed: its file name in words).
CAPTIONS = {"k_selection": "Choice of k", "segment_sizes": "Segment sizes",
            "segment_scatter": "Segments", "feature_profile": "Feature profile of the segments",
            "archetypes": "Archetype daily curves", "seasonal_heatmap": "Seasonal pattern",
            "daily_kwh": "Daily consumption (kWh/day) per archetype",
            "comparison": "Algorithms compared", "dendrogram": "How segments nest (Ward tree)"}


def _inline(text: str) -> str:
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"`(.+?)`", r"<code>\1</code>", out)
    return out


def _cells(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def markdown_to_html(text: str) -> str:
    """The pipeline's markdown subset as HTML."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("- :"):
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            out.append("<table><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in header) + "</tr>"
                       + "".join("<tr>" + "".join(
                           f"<td class='number'>{_inline(c)}</td>" if NUMBER.match(c) else
                           f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows)
                       + "</table>")
            continue
        elif line.lstrip().startswith("- "):
            items = []
            while i < len(lines) and lines[i].lstrip().startswith("- "):
                item = lines[i].lstrip()[2:]
                css = " class='warning'" if item.startswith("**Warning") else ""
                nested = "&nbsp;&nbsp;&nbsp;&nbsp;" if lines[i].startswith("  ") else ""
                items.append(f"<li{css}>{nested}{_inline(item)}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def html_report(markdown: str, figures: dict[str, Path | str]) -> str:
    """One HTML page: the report, then every plot embedded (base64 PNG)."""
    title = next((line.lstrip("# ") for line in markdown.splitlines() if line.startswith("# ")),
                 "Segmentation report")
    images = [f"<h3>{html.escape(CAPTIONS.get(name, name.replace('_', ' ').capitalize()))}</h3>"
              f"<img alt='{html.escape(name)}' src='data:image/png;base64,"
              f"{base64.b64encode(Path(path).read_bytes()).decode()}'>"
              for name, path in figures.items()]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + markdown_to_html(markdown) + ("<h2>Plots</h2>" + "".join(images) if images else "")
            + "</body></html>")
