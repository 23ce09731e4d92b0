"""The time-zone rule as SQL, evaluated by DuckDB on single local times in both hemispheres."""

import pandas as pd
import pytest

from segmentation.meters.localtime import local_time_sql, zone_transitions
from tests.meters.conftest import duck


def evaluate(timezone: str, local: str, years=(2024,)) -> dict:
    sql = local_time_sql(timezone, list(years))
    row = duck(f"SELECT {sql['offset']}, {sql['winter_offset']}, {sql['ambiguous']}, "
               f"{sql['nonexistent']} FROM (SELECT TIMESTAMP '{local}' AS local)")[0]
    return dict(zip(["offset", "winter_offset", "ambiguous", "nonexistent"], row))


def test_london_2024_has_two_transitions_at_one_utc():
    assert zone_transitions("Europe/London", [2024, 2024]) == [
        (pd.Timestamp("2024-03-31 01:00"), 0, 60), (pd.Timestamp("2024-10-27 01:00"), 60, 0)]


def test_sydney_changes_the_other_way_round():
    assert zone_transitions("Australia/Sydney", [2024]) == [
        (pd.Timestamp("2024-04-06 16:00"), 660, 600), (pd.Timestamp("2024-10-05 16:00"), 600, 660)]


@pytest.mark.parametrize("local,offset,winter,ambiguous,nonexistent", [
    ("2024-01-15 12:00:00", 0, None, False, False),
    ("2024-03-31 00:59:59", 0, None, False, False),
    ("2024-03-31 01:00:00", 0, None, False, True),      # the skipped hour starts
    ("2024-03-31 01:59:59", 0, None, False, True),
    ("2024-03-31 02:00:00", 60, None, False, False),
    ("2024-07-01 12:00:00", 60, None, False, False),
    ("2024-10-27 00:59:59", 60, None, False, False),
    ("2024-10-27 01:00:00", 60, 0, True, False),        # repeated hour: summer first, then winter
    ("2024-10-27 01:59:59", 60, 0, True, False),
    ("2024-10-27 02:00:00", 0, None, False, False),
    ("2024-12-31 23:59:59", 0, None, False, False),
])
def test_london_local_times(local, offset, winter, ambiguous, nonexistent):
    assert evaluate("Europe/London", local) == {"offset": offset, "winter_offset": winter,
                                                "ambiguous": ambiguous, "nonexistent": nonexistent}


@pytest.mark.parametrize("local,offset,ambiguous,nonexistent", [
    ("2024-01-15 12:00:00", 660, False, False),         # January is summer in Sydney
    ("2024-04-07 02:30:00", 660, True, False),          # clocks go back at 03:00 to 02:00
    ("2024-04-07 03:00:00", 600, False, False),
    ("2024-07-01 12:00:00", 600, False, False),
    ("2024-10-06 02:30:00", 600, False, True),          # 02:00-03:00 does not exist
    ("2024-10-06 03:00:00", 660, False, False),
])
def test_sydney_local_times(local, offset, ambiguous, nonexistent):
    result = evaluate("Australia/Sydney", local)
    assert (result["offset"], result["ambiguous"], result["nonexistent"]) == (offset, ambiguous, nonexistent)
    assert result["winter_offset"] == (600 if ambiguous else None)


def test_a_zone_without_transitions_is_a_constant_offset():
    assert local_time_sql("Asia/Kolkata", [2024]) == {
        "offset": "330", "winter_offset": "330", "ambiguous": "FALSE", "nonexistent": "FALSE"}
    assert local_time_sql("UTC", [])["offset"] == "0"


def test_several_years_keep_every_transition():
    sql = local_time_sql("Europe/London", [2023, 2024])
    assert sql["ambiguous"].count(" OR ") == 1 and sql["nonexistent"].count(" OR ") == 1
    assert evaluate("Europe/London", "2023-10-29 01:30:00", years=(2023, 2024))["ambiguous"]
    assert evaluate("Europe/London", "2023-07-01 12:00:00", years=(2023, 2024))["offset"] == 60
