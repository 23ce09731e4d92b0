"""Transforms applied to customer features before scaling, as an analyst would.

Money and count columns are right-skewed: a few large customers stretch the
scale so that k-means separates them and lumps everyone else together. With
``transform="auto"`` a feature is log-transformed (``log1p``, so zeros stay
zero) when it has no negative value and its skewness is above
``SKEW_THRESHOLD`` (1, the usual bar for "highly skewed"); ``"log"`` logs
every non-negative feature; ``"none"`` logs nothing. The choice per column,
with the skewness before and after, goes to the manifest. Centroids and
profiles are always reported in original units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SKEW_THRESHOLD = 1.0
MODES = ("auto", "log", "none")


def choose_transforms(frame: pd.DataFrame, columns: list[str], mode: str = "auto") -> dict[str, dict]:
    """Column -> {"transform": "log1p"|"none", "skew": before, "skew_after": after, "why": text}."""
    if mode not in MODES:
        raise ValueError(f"transform must be one of {MODES}, got {mode!r}")
    chosen = {}
    for column in columns:
        values = frame[column].astype(float).dropna()
        skew = skewness(values)
        negative = bool((values < 0).any())
        if mode == "none":
            use, why = False, "--transform none"
        elif negative:
            use, why = False, "has negative values"
        elif mode == "log":
            use, why = True, "--transform log"
        elif skew is None:
            use, why = False, (f"skewness not computable (a value of {values.abs().max():.3g} "
                               "is too large for it); left as it is")
        else:
            use = skew > SKEW_THRESHOLD
            why = f"skewness {skew:.2f} {'>' if use else '<='} {SKEW_THRESHOLD}"
        after = skewness(np.log1p(values)) if use else skew
        chosen[column] = {"transform": "log1p" if use else "none",
                          "skew": None if skew is None else round(skew, 3),
                          "skew_after": None if after is None else round(after, 3), "why": why}
    return chosen


def skewness(values: pd.Series) -> float | None:
    """Sample skewness (0 for fewer than three values); None when a value too large for its
    cube (1e200) makes it NaN. Such a value is far out, clipped for clustering and flagged:
    it must not decide the transform either, so the column is left as it is."""
    if len(values) <= 2:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        skew = float(values.skew())
    return skew if np.isfinite(skew) else None


def apply_transforms(frame: pd.DataFrame, transforms: dict[str, dict]) -> pd.DataFrame:
    """The frame with every ``log1p`` column transformed (other columns unchanged)."""
    out = frame.copy()
    for column, choice in transforms.items():
        if choice["transform"] == "log1p":
            out[column] = np.log1p(out[column].astype(float))
    return out
