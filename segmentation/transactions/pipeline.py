"""The purchase-log run's segmenting step as a pure function: features in, segments out.

Ingestion and features are paths in, paths out (``ingest``, ``features``); the
per-customer feature table then goes through the shared customer path
(transforms, scaling, the k rule with its size floor, atypical members,
profiles), named in the RFM vocabulary (``naming``).
"""

from __future__ import annotations

import pandas as pd

from segmentation.customers.config import CustomerConfig
from segmentation.artifact import ModelArtifact
from segmentation.customers.pipeline import (CustomerSegments, clean, cleaning_parameters,
                                             segment_customers)
from segmentation.customers.pipeline import model_artifact as table_model
from segmentation.transactions.features import CLUSTER_FEATURES
from segmentation.transactions.naming import name_rfm_segments

# Net spend below 0 (returns of purchases made before the data) is no spend for clustering:
# a negative value would also rule out the log transform of a money column.
FLOORS = {"monetary": 0.0}


def features_config(transform: str = "auto", outliers: str = "flag") -> CustomerConfig:
    """The customer-table view of the feature table: id, clustering features, policies."""
    return CustomerConfig("customer_id", CLUSTER_FEATURES, transform=transform, outliers=outliers)


def segment_transactions(features: pd.DataFrame, *, k: int | None = None, k_min: int = 2,
                         k_max: int = 10, seed: int = 42, min_size: int | None = None,
                         transform: str = "auto", outliers: str = "flag",
                         previous: ModelArtifact | None = None,
                         previous_run_date: str | None = None, **clustering
                         ) -> tuple[CustomerSegments, dict]:
    """Flag outliers, then segment and name the customers of a feature table.

    Returns the segments (``CustomerSegments``; every feature column of ``features`` kept
    on the members' rows) and the cleaning counts. With the ``previous`` run's model,
    segment ids follow it (``alignment``). ``clustering``: ``algorithm`` and
    ``min_confidence`` of ``customers.pipeline.segment_customers``.
    """
    config = features_config(transform, outliers)
    features = features.reset_index(drop=True)
    frame, cleaning = clean(features, config)
    result = segment_customers(frame, config, k=k, k_min=k_min, k_max=k_max, seed=seed,
                               min_size=min_size, namer=name_rfm_segments, floors=FLOORS,
                               cleaned_with=cleaning_parameters(features, config),
                               previous=previous, previous_run_date=previous_run_date,
                               **clustering)
    return result, cleaning


def model_artifact(segmented: CustomerSegments, *, dataset: str, run_date) -> ModelArtifact:
    """The run's model: a customer-table model over the behavioural features."""
    return table_model(segmented, kind="transactions", dataset=dataset, run_date=run_date)
