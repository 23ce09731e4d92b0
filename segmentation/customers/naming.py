"""Names for customer segments; every name is a claim checked against the population.

**Tables with income and spending columns** (the Mall table and its kind):
with z = (centroid - population mean) / population std of income (zi) and
spending score (zs), each rule name's fit is (> 0 means it applies), and it is
used only when its claim holds (members' median vs the population median,
``segmentation.naming.median_claim``; "mid" = inside the population's
interquartile range):

=====================  ==========================================  =================================
name                   fit                                         claim
=====================  ==========================================  =================================
High Spenders          min(zi, zs) - 0.3                           income high, spending high
Careful High Earners   min(zi, -zs) - 0.3                          income high, spending low
Young Impulse Buyers   min(-zi, zs) - 0.3 + 0.2                    income low, spending high, age low
Impulse Buyers         min(-zi, zs) - 0.3                          income low, spending high
Budget Buyers          min(-zi, 0.6 - zs) - 0.3                    income low, spending low
Mid-Range Customers    0.6 - max(|zi|, |zs|)                       income mid, spending mid
=====================  ==========================================  =================================

Names are assigned one-to-one (Hungarian). A segment no rule fits gets a
descriptive name (below) and counts as fallback-named.

**Any other table**: a segment is named from its most distinctive features,
"High Grocery / Low Fresh": features ordered by |z| of the segment's mean in
the clustering space (after transforms and scaling), at least ``MIN_Z`` away
from the mean, and each term's claim must hold: "High X" the members' median
above the population median, "Low X" below, "No X" (a column whose minimum is
0) most members at 0 and more than in the population. Two terms at most,
and not two strongly correlated features (|r| > 0.7). A
segment with no such feature is "Typical Customers" (fallback). Segments left
with the same name are told apart by ``segmentation.naming.distinguish``
("lower X" / "higher X").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.naming import assign_names, distinguish, median_claim, zscores

MARGIN = 0.3
MIN_Z = 0.25
MAX_CORR = 0.7
TYPICAL = "Typical Customers"
RULE_CLAIMS = {
    "High Spenders": {"income": "high", "spending": "high"},
    "Careful High Earners": {"income": "high", "spending": "low"},
    "Young Impulse Buyers": {"income": "low", "spending": "high", "age": "low"},
    "Impulse Buyers": {"income": "low", "spending": "high"},
    "Budget Buyers": {"income": "low", "spending": "low"},
    "Mid-Range Customers": {"income": "mid", "spending": "mid"},
}


UNITS = {"annual_income_k": "Annual income (k$)", "spending_score": "Spending score (1-100)",
         "age": "Age (years)"}


def label(column: str) -> str:
    """``cash_advance_frequency`` -> ``Cash Advance Frequency`` (in names: short)."""
    return column.replace("_", " ").title()


def axis_label(column: str) -> str:
    """A column for a plot axis: with its unit when known."""
    return UNITS.get(column, label(column))


def mall_name_scores(z: pd.DataFrame, income: str, spending: str, age: str | None) -> pd.DataFrame:
    """Fit of each rule name for each segment (rows) given centroid z-scores."""
    zi, zs = z[income], z[spending]
    impulse = pd.concat([-zi, zs], axis=1).min(axis=1) - MARGIN
    scores = {
        "High Spenders": pd.concat([zi, zs], axis=1).min(axis=1) - MARGIN,
        "Careful High Earners": pd.concat([zi, -zs], axis=1).min(axis=1) - MARGIN,
        "Young Impulse Buyers": impulse + 0.2 if age else impulse * 0 - 1.0,
        "Impulse Buyers": impulse,
        "Budget Buyers": pd.concat([-zi, 0.6 - zs], axis=1).min(axis=1) - MARGIN,
        "Mid-Range Customers": 0.6 - pd.concat([zi.abs(), zs.abs()], axis=1).max(axis=1),
    }
    return pd.DataFrame(scores, index=z.index)


def rule_claim_holds(name: str, members: pd.DataFrame, population: pd.DataFrame,
                     roles: dict[str, str]) -> bool:
    """Whether the members satisfy every claim of a rule name (see the module docstring)."""
    for role, direction in RULE_CLAIMS[name].items():
        column = roles.get(role)
        if column is None or column not in population.columns:
            return False
        if direction == "mid":
            q1, q3 = population[column].quantile([0.25, 0.75])
            if not q1 <= members[column].median() <= q3:
                return False
        elif not median_claim(members[column], population[column], direction):
            return False
    return True


def feature_term(column: str, z: float, members: pd.Series, population: pd.Series) -> str | None:
    """'High X', 'Low X' or 'No X' when its claim holds for these members, else None."""
    if z > 0:
        return f"High {label(column)}" if median_claim(members, population, "high") else None
    if median_claim(members, population, "low"):
        return f"Low {label(column)}"
    if population.min() == 0:
        at_zero, pop_zero = (members == 0).mean(), (population == 0).mean()
        if at_zero > 0.5 and at_zero > pop_zero:
            return f"No {label(column)}"
    return None


def describe(z_row: pd.Series, members: pd.DataFrame, population: pd.DataFrame,
             corr: pd.DataFrame | None = None) -> str | None:
    """Up to two terms from the most distinctive features whose claims hold, or None.

    A feature correlated above ``MAX_CORR`` with one already named adds
    nothing ("High Purchases / High Purchases Trx") and is skipped.
    """
    terms, used = [], []
    for column in z_row.abs().sort_values(ascending=False, kind="stable").index:
        if abs(z_row[column]) < MIN_Z or len(terms) == 2:
            break
        if corr is not None and any(abs(corr.loc[column, u]) > MAX_CORR for u in used):
            continue
        term = feature_term(column, float(z_row[column]), members[column], population[column])
        if term:
            terms.append(term)
            used.append(column)
    return " / ".join(terms) or None


def _typical_means(frame: pd.DataFrame, labels: np.ndarray, typical: np.ndarray) -> pd.DataFrame:
    """Per-segment means over typical rows (all rows for a segment with none typical)."""
    means = frame[typical].groupby(labels[typical]).mean().reindex(np.unique(labels))
    return means.fillna(frame.groupby(labels).mean())


def name_customer_segments(labels: np.ndarray, described: pd.DataFrame, scaled: pd.DataFrame,
                           roles: dict[str, str], typical: np.ndarray | None = None,
                           prefer: dict | None = None) -> tuple[dict, set]:
    """Segment id -> unique name, and the ids named by fallback.

    Parameters
    ----------
    labels : ndarray
        Segment of each row.
    described : DataFrame
        Numeric columns in original units (features and role columns), one row per customer.
    scaled : DataFrame
        The clustering features after transforms and scaling (z of a segment = its mean).
    roles : dict
        income / spending / age -> column, when the table has them.
    typical : ndarray of bool, optional
        Rows that are not atypical: segment means (which rank the features)
        use only them; claims are checked on all members.
    prefer : dict, optional
        Segment -> its name in the previous run, kept while its claim holds (the names of
        the Mall roles; descriptive names follow the features).
    """
    labels = np.asarray(labels)
    typical = np.ones(len(labels), bool) if typical is None else np.asarray(typical, bool)
    segments = sorted(int(s) for s in np.unique(labels))
    members = {s: described[labels == s] for s in segments}
    z_scaled = _typical_means(scaled, labels, typical)
    corr = scaled.corr().fillna(0.0)
    income, spending = roles.get("income"), roles.get("spending")

    def fallback(segment) -> str:
        return describe(z_scaled.loc[segment], members[segment], described, corr) or TYPICAL

    if income in described.columns and spending in described.columns:
        z = zscores(_typical_means(described, labels, typical), described[typical])
        age = roles.get("age") if roles.get("age") in described.columns else None
        scores = mall_name_scores(z, income, spending, age)
        for segment in scores.index:
            for name in scores.columns:
                if not rule_claim_holds(name, members[segment], described, roles):
                    scores.loc[segment, name] = 0.0
        names, fallbacks = assign_names(scores, fallback, prefer)
    else:
        names = {s: describe(z_scaled.loc[s], members[s], described, corr) for s in segments}
        fallbacks = {s for s, n in names.items() if n is None}
        names = {s: n or TYPICAL for s, n in names.items()}
    means = z_scaled
    unique = distinguish(names, means, pd.Series(1.0, index=means.columns),
                         lambda name, col: (f"lower {label(col)}", f"higher {label(col)}"))
    return {int(s): n for s, n in unique.items()}, {int(s) for s in fallbacks}
