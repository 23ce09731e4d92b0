"""The customer run's steps as pure functions: DataFrame or path in, DataFrame out.

The Prefect tasks in tasks/customers.py call these and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.algorithms import DEFAULT_ALGORITHM
from segmentation.alignment import Alignment, align
from segmentation.artifact import (ModelArtifact, code_version, k_summary, membership_of,
                                   segments_of, table_points, table_space)
from segmentation.clustering import Scaling, Segmentation, centroids_in_units, \
    confidence_columns, profiles_table, segment
from segmentation.customers import clean as cleaning
from segmentation.customers.config import CustomerConfig, select_columns, with_line_ids
from segmentation.customers.ingest import canonical_name, normalise_gender, normalise_ids, \
    read_customer_csv
from segmentation.customers.naming import name_customer_segments
from segmentation.naming import kept_names
from segmentation.customers.transform import apply_transforms, choose_transforms
from segmentation.settings import MIN_CONFIDENCE
from segmentation.validation import (ValidationOutcome, coerce_numeric, load_suite,
                                     raise_for_table_failures, split_row_failures, validate_frame)


def ingest(path: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the CSV as text with canonical column names.

    Returns the rows and the malformed lines (already with a ``reason``).
    """
    return read_customer_csv(path)


def normalise(rows: pd.DataFrame, config: CustomerConfig) -> pd.DataFrame:
    """Line numbers as ids for a table without one; zero-padded ids unpadded;
    gender codes spelled out (M/f/MALE -> Male)."""
    rows = with_line_ids(rows, config)
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
    working = normalise(select_columns(with_line_ids(rows, config), config), config)
    # Without an id column each line is a customer: identical lines are not duplicates.
    duplicates = (cleaning.exact_duplicates(working) if not config.id_from_line
                  else cleaning.exact_duplicates(working.iloc[0:0]))
    deduped = working.drop(index=duplicates["row"])
    typed, parse_failures = coerce_numeric(deduped, config.numeric)
    outcome = validate_frame(typed, load_suite("customers", config.suite_columns()), data_docs=True)
    raise_for_table_failures(outcome, file)
    failures = [duplicates, parse_failures, outcome.row_failures]
    if config.missing == "quarantine":
        failures.append(cleaning.missing_values(deduped, list(config.features)))
    all_failures = pd.concat([f for f in failures if len(f)], ignore_index=True) \
        if any(len(f) for f in failures) else outcome.row_failures
    _, quarantine = split_row_failures(rows, all_failures)   # every input column, as read
    valid = typed.drop(index=quarantine.index, errors="ignore")
    return valid, quarantine, outcome


def cleaning_parameters(valid: pd.DataFrame, config: CustomerConfig) -> dict:
    """What ``clean`` takes from the run's rows, for the model artifact: the medians it fills
    missing values with (``impute``) and the fences it pulls values in to (``winsorize``)."""
    features = list(config.features)
    imputed = cleaning.impute_median(valid, features)[0] if config.missing == "impute" else valid
    return {"impute_medians": ({c: float(valid[c].median()) for c in features}
                               if config.missing == "impute" else {}),
            "winsorize_fences": (fence_lists(cleaning.outlier_fences(imputed, features))
                                 if config.outliers == "winsorize" and len(valid) else {})}


def fence_lists(fences: pd.DataFrame) -> dict[str, list[float]]:
    """Column -> [lower, upper], JSON-ready."""
    return {c: [float(fences.loc[c, "lower"]), float(fences.loc[c, "upper"])] for c in fences.index}


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


def feature_frame(frame: pd.DataFrame, config: CustomerConfig,
                  transforms: dict[str, dict] | None = None) -> pd.DataFrame:
    """Numeric features (transformed), plus one-hot categorical columns when they are clustered."""
    numeric = apply_transforms(frame[list(config.features)].astype(float), transforms or {})
    if not (config.categorical and config.cluster_categorical):
        return numeric
    dummies = pd.get_dummies(frame[list(config.categorical)].astype("string"), dtype=float)
    return pd.concat([numeric, dummies], axis=1)


def clip_fences(features: pd.DataFrame) -> pd.DataFrame:
    """The far-out fences (``lower``, ``upper``) of the columns ``clip_far_out`` clips."""
    fences = cleaning.outlier_fences(features, list(features.columns))
    return fences[fences["upper"] > fences["lower"]]


def clip_far_out(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Features (after transforms) clipped to their far-out fences, for clustering only,
    and for each row the columns that were clipped ("" when none).

    One absurd value (an income of 1e308) would otherwise stretch its column's
    scale until every other customer looks alike and decide the segments alone.
    Clipped, it sits at the fence; the published value stays as read, and the
    row is atypical, left out of its segment's means. A column whose quartiles
    coincide (most values equal) has no fence and is left as it is.
    """
    fences = clip_fences(features)
    columns = list(fences.index)
    clipped = features.copy()
    clipped[columns] = features[columns].clip(fences.loc[columns, "lower"],
                                               fences.loc[columns, "upper"], axis=1)
    changed = clipped[columns].ne(features[columns]).to_numpy()
    which = pd.Series("", index=features.index, dtype=object)
    hit = changed.any(axis=1)       # few rows: name the columns only for them
    which[hit] = [", ".join(np.asarray(columns)[row]) for row in changed[hit]]
    return clipped, which


def categorical_shares(frame: pd.DataFrame, labels: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Per segment (index) the share of members in each category: ``share_<column>_<value>``.

    Values whose column names are alike (``North``, ``north``, ``NORTH!``) are one category:
    their shares are added, so no two columns have one name.
    """
    parts = []
    for column in columns:
        values = frame[column].astype("string").fillna("missing").reset_index(drop=True)
        table = pd.crosstab(pd.Series(labels, name="segment_id"), values, normalize="index")
        table.columns = [f"share_{column}_{canonical_name(str(v)) or 'blank'}" for v in table.columns]
        parts.append(table.T.groupby(level=0, sort=False).sum().T)
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=np.unique(labels))


@dataclass(frozen=True)
class CustomerSegments:
    """Result of segmenting a clean customer table."""

    segments: pd.DataFrame
    profiles: pd.DataFrame
    result: Segmentation
    transforms: dict
    fallback_segments: set
    space: dict              # how a member becomes a point of the model (``artifact``)
    names: dict              # segment id -> name
    alignment: Alignment     # the model's segments -> stable ids (``alignment``)
    labels: np.ndarray       # every member's segment_id
    points: np.ndarray       # the scaled rows clustered (for the algorithm comparison)


def segment_customers(frame: pd.DataFrame, config: CustomerConfig, *, k: int | None = None,
                      k_min: int = 2, k_max: int = 10, seed: int = 42,
                      min_size: int | None = None, namer: Callable | None = None,
                      floors: dict[str, float] | None = None,
                      cleaned_with: dict | None = None,
                      previous: ModelArtifact | None = None,
                      previous_run_date: str | None = None,
                      algorithm: str = DEFAULT_ALGORITHM,
                      min_confidence: float = MIN_CONFIDENCE) -> CustomerSegments:
    """Transform, scale, choose k, cluster, name; one row per customer and one per segment.

    ``namer(labels, described, scaled, typical, prefer=) -> (names, fallbacks)`` names them
    (default: ``name_customer_segments`` with the table's roles); ``floors`` raises features
    to a lower bound for clustering only (published values stay as they are);
    ``cleaned_with`` (``cleaning_parameters``) goes into the model's space. With the
    ``previous`` run's model, segment ids follow it (``alignment``); without, 0 is the largest.
    ``algorithm`` (``algorithms``) clusters; members whose segment probability is below
    ``min_confidence`` are flagged low confidence.
    """
    clustered = frame.assign(**{c: frame[c].clip(lower=v) for c, v in (floors or {}).items()})
    transforms = choose_transforms(clustered, list(config.features), config.transform)
    features = feature_frame(clustered, config, transforms)
    numeric = list(config.features)
    fences = clip_fences(features[numeric])
    features[numeric], clipped = clip_far_out(features[numeric])
    scaling = Scaling.fit(features)
    X = scaling.apply(features)
    result = segment(X, k=k, k_min=k_min, k_max=k_max, seed=seed, min_size=min_size,
                     unit="customers", algorithm=algorithm)
    described = frame[config.numeric].astype(float).reset_index(drop=True)
    numeric = pd.DataFrame(X[:, :len(config.features)], columns=list(config.features))
    clipped = clipped.reset_index(drop=True)
    atypical = result.atypical | clipped.ne("").to_numpy()
    reasons = ["; ".join(filter(None, [reason, f"value beyond the far-out fence of {columns}: "
                                            f"clipped for clustering" if columns else None])) or None
               for reason, columns in zip(result.atypical_reason, clipped)]
    space = table_space(features=list(config.features), transforms=transforms,
                        clip_fences=fence_lists(fences), scaling=scaling, floors=floors,
                        categorical=(list(config.categorical) if config.cluster_categorical
                                     else []),
                        **(cleaned_with or {}))
    alignment = align(result.model.cluster_centers_, space, previous, previous_run_date)
    if namer is None:
        names, fallbacks = name_customer_segments(result.labels, described, numeric, config.roles,
                                                  ~atypical, prefer=kept_names(alignment))
    else:
        names, fallbacks = namer(result.labels, described, numeric, ~atypical,
                                 prefer=kept_names(alignment))
    labels = np.array([alignment.ids[i] for i in range(result.model.k_)])[result.labels]
    names = {alignment.ids[i]: name for i, name in names.items()}
    fallbacks = {alignment.ids[i] for i in fallbacks}
    alignment.name(names)
    centroids = centroids_in_units(described, labels, ~atypical)
    segments = frame.reset_index(drop=True).rename(columns={config.id_column: "customer_id"})
    segment_names = [names[s] for s in labels]
    segments = segments.assign(segment_id=labels.astype(np.int32),
                               segment_name=segment_names, segment_label=segment_names,
                               is_atypical=atypical,
                               atypical_reason=pd.Series(reasons, dtype="string"),
                               distance_to_centroid=result.distance,
                               **confidence_columns(result.probability, min_confidence))
    profiles = profiles_table(labels, names, centroids, atypical)
    shares = categorical_shares(frame, labels, list(config.categorical))
    profiles = profiles.merge(shares, left_on="segment_id", right_index=True, how="left")
    return CustomerSegments(segments, profiles, result, transforms, fallbacks, space, names,
                            alignment, labels, X)




def model_artifact(segmented: CustomerSegments, *, kind: str, dataset: str, run_date) -> ModelArtifact:
    """The run's model (``artifact``): its space, centroids, segment names and fences."""
    fit = segmented.result
    centroids, segments = segments_of(fit.model, segmented.names, segmented.alignment.ids)
    return ModelArtifact(kind=kind, dataset=dataset, run_date=str(run_date), space=segmented.space,
                         centroids=centroids, segments=segments, k=k_summary(fit),
                         extra={"max_segment_id": segmented.alignment.max_segment_id,
                                "ids_follow": segmented.alignment.previous_run_date},
                         algorithm=fit.algorithm,
                         membership=membership_of(fit.model, segmented.alignment.ids),
                         code_version=code_version())


def assign_rows(frame: pd.DataFrame, model: ModelArtifact) -> pd.DataFrame:
    """Place validated rows in a saved model's segments (its cleaning, transforms, fences and
    scaling, never these rows' own): one row per input row, in order, with the columns of
    ``ModelArtifact.assign``; a value beyond the run's far-out fence makes a row atypical."""
    X, clipped = table_points(frame.reset_index(drop=True), model.space)
    placed = model.assign(X)
    beyond = [f"value beyond the far-out fence of {c}: clipped for clustering" if c else None
              for c in clipped]
    reasons = ["; ".join(filter(None, [r if isinstance(r, str) else None, b])) or None
               for r, b in zip(placed["atypical_reason"], beyond)]
    return placed.assign(is_atypical=placed["is_atypical"] | clipped.ne("").to_numpy(),
                         atypical_reason=pd.Series(reasons, dtype="string"))
