"""Promises of segmentation/kselect.py the mutation run of issue 22 found untested: the k rule
of docs/customers.md on hand-made metric tables, no Prefect, no k-means."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation.kselect import choose_k, no_segments


def test_a_table_without_a_feasible_k_is_refused_not_given_a_k():
    """"A k whose segments cannot all reach the size floor is never chosen" (docs/customers.md):
    with none feasible there is nothing to choose, and the refusal says why."""
    infeasible = pd.DataFrame({"k": [2, 3], "feasible": [False, False], "stability": [0.9, 0.9],
                               "silhouette": [0.5, 0.4]})
    with pytest.raises(ValueError) as refused:
        choose_k(infeasible, knee=2)
    assert str(refused.value) == "no k in range gives segments that all reach the minimum size"


def test_gmm_takes_the_stable_k_of_lowest_bic_the_smaller_on_ties():
    """docs/algorithms.md: a Gaussian mixture gets the same stability check, then the lowest
    BIC among the candidates (an unstable k is not one, however low its BIC)."""
    table = pd.DataFrame({"k": [2, 3, 4, 5], "feasible": [True] * 4,
                          "stability": [0.9, 0.5, 0.9, 0.9], "silhouette": [0.3] * 4,
                          "bic": [1500.0, 900.0, 1234.5, 1234.5]})
    k, why, weak = choose_k(table, knee=None, by_bic=True)
    assert (k, weak) == (4, False)
    assert why.endswith("; lowest BIC 1,234.5 at k=4")


def test_the_refusal_says_k_means_failed_only_when_the_count_allows_two_segments():
    """docs/customers.md, small inputs: n members hold at most n // floor segments. At exactly
    2 x floor two segments are possible, so the refusal blames k-means' groups, not the count;
    one member fewer and it is the count."""
    at_two = str(no_segments(10, 5, False, "meters"))
    assert at_two == (
        "k-means finds no 2 segments of these 10 meters that both reach 5 members (the default "
        "floor: max(2% of the meters, 5)): one group stays smaller, so there are no segments to "
        "publish. Options: a smaller floor with --min-segment-size (e.g. --min-segment-size 2), "
        "or more meters. Nothing was published")
    assert str(no_segments(9, 5, False, "meters")).startswith(
        "9 meters cannot form 2 segments of at least 5 members each")
    assert str(no_segments(14, 5, True, "rows")).startswith("k-means finds no 2 segments")


def blobs(seed: int = 3) -> "np.ndarray":
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 6.0, -1.0]])
    return np.vstack([c + rng.normal(scale=[1.0, 0.6, 0.8], size=(60, 3)) for c in centres])


def test_bic_is_scikit_learn_s_for_the_same_full_covariance_mixture():
    """docs/algorithms.md: gmm's k is the lowest BIC, -2 log-likelihood + parameters x log n
    with (k - 1) + k d + k d (d + 1) / 2 parameters: scikit-learn's own BIC of a fitted
    full-covariance mixture, on the same rows."""
    from types import SimpleNamespace

    from sklearn.mixture import GaussianMixture

    from segmentation.kselect import bic

    X = blobs()
    mixture = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    model = SimpleNamespace(k_=3, mixture_={"weights": mixture.weights_, "means": mixture.means_,
                                            "covariances": mixture.covariances_})
    assert bic(X, model) == pytest.approx(mixture.bic(X), rel=1e-9)
    assert bic(X[:90], model) == pytest.approx(mixture.bic(X[:90]), rel=1e-9)


def test_a_given_k_is_measured_with_the_run_s_algorithm():
    """``--k`` with ``--algorithm gmm``: the k's metrics are the mixture's (its BIC recorded),
    not k-means' (which has none)."""
    from segmentation.kselect import fixed_k

    X = blobs()
    gmm = fixed_k(X, 3, algorithm="gmm", n_boot=2).metrics
    kmeans = fixed_k(X, 3, algorithm="kmeans", n_boot=2).metrics
    assert gmm["bic"].notna().all()
    assert kmeans["bic"].isna().all()


# ---------------------------------------------------------------- select_k's other paths

def same_row(table_row: "pd.Series", expected: dict) -> bool:
    """A metrics row equals ``k_metrics``' dict (NaN equal to NaN)."""
    import numpy as np

    return all(table_row[name] == value or (isinstance(value, float) and np.isnan(value)
                                            and np.isnan(table_row[name]))
               for name, value in expected.items())


def test_below_the_range_the_k_taken_is_measured_with_the_run_s_seed_bootstraps_and_floor(
        overlapping):
    """docs/customers.md, small inputs: the largest feasible k below the range is taken, and
    its row in the metrics table is measured like any other k: same seed, bootstrap count,
    floor; the table keeps the documented columns, in k order, indexed 0..n-1."""
    from segmentation.kselect import METRIC_COLUMNS, k_metrics, select_k

    X = overlapping                     # a floor of 70: 240 rows hold at most 3 segments
    chosen = select_k(X, 4, 6, min_size=70, seed=5, n_boot=3)
    assert chosen.k == 3 and chosen.rule == (
        "240 rows allow at most 3 segments of at least 70, and no k in the range 4-6 gives "
        "segments that all reach it: k=3, the largest feasible k below the range")
    table = chosen.metrics
    assert list(table.columns) == METRIC_COLUMNS and table.index.tolist() == [0, 1, 2, 3]
    assert table["k"].tolist() == [3, 4, 5, 6]
    assert table["feasible"].tolist() == [True] + [False] * 3
    assert same_row(table.iloc[0], k_metrics(X, 3, seed=5, n_boot=3, min_size=70))
    other = select_k(X, 4, 6, min_size=70, seed=42, n_boot=10).metrics.iloc[0]
    assert other["stability"] != table.iloc[0]["stability"]     # the seed and count matter
    gmm = select_k(X, 4, 6, min_size=70, n_boot=2, algorithm="gmm")
    assert gmm.k == 3 and gmm.metrics["bic"].notna().tolist() == [True, False, False, False]


def test_below_the_range_the_given_floor_holds_and_two_segments_are_the_last_try():
    """The floor set by --min-segment-size applies below the range too (three groups of 6
    cannot hold a floor of 7, so the run is refused, naming that floor); k=2 is tried when
    k=3 is not feasible."""
    import numpy as np

    from segmentation.kselect import NoSegments, select_k

    three = (np.repeat([0.0, 10.0, 20.0], 6) + np.tile(np.linspace(0, 0.1, 6), 3))[:, None]
    with pytest.raises(NoSegments, match=r"^k-means finds no 2 segments of these 18 rows that "
                                         r"both reach 7 members \(the floor set by "
                                         r"--min-segment-size\)"):
        select_k(three, 4, 10, min_size=7)
    two = (np.repeat([0.0, 10.0], 6) + np.tile(np.linspace(0, 0.1, 6), 2))[:, None]
    chosen = select_k(two, 4, 10)               # 12 rows: k=3 needs 15, k=2 fits
    assert chosen.k == 2 and chosen.rule.endswith("k=2, the largest feasible k below the range")


def test_below_the_range_is_capped_below_the_number_of_rows():
    """k is always smaller than the number of rows: with a floor of 1, 20 distinct rows and a
    range of 30-40, k=19 is taken and the sentence says 19 segments at most."""
    import numpy as np

    from segmentation.kselect import select_k

    X = np.linspace(0, 19, 20)[:, None] ** 1.5
    chosen = select_k(X, 30, 40, min_size=1, n_boot=2)
    assert chosen.k == 19 and chosen.rule.startswith("20 rows allow at most 19 segments of at "
                                                     "least 1, and no k in the range 30-40")


def test_the_k_taken_below_the_range_is_below_it(overlapping):
    """``_below_range`` starts at k_min - 1 even when k_min itself would fit."""
    from segmentation.kselect import _below_range, evaluate_k_range

    X = overlapping
    metrics = evaluate_k_range(X, [4], n_boot=2)
    assert metrics["feasible"].all()                        # k=4 fits, but is not below 4
    chosen = _below_range(X, metrics, 4, 4, seed=42, n_boot=2, min_size=None, floor=5,
                          unit="rows", limit="240 rows allow at most 48 segments of at least 5")
    assert chosen.k == 3


def test_below_the_range_weak_structure_is_stability_under_the_bar(overlapping, monkeypatch):
    """Weak structure below the range is the same test as in it: stability under
    MIN_STABILITY; exactly at the bar is not weak."""
    import segmentation.kselect as kselect

    X = overlapping
    stability = kselect.select_k(X, 4, 6, min_size=70, n_boot=2).stability
    monkeypatch.setattr(kselect, "MIN_STABILITY", stability)
    assert kselect.select_k(X, 4, 6, min_size=70, n_boot=2).weak_structure is False
    monkeypatch.setattr(kselect, "MIN_STABILITY", stability + 1e-9)
    assert kselect.select_k(X, 4, 6, min_size=70, n_boot=2).weak_structure is True


def test_gmm_in_range_is_measured_as_a_mixture_and_has_no_elbow():
    """docs/algorithms.md: gmm's k is the stable k of lowest BIC; the inertia elbow is not
    computed (``knee`` None), and every k's metrics are the mixture's."""
    from segmentation.kselect import evaluate_k_range, select_k

    X = blobs()
    chosen = select_k(X, 2, 4, n_boot=2, algorithm="gmm")
    assert chosen.knee is None and chosen.metrics["bic"].notna().all()
    assert chosen.metrics.equals(evaluate_k_range(X, [2, 3, 4], n_boot=2, algorithm="gmm"))
    best = chosen.metrics.set_index("k").loc[chosen.k, "bic"]
    assert chosen.rule.endswith(f"; lowest BIC {best:,.1f} at k={chosen.k}")


# ---------------------------------------------------------------- HDBSCAN: no k to choose

def test_hdbscan_s_selection_is_its_dense_regions_measured_with_the_run_s_seed_and_bootstraps():
    """docs/algorithms.md: HDBSCAN has no k; its minimum cluster size is the size floor, and
    the rule says how many dense regions and how many rows are atypical."""
    from segmentation.kselect import (METRIC_COLUMNS, density_selection, k_metrics,
                                      select_k)

    X = blobs()
    chosen = select_k(X, algorithm="hdbscan", seed=5, n_boot=3)
    row = k_metrics(X, None, seed=5, n_boot=3, algorithm="hdbscan")
    assert chosen.k == row["k"] == 3 and chosen.knee is None
    assert list(chosen.metrics.columns) == METRIC_COLUMNS and same_row(chosen.metrics.iloc[0], row)
    assert chosen.rule == (f"HDBSCAN has no k: with a minimum cluster size of 5 rows (the size "
                           f"floor) it finds 3 dense regions; {row['atypical']:,} of 180 rows "
                           "are noise or far out, atypical in their nearest segment")
    assert select_k(X, algorithm="hdbscan", seed=6, n_boot=3).stability != chosen.stability
    assert select_k(X, algorithm="hdbscan", seed=5, n_boot=4).stability != chosen.stability
    assert density_selection(X, seed=5, n_boot=3).rule == chosen.rule        # rows by default
    assert density_selection(X).metrics.equals(density_selection(X, seed=42, n_boot=10).metrics)
    assert density_selection(X).stability != density_selection(X, n_boot=11).stability


def test_hdbscan_chooses_on_the_seeded_sample_of_a_large_table(monkeypatch):
    import segmentation.kselect as kselect

    monkeypatch.setattr(kselect, "SELECTION_SAMPLE", 150)
    X = blobs()
    chosen = kselect.density_selection(X, seed=5, n_boot=3, unit="meters")
    rows = X[kselect.selection_rows(len(X), 5)]
    assert same_row(chosen.metrics.iloc[0], kselect.k_metrics(rows, None, seed=5, n_boot=3,
                                                              algorithm="hdbscan"))
    assert chosen.rule.startswith("on a seeded sample of 150 of 180 rows: HDBSCAN has no k: "
                                  "with a minimum cluster size of 5 meters")
    assert chosen.rule.endswith(" of 150 meters are noise or far out, atypical in their "
                                "nearest segment")


def test_hdbscan_s_weak_structure_is_stability_under_the_bar(monkeypatch):
    import segmentation.kselect as kselect

    X = blobs()
    stability = kselect.density_selection(X, n_boot=3).stability
    monkeypatch.setattr(kselect, "MIN_STABILITY", stability)
    assert kselect.density_selection(X, n_boot=3).weak_structure is False
    monkeypatch.setattr(kselect, "MIN_STABILITY", stability + 1e-9)
    assert kselect.density_selection(X, n_boot=3).weak_structure is True


# ---------------------------------------------------------------- bootstrap stability

def test_stability_beyond_its_sample_refits_on_that_many_of_the_table_s_rows(
        overlapping, monkeypatch):
    """docs/customers.md: stability is measured on a seeded sample of at most 3,000 rows, so
    its cost does not grow with the table: every refit sees ``sample`` rows of the table."""
    import segmentation.kselect as kselect
    from segmentation.model import SegmentModel

    X = overlapping
    labels = SegmentModel(3).fit(X).labels_
    seen = []
    real = kselect.fit_clusters

    def recording(algorithm, rows, k, **options):
        seen.append(rows)
        return real(algorithm, rows, k, **options)

    monkeypatch.setattr(kselect, "fit_clusters", recording)
    value = kselect.bootstrap_stability(X, 3, labels, n_boot=3, sample=100)
    table = {tuple(row) for row in X}
    assert len(seen) == 3 and all(rows.shape == (100, 2) for rows in seen)
    assert all(tuple(row) in table for rows in seen for row in rows)
    assert value == kselect.bootstrap_stability(X, 3, labels, n_boot=3, sample=100)
    assert kselect.STABILITY_SAMPLE == 3_000


def test_stability_at_its_sample_size_uses_every_row_as_without_a_limit(overlapping):
    """At exactly ``sample`` rows nothing is sampled: the same number as with no limit."""
    import segmentation.kselect as kselect
    from segmentation.model import SegmentModel

    X = overlapping[:100]
    labels = SegmentModel(3).fit(X).labels_
    assert kselect.bootstrap_stability(X, 3, labels, sample=100) == \
        kselect.bootstrap_stability(X, 3, labels, sample=10_000)


def test_stability_refits_k_means_with_four_restarts():
    """docs/customers.md: the bootstrap refits are k-means with 4 restarts each (the published
    model has 10); on noise the restarts change the number."""
    import numpy as np

    import segmentation.kselect as kselect
    from segmentation.model import SegmentModel

    noise = np.random.default_rng(0).normal(size=(300, 2))
    labels = SegmentModel(6).fit(noise).labels_
    four = kselect.bootstrap_stability(noise, 6, labels, n_init=4)
    assert kselect.bootstrap_stability(noise, 6, labels) == four
    assert kselect.bootstrap_stability(noise, 6, labels, n_init=5) != four
