"""Pieces shared by every run's manifest and markdown report."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING

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


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A DataFrame as a GitHub markdown table (no tabulate dependency)."""
    def cell(value) -> str:
        if isinstance(value, float):
            return format(value, floatfmt)
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def kselection_section(selection: KSelection, final_silhouette: float) -> str:
    """Markdown: chosen k, the rule's reason, and the per-k metrics."""
    plain = ("- **The data has weak structure**: no k gave segments that come back reliably "
             "when the data are resampled; read the segments as a summary of a continuum."
             if selection.weak_structure else
             f"- the chosen k is stable: bootstrap ARI {selection.stability:.2f}")
    return "\n".join([
        "## Choice of k",
        f"- chosen k: **{selection.k}** (elbow: {selection.knee})",
        f"- why: {selection.rule}",
        plain,
        f"- silhouette of the final model: {final_silhouette:.3f}",
        "",
        markdown_table(selection.metrics),
    ])


def accounting_section(counts: dict) -> str:
    """Markdown: rows in, rows out, rows quarantined by reason; says whether they reconcile."""
    lines = ["## Row accounting", f"- rows in: {counts['rows_in']}",
             f"- rows out: {counts['rows_out']}",
             f"- rows quarantined: {counts['rows_quarantined']}"]
    for reason, n in sorted(counts.get("quarantined_by_reason", {}).items()):
        lines.append(f"  - {reason}: {n}")
    ok = counts["rows_in"] == counts["rows_out"] + counts["rows_quarantined"]
    lines.append(f"- reconciles (in = out + quarantined): {'yes' if ok else 'NO'}")
    return "\n".join(lines)


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
