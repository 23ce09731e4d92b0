"""The dataset catalog: every dataset the nightly run segments, declared once.

``segmentation.yaml`` at the project root (``SEGMENT_CATALOG`` names another
file) lists datasets by name::

    datasets:
      customers:
        kind: customers                  # or meters, transactions
        input: raw/customers/*.csv       # path or glob under the data root: one file
        id_column: CustomerID
        features: [Annual Income (k$), Spending Score (1-100)]
      meters:
        kind: meters
        input: raw/meters/               # a folder: every file in it
        timezone: Europe/London

Every other key is a parameter of that kind's flow (the same names and types
as the CLI options and the deployment forms, from ``segmentation.parameters``).
A wrong entry is refused with the file, the dataset and the key, before any
run starts. The nightly flow runs every dataset of the catalog; a deployment
or ``segment run dataset NAME`` runs one.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from segmentation import parameters as p
from segmentation.errors import InputError
from segmentation.preflight import DATASET_PATTERN
from segmentation.settings import PROJECT_ROOT

COMMON = {"input": str, "k": p.KValue, "k_min": p.KMin, "k_max": p.KMax,
          "min_segment_size": p.MinSegmentSize,
          "max_quarantine_share": p.QuarantineShare, "algorithm": p.Algorithm,
          "min_confidence": p.MinConfidence, "compare": p.Compare}
KEYS = {
    "customers": {**COMMON, "id_column": str | None, "features": list[str] | None,
                  "categorical": list[str] | None, "missing": p.Missing, "outliers": p.Outliers,
                  "transform": p.Transform, "cluster_categorical": bool},
    "meters": {**COMMON, "format": p.MeterFormat, "timezone": p.Timezone,
               "hemisphere": p.Hemisphere | None, "window_days": p.WindowDays,
               "kwh_bands": p.KwhBands, "shape": p.Shape, "max_kwh_per_interval": p.MaxKwh,
               "dask_address": p.DaskAddress},
    "transactions": {**COMMON, **{f"{role}_column": p.Column for role in p.TRANSACTION_ROLES},
                     "timezone": p.Timezone, "cancel_prefix": str,
                     "non_product_codes": list[str] | None, "max_quantity": p.MaxQuantity,
                     "window_days": p.TransactionWindow, "dask_address": p.DaskAddress},
}
# A per-member attribute table (path relative to the data root) and its id column.
ATTRIBUTES = {"attributes": p.AttributesPath, "attributes_id": p.AttributesId}
for _kind in ("customers", "meters", "transactions"):
    KEYS[_kind].update(ATTRIBUTES)


def catalog_path() -> Path:
    return Path(os.environ.get("SEGMENT_CATALOG", PROJECT_ROOT / "segmentation.yaml"))


@dataclass(frozen=True)
class Dataset:
    """One catalog entry: its name, kind and flow parameters (``input`` still a pattern)."""

    name: str
    kind: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def inputs(self, data_root: Path) -> list[str]:
        """The files the entry's ``input`` names under ``data_root`` (a folder: its files)."""
        pattern = self.parameters.get("input")
        if pattern is None:
            return []
        path = Path(pattern) if Path(pattern).is_absolute() else Path(data_root) / pattern
        if path.is_dir():
            return [str(f) for f in sorted(path.rglob("*")) if f.is_file()
                    and not any(part.startswith(".") for part in f.relative_to(path).parts)]
        return sorted(glob.glob(str(path)))

    def flow_parameters(self, data_root: Path) -> dict[str, Any]:
        """Parameters for the kind's flow, with ``input`` resolved to files."""
        params = {k: v for k, v in self.parameters.items() if k != "input"}
        params["dataset"] = self.name
        if params.get("attributes") is not None:      # the flows' attributes_path
            attributes = Path(params.pop("attributes"))
            params["attributes_path"] = str(attributes if attributes.is_absolute()
                                            else Path(data_root) / attributes)
        params.pop("attributes", None)
        if "input" not in self.parameters:
            return params
        files = self.inputs(data_root)
        if not files:
            raise InputError(f"dataset '{self.name}': input '{self.parameters['input']}' matches no "
                             f"file under {data_root}")
        if self.kind in ("customers", "transactions"):
            if len(files) != 1:
                raise InputError(f"dataset '{self.name}': input '{self.parameters['input']}' is "
                                 f"ambiguous: it matches {len(files)} files "
                                 f"({_listed(files, data_root)}); "
                                 + ("a customer dataset reads one table" if self.kind == "customers"
                                    else "a purchase-log dataset reads one log")
                                 + ": name that file")
            params["input_path"] = files[0]
        else:
            params["inputs"] = files
        return params


def _listed(files: list[str], data_root: Path, shown: int = 5) -> str:
    """The first ``shown`` files, relative to the data root when inside it, and how many more."""
    root = Path(data_root)
    names = [Path(f).relative_to(root).as_posix() if Path(f).is_relative_to(root) else f
             for f in files[:shown]]
    more = len(files) - shown
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def load_catalog(path: Path | None = None) -> dict[str, Dataset]:
    """Read and check the catalog; an empty dict when the file does not exist."""
    import yaml

    path = Path(path or catalog_path())
    if not path.exists():
        return {}
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise InputError(f"the catalog is not valid YAML: {err}", file=where) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
        raise InputError("the catalog needs a 'datasets:' mapping of dataset names to entries",
                         file=where)
    return {name: _entry(name, spec, where) for name, spec in raw["datasets"].items()}


def catalog_entry(name: str, path: Path | None = None) -> Dataset:
    """The catalog's entry ``name``, or ``InputError`` naming the catalog and the known names."""
    path = Path(path or catalog_path())
    entries = load_catalog(path)
    if name not in entries:
        raise InputError(f"no dataset '{name}' in the catalog (known: "
                         f"{', '.join(entries) or 'none'})", file=str(path))
    return entries[name]


def _entry(name: Any, spec: Any, where: str) -> Dataset:
    if not isinstance(name, str) or not re.fullmatch(DATASET_PATTERN, name):
        raise InputError(f"dataset name '{name}' must be lower-case letters, digits, '-' or '_', "
                         "starting with a letter", file=where)
    if not isinstance(spec, dict):
        raise InputError(f"dataset '{name}': the entry must be a mapping of keys", file=where)
    kind = spec.get("kind")
    if kind not in KEYS:
        raise InputError(f"dataset '{name}', key 'kind': '{kind}' is not one of "
                         f"{', '.join(KEYS)}", file=where)
    parameters = {}
    for key, value in spec.items():
        if key == "kind":
            continue
        if key not in KEYS[kind]:
            raise InputError(f"dataset '{name}', key '{key}': not a {kind} setting (known: "
                             f"{', '.join(sorted(KEYS[kind]))})", file=where)
        try:
            parameters[key] = TypeAdapter(KEYS[kind][key]).validate_python(value)
        except ValidationError as err:
            problem = err.errors()[0]["msg"]
            raise InputError(f"dataset '{name}', key '{key}': {problem} (got {value!r})",
                             file=where) from None
    return Dataset(name, kind, parameters)
