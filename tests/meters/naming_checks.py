"""An independent check that archetype names are true of their members (the README's table).

Written from the documented claims, not from ``segmentation.meters.naming``,
so a change in the naming code that makes a name false fails here.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

# name -> [(statistic, +1 above / -1 below the population median)]
CLAIMS = {
    "Night Users": [("night_share", 1)],
    "Morning Peakers": [("morning_share", 1)],
    "Daytime Users": [("daytime_share", 1)],
    "Evening Peakers": [("evening_share", 1)],
    "Morning & Evening Peakers": [("morning_share", 1), ("evening_share", 1)],
    "Flat/Baseload": [("peak_to_mean", -1)],
}
WORDS = {"less night use": ("night_share", -1), "more night use": ("night_share", 1),
         "less morning use": ("morning_share", -1), "more morning use": ("morning_share", 1),
         "less daytime use": ("daytime_share", -1), "more daytime use": ("daytime_share", 1),
         "less evening use": ("evening_share", -1), "more evening use": ("evening_share", 1),
         "flatter": ("peak_to_mean", -1), "peakier": ("peak_to_mean", 1)}


def parse(name: str) -> tuple[str, list[str]]:
    match = re.fullmatch(r"(.+?)(?: \((.+)\))?", name)
    base, qualifiers = match.group(1), match.group(2)
    return base, (qualifiers.split(", ") if qualifiers else [])


def word_meaning(base: str, word: str) -> tuple[str, int]:
    if word in ("moderate", "strong"):
        return CLAIMS[base][0][0], (1 if word == "strong" else -1)
    return WORDS[word]


def assert_meter_names_true(features: pd.DataFrame, labels: np.ndarray, names: dict) -> None:
    """Every segment's name claims hold; qualifiers order siblings correctly; names are unique."""
    labels = np.asarray(labels)
    assert len(set(names.values())) == len(names), names
    population = features.reset_index(drop=True)
    parsed = {s: parse(n) for s, n in names.items()}
    for segment, (base, _) in parsed.items():
        members = population[labels == segment]
        if base.startswith("Mixed profile"):
            continue
        for stat, sign in CLAIMS[base]:
            difference = members[stat].median() - population[stat].median()
            assert np.sign(difference) == sign, (names[segment], stat, difference)
    for a, b in itertools.combinations(parsed, 2):
        (base_a, words_a), (base_b, words_b) = parsed[a], parsed[b]
        if base_a != base_b or base_a.startswith("Mixed profile"):
            continue
        i = next(i for i, (x, y) in enumerate(zip(words_a, words_b)) if x != y)
        (stat_a, sign_a), (stat_b, sign_b) = word_meaning(base_a, words_a[i]), \
            word_meaning(base_b, words_b[i])
        assert stat_a == stat_b and sign_a == -sign_b, (names[a], names[b])
        mean_a = population.loc[labels == a, stat_a].mean()
        mean_b = population.loc[labels == b, stat_a].mean()
        assert np.sign(mean_a - mean_b) == sign_a, (names[a], names[b], stat_a, mean_a, mean_b)
