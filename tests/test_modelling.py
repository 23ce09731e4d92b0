"""Shared modelling pieces: the k-selection rule, the model's size floor, naming scaffolding."""

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from segmentation.clustering import segment
from segmentation.kselect import MIN_STABILITY, bootstrap_stability, choose_k, find_knee
from segmentation.model import InfeasibleK, SegmentModel, min_segment_size
from segmentation.naming import assign_names, distinguish, median_claim, zscores


@pytest.fixture(scope="module")
def blobs():
    X, truth = make_blobs(n_samples=300, centers=4, cluster_std=0.6, random_state=3)
    return X, truth


def test_segment_finds_planted_k_and_is_deterministic(blobs):
    X, _ = blobs
    first, second = segment(X, k_max=8), segment(X, k_max=8)
    assert first.selection.k == 4 and "elbow k=4 is a candidate" in first.selection.rule
    assert np.array_equal(first.labels, second.labels)
    assert first.selection.metrics["k"].tolist() == list(range(2, 9))
    assert not first.selection.weak_structure and first.selection.stability >= MIN_STABILITY


def test_segment_zero_is_the_largest(blobs):
    X, _ = blobs
    labels = SegmentModel(3).fit(X[:250]).labels_
    sizes = np.bincount(labels)
    assert list(sizes) == sorted(sizes, reverse=True)


def test_model_needs_restarts():
    with pytest.raises(ValueError, match="n_init"):
        SegmentModel(3, n_init=1)


def test_floor_is_two_percent_or_five_members():
    assert [min_segment_size(n) for n in (10, 250, 251, 1000)] == [5, 5, 6, 20]


def test_an_isolated_outlier_is_atypical_not_a_segment(blobs):
    X, _ = blobs
    X = np.vstack([X, [[60.0, 60.0]]])                      # one row far from everything
    model = SegmentModel(4).fit(X)
    assert sorted(np.bincount(model.labels_)) == [75, 75, 75, 76]   # the four real groups
    assert model.atypical_[-1] and model.atypical_.sum() == 1
    assert "segment of 1 member(s), below the minimum of 7" in model.atypical_reason_[-1]
    assert model.labels_[-1] == model.predict(X[-1:])[0]    # joined its nearest segment
    plain = KMeans(4, n_init=10, random_state=42).fit(X).labels_
    assert sorted(np.bincount(plain)) == [1, 75, 75, 150]  # what the floor prevents


def test_a_far_member_of_a_segment_is_flagged_with_its_distance(blobs):
    X, _ = blobs
    centre = X[:50].mean(axis=0)
    X = np.vstack([X] + [X[i] + 0.01 * i for i in range(10)] + [[centre + [9.0, 0.0]]])
    model = SegmentModel(4).fit(X)
    assert model.atypical_[-1] and "far from every segment" in model.atypical_reason_[-1]
    assert model.atypical_.sum() == 1


def test_infeasible_k_is_refused():
    X = np.arange(12, dtype=float).reshape(-1, 1)
    with pytest.raises(InfeasibleK):
        SegmentModel(3).fit(X)                              # 3 segments of >= 5 need 15 rows
    assert np.bincount(SegmentModel(2).fit(X).labels_).tolist() == [6, 6]


def test_infeasible_k_is_never_chosen():
    X = np.r_[np.zeros(8), np.ones(8), np.full(8, 5.0)].reshape(-1, 1) \
        + np.linspace(0, 0.01, 24)[:, None]
    result = segment(X, k_min=2, k_max=6)
    metrics = result.selection.metrics.set_index("k")
    assert not metrics.loc[5, "feasible"] and metrics.loc[5, "note"]
    assert result.selection.k in metrics.index[metrics["feasible"]]


def metrics(stab, sil=None, feasible=None):
    n = len(stab)
    return pd.DataFrame({"k": range(3, 3 + n), "stability": stab,
                         "silhouette": sil if sil is not None else [0.2] * n,
                         "feasible": feasible if feasible is not None else [True] * n})


def test_choose_k_takes_the_elbow_when_it_is_stable():
    k, why, weak = choose_k(metrics([0.9, 0.9, 0.9, 0.9], sil=[0.5, 0.3, 0.2, 0.1]), knee=5)
    assert (k, weak) == (5, False)
    assert why == ("4 of 4 k values stable (bootstrap ARI >= 0.75): k=3, 4, 5, 6; the inertia "
                   "elbow k=5 is a candidate, chosen")


def test_stability_threshold_is_075_inclusive():
    assert choose_k(metrics([0.9, 0.75, 0.9]), knee=4)[0] == 4
    assert choose_k(metrics([0.9, 0.7499, 0.9]), knee=4)[0] == 3   # nearest stable, smaller on ties


def test_choose_k_takes_the_stable_k_nearest_the_elbow():
    k, why, _ = choose_k(metrics([0.9, 0.5, 0.5, 0.8, 0.9]), knee=5)   # k=3..7
    assert k == 6 and "nearest candidate k=6" in why
    assert choose_k(metrics([0.5, 0.9, 0.5, 0.9]), knee=5)[0] == 4     # tie 4/6: the smaller


def test_choose_k_without_an_elbow_takes_the_best_silhouette_among_stable():
    k, why, _ = choose_k(metrics([0.9, 0.9, 0.6], sil=[0.2, 0.3, 0.4]), knee=None)
    assert k == 4 and "highest silhouette" in why
    assert choose_k(metrics([0.9, 0.9], sil=[0.3, 0.3]), knee=None)[0] == 3


def test_choose_k_says_weak_structure_when_nothing_is_stable():
    k, why, weak = choose_k(metrics([0.5, 0.6, 0.7]), knee=4)
    assert (k, weak) == (4, True)
    assert why == ("weak structure: no k reached bootstrap stability 0.75 (best 0.70), so every k "
                   "was a candidate and segments will move between runs more than usual; the "
                   "inertia elbow k=4 is a candidate, chosen")


def test_choose_k_skips_infeasible_k():
    k, _, _ = choose_k(metrics([0.9, 0.9, 0.9], feasible=[True, True, False]), knee=5)
    assert k == 4


def test_knee_none_for_a_straight_line():
    assert find_knee([2, 3, 4, 5], [10.0, 8.0, 6.0, 4.0]) is None
    assert find_knee([2, 3, 4, 5, 6], [100, 40, 20, 18, 17]) == 3


def test_stability_is_high_for_clear_groups_and_low_for_noise(blobs):
    X, truth = blobs
    labels = SegmentModel(4).fit(X).labels_
    assert bootstrap_stability(X, 4, labels) > 0.95
    noise = np.random.default_rng(0).normal(size=(300, 2))
    assert bootstrap_stability(noise, 6, SegmentModel(6).fit(noise).labels_) < 0.75
    # A sample stands in for a big table: the same figure within a few hundredths.
    assert abs(bootstrap_stability(X, 4, labels, sample=150) - 1.0) < 0.05


def test_assign_names_is_one_to_one_with_fallback():
    scores = pd.DataFrame({"A": [1.0, 0.9, -1], "B": [0.2, 0.8, -1]}, index=[0, 1, 2])
    names, fallbacks = assign_names(scores, lambda s: "Other")
    assert names == {0: "A", 1: "B", 2: "Other"} and fallbacks == {2}


def qualified(names: dict, columns: dict, scale: dict | None = None) -> dict:
    """``distinguish`` with words that carry the name and the statistic."""
    means = pd.DataFrame(columns, index=list(names))
    scale = pd.Series(scale or {c: 1.0 for c in columns})
    return distinguish(names, means, scale, lambda name, stat: (f"{name}-low {stat}",
                                                                f"{name}-high {stat}"))


def test_distinguish_qualifies_by_the_separating_statistic():
    assert qualified({0: "A", 1: "A", 2: "B"}, {"x": [1.0, 5.0, 1.1], "y": [0.0, 0.1, 9.0]}) == {
        0: "A (A-low x)", 1: "A (A-high x)", 2: "B"}


def test_distinguish_splits_three_at_the_largest_gap_on_different_statistics():
    assert qualified({0: "A", 1: "A", 2: "A"}, {"x": [0.0, 0.2, 5.0], "y": [1.0, 3.0, 2.0]}) == {
        0: "A (A-low x, A-low y)", 1: "A (A-low x, A-high y)", 2: "A (A-high x)"}


def test_distinguish_words_a_subgroup_by_a_fresh_statistic_even_when_a_used_one_spreads_more():
    # {0, 1} vs {2} on x; inside {0, 1}, x still spreads more (1 > 0.5) but y is the fresh one
    assert qualified({0: "A", 1: "A", 2: "A"}, {"x": [0.0, 1.0, 5.0], "y": [1.0, 1.5, 2.0]}) == {
        0: "A (A-low x, A-low y)", 1: "A (A-low x, A-high y)", 2: "A (A-high x)"}


def test_distinguish_splits_a_subgroup_again_on_a_used_statistic_when_no_fresh_one_separates():
    assert qualified({0: "A", 1: "A", 2: "A"}, {"x": [0.0, 1.0, 3.0], "y": [2.0, 2.0, 2.0]}) == {
        0: "A (A-low x, A-low x)", 1: "A (A-low x, A-high x)", 2: "A (A-high x)"}


def test_distinguish_compares_statistics_in_population_standard_deviations():
    columns = {"x": [0.0, 5.0], "y": [0.0, 2.0]}
    # x moves 0.5 sd, y 2 sd; then x has no spread in the population: its sd is taken as 1
    assert qualified({0: "A", 1: "A"}, columns, {"x": 10.0, "y": 1.0}) == {
        0: "A (A-low y)", 1: "A (A-high y)"}
    assert qualified({0: "A", 1: "A"}, columns, {"x": 0.0, "y": 1.0}) == {
        0: "A (A-low x)", 1: "A (A-high x)"}


def test_identical_segments_and_only_they_get_their_ids_never_numbers():
    assert qualified({0: "A", 1: "A"}, {"x": [1.0, 1.0]}) == {0: "A (segment 0)", 1: "A (segment 1)"}
    assert qualified({0: "A", 1: "A", 2: "B"}, {"x": [1.0, 1.0, 3.0]}) == {
        0: "A (segment 0)", 1: "A (segment 1)", 2: "B"}
    assert qualified({0: "A", 1: "A"}, {"x": [1.0, 1.0]}, {"x": 0.0}) == {   # constant statistic
        0: "A (segment 0)", 1: "A (segment 1)"}


def test_assign_names_needs_a_positive_fit_and_asks_the_fallback_for_that_segment():
    scores = pd.DataFrame({"A": [0.0, 0.5]}, index=[7, 8])
    names, fallbacks = assign_names(scores, lambda s: f"Other {s}")
    assert names == {7: "Other 7", 8: "A"} and fallbacks == {7}


def test_zscores_use_the_population_standard_deviation():
    population = pd.DataFrame({"x": [0.0, 2.0], "c": [3.0, 3.0]})
    z = zscores(pd.DataFrame({"x": [2.0], "c": [4.0]}), population)
    assert z.loc[0, "x"] == 1.0                            # ddof=0: std 1, not 1.41
    assert z.loc[0, "c"] == 1.0                            # constant column: std taken as 1


def test_median_claim_is_strict():
    population = pd.Series([1.0, 2, 3, 4, 5])
    assert median_claim(pd.Series([4.0, 5]), population, "high")
    assert not median_claim(pd.Series([2.0, 4]), population, "high")     # median 3 = population's
    assert median_claim(pd.Series([1.0, 2]), population, "low")
    with pytest.raises(ValueError, match="direction must be 'high' or 'low', not 'up'"):
        median_claim(pd.Series([1.0, 2]), population, "up")


def test_large_tables_choose_k_on_a_sample_and_fit_on_a_sample(monkeypatch):
    import segmentation.kselect as kselect
    import segmentation.model as model

    monkeypatch.setattr(kselect, "SELECTION_SAMPLE", 400)
    monkeypatch.setattr(model, "FIT_SAMPLE", 600)
    X, truth = make_blobs(n_samples=3000, centers=4, cluster_std=0.6, random_state=3)
    result = segment(X, k_max=6)
    assert result.selection.k == 4 and "sample of 400 of 3,000 rows" in result.selection.rule
    assert len(result.labels) == 3000 and np.bincount(result.labels).sum() == 3000
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(truth, result.labels) > 0.99
    assert np.array_equal(segment(X, k_max=6).labels, result.labels)      # deterministic


def test_k_beyond_the_distinct_rows_is_infeasible_not_an_empty_segment():
    X = np.repeat([[0.0], [1.0], [5.0]], 10, axis=0)        # 30 rows, three distinct values
    metrics = segment(X, k_min=2, k_max=5).selection.metrics.set_index("k")
    assert metrics.loc[3, "feasible"]
    assert not metrics.loc[4, "feasible"] and "fewer than 4 distinct groups" in metrics.loc[4, "note"]
