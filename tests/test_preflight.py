"""The CLI's checks before anything starts (segmentation/preflight.py): both sides of each
check, so a good input passes and a bad one is one InputError naming the file, column, row."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation import preflight
from segmentation.errors import InputError
from segmentation.preflight import (check_customers, check_dataset, check_file, check_k,
                                    check_meters, check_timezone, nearest_zones)
from segmentation.settings import RunPaths

MALL = "CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n1,Male,19,15,39\n"
MEMBERS = "Member ID,tenure,visits,region\nA1,3,4,north\nA2,5,6,south\n"


def write(tmp_path, text: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["a", "shop", "grid-uk_2", "a" + "b" * 62])
def test_a_dataset_name_that_can_name_folders_passes(name):
    check_dataset(name)


@pytest.mark.parametrize("name", ["", "Shop", "2shop", "-shop", "my shop", "a/b", "a" + "b" * 63,
                                  "shop\n"])
def test_any_other_dataset_name_is_refused(name):
    with pytest.raises(InputError) as refused:
        check_dataset(name)
    assert str(refused.value) == (f"--dataset '{name}' is not a dataset name: lower-case letters, "
                                  "digits, '-' and '_', starting with a letter (it names folders)")


@pytest.mark.parametrize("k_min, k_max", [(2, 10), (4, 4), (2, 3)])
def test_k_min_up_to_k_max_passes(k_min, k_max):
    check_k(k_min, k_max)


@pytest.mark.parametrize("k_min, k_max", [(5, 4), (11, 10), (3, 2)])
def test_k_min_above_k_max_is_refused(k_min, k_max):
    with pytest.raises(InputError) as refused:
        check_k(k_min, k_max)
    assert str(refused.value) == f"--k-min ({k_min}) must not exceed --k-max ({k_max})"


@pytest.mark.parametrize("zone", ["Europe/London", "UTC", "Australia/Sydney"])
def test_an_iana_time_zone_passes(zone):
    check_timezone(zone)


@pytest.mark.parametrize("zone, hint", [
    ("europe/london", "did you mean Europe/London?"),
    ("Europe/Londn", "did you mean Europe/London or Europe/Lisbon or Europe/Oslo?"),
    ("America/Paris", "did you mean Europe/Paris or America/Rosario or America/Marigot?"),
    ("Mars/Olympus", "use an IANA name such as Europe/London"),
    ("../etc/passwd", "use an IANA name such as Europe/London"),
    ("", "use an IANA name such as Europe/London"),
])
def test_an_unknown_time_zone_is_refused_with_the_nearest_names(zone, hint):
    with pytest.raises(InputError) as refused:
        check_timezone(zone)
    assert str(refused.value) == f"unknown time zone '{zone}': {hint}"


def test_several_near_zones_are_offered_best_first_at_most_three():
    near = nearest_zones("America/Nort_Dakota")
    assert 1 < len(near) <= 3 and all(z.startswith("America/North_Dakota") for z in near)
    assert len(nearest_zones("America/Nort_Dakota", n=1)) == 1
    with pytest.raises(InputError, match=r"did you mean America/North_Dakota/\w+ or America/"):
        check_timezone("America/Nort_Dakota")


@pytest.mark.parametrize("name, n, near", [
    ("Mars/Base/Cordoba", 3, ["America/Argentina/Cordoba", "America/Cordoba"]),   # the city
    ("Eurpe/Paaris", 3, ["Europe/Paris"]),                       # close names only, not loose
    ("America/Rome", 5, ["Europe/Rome", "America/Nome", "America/Boise", "Africa/Lome",
                         "America/Regina"]),
])
def test_the_nearest_zones_are_the_same_city_then_close_spellings(name, n, near):
    assert nearest_zones(name, n=n) == near


def test_a_readable_file_passes_and_is_returned_as_a_path(tmp_path):
    path = write(tmp_path, MALL)
    assert check_file(str(path)) == path


@pytest.mark.parametrize("make, message", [
    (lambda d: d, "is a directory, not a file: pass the file itself (or, for meters, the files "
                  "in it)"),
    (lambda d: d / "absent.csv", "file not found (check the path)"),
])
def test_a_directory_or_a_missing_file_is_named(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError) as refused:
        check_file(path)
    assert str(refused.value) == f"file '{path}': {message}"


def test_an_unreadable_file_says_why(tmp_path, monkeypatch):
    path = write(tmp_path, MALL)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(preflight, "open", denied, raising=False)   # root reads any file
    with pytest.raises(InputError) as refused:
        check_file(path)
    assert str(refused.value) == f"file '{path}': cannot be read: Permission denied"


def paths(tmp_path) -> RunPaths:
    return RunPaths.create("shop", "2026-11-01", tmp_path / "data", tmp_path / "outputs")


def test_a_customer_table_whose_header_has_the_named_columns_passes(tmp_path):
    path = write(tmp_path, MEMBERS)
    check_customers(str(path), paths(tmp_path), "Member ID", ["tenure", "visits"], ["region"])
    check_customers(str(write(tmp_path, MALL, "mall.csv")), paths(tmp_path), None, None, None)


def test_columns_the_user_did_not_name_are_left_to_the_run(tmp_path):
    """No --id-column on a table without one: line numbers; no --features on a Mall-like
    table missing a Mall column: the suite names it when the run validates."""
    check_customers(str(write(tmp_path, "Fresh,Milk\n1,2\n3,4\n")), paths(tmp_path), None,
                    None, None)
    check_customers(str(write(tmp_path, "CustomerID,Age,Annual Income (k$)\n1,2,3\n", "m.csv")),
                    paths(tmp_path), None, None, None)


def test_no_input_leaves_the_flow_to_look_in_the_raw_folder(tmp_path):
    check_customers(None, paths(tmp_path), "nope", ["nope"], ["nope"])


@pytest.mark.parametrize("id_column, features, categorical, option, column", [
    ("Member No", ["tenure"], None, "--id-column", "member_no"),
    ("Member ID", ["tenure", "basket"], None, "--features", "basket"),
    ("Member ID", ["tenure"], ["Region", "channel"], "--categorical", "channel"),
    (None, None, ["channel"], "--categorical", "channel"),
])
def test_a_named_column_missing_from_the_header_is_refused(tmp_path, id_column, features,
                                                           categorical, option, column):
    path = write(tmp_path, MEMBERS)
    with pytest.raises(InputError) as refused:
        check_customers(str(path), paths(tmp_path), id_column, features, categorical)
    assert str(refused.value) == (f"file '{path}', column '{column}', row 1: {option} names "
                                  f"'{column}', which is not in the header (columns: member_id, "
                                  "tenure, visits, region)")


def test_the_id_column_named_as_a_feature_is_refused_naming_the_file(tmp_path):
    path = write(tmp_path, MEMBERS)
    with pytest.raises(InputError) as refused:
        check_customers(str(path), paths(tmp_path), "Member ID", ["Member ID", "tenure"], None)
    assert str(refused.value).startswith(f"file '{path}', column 'member_id': 'member_id' is "
                                         "the id column; it cannot also be clustered on")


def test_the_customer_file_itself_is_checked_first(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        check_customers(str(tmp_path / "absent.csv"), paths(tmp_path), None, None, None)
    header_only = write(tmp_path, "a,b\n")
    with pytest.raises(InputError, match="has a header line and no data rows"):
        check_customers(str(header_only), paths(tmp_path), None, None, None)
    png = tmp_path / "c.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(InputError, match=r"this is a PNG image, not a CSV customer table \(CSV, "
                                         r"or CSV compressed with gzip\)"):
        check_customers(str(png), paths(tmp_path), None, None, None)


READINGS = "meter_id,timestamp,kwh\nm1,2024-01-01 00:00,0.5\nm1,2024-01-01 00:30,0.4\n"


def test_reading_files_with_a_known_format_pass(tmp_path):
    import pandas as pd

    csv = write(tmp_path, READINGS, "r.csv")
    parquet = tmp_path / "r.parquet"
    pd.read_csv(csv).to_parquet(parquet)
    check_meters([str(csv), str(parquet)], "auto", "Europe/London")
    check_meters(None, "auto", "Europe/London")


def test_a_reading_file_with_a_ragged_line_is_refused_naming_the_line(tmp_path):
    """Arrow's reader refuses a file with a line of another number of fields, so the
    preflight does too, naming the line, before a run starts; a customer table's such line is
    quarantined instead, so its check lets the file pass."""
    ragged = write(tmp_path, READINGS + "m1,2024-01-01 01:00,0.5,extra\n", "r.csv")
    with pytest.raises(InputError, match=r"r.csv', row 4: 4 fields where the header has 3"):
        check_meters([str(ragged)], "auto", "UTC")
    table = write(tmp_path, "CustomerID,Age\n1,20\n2,30,4\n", "c.csv")
    check_customers(str(table), paths(tmp_path), None, None, None)


def test_reading_files_are_checked_zone_first_then_each_file_then_the_format(tmp_path):
    csv = write(tmp_path, READINGS, "r.csv")
    with pytest.raises(InputError, match="unknown time zone 'Europe/Lundon'"):
        check_meters([str(tmp_path / "absent.csv")], "auto", "Europe/Lundon")
    with pytest.raises(InputError, match="absent.csv': file not found"):
        check_meters([str(csv), str(tmp_path / "absent.csv")], "auto", "UTC")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(20))
    with pytest.raises(InputError, match=r"this is a PDF document, not a table of readings \(CSV, "
                                         r"gzip-compressed CSV or Parquet\)"):
        check_meters([str(pdf)], "auto", "UTC")
    wrong = write(tmp_path, "meter_id,when,kwh\nm1,2024-01-01 00:00,0.5\n", "w.csv")
    with pytest.raises(InputError, match=r"w.csv', column 'timestamp', row 1"):
        check_meters([str(csv), str(wrong)], "auto", "UTC")
