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
from segmentation.customers.clean import OUTLIER_IQR_FACTOR  # noqa: E402
from segmentation.customers.config import CustomerConfig  # noqa: E402
from segmentation.customers.ingest import SOURCE_ROW  # noqa: E402
from segmentation.customers.naming import axis_label, label  # noqa: E402
from segmentation.customers.transform import apply_transforms  # noqa: E402
from segmentation.plots import (plot_k_selection, plot_profile_heatmap,  # noqa: E402
                                plot_segment_sizes, plot_title)
from segmentation.quality import quality_section  # noqa: E402
from segmentation.report import (accounting_section, closing_sections,  # noqa: E402
                                 format_count, format_number, markdown_table, plain)


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
                         transforms: dict | None = None, *, dataset: str,
                         run_date: date | str) -> plt.Figure:  # pragma: no mutate block
    """Two features: the features themselves (log axes where log-transformed); more: the first
    two principal components of the features as clustered (transformed, standardised)."""
    fig, ax = plt.subplots(figsize=(10.5, 6))
    features = list(config.features)
    transforms = transforms or {}
    what = "segments" if len(features) == 2 else "segments on the first two principal components"
    if len(segments) > PLOT_POINTS:  # a million dots draw slowly and show no more
        segments = segments.sample(PLOT_POINTS, random_state=0).sort_index()
        what += f" (a random {PLOT_POINTS:,} of the members)"
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
    ax.set_title(plot_title(dataset, run_date, what))
    fig.tight_layout()
    return fig


def plot_feature_profile(profiles: pd.DataFrame, population: pd.DataFrame,
                         config: CustomerConfig, *, dataset: str,
                         run_date: date | str) -> plt.Figure:
    """One heatmap: segments x numeric columns, coloured by the z-score of each segment's
    centroid against all customers, annotated with the centroid in original units."""
    cols = config.numeric
    return plot_profile_heatmap(profiles[cols].reset_index(drop=True), population[cols],
                                list(profiles["segment_name"]), {c: axis_label(c) for c in cols},
                                dataset, run_date, members="customers")


def customer_figures(segments, profiles, selection, config, transforms=None, *, dataset: str,
                     run_date: date | str) -> dict[str, plt.Figure]:
    """Every plot of a customer run, each titled with the dataset and the run date."""
    named = {"dataset": dataset, "run_date": run_date}
    return {"k_selection": plot_k_selection(selection, **named),
            "segment_scatter": plot_segment_scatter(segments, profiles, config, transforms, **named),
            "segment_sizes": plot_segment_sizes(profiles, unit="customers", **named),
            "feature_profile": plot_feature_profile(profiles, segments, config, **named)}


def category_label(column: str, config: CustomerConfig) -> str:
    """``share_gender_female`` -> ``Gender: female`` (the column named as in the segments)."""
    rest = column.removeprefix("share_")
    for name in sorted(_text_columns(config), key=len, reverse=True):
        if rest.startswith(name + "_"):
            return f"{label(name)}: {rest[len(name) + 1:].replace('_', ' ')}"
    return rest.replace("_", " ")


def segments_table(profiles: pd.DataFrame, config: CustomerConfig) -> pd.DataFrame:
    """The report's segment table: readable headers (units where known), counts with
    thousands separators, shares in %, centroids with three significant digits or more."""
    numeric = [c for c in config.numeric if c in profiles.columns]
    table = pd.DataFrame({
        "id": profiles["segment_id"].map(format_count),
        "segment": profiles["segment_name"],
        "customers": profiles["size"].map(format_count),
        "share": profiles["share"].map(lambda v: f"{v:.1%}"),
        "atypical": profiles["atypical"].map(format_count),
    })
    for column in numeric:
        table[axis_label(column)] = profiles[column].map(format_number)
    return table


def cleaning_lines(cleaning: dict) -> list[str]:
    """The cleaning counts in words: missing values, what was imputed, outliers, anything else."""
    cleaning = dict(cleaning)
    missing = cleaning.pop("missing_policy", "quarantine")
    imputed = {c: n for c, n in (cleaning.pop("imputed", None) or {}).items() if n}
    lines = ["- missing values: " + ("rows with one are quarantined (--missing quarantine)"
                                     if missing == "quarantine" else
                                     "filled with the column median (--missing impute)"),
             "- values imputed: " + (", ".join(f"{label(c)} {format_count(n)}"
                                               for c, n in imputed.items()) or "none")]
    if "outliers" in cleaning:
        policy = cleaning.pop("outlier_policy", "flag")
        lines.append(f"- outliers (beyond {OUTLIER_IQR_FACTOR:g} x IQR from the quartiles): "
                     f"{format_count(cleaning.pop('outliers'))}, "
                     + ("flagged and kept as they are (--outliers flag)" if policy == "flag" else
                        "clipped to the fences (--outliers winsorize)" if policy == "winsorize"
                        else plain(policy)))
    return lines + [f"- {k.replace('_', ' ')}: {plain(v)}" for k, v in cleaning.items()]


def customer_report(*, dataset: str, run_date: date, input_path: str, profiles: pd.DataFrame,
                    selection, silhouette: float, counts: dict, cleaning: dict,
                    paths: dict[str, str], quality: dict, transforms: dict, identity: str,
                    config: CustomerConfig) -> str:
    """The run's markdown report: segments, quality, k and why, row accounting, where things are."""
    table = segments_table(profiles, config)
    shares = [c for c in profiles.columns if c.startswith("share_")]
    categories = pd.DataFrame({"segment": profiles["segment_name"]})
    for column in shares:
        categories[category_label(column, config)] = profiles[column].map(lambda v: f"{v:.0%}")
    logged = [c for c, t in transforms.items() if t["transform"] == "log1p"]
    sections = [
        f"# Segmentation report: {dataset}, {run_date.isoformat()}",
        f"Input: `{input_path}`; {identity}.",
        "## Segments\nCentroids are the means of typical members in original units.\n\n"
        + markdown_table(table),
    ]
    if shares:
        sections.append("## Categories per segment\nShare of each segment's members in each "
                        "category" + ("" if config.cluster_categorical else
                                      " (profiled only: not clustered on)") + ".\n\n"
                        + markdown_table(categories))
    sections.append("## Features and transforms\n" + "\n".join(
        [f"- clustered on: {', '.join(config.features)}"
         + (f" and one-hot {', '.join(config.categorical)}" if config.cluster_categorical
            and config.categorical else "")
         + (" (every numeric column but the id" + (
             f"; not numeric, left out: {', '.join(config.not_numeric)}"
             if config.not_numeric else "") + ")" if config.all_numeric else ""),
         f"- log-transformed (log1p) before scaling: {', '.join(logged) if logged else 'none'}"]
        + [f"  - {c}: {'not transformed' if t['transform'] == 'none' else t['transform']} "
           f"({t['why']})" for c, t in transforms.items()]))
    return "\n\n".join(sections + closing_sections(
        quality_section(quality), selection, silhouette, accounting_section(counts),
        cleaning_lines(cleaning), paths)) + "\n"
