"""Pieces shared by every run's manifest and markdown report."""

from __future__ import annotations

import math
import numbers
import platform
from importlib import metadata
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from segmentation.errors import InputError
from segmentation.threads import threads_in_use

if TYPE_CHECKING:   # annotations only: ingestion uses this module without scikit-learn
    from segmentation.kselect import KSelection

PACKAGES = ["prefect", "pandas", "pyarrow", "numpy", "scikit-learn", "scipy",
            "great-expectations", "duckdb", "kneed", "matplotlib"]


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a run's result."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


DASH = "\u2014"   # an em dash: a value that does not exist (an infeasible k, a ratio out of reach)


def is_missing(value) -> bool:
    """None, NaN or pandas' NA: a value to show as a dash, never as ``nan`` or ``None``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) \
        and math.isnan(value)


def is_flag(value) -> bool:
    """A Python or numpy bool (numpy's is neither ``bool`` nor a number class)."""
    return isinstance(value, (bool, np.bool_))


def yes_no(flag) -> str:
    """``True`` -> ``yes``: a report speaks words, not Python."""
    return "yes" if bool(flag) else "no"


def format_count(n) -> str:
    """A count with thousands separators: 2526048 -> ``2,526,048`` (missing: a dash)."""
    return DASH if is_missing(n) else f"{int(n):,}"


def format_number(value, decimals: int | None = None) -> str:
    """A measured value for a table or sentence: thousands separators, a dash when missing.

    ``decimals`` fixes the places; without it they follow the size, three significant
    digits or more: 2385.6 -> ``2,386``, 41.25 -> ``41.2``, 0.914 -> ``0.91``.
    """
    if is_missing(value):
        return DASH
    if is_flag(value):
        return yes_no(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    if decimals is None:
        size = abs(value)
        decimals = 0 if size >= 999.5 else 1 if size >= 9.995 else 2
    return f"{value:,.{decimals}f}"


def format_compact(value) -> str:
    """A value in at most four or five characters, for a plot's cells: 2385.6 -> ``2.4k``,
    3.4e6 -> ``3.4M``, 0.254 -> ``0.25``, 11.42 -> ``11.4`` (trailing zeros dropped),
    0.001 -> ``≈0``."""
    if is_missing(value):
        return DASH
    value = float(value)
    if 0 < abs(value) < 0.005:
        return "\u22480"          # "0" would claim none at all
    for scale, suffix in ((1, ""), (1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        x = value / scale
        size = abs(x)
        if scale == 1:
            places = 2 if size < 0.995 else 1 if size < 99.95 else 0
        else:
            places = 1 if size < 9.95 else 0
        text = f"{x:.{places}f}"
        if abs(float(text)) < 1000 or suffix == "T":   # 999.7 rounds to 1000: the next unit
            break
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return ("0" if text in ("-0", "") else text) + suffix


def words(items, empty: str = "none") -> str:
    """A list as comma-separated words (``empty`` when there are none)."""
    items = [plain(i) for i in items]
    return ", ".join(items) if items else empty


def plain(value) -> str:
    """Any value of a run's records in words, never as a Python repr: a dict as
    ``key value`` pairs, a list as comma-separated words, an empty one as ``none``,
    a flag as yes/no, a missing value as ``not available``."""
    if isinstance(value, dict):
        return words([f"{str(k).replace('_', ' ')} {plain(v)}" for k, v in value.items()])
    if isinstance(value, (list, tuple, set, frozenset)):
        return words(sorted(value) if isinstance(value, (set, frozenset)) else value)
    if is_missing(value):
        return "not available"
    if is_flag(value) or isinstance(value, numbers.Number):
        return format_number(value)
    return str(value)


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A DataFrame as a GitHub markdown table (no tabulate dependency): floats in
    ``floatfmt``, counts and large floats with thousands separators, flags as yes/no,
    missing values as an em dash."""
    def cell(value) -> str:
        if is_missing(value):
            return DASH
        if is_flag(value) or isinstance(value, numbers.Integral):
            return format_number(value)
        if isinstance(value, float):
            return format(value, floatfmt if floatfmt.startswith(",") else "," + floatfmt)
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(str(c).replace("|", "\\|") for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


# Per-k metrics: a readable header and a format for each column kselect reports.
KMETRIC_COLUMNS = {
    "k": ("k", format_count),
    "feasible": ("feasible", lambda v: DASH if is_missing(v) else yes_no(v)),
    "inertia": ("inertia", format_number),
    "silhouette": ("silhouette", lambda v: format_number(v, 3)),
    "calinski_harabasz": ("Calinski-Harabasz", lambda v: format_number(v, 1)),
    "davies_bouldin": ("Davies-Bouldin", lambda v: format_number(v, 3)),
    "stability": ("stability (bootstrap ARI)", lambda v: format_number(v, 3)),
    "smallest_share": ("smallest segment", lambda v: DASH if is_missing(v) else f"{v:.1%}"),
    "atypical": ("atypical members", format_count),
    "bic": ("BIC", lambda v: format_number(v, 1)),
    "note": ("note", lambda v: "" if is_missing(v) else str(v)),
}


def kmetrics_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The per-k metrics as text with readable headers (a column kselect adds later is kept;
    one no k has a value of, such as BIC for k-means, is left out)."""
    shown = {}
    for column in metrics.columns:
        if column != "note" and metrics[column].isna().all():
            continue
        header, fmt = KMETRIC_COLUMNS.get(column, (column.replace("_", " "), plain))
        shown[header] = [fmt(v) for v in metrics[column]]
    return pd.DataFrame(shown)


def kselection_section(selection: KSelection, final_silhouette: float) -> str:
    """Markdown: chosen k, the rule's reason, and the per-k metrics."""
    plain_words = ("- **The data has weak structure**: no k gave segments that come back "
                   "reliably when the data are resampled; read the segments as a summary of a "
                   "continuum." if selection.weak_structure else
                   f"- the chosen k is stable: bootstrap ARI {selection.stability:.2f}")
    elbow = "none found" if is_missing(selection.knee) else f"k={selection.knee}"
    return "\n".join([
        "## Choice of k",
        f"- chosen k: **{selection.k}** (elbow: {elbow})",
        f"- why: {selection.rule}",
        plain_words,
        f"- silhouette of the final model: {final_silhouette:.3f}",
        "",
        markdown_table(kmetrics_table(selection.metrics)),
    ])


def accounting_section(counts: dict) -> str:
    """Markdown: rows in, rows out, rows quarantined by reason; says whether they reconcile."""
    lines = ["## Row accounting", f"- rows in: {format_count(counts['rows_in'])}",
             f"- rows out: {format_count(counts['rows_out'])}",
             f"- rows quarantined: {format_count(counts['rows_quarantined'])}"]
    for reason, n in sorted(counts.get("quarantined_by_reason", {}).items()):
        lines.append(f"  - {reason}: {format_count(n)}")
    ok = counts["rows_in"] == counts["rows_out"] + counts["rows_quarantined"]
    lines.append(f"- reconciles (in = out + quarantined): {'yes' if ok else 'NO'}")
    return "\n".join(lines)


def closing_sections(quality_text: str, selection: KSelection, silhouette: float,
                     accounting_text: str, cleaning: list[str], paths: dict[str, str]) -> list[str]:
    """The sections every report ends with, in this order: segment quality, the choice of k,
    the accounting of rows (or readings, or lines), cleaning, and where the outputs are."""
    return [quality_text, kselection_section(selection, silhouette), accounting_text,
            "## Cleaning\n" + "\n".join(cleaning),
            "## Outputs\n" + "\n".join(f"- {k}: `{v}`" for k, v in paths.items())]


def accounting(rows_in: int, rows_out: int, quarantine: pd.DataFrame) -> dict:
    """Counts for the manifest; raises if any row went missing."""
    by_reason = quarantine["reason"].value_counts().to_dict() if len(quarantine) else {}
    counts = {"rows_in": int(rows_in), "rows_out": int(rows_out),
              "rows_quarantined": int(len(quarantine)),
              "quarantined_by_reason": {str(k): int(v) for k, v in by_reason.items()}}
    if rows_in != rows_out + len(quarantine):
        raise AssertionError(f"row accounting does not reconcile: {counts}")
    return counts


def refuse_mostly_quarantined(by_reason: dict[str, int], quarantined: int, rows_in: int,
                              cap: float, *, unit: str, hint: str, file: str) -> None:
    """Raise ``InputError`` when more than ``cap`` of an input's ``rows_in`` would be
    quarantined, naming the five main reasons: so much unusable means wrong settings."""
    if quarantined <= cap * rows_in:
        return
    reasons = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))[:5]
    raise InputError(f"{quarantined} of {rows_in} {unit} ({quarantined / rows_in:.0%}) would be "
                     f"quarantined ({', '.join(f'{n} {r}' for r, n in reasons)}), more than the "
                     f"{cap:.0%} allowed: {hint}", file=file)


def build_manifest(*, dataset: str, run_date, inputs: list[dict], counts: dict, parameters: dict,
                   selection: KSelection, silhouette: float, timings: dict,
                   segments: dict[str, int], **extra) -> dict:
    """Everything needed to audit or reproduce a run, as JSON-ready values."""
    return {
        "dataset": dataset,
        "run_date": str(run_date),
        "inputs": inputs,
        "rows": counts,
        "parameters": parameters,
        "packages": package_versions(),
        "k": {"chosen": selection.k, "rule": selection.rule, "knee": selection.knee,
              "stability": round(selection.stability, 6),
              "weak_structure": bool(selection.weak_structure),
              "metrics": selection.metrics.round(6).astype(object)
              .where(selection.metrics.notna(), None).to_dict(orient="records")},
        "silhouette": round(float(silhouette), 6),
        "segments": segments,
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        "threads": threads_in_use(),        # the BLAS/OpenMP limit the timings were taken under
        **extra,
    }


def over_time_section(alignment: dict, moves: pd.DataFrame, top: int = 5,
                      prediction: dict | None = None) -> str:
    """Markdown: which run the ids follow, kept / new / gone segments, the largest moves in
    words ("12% of Champions (83 of 676) moved to At Risk"), joiners and leavers."""
    lines = ["## Segments over time", f"- {alignment['note']}"]
    if alignment.get("previous_run_date") and "kept" in alignment:
        lines.append("- a segment is the one of the previous run when its centroid moved less "
                     "than half-way to the nearest other segment of that run")
        lines.append(f"- kept ids: {', '.join(alignment['kept']) or 'none'}; new ids: "
                     f"{', '.join(map(str, alignment['new'])) or 'none'}; gone: "
                     + (", ".join(f"{g['segment_id']} {g['segment_name']}" for g in alignment["gone"])
                        or "none"))
        lines += [f"- segment {r['segment_id']} renamed: {r['from']} -> {r['to']}"
                  for r in alignment.get("renamed", [])]
    moved = moves.dropna(subset=["from_segment_id", "to_segment_id"])
    moved = moved[moved["from_segment_id"] != moved["to_segment_id"]]
    for row in moved.sort_values(["members", "from_segment_id"], ascending=[False, True],
                                 kind="stable").head(top).itertuples():
        size = round(row.members / row.share_of_from)
        lines.append(f"- {row.share_of_from:.0%} of {row.from_segment_name} ({row.members:,} of "
                     f"{size:,}) moved to {row.to_segment_name}")
    if len(moves):
        joined = int(moves.loc[moves["from_segment_id"].isna(), "members"].sum())
        left = int(moves.loc[moves["to_segment_id"].isna(), "members"].sum())
        stayed = int(moves.loc[moves["from_segment_id"] == moves["to_segment_id"], "members"].sum())
        lines.append(f"- {stayed:,} members stayed in their segment, {joined:,} joined the "
                     f"dataset, {left:,} left it")
    if prediction is not None:
        lines.append(prediction_line(prediction))
    return "\n".join(lines)


def prediction_line(prediction: dict) -> str:
    """One line: the next-run prediction's backtest against "stays", or why there is none."""
    if not prediction.get("written"):
        return f"- no prediction of the next run: {prediction['why']}"
    tests = prediction["backtest"]
    if prediction["accuracy"] is None:
        return (f"- next run predicted (predictions.parquet) by {prediction['model'].lower()}, from "
                f"{prediction['transitions_used']:,} moves; no backtest: no member was in two "
                "consecutive runs of the history")
    return (f"- next run predicted (predictions.parquet) by {prediction['model'].lower()}, from "
            f"{prediction['transitions_used']:,} moves; backtest over {len(tests)} run(s): "
            f"accuracy {prediction['accuracy']:.1%}, log loss {prediction['log_loss']:.3f}, "
            f"against \"stays in its segment\" {prediction['baseline_accuracy']:.1%}, "
            f"{prediction['baseline_log_loss']:.3f}")
