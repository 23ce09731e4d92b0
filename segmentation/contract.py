"""The output contract: columns every dataset's Parquet shares, with their Arrow types.

Downstream consumers read ``segments.parquet`` and ``profiles.parquet`` of any
dataset the same way: the shared columns below have the same names and types
for customers and meters (the README's contract table; ``tests/test_contract.py``
checks both datasets against it). Dataset-specific columns follow the shared
ones; ``run_date`` is always last.
"""

from __future__ import annotations

import pyarrow as pa

SEGMENT_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("segment_id", pa.int32()),          # 0 = largest segment
    ("segment_name", pa.string()),       # the segment's name (load shape for meters)
    ("segment_label", pa.string()),      # one readable line (meters: band, shape, seasonal)
    ("is_atypical", pa.bool_()),         # would have formed a too-small segment, or far from all
    ("atypical_reason", pa.string()),    # null unless is_atypical
    ("distance_to_centroid", pa.float64()),  # in the scaled clustering space
]
PROFILE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("segment_id", pa.int32()),
    ("segment_name", pa.string()),
    ("size", pa.int64()),                # members, atypical ones included
    ("share", pa.float64()),             # size / all members, 0..1
    ("atypical", pa.int64()),            # atypical members
]
RUN_DATE = ("run_date", pa.date32())
ID_COLUMNS = {"customers": "customer_id", "meters": "meter_id"}


def segments_schema(id_column: str, specific: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """segments.parquet: the id, the shared columns, the dataset's own, run_date."""
    return pa.schema([(id_column, pa.string()), *SEGMENT_COLUMNS, *specific, RUN_DATE])


def profiles_schema(specific: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """profiles.parquet: the shared columns, the dataset's own, run_date."""
    return pa.schema([*PROFILE_COLUMNS, *specific, RUN_DATE])
