"""The output contract: columns every dataset's Parquet shares, with their Arrow types.

Downstream consumers read ``segments.parquet`` and ``profiles.parquet`` of any
dataset the same way: the shared columns below have the same names and types
for customers and meters (the README's contract table; ``tests/test_contract.py``
checks both datasets against it). Dataset-specific columns follow the shared
ones; ``run_date`` is always last.

``quarantine.parquet`` of every dataset starts with ``QUARANTINE_COLUMNS``, then
the input's columns as text. The tables of ``docs/outputs.md`` state all of this
for consumers; ``tests/test_contract.py`` reads them and compares them with the
files real runs write.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

SEGMENT_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("segment_id", pa.int32()),          # stable across runs (alignment); first run: 0 = largest
    ("segment_name", pa.string()),       # the segment's name (load shape for meters)
    ("segment_label", pa.string()),      # one readable line (meters: band, shape, seasonal)
    ("is_atypical", pa.bool_()),         # would have formed a too-small segment, or far from all
    ("atypical_reason", pa.string()),    # null unless is_atypical
    ("distance_to_centroid", pa.float64()),  # in the scaled clustering space
    ("previous_segment_id", pa.int32()),     # segment in the previous run; null: new or first run
    ("segment_probability", pa.float64()),   # probability of its segment (algorithms.probabilities)
    ("is_low_confidence", pa.bool_()),       # segment_probability below --min-confidence
]
MIGRATIONS_SCHEMA = pa.schema([
    ("from_segment_id", pa.int32()),     # null: members who joined the dataset
    ("from_segment_name", pa.string()),
    ("to_segment_id", pa.int32()),       # null: members who left it
    ("to_segment_name", pa.string()),
    ("members", pa.int64()),
    ("share_of_from", pa.float64()),     # members / the from-segment's size; null for joiners
    ("run_date", pa.date32()),
])
PROFILE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("segment_id", pa.int32()),
    ("segment_name", pa.string()),
    ("size", pa.int64()),                # members, atypical ones included
    ("share", pa.float64()),             # size / all members, 0..1
    ("atypical", pa.int64()),            # atypical members
]
QUARANTINE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("source_row", pa.int64()),          # line in the input file (header = 1); Parquet: row, from 1
    ("reason", pa.string()),             # every reason, joined by "; "
    ("raw_line", pa.string()),           # the line as in the file (meters: the reading's fields)
    ("source_file", pa.string()),        # the input file, relative to the data root when inside it
]
RUN_DATE = ("run_date", pa.date32())
COMPARISON_SCHEMA = pa.schema([        # comparison.parquet: one row per algorithm (comparison.py)
    ("algorithm", pa.string()), ("published", pa.bool_()), ("feasible", pa.bool_()),
    ("segments", pa.int32()), ("sizes", pa.list_(pa.int64())), ("silhouette", pa.float64()),
    ("davies_bouldin", pa.float64()), ("stability", pa.float64()),
    ("noise_share", pa.float64()), ("atypical_share", pa.float64()),
    ("low_confidence_share", pa.float64()), ("neighbour_ratio", pa.float64()),
    ("heldout_loglik", pa.float64()), ("ari_with_published", pa.float64()),
    ("seconds", pa.float64()), ("eligible", pa.bool_()), ("recommended", pa.bool_()),
    ("note", pa.string()), ("run_date", pa.date32())])
ID_COLUMNS = {"customers": "customer_id", "meters": "meter_id", "transactions": "customer_id"}


def segments_schema(id_column: str, specific: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """segments.parquet: the id, the shared columns, the dataset's own, run_date."""
    return pa.schema([(id_column, pa.string()), *SEGMENT_COLUMNS, *specific, RUN_DATE])


def assignments_schema(kind: str) -> pa.Schema:
    """assignments.parquet (``segment assign``): the id, where the model placed each member,
    meters' band and seasonal flag, the model's run date and the assignment's date."""
    meters = [("consumption_band", pa.string()), ("seasonal_user", pa.bool_())]
    return pa.schema([(ID_COLUMNS[kind], pa.string()), ("segment_id", pa.int32()),
                      ("segment_name", pa.string()), ("segment_label", pa.string()),
                      ("distance_to_centroid", pa.float64()), ("is_atypical", pa.bool_()),
                      ("atypical_reason", pa.string()), ("segment_probability", pa.float64()),
                      ("is_low_confidence", pa.bool_()), *(meters if kind == "meters" else []),
                      ("model_run_date", pa.date32()), ("assign_date", pa.date32())])


def profiles_schema(specific: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """profiles.parquet: the shared columns, the dataset's own, run_date."""
    return pa.schema([*PROFILE_COLUMNS, *specific, RUN_DATE])


def quarantine_schema(input_columns: list[str]) -> pa.Schema:
    """quarantine.parquet: ``QUARANTINE_COLUMNS``, then each input column as text (a column
    named like one of the leading four is left out: the leading one says it)."""
    leading = [name for name, _ in QUARANTINE_COLUMNS]
    return pa.schema([*QUARANTINE_COLUMNS,
                      *[(c, pa.string()) for c in dict.fromkeys(input_columns) if c not in leading]])


def source_file_name(path: Path | str, data_root: Path | str | None) -> str:
    """How quarantine names an input file: relative to the data root when the file is inside
    it (``raw/meters/x.csv``), so the name stays true when the project is moved; a file
    outside the data root keeps its absolute path (it did not move with the project)."""
    path = Path(path).resolve()
    if data_root is not None:
        root = Path(data_root).resolve()
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return os.fspath(path)


def predictions_schema(id_column: str, segment_ids: list[int]) -> pa.Schema:
    """predictions.parquet: the member, its segment, the most likely next one, the chance of
    staying, one probability per segment of the run, run_date."""
    return pa.schema([(id_column, pa.string()), ("segment_id", pa.int32()),
                      ("predicted_segment_id", pa.int32()), ("p_stay", pa.float64()),
                      *[(f"p_segment_{i}", pa.float64()) for i in segment_ids], RUN_DATE])
