"""Pure promises of ``segmentation.meters.segment`` (docs/meters.md step 5, the module docstring):
hourly shares as centred log-ratios with a floor, the weekday/weekend shape (half the weight
each, the daily shape where a meter has no complete weekend day), consumption bands (tertiles
or fixed thresholds, both sides of each boundary), Seasonal Users, the readable label, and what
a run's segmentation and model carry. Tiny synthetic feature frames, no ingestion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.artifact import code_version
from segmentation.errors import InputError
from segmentation.meters.features import DAYPARTS
from segmentation.meters.segment import (BANDS, CLR_FLOOR, assign_meters, band_thresholds,
                                         consumption_bands, hourly, log_ratio, model_artifact,
                                         seasonal_users, segment_label, segment_meters,
                                         shape_matrix)
from tests.meters.naming_checks import assert_meter_names_true

# Three planted daily shapes: where the day's energy goes (local hours).
PLANTED_HOURS = {"night": [22, 23, 0, 1, 2, 3, 4, 5], "daytime": [10, 11, 12, 13, 14, 15],
                 "evening": [16, 17, 18, 19, 20, 21]}


def hourly_shape(kind: str, rng: np.random.Generator) -> np.ndarray:
    """24 hourly shares of one meter: a base load and a bump in its kind's hours, with noise."""
    curve = np.full(24, 1.0)
    curve[PLANTED_HOURS[kind]] = 6.0
    curve = curve * rng.lognormal(0, 0.1, 24)
    return curve / curve.sum()


def meter_frame(n_per_kind: int = 8, *, points: int = 24, seed: int = 0,
                sizes: tuple[int, int, int] | None = None) -> pd.DataFrame:
    """Features of ``3 x n_per_kind`` meters (or ``sizes`` night, daytime and evening meters)
    as ``features.meter_features`` names them: profiles
    (``points`` per day), the daypart shares and peak statistics computed from the profile,
    mean daily kWh 1, 2, 3, ... and a winter/summer ratio (both seasons covered) for every
    other meter; sorted by meter_id."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, kind in enumerate(np.repeat(list(PLANTED_HOURS), sizes or n_per_kind)):
        day = hourly_shape(kind, rng)
        profile = np.repeat(day / (points // 24), points // 24)
        hours = np.arange(24)
        shares = {name: float(sum(day[(hours >= a) & (hours < b)].sum() for a, b in spans))
                  for name, spans in DAYPARTS.items()}
        rows.append({"meter_id": f"M{i:03d}", "mean_daily_kwh": float(i + 1),
                     "peak_hour": float(np.argmax(day)), "peak_to_mean": float(day.max() * 24),
                     "winter_summer_ratio": 2.0 if i % 2 else 1.2, "seasonal_available": True,
                     **shares, "profile": profile, "profile_weekday": profile,
                     "profile_weekend": np.roll(profile, points // 24),
                     "monthly_index": np.ones(12)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def run():
    features = meter_frame()
    return features, segment_meters(features)


# ---------------------------------------------------------------- hourly shares, log-ratios

def test_half_hourly_profiles_become_hourly_shares():
    """The shape is the share of daily energy per local hour: 48 points sum in pairs, 24 stay."""
    half = np.arange(96, dtype=float).reshape(2, 48)
    assert np.array_equal(hourly(half), half[:, 0::2] + half[:, 1::2])
    day = np.random.default_rng(1).dirichlet(np.ones(24), size=3)
    assert np.array_equal(hourly(day), day)


def test_centred_log_ratios_sum_to_zero_for_every_meter():
    """log(share + floor) minus the meter's mean log share: each row sums to 0."""
    shares = np.random.default_rng(2).dirichlet(np.full(24, 0.3), size=5)
    clr = log_ratio(shares)
    assert clr.shape == (5, 24)
    assert np.allclose(clr.sum(axis=1), 0, atol=1e-12)
    assert not np.allclose(clr, 0)


def test_the_floor_is_an_eighth_of_a_flat_hours_share_and_bounds_an_empty_hour():
    """An hour with no use is log(floor) minus the mean log share, floor = 1/8 of 1/24: finite,
    and an hour with almost no use is as low (it does not dominate the shape)."""
    assert CLR_FLOOR == pytest.approx(1 / 192)
    shares = np.full((2, 24), 1 / 23)
    shares[:, 3] = 0.0
    shares[1, 3] = 1e-12
    clr = log_ratio(shares)
    logs = np.log(np.r_[1 / 192, np.full(23, 1 / 23 + 1 / 192)])
    assert clr[0, 3] == pytest.approx(np.log(1 / 192) - logs.mean())
    assert clr[0, 0] == pytest.approx(np.log(1 / 23 + 1 / 192) - logs.mean())
    assert clr[1, 3] == pytest.approx(clr[0, 3])


def test_twice_the_usual_share_weighs_the_same_at_3_am_and_at_7_pm():
    """In log-ratio terms doubling one hour's share moves a flat day by the same distance
    whichever hour it is; a flat day sits at the origin."""
    flat = np.full((1, 24), 1 / 24)
    assert np.allclose(log_ratio(flat), 0)
    night, evening = flat.copy(), flat.copy()
    night[0, 3] *= 2
    evening[0, 19] *= 2
    d_night = np.linalg.norm(log_ratio(night / night.sum()) - log_ratio(flat))
    d_evening = np.linalg.norm(log_ratio(evening / evening.sum()) - log_ratio(flat))
    assert d_night > 0.1 and d_night == pytest.approx(d_evening)


# ---------------------------------------------------------------- the shapes clustered

def test_the_daily_shape_is_the_log_ratio_of_the_hourly_profile():
    """shape="daily" (the default): 24 columns, the log-ratio of each meter's hourly shares,
    whatever the profile's resolution."""
    features = meter_frame(2, points=48)
    expected = log_ratio(hourly(np.vstack(features["profile"].to_numpy())))
    assert np.allclose(shape_matrix(features), expected)
    assert np.allclose(shape_matrix(features, "daily"), expected)
    assert shape_matrix(features).shape == (6, 24)


def test_weekday_and_weekend_shapes_side_by_side_each_with_half_the_weight():
    """shape="weekday-weekend": the weekday shape's 24 columns, then the weekend's, each the
    log-ratio times sqrt(1/2), so each counts half in a squared distance."""
    features = meter_frame(2)
    matrix = shape_matrix(features, "weekday-weekend")
    weekday = log_ratio(np.vstack(features["profile_weekday"].to_numpy()))
    weekend = log_ratio(np.vstack(features["profile_weekend"].to_numpy()))
    assert matrix.shape == (6, 48)
    assert np.allclose(matrix[:, :24], weekday * np.sqrt(0.5))
    assert np.allclose(matrix[:, 24:], weekend * np.sqrt(0.5))
    assert np.allclose((matrix ** 2).sum(axis=1), ((weekday ** 2).sum(axis=1)
                                                   + (weekend ** 2).sum(axis=1)) / 2)


def test_a_meter_without_a_complete_weekend_day_takes_its_daily_shape_there():
    """No weekend shape (all or part of it unknown): the daily shape stands in for it, for
    that meter only; the weekday half is untouched."""
    features = meter_frame(2)
    daily = log_ratio(np.vstack(features["profile"].to_numpy()))
    features.at[0, "profile_weekend"] = np.full(24, np.nan)
    partial = features.at[1, "profile_weekend"].copy()
    partial[5] = np.nan
    features.at[1, "profile_weekend"] = partial
    matrix = shape_matrix(features, "weekday-weekend")
    assert np.allclose(matrix[:2, 24:], daily[:2] * np.sqrt(0.5))
    own = log_ratio(np.vstack(features["profile_weekend"].to_numpy()[2:]))
    assert np.allclose(matrix[2:, 24:], own * np.sqrt(0.5))
    assert not np.allclose(own, daily[2:])
    assert np.allclose(matrix[:, :24], daily * np.sqrt(0.5))   # weekday profile = daily here
    assert np.isnan(features.at[0, "profile_weekend"]).all()   # the features are left as given


def test_an_unknown_shape_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"shape must be one of \('daily', 'weekday-weekend'\), "
                                         r"got 'weekly'"):
        shape_matrix(meter_frame(1), "weekly")


# ---------------------------------------------------------------- consumption bands

def test_tertile_bands_put_a_meter_at_a_tertile_in_the_upper_band():
    """By default the thresholds are the tertiles of the run's meters: Low below the first,
    High from the second (a meter exactly at a tertile is in the band above)."""
    kwh = pd.Series([1.0, 2, 3, 4, 5, 6, 7], index=list("abcdefg"))   # tertiles 3 and 5
    low, high, how = band_thresholds(kwh)
    assert (low, high) == (3.0, 5.0) and how == "tertiles of this run's meters"
    bands, rule = consumption_bands(kwh)
    assert list(bands) == [BANDS[0]] * 2 + [BANDS[1]] * 2 + [BANDS[2]] * 3
    assert list(bands.index) == list("abcdefg") and bands.dtype == "string"
    assert rule == {"rule": "tertiles of this run's meters", "low_below_kwh_per_day": 3.0,
                    "high_from_kwh_per_day": 5.0,
                    "text": "Low < 3.0 <= Medium < 5.0 <= High kWh/day "
                            "(tertiles of this run's meters)"}


def test_the_rule_rounds_thresholds_for_the_manifest_and_the_text():
    """The manifest's thresholds are rounded to 3 decimals, the report's text to 1."""
    bands, rule = consumption_bands(pd.Series([0.0, 10.0]), (10 / 3, 20 / 3))
    assert rule["low_below_kwh_per_day"] == 3.333 and rule["high_from_kwh_per_day"] == 6.667
    assert rule["text"] == "Low < 3.3 <= Medium < 6.7 <= High kWh/day (fixed thresholds (--kwh-bands))"
    assert list(bands) == [BANDS[0], BANDS[2]]


@pytest.mark.parametrize("thresholds", [(8, 8), (15, 8), (-1, 8), (-2, -1)])
def test_fixed_thresholds_must_increase_from_zero(thresholds):
    """--kwh-bands needs two increasing thresholds, neither below 0."""
    with pytest.raises(InputError, match=r"--kwh-bands needs two increasing thresholds, got "
                                         rf"{float(thresholds[0])}, {float(thresholds[1])}"):
        band_thresholds(pd.Series([1.0, 2.0]), thresholds)


def test_fixed_thresholds_from_zero_are_taken_as_given():
    assert band_thresholds(pd.Series([1.0]), (0, 0.5)) == (0.0, 0.5, "fixed thresholds (--kwh-bands)")
    bands, _ = consumption_bands(pd.Series([0.0, 0.49, 0.5]), (0, 0.5))
    assert list(bands) == [BANDS[1], BANDS[1], BANDS[2]]


# ---------------------------------------------------------------- seasonal users, label

def test_seasonal_users_need_a_ratio_of_one_and_a_half_and_both_seasons():
    """winter/summer >= 1.5, only where the window covers both seasons; a missing ratio is no
    seasonal user even where the flag says covered; the index is kept."""
    frame = pd.DataFrame({"winter_summer_ratio": [1.5, 1.4999, 9.0, np.nan, 0.5],
                          "seasonal_available": [True, True, False, True, True]},
                         index=[10, 11, 12, 13, 14])
    flags = seasonal_users(frame)
    assert flags.tolist() == [True, False, False, False, False]
    assert list(flags.index) == [10, 11, 12, 13, 14] and flags.dtype == bool


def test_seasonal_users_follow_the_ratio_given():
    """A saved model's own seasonal rule (``seasonal_min_ratio``) replaces 1.5."""
    frame = pd.DataFrame({"winter_summer_ratio": [1.9, 2.0], "seasonal_available": [True, True]})
    assert seasonal_users(frame, 2.0).tolist() == [False, True]
    assert seasonal_users(frame).tolist() == [True, True]


def test_the_label_is_band_then_shape_then_seasonal():
    assert segment_label("Medium Energy Users", "Night Users (strong)", True) == \
        "Medium Energy Users, Night Users (strong), Seasonal"
    assert segment_label("Medium Energy Users", "Flat/Baseload", False) == \
        "Medium Energy Users, Flat/Baseload"


# ---------------------------------------------------------------- a run's segmentation

# The two tests below segment for themselves (not through the shared fixture): mutmut maps a
# function to the tests that call it, and a module fixture calls it in the first test only.

def test_planted_shapes_come_back_with_true_names_labels_and_the_k_range():
    """Planted night, daytime and evening shapes come back as three archetypes whose names
    hold on the numbers; each meter's label is its band, its archetype's name and Seasonal;
    k is chosen by the shared rule over 3-10, its size floor stated in meters."""
    features = meter_frame()
    seg = segment_meters(features)
    assert seg.selection.metrics["k"].tolist() == list(range(3, 11)) and seg.selection.k == 3
    assert "24 meters allow at most" in seg.selection.rule
    assert sorted(seg.names.values()) == ["Daytime Users", "Evening Peakers", "Night Users"]
    assert_meter_names_true(features, seg.labels, seg.names)
    for kind, start in zip(PLANTED_HOURS, (0, 8, 16)):
        assert len(set(seg.labels[start:start + 8])) == 1, kind
    assert seg.names[int(seg.labels[0])] == "Night Users"
    assert seg.names[int(seg.labels[8])] == "Daytime Users"
    assert seg.names[int(seg.labels[16])] == "Evening Peakers"
    kwh = features["mean_daily_kwh"]
    assert seg.bands.tolist() == [BANDS[0] if v < 8.666 else BANDS[1] if v < 16.334 else BANDS[2]
                                  for v in kwh]
    assert seg.seasonal.tolist() == [i % 2 == 1 for i in range(24)]
    assert seg.segment_labels == [
        f"{b}, {seg.names[int(s)]}" + (", Seasonal" if i % 2 else "")
        for i, (b, s) in enumerate(zip(seg.bands, seg.labels))]
    assert not seg.fallback_segments


def test_the_run_keeps_its_shapes_thresholds_and_what_was_left_out():
    """What the report and the model need: the clustered points, the unrounded thresholds, the
    rule, the confidence columns, and that magnitude and seasonality were not clustered."""
    features = meter_frame()
    seg = segment_meters(features, k=3)
    assert np.array_equal(seg.points, shape_matrix(features))
    low, high, _ = band_thresholds(features["mean_daily_kwh"])
    assert seg.band_limits == (low, high) and low == pytest.approx(26 / 3)
    assert seg.band_rule["rule"] == "tertiles of this run's meters"
    assert seg.weighting == {"shape": "daily", "representation": "centred log-ratio of hourly shares",
                             "columns": 24, "magnitude": "consumption_band (not clustered)",
                             "seasonality": "seasonal_user (not clustered)"}
    assert set(seg.confidence) == {"segment_probability", "is_low_confidence"}
    assert np.array_equal(seg.confidence["is_low_confidence"],
                          seg.confidence["segment_probability"] < 0.6)


def test_the_weekday_weekend_run_and_fixed_bands(run):
    """--shape weekday-weekend clusters 48 columns; --kwh-bands sets the bands and the rule."""
    features, _ = run
    seg = segment_meters(features, k=3, shape="weekday-weekend", kwh_bands=(5, 20),
                         min_confidence=0.0)
    assert seg.weighting["shape"] == "weekday-weekend" and seg.weighting["columns"] == 48
    assert seg.points.shape == (24, 48)
    assert seg.band_limits == (5.0, 20.0) and seg.band_rule["rule"] == "fixed thresholds (--kwh-bands)"
    assert seg.bands.tolist() == [BANDS[0]] * 4 + [BANDS[1]] * 15 + [BANDS[2]] * 5
    assert not np.any(seg.confidence["is_low_confidence"])


def test_too_few_meters_without_any_set_aside_says_only_that(run):
    features, _ = run
    with pytest.raises(InputError) as err:
        segment_meters(features.head(2), quarantined=pd.DataFrame({"reason": []}, dtype=str))
    assert str(err.value) == ("only 2 meters can be segmented, at least 3 are needed; "
                              "nothing was published")


def test_three_meters_are_enough_to_segment():
    """At least 3 meters are needed: 3 are segmented (given a size floor they can meet)."""
    features = meter_frame(1)
    seg = segment_meters(features, k=2, min_size=1)
    assert len(seg.labels) == 3 and len(set(seg.labels)) == 2
    assert_meter_names_true(features, seg.labels, seg.names)


def test_the_model_keeps_the_shape_space_and_the_run_s_rules(run):
    """model.json (docs/outputs.md): space meter-shape with shape, features and clr_floor;
    extra.bands the unrounded thresholds and the rule; extra.seasonal_min_ratio 1.5."""
    _, seg = run
    model = model_artifact(seg, shape="daily", dataset="grid", run_date="2026-11-30")
    assert model.kind == "meters" and model.dataset == "grid" and model.run_date == "2026-11-30"
    assert model.space == {"type": "meter-shape", "shape": "daily", "features": ["profile"],
                           "clr_floor": CLR_FLOOR}
    assert model.extra["bands"] == {"low_below_kwh_per_day": seg.band_limits[0],
                                    "high_from_kwh_per_day": seg.band_limits[1],
                                    "rule": "tertiles of this run's meters"}
    assert model.extra["seasonal_min_ratio"] == 1.5
    assert model.extra["max_segment_id"] == 2 and model.extra["ids_follow"] is None
    assert {s["segment_id"]: s["segment_name"] for s in model.segments} == seg.names
    assert model.k == {"chosen": 3, "rule": seg.selection.rule,
                       "stability": seg.selection.stability, "silhouette": seg.silhouette}
    assert model.algorithm == "kmeans" and model.code_version == code_version()
    assert set(model.membership) == {"sigma"} and model.membership["sigma"] > 0


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_segment_ids_follow_the_previous_run_and_the_model_keeps_them(algorithm):
    """A segment matched with one of the previous run keeps its id, whatever its size now
    (docs/outputs.md); the model's centroids are listed by those ids, each the centre of the
    meters that carry its id, and a mixture's weights (gmm) in the same order."""
    first = meter_frame(sizes=(10, 8, 6))
    before = segment_meters(first, k=3)
    previous = model_artifact(before, shape="daily", dataset="grid", run_date="2026-11-29")
    now = meter_frame(sizes=(6, 8, 10), seed=1)          # the evening shape is now the largest
    seg = segment_meters(now, k=3, previous=previous, previous_run_date="2026-11-29",
                         algorithm=algorithm)
    assert seg.names == before.names
    night, evening = int(before.labels[0]), int(before.labels[-1])
    assert set(seg.labels[:6]) == {night} and set(seg.labels[-10:]) == {evening}
    model = model_artifact(seg, shape="daily", dataset="grid", run_date="2026-11-30")
    assert model.extra["ids_follow"] == "2026-11-29" and model.algorithm == algorithm
    ids = [s["segment_id"] for s in model.segments]
    assert ids == sorted(ids) and [s["segment_name"] for s in model.segments] == [
        seg.names[i] for i in ids]
    centroids = np.asarray(model.centroids)
    nearest = np.argmin(((seg.points[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)
    assert np.array_equal(np.array(ids)[nearest], seg.labels)
    if algorithm == "gmm":
        shares = [np.mean(seg.labels == i) for i in ids]
        assert model.membership["mixture"]["weights"] == pytest.approx(shares, abs=0.01)


def test_placed_meters_take_the_model_s_seasonal_rule(run):
    """segment assign: bands and the seasonal flag follow the saved model's rules."""
    features, seg = run
    model = model_artifact(seg, shape="daily", dataset="grid", run_date="2026-11-30")
    model.extra["seasonal_min_ratio"] = 2.5
    model.extra["bands"] = {"low_below_kwh_per_day": 2.0, "high_from_kwh_per_day": 3.0,
                            "rule": "fixed thresholds (--kwh-bands)"}
    placed = assign_meters(features.head(4), model)
    assert placed["seasonal_user"].tolist() == [False] * 4
    assert placed["consumption_band"].tolist() == [BANDS[0], BANDS[1], BANDS[2], BANDS[2]]
    assert placed["segment_label"].tolist() == [
        f"{b}, {n}" for b, n in zip(placed["consumption_band"], placed["segment_name"])]


def test_a_given_k_is_the_number_of_archetypes(run):
    """--k overrides the choice (here 4 of three planted shapes; the rule would take 3)."""
    features, _ = run
    seg = segment_meters(features, k=4, min_size=2)
    assert len(set(seg.labels)) == 4 and len(seg.names) == 4
    assert seg.selection.k == 4 and "given by the user" in seg.selection.rule


def test_too_few_meters_counts_the_set_aside_ones_by_the_cause_before_the_colon(run):
    """The meters set aside are named by their reason's cause (what comes before a ':'), with
    how many each, the most frequent first."""
    features, _ = run
    quarantined = pd.DataFrame({"reason": ["too little data: 3 of 365 days complete",
                                           "all readings are zero",
                                           "too little data: 10 of 365 days complete"]})
    with pytest.raises(InputError) as err:
        segment_meters(features.head(1), quarantined=quarantined)
    assert str(err.value) == ("only 1 meters can be segmented, at least 3 are needed; 3 meters "
                              "were set aside: 2 too little data, 1 all readings are zero; "
                              "nothing was published")


def test_the_k_range_and_the_seed_given_are_used(run):
    """--k-max bounds the k tried (from 3); --seed seeds the choice: the default (42) and
    another seed give other bootstrap draws on these meters, the same seed the same."""
    features, _ = run
    seven = segment_meters(features, k_max=5, seed=7)
    assert seven.selection.metrics["k"].tolist() == [3, 4, 5]
    assert seven.selection.metrics.equals(segment_meters(features, k_max=5, seed=7)
                                          .selection.metrics)
    assert not seven.selection.metrics.equals(segment_meters(features, k_max=5)
                                              .selection.metrics)


def test_the_namer_is_offered_the_previous_run_s_names_of_kept_archetypes(run, monkeypatch):
    """With the previous run's model, naming is offered each matched archetype's previous name
    (``prefer``), to keep while its claim holds."""
    from segmentation.meters import segment as module
    from segmentation.naming import base_of

    features, first = run
    previous = model_artifact(first, shape="daily", dataset="grid", run_date="2026-11-29")
    offered = []
    namer = module.name_segments

    def recording(*args, prefer=None):
        offered.append(prefer)
        return namer(*args, prefer=prefer)

    monkeypatch.setattr(module, "name_segments", recording)
    seg = segment_meters(features, previous=previous, previous_run_date="2026-11-29")
    assert offered == [{i: base_of(first.names[sid]) for i, sid in seg.alignment.ids.items()}]
    assert len(offered[0]) == 3


def test_every_meter_has_its_segment_s_probability():
    """``segment_probability``: per meter, the probability of its segment under the model
    (between 0 and 1); ``is_low_confidence`` where it is below the threshold."""
    features = meter_frame()
    seg = segment_meters(features, k=3, min_confidence=0.99)
    probability = seg.confidence["segment_probability"]
    assert probability.shape == (len(features),)
    assert np.array_equal(probability, np.asarray(seg.fit.probability, dtype=float))
    assert ((probability > 0) & (probability <= 1)).all()
    assert np.array_equal(seg.confidence["is_low_confidence"], probability < 0.99)
