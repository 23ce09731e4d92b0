"""Names for customer segments from centroids relative to the population.

With z = (centroid - population mean) / population std of income (zi) and
spending score (zs), each name's fit is (> 0 means it applies):

- High Spenders: high income and high spending, fit min(zi, zs) - 0.3
- Careful High Earners: high income, low spending, fit min(zi, -zs) - 0.3
- Young Impulse Buyers: low income, high spending, fit min(-zi, zs) - 0.3
  (plus 0.2 when the segment is younger than average, if age is known)
- Budget Buyers: low income, low-to-moderate spending, fit min(-zi, 0.6 - zs) - 0.3
- Mid-Range Customers: near average on both, fit 0.6 - max(|zi|, |zs|)

Names are assigned one-to-one (segmentation.naming.assign_names). Tables
without income and spending columns, or segments no rule fits, are named
from their two most distinctive features, e.g. "High Age / Low Tenure".
"""

from __future__ import annotations

import pandas as pd

from segmentation.naming import assign_names, zscores

MARGIN = 0.3


def mall_name_scores(z: pd.DataFrame, income: str, spending: str, age: str | None) -> pd.DataFrame:
    """Fit of each rule name for each segment (rows) given centroid z-scores."""
    zi, zs = z[income], z[spending]
    young = (z[age] < 0) * 0.2 if age else 0.0
    scores = {
        "High Spenders": pd.concat([zi, zs], axis=1).min(axis=1) - MARGIN,
        "Careful High Earners": pd.concat([zi, -zs], axis=1).min(axis=1) - MARGIN,
        "Young Impulse Buyers": pd.concat([-zi, zs], axis=1).min(axis=1) - MARGIN + young,
        "Budget Buyers": pd.concat([-zi, 0.6 - zs], axis=1).min(axis=1) - MARGIN,
        "Mid-Range Customers": 0.6 - pd.concat([zi.abs(), zs.abs()], axis=1).max(axis=1),
    }
    return pd.DataFrame(scores, index=z.index)


def describe_segment(z_row: pd.Series) -> str:
    """'High <a> / Low <b>' from the two features furthest from average."""
    top = z_row.abs().sort_values(ascending=False).index[:2]
    parts = [f"{'High' if z_row[c] > 0 else 'Low'} {c.replace('_', ' ').title()}" for c in top]
    return " / ".join(parts) if parts else "Average"


def name_customer_segments(centroids: pd.DataFrame, population: pd.DataFrame,
                           roles: dict[str, str]) -> dict:
    """Segment id -> unique name, from centroids in original units."""
    z = zscores(centroids, population)
    income, spending = roles.get("income"), roles.get("spending")
    if income in z.columns and spending in z.columns:
        age = roles.get("age") if roles.get("age") in z.columns else None
        scores = mall_name_scores(z, income, spending, age)
    else:
        scores = pd.DataFrame(index=z.index)
    return assign_names(scores, lambda segment: describe_segment(z.loc[segment]))
