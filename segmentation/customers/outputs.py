"""What a customer run publishes: typed tables, plots and the report."""

from __future__ import annotations

from datetime import date

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from segmentation import contract  # noqa: E402
from segmentation.customers.config import CustomerConfig  # noqa: E402
from segmentation.customers.ingest import SOURCE_ROW  # noqa: E402
from segmentation.customers.naming import axis_label, label  # noqa: E402
from segmentation.customers.transform import apply_transforms  # noqa: E402
from segmentation.plots import plot_k_selection, plot_segment_sizes  # noqa: E402
from segmentation.quality import quality_section  # noqa: E402
from segmentation.report import accounting_section, kselection_section, markdown_table  # noqa: E402


PLOT_POINTS = 20_000


def segments_schema(config: CustomerConfig) -> pa.Schema:
    """segments.parquet: one row per customer (shared columns: ``segmentation.contract``)."""
    return contract.segments_schema("customer_id", [(c, pa.float64()) for c in config.numeric]
                                    + [(c, pa.string()) for c in _text_columns(config)]
                                    + [("is_outlier", pa.bool_()), (SOURCE_ROW, pa.int64())])


def profiles_schema(config: CustomerConfig, share_columns: list[str]) -> pa.Schema:
    """profiles.parquet: one row per segment, centroid (mean) in original units, then the
    share of members in each category of each categorical column."""
    return contract.profiles_schema([(c, pa.float64()) for c in config.numeric]
                                    + [(c, pa.float64()) for c in share_columns])


def quarantine_schema(columns: list[str]) -> pa.Schema:
    """quarantine.parquet: rejected rows, original values as text, with the reason
    (``contract.quarantine_schema``)."""
    return contract.quarantine_schema([c for c in columns if c != SOURCE_ROW])


def quarantine_frame(failed: pd.DataFrame, rejects: pd.DataFrame, source_file: str,
                     lines: dict[int, str]) -> pd.DataFrame:
    """quarantine.parquet's rows, in line order: rows that failed validation (every input
    column as read) and malformed lines (``rejects``, with their ``raw_line``).

    ``lines`` gives each failed row's line as in the file (``ingest.source_lines``), so
    every row has its ``raw_line``, an exact duplicate's included; ``source_file`` names
    the input (``contract.source_file_name``).
    """
    failed = as_text(failed)
    failed["raw_line"] = pd.Series([lines.get(int(n)) for n in failed[SOURCE_ROW]],
                                   index=failed.index, dtype="string")
    parts = [f for f in (failed, rejects.astype({"raw_line": "string", "reason": "string"}))
             if len(f)]
    frame = pd.concat(parts, ignore_index=True) if parts else failed
    frame = frame.sort_values(SOURCE_ROW, kind="stable", ignore_index=True)
    return frame.assign(source_file=pd.Series(source_file, index=frame.index, dtype="string"))


def _text_columns(config: CustomerConfig) -> list[str]:
    extra = [config.roles["gender"]] if "gender" in config.roles else []
    return [c for c in dict.fromkeys([*config.categorical, *extra]) if c != config.id_column]


def with_run_date(frame: pd.DataFrame, run_date: date) -> pd.DataFrame:
    return frame.assign(run_date=run_date)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column but source_row as nullable text (for quarantine)."""
    out = frame.copy()
    for column in out.columns:
        if column != SOURCE_ROW:
            out[column] = out[column].astype("string")
    return out


def plot_segment_scatter(segments: pd.DataFrame, profiles: pd.DataFrame, config: CustomerConfig,
                         transforms: dict | None = None) -> plt.Figure:
    """Two features: the features themselves (log axes where log-transformed); more: the first
    two principal components of the features as clustered (transformed, standardised)."""
    fig, ax = plt.subplots(figsize=(10.5, 6))
    features = list(config.features)
    transforms = transforms or {}
    title = "Segments"
    if len(segments) > PLOT_POINTS:  # a million dots draw slowly and show no more
        segments = segments.sample(PLOT_POINTS, random_state=0).sort_index()
        title = f"Segments (a random {PLOT_POINTS:,} of the members)"
    if len(features) == 2:
        xy = segments[features].to_numpy(float)
        centres = profiles[features].to_numpy(float)
        for column, set_label, set_scale in ((features[0], ax.set_xlabel, ax.set_xscale),
                                             (features[1], ax.set_ylabel, ax.set_yscale)):
            logged = transforms.get(column, {}).get("transform") == "log1p"
            set_label(axis_label(column) + (" (log scale)" if logged else ""))
            if logged:
                set_scale("symlog", linthresh=1)
    else:
        values = apply_transforms(segments[features].astype(float), transforms).to_numpy(float)
        mean, std = values.mean(0), values.std(0) + 1e-12
        pca = PCA(n_components=2, random_state=0).fit((values - mean) / std)
        xy = pca.transform((values - mean) / std)
        ids = segments["segment_id"].to_numpy()
        centres = np.array([xy[ids == s].mean(axis=0) for s in profiles["segment_id"]])
        share = pca.explained_variance_ratio_
        ax.set_xlabel(f"first principal component ({share[0]:.0%} of variance)")
        ax.set_ylabel(f"second principal component ({share[1]:.0%} of variance)")
    for seg in profiles.itertuples():
        members = segments["segment_id"].to_numpy() == seg.segment_id
        ax.scatter(xy[members, 0], xy[members, 1], s=18, alpha=0.7, label=seg.segment_name)
    ax.scatter(centres[:, 0], centres[:, 1], marker="X", s=180, c="black", label="segment means")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_feature_profile(profiles: pd.DataFrame, population: pd.DataFrame,
                         config: CustomerConfig) -> plt.Figure:
    """Each segment's centroid as z-scores against the population, one bar group per feature."""
    cols = config.numeric
    z = (profiles[cols] - population[cols].mean()) / population[cols].std(ddof=0).replace(0, 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(cols) + 4), 4.8))
    width = 0.8 / max(len(profiles), 1)
    for i, (name, row) in enumerate(zip(profiles["segment_name"], z.to_numpy())):
        ax.bar(np.arange(len(cols)) + i * width, row, width, label=name)
    ax.set_xticks(np.arange(len(cols)) + 0.4 - width / 2, [label(c) for c in cols],
                  rotation=30 if len(cols) > 4 else 0, ha="right" if len(cols) > 4 else "center")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("centroid, std. deviations from the mean")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("Segment feature profile")
    fig.tight_layout()
    return fig


def customer_figures(segments, profiles, selection, config, transforms=None) -> dict[str, plt.Figure]:
    return {"k_selection": plot_k_selection(selection),
            "segment_scatter": plot_segment_scatter(segments, profiles, config, transforms),
            "segment_sizes": plot_segment_sizes(profiles),
            "feature_profile": plot_feature_profile(profiles, segments, config)}


def customer_report(*, dataset: str, run_date: date, input_path: str, profiles: pd.DataFrame,
                    selection, silhouette: float, counts: dict, cleaning: dict,
                    paths: dict[str, str], quality: dict, transforms: dict, identity: str,
                    config: CustomerConfig) -> str:
    """The run's markdown report: segments, quality, k and why, row accounting, where things are."""
    table = profiles.drop(columns=["run_date"], errors="ignore").copy()
    shares = [c for c in table.columns if c.startswith("share_")]
    categories = table[["segment_name", *shares]].copy()
    table = table.drop(columns=shares)
    table["share"] = (table["share"] * 100).map(lambda v: f"{v:.1f}%")
    for column in shares:
        categories[column] = (categories[column] * 100).map(lambda v: f"{v:.0f}%")
    logged = [c for c, t in transforms.items() if t["transform"] == "log1p"]
    sections = [
        f"# Segmentation report: {dataset}, {run_date.isoformat()}",
        f"Input: `{input_path}`; {identity}.",
        "## Segments\nCentroids are the means of typical members in original units.\n\n"
        + markdown_table(table, floatfmt=".1f"),
    ]
    if shares:
        sections.append("## Categories per segment\nShare of each segment's members in each "
                        "category" + ("" if config.cluster_categorical else
                                      " (profiled only: not clustered on)") + ".\n\n"
                        + markdown_table(categories))
    sections.append("## Features and transforms\n" + "\n".join(
        [f"- clustered on: {', '.join(config.features)}"
         + (f" and one-hot {', '.join(config.categorical)}" if config.cluster_categorical
            and config.categorical else ""),
         f"- log-transformed (log1p) before scaling: {', '.join(logged) if logged else 'none'}"]
        + [f"  - {c}: {t['transform']} ({t['why']})" for c, t in transforms.items()]))
    return "\n\n".join(sections + [
        quality_section(quality),
        kselection_section(selection, silhouette),
        accounting_section(counts),
        "## Cleaning\n" + "\n".join(f"- {k}: {v}" for k, v in cleaning.items()),
        "## Outputs\n" + "\n".join(f"- {k}: `{v}`" for k, v in paths.items()),
    ]) + "\n"
