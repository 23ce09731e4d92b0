"""Member attributes and geography, profiled per segment (pure: no Prefect).

Any per-member table (region, postcode district, tariff, dwelling type, survey
answers) is joined by id to the members of a run (customers, meters or
transactions' customers) and each of its columns is profiled per segment:

- a **categorical** column as the share of each value among the segment's
  members that have attributes (a missing value counts as the value
  ``missing``); at most ``MAX_CATEGORIES`` values per column are profiled, the
  most frequent ones, and the rest are pooled as ``other``;
- a **numeric** column (at least ``NUMERIC_SHARE`` of its non-missing values are
  numbers) as the segment's mean, over the members with a value.

How strongly the segments and a categorical attribute go together is
**Cramér's V** of their contingency table (the capped values, ``missing`` and
``other`` included): 0 when they are independent (every segment has the same
mix of values), 1 when one determines the other (each value occurs in one
segment only, or, with fewer values than segments, each segment holds a single
value). It is undefined (NaN) with a single segment or a single value.
``STRENGTH_WORDS`` turns it into words for the report.

Ids are matched after the customer pipeline's normalisation
(``customers.ingest.normalise_ids``: ``0042`` and ``42`` are one member), and
``42.0``, as a spreadsheet or a float id column writes ``42``, is ``42`` too.
Ids of the attribute table that match no member and members without a row of
attributes are counted, never silently dropped.

A country column is one categorical attribute: ``country_profile`` gives each
segment's country mix and each country's customers across segments from the
same counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402
from scipy.stats import chi2_contingency  # noqa: E402
from scipy.stats.contingency import association  # noqa: E402

from segmentation.customers.ingest import (MISSING_MARKERS, SOURCE_ROW, canonical_name,  # noqa: E402
                                           normalise_ids, read_customer_csv, read_header)
from segmentation.errors import InputError  # noqa: E402
from segmentation.plots import wrap_name  # noqa: E402
from segmentation.report import DASH, format_count, format_number, markdown_table  # noqa: E402

MAX_CATEGORIES = 20     # values profiled per categorical column; the rest pooled as OTHER
NUMERIC_SHARE = 0.9     # a column is numeric when this share of its non-missing values are numbers
MISSING, OTHER = "missing", "other"
TOP_COUNTRIES = 10      # countries shown by name; the rest are "Other"
# Cramér's V in words: below 0.1 negligible, below 0.3 weak, below 0.5 moderate, else strong
# (the usual reading of V for tables whose smaller side has a few categories).
STRENGTH_WORDS = [(0.1, "negligible"), (0.3, "weak"), (0.5, "moderate"), (math.inf, "strong")]
MEMBERS_COLUMN = "attr_members"   # per segment: its members that have a row of attributes


@dataclass(frozen=True)
class AttributeProfile:
    """Attributes profiled per segment.

    Attributes
    ----------
    per_segment : DataFrame
        Index ``segment_id``; ``attr_members`` (members with attributes), then per
        categorical column ``attr_share_<column>_<value>`` (shares among those members,
        summing to 1) and per numeric column ``attr_mean_<column>``.
    strength : dict[str, float]
        Cramér's V between segment and each categorical column (NaN when undefined).
    counts : dict
        ``attribute_rows``, ``attribute_ids_unmatched``, ``members_with_attributes``,
        ``members_without_attributes``.
    columns : dict[str, str]
        Each attribute column: ``categorical`` or ``numeric``.
    categories : dict[str, dict[str, str]]
        Per categorical column, each ``attr_share_...`` column and the value it counts.
    p_values : dict[str, float]
        Per categorical column, the chi-square test's p-value: how often independent
        segments and values would give a V this large by chance (small samples do).
    """

    per_segment: pd.DataFrame
    strength: dict[str, float]
    counts: dict
    columns: dict[str, str]
    categories: dict[str, dict[str, str]] = field(default_factory=dict)
    p_values: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- reading the table

def member_key(ids) -> pd.Series:
    """Ids as the text both sides of the join use: trimmed, ``42.0`` -> ``42``, then the
    customer pipeline's ``normalise_ids`` (``0042`` -> ``42``)."""
    text = pd.Series(ids).astype("string").str.strip()
    text = text.str.replace(r"^(\d+)\.0*$", r"\1", regex=True)
    return normalise_ids(text)


def is_parquet(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def attribute_header(path: Path | str) -> list[str]:
    """The canonical column names of an attribute table (CSV: the header line only)."""
    path = _existing(path)
    if is_parquet(path):
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        # A pandas index written with the table (``__index_level_0__``) is not a column of it.
        index = {c for c in (schema.pandas_metadata or {}).get("index_columns", [])
                 if isinstance(c, str)}
        return [canonical_name(c) for c in schema.names if c not in index]
    return read_header(path)


def resolve_id_column(header: list[str], id_column: str | None, member_id: str,
                      file: str) -> str:
    """The id column of an attribute table: ``id_column`` (as in the file or snake_case),
    else ``member_id`` (``customer_id``, ``meter_id``), ``id`` or the one ``*_id`` column."""
    if id_column is not None:
        name = canonical_name(id_column)
        if name not in header:
            raise InputError(f"the id column '{id_column}' (--attributes-id) is not in the header "
                             f"(columns: {', '.join(header)})", file=file, column=id_column)
        return name
    for name in (member_id, "id"):
        if name and name in header:
            return name
    ending = [c for c in header if c.endswith("_id")]
    if len(ending) != 1:
        raise InputError(f"no id column found (columns: {', '.join(header)}): name it with "
                         "--attributes-id", file=file)
    return ending[0]


def load_attributes(path: str | Path, id_column: str) -> pd.DataFrame:
    """Read a per-member attribute table: CSV (gzip too, separator sniffed) or Parquet.

    Parameters
    ----------
    path : str or Path
    id_column : str
        The id column, as in the file or in snake_case.

    Returns
    -------
    DataFrame
        Index: the member id as normalised text (``member_key``); columns: every other
        column (canonical snake_case names), numeric ones as float64, others as text with
        NA for missing-value markers.

    Raises
    ------
    InputError
        Naming the file and the column: an empty file, a missing id column (the header is
        listed), a malformed line, a row without an id, or the first duplicated id.
    """
    path = _existing(path)
    where = str(path)
    table = _read_parquet(path) if is_parquet(path) else _read_csv(path)
    header = [c for c in table.columns if c != SOURCE_ROW]
    key = resolve_id_column(header, id_column, "", where)
    if table.empty:
        raise InputError("the attribute table has a header and no rows", file=where, row=2)
    ids = member_key(table[key])
    _check_ids(ids, table[SOURCE_ROW], key, where)
    attributes = {c: typed_column(table[c]) for c in header if c != key}
    frame = pd.DataFrame(attributes).set_axis(pd.Index(ids.astype(object), name="member_id"))
    return frame


def typed_column(values: pd.Series) -> pd.Series:
    """float64 when at least ``NUMERIC_SHARE`` of the non-missing values are finite numbers
    (the others become NaN), else text; a column with no value at all is text."""
    values = values.reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        number = values.astype(float)
        number = number.where(np.isfinite(number))         # +-inf (Parquet floats): NaN
        if number.notna().any():
            return number
    text = _clean_text(values)
    number = pd.to_numeric(text, errors="coerce").astype(float)
    number = number.where(np.isfinite(number))
    present = int(text.notna().sum())
    if present and number.notna().sum() >= NUMERIC_SHARE * present:
        return number
    return text


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found (check the --attributes path)", file=str(path))
    return path


def _clean_text(values: pd.Series) -> pd.Series:
    """Trimmed text; missing-value markers (as customers' ingestion reads them) -> NA."""
    text = values.astype("string").str.strip()
    return text.mask(text.str.lower().isin(MISSING_MARKERS))


def _read_csv(path: Path) -> pd.DataFrame:
    rows, rejects = read_customer_csv(path)
    if len(rejects):
        first = rejects.iloc[0]
        raise InputError(f"{len(rejects)} malformed line(s) in the attribute table, the first: "
                         f"{first['reason']}", file=str(path), row=int(first[SOURCE_ROW]))
    return rows


def _read_parquet(path: Path) -> pd.DataFrame:
    table = pd.read_parquet(path)
    names = [canonical_name(str(c)) for c in table.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError("two columns name the same column", file=str(path), column=repeated[0])
    table.columns = names
    return table.reset_index(drop=True).assign(**{SOURCE_ROW: np.arange(1, len(table) + 1)})


def _check_ids(ids: pd.Series, rows: pd.Series, column: str, file: str) -> None:
    """Every row has an id and no id comes twice (``rows``: the line or Parquet row)."""
    rows = rows.reset_index(drop=True)
    blank = ids.isna() | (ids == "")
    if blank.any():
        raise InputError(f"{int(blank.sum())} row(s) have no id: each row of attributes needs "
                         "the member it describes", file=file, column=column,
                         row=int(rows[blank.to_numpy()].iloc[0]))
    repeated = ids.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = ids[repeated].iloc[0]
        where = rows[(ids == first).to_numpy()].tolist()
        raise InputError(f"id '{first}' comes {len(where)} times (rows {', '.join(map(str, where))}):"
                         " each member needs one row of attributes", file=file, column=column,
                         row=int(where[1]))


# ---------------------------------------------------------------- profiling

def category_counts(labels, values, segments=None, top: int = MAX_CATEGORIES,
                    other: str = OTHER) -> pd.DataFrame:
    """Members per segment (rows, every one of ``segments``) and value (columns).

    Missing values count as ``MISSING``; the ``top`` most frequent other values are kept
    (most frequent first) and the rest pooled as ``other`` (a column only when there is a
    rest). ``MISSING`` comes after the named values, ``other`` last.
    """
    text = _clean_text(pd.Series(values).reset_index(drop=True))
    frequency = text.value_counts()
    kept = list(frequency.index[:top])
    pooled = text.where(text.isin(kept) | text.isna(), other).fillna(MISSING)
    labels = pd.Series(np.asarray(labels), name="segment_id")
    counts = pd.crosstab(labels, pooled.rename("value"))
    order = [v for v in kept if v in counts.columns] + [v for v in (MISSING, other)
                                                         if v in counts.columns and v not in kept]
    segments = sorted(set(labels)) if segments is None else list(segments)
    return counts.reindex(index=segments, columns=order, fill_value=0).rename_axis(
        index="segment_id", columns=None)


def _occupied(counts: pd.DataFrame) -> np.ndarray | None:
    """The table without empty rows and columns; None when fewer than two of either."""
    table = counts.to_numpy(np.int64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    return table if min(table.shape) >= 2 else None


def cramers_v(counts: pd.DataFrame) -> float:
    """Cramér's V of a segments x values table of counts: 0 independent, 1 one determines
    the other; NaN with fewer than two segments or values that have members."""
    table = _occupied(counts)
    return float("nan") if table is None else float(association(table, method="cramer"))


def chance_of(counts: pd.DataFrame) -> float:
    """The chi-square test's p-value for the table (NaN where V is undefined)."""
    table = _occupied(counts)
    return float("nan") if table is None else float(chi2_contingency(table).pvalue)


def shares(counts: pd.DataFrame) -> pd.DataFrame:
    """Each row of counts as shares summing to 1 (a row without members: NaN)."""
    totals = counts.sum(axis=1)
    return counts.div(totals.where(totals > 0), axis=0)


def profile_attributes(ids, labels, attributes: pd.DataFrame) -> AttributeProfile:
    """Profile every attribute column per segment.

    Parameters
    ----------
    ids : sequence of str
        Member ids, as published in ``segments.parquet``.
    labels : sequence of int
        The segment id of each member.
    attributes : DataFrame
        From ``load_attributes``: index the normalised member id.

    Returns
    -------
    AttributeProfile
        Shares among each segment's members that have attributes, means over those with a
        value, Cramér's V per categorical column, and the counts of the join.
    """
    keys = member_key(ids).astype(object).to_numpy()
    labels = np.asarray(labels)
    segments = sorted(set(labels.tolist()))
    found = pd.Index(keys).isin(attributes.index)
    matched = attributes.reindex(keys[found]).reset_index(drop=True)
    members = labels[found]
    size = pd.Series(members).value_counts().reindex(segments, fill_value=0).astype("int64")
    share_parts, means = [], []          # the shares first, then the means (docs/outputs.md)
    strength, columns, categories, p_values = {}, {}, {}, {}
    for column in attributes.columns:
        values = matched[column]
        if pd.api.types.is_float_dtype(values):
            columns[column] = "numeric"
            means.append(values.groupby(members).mean().reindex(segments)
                         .rename(f"attr_mean_{column}"))
            continue
        columns[column] = "categorical"
        counts = category_counts(members, values, segments)
        strength[column], p_values[column] = cramers_v(counts), chance_of(counts)
        named = share_names(column, list(counts.columns))
        categories[column] = dict(zip(named, counts.columns))
        share_parts.append(shares(counts).set_axis(named, axis=1))
    per_segment = pd.concat([size.rename(MEMBERS_COLUMN), *share_parts, *means],
                            axis=1).rename_axis("segment_id")
    unmatched = int((~attributes.index.isin(set(keys))).sum())
    counts = {"attribute_rows": int(len(attributes)), "attribute_ids_unmatched": unmatched,
              "members_with_attributes": int(found.sum()),
              "members_without_attributes": int((~found).sum())}
    return AttributeProfile(per_segment, strength, counts, columns, categories, p_values)


def share_names(column: str, values: list[str]) -> list[str]:
    """``attr_share_<column>_<value>`` for each value (snake_case; a value that comes out
    like an earlier one gets ``_2``, ``_3``)."""
    names: list[str] = []
    for value in values:
        base = f"attr_share_{column}_{canonical_name(str(value)) or 'blank'}"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


# ---------------------------------------------------------------- country

def country_profile(labels, names: dict[int, str], countries: pd.Series,
                    top: int = TOP_COUNTRIES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each segment's country mix and each country's customers across segments.

    Parameters
    ----------
    labels : sequence of int
        The segment id of each customer.
    names : dict[int, str]
        Segment id -> name.
    countries : Series
        Each customer's country, aligned with ``labels`` (missing: ``missing``).
    top : int
        Countries named; the others are pooled as ``Other``.

    Returns
    -------
    mix : DataFrame
        Index ``segment_id`` (every segment of ``names``); columns the ``top`` countries
        with the most customers, then ``missing`` when some are, then ``Other``; each row's
        shares sum to 1.
    by_country : DataFrame
        Index the countries (most customers first, ``Other`` excluded); columns the segment
        names (shares of the country's customers, summing to 1), then ``customers``.
    """
    segments = sorted(set(names) | set(np.asarray(labels).tolist()))
    counts = category_counts(labels, countries, segments, top=top, other="Other")
    if "Other" not in counts.columns:
        counts["Other"] = 0
    mix = shares(counts)
    across = counts.drop(columns="Other").T
    across = across.rename(columns=lambda s: names.get(s, str(s))).rename_axis(
        index="country", columns=None)
    by_country = shares(across).assign(customers=across.sum(axis=1).astype("int64"))
    return mix, by_country.sort_values("customers", ascending=False, kind="stable")


def plot_country_mix(mix: pd.DataFrame, names: dict[int, str], title: str) -> plt.Figure:
    """Stacked horizontal bars: one per segment, its customers' shares by country.

    ``title`` is the whole title; pass ``plots.plot_title(dataset, run_date, "country mix
    per segment")`` so the PNG says which run it shows.
    """
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(mix) + 2.0))
    labels = [wrap_name(names.get(s, str(s))) for s in mix.index]
    left = np.zeros(len(mix))
    colours = plt.get_cmap("tab20").colors
    for i, country in enumerate(mix.columns):
        width = mix[country].fillna(0).to_numpy(float)
        colour = "lightgrey" if country == "Other" else colours[i % len(colours)]
        ax.barh(labels, width, left=left, color=colour, label=str(country), edgecolor="white")
        for y, (start, w) in enumerate(zip(left, width)):
            if w >= 0.06:                   # label the wide pieces only: narrow ones overflow
                ax.text(start + w / 2, y, f"{w:.0%}", ha="center", va="center", fontsize=8)
        left += width
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.invert_yaxis()
    ax.set_xlabel("share of the segment's customers")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="country")
    ax.set_title(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- report and manifest

def strength_word(v: float) -> str:
    """Cramér's V in words (``STRENGTH_WORDS``); a dash when undefined."""
    if v is None or math.isnan(v):
        return DASH
    return next(word for limit, word in STRENGTH_WORDS if v < limit)


def _p_text(p) -> str:
    return DASH if p is None or math.isnan(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def _percent(value) -> str:
    return DASH if pd.isna(value) else f"{value:.0%}"


def compact_table(profile: AttributeProfile, names: dict[int, str]) -> pd.DataFrame:
    """One row per segment: members with attributes, then per attribute its mean (numeric)
    or its most common value with that value's share (categorical)."""
    per = profile.per_segment
    table = pd.DataFrame({"segment": [names.get(s, str(s)) for s in per.index],
                          "with attributes": per[MEMBERS_COLUMN].map(format_count).to_numpy()})
    for column, kind in profile.columns.items():
        if kind == "numeric":
            table[f"{column} (mean)"] = per[f"attr_mean_{column}"].map(format_number).to_numpy()
            continue
        values = profile.categories[column]
        part = per[list(values)]
        table[column] = [DASH if row.isna().all() else
                         f"{values[row.idxmax()]} ({_percent(row.max())})"
                         for _, row in part.iterrows()]
    return table


def counts_lines(counts: dict) -> list[str]:
    """The join's counts in words."""
    members = counts["members_with_attributes"] + counts["members_without_attributes"]
    return [f"- members with attributes: {format_count(counts['members_with_attributes'])} of "
            f"{format_count(members)}; without: {format_count(counts['members_without_attributes'])}",
            f"- rows of the attribute table: {format_count(counts['attribute_rows'])}; ids that "
            f"match no segmented member (unknown, or set aside by this run): "
            f"{format_count(counts['attribute_ids_unmatched'])}"]


def attributes_section(profile: AttributeProfile, names: dict[int, str],
                       title: str = "Member attributes") -> str:
    """Markdown: the join's counts, Cramér's V per categorical attribute in words, and one
    compact row per segment."""
    lines = [f"## {title}", *counts_lines(profile.counts), ""]
    if profile.strength:
        lines += ["Link between the segments and each categorical attribute, Cramér's V: 0 = "
                  "independent, 1 = the attribute determines the segment (below 0.1 negligible, "
                  "below 0.3 weak, below 0.5 moderate, else strong). Values beyond the "
                  f"{MAX_CATEGORIES} most frequent are pooled as '{OTHER}'.", "",
                  markdown_table(pd.DataFrame({
                      "attribute": list(profile.strength),
                      "Cramér's V": [format_number(v, 3) for v in profile.strength.values()],
                      "link": [strength_word(v) for v in profile.strength.values()],
                      "p (chi-square)": [_p_text(profile.p_values.get(c))
                                         for c in profile.strength]})),
                  "", "p: the chance of a link this strong between independent segments and "
                      "values; above 0.05, the link may be chance.", ""]
    lines += ["Per segment, over its members with attributes: the mean of each numeric "
              "attribute, the most common value of each categorical one with its share "
              "(every share is in profiles.parquet).", "",
              markdown_table(compact_table(profile, names))]
    return "\n".join(lines)


def country_section(mix: pd.DataFrame, by_country: pd.DataFrame, names: dict[int, str]) -> str:
    """Markdown: each segment's country mix, and each country's customers across segments."""
    table = mix.map(_percent)
    table.insert(0, "segment", [names.get(s, str(s)) for s in mix.index])
    across = by_country.drop(columns="customers").map(_percent)
    across.insert(0, "customers", by_country["customers"].map(format_count))
    across.insert(0, "country", by_country.index)
    return "\n".join([
        "## Countries", "Each segment's customers by country (each row sums to 100%):", "",
        markdown_table(table), "",
        "Each country's customers across the segments (each row sums to 100%):", "",
        markdown_table(across)])


def manifest_entry(profile: AttributeProfile, path: str, id_column: str) -> dict:
    """The manifest's ``attributes``: file, id column, column kinds, Cramér's V (null when
    undefined) and the join's counts."""
    return {"path": str(path), "id_column": id_column, "columns": dict(profile.columns),
            "strength_cramers_v": {c: None if math.isnan(v) else round(v, 6)
                                   for c, v in profile.strength.items()},
            "p_value_chi_square": {c: None if math.isnan(v) else round(v, 6)
                                   for c, v in profile.p_values.items()},
            "counts": dict(profile.counts)}


def merge_profiles(profiles: pd.DataFrame, per_segment: pd.DataFrame) -> pd.DataFrame:
    """profiles.parquet's rows with the attribute columns joined by ``segment_id``."""
    return profiles.merge(per_segment, left_on="segment_id", right_index=True, how="left")


def profiles_schema(schema: pa.Schema, per_segment: pd.DataFrame) -> pa.Schema:
    """``schema`` with the attribute columns before ``run_date`` (which stays last):
    ``attr_members`` int64, the shares and means float64."""
    added = [pa.field(c, pa.int64() if c == MEMBERS_COLUMN else pa.float64())
             for c in per_segment.columns]
    fields = [f for f in schema if f.name != "run_date"]
    last = [f for f in schema if f.name == "run_date"]
    return pa.schema([*fields, *added, *last])


def insert_section(report: str, section: str, before: str = "## Segment quality") -> str:
    """``report`` with ``section`` placed before the heading ``before`` (at the end when the
    report has no such heading)."""
    at = report.find(f"\n{before}\n")
    if at < 0:
        return report.rstrip("\n") + "\n\n" + section + "\n"
    return report[:at + 1] + section + "\n\n" + report[at + 1:]
