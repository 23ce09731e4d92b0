"""The naming scaffolding (segmentation/naming.py), promise by promise: a kept segment keeps
its name while the claim holds (``prefer``, ``kept_names``), one name per segment, the
fallback, and names told apart by what separates them, never by a number."""

from __future__ import annotations

import pandas as pd

from segmentation.alignment import Alignment
from segmentation.naming import assign_names, base_of, distinguish, kept_names


def test_a_kept_segment_offers_the_name_it_had_without_its_qualifier():
    alignment = Alignment(ids={0: 7, 1: 3, 2: 12}, matched={7: 0.1, 3: 0.4},
                          previous_names={7: "Night Users (strong)", 3: "Champions",
                                          5: "Gone Ones"})
    assert kept_names(alignment) == {0: "Night Users", 1: "Champions"}     # 2 is new


def test_base_of_drops_only_the_qualifier():
    assert base_of("High Spend / Low Visits (low age, high income)") == "High Spend / Low Visits"
    assert base_of("Champions") == "Champions"
    # a name ``distinguish`` had to tell apart by the segment id as well
    assert base_of("Night Users (strong) (segment 3)") == "Night Users"


def test_a_preferred_name_wins_over_any_better_fit_while_its_fit_is_positive():
    scores = pd.DataFrame({"A": [5.0, 4.0, 0.0], "B": [0.1, 0.0, 3.0], "C": [0.0, 0.2, 0.0]},
                          index=[10, 11, 12])
    fresh, _ = assign_names(scores, lambda s: "Other")
    assert fresh == {10: "A", 11: "C", 12: "B"}
    # 10 keeps B (a fit of 0.1 beats 5.0 + 3.0 elsewhere); 12 loses B to it and takes nothing
    kept, fallbacks = assign_names(scores, lambda s: f"Other {s}", prefer={10: "B"})
    assert kept == {10: "B", 11: "A", 12: "Other 12"} and fallbacks == {12}


def test_a_barely_fitting_kept_name_beats_a_far_better_one_whatever_the_misfits():
    scores = pd.DataFrame({"A": [0.1], "B": [0.9], "C": [-5.0]}, index=[0])
    assert assign_names(scores, lambda s: "Other")[0] == {0: "B"}
    assert assign_names(scores, lambda s: "Other", prefer={0: "A"})[0] == {0: "A"}


def test_two_segments_that_kept_the_same_name_leave_it_to_the_one_it_fits_better():
    # both were "A (moderate)" / "A (strong)" before; the better fit keeps A
    scores = pd.DataFrame({"A": [0.2, 0.9], "B": [0.05, 0.3]}, index=[0, 1])
    names, _ = assign_names(scores, lambda s: "Other", prefer={0: "A", 1: "A"})
    assert names == {0: "B", 1: "A"}


def test_a_preference_the_scores_cannot_honour_is_ignored():
    scores = pd.DataFrame({"A": [1.0, 0.5], "B": [0.0, 0.9]}, index=[0, 1])
    fresh = assign_names(scores, lambda s: "Other")
    assert assign_names(scores, lambda s: "Other", prefer={0: "B"}) == fresh     # fit 0
    assert assign_names(scores, lambda s: "Other", prefer={0: "Z", 9: "A"}) == fresh
    assert assign_names(scores, lambda s: "Other", prefer=None) == fresh
    assert fresh == ({0: "A", 1: "B"}, set())


def test_without_candidates_every_segment_gets_its_fallback():
    empty = pd.DataFrame(index=[3, 4], columns=[], dtype=float)
    names, fallbacks = assign_names(empty, lambda s: f"Segment {s}")
    assert names == {3: "Segment 3", 4: "Segment 4"} and fallbacks == {3, 4}


def test_names_told_apart_carry_every_word_of_their_split_in_order():
    means = pd.DataFrame({"x": [0.0, 1.0, 10.0, 11.0], "y": [0.0, 5.0, 0.0, 5.0]},
                         index=[0, 1, 2, 3])
    got = distinguish({0: "A", 1: "A", 2: "A", 3: "A"}, means, pd.Series({"x": 1.0, "y": 1.0}),
                      lambda name, stat: (f"low {stat}", f"high {stat}"))
    assert got == {0: "A (low x, low y)", 1: "A (low x, high y)", 2: "A (high x, low y)",
                   3: "A (high x, high y)"}
