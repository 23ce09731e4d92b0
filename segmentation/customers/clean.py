"""Cleaning policies for customer tables: duplicates, missing values, outliers.

Each function returns row failures in the shape of
``ValidationOutcome.row_failures`` (row, expectation, column, reason) or a
cleaned frame, so every dropped row keeps its reason.
"""

from __future__ import annotations

import pandas as pd

from segmentation.customers.ingest import SOURCE_ROW

FAILURE_COLUMNS = ["row", "expectation", "column", "reason"]
OUTLIER_IQR_FACTOR = 3.0  # Tukey's "far out" fence: flags only clear outliers


def exact_duplicates(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows identical in every column to an earlier row; the first copy is kept.

    Rows are hashed first, so only rows sharing a hash (the duplicates, and
    any hash collision) are compared value by value.
    """
    hashes = pd.util.hash_pandas_object(rows.drop(columns=[SOURCE_ROW]), index=False)
    rows = rows[hashes.duplicated(keep=False).to_numpy()]
    values = rows.drop(columns=[SOURCE_ROW])
    dup = values.duplicated(keep="first")
    first_line = rows.groupby(list(values.columns), dropna=False)[SOURCE_ROW].transform("min")
    return pd.DataFrame({"row": rows.index[dup], "expectation": "exact_duplicate",
                         "column": None,
                         "reason": [f"exact duplicate of line {n}" for n in first_line[dup]]},
                        columns=FAILURE_COLUMNS)


def missing_values(raw: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows with an empty (or '?', 'NA', ...) value in a feature column."""
    failures = [{"row": i, "expectation": "missing_value", "column": c, "reason": f"missing {c}"}
                for c in columns if c in raw.columns for i in raw.index[raw[c].isna()]]
    return pd.DataFrame(failures, columns=FAILURE_COLUMNS)


def impute_median(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Fill missing values with the column median; returns the count filled per column."""
    filled = frame.copy()
    counts = {}
    for column in columns:
        missing = filled[column].isna()
        counts[column] = int(missing.sum())
        filled.loc[missing, column] = filled[column].median()
    return filled, counts


def outlier_fences(frame: pd.DataFrame, columns: list[str],
                   factor: float = OUTLIER_IQR_FACTOR) -> pd.DataFrame:
    """Lower and upper fence per column: quartiles -/+ factor x IQR."""
    q1, q3 = frame[columns].quantile(0.25), frame[columns].quantile(0.75)
    iqr = q3 - q1
    return pd.DataFrame({"lower": q1 - factor * iqr, "upper": q3 + factor * iqr})


def flag_outliers(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """True where any feature lies outside its fences."""
    fences = outlier_fences(frame, columns)
    values = frame[columns]
    return ((values < fences["lower"]) | (values > fences["upper"])).any(axis=1)


def winsorize(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Clip features to their fences (the flagged rows stay, pulled in)."""
    fences = outlier_fences(frame, columns)
    clipped = frame.copy()
    clipped[columns] = frame[columns].clip(fences["lower"], fences["upper"], axis=1)
    return clipped
