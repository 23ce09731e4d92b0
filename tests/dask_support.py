"""Helpers of the Dask tests (tests/test_dask*.py): what the workers ran, what a run published."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def executed(cluster) -> int:
    """Tasks the cluster's workers have run so far."""
    from distributed import Client

    with Client(cluster) as client:
        return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def published(result: dict) -> dict:
    """A run's published segments, profiles, quarantine and manifest."""
    files = result["published"]
    return {"segments": pd.read_parquet(files["segments"]),
            "profiles": pd.read_parquet(files["profiles"]),
            "quarantine": pd.read_parquet(files["quarantine"]),
            "manifest": json.loads(Path(files["manifest"]).read_text())}
