"""The archetype naming rule on hand-made segments: which name, the double peak, the fallback."""

import numpy as np
import pandas as pd

from segmentation.meters.naming import DOUBLE_RATIO, STATS, _words, base_name, name_segments

POPULATION = pd.DataFrame({stat: np.linspace(0.1, 0.3, 21) for stat in STATS})


def members(**high):
    """Members whose given statistics sit above the population median (others below)."""
    return pd.DataFrame({s: [0.3 if s in high else 0.1] * 3 for s in STATS})


def z(**values):
    return pd.Series({s: values.get(s, 0.0) for s in STATS})


def test_the_highest_scoring_name_whose_claim_holds():
    assert base_name(z(evening_share=1.0, daytime_share=0.8), members(evening_share=1, daytime_share=1),
                     POPULATION) == "Evening Peakers"
    # The best score's claim fails on the members' median: the next name is used.
    assert base_name(z(evening_share=1.0, daytime_share=0.8), members(daytime_share=1),
                     POPULATION) == "Daytime Users"


def test_double_peak_when_the_other_peak_is_at_least_half():
    both = members(morning_share=1, evening_share=1)
    at = z(evening_share=1.0, morning_share=DOUBLE_RATIO)
    below = z(evening_share=1.0, morning_share=DOUBLE_RATIO - 0.01)
    assert base_name(at, both, POPULATION) == "Morning & Evening Peakers"
    assert base_name(below, both, POPULATION) == "Evening Peakers"
    assert base_name(z(morning_share=1.0, evening_share=0.6), both, POPULATION) == \
        "Morning & Evening Peakers"
    assert base_name(z(morning_share=1.0, evening_share=0.1), both, POPULATION) == "Morning Peakers"


def test_a_second_peak_at_the_population_mean_is_no_peak():
    at_mean = z(morning_share=0.0, evening_share=0.0, night_share=-1.0, daytime_share=-1.0,
                peak_to_mean=1.0)
    both = members(morning_share=1, evening_share=1)
    assert base_name(at_mean, both, POPULATION) == "Morning Peakers"


def test_flat_baseload_claims_a_low_peak_to_mean():
    flat = pd.DataFrame({s: [0.1] * 3 for s in STATS})
    assert base_name(z(peak_to_mean=-2.0), flat, POPULATION) == "Flat/Baseload"
    assert base_name(z(peak_to_mean=-2.0), members(peak_to_mean=1), POPULATION) is None


def test_a_segment_no_claim_fits_gets_the_fallback_and_is_counted():
    features = POPULATION.assign(peak_hour=5.0).copy()
    features.loc[:, :] = 0.2                          # every meter identical: no claim holds
    features["peak_hour"] = 5.0
    names, fallbacks = name_segments(features, np.array([0] * 10 + [1] * 11))
    assert names == {0: "Mixed profile (peak 05 h) (segment 0)", 1: "Mixed profile (peak 05 h) (segment 1)"}
    assert fallbacks == {0, 1}
    features["peak_hour"] = [5.0] * 10 + [19.0] * 11       # the members' median peak hour
    names, _ = name_segments(features, np.array([0] * 10 + [1] * 11))
    assert names == {0: "Mixed profile (peak 05 h)", 1: "Mixed profile (peak 19 h)"}


def test_a_segment_of_only_atypical_members_is_named_from_all_its_members():
    night = {"night_share": [0.50] * 10 + [0.10] * 30, "evening_share": [0.10] * 20 + [0.40] * 20}
    features = pd.DataFrame({s: night.get(s, [0.2] * 40) for s in STATS}).assign(peak_hour=2.0)
    typical = np.r_[np.zeros(10, bool), np.ones(30, bool)]
    names, _ = name_segments(features, np.repeat([0, 1, 2], [10, 10, 20]), typical)
    assert names == {0: "Night Users", 1: "Mixed profile (peak 02 h)", 2: "Evening Peakers"}


def test_two_segments_of_one_archetype_are_told_apart_by_degree_of_their_own_statistic():
    night = {"night_share": [0.50] * 10 + [0.40] * 10 + [0.10] * 20,
             "evening_share": [0.10] * 20 + [0.40] * 20}
    features = pd.DataFrame({s: night.get(s, [0.2] * 40) for s in STATS}).assign(peak_hour=2.0)
    names, fallbacks = name_segments(features, np.repeat([0, 1, 2], [10, 10, 20]))
    assert names == {0: "Night Users (strong)", 1: "Night Users (moderate)", 2: "Evening Peakers"}
    assert fallbacks == set()


def test_qualifier_words_say_degree_only_for_the_names_own_statistic():
    assert _words("Night Users", "night_share") == ("moderate", "strong")
    assert _words("Night Users", "evening_share") == ("less evening use", "more evening use")
    assert _words("Flat/Baseload", "peak_to_mean") == ("flatter", "peakier")


def test_a_segment_of_only_atypical_members_is_ranked_on_all_its_members():
    # segment 0: night and evening both above the medians; evening stands out more (the night
    # shares of segment 1 spread, its evening shares do not), so the name is Evening Peakers
    night = np.r_[np.full(10, 0.3), np.tile([0.05, 0.15], 15)]
    evening = np.r_[np.full(10, 0.5), np.full(30, 0.1)]
    features = pd.DataFrame({s: np.full(40, 0.2) for s in STATS}).assign(
        night_share=night, evening_share=evening, peak_hour=19.0)
    labels = np.repeat([0, 1], [10, 30])
    names, _ = name_segments(features, labels, typical=labels == 1)
    assert names[0] == "Evening Peakers"
