"""Predicting next membership (segmentation/prediction.py) on histories with known move rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.prediction import (backtest, fit_matrix, predict, prediction_block,
                                     stay_matrix, transitions)

RATES = np.array([[0.80, 0.15, 0.05],      # row: from segment 0, 1, 2; column: to
                  [0.10, 0.70, 0.20],
                  [0.05, 0.05, 0.90]])


def history(runs: int = 6, members: int = 3000, seed: int = 5) -> list[pd.DataFrame]:
    """Members moving between three segments at ``RATES`` each run."""
    rng = np.random.default_rng(seed)
    ids = [f"m{i}" for i in range(members)]
    state = rng.integers(0, 3, members)
    out = []
    for _ in range(runs):
        out.append(pd.DataFrame({"customer_id": ids, "segment_id": state.astype(np.int32)}))
        state = np.array([rng.choice(3, p=RATES[s]) for s in state])
    return out


def test_the_fitted_matrix_recovers_the_planted_move_rates():
    moves = transitions(history(), "customer_id")
    assert len(moves) == 5 * 3000
    matrix = fit_matrix(moves, [0, 1, 2])
    assert np.allclose(matrix.to_numpy(), RATES, atol=0.02)
    assert np.allclose(matrix.sum(axis=1), 1.0)


def test_the_markov_model_beats_stays_in_its_segment_on_log_loss_and_accuracy():
    block, predicted = prediction_block(history(), [f"2026-0{m}-28" for m in range(1, 7)],
                                        "customer_id")
    assert block["written"] and len(block["backtest"]) == 4
    assert block["log_loss"] < block["baseline_log_loss"]
    assert block["accuracy"] >= block["baseline_accuracy"]
    # "stays" is right for 80%/70%/90% of each segment: the most likely move is to stay
    assert block["baseline_accuracy"] == pytest.approx(block["accuracy"], abs=0.02)
    assert block["backtest"][0]["run_date"] == "2026-03-28"
    assert list(predicted.columns) == ["customer_id", "segment_id", "predicted_segment_id",
                                       "p_stay", "p_segment_0", "p_segment_1", "p_segment_2"]
    p = predicted[["p_segment_0", "p_segment_1", "p_segment_2"]].to_numpy()
    assert np.allclose(p.sum(axis=1), 1.0)
    one = predicted[predicted["segment_id"] == 1].iloc[0]
    assert one["p_stay"] == one["p_segment_1"] == pytest.approx(0.70, abs=0.02)


def test_a_move_the_history_makes_often_is_predicted_over_staying():
    rates = np.array([[0.3, 0.7], [0.1, 0.9]])      # segment 0 mostly empties into 1
    rng = np.random.default_rng(2)
    state = rng.integers(0, 2, 2000)
    runs = []
    for _ in range(4):
        runs.append(pd.DataFrame({"customer_id": range(2000), "segment_id": state}))
        state = np.array([rng.choice(2, p=rates[s]) for s in state])
    block, predicted = prediction_block(runs, ["a", "b", "c", "d"], "customer_id")
    assert block["accuracy"] > block["baseline_accuracy"] + 0.05     # right where 0 empties
    assert (predicted.loc[predicted["segment_id"] == 0, "predicted_segment_id"] == 1).all()


def test_with_fewer_than_two_earlier_runs_nothing_is_predicted_and_the_block_says_why():
    block, predicted = prediction_block(history(2), ["2026-01-28", "2026-02-28"], "customer_id")
    assert predicted is None and block == {
        "written": False,
        "why": "1 earlier run(s) with the same segment ids: at least two are needed to learn "
               "and test how members move"}


def test_a_segment_new_this_run_gets_the_pooled_stay_share_and_gone_ones_are_no_destination():
    moves = pd.DataFrame({"segment_id_from": [0, 0, 0, 1], "segment_id_to": [0, 0, 1, 1]})
    matrix = fit_matrix(moves, [0, 1, 2])
    assert matrix.loc[2, 2] == pytest.approx(3 / 4) and matrix.loc[2, 0] == pytest.approx(1 / 8)
    current = pd.DataFrame({"customer_id": ["a", "b"], "segment_id": [0, 2]})
    predicted = predict(current, matrix, "customer_id")
    assert list(predicted.columns)[-2:] == ["p_segment_0", "p_segment_2"]     # 1 is gone
    assert np.allclose(predicted[["p_segment_0", "p_segment_2"]].sum(axis=1), 1.0)


def test_the_baseline_stays_with_the_same_smoothing():
    moves = pd.DataFrame({"segment_id_from": [0, 0, 0, 1], "segment_id_to": [1, 1, 0, 1]})
    stays = stay_matrix(moves, [0, 1])
    assert stays.loc[0, 0] == pytest.approx(4 / 5) and stays.loc[1, 1] == pytest.approx(2 / 3)
    new = stay_matrix(moves, [0, 1, 2])            # 2: new since, stays like the others
    assert new.loc[2, 2] == pytest.approx((2 + 1) / (2 + 3)) and new.loc[2].idxmax() == 2
    results = backtest(history(3, members=500), "customer_id")
    assert [r["run"] for r in results] == [2] and results[0]["transitions_used"] == 500


def _publish(dataset_dir, day: str, follows: str | None, model: bool = True) -> None:
    """A partition with members and (unless ``model`` is False) a model.json whose ids follow
    the run of ``follows``."""
    import json

    folder = dataset_dir / f"run_date={day}"
    folder.mkdir(parents=True)
    pd.DataFrame({"customer_id": ["a", "b"], "segment_id": [0, 1]}).to_parquet(
        folder / "segments.parquet")
    if model:
        (folder / "model.json").write_text(json.dumps({"extra": {"ids_follow": follows}}))


def test_the_history_is_the_chain_of_runs_whose_ids_follow_one_another(tmp_path):
    from segmentation.prediction import published_history

    _publish(tmp_path, "2026-01-31", None)
    _publish(tmp_path, "2026-02-28", "2026-01-31")
    _publish(tmp_path, "2026-03-31", None)               # --fresh-ids: a new chain starts
    _publish(tmp_path, "2026-04-30", "2026-03-31")
    _publish(tmp_path, "2026-05-31", "2026-04-30")
    _publish(tmp_path, "2026-06-30", "2026-05-31")       # this run's own date: not history
    runs, dates = published_history(tmp_path, "2026-06-30", "customer_id", "2026-05-31")
    assert dates == ["2026-03-31", "2026-04-30", "2026-05-31"]
    assert len(runs) == 3 and list(runs[0].columns) == ["customer_id", "segment_id"]
    # this run numbered afresh: no earlier run shares its ids
    assert published_history(tmp_path, "2026-06-30", "customer_id", None) == ([], [])
    # a run before models were saved ends the chain, and is its first run
    _publish(tmp_path, "2025-12-31", None, model=False)
    assert published_history(tmp_path, "2026-02-01", "customer_id", "2026-01-31")[1] == [
        "2026-01-31"]


def test_a_run_without_a_model_starts_the_chain(tmp_path):
    from segmentation.prediction import published_history

    _publish(tmp_path, "2026-01-31", None)
    _publish(tmp_path, "2026-02-28", None, model=False)
    _publish(tmp_path, "2026-03-31", "2026-02-28")
    assert published_history(tmp_path, "2026-04-30", "customer_id", "2026-03-31")[1] == [
        "2026-02-28", "2026-03-31"]


def test_a_history_where_no_member_stays_has_no_backtest_score_and_plain_json():
    import json

    from segmentation.report import prediction_line

    runs = [pd.DataFrame({"customer_id": ["a", "b"], "segment_id": [0, 1]}),
            pd.DataFrame({"customer_id": ["a", "b"], "segment_id": [1, 1]}),
            pd.DataFrame({"customer_id": ["c", "d"], "segment_id": [0, 1]})]  # all new ids
    block, predicted = prediction_block(runs, ["2026-01-31", "2026-02-28", "2026-03-31"],
                                        "customer_id")
    assert block["written"] and block["backtest"][0]["members"] == 0
    assert block["accuracy"] is None and block["baseline_log_loss"] is None
    json.dumps(block, allow_nan=False)                     # the manifest stays valid JSON
    assert "no backtest: no member was in two consecutive runs" in prediction_line(block)
    assert len(predicted) == 2
