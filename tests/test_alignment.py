"""Segment ids across runs (segmentation/alignment.py): kept, new and gone segments, and who
moved where, on planted groups whose moves are known."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from segmentation.alignment import (align, by_size, in_units, into_space, migrations,
                                    previous_partition, previous_run, with_previous_ids)
from segmentation.customers import pipeline
from segmentation.customers.config import CustomerConfig

CONFIG = CustomerConfig("customer_id", ("spend", "visits"))
CENTRES = {"a": (100.0, 2.0), "b": (900.0, 3.0), "c": (400.0, 12.0), "d": (1500.0, 20.0)}
SIZES = {"a": 160, "b": 120, "c": 90, "d": 60}


def planted(groups: dict[str, str], seed: int = 1) -> pd.DataFrame:
    """Customers (id -> group) drawn around their group's centre."""
    rng = np.random.default_rng(seed)
    ids = list(groups)
    centres = np.array([CENTRES[groups[i]] for i in ids])
    spread = centres * np.array([0.08, 0.1])
    values = centres + rng.normal(size=centres.shape) * spread
    return pd.DataFrame({"customer_id": ids, "spend": values[:, 0], "visits": values[:, 1]})


def first_groups() -> dict[str, str]:
    out, n = {}, 0
    for group, size in SIZES.items():
        for _ in range(size):
            out[f"c{n:04d}"] = group
            n += 1
    return out


def run(frame: pd.DataFrame, previous=None, k: int = 4):
    segmented = pipeline.segment_customers(frame, CONFIG, k=k, previous=previous,
                                           previous_run_date="2026-10-31" if previous else None)
    model = pipeline.model_artifact(segmented, kind="customers", dataset="shop",
                                    run_date="2026-11-30")
    return segmented, model


def group_ids(segmented, groups: dict[str, str]) -> dict[str, int]:
    """Planted group -> the segment id most of its members got."""
    frame = segmented.segments.assign(group=segmented.segments["customer_id"].map(groups))
    return frame.groupby("group")["segment_id"].agg(lambda s: int(s.mode()[0])).to_dict()


@pytest.fixture(scope="module")
def two_runs():
    """Run 1 on the planted groups; run 2 after 10% of the customers moved (a -> b, b -> d,
    c -> a: 43 in all), a few joined and a few left."""
    groups = first_groups()
    first, model = run(planted(groups))
    moved = dict(groups)
    rng = np.random.default_rng(7)
    plan = {("a", "b"): 20, ("b", "d"): 15, ("c", "a"): 8}
    movers = {}
    for (source, target), n in plan.items():
        for cid in rng.choice(sorted(i for i, g in groups.items() if g == source), n,
                              replace=False):
            moved[cid] = target
            movers[cid] = (source, target)
    left = sorted(groups)[-5:]                   # the last five leave (group d)
    for cid in left:
        moved.pop(cid)
    for n in range(6):                           # six new customers join group c
        moved[f"new{n}"] = "c"
    second, second_model = run(planted(moved, seed=2), previous=model)
    return groups, moved, movers, left, first, model, second, second_model


def test_unchanged_segments_keep_their_ids_after_ten_percent_moved_and_renames_are_said(
        two_runs):
    groups, moved, _, _, first, model, second, _ = two_runs
    assert group_ids(second, moved) == group_ids(first, groups)
    renamed = [{"segment_id": sid, "from": first.names[sid], "to": second.names[sid]}
               for sid in sorted(first.names) if first.names[sid] != second.names[sid]]
    assert second.alignment.renamed == renamed
    assert sum(first.names[s] == second.names[s] for s in first.names) >= 3
    assert sorted(second.alignment.matched) == [0, 1, 2, 3]
    assert second.alignment.new == [] and second.alignment.gone == []
    assert second.alignment.previous_run_date == "2026-10-31"


def test_migration_counts_equal_the_planted_moves(two_runs):
    groups, moved, movers, left, first, _, second, _ = two_runs
    ids = group_ids(first, groups)
    previous = first.segments[["customer_id", "segment_id", "segment_name"]]
    moves = migrations(second.segments, previous, "customer_id")
    def members(source, target):
        row = moves[(moves["from_segment_id"] == ids[source]) & (moves["to_segment_id"] == ids[target])]
        return int(row["members"].sum())
    assert members("a", "b") == 20 and members("b", "d") == 15 and members("c", "a") == 8
    assert members("a", "a") == SIZES["a"] - 20
    joined = moves[moves["from_segment_id"].isna()]
    assert joined["members"].sum() == 6 and joined["to_segment_id"].tolist() == [ids["c"]]
    gone = moves[moves["to_segment_id"].isna()]
    assert gone["members"].sum() == 5 and gone["from_segment_id"].tolist() == [ids["d"]]
    ab = moves[(moves["from_segment_id"] == ids["a"]) & (moves["to_segment_id"] == ids["b"])]
    assert ab["share_of_from"].item() == pytest.approx(20 / SIZES["a"])
    assert ab["from_segment_name"].item() == first.names[ids["a"]]
    assert ab["to_segment_name"].item() == second.names[ids["b"]]
    assert moves["members"].sum() == len(set(groups) | set(moved))


def test_every_member_carries_its_previous_segment_or_null_when_new(two_runs, tmp_path):
    groups, moved, movers, _, first, _, second, _ = two_runs
    ids = group_ids(first, groups)
    previous = previous_from(first, tmp_path)
    before = with_previous_ids(second.segments, previous, "customer_id")
    by_id = dict(zip(second.segments["customer_id"], before))
    assert all(by_id[cid] is pd.NA for cid in by_id if cid.startswith("new"))
    cid, (source, _) = next(iter(movers.items()))
    assert by_id[cid] == ids[source]
    assert before.dtype == "Int32" and before.notna().sum() == len(second.segments) - 6


def previous_from(segmented, tmp_path):
    """The published form of a run, as ``previous_run`` reads it back."""
    partition = tmp_path / "shop" / "run_date=2026-10-31"
    partition.mkdir(parents=True)
    segmented.segments[["customer_id", "segment_id", "segment_name"]].to_parquet(
        partition / "segments.parquet")
    pipeline.model_artifact(segmented, kind="customers", dataset="shop",
                            run_date="2026-10-31").save(partition / "model.json")
    return previous_run(tmp_path / "shop", date(2026, 11, 30), "customers", "customer_id")


def test_a_new_group_gets_an_id_never_used_and_a_vanished_one_is_gone(two_runs):
    groups, _, _, _, first, model, _, _ = two_runs
    ids = group_ids(first, groups)
    changed = {cid: g for cid, g in groups.items() if g != "d"}       # d vanishes ...
    for n in range(70):                                               # ... e appears
        changed[f"e{n}"] = "e"
    CENTRES["e"] = (3000.0, 40.0)
    try:
        third, third_model = run(planted(changed, seed=3), previous=model)
    finally:
        del CENTRES["e"]
    got = group_ids(third, changed)
    assert {g: got[g] for g in "abc"} == {g: ids[g] for g in "abc"}
    assert got["e"] == 4 and third.alignment.new == [4]
    assert third.alignment.gone == [{"segment_id": ids["d"], "segment_name": first.names[ids["d"]]}]
    assert third_model.extra["max_segment_id"] == 4
    assert sorted(s["segment_id"] for s in third_model.segments) == sorted(got.values())


def test_ids_never_come_back_after_a_segment_is_gone():
    current = np.array([[0.0, 0.0], [5.0, 5.0]])
    alignment = align(current, {"type": "meter-shape", "shape": "daily"},
                      _meter_model([[0.0, 0.0], [9.0, -9.0]], ids=[3, 7], max_id=9))
    assert alignment.ids == {0: 3, 1: 10} and alignment.new == [10]
    assert alignment.gone == [{"segment_id": 7, "segment_name": "s7"}]
    assert alignment.max_segment_id == 10


def test_a_centroid_stays_its_segment_until_it_crosses_half_way_to_a_neighbour():
    model = _meter_model([[0.0, 0.0], [4.0, 0.0], [0.0, 10.0]], ids=[0, 1, 2], max_id=2)
    space = {"type": "meter-shape", "shape": "daily"}
    near = align(np.array([[0.4, 0.0], [4.0, 1.9], [0.0, 14.9]]), space, model)
    assert near.ids == {0: 0, 1: 1, 2: 2} and near.matched == pytest.approx(
        {0: 0.4, 1: 1.9, 2: 4.9})
    assert near.limits == pytest.approx({0: 2.0, 1: 2.0, 2: 5.0})
    far = align(np.array([[0.4, 0.0], [4.0, 2.0], [0.0, 15.0]]), space, model)
    assert far.ids == {0: 0, 1: 3, 2: 4} and far.new == [3, 4]
    assert [g["segment_id"] for g in far.gone] == [1, 2]


def test_another_meter_shape_shares_no_space_so_every_segment_is_new():
    model = _meter_model([[0.0, 0.0]], ids=[0], max_id=0)
    alignment = align(np.array([[0.0, 0.0]]), {"type": "meter-shape", "shape": "weekday-weekend"},
                      model)
    assert alignment.ids == {0: 1} and alignment.gone[0]["segment_id"] == 0


def test_a_first_run_or_fresh_ids_number_by_size(tmp_path):
    assert by_size(3).ids == {0: 0, 1: 1, 2: 2}
    assert align(np.zeros((3, 2)), {"type": "table"}, None).ids == {0: 0, 1: 1, 2: 2}
    first = previous_run(tmp_path / "shop", date(2026, 11, 30), "customers", "customer_id")
    assert first.model is None and first.note.startswith("first run")
    fresh = previous_run(tmp_path / "shop", date(2026, 11, 30), "customers", "customer_id",
                         fresh_ids=True)
    assert fresh.model is None and fresh.note.startswith("--fresh-ids")


def test_the_previous_run_is_the_latest_earlier_date_with_a_model(tmp_path):
    for day, model in [("2026-10-01", True), ("2026-10-31", True), ("2026-11-15", False),
                       ("2026-11-30", True), ("2026-12-31", True)]:
        folder = tmp_path / f"run_date={day}"
        folder.mkdir()
        if model:
            (folder / "model.json").write_text("{}")
    assert previous_partition(tmp_path, date(2026, 11, 30)).name == "run_date=2026-10-31"
    assert previous_partition(tmp_path, date(2026, 10, 1)) is None


def test_centroids_go_back_to_units_and_into_another_run_s_space(two_runs):
    _, _, _, _, first, model, second, second_model = two_runs
    units = in_units(model)
    means = first.profiles.set_index("segment_id")[["spend", "visits"]]
    # a centroid is the mean of its members in the scaled (log) space: back in units it
    # lies near the segment's mean in units
    for sid, row in zip([s["segment_id"] for s in model.segments], units.itertuples()):
        assert row.spend == pytest.approx(means.loc[sid, "spend"], rel=0.1)
    same = into_space(units, model.space)
    assert np.allclose(same, np.asarray(model.centroids))
    moved = into_space(units, second_model.space)
    assert moved.shape == (4, 2) and not np.allclose(moved, same)


def _meter_model(centroids, ids, max_id):
    from segmentation.artifact import ModelArtifact

    return ModelArtifact(kind="meters", dataset="grid", run_date="2026-10-31",
                         space={"type": "meter-shape", "shape": "daily", "features": ["profile"]},
                         centroids=centroids,
                         segments=[{"segment_id": i, "segment_name": f"s{i}", "far_out_fence": None}
                                   for i in ids],
                         k={"chosen": len(ids)}, extra={"max_segment_id": max_id})


def test_the_report_says_the_moves_in_words_largest_first(two_runs):
    from segmentation.report import over_time_section

    groups, _, _, _, first, _, second, _ = two_runs
    ids = group_ids(first, groups)
    previous = first.segments[["customer_id", "segment_id", "segment_name"]]
    moves = migrations(second.segments, previous, "customer_id")
    text = over_time_section({"note": "segment ids follow the run of 2026-10-31",
                              **second.alignment.manifest()}, moves)
    lines = text.splitlines()
    assert lines[0] == "## Segments over time"
    a, b = first.names[ids["a"]], second.names[ids["b"]]
    assert f"- 12% of {a} (20 of 160) moved to {b}" in lines
    moved = [line for line in lines if " moved to " in line]
    assert moved[0].startswith(f"- 12% of {a}") and len(moved) == 3
    stayed = len(groups) - 43 - 5
    assert lines[-1] == f"- {stayed:,} members stayed in their segment, 6 joined the dataset, 5 left it"


def test_the_migration_heatmap_shows_each_move_as_a_share_of_its_row(two_runs):
    from segmentation.plots import plot_migrations

    groups, _, _, _, first, _, second, _ = two_runs
    previous = first.segments[["customer_id", "segment_id", "segment_name"]]
    moves = migrations(second.segments, previous, "customer_id")
    fig = plot_migrations(moves, "shop \u2014 2026-11-30: moves since 2026-10-31")
    ax = fig.axes[0]
    cells = {t.get_text() for t in ax.texts}
    assert "12%\n20" in cells                      # a -> b: 20 of 160
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert any(r.startswith("joined") for r in rows)
    assert any(c.get_text().startswith("left") for c in ax.get_xticklabels())
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_a_kept_segment_keeps_its_name_while_the_claim_holds_and_only_then():
    from segmentation.naming import assign_names, base_of

    scores = pd.DataFrame({"Champions": [0.9, 0.2], "Loyal Customers": [0.5, 0.0],
                           "At Risk": [0.0, 0.4]}, index=[0, 1])
    fresh, _ = assign_names(scores, lambda s: "Typical")
    assert fresh == {0: "Champions", 1: "At Risk"}
    kept, _ = assign_names(scores, lambda s: "Typical", prefer={0: "Loyal Customers"})
    assert kept == {0: "Loyal Customers", 1: "At Risk"}
    lapsed, _ = assign_names(scores, lambda s: "Typical", prefer={1: "Loyal Customers"})
    assert lapsed == fresh                                 # its claim no longer holds
    assert base_of("Night Users (strong)") == "Night Users" == base_of("Night Users")


def test_a_meter_segment_keeps_its_archetype_while_its_claim_holds():
    from segmentation.meters.naming import base_name

    population = pd.DataFrame({"night_share": [0.1, 0.2, 0.3, 0.4, 0.5],
                               "evening_share": [0.5, 0.4, 0.3, 0.2, 0.1],
                               "morning_share": [0.2] * 5, "daytime_share": [0.2] * 5,
                               "peak_to_mean": [2.0] * 5})
    members = population.iloc[[3, 4]]                      # more night, less evening
    z = pd.Series({"night_share": 1.2, "evening_share": -1.2, "morning_share": 0.0,
                   "daytime_share": 0.0, "peak_to_mean": 0.0})
    assert base_name(z, members, population) == "Night Users"
    assert base_name(z, members, population, prefer="Evening Peakers") == "Night Users"
    assert base_name(z, population.iloc[[0, 1]], population, prefer="Evening Peakers") == \
        "Evening Peakers"                                  # its claim holds for those members
