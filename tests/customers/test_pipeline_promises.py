"""The customer run's steps as pure functions (segmentation/customers/pipeline.py,
docs/customers.md steps 2-7, docs/outputs.md): validation's duplicates, missing values and
quarantine, the cleaning parameters a model keeps, the segmentation's options (k, floors,
the namer, the confidence threshold, categories) and the model it saves, on tiny tables of
planted groups (tests/customers/test_pipeline_steps.py holds the first promises of each)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from segmentation.customers import pipeline
from segmentation.customers.config import CustomerConfig, resolve_config
from tests.test_alignment import planted

# ---------------------------------------------------------------- validation


def ingested(tmp_path, header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    """Rows written as a CSV and read the way the flow reads them."""
    path = tmp_path / "t.csv"
    pd.DataFrame(rows, columns=header).to_csv(path, index=False)
    return pipeline.ingest(path)[0]


WHOLESALE = ["Channel", "Fresh", "Milk"]
LINES = [["1", "12", "30"], ["2", "9", "4"], ["1", "12", "30"], ["2", "7", "8"]]


def test_without_an_id_column_identical_lines_are_different_customers(tmp_path):
    """docs/customers.md step 2: in a table without an id column every line is a customer, so
    identical lines are all kept, each with its data line number as ``customer_id``."""
    rows = ingested(tmp_path, WHOLESALE, LINES)
    config = resolve_config(list(rows.columns), features=["Fresh", "Milk"])
    assert config.id_from_line
    valid, quarantine, _ = pipeline.validate(rows, config, "t.csv")
    assert quarantine.empty
    assert valid["customer_id"].tolist() == ["2", "3", "4", "5"]
    assert valid["fresh"].tolist() == [12.0, 9.0, 12.0, 7.0]


def test_with_an_id_column_an_identical_line_is_an_exact_duplicate(tmp_path):
    """The same lines with an id: the second copy is quarantined, the first kept."""
    rows = ingested(tmp_path, ["customer_id", *WHOLESALE],
                    [["a", *LINES[0]], ["b", *LINES[1]], ["a", *LINES[2]]])
    config = resolve_config(list(rows.columns), features=["Fresh", "Milk"])
    valid, quarantine, _ = pipeline.validate(rows, config, "t.csv")
    assert valid["source_row"].tolist() == [2, 3]
    assert quarantine["reason"].tolist() == ["exact duplicate of line 2"]


def test_a_missing_feature_is_quarantined_by_default_and_kept_to_impute(tmp_path):
    """docs/customers.md step 3: a missing feature value is quarantined (default) or kept for
    the median (``--missing impute``); a missing value in a column not clustered on is kept."""
    rows = ingested(tmp_path, ["customer_id", *WHOLESALE],
                    [["a", "1", "12", ""], ["b", "", "9", "4"], ["c", "2", "7", "8"]])
    quarantined = resolve_config(list(rows.columns), features=["Fresh", "Milk"])
    valid, quarantine, _ = pipeline.validate(rows, quarantined, "t.csv")
    assert valid["customer_id"].tolist() == ["b", "c"]
    assert quarantine["reason"].tolist() == ["missing milk"]
    imputed = resolve_config(list(rows.columns), features=["Fresh", "Milk"], missing="impute")
    valid, quarantine, _ = pipeline.validate(rows, imputed, "t.csv")
    assert valid["customer_id"].tolist() == ["a", "b", "c"] and quarantine.empty
    assert np.isnan(valid["milk"].iloc[0])


def test_a_quarantined_row_keeps_every_input_column_as_read(tmp_path):
    """The quarantine holds every column of the input (those the run ignores too) as text,
    as read: the id unnormalised, the number as written."""
    rows = ingested(tmp_path, ["customer_id", *WHOLESALE, "Note"],
                    [["007", "1", "012", "lots", "hello"], ["8", "2", "7", "8", "x"],
                     ["9", "2", "7", "9", "y"], ["10", "1", "3", "2", "z"]])
    config = resolve_config(list(rows.columns), features=["Fresh", "Milk"])
    valid, quarantine, _ = pipeline.validate(rows, config, "t.csv")
    assert valid["customer_id"].tolist() == ["8", "9", "10"]
    assert quarantine.to_dict("records") == [
        {"customer_id": "007", "channel": "1", "fresh": "012", "milk": "lots", "note": "hello",
         "source_row": 2, "reason": "non-numeric milk: 'lots'"}]


def test_validation_renders_the_input_s_validation_page(tmp_path):
    """docs/outputs.md: ``data_docs/<sha16>/validation.html``, the validation page of each
    validated input, built from the customers suite's result."""
    rows = ingested(tmp_path, ["customer_id", *WHOLESALE], [["a", *LINES[0]], ["b", *LINES[1]]])
    config = resolve_config(list(rows.columns), features=["Fresh", "Milk"])
    page = pipeline.validate(rows, config, "t.csv")[2].data_docs_html
    assert page and "<html" in page.lower() and "customers" in page


# ---------------------------------------------------------------- cleaning parameters


def test_the_model_keeps_the_medians_it_fills_with_only_when_imputing():
    """``cleaning_parameters``: ``impute_medians`` (the run's medians, per feature, as floats)
    with ``--missing impute``; none otherwise."""
    valid = pd.DataFrame({"x": [1.0, np.nan, 3.0, 10.0], "y": [2.0, 4.0, np.nan, np.nan],
                          "z": [0.0, 0.0, 0.0, 0.0]})
    impute = CustomerConfig("id", ("x", "y"), missing="impute")
    found = pipeline.cleaning_parameters(valid, impute)
    assert found == {"impute_medians": {"x": 3.0, "y": 3.0}, "winsorize_fences": {}}
    assert all(type(v) is float for v in found["impute_medians"].values())
    assert pipeline.cleaning_parameters(valid, CustomerConfig("id", ("x", "y")))[
        "impute_medians"] == {}


def test_the_model_keeps_the_winsorizing_fences_of_the_imputed_values():
    """``winsorize_fences``: per feature [lower, upper] (quartiles -/+ 3 x IQR) of the values as
    cleaned (missing ones filled with the median first); none when flagging or with no rows."""
    valid = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0, 100.0]})
    both = CustomerConfig("id", ("x",), missing="impute", outliers="winsorize")
    filled = pd.Series([1.0, 2.0, 3.0, 4.0, 100.0])
    q1, q3 = filled.quantile([0.25, 0.75])
    fences = pipeline.cleaning_parameters(valid, both)["winsorize_fences"]
    assert fences == {"x": [q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)]}
    assert all(type(v) is float for v in fences["x"])
    winsorize = CustomerConfig("id", ("x",), outliers="winsorize")
    assert pipeline.cleaning_parameters(valid.iloc[0:0], winsorize)["winsorize_fences"] == {}
    assert pipeline.cleaning_parameters(valid, CustomerConfig("id", ("x",)))[
        "winsorize_fences"] == {}


def test_is_outlier_is_a_flag():
    """docs/outputs.md: ``is_outlier`` is a bool column (a feature beyond the far-out fences)."""
    valid = pd.DataFrame({"x": [1.0, 2.0, 3.0, 2.0, 1.0, 500.0]})
    frame, _ = pipeline.clean(valid, CustomerConfig("id", ("x",)))
    assert frame["is_outlier"].dtype == bool and frame["is_outlier"].tolist()[-2:] == [False, True]


def test_clip_fences_leave_out_a_column_whose_quartiles_coincide():
    """A column with most values equal has no fence and is not clipped."""
    features = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "same": [5.0, 5.0, 5.0, 5.0, 9.0]})
    fences = pipeline.clip_fences(features)
    assert fences.index.tolist() == ["a"]
    assert fences.loc["a"].tolist() == [2.0 - 3 * 2.0, 4.0 + 3 * 2.0]


# ---------------------------------------------------------------- segmentation

CONFIG = CustomerConfig("customer_id", ("spend", "visits"))


def planted_groups(sizes: dict[str, int] = None) -> pd.DataFrame:
    """Customers of the planted groups of tests/test_alignment.py (spend, visits), the
    largest group first."""
    sizes = sizes or {"a": 26, "b": 22, "c": 18}
    groups = {f"c{i:03d}": g for i, g in enumerate(np.repeat(list(sizes), list(sizes.values())))}
    return planted(groups).assign(group=lambda f: f["customer_id"].map(groups))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return planted_groups()


@pytest.fixture(scope="module")
def three(table):
    return pipeline.segment_customers(table, CONFIG, k=3)


def test_a_given_k_gives_k_segments_with_0_the_largest(three, table):
    """``--k`` overrides the choice; on a first run 0 is the largest segment; ids are int32."""
    segments = three.segments
    assert sorted(segments["segment_id"].unique()) == [0, 1, 2]
    assert segments["segment_id"].dtype == np.int32
    by_group = segments.groupby(table["group"])["segment_id"].agg(set)
    assert by_group.to_dict() == {"a": {0}, "b": {1}, "c": {2}}


def test_each_member_keeps_its_row_with_customer_id_and_label(table):
    """One row per customer, in order: the id column becomes ``customer_id``; the label is the
    name; the values as given."""
    renamed = table.rename(columns={"customer_id": "member_id"}).set_axis(table.index + 100)
    config = CustomerConfig("member_id", ("spend", "visits"))
    found = pipeline.segment_customers(renamed, config, k=3).segments
    assert found["customer_id"].tolist() == table["customer_id"].tolist()
    assert "member_id" not in found
    assert found["segment_label"].tolist() == found["segment_name"].tolist()
    assert found["spend"].tolist() == table["spend"].tolist()


def test_floors_raise_features_for_clustering_only(table):
    """``floors``: a feature raised to its floor for clustering (here spend, so every group
    has the same: only visits separate them); the published values stay as they are, and the
    model keeps the floors."""
    floored = pipeline.segment_customers(table, CONFIG, k=2, floors={"spend": 5000.0})
    by_group = floored.segments.groupby(table["group"])["segment_id"].agg(set).to_dict()
    assert by_group["a"] == by_group["b"] != by_group["c"]
    assert floored.segments["spend"].tolist() == table["spend"].tolist()
    assert floored.space["floors"] == {"spend": 5000.0}
    free = pipeline.segment_customers(table, CONFIG, k=2).segments        # spend counts
    by_group = free.groupby(table["group"])["segment_id"].agg(set).to_dict()
    assert by_group["b"] == by_group["c"] != by_group["a"]


def test_the_cleaning_parameters_given_go_into_the_model_s_space(table):
    """``cleaned_with`` (``cleaning_parameters``) is in the model's space, for new members."""
    cleaned = {"impute_medians": {"spend": 412.5}, "winsorize_fences": {"visits": [0.0, 40.0]}}
    found = pipeline.segment_customers(table, CONFIG, k=3, cleaned_with=cleaned).space
    assert found["impute_medians"] == {"spend": 412.5}
    assert found["winsorize_fences"] == {"visits": [0.0, 40.0]}


def test_an_absurd_value_makes_its_row_atypical_clipped_and_left_out_of_the_means(table):
    """docs/customers.md step 6: the row keeps its value, is flagged atypical ("clipped for
    clustering") and is left out of its segment's means."""
    absurd = pd.concat([table, table.iloc[[0]].assign(customer_id="x", spend=1e12)],
                       ignore_index=True)
    found = pipeline.segment_customers(absurd, CONFIG, k=3)
    row = found.segments.iloc[-1]
    assert row["spend"] == 1e12 and row["is_atypical"]
    assert "value beyond the far-out fence of spend: clipped for clustering" in \
        row["atypical_reason"]
    means = found.profiles.set_index("segment_id")["spend"]
    assert means.max() < 1e6
    typical = found.segments.loc[~found.segments["is_atypical"]]
    assert typical["atypical_reason"].isna().all()
    assert means.loc[row["segment_id"]] == pytest.approx(
        typical.loc[typical["segment_id"] == row["segment_id"], "spend"].mean())


def test_a_namer_given_names_the_segments(three, table):
    """``namer(labels, described, scaled, typical, prefer=) -> (names, fallbacks)`` names the
    model's segments; its names and fallbacks follow the segments to their ids."""
    calls = []

    def namer(labels, described, scaled, typical, prefer):
        calls.append((labels, described, scaled, typical))
        sizes = pd.Series(labels).value_counts()
        return ({int(i): f"group of {n}" for i, n in sizes.items()}, {int(sizes.index[-1])})

    found = pipeline.segment_customers(table, CONFIG, k=3, namer=namer)
    labels, described, scaled, typical = calls[0]
    assert described.columns.tolist() == ["spend", "visits"]
    assert described["spend"].tolist() == table["spend"].tolist()
    assert scaled.shape == (len(table), 2) and typical.all()
    assert found.names == {0: "group of 26", 1: "group of 22", 2: "group of 18"}
    assert found.fallback_segments == {2}
    assert found.segments.groupby("segment_id")["segment_name"].agg(set).to_dict() == {
        0: {"group of 26"}, 1: {"group of 22"}, 2: {"group of 18"}}
    assert found.profiles["segment_name"].tolist() == ["group of 26", "group of 22",
                                                      "group of 18"]


def test_members_below_the_confidence_threshold_are_flagged(three, table):
    """``is_low_confidence``: ``segment_probability`` below ``min_confidence`` (default 0.6)."""
    probability = three.segments["segment_probability"]
    assert three.segments["is_low_confidence"].tolist() == (probability < 0.6).tolist()
    strict = pipeline.segment_customers(table, CONFIG, k=3, min_confidence=1.01).segments
    assert strict["is_low_confidence"].all()
    assert strict["segment_probability"].tolist() == probability.tolist()


def test_categories_are_profiled_per_segment_by_id(table):
    """``share_<column>_<category>`` per segment: here each group is its own region."""
    config = CustomerConfig("customer_id", ("spend", "visits"), ("region",))
    found = pipeline.segment_customers(table.assign(region=table["group"]), config, k=3)
    profiles = found.profiles.set_index("segment_name")
    shares = ["share_region_a", "share_region_b", "share_region_c"]
    assert found.profiles.columns.tolist()[-3:] == shares
    assert found.profiles[shares].to_numpy().tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                                                          [0.0, 0.0, 1.0]]
    assert profiles["size"].tolist() == [26, 22, 18]


def test_customers_all_alike_are_refused_in_words_about_customers():
    """docs/customers.md step 5: "all 200 customers have the same values of the features:
    there are no segments to find" (exit 2)."""
    from segmentation.kselect import NoSegments

    alike = pd.DataFrame({"customer_id": [str(i) for i in range(6)], "spend": 5.0,
                          "visits": 2.0})
    with pytest.raises(NoSegments, match="^all 6 customers have the same values of the "
                                         "features: there are no segments to find"):
        pipeline.segment_customers(alike, CONFIG)


def test_without_k_it_is_chosen_between_2_and_10_with_the_seed_42(table):
    """The flow's defaults (``--k-min 2``, ``--k-max 10``, seed 42) are the function's."""
    chosen = pipeline.segment_customers(table, CONFIG)
    assert chosen.result.selection.metrics["k"].tolist() == list(range(2, 11))
    assert chosen.result.selection.k == 3
    given = pipeline.segment_customers(table, CONFIG, k_min=2, k_max=10, seed=42)
    assert given.result.selection.metrics.equals(chosen.result.selection.metrics)


# ---------------------------------------------------------------- the model


def test_the_model_says_what_run_it_is_of_and_where_ids_stand(three):
    """docs/outputs.md, *The model*: the kind, dataset and date of the run, the package
    version, the k rule's result, the largest id used (new segments get ids never used
    before) and whose ids it follows (none on a first run)."""
    from importlib import metadata

    model = pipeline.model_artifact(three, kind="customers", dataset="mall",
                                    run_date=date(2026, 11, 1))
    assert (model.kind, model.dataset, model.run_date) == ("customers", "mall", "2026-11-01")
    assert model.code_version == metadata.version("customer-segmentation")
    assert model.k == {"chosen": 3, "rule": three.result.selection.rule,
                       "stability": three.result.selection.stability,
                       "silhouette": three.result.silhouette}
    assert model.extra == {"max_segment_id": 2, "ids_follow": None}
    assert [s["segment_id"] for s in model.segments] == [0, 1, 2]


def test_the_model_keeps_its_algorithm_and_membership(table):
    """``algorithm`` and ``membership``: with ``gmm`` the mixture; k-means: the spread."""
    for algorithm, key in (("gmm", "mixture"), ("kmeans", "sigma")):
        segmented = pipeline.segment_customers(table, CONFIG, k=3, algorithm=algorithm)
        model = pipeline.model_artifact(segmented, kind="customers", dataset="mall",
                                        run_date="2026-11-01")
        assert model.algorithm == algorithm and list(model.membership) == [key]


def test_with_the_previous_model_the_mixture_is_in_the_order_of_the_segment_ids(table):
    """``membership``: the mixture in segment order, also when the ids follow the previous
    run's model (here the smallest group grows to the largest and keeps its id 2)."""
    first = pipeline.segment_customers(table, CONFIG, k=3, algorithm="gmm")
    previous = pipeline.model_artifact(first, kind="customers", dataset="mall",
                                       run_date="2026-10-01")
    c = table[table["group"] == "c"]
    grown = pd.concat([table, c.assign(customer_id=c["customer_id"] + "b"),
                       c.assign(customer_id=c["customer_id"] + "c")], ignore_index=True)
    second = pipeline.segment_customers(grown, CONFIG, k=3, algorithm="gmm", previous=previous,
                                        previous_run_date="2026-10-01")
    model = pipeline.model_artifact(second, kind="customers", dataset="mall",
                                    run_date="2026-11-01")
    assert second.segments.groupby(grown["group"])["segment_id"].agg(set).to_dict() == {
        "a": {0}, "b": {1}, "c": {2}}
    assert model.extra == {"max_segment_id": 2, "ids_follow": "2026-10-01"}
    shares = second.profiles.sort_values("segment_id")["share"].tolist()
    assert model.membership["mixture"]["weights"] == pytest.approx(shares, abs=0.01)


def test_rows_placed_by_a_saved_model_are_atypical_only_with_a_reason(three, table):
    """``assign_rows``: a value beyond the run's far-out fence makes a row atypical, with the
    reason after any other ("; "); a typical row has no reason (null)."""
    model = pipeline.model_artifact(three, kind="customers", dataset="mall",
                                    run_date="2026-11-01")
    odd = table.iloc[[0, 1]].assign(spend=[100.0, 1e9], visits=[2.0, 5000.0])
    placed = pipeline.assign_rows(odd, model)
    assert placed["is_atypical"].tolist() == [False, True]
    assert pd.isna(placed["atypical_reason"].iloc[0])
    reasons = placed["atypical_reason"].iloc[1].split("; ")
    assert reasons[-1] == "value beyond the far-out fence of spend, visits: clipped for clustering"
    assert len(reasons) == 2 and "far from every segment" in reasons[0]


# ---------------------------------------------------------------- what a run carries


def test_a_row_flagged_twice_gives_both_reasons_the_clipping_last(table):
    """``atypical_reason``: a member that would form a too-small segment and holds a value
    beyond the far-out fence carries both reasons, "; " between them, the clipping last."""
    absurd = pd.concat([table, table.iloc[[0]].assign(customer_id="x", spend=1e12, visits=500.0)],
                       ignore_index=True)
    reason = pipeline.segment_customers(absurd, CONFIG, k=3).segments["atypical_reason"].iloc[-1]
    assert reason.startswith("would form a segment of 1 member")
    assert reason.endswith("assigned to the nearest segment; value beyond the far-out fence "
                           "of spend: clipped for clustering")


def test_profiles_count_each_segment_s_atypical_members(table):
    """profiles.parquet ``atypical``: the members of the segment flagged atypical."""
    absurd = pd.concat([table, table.iloc[[0]].assign(customer_id="x", spend=1e12)],
                       ignore_index=True)
    found = pipeline.segment_customers(absurd, CONFIG, k=3)
    flagged = found.segments.groupby("segment_id")["is_atypical"].sum()
    assert found.profiles.set_index("segment_id")["atypical"].to_dict() == flagged.to_dict()
    assert flagged.sum() >= 1


def test_the_run_keeps_every_member_s_segment_and_the_scaled_points(table):
    """``labels``: every member's segment_id, in row order; ``points``: the rows clustered,
    one per member, each feature standard-scaled (mean 0). (It segments for itself: mutmut
    maps a function to the first test that calls it, and a module fixture calls it once.)"""
    three = pipeline.segment_customers(table, CONFIG, k=3)
    assert np.array_equal(three.labels, three.segments["segment_id"].to_numpy())
    assert three.points.shape == (len(table), 2)
    assert np.allclose(three.points.mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(three.points.std(axis=0), 1.0)


def test_the_model_lists_categories_only_when_they_are_clustered(table):
    """model.json ``space.categorical``: the one-hot columns, with --cluster-categorical only
    (docs/outputs.md, *The model*)."""
    regions = table.assign(region=table["group"])
    for clustered, listed in ((False, []), (True, ["region"])):
        config = CustomerConfig("customer_id", ("spend", "visits"), ("region",),
                                cluster_categorical=clustered)
        found = pipeline.segment_customers(regions, config, k=3)
        assert found.space["categorical"] == listed


@pytest.mark.parametrize("own_namer", [False, True])
def test_the_namer_is_offered_the_previous_run_s_names_of_kept_segments(table, monkeypatch,
                                                                        own_namer):
    """With the previous run's model, the namer (the table's own, or the one given) is
    offered each matched segment's previous name (``prefer``), to keep while its claim holds."""
    from segmentation.naming import base_of

    first = pipeline.segment_customers(table, CONFIG, k=3)
    previous = pipeline.model_artifact(first, kind="customers", dataset="mall",
                                       run_date="2026-10-01")
    offered = []
    default = pipeline.name_customer_segments

    def recording(labels, described, scaled, *rest, prefer=None):
        offered.append(prefer)
        if own_namer:
            return {int(i): f"segment {i}" for i in np.unique(labels)}, set()
        return default(labels, described, scaled, *rest, prefer=prefer)

    kwargs = {"namer": recording} if own_namer else {}
    if not own_namer:
        monkeypatch.setattr(pipeline, "name_customer_segments", recording)
    second = pipeline.segment_customers(table, CONFIG, k=3, previous=previous,
                                        previous_run_date="2026-10-01", **kwargs)
    assert len(offered) == 1
    assert offered[0] == {i: base_of(first.names[sid]) for i, sid in second.alignment.ids.items()}
    assert len(offered[0]) == 3
