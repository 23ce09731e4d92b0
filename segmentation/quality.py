"""Quality figures every run reports (manifest and report), with a warning line when one is poor.

- stability of the chosen k (bootstrap ARI; poor below ``kselect.MIN_STABILITY``:
  the data has weak structure and members will move between runs);
- the smallest segment's share (never below the floor of ``model.min_segment_size``);
- the share of members in fallback-named segments (poor above ``MAX_FALLBACK_SHARE``);
- the share of atypical members (poor above ``MAX_ATYPICAL_SHARE``).
"""

from __future__ import annotations

import numpy as np

from segmentation.kselect import MIN_STABILITY, KSelection

MAX_FALLBACK_SHARE = 0.15
MAX_ATYPICAL_SHARE = 0.05


def quality(selection: KSelection, silhouette: float, labels: np.ndarray, atypical: np.ndarray,
            fallback_segments: set[int]) -> dict:
    """The run's quality figures and warnings (JSON-ready)."""
    labels = np.asarray(labels)
    n = max(len(labels), 1)
    sizes = np.unique(labels, return_counts=True)[1] if len(labels) else np.zeros(1)   # ids may skip
    figures = {
        "k": int(selection.k),
        "stability": round(selection.stability, 4),
        "weak_structure": bool(selection.weak_structure),
        "silhouette": round(float(silhouette), 4),
        "smallest_segment_share": round(float(sizes.min() / n), 4),
        "fallback_named_share": round(float(np.isin(labels, list(fallback_segments)).sum() / n), 4),
        "atypical_share": round(float(np.asarray(atypical, dtype=bool).sum() / n), 4),
    }
    warnings = []
    if figures["stability"] < MIN_STABILITY:
        warnings.append(f"weak structure: the chosen k={selection.k} has bootstrap stability "
                        f"{figures['stability']:.2f} (< {MIN_STABILITY}); segments are a useful "
                        "summary but members near their borders will move between runs")
    if figures["fallback_named_share"] > MAX_FALLBACK_SHARE:
        warnings.append(f"{figures['fallback_named_share']:.1%} of members are in segments no "
                        f"name fits (> {MAX_FALLBACK_SHARE:.0%})")
    if figures["atypical_share"] > MAX_ATYPICAL_SHARE:
        warnings.append(f"{figures['atypical_share']:.1%} of members are atypical "
                        f"(> {MAX_ATYPICAL_SHARE:.0%}): check the input for odd rows")
    figures["warnings"] = warnings
    return figures


def quality_section(figures: dict) -> str:
    """Markdown: the quality figures, then each warning on its own line."""
    lines = ["## Segment quality",
             f"- stability of k={figures['k']} (bootstrap ARI): {figures['stability']:.2f}"
             + (" (weak structure)" if figures["weak_structure"] else ""),
             f"- silhouette: {figures['silhouette']:.3f}",
             f"- smallest segment: {figures['smallest_segment_share']:.1%} of members",
             f"- members in fallback-named segments: {figures['fallback_named_share']:.1%}",
             f"- atypical members: {figures['atypical_share']:.1%}"]
    lines += [f"- **Warning:** {w}" for w in figures["warnings"]] or ["- no warnings"]
    return "\n".join(lines)
