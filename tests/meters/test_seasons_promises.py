"""Which months are winter and summer: the hemisphere of the meters' time zone
(segmentation/meters/seasons.py, docs/meters.md step 4), on zone names alone."""

from __future__ import annotations

import sys

import pytest

from segmentation.meters import seasons
from segmentation.meters.seasons import hemisphere_of, resolve_hemisphere, zone_latitudes


@pytest.fixture(autouse=True)
def fresh_table():
    # The table is cached per process; read it anew so each test sees this code's reading.
    zone_latitudes.cache_clear()
    yield
    zone_latitudes.cache_clear()


def test_a_zone_s_latitude_counts_degrees_minutes_and_seconds():
    assert seasons._latitude("+513030-0000731") == pytest.approx(51 + 30 / 60 + 30 / 3600)
    assert seasons._latitude("-3352+15113") == pytest.approx(-(33 + 52 / 60))
    assert seasons._latitude("+0023+00927") == pytest.approx(23 / 60)
    assert seasons._latitude("-0002+10920") == pytest.approx(-2 / 60)


@pytest.mark.parametrize("zone, side, degrees", [
    ("Africa/Sao_Tome", "north", "+0.3"),           # 0 deg 20' N
    ("Asia/Pontianak", "south", "-0.0"),            # 0 deg 2' S: southern, whole degrees 0
    ("Pacific/Galapagos", "south", "-0.9"),
])
def test_a_zone_near_the_equator_takes_the_side_of_its_minutes(zone, side, degrees):
    assert hemisphere_of(zone) == (side, f"from the latitude of {zone} ({degrees} degrees)")


@pytest.mark.parametrize("zone, side, degrees", [
    ("Europe/London", "north", "+51.5"), ("Australia/Sydney", "south", "-33.9"),
    ("Africa/Johannesburg", "south", "-26.2"), ("Asia/Kolkata", "north", "+22.5"),
])
def test_a_zone_in_the_iana_table_takes_the_side_of_its_latitude(zone, side, degrees):
    assert hemisphere_of(zone) == (side, f"from the latitude of {zone} ({degrees} degrees)")


@pytest.mark.parametrize("zone, side, degrees", [
    ("Australia/Queensland", "south", "-27.5"),     # links to Australia/Brisbane: no DST
    ("Brazil/East", "south", "-23.5"), ("US/Pacific", "north", "+34.1"),
])
def test_an_old_zone_name_takes_the_latitude_of_the_zone_it_links_to(zone, side, degrees):
    assert hemisphere_of(zone) == (side, f"from the latitude of {zone} ({degrees} degrees)")


def test_without_a_latitude_summer_time_in_january_is_southern(monkeypatch):
    monkeypatch.setattr(seasons, "zone_latitudes", lambda: {})    # no table on this machine
    assert hemisphere_of("Australia/Sydney") == (
        "south", "from the daylight-saving rule of Australia/Sydney (summer time in January)")


@pytest.mark.parametrize("zone, side, month", [("PST8PDT", "north", "July")])
def test_a_zone_not_in_the_table_takes_the_side_of_its_summer_time(zone, side, month):
    assert zone not in zone_latitudes()
    assert hemisphere_of(zone) == (side, f"from the daylight-saving rule of {zone} (summer "
                                         f"time in {month})")


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT+5"])
def test_a_zone_with_neither_is_assumed_northern_and_says_so(zone):
    assert hemisphere_of(zone) == ("north", f"assumed: {zone} gives no hemisphere (pass "
                                            "--hemisphere)")


def test_hemisphere_given_overrides_the_zone():
    assert resolve_hemisphere("Europe/London", "south") == ("south", "given (--hemisphere)")
    assert resolve_hemisphere("Australia/Sydney", "north") == ("north", "given (--hemisphere)")
    assert resolve_hemisphere("Australia/Sydney", None) == hemisphere_of("Australia/Sydney")


def test_the_table_reads_every_zone_line_and_the_first_table_wins(tmp_path, monkeypatch):
    first, second = tmp_path / "zone1970.tab", tmp_path / "zone.tab"
    first.write_text("# comment\tx\tTest/Commented\n\nXX\t-1030+01000\tTest/South\tnote\n"
                     "XX\t+2000+01000\tTest/Both\n", encoding="utf-8")
    second.write_text("XX\t-4000+01000\tTest/Both\nXX\t+4500-00100\tTest/Older\nbroken line\n",
                      encoding="utf-8")
    monkeypatch.setattr(seasons, "_SYSTEM_TABLES", [first, second, tmp_path / "absent.tab"])
    table = zone_latitudes()
    assert table["Test/South"] == -10.5 and table["Test/Older"] == 45.0
    assert table["Test/Both"] == 20.0
    assert "Test/Commented" not in table and "" not in table
    assert table["Europe/London"] == pytest.approx(51.5083, abs=1e-4)   # tzdata's table first
    # Without the tzdata package, the system's tables alone.
    monkeypatch.setitem(sys.modules, "tzdata", None)
    monkeypatch.setitem(sys.modules, "tzdata.zoneinfo", None)
    zone_latitudes.cache_clear()
    assert zone_latitudes() == {"Test/South": -10.5, "Test/Both": 20.0, "Test/Older": 45.0}


def test_without_the_tzdata_package_old_names_link_through_the_system_s_zone_data(
        tmp_path, monkeypatch):
    # seasons.zone_links: "the tzdata package's first, else the system's" tzdata.zi; only its
    # link lines ("L zone old-name") count.
    table, links = tmp_path / "zone1970.tab", tmp_path / "tzdata.zi"
    table.write_text("XX\t-1030+01000\tTest/South\nXX\t+2000+01000\tTest/North\n",
                     encoding="utf-8")
    links.write_text("# version\nZ Test/South 1:00 - X\n\nL Test/South Test/OldSouth\n"
                     "L Test/North Test/OldNorth extra\nR Test/North Test/NotALink\n"
                     "L Test/Absent Test/OldAbsent\n", encoding="utf-8")
    monkeypatch.setattr(seasons, "_SYSTEM_TABLES", [table])
    monkeypatch.setattr(seasons, "_SYSTEM_LINKS", [links, tmp_path / "absent.zi"])
    monkeypatch.setitem(sys.modules, "tzdata", None)
    monkeypatch.setitem(sys.modules, "tzdata.zoneinfo", None)
    assert seasons.zone_links() == [("Test/South", "Test/OldSouth"),
                                    ("Test/Absent", "Test/OldAbsent")]
    assert zone_latitudes() == {"Test/South": -10.5, "Test/North": 20.0,
                                "Test/OldSouth": -10.5}


def test_a_second_of_latitude_is_a_3600th_of_a_degree():
    assert seasons._latitude("-000030+0000000") == pytest.approx(-30 / 3600)
    assert seasons._latitude("+000001+0000000") == pytest.approx(1 / 3600)


def test_old_names_link_through_the_tzdata_package_on_a_machine_without_zone_data(
        monkeypatch):
    # The package's tzdata.zi first: a slim container without /usr/share/zoneinfo still
    # knows Australia/Queensland.
    monkeypatch.setattr(seasons, "_SYSTEM_TABLES", [])
    monkeypatch.setattr(seasons, "_SYSTEM_LINKS", [])
    assert ("Australia/Brisbane", "Australia/Queensland") in seasons.zone_links()
    assert hemisphere_of("Australia/Queensland")[0] == "south"
