"""Plots shared by every dataset: the k-selection panel, segment sizes, the feature heatmap.

Every title names the dataset and the run date (``plot_title``): a PNG copied into
a slide or an e-mail still says which run it shows.
"""

from __future__ import annotations

import textwrap
from datetime import date

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
import pandas as pd  # noqa: E402

from segmentation.kselect import KSelection  # noqa: E402
from segmentation.report import format_compact, format_number  # noqa: E402

# The heatmap fits a laptop screen: at most this many inches, saved at 110 dpi
# (``publish.save_figure``) about 1,375 x 770 pixels.
HEATMAP_MAX_INCHES = (12.5, 7.0)
# Beyond this many features the cells get too narrow to read: the most distinctive are shown.
HEATMAP_MAX_FEATURES = 25


def thousands() -> FuncFormatter:
    """Axis ticks with separators: 110,000, not 110000; 2.5 stays 2.5 (one formatter per axis)."""
    return FuncFormatter(lambda v, _: f"{v:,.0f}" if float(v).is_integer() else format_number(v))


def plot_title(dataset: str, run_date: date | str, what: str) -> str:
    """``customers — 2024-05-01: segment sizes``."""
    return f"{dataset} \u2014 {run_date}: {what}"


def plot_k_selection(selection: KSelection, dataset: str, run_date: date | str) -> plt.Figure:
    """Inertia with the knee, silhouette, and bootstrap stability against k."""
    m = selection.metrics
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.9))
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
    axes[0].yaxis.set_major_formatter(thousands())
    fig.suptitle(plot_title(dataset, run_date, f"choice of k (chosen k={selection.k})"))
    fig.tight_layout()
    return fig


def plot_segment_sizes(profiles: pd.DataFrame, dataset: str, run_date: date | str,
                       unit: str = "members") -> plt.Figure:
    """Horizontal bars: members per segment, labelled with the share."""
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(profiles) + 1.5))
    ax.barh(profiles["segment_name"], profiles["size"], color="tab:blue")
    for y, (size, share) in enumerate(zip(profiles["size"], profiles["share"])):
        ax.text(size, y, f" {size:,} ({share:.1%})", va="center", fontsize=9)
    ax.set_xlim(0, profiles["size"].max() * 1.3)   # room for the labels inside the frame
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.xaxis.set_major_formatter(thousands())
    ax.set_title(plot_title(dataset, run_date, "segment sizes"))
    fig.tight_layout()
    return fig


def z_scores(means: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """Each segment mean (rows) in standard deviations of the population from its mean."""
    cols = list(means.columns)
    spread = population[cols].std(ddof=0).replace(0, 1)
    return (means - population[cols].mean()) / spread


def distinctive_features(z: pd.DataFrame, limit: int = HEATMAP_MAX_FEATURES) -> list[str]:
    """The ``limit`` columns whose largest |z| over the segments is greatest, in table order."""
    if z.shape[1] <= limit:
        return list(z.columns)
    strongest = z.abs().max(axis=0).fillna(0).sort_values(ascending=False, kind="stable")
    keep = set(strongest.index[:limit])
    return [c for c in z.columns if c in keep]


def wrap_name(name: str, width: int = 32) -> str:
    """A segment name on lines of about ``width`` characters, broken after its " / " first."""
    parts = [textwrap.fill(part, width) for part in name.split(" / ")]
    return " /\n".join(parts)


def heatmap_layout(names: list[str], labels: list[str]) -> dict:
    """Figure size, label wrapping, rotation and font sizes for a segments x features heatmap
    that stays within ``HEATMAP_MAX_INCHES`` however many segments and features."""
    max_w, max_h = HEATMAP_MAX_INCHES
    rows = [wrap_name(n) for n in names]
    row_chars = max((len(line) for r in rows for line in r.splitlines()), default=10)
    label_w = min(3.2, 0.5 + 0.075 * row_chars)        # room for the segment names
    colorbar_w = 1.4
    cell_w = max(0.35, min(1.1, (max_w - label_w - colorbar_w) / max(len(labels), 1)))
    wrap = max(6, int(cell_w * 13))                       # characters of a 9 pt label per cell
    rotate = len(labels) > 8 or any(len(word) > wrap for x in labels for word in x.split())
    columns = labels if rotate else [textwrap.fill(x, wrap) for x in labels]
    col_chars = max((len(x) for x in labels), default=10)
    bottom = (0.3 + 0.055 * col_chars) if rotate else 0.4 + 0.17 * max(
        (c.count("\n") + 1 for c in columns), default=1)
    top = 1.0                                              # title and subtitle
    cell_h = max(0.3, min(0.7, (max_h - bottom - top) / max(len(names), 1)))
    width = min(max_w, label_w + cell_w * len(labels) + colorbar_w)
    height = min(max_h, top + bottom + cell_h * len(names))
    # A compact number is up to ~5 characters of ~0.6 em: fit the cell's width and height.
    annotation = float(np.clip(min(72 * cell_w / 3.4, 72 * cell_h * 0.45), 6, 11))
    tick = float(np.clip(72 * cell_w / 5, 7, 10)) if not rotate else (8 if len(labels) > 14 else 9)
    return {"figsize": (width, height), "rows": rows, "columns": columns, "rotate": rotate,
            "annotation": annotation, "tick": tick, "wide": width >= 9.5}


def plot_profile_heatmap(means: pd.DataFrame, population: pd.DataFrame, names: list[str],
                         labels: dict[str, str], dataset: str, run_date: date | str,
                         members: str = "members") -> plt.Figure:
    """One heatmap of the segments' profiles: rows segments, columns features, colour the
    z-score of the segment mean against the population (diverging, centred at 0), each
    cell annotated with the mean in original units (``format_compact``).

    Parameters
    ----------
    means : DataFrame
        One row per segment (in ``names`` order), one column per feature, original units.
    population : DataFrame
        Every member's values of those columns: the z-scores' mean and spread.
    labels : dict
        Column -> its label on the plot (with its unit when known).
    members : str
        What the rows are ("customers", "meters"): the colour bar says against whom.
    """
    z_all = z_scores(means, population)
    shown = distinctive_features(z_all)
    z, values = z_all[shown], means[shown]
    layout = heatmap_layout(list(names), [labels.get(c, c) for c in shown])
    fig, ax = plt.subplots(figsize=layout["figsize"], layout="constrained")
    finite = np.abs(z.to_numpy(float))[np.isfinite(z.to_numpy(float))]
    limit = float(np.clip(finite.max() if finite.size else 1.0, 1.0, 3.0))
    image = ax.imshow(np.ma.masked_invalid(z.to_numpy(float)), aspect="auto", cmap="RdBu_r",
                      vmin=-limit, vmax=limit)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            strong = abs(z.iat[i, j]) > 0.6 * limit if np.isfinite(z.iat[i, j]) else False
            ax.text(j, i, format_compact(values.iat[i, j]), ha="center", va="center",
                    fontsize=layout["annotation"], color="white" if strong else "black")
    ax.set_yticks(range(len(names)), layout["rows"], fontsize=9)
    if layout["rotate"]:
        ax.set_xticks(range(len(shown)), layout["columns"], rotation=40, ha="right",
                      rotation_mode="anchor", fontsize=layout["tick"])
    else:
        ax.set_xticks(range(len(shown)), layout["columns"], fontsize=layout["tick"])
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(-0.5, len(shown)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(names)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label(f"segment mean vs all {members}\n(standard deviations)", fontsize=9)
    what = "segment feature profile"
    if len(shown) < means.shape[1]:
        what += f", the {len(shown)} most distinctive of {means.shape[1]} features"
    fig.suptitle(plot_title(dataset, run_date, what), fontsize=12)
    ax.set_title(("numbers: segment means in original units" + ("; " if layout["wide"] else "\n")
                  + f"colour: above (red) or below (blue) the mean of all {members}"),
                 fontsize=8.5, color="#444")
    return fig


def plot_migrations(moves: pd.DataFrame, title: str) -> plt.Figure:
    """Heatmap of ``migrations.parquet``: rows the previous run's segments (and "joined"),
    columns this run's (and "left"); each cell the share of its row, with the member count."""
    rows = moves.assign(
        source=moves["from_segment_id"].astype("string").fillna("joined") + " "
        + moves["from_segment_name"].fillna(""),
        target=moves["to_segment_id"].astype("string").fillna("left") + " "
        + moves["to_segment_name"].fillna(""))
    counts = rows.pivot_table(index="source", columns="target", values="members", aggfunc="sum",
                              fill_value=0, sort=False)
    share = counts.div(counts.sum(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(min(2.2 + 1.3 * counts.shape[1], 12.5),
                                    min(1.6 + 0.6 * counts.shape[0], 7.0)))
    ax.imshow(share.to_numpy(dtype=float), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), n in np.ndenumerate(counts.to_numpy()):
        if n:
            ax.text(j, i, f"{share.iat[i, j]:.0%}\n{n:,}", ha="center", va="center", fontsize=8,
                    color="white" if share.iat[i, j] > 0.6 else "black")
    ax.set_xticks(range(counts.shape[1]), [wrap_name(c, 16) for c in counts.columns], fontsize=8)
    ax.set_yticks(range(counts.shape[0]), [wrap_name(r, 28) for r in counts.index], fontsize=8)
    ax.set_xlabel("segment in this run")
    ax.set_ylabel("segment in the previous run")
    ax.set_title(title)
    return fig


def plot_comparison(table: pd.DataFrame, title: str) -> plt.Figure:
    """Small multiples of ``comparison.parquet``: stability, neighbour ratio, held-out
    log-likelihood and agreement with the published segments, one bar per algorithm (the
    recommended one dark)."""
    panels = [("stability", "stability (>= 0.75: reproducible)"),
              ("neighbour_ratio", "neighbour ratio (lower: gaps)"),
              ("heldout_loglik", "held-out log-likelihood"),
              ("ari_with_published", "agreement with published (ARI)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(12.0, 2.8), sharey=True)
    names = table["algorithm"].tolist()
    colours = ["#1f4e79" if r else "#9dbad5" for r in table["recommended"].astype(bool)]
    for ax, (column, label) in zip(axes, panels):
        values = pd.to_numeric(table[column], errors="coerce").fillna(0).to_numpy()
        ax.barh(range(len(names)), values, color=colours)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=8)
        if column == "stability":
            ax.axvline(0.75, color="#888", linestyle="--", linewidth=1)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_dendrogram(points: np.ndarray, title: str, leaves: int = 30) -> plt.Figure:
    """Ward's tree of the points, its top ``leaves`` clusters (how segments nest: the height
    of a join is the rise in within-segment variance it costs)."""
    from scipy.cluster.hierarchy import dendrogram

    from segmentation.algorithms import ward_tree

    fig, ax = plt.subplots(figsize=(10.0, 4.0))
    dendrogram(ward_tree(points), truncate_mode="lastp", p=leaves, ax=ax, color_threshold=None,
               above_threshold_color="#1f4e79", leaf_font_size=8)
    ax.set_xlabel("clusters of the last joins (members in brackets)")
    ax.set_ylabel("Ward distance of the join")
    ax.set_title(title)
    fig.tight_layout()
    return fig
