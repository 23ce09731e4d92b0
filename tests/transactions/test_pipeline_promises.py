"""The purchase-log run's segmenting step as a pure function (segmentation/transactions/
pipeline.py, docs/transactions.md): the customer-table view of the features, the options it
is given reaching the segmentation (policies, k, seed, size floor, algorithm, the previous
run's model), the flow's defaults, and the model it saves."""

from datetime import date

import pandas as pd
import pytest

from segmentation.customers.config import CustomerConfig
from segmentation.transactions.features import CLUSTER_FEATURES
from segmentation.transactions.pipeline import (features_config, model_artifact,
                                                segment_transactions)
from tests.transactions.test_naming import planted


@pytest.fixture(scope="module")
def frame():
    return planted(n_per_group=25).drop(columns="planted")


def test_the_features_are_a_customer_table_of_the_six_clustering_features():
    """Clustering uses the first six features, with the customer tables' rules: log of
    right-skewed columns (``--transform auto``) and outliers flagged (the defaults)."""
    assert features_config() == CustomerConfig("customer_id", CLUSTER_FEATURES,
                                               transform="auto", outliers="flag")
    chosen = features_config("none", "winsorize")
    assert (chosen.transform, chosen.outliers) == ("none", "winsorize")


def test_the_transform_and_outlier_policies_given_are_the_ones_used(frame):
    """By default right-skewed money is log-transformed and outliers are flagged; the policies
    passed in (``--transform none``, ``--outliers winsorize``) are the ones applied."""
    default, cleaning = segment_transactions(frame, k=2)
    assert default.transforms["monetary"]["transform"] == "log1p"
    assert cleaning["outlier_policy"] == "flag"
    chosen, cleaning = segment_transactions(frame, k=2, transform="none", outliers="winsorize")
    assert {t["transform"] for t in chosen.transforms.values()} == {"none"}
    assert cleaning["outlier_policy"] == "winsorize"


def test_the_winsorizing_fences_go_into_the_model_s_space(frame):
    """A saved model cleans new rows with the run's fences, never their own: the fences the
    run pulled values in to are in the model's space, one per clustering feature."""
    result, _ = segment_transactions(frame, k=2, outliers="winsorize")
    fences = result.space["winsorize_fences"]
    assert list(fences) == list(CLUSTER_FEATURES)
    q1, q3 = frame["recency_days"].quantile([0.25, 0.75])
    assert fences["recency_days"] == pytest.approx([q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)])


def test_a_given_k_is_the_number_of_segments(frame):
    result, _ = segment_transactions(frame, k=3)
    assert sorted(result.segments["segment_id"].unique()) == [0, 1, 2]


@pytest.mark.parametrize("bounds, ks", [({}, list(range(2, 11))),
                                        ({"k_min": 3, "k_max": 5}, [3, 4, 5])])
def test_without_k_it_is_chosen_between_k_min_and_k_max_by_default_2_and_10(frame, bounds, ks):
    """The flow's defaults (``--k-min 2``, ``--k-max 10``) are the function's; bounds given
    are the ones searched."""
    result, _ = segment_transactions(frame, **bounds)
    assert result.result.selection.metrics["k"].tolist() == ks


def test_the_seed_is_42_by_default_and_a_seed_given_is_used(frame):
    """The run's seed (42, as the flow's) makes it repeatable; another seed resamples the
    stability bootstrap differently."""
    def stability(**seed):
        result, _ = segment_transactions(frame, k_min=2, k_max=4, **seed)
        return result.result.selection.metrics["stability"].tolist()

    assert stability() == stability(seed=42)
    assert stability(seed=7) != stability(seed=42)


def test_a_size_floor_given_is_the_one_applied(frame):
    """``min_size`` (``--min-segment-size``): with groups of 25, a floor of 20 allows 4
    segments; a floor of 30 that no k meets refuses the run, naming the option."""
    from segmentation.kselect import NoSegments

    free, _ = segment_transactions(frame, k_min=4, k_max=4, min_size=20)
    assert free.result.selection.metrics["feasible"].tolist() == [True]
    with pytest.raises(NoSegments, match="--min-segment-size"):
        segment_transactions(frame, k_min=2, k_max=4, min_size=30)


def test_the_algorithm_given_clusters(frame):
    """``clustering``: the algorithm of ``customers.pipeline.segment_customers``."""
    result, _ = segment_transactions(frame, k=2, algorithm="gmm")
    assert result.result.algorithm == "gmm"


def test_with_the_previous_run_s_model_segment_ids_follow_it(frame):
    """With the previous run's model a segment keeps its id (its run date recorded); without,
    0 is the largest. Here a group that was not the largest doubles after the first run."""
    before, _ = segment_transactions(frame, k=4)
    model = model_artifact(before, dataset="shop", run_date=date(2011, 11, 30))
    old_id = dict(zip(before.segments["customer_id"], before.segments["segment_id"]))
    grown_group = next(c for c, s in old_id.items() if s != 0)[:3]
    extra = frame[frame["customer_id"].str.startswith(grown_group)].assign(
        customer_id=lambda f: f["customer_id"] + "b")
    grown = pd.concat([frame, extra], ignore_index=True)
    after, _ = segment_transactions(grown, k=4, previous=model,
                                    previous_run_date="2011-11-30")
    fresh, _ = segment_transactions(grown, k=4)
    grown_ids = [c for c in grown["customer_id"] if c.startswith(grown_group)]
    assert after.segments.set_index("customer_id")["segment_id"].loc[grown_ids].eq(
        old_id[grown_ids[0]]).all()
    assert fresh.segments.set_index("customer_id")["segment_id"].loc[grown_ids].eq(0).all()
    assert after.alignment.previous_run_date == "2011-11-30"


def test_the_members_rows_carry_the_feature_table_s_columns_whatever_its_index(frame):
    """The segments: every column of the feature table on the members' rows, in order, then
    the segment columns; the table's index is not one of them."""
    result, _ = segment_transactions(frame.set_axis(frame.index + 1000), k=2)
    columns = result.segments.columns.tolist()
    assert columns[:len(frame.columns)] == frame.columns.tolist()
    assert "index" not in columns
    assert result.segments["customer_id"].tolist() == frame["customer_id"].tolist()


def test_the_model_says_what_run_it_is_of(frame):
    """model.json: a transactions model of the run's dataset and date."""
    result, _ = segment_transactions(frame, k=2)
    model = model_artifact(result, dataset="shop", run_date=date(2011, 12, 9))
    assert (model.kind, model.dataset, model.run_date) == ("transactions", "shop", "2011-12-09")
