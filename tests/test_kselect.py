"""k selection end to end: determinism, the metrics contract, the range, the user's k, sampling."""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

import segmentation.kselect as kselect
from segmentation.errors import InputError
from segmentation.clustering import segment
from segmentation.kselect import (METRIC_COLUMNS, MIN_STABILITY, NoSegments, find_knee, fixed_k,
                                  sampled_silhouette, select_k, selection_rows)
from segmentation.model import SegmentModel, min_segment_size


def test_same_input_and_seed_give_the_same_metrics_and_another_seed_does_not(overlapping,
                                                                           monkeypatch):
    monkeypatch.setattr(kselect, "SILHOUETTE_SAMPLE", 150)        # exercise the sampled paths
    monkeypatch.setattr(kselect, "SELECTION_SAMPLE", 200)
    first = select_k(overlapping, 2, 5, seed=42).metrics
    assert first.equals(select_k(overlapping, 2, 5, seed=42).metrics)
    other = select_k(overlapping, 2, 5, seed=7).metrics
    assert not np.allclose(first["stability"], other["stability"])
    assert not np.allclose(first["silhouette"], other["silhouette"])


def test_k_is_chosen_on_the_sample_of_the_given_seed_with_the_given_bootstraps(overlapping,
                                                                              monkeypatch):
    monkeypatch.setattr(kselect, "SELECTION_SAMPLE", 150)
    chosen = select_k(overlapping, 2, 4, seed=7, n_boot=4)
    rows = overlapping[selection_rows(len(overlapping), 7)]
    assert chosen.metrics.equals(kselect.evaluate_k_range(rows, [2, 3, 4], seed=7, n_boot=4))
    assert chosen.rule.startswith("chosen on a seeded sample of 150 of 240 rows: ")
    default = select_k(overlapping, 2, 4, seed=7)
    assert default.metrics.equals(kselect.evaluate_k_range(rows, [2, 3, 4], seed=7, n_boot=10))
    assert chosen.weak_structure is False


def test_the_default_range_is_two_to_ten_and_noise_is_weak_structure():
    noise = np.random.default_rng(0).normal(size=(300, 2))
    selection = select_k(noise)
    assert selection.metrics["k"].tolist() == list(range(2, 11))
    assert selection.weak_structure is True


def test_metrics_have_the_documented_columns_and_values(overlapping):
    metrics = select_k(overlapping, 2, 4).metrics
    assert list(metrics.columns) == METRIC_COLUMNS and metrics["feasible"].dtype == bool
    for _, row in metrics.iterrows():
        model = SegmentModel(int(row["k"])).fit(overlapping)
        sizes = np.bincount(model.labels_)
        assert row["smallest_share"] == sizes.min() / len(overlapping)
        assert row["atypical"] == model.atypical_.sum() and row["note"] == ""
        assert row["inertia"] == pytest.approx(model.inertia_)
        assert np.isfinite([row["calinski_harabasz"], row["davies_bouldin"]]).all()


def test_infeasible_k_keeps_a_row_with_its_reason_and_empty_notes_are_strings():
    X = np.arange(12, dtype=float).reshape(-1, 1)           # 3 segments of >= 5 need 15 rows
    metrics = select_k(X, 2, 3).metrics.set_index("k")
    assert metrics.loc[2, "note"] == "" and metrics.loc[2, "feasible"]
    assert not metrics.loc[3, "feasible"] and "cannot form 3 segments" in metrics.loc[3, "note"]


def test_the_range_stops_below_the_number_of_rows():
    X = np.r_[np.zeros(10), np.full(10, 5.0)].reshape(-1, 1) + np.linspace(0, 0.1, 20)[:, None]
    assert select_k(X, 2, 30).metrics["k"].tolist() == list(range(2, 20))    # k_max = rows - 1
    below = select_k(X, 20, 30)             # nothing in range: the largest feasible k below it
    assert below.k == 3 and below.metrics["k"].tolist() == [3]    # a group of 10 splits 5 + 5
    assert below.metrics["k"].dtype == np.int64 and below.metrics["feasible"].dtype == bool


def test_no_feasible_k_in_range_takes_the_largest_feasible_k_below_it_and_says_so():
    groups = [np.full(6, c) for c in (0.0, 10.0, 20.0)]       # 3 tight groups of 6: k=3 fits
    X = (np.concatenate(groups) + np.tile(np.linspace(0, 0.1, 6), 3)).reshape(-1, 1)
    selection = select_k(X, 4, 10, unit="meters")
    assert selection.k == 3 and selection.knee is None
    assert selection.rule == ("18 meters allow at most 3 segments of at least 5, and no k in the "
                              "range 4-10 gives segments that all reach it: k=3, the largest "
                              "feasible k below the range")
    metrics = selection.metrics
    assert metrics["k"].tolist() == [3, *range(4, 11)]          # the k taken, then the range
    assert metrics["feasible"].tolist() == [True] + [False] * 7
    smaller_floor = select_k(X, 4, 10, min_size=3)               # k in the range again
    assert smaller_floor.k >= 4 and "below the range" not in smaller_floor.rule


def test_a_capped_range_says_how_many_segments_the_rows_allow():
    X, _ = make_blobs(n_samples=20, centers=[[0, 0], [9, 9]], cluster_std=0.5, random_state=1)
    selection = select_k(X, 2, 10, unit="meters")
    assert selection.rule.startswith("20 meters allow at most 4 segments of at least 5; ")
    assert not selection.metrics.set_index("k").loc[5:, "feasible"].any()
    assert select_k(X, 2, 10).rule.startswith("20 rows allow at most 4 segments of at least 5; ")
    assert not select_k(X, 2, 4).rule.startswith("20 rows allow")    # the cap is not binding


@pytest.mark.parametrize("n", range(1, 31))
def test_every_size_from_1_to_30_gives_segments_or_one_clear_refusal(n):
    """The k rule never fails with a bare error: k segments that reach the floor, or
    ``NoSegments`` naming the count and the options."""
    X = np.random.default_rng(n).normal(size=(n, 2))
    X[: n // 2] += 6                                            # two loose groups
    try:
        result = segment(X, k_min=3, k_max=10, unit="meters")
    except NoSegments as err:
        assert n < 10 or "k-means finds no 2 segments" in str(err)
        assert f"{n} meters" in str(err) and "Nothing was published" in str(err)
        if n >= 3:
            assert "--min-segment-size" in str(err)
        return
    sizes = np.bincount(result.labels)
    floor = min_segment_size(n)
    assert n >= 10 and result.selection.k == len(sizes) >= 2 and sizes.min() >= floor
    assert result.selection.k <= n // floor
    if result.selection.k < 3:
        assert "the largest feasible k below the range" in result.selection.rule


@pytest.mark.parametrize("rows", [np.ones((200, 3)), np.tile([1.0, 2.0], (7, 1))])
def test_identical_rows_have_no_segments_to_find(rows):
    with pytest.raises(NoSegments, match=f"^all {len(rows)} customers have the same values of "
                                         "the features: there are no segments to find"):
        segment(rows, unit="customers")


def test_a_constant_column_and_duplicated_rows_still_segment():
    X = np.c_[np.full(40, 3.0), np.r_[np.zeros(20), np.ones(20)]]   # one column constant
    assert np.bincount(segment(X).labels).tolist() == [20, 20]
    duplicated = np.repeat([[0.0], [5.0], [9.0]], 10, axis=0)       # 3 distinct rows, 30 times
    result = segment(duplicated, k_min=2, k_max=10)
    assert result.selection.k == 3 and np.bincount(result.labels).tolist() == [10, 10, 10]


def test_a_given_k_the_rows_cannot_hold_is_refused_in_words():
    X = np.arange(12, dtype=float).reshape(-1, 1)
    with pytest.raises(InputError, match="^--k 12 needs more than 12 customers, and there are 12"):
        segment(X, k=12, unit="customers")
    with pytest.raises(InputError, match="a smaller --min-segment-size"):
        segment(X, k=3)                                   # 3 segments of 5 need 15 rows
    assert np.bincount(segment(X, k=3, min_size=4).labels).min() >= 4


def test_fewer_than_three_rows_name_the_count():
    for n in (0, 1, 2):
        with pytest.raises(NoSegments, match=f"^only {n} rows: at least 3 are needed to form 2 "
                                             "segments, so there are no segments to publish. "
                                             "Options: more rows. Nothing was published$"):
            segment(np.arange(n, dtype=float).reshape(-1, 1))


def test_too_few_rows_for_the_floor_name_the_floor_and_where_it_comes_from():
    X = np.arange(9, dtype=float).reshape(-1, 1)
    with pytest.raises(NoSegments) as default:
        segment(X, unit="customers")
    assert str(default.value).startswith(
        "9 customers cannot form 2 segments of at least 5 members each (the default floor: "
        "max(2% of the customers, 5)), so there are no segments to publish. Options: a smaller "
        "floor with --min-segment-size (e.g. --min-segment-size 2), or more customers.")
    with pytest.raises(NoSegments, match=r"at least 6 members each \(the floor set by "
                                         r"--min-segment-size\)"):
        segment(np.arange(11, dtype=float).reshape(-1, 1), min_size=6)


def test_the_knee_is_reported_and_used(overlapping):
    selection = select_k(overlapping, 2, 8)
    feasible = selection.metrics[selection.metrics["feasible"]]
    assert selection.knee == find_knee(feasible["k"].tolist(), feasible["inertia"].tolist())
    assert type(selection.knee) is int and f"elbow k={selection.knee}" in selection.rule


def test_a_knee_needs_more_than_two_points():
    assert find_knee([2, 3], [100.0, 10.0]) is None
    assert find_knee([2, 3, 4, 5], [100.0, 12.0, 10.0, 9.0]) == 3


def test_large_tables_choose_k_on_the_sample(monkeypatch):
    monkeypatch.setattr(kselect, "SELECTION_SAMPLE", 400)
    X, _ = make_blobs(n_samples=3000, centers=4, cluster_std=0.6, random_state=3)
    selection = select_k(X, 3, 5)
    sample = selection_rows(3000)
    assert len(sample) == 400 and len(np.unique(sample)) == 400       # without replacement
    inertia = selection.metrics.set_index("k").loc[4, "inertia"]
    assert inertia == pytest.approx(SegmentModel(4).fit(X[sample]).inertia_)
    assert selection_rows(400) is None and len(selection_rows(401)) == 400


def test_silhouette_needs_two_segments():
    X = np.array([[0.0], [0.1], [5.0], [5.1]])
    assert np.isnan(sampled_silhouette(X, np.zeros(4, int), seed=1))
    assert sampled_silhouette(X, np.array([0, 0, 1, 1]), seed=1) > 0.9


def test_silhouette_beyond_the_limit_is_that_of_a_seeded_sample_without_replacement(monkeypatch):
    from sklearn.metrics import silhouette_score

    monkeypatch.setattr(kselect, "SILHOUETTE_SAMPLE", 50)
    X, labels = make_blobs(n_samples=200, centers=2, cluster_std=3.0, random_state=1)
    keep = np.random.default_rng(3).choice(200, size=50, replace=False)
    assert sampled_silhouette(X, labels, seed=3) == pytest.approx(
        silhouette_score(X[keep], labels[keep]), abs=1e-12)
    assert sampled_silhouette(X[:50], labels[:50], seed=3) == pytest.approx(   # at the limit: all
        silhouette_score(X[:50], labels[:50]), abs=1e-12)
    one_odd = np.r_[np.zeros(199, int), 1]               # the sample holds one segment only
    odd_out = np.random.default_rng(3).choice(200, size=50, replace=False)
    assert 199 not in odd_out and np.isnan(sampled_silhouette(X, one_odd, seed=3))
    two = np.r_[np.zeros(150, int), np.ones(50, int)]
    assert len(np.unique(two[keep])) == 2 and np.isfinite(sampled_silhouette(X, two, seed=3))


def test_every_metric_follows_the_seed_and_the_bootstrap_count():
    noise = np.random.default_rng(0).normal(size=(300, 2))
    first = kselect.evaluate_k_range(noise, [6], seed=7, n_boot=3)
    model = SegmentModel(6, seed=7).fit(noise)
    assert first["inertia"].iloc[0] == pytest.approx(model.inertia_)
    assert first["inertia"].iloc[0] != pytest.approx(SegmentModel(6, seed=42).fit(noise).inertia_)
    assert first["stability"].iloc[0] == kselect.bootstrap_stability(
        noise, 6, model.labels_, n_boot=3, seed=7)
    assert kselect.evaluate_k_range(noise, [6]).equals(
        kselect.evaluate_k_range(noise, [6], seed=42, n_boot=10))           # the defaults
    assert kselect.k_metrics(noise, 6) == kselect.k_metrics(noise, 6, seed=42, n_boot=10)
    assert kselect.bootstrap_stability(noise, 6, model.labels_, seed=7) == \
        kselect.bootstrap_stability(noise, 6, model.labels_, seed=7, n_boot=10)


def test_a_given_k_is_measured_and_flagged_when_unstable(overlapping):
    given = fixed_k(overlapping, 3)
    assert given.k == 3 and given.knee is None and given.rule == "k=3 given by the user (--k)"
    assert given.metrics["k"].tolist() == [3]
    assert given.metrics["stability"].iloc[0] >= MIN_STABILITY and given.weak_structure is False
    noise = np.random.default_rng(0).normal(size=(300, 2))
    unstable = fixed_k(noise, 6)
    assert unstable.metrics["stability"].iloc[0] < MIN_STABILITY and unstable.weak_structure is True
    assert fixed_k(overlapping, 3).metrics.equals(given.metrics)
    assert given.metrics.equals(kselect.evaluate_k_range(overlapping, [3], n_boot=10))  # default
    with pytest.raises(InputError, match="--k 3 cannot be used: 12 typical rows cannot form 3 "
                       r".*; choose a smaller k, a smaller --min-segment-size, or let the pipeline choose$"):
        fixed_k(np.arange(12, dtype=float).reshape(-1, 1), 3)


def test_a_given_k_is_measured_on_the_seeded_sample_with_the_given_seed_and_bootstraps(
        overlapping, monkeypatch):
    monkeypatch.setattr(kselect, "SELECTION_SAMPLE", 150)
    given = fixed_k(overlapping, 3, seed=5, n_boot=4)
    rows = selection_rows(len(overlapping), 5)
    assert given.metrics.equals(kselect.evaluate_k_range(overlapping[rows], [3], seed=5, n_boot=4))
    assert not given.metrics.equals(fixed_k(overlapping, 3, seed=6, n_boot=4).metrics)
    assert not given.metrics.equals(fixed_k(overlapping, 3, seed=5, n_boot=10).metrics)


def test_a_given_k_exactly_at_the_stability_threshold_is_not_weak(overlapping, monkeypatch):
    stability = fixed_k(overlapping, 3).stability
    monkeypatch.setattr(kselect, "MIN_STABILITY", stability)
    assert fixed_k(overlapping, 3).weak_structure is False
    monkeypatch.setattr(kselect, "MIN_STABILITY", stability + 1e-9)
    assert fixed_k(overlapping, 3).weak_structure is True


def test_bootstrap_stability_is_seeded_and_resamples_with_replacement(overlapping):
    labels = KMeans(3, n_init=4, random_state=42).fit_predict(overlapping)
    first = kselect.bootstrap_stability(overlapping, 3, labels, seed=42)
    assert first == kselect.bootstrap_stability(overlapping, 3, labels, seed=42)
    assert 0.5 < first < 1.0                           # resampled: not a perfect copy each time
