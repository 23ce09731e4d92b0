"""Segment ids that persist from run to run, and who moved where.

A run clusters from scratch; its segments are then matched with those of the
previous published run of the same dataset (the latest earlier run date with a
``model.json``), so that a dashboard filtering segment 3 still sees the same
kind of member tomorrow:

1. **One space.** The previous centroids are taken back to feature units
   (its scaling and log transforms undone) and into this run's space (this
   run's transforms and scaling); meter shapes share one space already.
2. **One-to-one matching** of previous and current centroids by the Hungarian
   algorithm (``scipy.optimize.linear_sum_assignment``) on their Euclidean
   distances, with a **distance limit** per previous segment: half the distance
   from its centroid to the nearest other previous centroid. Why: a centroid
   that stayed on its side of the midpoint to its neighbour is still that
   segment, even when members joined it and pulled it along; one that crossed
   it is another segment, however the assignment paired them.
3. **Ids.** A matched segment keeps its previous ``segment_id``; an unmatched
   one gets the next id never used in the dataset (``max_segment_id`` is kept in
   the model); a previous segment left unmatched is *gone*, listed in the
   manifest and the report. Names are given afresh each run, so each stays a
   true claim; a kept segment whose name changed is listed as *renamed*. A first run (no earlier model), or ``--fresh-ids``,
   numbers segments by size, largest first, as the model does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from segmentation.artifact import FILE_NAME, ModelArtifact
from segmentation.clustering import Scaling
from segmentation.errors import InputError

PARTITION = re.compile(r"run_date=(\d{4}-\d{2}-\d{2})$")


@dataclass
class Alignment:
    """How this run's segments (0..k-1, by size) map to stable ids.

    Attributes
    ----------
    ids : dict
        This run's segment (0 = largest) -> its stable ``segment_id``.
    matched : dict
        Stable id -> distance its centroid moved (matched segments only).
    new : list
        Stable ids given to segments no previous one matched.
    gone : list of dict
        Previous segments no current one matched: ``segment_id``, ``segment_name``.
    previous_run_date : str or None
    limits : dict
        Previous segment id -> its distance limit (half-way to its nearest neighbour).
    max_segment_id : int
        The largest id ever used in the dataset, this run's included.
    """

    ids: dict
    matched: dict = field(default_factory=dict)
    new: list = field(default_factory=list)
    gone: list = field(default_factory=list)
    previous_run_date: str | None = None
    limits: dict = field(default_factory=dict)
    max_segment_id: int = -1
    previous_names: dict = field(default_factory=dict)
    renamed: list = field(default_factory=list)

    def name(self, names: dict) -> None:
        """Record the kept segments whose name changed (``names``: stable id -> this run's)."""
        self.renamed = [{"segment_id": i, "from": self.previous_names[i], "to": names[i]}
                        for i in sorted(self.matched) if names[i] != self.previous_names[i]]

    def manifest(self) -> dict:
        return {"previous_run_date": self.previous_run_date,
                "kept": {str(i): {"moved": round(d, 6),     # limit null: no neighbour
                                  "limit": (round(self.limits[i], 6)
                                            if np.isfinite(self.limits[i]) else None)}
                         for i, d in sorted(self.matched.items())},
                "new": sorted(self.new), "gone": self.gone, "renamed": self.renamed,
                "max_segment_id": self.max_segment_id}


def by_size(k: int) -> Alignment:
    """A first run, or ``--fresh-ids``: this run's numbering (largest first) as it is."""
    return Alignment(ids={i: i for i in range(k)}, new=list(range(k)), max_segment_id=k - 1)


def previous_partition(dataset_dir: Path | str, run_date: date) -> Path | None:
    """The partition of the latest published run before ``run_date`` that saved a model."""
    earlier = []
    for model in Path(dataset_dir).glob(f"run_date=*/{FILE_NAME}"):
        match = PARTITION.search(model.parent.name)
        if match and date.fromisoformat(match[1]) < run_date:
            earlier.append((match[1], model.parent))
    return max(earlier)[1] if earlier else None


def in_units(model: ModelArtifact) -> pd.DataFrame:
    """A table model's centroids in feature units (scaling and log transforms undone)."""
    space = model.space
    scaling = Scaling(space["columns"], space["mean"], space["scale"], space["weights"])
    centroids = np.asarray(model.centroids, dtype=float) / np.asarray(scaling.weights)
    units = pd.DataFrame(centroids * np.asarray(scaling.scale) + np.asarray(scaling.mean),
                         columns=scaling.columns)
    for column, transform in space["transforms"].items():
        if transform == "log1p":
            units[column] = np.expm1(units[column])
    return units


def into_space(units: pd.DataFrame, space: dict) -> np.ndarray:
    """Points in feature units placed in a table space (its transforms and scaling)."""
    values = units.reindex(columns=space["columns"], fill_value=0.0).copy()
    for column, transform in space["transforms"].items():
        if transform == "log1p":
            values[column] = np.log1p(values[column].clip(lower=0))
    scaling = Scaling(space["columns"], space["mean"], space["scale"], space["weights"])
    return scaling.apply(values)


def previous_in_space(previous: ModelArtifact, space: dict) -> np.ndarray | None:
    """The previous model's centroids in this run's space (None when no common space)."""
    if previous.space.get("type") != space.get("type"):
        return None
    if space["type"] == "meter-shape":
        same = previous.space.get("shape") == space.get("shape")
        return np.asarray(previous.centroids, dtype=float) if same else None
    if list(previous.space["features"]) != list(space["features"]):
        return None
    return into_space(in_units(previous), space)


def half_way(centroids: np.ndarray) -> np.ndarray:
    """Each centroid's limit: half the distance to its nearest other centroid (inf alone)."""
    if len(centroids) < 2:
        return np.full(len(centroids), np.inf)
    distance = cdist(centroids, centroids)
    np.fill_diagonal(distance, np.inf)
    return distance.min(axis=1) / 2


def align(current: np.ndarray, space: dict, previous: ModelArtifact | None,
          previous_run_date: str | None = None) -> Alignment:
    """Match this run's centroids (rows: segments 0..k-1) with the previous model's.

    Without a previous model the run keeps its own numbering; without a common space
    (another feature list or meter shape) every segment is new.
    """
    k = len(current)
    if previous is None:
        return by_size(k)
    before = previous_in_space(previous, space)
    high_water = int(previous.extra.get("max_segment_id",
                                        max(s["segment_id"] for s in previous.segments)))
    gone_all = [{"segment_id": s["segment_id"], "segment_name": s["segment_name"]}
                for s in previous.segments]
    pairs: list[tuple[int, int, float]] = []
    limits = {}
    if before is not None and len(before):
        limits = dict(enumerate(half_way(before)))
        distance = cdist(np.asarray(current, dtype=float), before)
        rows, cols = linear_sum_assignment(distance)
        pairs = [(int(r), int(c), float(distance[r, c])) for r, c in zip(rows, cols)
                 if distance[r, c] < limits[int(c)]]
    ids, matched = {}, {}
    for row, col, moved in pairs:
        stable = int(previous.segments[col]["segment_id"])
        ids[row], matched[stable] = stable, moved
    new = []
    for row in range(k):                      # unmatched: next ids never used, largest first
        if row not in ids:
            high_water += 1
            ids[row] = high_water
            new.append(high_water)
    kept = set(matched)
    gone = [s for s in gone_all if s["segment_id"] not in kept]
    return Alignment(ids=ids, matched=matched, new=new, gone=gone,
                     previous_run_date=previous_run_date,
                     limits={int(previous.segments[c]["segment_id"]): v for c, v in limits.items()},
                     max_segment_id=max(high_water, max(ids.values())),
                     previous_names={int(s["segment_id"]): s["segment_name"]
                                     for s in previous.segments})


MIGRATION_COLUMNS = ["from_segment_id", "from_segment_name", "to_segment_id", "to_segment_name",
                     "members", "share_of_from"]


def migrations(current: pd.DataFrame, previous: pd.DataFrame | None, id_column: str
               ) -> pd.DataFrame:
    """Members per (from segment, to segment), with the share of the from-segment; members
    who joined (from null) and who left (to null) are rows too.

    ``current`` and ``previous``: the runs' members (id, ``segment_id``, ``segment_name``).
    """
    if previous is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            MIGRATION_COLUMNS, ["Int32", "string", "Int32", "string", "int64", "float64"])})
    both = previous[[id_column, "segment_id"]].merge(
        current[[id_column, "segment_id"]], on=id_column, how="outer", suffixes=("_from", "_to"))
    flows = (both.groupby(["segment_id_from", "segment_id_to"], dropna=False).size()
             .rename("members").reset_index())
    before = previous.drop_duplicates("segment_id").set_index("segment_id")["segment_name"]
    after = current.drop_duplicates("segment_id").set_index("segment_id")["segment_name"]
    sizes = previous["segment_id"].value_counts()
    out = pd.DataFrame({
        "from_segment_id": flows["segment_id_from"].astype("Int32"),
        "from_segment_name": flows["segment_id_from"].map(before).astype("string"),
        "to_segment_id": flows["segment_id_to"].astype("Int32"),
        "to_segment_name": flows["segment_id_to"].map(after).astype("string"),
        "members": flows["members"].astype("int64"),
        "share_of_from": (flows["members"] / flows["segment_id_from"].map(sizes)).astype(float)})
    return out.sort_values(["from_segment_id", "to_segment_id"], na_position="first",
                           kind="stable").reset_index(drop=True)


@dataclass
class PreviousRun:
    """The run a new run is compared with: its date, model and members (None: no such run)."""

    run_date: str | None = None
    model: ModelArtifact | None = None
    segments: pd.DataFrame | None = None     # id column, segment_id, segment_name
    note: str = "first run of the dataset: segments numbered by size"


def previous_run(dataset_dir: Path | str, run_date: date, kind: str, id_column: str,
                 fresh_ids: bool = False) -> PreviousRun:
    """The latest earlier published run of the dataset, with its model and members."""
    if fresh_ids:
        return PreviousRun(note="--fresh-ids: segments numbered by size")
    partition = previous_partition(dataset_dir, run_date)
    if partition is None:
        return PreviousRun()
    day = PARTITION.search(partition.name)[1]
    segments = pd.read_parquet(partition / "segments.parquet",
                               columns=[id_column, "segment_id", "segment_name"])
    try:
        model = ModelArtifact.load(partition / FILE_NAME, kind=kind)
    except InputError as err:
        return PreviousRun(day, None, segments, f"the run of {day} has no usable model ({err}): "
                                                "segments numbered by size")
    return PreviousRun(day, model, segments, f"segment ids follow the run of {day}")


def with_previous_ids(segments: pd.DataFrame, previous: PreviousRun, id_column: str
                      ) -> pd.Series:
    """Each member's segment_id in the previous run (null: new to the dataset, or no run)."""
    if previous.segments is None:
        return pd.Series(pd.NA, index=segments.index, dtype="Int32")
    before = previous.segments.drop_duplicates(id_column).set_index(id_column)["segment_id"]
    return segments[id_column].map(before).astype("Int32")
