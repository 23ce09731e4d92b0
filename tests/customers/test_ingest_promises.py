"""Each promise of docs/customers.md step 1 (Ingest), one at a time, through both readers
(Arrow for a file without quotes, Python's csv module for one with them)."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from segmentation.customers import ingest
from segmentation.customers.ingest import read_customer_csv, read_header, source_lines
from segmentation.errors import InputError

# docs/customers.md: "`,` `;` tab or `|` separators (sniffed from the header)"
SEPARATORS = [",", ";", "\t", "|"]
# docs/customers.md: "Missing-value markers: empty, `?`, `NA`, `N/A`, `null`, `None`, `NaN`, `-`"
MARKERS = ["", "?", "NA", "N/A", "null", "None", "NaN", "-"]


def write(tmp_path, text: str | bytes, name: str = "c.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def table(separator: str, quoted: bool) -> str:
    """A header and two rows; ``quoted``: one field in quotes (the csv-module reader)."""
    note = '"a note"' if quoted else "a note"
    return separator.join(["Member ID", "Visits", "Note"]) + "\n" + \
        separator.join(["m1", "4", note]) + "\n" + separator.join(["m2", "7", "b"]) + "\n"


@pytest.mark.parametrize("quoted", [False, True], ids=["arrow", "csv-module"])
@pytest.mark.parametrize("separator", SEPARATORS, ids=["comma", "semicolon", "tab", "pipe"])
def test_every_documented_separator_is_sniffed_from_the_header(tmp_path, separator, quoted):
    path = write(tmp_path, table(separator, quoted))
    rows, rejects = read_customer_csv(path)
    assert list(rows.columns) == ["member_id", "visits", "note", "source_row"]
    assert rows["member_id"].tolist() == ["m1", "m2"]
    assert rows["note"].tolist() == ["a note", "b"]
    assert rows["source_row"].tolist() == [2, 3]
    assert rejects.empty
    assert read_header(path) == ["member_id", "visits", "note"]


@pytest.mark.parametrize("separator", SEPARATORS, ids=["comma", "semicolon", "tab", "pipe"])
def test_the_separator_is_the_one_that_splits_the_header_most(separator):
    others = "".join(s for s in SEPARATORS if s != separator)      # one of each other
    assert ingest.sniff_separator(separator.join(["a", "b", "c", f"d{others}"])) == separator


@pytest.mark.parametrize("quoted", [False, True], ids=["arrow", "csv-module"])
@pytest.mark.parametrize("marker", MARKERS + ["na", "n/a", "NULL", "nan", "NONE", " NA ", "  "])
def test_every_documented_missing_marker_in_any_case_becomes_missing(tmp_path, marker, quoted):
    note = '"x"' if quoted else "x"
    path = write(tmp_path, f"id,visits,note\n1,{marker},{note}\n2,5,{marker}\n")
    rows, rejects = read_customer_csv(path)
    assert rejects.empty and len(rows) == 2
    assert pd.isna(rows.loc[0, "visits"]) and pd.isna(rows.loc[1, "note"])
    assert rows.loc[1, "visits"] == "5" and rows.loc[0, "note"] == "x"


@pytest.mark.parametrize("quoted", [False, True], ids=["arrow", "csv-module"])
@pytest.mark.parametrize("value", ["0", "--", "n.a.", "none yet", "NAN1", "?!"])
def test_other_values_are_kept_as_text_trimmed(tmp_path, value, quoted):
    note = '"x"' if quoted else "x"
    rows, _ = read_customer_csv(write(tmp_path, f"id,visits,note\n1, {value} ,{note}\n"))
    assert rows.loc[0, "visits"] == value
    assert str(rows["visits"].dtype) == "string"


@pytest.mark.parametrize("quoted", [False, True], ids=["arrow", "csv-module"])
def test_crlf_bom_blank_lines_and_wrong_field_counts(tmp_path, quoted):
    note = '"x"' if quoted else "x"
    text = (f"\ufeffid;visits;note\r\n1;2;{note}\r\n\r\n;;\r\n  ;  ; \r\n3;4\r\n5;6;y;z\r\n"
            f"7;8;{note}\r\n")
    rows, rejects = read_customer_csv(write(tmp_path, text.encode()))
    assert list(rows.columns) == ["id", "visits", "note", "source_row"]      # no BOM in a name
    assert rows["id"].tolist() == ["1", "7"] and rows["source_row"].tolist() == [2, 8]
    assert rejects.to_dict("records") == [
        {"source_row": 6, "raw_line": "3;4", "reason": "2 fields where the header has 3"},
        {"source_row": 7, "raw_line": "5;6;y;z", "reason": "4 fields where the header has 3"}]


def test_a_bare_carriage_return_ends_a_line_in_either_reader(tmp_path):
    rows, rejects = read_customer_csv(write(tmp_path, "id,visits\r1,2\r3,4\r"))
    assert rows["id"].tolist() == ["1", "3"] and rows["source_row"].tolist() == [2, 3]
    assert rejects.empty


def test_no_final_line_break_and_text_columns_are_kept(tmp_path):
    rows, _ = read_customer_csv(write(tmp_path, "id,visits\n1,2\n3,4"))
    assert rows["visits"].tolist() == ["2", "4"] and rows["source_row"].tolist() == [2, 3]
    assert str(rows["source_row"].dtype) == "int64"


def test_a_file_of_only_a_header_and_blank_lines_has_no_rows(tmp_path):
    for text in ("id,visits\n\n,\n", 'id,"visits"\n\n,\n'):
        rows, rejects = read_customer_csv(write(tmp_path, text))
        assert rows.empty and rejects.empty
        assert list(rows.columns) == ["id", "visits", "source_row"]


def test_a_gzip_compressed_table_reads_as_the_plain_one(tmp_path):
    plain = table(";", quoted=False)
    packed = write(tmp_path, gzip.compress(plain.encode()), "c.csv.gz")
    rows, _ = read_customer_csv(packed)
    pd.testing.assert_frame_equal(rows, read_customer_csv(write(tmp_path, plain))[0])
    assert read_header(packed) == ["member_id", "visits", "note"]
    assert source_lines(packed, [3]) == {3: "m2;7;b"}


def test_a_truncated_gzip_file_is_named(tmp_path):
    packed = gzip.compress(table(",", quoted=False).encode() * 50)
    path = write(tmp_path, packed[:len(packed) // 2], "c.csv.gz")
    with pytest.raises(InputError, match=r"^file '.*c.csv.gz': the file is gzip-compressed but "
                                         r"cannot be decompressed \(.*\); is it truncated\?$"):
        read_customer_csv(path)


@pytest.mark.parametrize("header, message", [
    ("id\n1\n", "the first line has a single column: is the separator one of , ; tab |, or is "
                "there a title line above the header? The header must be line 1"),
    ("id,,visits\n1,2,3\n", "header cell 2 of 3 is empty: is there a title line above the "
                            "header, or a trailing separator? The header must be line 1 and name "
                            "every column"),
])
def test_a_header_that_cannot_name_the_columns_is_refused_at_line_1(tmp_path, header, message):
    path = write(tmp_path, header)
    for read in (read_customer_csv, read_header):
        with pytest.raises(InputError) as refused:
            read(path)
        assert str(refused.value) == f"file '{path}', row 1: {message}"


def test_two_header_cells_naming_one_column_are_refused(tmp_path):
    path = write(tmp_path, "Age,visits,AGE \n1,2,3\n")
    with pytest.raises(InputError) as refused:
        read_customer_csv(path)
    assert str(refused.value) == (f"file '{path}', column 'age', row 1: two header cells name "
                                  "the same column")


@pytest.mark.parametrize("read", [read_customer_csv, read_header])
def test_missing_directory_and_empty_files_are_named(tmp_path, read):
    for path, message in ((tmp_path / "absent.csv", "file not found (check the --input path)"),
                          (tmp_path, "is a directory, not a file: pass the CSV file itself"),
                          (write(tmp_path, " \n\n", "e.csv"), "the file is empty: expected a "
                                                              "header line and data rows")):
        with pytest.raises(InputError) as refused:
            read(path)
        assert str(refused.value) == f"file '{path}': {message}"


def test_a_byte_that_is_not_utf8_is_named_with_its_line(tmp_path):
    path = write(tmp_path, b'id,note\n1,"ok"\n2,"caf\xe9"\n')
    with pytest.raises(InputError) as refused:
        read_customer_csv(path)
    assert str(refused.value) == (f"file '{path}', row 3: byte 0xe9 at offset 21 is not UTF-8; "
                                  "re-save the file as UTF-8")


def test_a_bad_byte_in_the_header_is_named_at_line_1(tmp_path):
    path = write(tmp_path, b"id,caf\xe9\n1,2\n")
    with pytest.raises(InputError) as refused:
        read_customer_csv(path)
    assert str(refused.value).startswith(f"file '{path}', row 1: byte 0xe9 at offset 6 is not")


def test_quarantined_lines_are_read_back_as_in_the_file(tmp_path):
    plain = write(tmp_path, "id,v\r\n1,2\r\n3,4\r\n5,6\r\n")
    assert source_lines(plain, [4, 2, 9]) == {2: "1,2", 4: "5,6"}
    assert source_lines(plain, []) == {}
    quoted = write(tmp_path, 'id;note\n1;"two\nlines"\n2;x\n', "q.csv")
    assert source_lines(quoted, [2, 4]) == {2: '1;"two\nlines"', 4: "2;x"}


def test_zero_padded_ids_are_one_customer_and_other_ids_are_kept():
    ids = pd.Series(["0001", "000", " 7 ", "A-01", "01.5", None], dtype="string")
    assert ingest.normalise_ids(ids).tolist() == ["1", "0", "7", "A-01", "01.5", pd.NA]


@pytest.mark.parametrize("code, name", [("m", "Male"), ("M", "Male"), ("male", "Male"),
                                        ("MALE", "Male"), (" f ", "Female"), ("Female", "Female"),
                                        ("FEMALE", "Female"), ("x", "x"), ("Other", "Other")])
def test_gender_codes_in_any_case_are_spelled_out(code, name):
    assert ingest.normalise_gender(pd.Series([code])).tolist() == [name]


@pytest.mark.parametrize("header, canonical", [
    ("CustomerID", "customer_id"), ("Customer_ID", "customer_id"), ("Genre", "gender"),
    ("Sex", "gender"), ("Annual Income (k$)", "annual_income_k"),
    ("Annual Income", "annual_income_k"), ("Spending Score (1-100)", "spending_score"),
    (" Member ID ", "member_id"), ("basket (EUR)", "basket_eur"), ("Age", "age"),
])
def test_column_names_become_snake_case_with_the_known_aliases(header, canonical):
    assert ingest.canonical_name(header) == canonical


# ---------------------------------------------------------------- rows that look odd are rows

@pytest.mark.parametrize("quoted", [False, True], ids=["arrow", "csv-module"])
def test_a_clean_file_has_an_empty_reject_table_with_its_columns(tmp_path, quoted):
    rows, rejects = read_customer_csv(write(tmp_path, table(",", quoted)))
    assert len(rows) == 2 and list(rejects.columns) == ["source_row", "raw_line", "reason"]
    assert len(rejects) == 0
    text = [c for c in rows.columns if c != "source_row"]
    assert all(rows[c].dtype == pd.StringDtype("pyarrow") for c in text)  # not Python objects
    assert rows["source_row"].dtype == "int64"


def test_a_header_without_a_line_break_is_the_whole_header(tmp_path):
    rows, rejects = read_customer_csv(write(tmp_path, "id,income"))
    assert list(rows.columns) == ["id", "income", "source_row"] and len(rows) == 0
    assert read_header(write(tmp_path, "id,income", "h.csv")) == ["id", "income"]


@pytest.mark.parametrize("quoted", [False, True], ids=["arrow", "csv-module"])
def test_a_line_of_one_character_is_a_row_or_a_reject_never_a_blank_line(tmp_path, quoted):
    note = '"n"' if quoted else "n"
    text = f"id,income,note\n1,,\n7\nX,X,X\n2,5,{note}\n   \n"
    rows, rejects = read_customer_csv(write(tmp_path, text))
    assert rows["source_row"].tolist() == [2, 4, 5]           # "1,," and "X,X,X" are rows
    assert rows["id"].tolist() == ["1", "X", "2"] and rows["income"].isna().tolist() == [
        True, False, False]
    assert rejects.to_dict("records") == [
        {"source_row": 3, "raw_line": "7", "reason": "1 fields where the header has 3"}]


@pytest.mark.parametrize("quoted", [False, True], ids=["arrow", "csv-module"])
def test_a_rejected_line_keeps_its_text_as_in_the_file(tmp_path, quoted):
    note = '"n"' if quoted else "n"
    text = f"id,income\r\n1,{note}\r\n7,8,9  \r\n7,8,X\r\n"
    rows, rejects = read_customer_csv(write(tmp_path, text))
    assert rejects["raw_line"].tolist() == ["7,8,9  ", "7,8,X"]
    assert source_lines(write(tmp_path, text, "again.csv"), [3, 4]) == {3: "7,8,9  ", 4: "7,8,X"}


def test_a_quoted_line_break_keeps_its_carriage_return_in_the_value_and_the_line(tmp_path):
    text = 'id;note;income\r\n1;"p,q,r\r\ns";5\r\n2;x;y;z\r\n'
    path = write(tmp_path, text)
    rows, rejects = read_customer_csv(path)
    assert rows["note"].tolist() == ["p,q,r\r\ns"] and rejects["source_row"].tolist() == [4]
    # the header's separator, not the first row's: the record spans lines 2-3
    assert source_lines(path, [2, 4]) == {2: '1;"p,q,r\r\ns";5', 4: "2;x;y;z"}


def test_a_quarantined_line_after_bare_carriage_returns_is_read_back(tmp_path):
    path = write(tmp_path, "id,v\r1,2\r3,4,5\r6,7\r")
    assert read_customer_csv(path)[1]["source_row"].tolist() == [3]
    assert source_lines(path, [3]) == {3: "3,4,5"}
