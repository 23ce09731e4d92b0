"""What an input file really is, told in one sentence before anything slow starts
(segmentation/filecheck.py, the CLI's preflight)."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest

from segmentation import filecheck
from segmentation.errors import InputError
from segmentation.filecheck import MAGIC, check_table_file
from tests.counting_reads import CountingReads, bounded

ACCEPTED = "a CSV table"
CSV = b"id,visits\n1,2\n3,4\n"


def write(tmp_path, data: bytes, name: str = "in.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refusal(path, **kwargs) -> str:
    with pytest.raises(InputError) as refused:
        check_table_file(path, accepted=ACCEPTED, **kwargs)
    return str(refused.value)


def zipped(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


@pytest.mark.parametrize("prefix, what", MAGIC, ids=[w for _, w in MAGIC])
def test_each_known_kind_of_file_is_named(tmp_path, prefix, what):
    path = write(tmp_path, prefix + b"0123456789" * 8)
    advice = (" Export the sheet as CSV (File > Save As > CSV UTF-8) and pass that file."
              if "Excel" in what else " Re-save it as UTF-8 (most editors: Save As > Encoding "
              "UTF-8)." if "UTF-16" in what else "")
    assert refusal(path) == f"file '{path}': this is {what}, not {ACCEPTED}.{advice}"


@pytest.mark.parametrize("members, what", [
    (["xl/workbook.xml", "[Content_Types].xml"], "an Excel workbook (.xlsx)"),
    (["word/document.xml"], "a Word document"),
    (["data.csv"], "a zip archive"),
])
def test_a_zip_file_is_told_by_what_it_holds(tmp_path, members, what):
    path = write(tmp_path, zipped(*members))
    message = refusal(path)
    assert message.startswith(f"file '{path}': this is {what}, not {ACCEPTED}.")
    assert message.endswith("and pass that file.") == ("Excel" in what)


def test_a_broken_zip_is_still_a_zip_archive(tmp_path):
    path = write(tmp_path, b"PK\x03\x04" + bytes(60))
    assert refusal(path) == f"file '{path}': this is a zip archive, not {ACCEPTED}."


@pytest.mark.parametrize("inner, what", [
    (b"\x89PNG\r\n\x1a\n" + bytes(20), "a PNG image, gzip-compressed"),
    (zipped("xl/workbook.xml"), "a zip archive, gzip-compressed"),
])
def test_a_gzip_compressed_file_is_named_by_what_is_inside(tmp_path, inner, what):
    path = write(tmp_path, gzip.compress(inner), "in.csv.gz")
    assert refusal(path).startswith(f"file '{path}': this is {what}, not {ACCEPTED}.")


def test_zero_bytes_mean_a_binary_file(tmp_path):
    path = write(tmp_path, b"id,visits\n1,\x002\n")
    assert refusal(path) == (f"file '{path}': this is a binary file (it holds zero bytes), not "
                             f"{ACCEPTED}.")


def test_text_and_gzip_compressed_text_pass_parquet_only_where_allowed(tmp_path):
    assert check_table_file(write(tmp_path, CSV), accepted=ACCEPTED) == "csv"
    assert check_table_file(write(tmp_path, gzip.compress(CSV), "in.gz"),
                            accepted=ACCEPTED) == "csv.gz"
    parquet = write(tmp_path, b"PAR1" + bytes(40), "r.parquet")
    assert check_table_file(parquet, accepted=ACCEPTED, allow_parquet=True) == "parquet"
    assert "this is a Parquet file" in refusal(parquet)


@pytest.mark.parametrize("data", [b"", b"  \n\t\n"])
def test_an_empty_file_is_named(tmp_path, data):
    path = write(tmp_path, data)
    assert refusal(path) == (f"file '{path}': the file is empty: expected a header line and "
                             "data rows")


@pytest.mark.parametrize("data", [b"id,visits\n", b"\xef\xbb\xbfid;visits\r\n\r\n;;\r\n , \n",
                                  b"\nid|visits\n|\n"])
def test_a_header_without_data_rows_is_named_at_row_2(tmp_path, data):
    path = write(tmp_path, data)
    assert refusal(path) == (f"file '{path}', row 2: the file has a header line and no data "
                             "rows: nothing to segment")
    packed = write(tmp_path, gzip.compress(data + b"\n" * 5), "in.csv.gz")
    assert "has a header line and no data rows" in refusal(packed)


@pytest.mark.parametrize("data", [b"id\n1\n", b"\n\nid,v\n\n1,2", b"id\t\n\t1\n"])
def test_one_data_row_after_the_header_is_enough(tmp_path, data):
    assert check_table_file(write(tmp_path, data), accepted=ACCEPTED) == "csv"


def test_a_byte_that_is_not_utf8_is_named_with_its_line_and_offset(tmp_path, monkeypatch):
    path = write(tmp_path, b"id,name\n1,ok\n2,caf\xe9\n")
    expected = (f"file '{path}', row 3: byte 0xe9 at offset 18 is not UTF-8: the file was saved "
                "in another encoding (Latin-1 or Windows-1252?); re-save it as UTF-8")
    assert refusal(path) == expected
    monkeypatch.setattr(filecheck, "CHUNK", 4)        # the bad byte in a later chunk
    assert refusal(path) == expected
    big = write(tmp_path, b"id\n" + b"12345\n" * 400 + b"\xff\n", "big.csv")
    assert "byte 0xff at offset 2,403 is not UTF-8" in refusal(big)
    assert "row 402:" in refusal(big)


def test_a_file_ending_inside_a_character_is_truncated(tmp_path):
    path = write(tmp_path, b"id,name\n1,caf\xc3")
    assert refusal(path) == (f"file '{path}', row 2: the file ends in the middle of a character: "
                             "is it truncated? It is not valid UTF-8")


def test_a_truncated_gzip_file_is_named(tmp_path):
    packed = gzip.compress(b"id,v\n" + "".join(f"{i},{i * 7919 % 10007}\n"
                                                for i in range(5000)).encode())
    path = write(tmp_path, packed[:len(packed) // 2], "in.csv.gz")
    assert refusal(path).startswith(f"file '{path}': the file is gzip-compressed but cannot be "
                                    "read to its end (")
    assert refusal(path).endswith("); is it truncated?")
    header_cut = write(tmp_path, packed[:12], "cut.csv.gz")
    assert refusal(header_cut).startswith(f"file '{header_cut}': the file is gzip-compressed but "
                                          "cannot be decompressed (")
    assert refusal(header_cut).endswith("); is it truncated?")


def test_data_lines_are_counted_up_to_two():
    def count(*chunks: bytes) -> int:
        rows = filecheck.DataLines()
        for chunk in chunks:
            rows.feed(chunk)
        return rows.close()

    assert count(b"h\n1\n2\n3\n") == 2
    assert count(b"h\n") == 0 and count(b"h") == 0 and count(b"") == 0
    assert count(b"h\n1") == 1                             # the last line needs no newline
    assert count(b"h\n \t,;|\r\n\xef\xbb\xbf\n1\n") == 1     # blank and separator lines: no row
    assert count(b"h\r1\r2\r") == 2 and count(b"h\r\n1\r\n") == 1     # \r and \r\n end lines
    # A line split by a chunk boundary is one line, header or row.
    assert count(b"hea", b"der\n1") == 1
    assert count(b"h\n", b"1", b"2\n") == 1
    assert count(b"h\n1", b"\n", b"2") == 2
    assert count(b"h\n ", b" \n") == 0


def test_a_bad_byte_s_line_counts_a_chunk_s_leading_newline(tmp_path, monkeypatch):
    # Blank lines before the header are allowed; each still counts in the line named.
    path = write(tmp_path, b"\nid\n1\n\n\xe9\n")
    expected = f"file '{path}', row 5: byte 0xe9 at offset 7 is not UTF-8"
    assert refusal(path).startswith(expected)
    monkeypatch.setattr(filecheck, "CHUNK", 3)        # later chunks start with a newline too
    assert refusal(path).startswith(expected)


def test_data_rows_are_counted_up_to_two_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(filecheck, "CHUNK", 3)        # the header and each row in a chunk
    one = write(tmp_path, b"id\n1\n", "one.csv")
    assert filecheck.scan_text(one, compressed=False) == 1
    assert check_table_file(one, accepted=ACCEPTED) == "csv"   # the header is seen only once
    many = write(tmp_path, b"id\n" + b"".join(b"%d\n" % i for i in range(1, 10)), "many.csv")
    assert filecheck.scan_text(many, compressed=False) == 2
    packed = write(tmp_path, gzip.compress(b"id\n7\n"), "one.csv.gz")
    assert filecheck.scan_text(packed, compressed=True) == 1
    # A header longer than a chunk is one line: the file has no data row.
    wide = write(tmp_path, b"customer_id,annual_income\n", "wide.csv")
    assert filecheck.scan_text(wide, compressed=False) == 0


def test_a_row_of_letters_is_a_data_row_not_a_blank_line(tmp_path):
    # Only blanks, separators and the byte-order mark make a line empty; an id "X" is a row.
    assert check_table_file(write(tmp_path, b"code\nX\n"), accepted=ACCEPTED) == "csv"
    rows = filecheck.DataLines()
    rows.feed(b"code\nXX\n")
    assert rows.close() == 1


def test_a_file_is_read_in_bounded_chunks_never_whole(tmp_path, monkeypatch):
    # The check streams: memory stays flat however large the file (the module's promise).
    sizes: list = []
    real_open, real_gzip_open = open, gzip.open
    monkeypatch.setattr(filecheck, "CHUNK", 8)
    monkeypatch.setattr(filecheck, "open",
                        lambda *a, **k: CountingReads(real_open(*a, **k), sizes), raising=False)
    monkeypatch.setattr(filecheck.gzip, "open",
                        lambda *a, **k: CountingReads(real_gzip_open(*a, **k), sizes))
    data = b"id,visits\n" + b"1,2\n" * 50
    assert check_table_file(write(tmp_path, data), accepted=ACCEPTED) == "csv"
    assert check_table_file(write(tmp_path, gzip.compress(data), "in.csv.gz"),
                            accepted=ACCEPTED) == "csv.gz"
    assert bounded(sizes, 64), sizes
