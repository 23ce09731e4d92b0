"""Realistic customer tables with planted groups, for `make run` and tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.settings import SEED

HEADER = ["CustomerID", "Gender", "Age", "Annual Income (k$)", "Spending Score (1-100)"]
# (income k$, score, age) centres of the five mall-like groups, with spreads.
PLANTED = [
    {"name": "High Spenders", "income": 88, "score": 82, "age": 32, "share": 0.20},
    {"name": "Careful High Earners", "income": 87, "score": 17, "age": 41, "share": 0.18},
    {"name": "Young Impulse Buyers", "income": 26, "score": 80, "age": 25, "share": 0.12},
    {"name": "Budget Buyers", "income": 26, "score": 20, "age": 45, "share": 0.12},
    {"name": "Mid-Range Customers", "income": 55, "score": 50, "age": 42, "share": 0.38},
]


def make_customers(n: int = 400, seed: int = SEED, spread: float = 5.0) -> pd.DataFrame:
    """A Mall-Customers-shaped table plus the ``planted_group`` each row was drawn from."""
    rng = np.random.default_rng(seed)
    shares = np.array([g["share"] for g in PLANTED])
    groups = rng.choice(len(PLANTED), size=n, p=shares / shares.sum())
    centre = pd.DataFrame(PLANTED).iloc[groups].reset_index(drop=True)
    frame = pd.DataFrame({
        "CustomerID": np.arange(1, n + 1),
        "Gender": rng.choice(["Female", "Male"], size=n, p=[0.56, 0.44]),
        "Age": np.clip(np.round(centre["age"] + rng.normal(0, 6, n)), 18, 70).astype(int),
        "Annual Income (k$)": np.clip(np.round(centre["income"] + rng.normal(0, spread, n)), 10, 150).astype(int),
        "Spending Score (1-100)": np.clip(np.round(centre["score"] + rng.normal(0, spread, n)), 1, 99).astype(int),
    })
    frame["planted_group"] = centre["name"]
    return frame


def write_sample_customers(out_dir: Path, n: int = 400, seed: int = SEED) -> Path:
    """Write ``customers.csv`` (the Kaggle header verbatim) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "customers.csv"
    make_customers(n, seed)[HEADER].to_csv(path, index=False)
    return path
