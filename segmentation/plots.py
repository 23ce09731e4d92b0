"""Plots shared by every dataset: the k-selection panel and segment sizes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from segmentation.kselect import KSelection  # noqa: E402


def plot_k_selection(selection: KSelection) -> plt.Figure:
    """Inertia with the knee, silhouette, and bootstrap stability against k."""
    m = selection.metrics
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [("inertia", "Inertia (elbow)"), ("silhouette", "Silhouette (higher is better)"),
              ("davies_bouldin", "Davies-Bouldin (lower is better)"),
              ("stability", "Bootstrap stability (mean ARI)")]
    for ax, (column, title) in zip(axes, panels):
        ax.plot(m["k"], m[column], marker="o")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("k")
        ax.axvline(selection.k, color="tab:red", linestyle="--", label=f"chosen k={selection.k}")
        if column == "inertia" and selection.knee is not None:
            ax.axvline(selection.knee, color="tab:green", linestyle=":", label=f"knee={selection.knee}")
        if column == "stability":
            ax.axhline(0.75, color="grey", linewidth=0.8, label="stable from 0.75")
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_segment_sizes(profiles: pd.DataFrame) -> plt.Figure:
    """Horizontal bars: members per segment, labelled with the share."""
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(profiles) + 1.5))
    ax.barh(profiles["segment_name"], profiles["size"], color="tab:blue")
    for y, (size, share) in enumerate(zip(profiles["size"], profiles["share"])):
        ax.text(size, y, f" {size:,} ({share:.1%})", va="center", fontsize=9)
    ax.set_xlim(0, profiles["size"].max() * 1.3)   # room for the labels inside the frame
    ax.invert_yaxis()
    ax.set_xlabel("members")
    ax.set_title("Segment sizes")
    fig.tight_layout()
    return fig
