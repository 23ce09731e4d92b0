"""What a purchase-log run publishes: typed tables, the line accounting, plots and the report."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from segmentation import contract
from segmentation.customers.outputs import cleaning_lines, customer_figures
from segmentation.quality import quality_section
from segmentation.io import sql_literal
from segmentation.report import closing_sections, format_count, format_number, markdown_table
from segmentation.transactions.config import NEW_CUSTOMER_DAYS, TransactionConfig
from segmentation.transactions.features import CLUSTER_FEATURES, FEATURES, RETURNS_ONLY

ANONYMOUS = "no customer id (anonymous sale)"
MEDIANS = ("recency_days", "frequency", "monetary")
SEGMENT_EXTRA = [("country", pa.string()), ("first_purchase", pa.date32()),
                 ("last_purchase", pa.date32()), ("n_lines", pa.int64()),
                 ("r_score", pa.int32()), ("f_score", pa.int32()), ("m_score", pa.int32()),
                 ("rfm_score", pa.string()), ("is_new", pa.bool_()), ("is_outlier", pa.bool_())]


def segments_schema() -> pa.Schema:
    """segments.parquet: one row per customer: the shared columns, the features, the RFM
    scores and ``is_new`` (``segmentation.contract``)."""
    return contract.segments_schema("customer_id", [(f, pa.float64()) for f in FEATURES]
                                    + SEGMENT_EXTRA)


def profiles_schema(extra: list[str] = ()) -> pa.Schema:
    """profiles.parquet: per segment the clustering features' means (typical members) and the
    medians of recency, frequency and monetary over all members, then any extra columns."""
    return contract.profiles_schema([(f, pa.float64()) for f in CLUSTER_FEATURES]
                                    + [(f"median_{m}", pa.float64()) for m in MEDIANS]
                                    + [(c, pa.float64()) for c in extra])


def segment_rows(segments: pd.DataFrame) -> pd.DataFrame:
    """The segments frame with the RFM string score and typed columns."""
    out = segments.copy()
    out["rfm_score"] = (out["r_score"].astype(str) + out["f_score"].astype(str)
                        + out["m_score"].astype(str))
    for column in ("first_purchase", "last_purchase"):
        out[column] = pd.to_datetime(out[column]).dt.date
    return out


def with_medians(profiles: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Profiles plus each segment's median recency, frequency and monetary (all members)."""
    medians = segments.groupby("segment_id")[list(MEDIANS)].median()
    medians.columns = [f"median_{c}" for c in medians.columns]
    return profiles.merge(medians, left_on="segment_id", right_index=True, how="left")


def quarantine_sql(staged: str, quarantined: str, separator: str | None, source_file: str,
                   columns: list[str]) -> str:
    """quarantine.parquet's rows from the staged text and the quarantined line numbers:
    ``raw_line`` is the line's fields joined by the file's separator (quoted as CSV quotes
    them; a Parquet row's fields joined by commas, a missing one left empty)."""
    sep = separator or ","

    def field(name: str) -> str:
        col = "coalesce(\"" + name.replace('"', '""') + "\", '')"
        return (f"CASE WHEN {col} LIKE '%{sep}%' OR {col} LIKE '%\"%' "
                f"THEN '\"' || replace({col}, '\"', '\"\"') || '\"' ELSE {col} END")

    raw = f" || '{sep}' || ".join(field(c) for c in columns) or "''"
    cols = ", ".join('s."' + c.replace('"', '""') + '"' for c in columns)
    return (f"SELECT q.source_row, q.reason, {raw} AS raw_line, "
            f"{sql_literal(source_file)} AS source_file, {cols} "
            f"FROM read_parquet({sql_literal(quarantined)}) q "
            f"JOIN read_parquet({sql_literal(staged)}) s USING (source_row) ORDER BY q.source_row")


def quarantine_schema(columns: list[str]) -> pa.Schema:
    return contract.quarantine_schema(columns)


def line_accounting(lines_in: int, split: dict, rejects: int, features: dict) -> dict:
    """Where every line went; raises when the counts do not reconcile.

    lines in = used for features + quarantined (with reasons; malformed lines included)
    + excluded (dated after the run date or before the window, non-product lines,
    customers with returns only).
    """
    quarantined = dict(split["quarantined_by_reason"])
    if rejects:
        quarantined["malformed line"] = quarantined.get("malformed line", 0) + int(rejects)
    excluded = dict(split["excluded_by_reason"])
    if features["returns_only"]["lines"]:
        excluded[RETURNS_ONLY] = features["returns_only"]["lines"]
    counts = {"lines_in": int(lines_in), "lines_used": int(features["lines_used"]),
              "lines_quarantined": int(sum(quarantined.values())),
              "quarantined_by_reason": quarantined,
              "lines_excluded": int(sum(excluded.values())), "excluded_by_reason": excluded,
              "customers_segmented": int(features["customers"]),
              "anonymous_sales": split["anonymous_sales"], "returns": features["returns"],
              "customers_with_returns_only": features["returns_only"]["customers"],
              "non_product_by_code": split["non_product_by_code"]}
    counts["reconciles"] = (counts["lines_in"] == counts["lines_used"]
                            + counts["lines_quarantined"] + counts["lines_excluded"])
    if not counts["reconciles"]:
        raise AssertionError(f"line accounting does not reconcile: {counts}")
    return counts


def accounting_section(counts: dict) -> str:
    """Markdown: lines in, used, quarantined and excluded by reason, anonymous sales, returns."""
    def by_reason(reasons: dict) -> list[str]:
        return [f"  - {r}: {format_count(n)}" for r, n in sorted(reasons.items())]

    anonymous, returns = counts["anonymous_sales"], counts["returns"]
    unmatched = returns["without_earlier_purchase"]
    lines = ["## Line accounting",
             f"- lines in: {format_count(counts['lines_in'])}",
             f"- used for features: {format_count(counts['lines_used'])} "
             f"({format_count(counts['customers_segmented'])} customers)",
             f"- quarantined: {format_count(counts['lines_quarantined'])} "
             "(a line with several reasons is listed under all of them)",
             *by_reason(counts["quarantined_by_reason"]),
             f"- excluded: {format_count(counts['lines_excluded'])}",
             *by_reason(counts["excluded_by_reason"]),
             f"- reconciles (in = used + quarantined + excluded): "
             f"{'yes' if counts['reconciles'] else 'NO'}",
             f"- anonymous sales (no customer id): {format_count(anonymous['lines'])} lines, "
             f"value {format_number(anonymous['value'])}",
             f"- returns netted against purchases: {format_count(returns['lines'])} lines, "
             f"value {format_number(returns['value'])}; of them with no earlier purchase in the "
             f"data: {format_count(unmatched['lines'])} lines of "
             f"{format_count(unmatched['customers'])} customers, value "
             f"{format_number(unmatched['value'])} (kept and netted)"]
    if counts["non_product_by_code"]:
        lines.append("- non-product lines by code: " + ", ".join(
            f"{code} {format_count(v['lines'])}" for code, v in
            counts["non_product_by_code"].items()))
    return "\n".join(lines)


def country_profile(segments: pd.DataFrame, names: dict[int, str]) -> dict | None:
    """The segments' country mix (``attributes.country_profile``), Cramér's V of segment
    against country with its chi-square p-value, and the report's section; None without a
    country column."""
    from segmentation import attributes

    if "country" not in segments or segments["country"].isna().all():
        return None
    labels, countries = segments["segment_id"].to_numpy(), segments["country"]
    mix, by_country = attributes.country_profile(labels, names, countries)
    counts = attributes.category_counts(labels, countries, sorted(names))
    v, p = attributes.cramers_v(counts), attributes.chance_of(counts)
    section = attributes.country_section(mix, by_country, names) + (
        f"\n\nCramér's V of segment against country: {v:.3f} ({attributes.strength_word(v)}; "
        f"chi-square p {attributes._p_text(p)}): 0 means the segments have the same country "
        "mix, 1 that the country decides the segment.")
    return {"mix": mix, "by_country": by_country, "section": section,
            "manifest": {"cramers_v": round(v, 6) if v == v else None,
                         "p_value_chi_square": round(p, 6) if p == p else None,
                         "customers_by_country": {str(c): int(n) for c, n in
                                                  by_country["customers"].items()},
                         "mix": {names[s]: {str(c): round(float(x), 6) for c, x in row.items()}
                                 for s, row in mix.iterrows()}}}


def rfm_table(profiles: pd.DataFrame) -> pd.DataFrame:
    """The report's segment table in RFM terms: size, medians, means of the other features."""
    table = pd.DataFrame({
        "id": profiles["segment_id"].map(format_count),
        "segment": profiles["segment_name"],
        "customers": profiles["size"].map(format_count),
        "share": profiles["share"].map(lambda v: f"{v:.1%}"),
        "median recency (days)": profiles["median_recency_days"].map(format_number),
        "median orders": profiles["median_frequency"].map(format_number),
        "median net spend": profiles["median_monetary"].map(format_number),
        "mean tenure (days)": profiles["tenure_days"].map(format_number),
        "mean order value": profiles["avg_order_value"].map(format_number),
        "mean return rate": profiles["return_rate"].map(lambda v: f"{v:.1%}"),
    })
    return table


def transaction_report(*, dataset: str, run_date: date, input_path: str, config: TransactionConfig,
                       profiles: pd.DataFrame, selection, silhouette: float, counts: dict,
                       cleaning: dict, quality: dict, transforms: dict, new_customers: int,
                       paths: dict[str, str], extra_sections: list[str] = ()) -> str:
    """The run's markdown report: segments in RFM terms, quality, k, line accounting."""
    logged = [c for c, t in transforms.items() if t["transform"] == "log1p"]
    window = (f"the {config.window_days} days up to {run_date}" if config.window_days
              else f"all lines dated on or before {run_date}")
    sections = [
        f"# Segmentation report: {dataset}, {run_date.isoformat()}",
        f"Input: `{input_path}`; one row per purchase line ({config.describe()}; value = "
        f"{config.value_from}); features as of {run_date} from {window} "
        f"(timestamps read in {config.timezone}).",
        "## Segments\nMedians over all members; means over typical members.\n\n"
        + markdown_table(rfm_table(profiles)),
        f"New customers (first order within {NEW_CUSTOMER_DAYS} days of the run date, flagged "
        f"`is_new` whatever their segment): {format_count(new_customers)}.",
        "## Features and transforms\n" + "\n".join(
            [f"- clustered on: {', '.join(CLUSTER_FEATURES)} (net spend below 0 counts as 0 "
             "for clustering)",
             f"- log-transformed (log1p) before scaling: {', '.join(logged) or 'none'}",
             "- RFM scores: quintiles 1-5 of recency (5 = most recent), frequency and net spend "
             "(5 = highest), in `r_score`, `f_score`, `m_score` and `rfm_score`"]),
        *extra_sections,
        *closing_sections(quality_section(quality), selection, silhouette,
                          accounting_section(counts), cleaning_lines(cleaning), paths),
    ]
    return "\n\n".join(sections) + "\n"


def transaction_figures(segments, profiles, selection, config, transforms, *, dataset: str,
                        run_date, floors: dict[str, float]) -> dict:  # pragma: no mutate block
    """The customer run's plots (k selection, scatter on principal components, sizes, feature
    profile) drawn from the behavioural features as clustered (``floors`` applied)."""
    clustered = segments.assign(**{c: segments[c].clip(lower=v) for c, v in floors.items()})
    return customer_figures(clustered, profiles, selection, config, transforms, dataset=dataset,
                            run_date=run_date)

