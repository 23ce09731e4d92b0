"""Who moves next (segmentation/prediction.py), promise by promise on tiny histories whose
counts are worked out by hand: the transitions of consecutive runs, the smoothed matrix
(alpha per cell, row-normalised; a segment new this run gets the pooled stay share), the
"stays in its segment" baseline with the same smoothing, the members' probabilities, and
the backtest that scores both (docs/outputs.md, "Who moves next" and `predictions.parquet`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.prediction import (backtest, fit_matrix, predict, prediction_block, score,
                                     stay_matrix, transitions)


def run(members: dict) -> pd.DataFrame:
    """One published run: member id -> segment_id."""
    return pd.DataFrame({"customer_id": list(members), "segment_id": list(members.values())})


def moves(*pairs) -> pd.DataFrame:
    return pd.DataFrame({"segment_id_from": [a for a, _ in pairs],
                         "segment_id_to": [b for _, b in pairs]})


# ------------------------------------------------------------------ transitions

def test_transitions_pair_each_member_s_segments_in_consecutive_runs_by_id():
    history = [run({"a": 0, "b": 1, "c": 1}), run({"c": 2, "a": 0, "d": 1}),
               run({"a": 1, "d": 1, "c": 2})]
    got = transitions(history, "customer_id")
    # run 1 -> 2: a 0->0, c 1->2 (b left, d joined); run 2 -> 3: c 2->2, a 0->1, d 1->1
    assert sorted(zip(got["segment_id_from"], got["segment_id_to"])) == \
        sorted([(0, 0), (1, 2), (2, 2), (0, 1), (1, 1)])
    assert list(got.columns) == ["segment_id_from", "segment_id_to"]
    assert got.index.tolist() == list(range(5))
    assert all(np.issubdtype(t, np.integer) for t in got.dtypes)


def test_a_single_run_has_no_transitions():
    got = transitions([run({"a": 0})], "customer_id")
    assert len(got) == 0 and list(got.columns) == ["segment_id_from", "segment_id_to"]
    assert all(np.issubdtype(t, np.integer) for t in got.dtypes)


# ------------------------------------------------------------------ the matrix

def test_the_matrix_is_the_transition_counts_plus_alpha_per_cell_row_normalised():
    observed = moves((0, 0), (0, 0), (0, 0), (0, 1), (1, 0), (1, 1), (1, 1))
    matrix = fit_matrix(observed, [0, 1])
    assert matrix.index.tolist() == [0, 1] and matrix.columns.tolist() == [0, 1]
    assert matrix.to_numpy() == pytest.approx(np.array([[4 / 6, 2 / 6], [2 / 5, 3 / 5]]))
    once = fit_matrix(moves((0, 1)), [0, 1])          # left from once: its own smoothed row
    assert once.loc[0].tolist() == pytest.approx([1 / 3, 2 / 3])
    half = fit_matrix(observed, [0, 1], alpha=0.5)
    assert half.to_numpy() == pytest.approx(np.array([[3.5 / 5, 1.5 / 5], [1.5 / 4, 2.5 / 4]]))


def test_a_segment_never_left_from_gets_the_pooled_stay_share_and_the_rest_evenly():
    observed = moves((0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (1, 0))   # 4 of 6 stayed
    matrix = fit_matrix(observed, [0, 1, 2, 3])
    assert matrix.loc[2].tolist() == pytest.approx([1 / 9, 1 / 9, 4 / 6, 1 / 9])
    assert matrix.loc[3].tolist() == pytest.approx([1 / 9, 1 / 9, 1 / 9, 4 / 6])
    # the rows that were seen keep their smoothed counts: (2 + 1) / (3 + 4)
    assert matrix.loc[0, 0] == pytest.approx(3 / 7) and matrix.loc[0, 3] == pytest.approx(1 / 7)
    assert np.allclose(matrix.sum(axis=1), 1.0)


def test_without_any_history_a_segment_stays_with_even_odds_and_alone_it_surely_stays():
    none = fit_matrix(moves(), [4, 7])
    assert none.to_numpy() == pytest.approx(np.array([[0.5, 0.5], [0.5, 0.5]]))
    three = fit_matrix(moves(), [1, 2, 3])
    assert three.loc[1].tolist() == pytest.approx([0.5, 0.25, 0.25])
    alone = fit_matrix(moves(), [5])
    assert alone.loc[5, 5] == 1.0


def test_the_baseline_keeps_every_member_in_its_segment_with_the_same_smoothing():
    observed = moves((0, 1), (0, 1), (0, 0), (1, 0), (2, 2), (2, 2), (2, 2), (2, 0))
    stays = stay_matrix(observed, [0, 1, 2, 3])
    # members seen leaving 0, 1, 2: 3, 1, 4; segment 3 counts as their mean, 8 / 3
    assert stays.loc[0].tolist() == pytest.approx([4 / 7, 1 / 7, 1 / 7, 1 / 7])
    assert stays.loc[1].tolist() == pytest.approx([1 / 5, 2 / 5, 1 / 5, 1 / 5])
    assert stays.loc[2, 2] == pytest.approx(5 / 8)
    assert stays.loc[3, 3] == pytest.approx((8 / 3 + 1) / (8 / 3 + 4))
    assert stays.index.tolist() == [0, 1, 2, 3] == stays.columns.tolist()
    assert stay_matrix(observed, [0, 1, 2, 3], alpha=2.0).loc[1, 1] == pytest.approx(3 / 9)


def test_the_baseline_is_labelled_by_the_segment_ids_whatever_they_are():
    stays = stay_matrix(moves((5, 5), (5, 2)), [2, 5])
    assert stays.index.tolist() == [2, 5] == stays.columns.tolist()
    assert stays.loc[5, 5] == pytest.approx(3 / 4) and stays.loc[2, 2] == pytest.approx(3 / 4)
    assert score(stays, moves((5, 5), (2, 2)))[0] == 1.0


def test_a_baseline_without_history_counts_one_member_per_segment():
    assert stay_matrix(moves(), [0, 1]).to_numpy() == pytest.approx(
        np.array([[2 / 3, 1 / 3], [1 / 3, 2 / 3]]))


# ------------------------------------------------------------------ the members' chances

def test_each_member_gets_its_segment_s_row_renormalised_over_this_run_s_segments():
    matrix = pd.DataFrame([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]],
                          index=[0, 3, 5], columns=[0, 3, 5])
    current = pd.DataFrame({"customer_id": ["x", "y", "z", "w"], "segment_id": [5, 0, 5, 0]},
                           index=[10, 11, 12, 13])
    got = predict(current, matrix, "customer_id")       # segment 3 is gone: no destination
    assert list(got.columns) == ["customer_id", "segment_id", "predicted_segment_id", "p_stay",
                                 "p_segment_0", "p_segment_5"]
    assert got["customer_id"].tolist() == ["x", "y", "z", "w"]
    assert got["segment_id"].tolist() == [5, 0, 5, 0] and got["segment_id"].dtype == np.int32
    assert got["predicted_segment_id"].tolist() == [0, 5, 0, 5]
    assert got["predicted_segment_id"].dtype == np.int32
    assert got["p_segment_0"].tolist() == pytest.approx([0.75, 0.4, 0.75, 0.4])
    assert got["p_segment_5"].tolist() == pytest.approx([0.25, 0.6, 0.25, 0.6])
    assert got["p_stay"].tolist() == pytest.approx([0.25, 0.4, 0.25, 0.4])


# ------------------------------------------------------------------ scoring and the backtest

def test_accuracy_and_log_loss_are_taken_over_the_moves_of_known_segments():
    matrix = pd.DataFrame([[0.7, 0.3], [0.4, 0.6]], index=[0, 1], columns=[0, 1])
    accuracy, log_loss = score(matrix, moves((0, 0), (0, 1), (1, 1), (1, 1), (9, 0), (0, 9)))
    assert accuracy == pytest.approx(3 / 4)
    assert log_loss == pytest.approx(-(np.log(0.7) + np.log(0.3) + 2 * np.log(0.6)) / 4)
    certain = pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], index=[0, 1], columns=[0, 1])
    assert score(certain, moves((0, 1)))[1] == pytest.approx(-np.log(1e-12))   # finite


def test_each_backtest_run_is_predicted_from_the_moves_before_it():
    history = [run({"a": 0, "b": 0, "c": 1}), run({"a": 0, "b": 1, "c": 1}),
               run({"a": 1, "b": 1, "c": 1, "d": 0}), run({"a": 1, "b": 0, "c": 0})]
    results = backtest(history, "customer_id")
    assert [r["run"] for r in results] == [2, 3]
    assert [r["transitions_used"] for r in results] == [3, 6]
    assert [r["members"] for r in results] == [3, 3]
    train = moves((0, 0), (0, 1), (1, 1))
    test = moves((0, 1), (1, 1), (1, 1))
    first = results[0]
    assert (first["accuracy"], first["log_loss"]) == pytest.approx(
        score(fit_matrix(train, [0, 1]), test))
    assert (first["baseline_accuracy"], first["baseline_log_loss"]) == pytest.approx(
        score(stay_matrix(train, [0, 1]), test))
    assert backtest(history, "customer_id", alpha=3.0)[0]["log_loss"] == pytest.approx(
        score(fit_matrix(train, [0, 1], alpha=3.0), test)[1])


def test_a_backtest_fits_every_segment_its_training_moves_name_even_ones_left_or_emptied():
    # 3 is left from and never entered; 2 is entered, then its member leaves the dataset
    history = [run({"a": 0, "b": 0, "c": 1, "d": 3}), run({"a": 0, "b": 2, "c": 1, "d": 0}),
               run({"a": 0, "c": 1, "d": 0})]
    [result] = backtest(history, "customer_id")
    train = moves((0, 0), (0, 2), (1, 1), (3, 0))
    test = moves((0, 0), (1, 1), (0, 0))
    states = [0, 1, 2, 3]
    assert (result["accuracy"], result["log_loss"]) == pytest.approx(
        score(fit_matrix(train, states), test))
    assert (result["baseline_accuracy"], result["baseline_log_loss"]) == pytest.approx(
        score(stay_matrix(train, states), test))
    [smoothed] = backtest(history, "customer_id", alpha=3.0)
    assert smoothed["baseline_log_loss"] == pytest.approx(
        score(stay_matrix(train, states, alpha=3.0), test)[1])


def test_the_block_s_matrix_covers_every_segment_of_the_history_and_this_run():
    # 2 was entered once and is empty now; 3 is new this run
    history = [run({"a": 0, "b": 1, "c": 1}), run({"a": 0, "b": 2, "c": 1}),
               run({"a": 1, "c": 1, "e": 3})]
    block, predicted = prediction_block(history, ["d1", "d2", "d3"], "customer_id", alpha=2.0)
    assert sorted(block["matrix"]) == ["0", "1", "2", "3"]
    assert all(sorted(row) == ["0", "1", "2", "3"] for row in block["matrix"].values())
    matrix = fit_matrix(transitions(history, "customer_id"), [0, 1, 2, 3], alpha=2.0)
    assert block["matrix"]["3"]["3"] == round(float(matrix.loc[3, 3]), 6)
    assert block["matrix"]["0"]["2"] == round(float(matrix.loc[0, 2]), 6)
    assert block["model"] == "Markov transition matrix, additive smoothing 2.0"
    assert block["backtest"] == [{**r, "run_date": "d3"}
                                 for r in backtest(history, "customer_id", alpha=2.0)]
    assert list(predicted.columns)[-2:] == ["p_segment_1", "p_segment_3"]


def test_a_backtest_knows_segments_that_appear_only_in_the_run_it_predicts():
    history = [run({"a": 0, "b": 1}), run({"a": 0, "b": 1}), run({"a": 2, "b": 1})]
    [result] = backtest(history, "customer_id")
    # segment 2 appears in the predicted run only: the model and the baseline score its move
    assert result["members"] == 2 and result["accuracy"] == 0.5
    assert result["log_loss"] == pytest.approx(
        -(np.log(1 / 4) + np.log(2 / 4)) / 2)


def test_the_block_pools_the_backtest_by_members_and_keeps_the_matrix_rounded():
    history = [run({"a": 0, "b": 0, "c": 1}), run({"a": 0, "b": 1, "c": 1}),
               run({"a": 1, "b": 1, "c": 1, "d": 0}), run({"a": 1, "b": 0, "e": 0})]
    dates = ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    block, predicted = prediction_block(history, dates, "customer_id")
    tests = backtest(history, "customer_id")
    weights = [r["members"] for r in tests]
    assert weights == [3, 2]
    assert block["written"] is True
    assert block["model"] == "Markov transition matrix, additive smoothing 1.0"
    assert block["runs"] == dates and block["transitions_used"] == 8
    assert block["backtest"] == [{**r, "run_date": d} for r, d in zip(tests, dates[2:])]
    for key in ("accuracy", "log_loss", "baseline_accuracy", "baseline_log_loss"):
        assert block[key] == pytest.approx(np.average([r[key] for r in tests], weights=weights))
    matrix = fit_matrix(transitions(history, "customer_id"), [0, 1])
    assert block["matrix"] == {str(i): {str(j): round(float(matrix.loc[i, j]), 6)
                                        for j in (0, 1)} for i in (0, 1)}
    assert block["matrix"]["0"] == {"0": 0.4, "1": 0.6}                  # 0->0 once, 0->1 twice
    assert predicted["customer_id"].tolist() == ["a", "b", "e"]
    assert predicted["p_segment_0"].tolist() == pytest.approx(matrix.loc[[1, 0, 0], 0].tolist())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")      # the mean of no members is NaN
def test_a_block_whose_backtest_shares_no_member_pools_nothing():
    history = [run({"a": 0, "b": 1}), run({"a": 1, "b": 1}), run({"c": 0, "d": 1})]
    block, predicted = prediction_block(history, ["d1", "d2", "d3"], "customer_id")
    assert block["backtest"][0]["members"] == 0
    assert block["accuracy"] is None and block["baseline_log_loss"] is None
    assert predicted["customer_id"].tolist() == ["c", "d"]


def test_with_two_runs_or_fewer_the_block_says_how_many_earlier_runs_there_were():
    block, predicted = prediction_block([run({"a": 0})], ["d1"], "customer_id")
    assert predicted is None and block["written"] is False
    assert block["why"].startswith("0 earlier run(s)")
    assert prediction_block([run({"a": 0})] * 3, ["d1", "d2", "d3"], "customer_id")[0]["written"]
