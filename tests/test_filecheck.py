"""What an input file really is, told in one sentence before anything slow starts
(segmentation/filecheck.py, the CLI's preflight)."""

from __future__ import annotations

import gzip
import io
import zipfile

import pandas as pd
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
    parquet = tmp_path / "r.parquet"
    pd.DataFrame({"id": [1]}).to_parquet(parquet)
    assert check_table_file(parquet, accepted=ACCEPTED, allow_parquet=True) == "parquet"
    assert "this is a Parquet file" in refusal(parquet)


def test_a_parquet_file_without_rows_or_with_a_broken_footer_is_named(tmp_path):
    """Where Parquet is allowed, its footer is read (not its data): a file of columns and no
    rows, and one cut short (only Parquet's magic bytes), are each refused in one sentence."""
    empty = tmp_path / "empty.parquet"
    pd.DataFrame({"id": pd.Series([], dtype="int64")}).to_parquet(empty)
    cut = write(tmp_path, b"PAR1" + bytes(40), "cut.parquet")
    with pytest.raises(InputError) as err:
        check_table_file(empty, accepted=ACCEPTED, allow_parquet=True)
    assert str(err.value) == (f"file '{empty}': the Parquet file has its columns but no rows: "
                              "nothing to segment")
    with pytest.raises(InputError) as err:
        check_table_file(cut, accepted=ACCEPTED, allow_parquet=True)
    assert str(err.value).startswith(f"file '{cut}': the Parquet file cannot be read (")
    assert str(err.value).endswith("); is it truncated?")


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


# ------------------------------------------------------------- one field per column (meters)

def fields_of(line: str) -> int:
    """A CSV line's fields, read character by character: a quote opens a field only at its
    start, ``""`` inside quotes is a quote; 0 when a quoted field is still open at the end."""
    fields, quoted, at_start, i = 1, False, True, 0
    while i < len(line):
        char = line[i]
        if quoted:
            if char == '"' and line[i + 1:i + 2] == '"':
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"' and at_start:
            quoted = True
        elif char == ",":
            fields += 1
            at_start = True
            i += 1
            continue
        at_start = False
        i += 1
    return 0 if quoted else fields


def reference_ragged(data: bytes) -> tuple[int, int] | None:
    """The first line (number, fields) whose field count differs from the header's, empty
    lines skipped, lines numbered with them (0 fields: a quote left open)."""
    width = None
    for number, line in enumerate(io.StringIO(data.decode(), newline=""), start=1):
        line = line.rstrip("\r\n")
        if not line:
            continue
        fields = fields_of(line)
        if width is None:
            width = fields
        elif fields != width:
            return number, fields
    return None


def first_ragged(path, compressed=False) -> tuple[int, int] | None:
    try:
        filecheck.scan_text(path, compressed=compressed, fields=True)
    except InputError as err:
        words = str(err).split(": ")[1]
        return err.row, 0 if words.startswith("a quoted field") else int(words.split(" ")[0])
    return None


def arrow_ragged(data: bytes) -> int | None:
    """The field count of the first line Arrow's reader (as staging runs it) refuses."""
    import pyarrow.csv as pacsv

    bad: list[int] = []
    pacsv.read_csv(io.BytesIO(data), parse_options=pacsv.ParseOptions(
        newlines_in_values=False,
        invalid_row_handler=lambda row: bad.append(row.actual_columns) or "skip"))
    return bad[0] if bad else None


def random_csv(rng) -> bytes:
    """Lines of 2-4 fields, some quoted with commas and doubled quotes inside, some with a
    quote inside an unquoted field, a few with a quote left open, some empty or of spaces,
    ended by \\n, \\r\\n or \\r, the last one maybe without a line end."""
    width = int(rng.integers(2, 5))
    end = [b"\n", b"\r\n", b"\r"][int(rng.integers(0, 3))]
    cells = [b'"a,""b"",c"', b'x"y', b'5"', b'"q"']
    lines = []
    for _ in range(int(rng.integers(1, 30))):
        kind = rng.random()
        if kind < 0.08:
            lines.append(b"")
        elif kind < 0.12:
            lines.append(b"   ")
        else:
            n = width if rng.random() < 0.9 else int(rng.integers(1, 6))
            line = [cells[int(rng.integers(0, 4))] if rng.random() < 0.3 else b"x%d" % i
                    for i in range(n)]
            if rng.random() < 0.02:
                line[-1] = b'"open'
            lines.append(b",".join(line))
    return b"h1" + b",h" * (width - 1) + end + end.join(lines) + (end if rng.random() < 0.5 else b"")


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_the_first_line_with_another_field_count_is_found_as_a_line_reader_finds_it(
        tmp_path, monkeypatch, chunk):
    """Whatever the chunk size (a line, a \\r\\n or a quoted field split between chunks), the
    scan finds the line and the count a character-by-character reader finds, or none; and
    without a quote left open, the count of the first line Arrow's reader refuses."""
    import numpy as np

    monkeypatch.setattr(filecheck, "CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    found = opened = 0
    for i in range(120 if chunk > 3 else 30):
        data = random_csv(rng)
        path = write(tmp_path, data, f"r{i}.csv")
        expected = reference_ragged(data)
        assert first_ragged(path) == expected, data
        if b'"open' not in data:
            assert arrow_ragged(data) == (expected[1] if expected else None), data
        found += expected is not None
        opened += expected is not None and expected[1] == 0
    assert found >= 5 and opened >= 1      # ragged files and open quotes, not only good ones


def test_a_ragged_line_is_named_with_its_number_and_counts(tmp_path):
    path = write(tmp_path, b"meter_id,timestamp,kwh\r\nM,2024-01-01 00:00,1\r\n\r\n"
                           b'"M,2",2024-01-01 00:30,1\r\nM,2024-01-01 01:00\r\n', "r.csv")
    with pytest.raises(InputError) as err:
        filecheck.scan_text(path, compressed=False, fields=True)
    assert str(err.value) == (f"file '{path}', row 5: 2 fields where the header has 3: every "
                              "line needs one field per column")
    assert err.value.row == 5 and err.value.file == str(path)
    # Without ``fields`` (customer tables quarantine such lines) the file passes.
    assert filecheck.scan_text(path, compressed=False) == 2
    spaces = write(tmp_path, b"a,b\n1,2\n  \n", "s.csv.gz")
    spaces.write_bytes(gzip.compress(spaces.read_bytes()))
    with pytest.raises(InputError, match=r"row 3: 1 field where the header has 2: every"):
        check_table_file(spaces, accepted=ACCEPTED, fields=True)


def test_a_last_line_without_a_line_end_is_checked_too(tmp_path):
    assert first_ragged(write(tmp_path, b"a,b\n1,2\n3", "r.csv")) == (3, 1)
    assert first_ragged(write(tmp_path, b"a,b\r\n1\r\n", "one.csv")) == (2, 1)   # one byte
    # Empty lines before the header are skipped, as Arrow skips them.
    assert first_ragged(write(tmp_path, b"\n\r\na,b\n1,2\n", "blank.csv")) is None
    assert first_ragged(write(tmp_path, b"a,b\r1,2\r3,4,5\r", "c.csv")) == (3, 3)
    assert first_ragged(write(tmp_path, b"a,b\n1,2\n3,4", "ok.csv")) is None


def test_a_line_longer_than_the_limit_is_left_to_the_parser(tmp_path, monkeypatch):
    """Memory holds one chunk and the open line: past ``LONGEST`` the check stops, and the
    file is not refused by it (Arrow's reader says what is wrong)."""
    monkeypatch.setattr(filecheck, "CHUNK", 8)
    monkeypatch.setattr(filecheck.FieldCount, "LONGEST", 16)
    assert first_ragged(write(tmp_path, b"a,b\n" + b"x" * 40 + b"\n1,2,3\n", "l.csv")) is None
    assert first_ragged(write(tmp_path, b"a,b\n" + b"x" * 10 + b",y\n1,2,3\n", "s.csv")) == (3, 3)
    # The limit is on the open line only: chunks of many complete lines are all checked,
    # and an open line of exactly LONGEST bytes is still kept.
    monkeypatch.setattr(filecheck, "CHUNK", 64)
    assert first_ragged(write(tmp_path, b"a,b\n" + b"1,2\n" * 30 + b"1\n", "m.csv")) == (32, 1)
    monkeypatch.setattr(filecheck, "CHUNK", 4)
    monkeypatch.setattr(filecheck.FieldCount, "LONGEST", 4)
    assert first_ragged(write(tmp_path, b"a,b\n1,23\n1,2,3\n", "e.csv")) == (3, 3)


def test_a_quote_left_open_is_named_not_joined_to_the_next_line(tmp_path):
    """Arrow's reader would join the next reading to a field whose quote never closes (or
    not, as its blocks fall); the check refuses the line instead, last line included."""
    for data, row in [(b'a,b,c\n1,2,3\n1,2,"3\n4,5,6\n', 3), (b'a,b,c\n1,2,3\n1,2,"3', 3),
                      (b'a,b,c\n"1","2","3"\n1,"2","3\n', 3), (b'a,"b,c\n1,2\n', 1)]:
        path = write(tmp_path, data, "q.csv")
        with pytest.raises(InputError) as err:
            filecheck.scan_text(path, compressed=False, fields=True)
        assert str(err.value) == (f"file '{path}', row {row}: a quoted field does not end on "
                                  "its line (a missing closing quote?): every reading is one line")
    # A quote inside an unquoted field is a character; a doubled quote inside quotes too.
    assert first_ragged(write(tmp_path, b'a,b\n"x""",1\n2,"y"\n1,3"\n', "ok.csv")) is None
