"""Run parameters shared by the flows (typed, validated, shown in the Prefect UI) and the CLI.

Each type carries its bounds and description once; the CLI takes its choices
from the same ``Literal`` values (``choices``).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

DatasetName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$",
                                   description="Name of the output dataset (folder under processed/)")]
RunDate = Annotated[str | None, Field(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                      description="Partition date YYYY-MM-DD; default: the scheduled date")]
KValue = Annotated[int | None, Field(ge=2, le=30, description="Fixed number of segments; empty: choose k")]
KMin = Annotated[int, Field(ge=2, le=30, description="Smallest k to evaluate")]
KMax = Annotated[int, Field(ge=2, le=30, description="Largest k to evaluate")]
MinSegmentSize = Annotated[int | None, Field(ge=1, le=1_000_000,
                                             description="Smallest segment in members; "
                                                         "empty: max(2% of the members, 5)")]
QuarantineShare = Annotated[float, Field(ge=0, le=1, description="Largest share of an input's rows "
                                                                   "or readings that may be "
                                                                   "quarantined; more fails the run")]
Algorithm = Literal["kmeans", "gmm", "agglomerative", "hdbscan"]   # segmentation.algorithms
DEFAULT_ALGORITHM = "kmeans"


def has_k(algorithm: str) -> bool:
    """Whether the algorithm is given a number of segments (HDBSCAN finds its own)."""
    return algorithm != "hdbscan"


MinConfidence = Annotated[float, Field(ge=0.01, le=0.99, description="Members whose segment "
                                                               "probability is below this are "
                                                               "flagged low confidence")]
Compare = Annotated[bool, Field(description="Compare every clustering algorithm on the run's "
                                            "features (report, comparison.parquet)")]
DaskAddress = Annotated[str | None, Field(pattern=r"^tcp://[A-Za-z0-9.-]+:\d{1,5}$",
                                          description="Dask scheduler tcp://HOST:PORT for the "
                                                      "per-shard steps; empty: "
                                                      "$SEGMENT_DASK_ADDRESS, else this machine")]
Root = Annotated[str | None, Field(description="Root folder; default: the project's data/ or outputs/")]

# Customers
Missing = Literal["quarantine", "impute"]
Outliers = Literal["flag", "winsorize"]
Transform = Literal["auto", "log", "none"]

# Meters
MeterFormat = Literal["auto", "long", "lcl", "wide"]
Hemisphere = Literal["north", "south"]
Shape = Literal["daily", "weekday-weekend"]
WindowDays = Annotated[int, Field(ge=1, le=3660, description="Days of data to use, counted back "
                                                             "from the last reading")]
MaxKwh = Annotated[float, Field(gt=0, le=1000, description="Plausible maximum kWh per interval; "
                                                           "readings above are quarantined")]
Timezone = Annotated[str, Field(min_length=1, description="IANA zone of naive timestamps, "
                                                          "e.g. Europe/London")]
KwhBands = Annotated[list[float] | None, Field(min_length=2, max_length=2,
                                               description="Two mean-daily-kWh thresholds for "
                                                           "Low/Medium/High; empty: tertiles")]
METER_K_MIN = 3  # meters: k=2 only splits "more evening" from "more night"; see README


def choices(literal) -> list[str]:
    """The values of a ``Literal`` type, for argparse ``choices``."""
    return list(get_args(literal))

# Purchase logs
TRANSACTION_ROLES = ("customer", "timestamp", "amount", "quantity", "price", "order", "product",
                     "country")
Column = Annotated[str | None, Field(description="A column of the input, as in its header; "
                                                 "empty: found by its name")]
MaxQuantity = Annotated[float, Field(gt=0, description="Lines with more units than this are "
                                                       "quarantined as implausible")]
TransactionWindow = Annotated[int | None, Field(ge=1, le=36600,
                                                description="Use only the N days up to the run "
                                                            "date; empty: all history")]


# Member attributes, every kind (segmentation/attributes.py)
AttributesPath = Annotated[str | None, Field(description="Per-member attribute table (CSV or "
                                                         "Parquet), joined by id and profiled "
                                                         "per segment; empty: none")]
AttributesId = Annotated[str | None, Field(description="Id column of the attribute table; empty: "
                                                       "the kind's id name, id or the one *_id "
                                                       "column")]
FreshIds = Annotated[bool, Field(description="Number segments by size (0 = largest) instead of "
                                             "following the previous run's ids")]


# Assigning new members to a published run's segments (segmentation/assignment.py)
AssignKind = Literal["customers", "meters", "transactions"]
ModelChoice = Annotated[str, Field(pattern=r"^(latest|\d{4}-\d{2}-\d{2})$",
                                   description="latest, or the run date YYYY-MM-DD of the "
                                               "model to use")]
