"""The comparison picks the algorithm each shape calls for (docs/algorithms.md), and every
step of its rule holds on both sides of its threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs, make_circles, make_moons

from segmentation import comparison
from segmentation.clustering import segment
from segmentation.comparison import (COLUMNS, Published, compare, comparison_block,
                                     comparison_section, heldout_loglik, neighbour_ratio,
                                     recommend)

SHAPES = {
    "round blobs": (lambda: make_blobs(600, centers=4, random_state=3), {"kmeans"}),
    "crescents": (lambda: make_moons(600, noise=0.06, random_state=3),
                  {"hdbscan", "agglomerative"}),
    "rings": (lambda: make_circles(600, noise=0.04, factor=0.5, random_state=3),
              {"hdbscan", "agglomerative"}),
    "different spreads": (lambda: make_blobs([150, 450, 150], centers=[[0, 0], [2.5, 0], [0, 3]],
                                             cluster_std=[0.3, 1.4, 0.5], random_state=4),
                          {"gmm"}),
}


@pytest.fixture(scope="module", params=list(SHAPES))
def compared(request):
    make, wanted = SHAPES[request.param]
    X, truth = make()
    published = segment(X)
    return request.param, wanted, compare(X, Published.of(published)), truth


def test_the_comparison_picks_the_algorithm_the_shape_calls_for(compared):
    shape, wanted, table, _ = compared
    assert list(table.columns) == COLUMNS and len(table) == 4
    assert table["recommended"].sum() == 1
    assert table.loc[table["recommended"], "algorithm"].item() in wanted, shape
    assert table.loc[table["published"], "algorithm"].tolist() == ["kmeans"]


def test_the_recommended_algorithm_finds_the_planted_groups(compared):
    """The pick is right for the right reason: its segments are the planted ones."""
    from sklearn.metrics import adjusted_rand_score

    shape, _, table, truth = compared
    choice = table.loc[table["recommended"], "algorithm"].item()
    X, _ = SHAPES[shape][0]()
    assert adjusted_rand_score(truth, segment(X, algorithm=choice).labels) > 0.85


def test_the_published_row_is_the_run_s_own_segments_and_the_others_are_timed(compared):
    shape, _, table, _ = compared
    X, _ = SHAPES[shape][0]()
    fit = segment(X)
    row = table.set_index("algorithm").loc["kmeans"]
    assert row["ari_with_published"] == 1.0 and row["note"] == "the run's own segments"
    assert row["stability"] == fit.selection.stability
    assert row["sizes"] == sorted(np.bincount(fit.labels).tolist(), reverse=True)
    assert row["low_confidence_share"] == np.mean(fit.probability < 0.6)
    assert (table.loc[~table["published"], "seconds"] > 0).all()
    assert table["sizes"].map(sum).eq(600).all() or table["sizes"].map(sum).eq(750).all()


def test_neighbour_ratio_is_zero_across_gaps_and_about_one_for_chance():
    X, truth = make_blobs(400, centers=[[0, 0], [20, 0]], cluster_std=0.5, random_state=1)
    assert neighbour_ratio(X, truth) == 0.0
    noise = np.random.default_rng(2).integers(0, 2, len(X))
    assert 0.8 < neighbour_ratio(X, noise) < 1.2
    assert np.isnan(neighbour_ratio(X, np.zeros(len(X), dtype=int)))   # one segment: no chance


def test_heldout_loglik_prefers_the_true_groups_of_different_spreads():
    X, truth = SHAPES["different spreads"][0]()
    kmeans = segment(X, k=3).labels
    assert heldout_loglik(X, truth) > heldout_loglik(X, kmeans) + 0.05


def table(**rows) -> pd.DataFrame:
    """A comparison table with one row per algorithm: (stability, noise, ratio, loglik)."""
    frame = pd.DataFrame([{"algorithm": a, "feasible": True, "segments": 3, "stability": s,
                           "noise_share": n, "neighbour_ratio": r, "heldout_loglik": ll}
                          for a, (s, n, r, ll) in rows.items()])
    return frame.reindex(columns=COLUMNS)


def test_shape_wins_at_a_third_of_kmeans_ratio_and_not_above():
    base = dict(kmeans=(0.9, 0, 0.030, -2.0), gmm=(0.9, 0, 0.030, -2.0))
    assert recommend(table(**base, hdbscan=(0.9, 0, 0.010, -2.5)))[0] == "hdbscan"
    assert recommend(table(**base, hdbscan=(0.9, 0, 0.0101, -2.5)))[0] == "kmeans"
    low = dict(kmeans=(0.9, 0, 0.0099, -2.0))            # k-means' boundaries already in gaps
    assert recommend(table(**low, hdbscan=(0.9, 0, 0.0, -2.5)))[0] == "kmeans"
    assert recommend(table(kmeans=(0.9, 0, 0.01, -2.0), hdbscan=(0.9, 0, 0.0, -2.5)))[0] == \
        "hdbscan"
    why = recommend(table(**base, hdbscan=(0.9, 0, 0.005, -2.5)))[1]
    assert "0.005" in why and "0.030" in why and "cuts through dense regions" in why


def test_an_unstable_or_noisy_algorithm_is_never_recommended():
    base = dict(kmeans=(0.9, 0, 0.030, -2.0))
    assert recommend(table(**base, hdbscan=(0.74, 0, 0.0, -1.0)))[0] == "kmeans"
    assert recommend(table(**base, hdbscan=(0.75, 0, 0.0, -2.5)))[0] == "hdbscan"
    assert recommend(table(**base, hdbscan=(0.9, 0.11, 0.0, -1.0)))[0] == "kmeans"
    assert recommend(table(**base, hdbscan=(0.9, 0.10, 0.0, -2.5)))[0] == "hdbscan"
    one = table(**base, hdbscan=(0.9, 0, 0.0, -1.0))
    one.loc[1, "segments"] = 1
    assert recommend(one)[0] == "kmeans"


def test_spread_wins_by_five_hundredths_of_a_nat_per_member_with_boundaries_in_the_gaps():
    base = dict(kmeans=(0.9, 0, 0.030, -2.0))
    assert recommend(table(**base, gmm=(0.9, 0, 0.030, -1.95)))[0] == "gmm"
    assert recommend(table(**base, gmm=(0.9, 0, 0.030, -1.951)))[0] == "kmeans"
    why = recommend(table(**base, gmm=(0.9, 0, 0.030, -1.9)))[1]
    assert "better by 0.10 nats per member" in why
    # A far better fit whose boundaries cut denser regions than k-means': one mass described.
    assert recommend(table(**base, gmm=(0.9, 0, 0.0301, 5.0)))[0] == "kmeans"
    two = recommend(table(**base, gmm=(0.9, 0, 0.031, 5.0), agglomerative=(0.9, 0, 0.029, -1.9)))
    assert two[0] == "agglomerative"


def test_without_reproducible_kmeans_the_most_stable_other_or_nothing():
    steady = recommend(table(kmeans=(0.6, 0, 0.03, -2.0), gmm=(0.8, 0, 0.03, -2.1),
                             agglomerative=(0.85, 0, 0.03, -2.1)))
    assert steady[0] == "agglomerative" and "do not reproduce" in steady[1]
    none = recommend(table(kmeans=(0.6, 0, 0.03, -2.0), gmm=(0.7, 0, 0.03, -1.0)))
    assert none[0] is None and "none is recommended" in none[1]


def test_an_infeasible_algorithm_is_a_row_with_its_reason_and_the_rest_still_compared():
    one_blob = np.random.default_rng(1).normal(size=(300, 2))
    result = compare(one_blob, Published.of(segment(one_blob, min_size=20)), min_size=20)
    row = result.set_index("algorithm").loc["hdbscan"]
    assert not row["feasible"] and row["note"] == (
        "HDBSCAN finds no two dense regions of at least 20 rows among these 300 rows")
    assert result.set_index("algorithm").loc["kmeans", "feasible"]
    assert not row["eligible"] and not row["recommended"]


def test_large_tables_are_compared_on_a_seeded_sample(monkeypatch):
    monkeypatch.setattr(comparison, "COMPARE_SAMPLE", 300)
    X, _ = make_blobs(900, centers=3, random_state=5)
    published = Published.of(segment(X))
    first = compare(X, published, algorithms=("kmeans", "gmm"))
    assert first["sizes"].map(sum).tolist() == [300, 300]
    again = compare(X, published, algorithms=("kmeans", "gmm"))
    assert first.drop(columns="seconds").equals(again.drop(columns="seconds"))
    section = comparison_section(first, len(X), "customers")
    assert "a seeded sample of 300 of the 900 customers" in section


def test_the_section_and_block_say_the_recommendation_in_words(compared):
    shape, _, result, _ = compared
    choice, why = recommend(result)
    section = comparison_section(result, 600, "customers")
    assert section.startswith("## Algorithms compared")
    assert f"Recommended: {choice}" in section and why in section
    assert "| **kmeans** |" in section                      # the published one in bold
    block = comparison_block(result, 600)
    assert block["recommended"] == choice and block["why"] == why
    assert block["published"] == "kmeans" and len(block["algorithms"]) == 4
    import json
    json.dumps(block)                                       # JSON-ready


def test_the_published_segments_are_read_from_the_members_a_run_writes():
    from segmentation.algorithms import NOISE_REASON

    members = pd.DataFrame({
        "segment_id": np.array([7, 7, 2], dtype=np.int32),
        "segment_probability": [0.9, 0.55, 1.0],
        "is_atypical": [False, True, True],
        "atypical_reason": pd.Series([None, f"{NOISE_REASON}; value beyond the far-out fence "
                                      "of income: clipped for clustering",
                                      "far from every segment: distance 3.00"], dtype="string")})
    published = Published.from_members(members, "hdbscan", 0.81)
    assert published.algorithm == "hdbscan" and published.stability == 0.81
    assert published.labels.tolist() == [7, 7, 2]
    assert published.probability.tolist() == [0.9, 0.55, 1.0]
    assert published.atypical.tolist() == [False, True, True]
    assert published.noise.tolist() == [False, True, False]      # noise first, then a clip
    assert published.probability.dtype == float and published.atypical.dtype == bool
    sample = published.rows(np.array([2, 0]))
    assert sample.labels.tolist() == [2, 7] and sample.noise.tolist() == [False, False]
    assert published.rows(None) is published


def test_the_manifest_block_names_the_sample_the_choice_and_every_row_in_plain_json(
        monkeypatch):
    monkeypatch.setattr(comparison, "COMPARE_SAMPLE", 100)
    rows = table(kmeans=(0.9, 0, 0.030, -2.0), gmm=(0.9, 0, 0.030, -1.9),
                 hdbscan=(np.nan, np.nan, np.nan, np.nan))
    rows["published"] = rows["algorithm"] == "gmm"
    rows["note"] = ["a", "b", "c"]
    block = comparison_block(rows, 250)
    assert block["rows"] == 100 and block["of_rows"] == 250          # a sample of 100
    assert comparison_block(rows, 80)["rows"] == 80                    # all of them
    assert block["recommended"] == "gmm" and block["why"] == recommend(rows)[1]
    assert block["published"] == "gmm"
    assert [r["algorithm"] for r in block["algorithms"]] == ["kmeans", "gmm", "hdbscan"]
    assert block["algorithms"][2]["stability"] is None                  # NaN: null in JSON
    assert block["algorithms"][1]["heldout_loglik"] == -1.9
    assert "note" not in block["algorithms"][0]
    rows["published"] = False
    assert comparison_block(rows, 80)["published"] is None


def test_the_section_says_the_choice_against_the_published_algorithm():
    rows = table(kmeans=(0.9, 0, 0.030, -2.0), gmm=(0.9, 0, 0.030, -1.9))
    rows["published"], rows["note"] = rows["algorithm"] == "gmm", ""
    rows["sizes"] = [[60, 40], [70, 30]]
    same = comparison_section(rows, 100, "meters")
    assert "all 100 meters" in same
    assert ("| algorithm | segments | sizes | silhouette | Davies-Bouldin | stability | noise | "
            "low confidence | neighbour ratio | held-out log-lik. | ARI with published | seconds "
            "| recommended |") in same.splitlines()
    assert "**Recommended: gmm.** Why: gmm: one Gaussian per segment" in same
    assert "| **gmm** | 3 | 70, 30 |" in same and "| kmeans | 3 | 60, 40 |" in same
    with_nan = rows.assign(segments=[3.0, np.nan], sizes=[[60, 40], None])
    assert "| kmeans | 3 | 60, 40 |" in comparison_section(with_nan, 100)   # not 3.000
    rows["published"] = rows["algorithm"] == "kmeans"
    other = comparison_section(rows, 100, "meters")
    assert "**Recommended: gmm** (published: kmeans). Why:" in other
    none = comparison_section(table(kmeans=(0.5, 0, 0.03, -2.0)).assign(
        published=True, note="", sizes=[[50, 50]]), 100)
    assert "**No algorithm recommended.** Why: no algorithm gives segments" in none
    failed = table(kmeans=(0.9, 0, 0.03, -2.0), hdbscan=(np.nan,) * 4).assign(
        published=[True, False], note=["", "HDBSCAN finds no two dense regions"],
        sizes=[[50, 50], None])
    failed.loc[1, "feasible"] = False
    text = comparison_section(failed, 100)
    assert "- hdbscan: HDBSCAN finds no two dense regions" in text
    assert "- kmeans:" not in text
    two = table(kmeans=(0.9, 0, 0.03, -2.0), gmm=(np.nan,) * 4, hdbscan=(np.nan,) * 4).assign(
        published=[True, False, False], sizes=[[50, 50], None, None],
        note=["", "k=3 still leaves a segment below 5", "HDBSCAN finds no two dense regions"])
    two.loc[1:, "feasible"] = False
    assert ("\n\n- gmm: k=3 still leaves a segment below 5\n- hdbscan: HDBSCAN finds no two "
            "dense regions\n\n") in comparison_section(two, 100)
    assert text.endswith(                   # what each score means, the last paragraph
        "\n\nStability: agreement (ARI) with refits on resamples, 0.75 or more is reproducible. "
        "Noise: members HDBSCAN puts in no dense region. Low confidence: segment probability "
        "below the run's threshold. Neighbour ratio: share of near neighbours in another "
        "segment, over chance (lower: boundaries through gaps). Held-out log-likelihood: one "
        "Gaussian per segment, on members not used to fit it (higher: a better description). "
        "The recommendation is advice: `--algorithm` chooses what is published.")
