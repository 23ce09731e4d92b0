"""Who is likely to move next: a smoothed Markov model of moving between segments.

From a dataset's published history (its runs in date order, each member's
``segment_id``), every pair of consecutive runs gives transitions: member m was
in segment i, then in j. The model is the matrix of transition counts with
additive (Laplace) smoothing, ``alpha`` per cell, row-normalised: P(next = j |
now = i). A member's probabilities at the next run are the row of its current
segment; a segment with no history (new this run) gets the rows' pooled
"stay" share for itself and the rest spread evenly.

**Backtest**: for each run t from the third on, fit on the transitions up to
run t-1 and predict run t from run t-1; accuracy (most likely segment) and log
loss over the members present in both, against the baseline "stays in its
segment" with the same smoothing (the identity count matrix with each segment's
observed members, plus ``alpha`` per cell).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALPHA = 1.0


def transitions(history: list[pd.DataFrame], id_column: str) -> pd.DataFrame:
    """(from, to) segment of every member present in two consecutive runs."""
    pairs = []
    for before, after in zip(history, history[1:]):
        both = before[[id_column, "segment_id"]].merge(after[[id_column, "segment_id"]],
                                                       on=id_column, suffixes=("_from", "_to"))
        pairs.append(both[["segment_id_from", "segment_id_to"]])
    if not pairs:
        return pd.DataFrame({"segment_id_from": pd.Series(dtype=int),
                             "segment_id_to": pd.Series(dtype=int)})
    return pd.concat(pairs, ignore_index=True).astype(int)


def fit_matrix(moves: pd.DataFrame, states: list[int], alpha: float = ALPHA) -> pd.DataFrame:
    """P(next | now) over ``states`` from observed moves, smoothed; a state never left from
    gets the pooled stay share on itself and the rest spread evenly."""
    counts = pd.crosstab(moves["segment_id_from"], moves["segment_id_to"]).reindex(
        index=states, columns=states, fill_value=0).astype(float)
    seen = counts.sum(axis=1) > 0
    matrix = (counts + alpha).div((counts + alpha).sum(axis=1), axis=0)
    if (~seen).any():
        stay = (np.trace(counts.to_numpy()) / counts.to_numpy().sum()) if seen.any() else 0.5
        other = (1 - stay) / max(len(states) - 1, 1)
        for state in counts.index[~seen]:
            matrix.loc[state] = other
            matrix.loc[state, state] = stay if len(states) > 1 else 1.0
    return matrix


def stay_matrix(moves: pd.DataFrame, states: list[int], alpha: float = ALPHA) -> pd.DataFrame:
    """The baseline "stays in its segment": every observed member stays, same smoothing (a
    segment never left from counts as many members as the others on average, so it stays
    too)."""
    sizes = moves["segment_id_from"].value_counts().reindex(states, fill_value=0).astype(float)
    seen = sizes > 0
    sizes[~seen] = sizes[seen].mean() if seen.any() else 1.0
    counts = pd.DataFrame(np.diag(sizes.to_numpy()), index=states, columns=states)
    return (counts + alpha).div((counts + alpha).sum(axis=1), axis=0)


def predict(current: pd.DataFrame, matrix: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Each member's probability of each of this run's segments at the next run (a segment
    gone by now is no destination: the rest are renormalised): ``id``, ``segment_id``,
    ``predicted_segment_id``, ``p_stay``, ``p_segment_<id>``."""
    states = np.array(sorted(current["segment_id"].unique()))
    rows = matrix.loc[current["segment_id"].to_numpy(), states].to_numpy()
    rows = rows / rows.sum(axis=1, keepdims=True)
    out = pd.DataFrame({id_column: current[id_column].to_numpy(),
                        "segment_id": current["segment_id"].to_numpy().astype(np.int32),
                        "predicted_segment_id": states[rows.argmax(axis=1)].astype(np.int32)})
    own = np.searchsorted(states, out["segment_id"].to_numpy())
    out["p_stay"] = rows[np.arange(len(rows)), own]
    for j, state in enumerate(states):
        out[f"p_segment_{state}"] = rows[:, j]
    return out


def score(matrix: pd.DataFrame, moves: pd.DataFrame) -> tuple[float, float]:
    """(accuracy, mean log loss) of ``matrix`` on observed moves."""
    probabilities = matrix.to_numpy()
    rows = matrix.index.get_indexer(moves["segment_id_from"])
    cols = matrix.columns.get_indexer(moves["segment_id_to"])
    known = (rows >= 0) & (cols >= 0)
    rows, cols = rows[known], cols[known]
    hit = probabilities[rows].argmax(axis=1) == cols
    p = np.clip(probabilities[rows, cols], 1e-12, 1.0)
    return float(hit.mean()), float(-np.log(p).mean())


def backtest(history: list[pd.DataFrame], id_column: str, alpha: float = ALPHA) -> list[dict]:
    """For each run t >= 2: fit on transitions up to t-1, predict t; the model and the
    "stays" baseline, scored on the members present in t-1 and t."""
    results = []
    for t in range(2, len(history)):
        train = transitions(history[:t], id_column)
        test = transitions(history[t - 1:t + 1], id_column)
        states = sorted(set(train["segment_id_from"]) | set(train["segment_id_to"])
                        | set(test["segment_id_from"]) | set(test["segment_id_to"]))
        nothing = (None, None)          # no member in both runs: nothing to score (not NaN)
        model = score(fit_matrix(train, states, alpha), test) if len(test) else nothing
        baseline = score(stay_matrix(train, states, alpha), test) if len(test) else nothing
        results.append({"run": t, "transitions_used": int(len(train)), "members": int(len(test)),
                        "accuracy": model[0], "log_loss": model[1],
                        "baseline_accuracy": baseline[0], "baseline_log_loss": baseline[1]})
    return results


def prediction_block(history: list[pd.DataFrame], dates: list[str], id_column: str,
                     alpha: float = ALPHA) -> tuple[dict, pd.DataFrame | None]:
    """The manifest's ``prediction`` block and the members' predictions (None with fewer
    than two earlier runs). ``history`` and ``dates``: earlier runs then this one."""
    if len(history) < 3:
        return ({"written": False, "why": f"{len(history) - 1} earlier run(s) with the same "
                                          "segment ids: at least two are needed to learn and "
                                          "test how members move"}, None)
    moves = transitions(history, id_column)
    current = history[-1]
    states = sorted(set(moves["segment_id_from"]) | set(moves["segment_id_to"])
                    | set(current["segment_id"]))
    matrix = fit_matrix(moves, states, alpha)
    tests = backtest(history, id_column, alpha)
    members = sum(r["members"] for r in tests)

    def pooled(key):
        return (float(sum(r[key] * r["members"] for r in tests if r["members"]) / members)
                if members else None)

    block = {"written": True, "model": f"Markov transition matrix, additive smoothing {alpha}",
             "runs": dates, "transitions_used": int(len(moves)),
             "backtest": [{**r, "run_date": dates[r["run"]]} for r in tests],
             "accuracy": pooled("accuracy"), "log_loss": pooled("log_loss"),
             "baseline_accuracy": pooled("baseline_accuracy"),
             "baseline_log_loss": pooled("baseline_log_loss"),
             "matrix": {str(i): {str(j): round(float(v), 6) for j, v in row.items()}
                        for i, row in matrix.iterrows()}}
    return block, predict(current, matrix, id_column)


def published_history(dataset_dir, run_date, id_column: str, follows: str | None
                      ) -> tuple[list[pd.DataFrame], list[str]]:
    """Members (id, segment_id) of the published runs before ``run_date`` whose ids follow
    one another, oldest first, with their dates.

    A run's ids mean the same as its predecessor's only when they were aligned with it
    (its model's ``extra["ids_follow"]``, the run it followed). The chain starts at the
    run ``follows`` (this run's predecessor; None: this run numbers afresh, so no earlier
    run counts) and goes back until a run that numbered its segments afresh (a first run,
    ``--fresh-ids``, or a run without a usable model), which is its first element.
    """
    import json
    from pathlib import Path

    from segmentation.alignment import PARTITION
    from segmentation.artifact import FILE_NAME

    partitions = {}
    for path in Path(dataset_dir).glob("run_date=*/segments.parquet"):
        match = PARTITION.search(path.parent.name)
        if match and match[1] < str(run_date):
            partitions[match[1]] = path.parent
    chain, day = [], follows
    while day is not None and day in partitions:
        chain.append(day)
        try:
            extra = json.loads((partitions[day] / FILE_NAME).read_text()).get("extra", {})
        except (OSError, ValueError, AttributeError):
            extra = {}
        day = extra.get("ids_follow")
        if day is not None and day >= chain[-1]:   # a chain only goes back in time
            break
    chain.reverse()
    return ([pd.read_parquet(partitions[d] / "segments.parquet", columns=[id_column, "segment_id"])
             for d in chain], chain)
