"""The customer run's steps as pure functions: DataFrame or path in, DataFrame out.

The Prefect tasks in tasks/customers.py call these and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.clustering import Segmentation, centroids_in_units, profiles_table, \
    scale_features, segment
from segmentation.customers import clean as cleaning
from segmentation.customers.config import CustomerConfig, select_columns
from segmentation.customers.ingest import normalise_gender, normalise_ids, \
    read_customer_csv
from segmentation.customers.naming import name_customer_segments
from segmentation.validation import (ValidationOutcome, coerce_numeric, load_suite,
                                     raise_for_table_failures, split_row_failures, validate_frame)


def ingest(path: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the CSV as text with canonical column names.

    Returns the rows and the malformed lines (already with a ``reason``).
    """
    return read_customer_csv(path)


def normalise(rows: pd.DataFrame, config: CustomerConfig) -> pd.DataFrame:
    """Zero-padded ids unpadded, gender codes spelled out (M/f/MALE -> Male)."""
    rows = rows.copy()
    if config.id_column in rows.columns:
        rows[config.id_column] = normalise_ids(rows[config.id_column]).astype(object)
    if "gender" in config.roles:
        rows[config.roles["gender"]] = normalise_gender(rows[config.roles["gender"]]).astype(object)
    return rows


def validate(rows: pd.DataFrame, config: CustomerConfig, file: str
             ) -> tuple[pd.DataFrame, pd.DataFrame, ValidationOutcome]:
    """Apply the customers suite; table failures raise, failing rows go to quarantine.

    Returns
    -------
    valid : DataFrame
        Typed rows that passed (configured columns plus ``source_row``).
    quarantine : DataFrame
        Failing rows with every original column as text and a ``reason``.
    outcome : ValidationOutcome
    """
    rows = normalise(rows, config)
    working = select_columns(rows, config)
    duplicates = cleaning.exact_duplicates(working)
    deduped = working.drop(index=duplicates["row"])
    typed, parse_failures = coerce_numeric(deduped, config.numeric)
    outcome = validate_frame(typed, load_suite("customers", config.suite_columns()), data_docs=True)
    raise_for_table_failures(outcome, file)
    failures = [duplicates, parse_failures, outcome.row_failures]
    if config.missing == "quarantine":
        failures.append(cleaning.missing_values(deduped, list(config.features)))
    all_failures = pd.concat([f for f in failures if len(f)], ignore_index=True) \
        if any(len(f) for f in failures) else outcome.row_failures
    _, quarantine = split_row_failures(rows, all_failures)
    valid = typed.drop(index=quarantine.index, errors="ignore")
    return valid, quarantine, outcome


def clean(valid: pd.DataFrame, config: CustomerConfig) -> tuple[pd.DataFrame, dict]:
    """Impute (if configured), then flag or winsorize outliers; returns counts per policy."""
    features = list(config.features)
    frame, imputed = (cleaning.impute_median(valid, features) if config.missing == "impute"
                      else (valid.copy(), {}))
    outliers = cleaning.flag_outliers(frame, features) if len(frame) else pd.Series(dtype=bool)
    if config.outliers == "winsorize" and len(frame):
        frame = cleaning.winsorize(frame, features)
    frame["is_outlier"] = outliers.astype(bool)
    return frame, {"imputed": imputed, "outliers": int(outliers.sum()),
                   "outlier_policy": config.outliers, "missing_policy": config.missing}


def feature_frame(frame: pd.DataFrame, config: CustomerConfig) -> pd.DataFrame:
    """Numeric features plus one-hot categorical columns, ready for scaling."""
    numeric = frame[list(config.features)].astype(float)
    if not config.categorical:
        return numeric
    dummies = pd.get_dummies(frame[list(config.categorical)].astype("string"), dtype=float)
    return pd.concat([numeric, dummies], axis=1)


@dataclass(frozen=True)
class CustomerSegments:
    """Result of segmenting a clean customer table."""

    segments: pd.DataFrame
    profiles: pd.DataFrame
    result: Segmentation


def segment_customers(frame: pd.DataFrame, config: CustomerConfig, *, k: int | None = None,
                      k_min: int = 2, k_max: int = 10, seed: int = 42) -> CustomerSegments:
    """Scale, choose k, cluster, name; one row per customer and one per segment."""
    X = scale_features(feature_frame(frame, config))
    result = segment(X, k=k, k_min=k_min, k_max=k_max, seed=seed)
    described = frame[config.numeric].astype(float)
    centroids = centroids_in_units(described, result.labels)
    names = name_customer_segments(centroids, described, config.roles)
    segments = frame.reset_index(drop=True).rename(columns={config.id_column: "customer_id"})
    segments = segments.assign(segment_id=result.labels.astype(np.int32),
                               segment_name=[names[s] for s in result.labels],
                               distance_to_centroid=result.distance)
    return CustomerSegments(segments, profiles_table(result.labels, names, centroids), result)


