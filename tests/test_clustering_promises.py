"""Promises of segmentation/clustering.py the mutation run found untested (issue 22): the
profile row of each segment (docs/outputs.md, ``profiles.parquet``) under stable ids, the
confidence columns, and ``segment``'s own rules. Pure functions on tiny tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.clustering import Scaling, confidence_columns, profiles_table, segment
from segmentation.errors import InputError
from segmentation.kselect import NoSegments


def test_each_profile_row_counts_its_own_segment_s_members_and_atypical_ones():
    """Stable ids need not follow size (segment 10 is the smaller here) and a segment may
    have no atypical member: each row holds its own segment's size, share and count."""
    labels = np.array([11, 11, 10, 11])
    centroids = pd.DataFrame({"income": [1.0, 2.0]}, index=pd.Index([10, 11], name="segment_id"))
    atypical = np.array([True, False, False, False])            # only in segment 11
    table = profiles_table(labels, {10: "Small", 11: "Big"}, centroids, atypical)
    assert table.to_dict("list") == {"segment_id": [10, 11], "segment_name": ["Small", "Big"],
                                     "size": [1, 3], "share": [0.25, 0.75], "atypical": [0, 1],
                                     "income": [1.0, 2.0]}


def alike(rows: int) -> np.ndarray:
    """``rows`` rows, each [1, 5]: every column constant, the columns unlike each other."""
    return np.tile([1.0, 5.0], (rows, 1))


def test_rows_that_are_all_alike_are_refused_as_such_from_three_rows():
    """Alike means every column constant (not every value equal), and three alike rows are
    already "alike"; two rows are refused for their count."""
    for rows in (3, 40):
        with pytest.raises(NoSegments) as refused:
            segment(alike(rows), unit="meters")
        assert str(refused.value) == (f"all {rows} meters have the same values of the features: "
                                      "there are no segments to find. Nothing was published")
    with pytest.raises(NoSegments, match="only 2 meters: at least 3 are needed"):
        segment(alike(2), unit="meters")


def test_integer_columns_are_scaled_as_their_floats():
    """Counts and ages arrive as integers (a new member's row too): the same scaled rows."""
    ints = pd.DataFrame({"age": [19, 35, 52, 70], "visits": [1, 1, 4, 9]})
    floats = ints.astype(float)
    scaling = Scaling.fit(ints)
    assert scaling == Scaling.fit(floats)
    assert np.array_equal(scaling.apply(ints), scaling.apply(floats))


def test_weights_apply_when_no_column_keeps_weight_one():
    """Every column weighted (none left at 1.0, or all at 2.0): each is still multiplied."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": [0.0, 0.0, 6.0]})
    plain = Scaling.fit(frame).apply(frame)
    for weights in ({"a": 0.5, "c": 2.0}, {"a": 2.0, "c": 2.0}):
        weighted = Scaling.fit(frame, weights).apply(frame)
        assert weighted == pytest.approx(plain * [weights["a"], weights["c"]])


def test_the_segment_probability_column_is_float_even_from_whole_numbers():
    """``segment_probability`` is float64 in the contract (docs/outputs.md), whatever the
    probabilities' own type; low confidence is below the threshold."""
    columns = confidence_columns(np.array([1, 0]), 0.6)
    assert columns["segment_probability"].dtype == np.float64
    assert columns["is_low_confidence"].tolist() == [False, True]


def test_a_k_given_to_hdbscan_is_refused_with_the_reason():
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(InputError) as refused:
        segment(X, k=3, algorithm="hdbscan")
    assert str(refused.value) == ("--k 3 cannot be used with --algorithm hdbscan: it finds its "
                                  "own number of segments (its minimum size is "
                                  "--min-segment-size)")


def test_a_given_k_is_measured_the_same_way_on_every_run():
    """Determinism with the seed covers the metrics recorded for a user's k (its stability
    goes into the manifest and the report), not only the labels."""
    X = np.random.default_rng(7).normal(size=(90, 2))              # no clear groups: resamples vary
    first, again = (segment(X, k=3, n_boot=3) for _ in range(2))
    assert first.selection.metrics.equals(again.selection.metrics)
    assert np.array_equal(first.labels, again.labels)


def test_k_is_chosen_over_two_to_ten_with_the_run_s_seed_bootstraps_and_algorithm(overlapping):
    """The run's seed, bootstrap count and algorithm reach k selection, a given k's metrics
    and the final model (refitted with the same seed: the model the metrics describe)."""
    from segmentation.kselect import fixed_k, select_k

    X = overlapping
    chosen = segment(X, seed=5, n_boot=3)
    assert chosen.selection.metrics["k"].tolist() == list(range(2, 11))
    assert chosen.selection.metrics.equals(select_k(X, seed=5, n_boot=3).metrics)
    assert chosen.model.seed == 5 and chosen.model.k_ == chosen.selection.k
    given = segment(X, k=3, seed=5, n_boot=3)
    assert given.selection.metrics.equals(fixed_k(X, 3, seed=5, n_boot=3).metrics)
    assert not given.selection.metrics.equals(segment(X, k=3, seed=6, n_boot=3).selection.metrics)
    assert not given.selection.metrics.equals(segment(X, k=3, seed=5, n_boot=4).selection.metrics)
    gmm = segment(X, k=3, n_boot=2, algorithm="gmm")
    assert gmm.selection.metrics["bic"].notna().all() and gmm.model.mixture_ is not None


def test_the_run_s_silhouette_is_its_final_model_s(overlapping, monkeypatch):
    """The silhouette in the report and manifest is that of the published labels: the chosen
    k's own when k was chosen on every row, that of all rows (sampled with the run's seed)
    when k was chosen on a sample."""
    import segmentation.kselect as kselect
    from sklearn.metrics import silhouette_score

    X = overlapping
    whole = segment(X, seed=5, n_boot=2)
    assert whole.silhouette == whole.selection.metrics.set_index("k").loc[whole.selection.k,
                                                                           "silhouette"]
    assert whole.silhouette == silhouette_score(X, whole.labels)
    monkeypatch.setattr(kselect, "SELECTION_SAMPLE", 150)     # k chosen on 150 of 240 rows
    monkeypatch.setattr(kselect, "SILHOUETTE_SAMPLE", 200)    # silhouette on 200 of 240
    sampled = segment(X, seed=5, n_boot=2)
    keep = np.random.default_rng(5).choice(240, size=200, replace=False)
    assert sampled.silhouette == pytest.approx(
        silhouette_score(X[keep], sampled.labels[keep]), abs=1e-12)
    assert sampled.silhouette != sampled.selection.metrics.set_index("k").loc[
        sampled.selection.k, "silhouette"]
