"""Which columns of a customer table play which part, resolved against the actual header."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from segmentation.customers.ingest import SOURCE_ROW, canonical_name
from segmentation.errors import InputError

MALL_FEATURES = ("annual_income_k", "spending_score")
ALL = "all"  # --features all: every numeric column but the id
LINE_ID = "customer_id"  # the data line number stands in when a table has no id column
# Exact canonical names only: a "risk_score" or "income_band" column must not
# inherit the Mall table's range checks (spending score 1-100) or names.
ROLE_PATTERNS = {"age": r"age", "income": r"(annual_)?income(_k)?", "spending": r"spending_score",
                 "gender": r"gender"}


@dataclass(frozen=True)
class CustomerConfig:
    """Columns (canonical names) and policies for one customer table.

    ``roles`` maps age/income/spending/gender to a column when the table has
    one; they drive range checks and segment names. ``id_from_line``: the table
    has no id column, so ``customer_id`` is the data line number.
    ``transform``: auto (log of right-skewed non-negative features), log or
    none (``transform.choose_transforms``). Categorical columns are profiled
    per segment, and clustered only with ``cluster_categorical``.
    """

    id_column: str
    features: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    roles: dict[str, str] = field(default_factory=dict)
    missing: str = "quarantine"  # or "impute" (median)
    outliers: str = "flag"  # or "winsorize"
    id_from_line: bool = False
    transform: str = "auto"  # or "log", "none"
    cluster_categorical: bool = False
    all_numeric: bool = False  # the features are every numeric column but the id
    not_numeric: tuple[str, ...] = ()  # ... and these columns were left out as text

    @property
    def features_note(self) -> str:
        """How the features were chosen, when the user did not name them ("" when named)."""
        if not self.all_numeric:
            return ""
        return (f"clustered on every numeric column but the id ({len(self.features)}): "
                f"{', '.join(self.features)}" + (f"; not numeric, left out: "
                                                 f"{', '.join(self.not_numeric)}"
                                                 if self.not_numeric else ""))

    @property
    def numeric(self) -> list[str]:
        """Feature columns plus numeric role columns: everything parsed as a number."""
        extra = [self.roles[r] for r in ("age", "income", "spending") if r in self.roles]
        return list(dict.fromkeys([*self.features, *extra]))

    def suite_columns(self) -> dict:
        """Values for the ``$`` placeholders of expectations/customers.json."""
        return {"id": self.id_column, "required": [self.id_column, *self.features, *self.categorical],
                "numeric": self.numeric, **self.roles}


def all_numeric(features: list[str] | None, columns: list[str]) -> bool:
    """True when the run clusters on every numeric column: ``--features all``, or no
    ``--features`` for a table that is not Mall-like."""
    if features:
        return [canonical_name(f) for f in features] == [ALL]
    present = {canonical_name(c) for c in columns}
    return not ({"customer_id", *MALL_FEATURES} & present)


def resolve_config(columns: list[str], *, id_column: str | None = None,
                   features: list[str] | None = None, categorical: list[str] | None = None,
                   missing: str = "quarantine", outliers: str = "flag", transform: str = "auto",
                   cluster_categorical: bool = False, file: str | None = None,
                   numeric: list[str] | None = None) -> CustomerConfig:
    """Build a CustomerConfig from the header and the user's (original or canonical) names.

    ``numeric``: the columns whose values are numbers (``numeric_columns``), needed when
    every numeric column is clustered (``all_numeric``); without it (the CLI's preflight,
    which reads only the header) the features are left to be chosen.
    """
    present = [c for c in columns if c != SOURCE_ROW]
    id_col = canonical_name(id_column) if id_column else _default_id(present)
    id_from_line = id_col is None
    id_col = id_col or LINE_ID
    cats = tuple(canonical_name(c) for c in categorical or ())
    chosen, left = False, ()
    if all_numeric(features, present):
        skip = {id_col, *cats, *(c for c in present if re.fullmatch(ROLE_PATTERNS["gender"], c))}
        candidates = [c for c in present if c not in skip]
        feats = tuple(c for c in candidates if c in (numeric or ()))
        if numeric is not None:
            if not feats:
                raise InputError("no numeric column to cluster on (every column but the id "
                                 f"holds text: {', '.join(candidates)}); name the features "
                                 "with --features", file=file)
            chosen, left = True, tuple(c for c in candidates if c not in feats)
    elif features:
        feats = tuple(canonical_name(f) for f in features)
    else:
        feats = MALL_FEATURES  # a Mall-like table: the suite will name any missing column
    roles = {role: next(c for c in present if re.fullmatch(p, c))
             for role, p in ROLE_PATTERNS.items() if any(re.fullmatch(p, c) for c in present)}
    roles = {r: c for r, c in roles.items() if c != id_col}
    for column in (*feats, *cats):
        if column == id_col and not id_from_line:
            raise InputError(f"'{column}' is the id column; it cannot also be clustered on "
                             "(drop it from --features/--categorical or pass another --id-column)",
                             file=file, column=column)
    return CustomerConfig(id_col, feats, cats, roles, missing, outliers, id_from_line,
                          transform, cluster_categorical, chosen, left)


def numeric_columns(rows_parquet: str, columns: list[str], min_share: float = 0.9) -> list[str]:
    """The columns of an ingested (all-text) table whose non-missing values are numbers, at
    least ``min_share`` of them (the rest are quarantined by validation as non-numeric)."""
    import duckdb

    if not columns:
        return []
    quoted = ['"' + c.replace('"', '""') + '"' for c in columns]
    sql = ", ".join(f"count({q}), count(TRY_CAST({q} AS DOUBLE))" for q in quoted)
    with duckdb.connect() as con:
        counts = con.execute(f"SELECT {sql} FROM read_parquet(?)", [rows_parquet]).fetchall()[0]
    return [c for c, given, numbers in zip(columns, counts[::2], counts[1::2])
            if given and numbers >= min_share * given]


def _default_id(columns: list[str]) -> str | None:
    """``customer_id``, else a column called ``id`` or ending in ``_id``; None: no id column."""
    if "customer_id" in columns:
        return "customer_id"
    candidates = [c for c in columns if c == "id" or c.endswith("_id")]
    return candidates[0] if candidates else None


def select_columns(rows: pd.DataFrame, config: CustomerConfig) -> pd.DataFrame:
    """Keep the columns the run uses (unknown extra columns are ignored) plus the line number."""
    wanted = [config.id_column, *config.features, *config.categorical, *config.roles.values()]
    keep = [c for c in dict.fromkeys(wanted) if c in rows.columns]
    return rows[keep + [SOURCE_ROW]]


def with_line_ids(rows: pd.DataFrame, config: CustomerConfig) -> pd.DataFrame:
    """A table without an id column gets ``customer_id`` = its data line number (as text)."""
    if not config.id_from_line:
        return rows
    return rows.assign(**{config.id_column: rows[SOURCE_ROW].astype(str).astype(object)})
