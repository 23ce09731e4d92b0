"""Placing new members in a published run's segments without refitting (``segment assign``).

A run's ``model.json`` (``artifact``) holds its space, centroids, names and fences, and
the settings its input was read with (columns, time zone, window, cleaning policies).
New members are read, validated and featurised with those settings, never their own,
and each is placed at the nearest centroid (gmm: the most probable component): assigning
a run's own input with a k-means or gmm run's model gives its labels exactly. The result is published like a run, one folder a date::

    processed/D/assignments/assign_date=YYYY-MM-DD/
        assignments.parquet   one row per member placed (``contract.assignments_schema``)
        quarantine.parquet    input rows set aside, with the reason
        manifest.json, report.md

Readers of ``processed/D/run_date=.../`` and ``latest/`` see no change.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd

from segmentation.artifact import FILE_NAME, ModelArtifact, ModelMismatch
from segmentation.contract import ID_COLUMNS
from segmentation.errors import InputError
from segmentation.settings import MIN_CONFIDENCE, RUN_RECORD

LATEST = "latest"
FOLDER = "assignments"


def model_file(dataset_dir: Path | str, dataset: str, model: str = LATEST) -> Path:
    """The ``model.json`` of the run ``model`` names: ``latest`` or a run date YYYY-MM-DD."""
    dataset_dir = Path(dataset_dir)
    record = dataset_dir / LATEST / RUN_RECORD
    if model == LATEST and record.is_file():         # the run latest/ holds, by its date
        model = json.loads(record.read_text())["run_date"]
    if model != LATEST:
        try:
            model = date.fromisoformat(model).isoformat()
        except ValueError:
            raise InputError(f"--model '{model}' is neither 'latest' nor a run date "
                             "YYYY-MM-DD") from None
    folder = dataset_dir / f"run_date={model}"
    if model != LATEST and (folder / FILE_NAME).is_file():
        return folder / FILE_NAME
    runs = sorted(p.parent.name.split("=", 1)[1] for p in dataset_dir.glob(f"run_date=*/{FILE_NAME}"))
    which = "the latest run" if model == LATEST else f"a run of {model}"
    have = (f"runs with a model: {', '.join(runs)}" if runs
            else "no run of it has saved a model yet: run it first (`segment run`)")
    raise InputError(f"dataset '{dataset}' has no model for {which} in {dataset_dir}: {have}")


def one_input(files: list[str], kind: str) -> str:
    """The one input file of a customer table or a purchase log (meters take several)."""
    if len(files) != 1:
        raise InputError(f"assigning {kind} takes one input file, got {len(files)}: "
                         f"{', '.join(files)}")
    return files[0]


def load_model(path: Path | str, kind: str) -> ModelArtifact:
    """The saved model, refused when it is another kind's or keeps no input settings."""
    model = ModelArtifact.load(path, kind=kind)
    if not model.settings:
        raise ModelMismatch(f"{path} does not say how its run read the input (saved before "
                            "models kept their settings): run the dataset again, then assign")
    return model


def assignment_rows(ids: pd.Series, placed: pd.DataFrame, kind: str, model: ModelArtifact,
                    assign_date: date) -> pd.DataFrame:
    """assignments.parquet's rows: each member's id, then where the model put it
    (``ModelArtifact.assign``; meters also their band and seasonal flag), low confidence
    below the run's ``min_confidence`` (null for a model without membership probabilities)."""
    placed = placed.reset_index(drop=True)
    if "segment_label" not in placed:
        placed = placed.assign(segment_label=placed["segment_name"])
    probability = placed["segment_probability"]
    low = probability.lt(model.settings.get("min_confidence", MIN_CONFIDENCE)).astype("boolean")
    placed = placed.assign(is_low_confidence=low.mask(probability.isna()))
    return placed.assign(**{ID_COLUMNS[kind]: ids.astype(str).to_numpy()},
                         model_run_date=date.fromisoformat(model.run_date),
                         assign_date=assign_date)


def summary(rows: pd.DataFrame) -> dict:
    """Members placed per segment name (largest first) and how many are atypical."""
    sizes = rows["segment_name"].value_counts()
    return {"segments": {str(k): int(v) for k, v in sizes.items()},
            "atypical": int(rows["is_atypical"].sum())}


def assignment_manifest(*, kind: str, dataset: str, assign_date: date, model_path: Path | str,
                        model: ModelArtifact, inputs: list[dict], counts: dict,
                        rows: pd.DataFrame) -> dict:
    """manifest.json of an assignment: the model used, the input, the counts, the segments."""
    return {"dataset": dataset, "kind": kind, "assign_date": assign_date.isoformat(),
            "model": {"path": str(model_path), "run_date": model.run_date,
                      "code_version": model.code_version, "k": model.k.get("chosen"),
                      "algorithm": model.algorithm,
                      "segments": {str(s["segment_id"]): s["segment_name"]
                                   for s in model.segments}},
            "settings": model.settings, "inputs": inputs, "counts": counts, **summary(rows)}


def assignment_report(manifest: dict) -> str:
    """report.md of an assignment: in words, what was placed where and what was set aside."""
    placed = summary_lines(manifest["segments"])
    counts = "\n".join(f"- {k.replace('_', ' ')}: {v:,}" for k, v in manifest["counts"].items()
                       if isinstance(v, int) and not isinstance(v, bool))
    inputs = "\n".join(f"- `{i['path']}`" for i in manifest["inputs"])
    model = manifest["model"]
    return "\n\n".join([
        f"# Assignment: {manifest['dataset']}, {manifest['assign_date']}",
        f"New members placed in the segments of the run of {model['run_date']} "
        f"({model['algorithm']}, k={model['k']}, `{model['path']}`) without refitting: each "
        "member read, validated and featurised with that run's settings, then given "
        + ("its most probable component of the run's Gaussian mixture."
           if model["algorithm"] == "gmm" else "its nearest segment centroid."),
        "## Input\n" + inputs,
        "## Members placed\n" + placed
        + f"\n\n{manifest['atypical']:,} of them are atypical (far from every segment, or a "
          "value beyond the run's far-out fence): see `atypical_reason`.",
        "## Accounting\n" + counts])


def summary_lines(segments: dict) -> str:
    if not segments:
        return "No member could be placed."
    total = sum(segments.values())
    return "\n".join(f"- {name}: {n:,} ({n / total:.0%})" for name, n in segments.items())
