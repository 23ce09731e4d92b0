"""The model artifact: ``model.json`` beside a run's segments, to place new members later.

A run's segments are centroids in the space the run clustered in. To
put a new member in one of them without refitting, that member must reach the
same space by the same steps with the run's own parameters, never its own:

- customer tables and purchase logs (``space["type"] == "table"``): missing
  values filled with the run's medians (``--missing impute``), values pulled
  in to the run's fences (``--outliers winsorize``), lower bounds, the log
  transforms chosen, the far-out clipping fences, one-hot categories, then the
  run's means, spreads and weights (``clustering.Scaling``);
- meters (``"meter-shape"``): the centred log-ratio hourly shape, which has no
  parameters of its own but the shape option; the consumption bands keep the
  run's thresholds.

Plain JSON with a format version, never pickle: any consumer can read it, and
loading it cannot run code. ``load`` refuses another format version, another
kind or another feature list with one paragraph naming the difference.
Assigning a run's own members with its model gives its labels exactly for k-means
and gmm (``assign``; tests check this for every kind); Ward's and HDBSCAN's segments are
not nearest-centroid regions, so a member near a boundary may be placed elsewhere.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.algorithms import DEFAULT_ALGORITHM, log_densities, probabilities, reorder_mixture
from segmentation.clustering import Scaling
from segmentation.errors import InputError
from segmentation.io import write_json_atomic
from segmentation.model import SegmentModel, _distances, far_out_reason

FORMAT_VERSION = 1
FILE_NAME = "model.json"
KINDS = ("customers", "meters", "transactions")


class ModelMismatch(InputError):
    """A saved model that cannot be used for these members (version, kind or features)."""


@dataclass
class ModelArtifact:
    """Everything needed to place a new member in a run's segments.

    Attributes
    ----------
    kind, dataset, run_date : str
    space : dict
        How a member's features become a point (see the module docstring).
    centroids : list of list of float
        Row ``i`` is segment ``segments[i]["segment_id"]``'s centroid in that space.
    segments : list of dict
        ``segment_id``, ``segment_name`` and ``far_out_fence`` (distance beyond which a
        member is atypical, "far from every segment"; None for a segment too small for one).
    k : dict
        The k rule's result (chosen, rule, stability, silhouette).
    extra : dict
        Kind-specific rules kept with the model (meters: the band thresholds).
    algorithm : str
        The clustering algorithm (``algorithms``); a new member goes to its nearest centroid,
        or with ``gmm`` to its most probable component.
    membership : dict
        What membership probabilities need, in segment order: ``{"sigma": s}`` (the spread of
        the distance-based probabilities), or ``{"mixture": {"weights", "means",
        "covariances"}}`` for ``gmm``. Empty in models saved before probabilities were.
    settings : dict
        How the run read and cleaned its input (columns, time zone, window, policies):
        ``segment assign`` reads new members the same way (``assignment``).
    """

    kind: str
    dataset: str
    run_date: str
    space: dict
    centroids: list
    segments: list
    k: dict
    extra: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    algorithm: str = DEFAULT_ALGORITHM
    membership: dict = field(default_factory=dict)
    code_version: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def features(self) -> list[str]:
        """The input columns the model reads, in order."""
        return list(self.space.get("features", []))

    def save(self, path: Path | str) -> Path:
        return write_json_atomic(_plain(asdict(self)), Path(path))

    @classmethod
    def load(cls, path: Path | str, *, kind: str | None = None,
             features: list[str] | None = None) -> "ModelArtifact":
        """Read a saved model; refuse another format version, kind or feature list."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelMismatch(f"no model at {path}: runs published before models were "
                                "saved have none; run the dataset again for a model") from None
        except ValueError as err:
            raise ModelMismatch(f"{path} is not a model file (not JSON: {err})") from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION:
            raise ModelMismatch(f"{path} has model format version {version!r}; this code reads "
                                f"version {FORMAT_VERSION}: run the dataset again to save a "
                                "model this version can use")
        model = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        if kind is not None and model.kind != kind:
            raise ModelMismatch(f"{path} is a model of {model.kind}, not of {kind}")
        if features is not None and list(features) != model.features:
            raise ModelMismatch(f"{path} was fitted on features {describe_difference(model.features, list(features))}; "
                                "the same features, in the same order, are needed to use it")
        return model

    def assign(self, X: np.ndarray) -> pd.DataFrame:
        """Each point's segment (nearest centroid; gmm: most probable component):
        ``segment_id``, ``segment_name``, ``distance_to_centroid``, ``is_atypical`` and
        ``atypical_reason`` (far from every segment: beyond the run's fence of its segment),
        ``segment_probability`` (null for a model saved without ``membership``)."""
        X = np.asarray(X, dtype=float)
        centroids = np.asarray(self.centroids, dtype=float)
        distances = _distances(X, centroids)
        mixture = self.membership.get("mixture")
        placed = (log_densities(X, mixture).argmax(axis=1) if mixture is not None
                  else distances.argmin(axis=1))
        distance = distances[np.arange(len(X)), placed]
        ids = np.array([s["segment_id"] for s in self.segments], dtype=np.int32)
        names = np.array([s["segment_name"] for s in self.segments], dtype=object)
        fences = np.array([np.nan if s["far_out_fence"] is None else s["far_out_fence"]
                           for s in self.segments], dtype=float)[placed]
        far = distance > fences
        reasons = [far_out_reason(d, f) if x else None for d, f, x in zip(distance, fences, far)]
        if self.membership:
            probability = probabilities(X, centroids, mixture=mixture,
                                        sigma=self.membership.get("sigma"))[np.arange(len(X)), placed]
        else:
            probability = np.full(len(X), np.nan)
        return pd.DataFrame({"segment_id": ids[placed], "segment_name": names[placed],
                             "distance_to_centroid": distance, "is_atypical": far,
                             "atypical_reason": pd.Series(reasons, dtype="string"),
                             "segment_probability": probability})


def with_settings(path: Path | str, settings: dict) -> Path:
    """Add the run's input settings to a saved model (the flow knows them once its input
    is read and configured, after the model was saved)."""
    data = json.loads(Path(path).read_text())
    data["settings"] = _plain(settings)
    return write_json_atomic(data, Path(path))


def describe_difference(saved: list[str], given: list[str]) -> str:
    """'a, b (these members have c, b, d: a is missing, d is new)' in words."""
    missing = [c for c in saved if c not in given]
    new = [c for c in given if c not in saved]
    parts = ([f"{', '.join(missing)} missing"] if missing else []) + \
            ([f"{', '.join(new)} not in the model"] if new else [])
    if not parts:
        parts = ["the same columns in another order"]
    return f"{', '.join(saved)}, and these members have {', '.join(given)} ({'; '.join(parts)})"


def segments_of(model: SegmentModel, names: dict, ids: dict | None = None) -> tuple[list, list]:
    """Centroids and segment entries (id, name, fence) of a fitted model, in the order of the
    stable ids (``ids``: the model's segment -> its ``segment_id``; ``names`` by that id)."""
    ids = ids or {i: i for i in range(len(model.cluster_centers_))}
    order = sorted(range(len(model.cluster_centers_)), key=lambda i: ids[i])
    segments = [{"segment_id": int(ids[i]), "segment_name": str(names[ids[i]]),
                 "far_out_fence": (None if math.isnan(model.far_out_fences_[i])
                                   else float(model.far_out_fences_[i]))} for i in order]
    return model.cluster_centers_[order].tolist(), segments


def membership_of(model: SegmentModel, ids: dict | None = None) -> dict:
    """A fitted model's ``membership`` (see ``ModelArtifact``), in the order of the stable ids."""
    ids = ids or {i: i for i in range(len(model.cluster_centers_))}
    order = sorted(range(len(model.cluster_centers_)), key=lambda i: ids[i])
    if model.mixture_ is not None:
        return {"mixture": _plain(reorder_mixture(model.mixture_, order))}
    return {"sigma": float(model.sigma_)}


def code_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("customer-segmentation")
    except metadata.PackageNotFoundError:
        return "unknown"


def _plain(value):
    """JSON-ready: numpy numbers as Python numbers, NaN as None."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ---------------------------------------------------------------- customer tables, purchase logs

def table_space(*, features: list[str], transforms: dict, clip_fences: dict, scaling: Scaling,
                floors: dict | None = None, categorical: list[str] = (),
                impute_medians: dict | None = None, winsorize_fences: dict | None = None) -> dict:
    """The steps from a cleaned table's rows to the points k-means saw, with the run's
    parameters (``table_points`` applies them); fences are column -> [lower, upper]."""
    return {"type": "table", "features": list(features),
            "impute_medians": dict(impute_medians or {}),
            "winsorize_fences": dict(winsorize_fences or {}),
            "floors": dict(floors or {}),
            "transforms": {c: transforms[c]["transform"] for c in features},
            "clip_fences": dict(clip_fences),
            "categorical": list(categorical),
            "columns": scaling.columns, "mean": scaling.mean, "scale": scaling.scale,
            "weights": scaling.weights}


def table_points(frame: pd.DataFrame, space: dict) -> tuple[np.ndarray, pd.Series]:
    """Rows of a cleaned table as points of the model's space, and for each row the columns
    clipped to the run's far-out fences ("" when none)."""
    values = frame[space["features"]].astype(float).copy()
    for column, median in space["impute_medians"].items():
        values[column] = values[column].fillna(median)
    for column, (lower, upper) in space["winsorize_fences"].items():
        values[column] = values[column].clip(lower, upper)
    for column, floor in space["floors"].items():
        values[column] = values[column].clip(lower=floor)
    for column, transform in space["transforms"].items():
        if transform == "log1p":
            values[column] = np.log1p(values[column])
    clipped_columns = list(space["clip_fences"])
    clipped = values.copy()
    for column, (lower, upper) in space["clip_fences"].items():
        clipped[column] = values[column].clip(lower, upper)
    changed = clipped[clipped_columns].ne(values[clipped_columns]).to_numpy()
    which = pd.Series([", ".join(np.asarray(clipped_columns)[row]) for row in changed],
                      index=frame.index, dtype=object)
    if space["categorical"]:
        dummies = pd.get_dummies(frame[space["categorical"]].astype("string"), dtype=float)
        clipped = pd.concat([clipped, dummies], axis=1)
    scaling = Scaling(space["columns"], space["mean"], space["scale"], space["weights"])
    return scaling.apply(clipped.reindex(columns=space["columns"], fill_value=0.0)), which


def k_summary(fit) -> dict:
    """The k rule's result of a ``clustering.Segmentation``, as the model keeps it."""
    return {"chosen": int(fit.selection.k), "rule": fit.selection.rule,
            "stability": float(fit.selection.stability), "silhouette": float(fit.silhouette)}
