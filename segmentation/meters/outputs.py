"""Output tables, meter plots and the markdown report of a meter run."""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import pyarrow as pa  # noqa: E402

from segmentation import contract  # noqa: E402
from segmentation.io import sql_literal  # noqa: E402
from segmentation.meters.features import LIST_FEATURES, SCALAR_FEATURES  # noqa: E402
from segmentation.meters.segment import BANDS, MeterSegmentation  # noqa: E402
from segmentation.meters.store import QUARANTINE_SCHEMA  # noqa: E402
from segmentation.plots import plot_k_selection, plot_segment_sizes, plot_title  # noqa: E402
from segmentation.quality import quality_section  # noqa: E402
from segmentation.report import (DASH, format_count, format_number,  # noqa: E402
                                 kselection_section, markdown_table, plain)

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


SPECIFIC_SEGMENT_COLUMNS = [("consumption_band", pa.string()), ("seasonal_user", pa.bool_())]
COUNT_COLUMNS = ["complete_days", "n_readings", "interpolated_intervals", "missing_intervals"]


def segments_schema() -> pa.Schema:
    """segments.parquet: one row per meter (shared columns: ``segmentation.contract``)."""
    scalar = [(c, pa.bool_() if c == "seasonal_available" else
               pa.int64() if c in COUNT_COLUMNS else pa.float64()) for c in SCALAR_FEATURES]
    counts = [(c, pa.int64()) for c in COUNT_COLUMNS if c not in SCALAR_FEATURES]
    lists = [(c, pa.list_(pa.float64())) for c in LIST_FEATURES]
    return contract.segments_schema("meter_id", SPECIFIC_SEGMENT_COLUMNS + scalar + counts + lists)


def profiles_schema() -> pa.Schema:
    """profiles.parquet: one row per archetype, with the shape x band crosstab as counts."""
    return contract.profiles_schema(
        [("mean_daily_kwh", pa.float64()), ("winter_summer_ratio", pa.float64()),
         ("peak_hour", pa.float64())]
        + [(band_column(b), pa.int64()) for b in BANDS] + [("seasonal_users", pa.int64())]
        + [(c, pa.list_(pa.float64())) for c in PROFILE_LISTS])


PROFILE_LISTS = ["centroid_profile", "profile_p10", "profile_p90", "monthly_index"]


def band_column(band: str) -> str:
    """'Low Energy Users' -> 'low_energy_users' (a crosstab column of profiles.parquet)."""
    return band.lower().replace(" ", "_")


def segments_table(features: pd.DataFrame, seg: MeterSegmentation) -> pd.DataFrame:
    """One row per meter: the contract columns, band, seasonal flag, features, profiles as lists."""
    frame = features.reset_index(drop=True)
    out = pd.DataFrame({
        "meter_id": frame["meter_id"].astype(str),
        "segment_id": seg.labels.astype(np.int32),
        "segment_name": [seg.names[int(s)] for s in seg.labels],
        "segment_label": seg.segment_labels,
        "is_atypical": seg.atypical.astype(bool),
        "atypical_reason": pd.Series(seg.atypical_reason, dtype="string"),
        "distance_to_centroid": seg.distance,
        **seg.confidence,
        "consumption_band": seg.bands.reset_index(drop=True),
        "seasonal_user": seg.seasonal.reset_index(drop=True).astype(bool),
    })
    extra = [c for c in COUNT_COLUMNS if c not in SCALAR_FEATURES]
    return pd.concat([out, frame[SCALAR_FEATURES + extra + LIST_FEATURES]], axis=1)


def profiles_table(segments: pd.DataFrame) -> pd.DataFrame:
    """One row per archetype: size, share, kWh, seasonality, band and seasonal counts, curves."""
    rows = []
    for sid, members in segments.groupby("segment_id", sort=True):
        profile = np.vstack(members["profile"].to_numpy())
        months = np.vstack(members["monthly_index"].to_numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # months no member covers: NaN
            monthly = np.nanmean(months, axis=0)
            ratio = float(np.nanmean(members["winter_summer_ratio"].to_numpy(dtype=float)))
        bands = members["consumption_band"].value_counts()
        rows.append({
            "segment_id": int(sid), "segment_name": members["segment_name"].iloc[0],
            "size": int(len(members)), "share": len(members) / len(segments),
            "atypical": int(members["is_atypical"].sum()),
            "mean_daily_kwh": float(members["mean_daily_kwh"].mean()),
            "winter_summer_ratio": ratio,
            "peak_hour": float(members["peak_hour"].median()),
            **{band_column(b): int(bands.get(b, 0)) for b in BANDS},
            "seasonal_users": int(members["seasonal_user"].sum()),
            "centroid_profile": np.round(profile.mean(axis=0), 6).tolist(),
            "profile_p10": np.round(np.percentile(profile, 10, axis=0), 6).tolist(),
            "profile_p90": np.round(np.percentile(profile, 90, axis=0), 6).tolist(),
            "monthly_index": np.round(monthly, 4).tolist(),
        })
    return pd.DataFrame(rows)


def crosstab(segments: pd.DataFrame) -> pd.DataFrame:
    """Archetype x consumption band, with seasonal users and totals (for the report)."""
    table = pd.crosstab(segments["segment_name"], segments["consumption_band"])
    table = table.reindex(columns=list(BANDS), fill_value=0)
    table["Seasonal Users"] = segments.groupby("segment_name")["seasonal_user"].sum()
    table["all"] = table[list(BANDS)].sum(axis=1)
    order = segments.groupby("segment_name")["segment_id"].first().sort_values().index
    return table.loc[order].reset_index().rename(columns={"segment_name": "archetype"})


def write_quarantine(ingest_parts: list[str], target: Path) -> int:
    """Every reading rejected at ingestion, of every file, in one Parquet file
    (``store.QUARANTINE_SCHEMA``, the contract's columns), by file and row; returns the rows."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    files = ", ".join(sql_literal(p) for p in ingest_parts)
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT {', '.join(QUARANTINE_SCHEMA.names)} FROM read_parquet([{files}]) "
                    f"ORDER BY source_file, source_row, meter_id) TO {sql_literal(tmp)} (FORMAT parquet)")
        n = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(tmp)})").fetchall()[0][0]
    tmp.replace(target)
    return int(n)


# ---------------------------------------------------------------- plots

def _hours(points: int) -> np.ndarray:
    return np.arange(points) * 24 / points


def plot_archetypes(profiles: pd.DataFrame, dataset: str,
                    run_date) -> plt.Figure:  # pragma: no mutate block
    """Centroid daily curve of each segment with its members' 10-90% spread."""
    n = len(profiles)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, sharey=True)
    for ax, (_, seg) in zip(axes.flat, profiles.iterrows()):
        centre = np.asarray(seg["centroid_profile"])
        hours = _hours(len(centre))
        ax.fill_between(hours, seg["profile_p10"], seg["profile_p90"], alpha=0.3, label="members 10-90%")
        ax.plot(hours, centre, color="black", label="centroid")
        ax.set_title(f"{seg['segment_name']}\n{seg['size']:,} meters ({seg['share']:.1%}), "
                     f"{seg['mean_daily_kwh']:.1f} kWh/day", fontsize=9)
        ax.set_xticks([0, 6, 12, 18, 24])
        ax.set_xlabel("local hour")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].set_ylabel("share of daily kWh")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(plot_title(dataset, run_date, "archetype daily curves"))
    fig.tight_layout()
    return fig


def plot_seasonal_heatmap(profiles: pd.DataFrame, dataset: str,
                          run_date) -> plt.Figure:  # pragma: no mutate block
    """Segment x month: mean daily kWh relative to the segment's average month (blank = not covered)."""
    matrix = np.vstack(profiles["monthly_index"].to_numpy()).astype(float)
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(profiles) + 1.8))
    image = ax.imshow(np.ma.masked_invalid(matrix), aspect="auto", cmap="coolwarm", vmin=0, vmax=2)
    ax.set_xticks(range(12), MONTHS)
    ax.set_yticks(range(len(profiles)), profiles["segment_name"])
    fig.colorbar(image, ax=ax, label="month / average month (daily kWh)")
    ax.set_title(plot_title(dataset, run_date, "seasonal pattern per segment"))
    fig.tight_layout()
    return fig


def plot_daily_kwh(segments: pd.DataFrame, profiles: pd.DataFrame, band_rule: dict,
                   dataset: str, run_date) -> plt.Figure:  # pragma: no mutate block
    """Distribution of mean daily kWh per archetype (box plot, log axis), band thresholds marked."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    data = [segments.loc[segments["segment_id"] == s, "mean_daily_kwh"].to_numpy()
            for s in profiles["segment_id"]]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(profiles) + 1.8))
    ax.boxplot(data, vert=False, tick_labels=list(profiles["segment_name"]))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    low, high = band_rule["low_below_kwh_per_day"], band_rule["high_from_kwh_per_day"]
    # Labels point away from each other: close thresholds would print them on top of each other.
    for at, text, align in ((low, f"Low < {low:.1f} ", "right"),
                            (high, f" {high:.1f} <= High", "left")):
        ax.axvline(at, color="tab:red", linestyle=":", linewidth=1)
        ax.text(at, 1.0, text, transform=ax.get_xaxis_transform(), fontsize=7, color="tab:red",
                va="bottom", ha=align)
    ax.set_xlabel("mean daily consumption (kWh/day, log scale)")
    ax.invert_yaxis()
    ax.set_title(plot_title(dataset, run_date, "daily consumption per archetype, with the "
                            "consumption bands"), pad=14)
    fig.tight_layout()
    return fig


def meter_figures(segments: pd.DataFrame, profiles: pd.DataFrame, selection, band_rule: dict, *,
                  dataset: str, run_date) -> dict[str, plt.Figure]:
    """Every plot of a meter run, each titled with the dataset and the run date."""
    named = {"dataset": dataset, "run_date": run_date}
    return {"archetypes": plot_archetypes(profiles, **named),
            "seasonal_heatmap": plot_seasonal_heatmap(profiles, **named),
            "k_selection": plot_k_selection(selection, **named),
            "segment_sizes": plot_segment_sizes(profiles, unit="meters", **named),
            "daily_kwh": plot_daily_kwh(segments, profiles, band_rule, **named)}


# ---------------------------------------------------------------- report

SEASONS_NOT_COVERED = "not available (the window does not cover both seasons)"


def archetype_table(profiles: pd.DataFrame) -> pd.DataFrame:
    """The report's archetype table: readable headers with units, counts with separators,
    a dash where a segment's winter/summer ratio cannot be measured."""
    return pd.DataFrame({
        "id": profiles["segment_id"].map(format_count),
        "archetype": profiles["segment_name"],
        "meters": profiles["size"].map(format_count),
        "share": profiles["share"].map(lambda v: f"{v:.1%}"),
        "atypical": profiles["atypical"].map(format_count),
        "mean daily consumption (kWh/day)": [format_number(v, 1) for v in profiles["mean_daily_kwh"]],
        "winter/summer ratio": [format_number(v, 2) for v in profiles["winter_summer_ratio"]],
        "peak hour (local, median)": [format_number(v, 1) for v in profiles["peak_hour"]],
    })


def clustering_sentence(weighting: dict) -> str:
    """``segment.weighting`` in words: what the archetypes were clustered on, and what not."""
    rest = dict(weighting)
    shape = {"daily": "the daily load shape",
             "weekday-weekend": "the weekday and weekend load shapes"}.get(
        rest.get("shape"), f"the {rest.get('shape', 'daily')} load shape")
    rest.pop("shape", None)
    how = [str(rest.pop("representation"))] if "representation" in rest else []
    if "columns" in rest:
        how.append(f"{format_count(rest.pop('columns'))} columns")
    text = f"Clustered on {shape}" + (f" ({', '.join(how)})" if how else "")
    return text + "".join(f"; {k.replace('_', ' ')}: {plain(v)}" for k, v in rest.items()) + "."


def utc_time(stamp: str) -> str:
    """``2018-10-28T23:00:00+00:00`` -> ``2018-10-28 23:00``."""
    return pd.Timestamp(stamp).strftime("%Y-%m-%d %H:%M")


def by_reason(counts: dict[str, int]) -> list[str]:
    """Indented ``reason: n`` lines of a count by reason."""
    return [f"  - {reason}: {format_count(n)}" for reason, n in counts.items()]


def meter_report(*, dataset: str, run_date, inputs: list[dict], window: dict, profiles: pd.DataFrame,
                 segments: pd.DataFrame, seg: MeterSegmentation, quality: dict, counts: dict,
                 quarantined_meters: pd.DataFrame, policy: dict, outputs: dict) -> str:
    """The run's markdown report."""
    seasons_covered = bool(profiles["winter_summer_ratio"].notna().any())
    seasonal_note = ("winter/summer ratio >= 1.5 where the window covers both seasons; "
                     f"{window.get('hemisphere', 'north')}ern hemisphere seasons "
                     f"({window.get('hemisphere_source', 'given')})" if seasons_covered else
                     f"{SEASONS_NOT_COVERED}, so no meter is one")
    bands = crosstab(segments)
    if not seasons_covered:
        bands["Seasonal Users"] = DASH
    lines = [f"# Meter segmentation: {dataset}, {run_date}", "",
             "## Inputs",
             *[f"- `{i['path']}` ({i['format']}, {i['resolution_min']} min, "
               f"{format_count(i['rows_in'])} readings, "
               f"{'already ingested, skipped' if i['skipped'] else 'ingested now'})" for i in inputs],
             "", "## Window",
             f"- {utc_time(window['start'])} to {utc_time(window['end'])} UTC, "
             f"{format_count(window['days'])} local days in {window['timezone']}, "
             f"resolution {window['resolution_min']} min",
             "", "## Load-shape archetypes (segment_name)", markdown_table(archetype_table(profiles)),
             "", clustering_sentence(seg.weighting)]
    if not seasons_covered:
        lines += ["", f"Winter/summer ratio: {SEASONS_NOT_COVERED}."]
    lines += ["", "## Archetype x consumption band",
              f"Bands from mean daily kWh: {seg.band_rule['text']}. Seasonal Users: {seasonal_note}.",
              "", markdown_table(bands), "",
              quality_section(quality), "",
              kselection_section(seg.selection, seg.silhouette), "",
              "## Reading accounting",
              f"- readings in (all ingested files): {format_count(counts['readings_in'])}",
              f"- used for features: {format_count(counts['readings_used'])}",
              f"- quarantined readings: {format_count(counts['readings_quarantined'])}",
              *by_reason(counts["readings_quarantined_by_reason"]),
              f"- superseded by a later file (same meter and instant): "
              f"{format_count(counts['readings_superseded'])}",
              *by_reason(counts["readings_superseded_by_reason"]),
              f"- readings of quarantined meters: "
              f"{format_count(counts['readings_of_quarantined_meters'])}",
              *by_reason(counts["readings_of_quarantined_meters_by_reason"]),
              f"- outside the window (kept in the store): "
              f"{format_count(counts['readings_outside_window'])}",
              f"- reconciles (in = used + quarantined + superseded + quarantined meters + outside "
              f"window): "
              f"{'yes' if counts['reconciles'] else 'NO'}",
              f"- intervals interpolated: {format_count(counts['interpolated_intervals'])}; "
              f"left missing: {format_count(counts['missing_intervals_left'])}",
              "", "## Quarantined meters",
              f"{format_count(len(quarantined_meters))} meters"
              + ("; by reason:" if len(quarantined_meters) else "."), ""]
    if len(quarantined_meters):
        by = quarantined_meters.groupby("reason").size().rename("meters").reset_index()
        lines.append(markdown_table(by))
    lines += ["", "## Policies", *[f"- {k}: {plain(v)}" for k, v in policy.items()],
              "", "## Outputs", *[f"- {k}: `{v}`" for k, v in outputs.items()], ""]
    return "\n".join(lines)
