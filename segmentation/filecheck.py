"""What an input file really is, read from its bytes before anything slow starts.

A user drops in an Excel workbook renamed ``.csv``, a PNG, a file saved as
Latin-1 or a CSV with a header and nothing under it. Each is recognised here,
in the CLI's preflight, from the file's magic bytes and one streaming pass,
and refused with one sentence that says what the file is: "this is an Excel
workbook", not "the first line has a single column". The pass is cheap
(C-speed decoding in 1 MiB chunks, gzip decompressed on the fly), so the
whole file is checked for UTF-8, and the bad byte's line is named. For files read with
Arrow's strict parser (meter readings), the same pass finds a line with another number of
fields than the header (``FieldCount``), so that too is refused before the run starts.
"""

from __future__ import annotations

import codecs
import csv
import re
import gzip
import zipfile
import zlib
from pathlib import Path

import numpy as np

from segmentation.errors import InputError
from segmentation.lines import line_ends

CHUNK = 1 << 20
LINE_END = re.compile(rb"\r|\n")

# (prefix, what the file is); checked in order, the first match wins.
MAGIC = [
    (b"PAR1", "a Parquet file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (or another Office file)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xff\xfe", "a UTF-16 text file"),
    (b"\xfe\xff", "a UTF-16 text file"),
    (b"SQLite format 3\x00", "an SQLite database"),
]
GZIP = b"\x1f\x8b"
ZIP = b"PK\x03\x04"


def identify(path: Path, head: bytes) -> str | None:
    """What a file that is not plain (or gzip-compressed) text is, from its first bytes;
    None for text and gzip."""
    if head.startswith(ZIP):
        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError):
            return "a zip archive"
        if any(n.startswith("xl/") for n in names):
            return "an Excel workbook (.xlsx)"
        if any(n.startswith("word/") for n in names):
            return "a Word document"
        return "a zip archive"
    for prefix, what in MAGIC:
        if head.startswith(prefix):
            return what
    return None


def refuse_kind(path: Path, what: str, accepted: str) -> InputError:
    advice = (" Export the sheet as CSV (File > Save As > CSV UTF-8) and pass that file."
              if "Excel" in what else
              " Re-save it as UTF-8 (most editors: Save As > Encoding UTF-8)." if "UTF-16" in what
              else "")
    return InputError(f"this is {what}, not {accepted}.{advice}", file=str(path))


def scan_text(path: Path, *, compressed: bool, fields: bool = False) -> int:
    """Check the whole file is UTF-8 and return its number of non-blank data lines (after the
    header), counting at most 2 (enough to tell "none" from "some"). With ``fields``, also
    check every line has as many comma-separated fields as the header.

    Raises
    ------
    InputError
        Naming the line and byte of the first byte that is not UTF-8, a gzip stream
        that cannot be read to its end, or (``fields``) the first line with another number
        of fields than the header.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset, rows = 1, 0, DataLines()
    widths = FieldCount(path) if fields else None
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as err:
                    bad = err.start
                    raise InputError(
                        f"byte 0x{chunk[bad]:02x} at offset {offset + bad:,} is not UTF-8: the "
                        "file was saved in another encoding (Latin-1 or Windows-1252?); re-save "
                        "it as UTF-8", file=str(path), row=line + chunk.count(b"\n", 0, bad)
                    ) from None
                if rows.found < 2:
                    rows.feed(chunk)
                if widths:
                    widths.feed(chunk)
                line += chunk.count(b"\n")
                offset += len(chunk)
            decoder.decode(b"", final=True)
            if widths:
                widths.close()
    except UnicodeDecodeError:
        raise InputError("the file ends in the middle of a character: is it truncated? "
                         "It is not valid UTF-8", file=str(path), row=line) from None
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(f"the file is gzip-compressed but cannot be read to its end ({err}); "
                         "is it truncated?", file=str(path)) from None
    return rows.close()


class DataLines:
    """Counts non-blank lines after the first non-blank one (the header), up to 2, chunk by
    chunk: a line that a chunk boundary splits is one line. Only whether the open line has
    content so far is kept, so memory does not grow with a line's length."""

    def __init__(self):
        self.found, self.header_seen, self.open_has_content = 0, False, False

    def feed(self, chunk: bytes) -> None:
        # \r alone ends a line too (old Mac files); \r\n leaves an empty piece, no row.
        pieces = LINE_END.split(chunk)
        for piece in pieces[:-1]:                    # each ends a line
            self._line(self.open_has_content or _has_content(piece))
            self.open_has_content = False
        self.open_has_content = self.open_has_content or _has_content(pieces[-1])

    def close(self) -> int:
        """The count, the last line (without a final newline) included."""
        self._line(self.open_has_content)
        self.open_has_content = False
        return self.found

    def _line(self, has_content: bool) -> None:
        if not has_content or self.found >= 2:
            return                      # a blank line, or one of only separators, is no row
        if self.header_seen:
            self.found += 1
        self.header_seen = True


class FieldCount:
    """Finds the first line whose number of fields differs from the header's, chunk by chunk,
    counted as Arrow's CSV reader counts them: commas outside quoted fields, empty lines
    skipped (a line of spaces is one field), ``\\n``, ``\\r\\n`` or ``\\r`` ending a line. A quoted
    field left open at the end of its line is refused too: Arrow would join the next line to
    it, or not, as its blocks fall. Lines are numbered from 1, empty ones included, as staging
    numbers them. Vectorised with numpy (about 1 GB/s), so a whole London-scale file costs
    seconds; only the line a chunk boundary splits is kept between chunks."""

    LONGEST = 16 << 20    # a "line" longer than this is no CSV line: leave it to the parser

    def __init__(self, path: Path):
        self.path, self.width, self.line, self.open = path, None, 1, b""

    def feed(self, chunk: bytes) -> None:
        """Check the lines ``chunk`` completes; keep the one it leaves open."""
        if self.open is None:
            return
        data = self.open + chunk
        ends, length = line_ends(data, complete=False)
        done = int(ends[-1]) + 1 if len(ends) else 0
        self._lines(data[:done], ends, length)
        self.open = data[done:] if len(data) - done <= self.LONGEST else None

    def close(self) -> None:
        """Check the last line (a file need not end in a line break)."""
        if self.open:
            last = self.open + b"\n"
            self._lines(last, *line_ends(last))
        self.open = None

    def _lines(self, data: bytes, ends: np.ndarray, length: np.ndarray) -> None:
        if not len(ends):
            return
        b = np.frombuffer(data, np.uint8)
        fields = np.diff(np.searchsorted(np.flatnonzero(b == 44), ends), prepend=0) + 1
        if b'"' in data:    # a quote opens a field only at its start: the csv module decides
            quoted = np.unique(np.searchsorted(ends, np.flatnonzero(b == 34)))
            lines = data.splitlines()    # the same line ends: \n, \r\n and \r
            fields[quoted] = _csv_fields([lines[i].decode("utf-8", "replace") for i in quoted])
        numbers = self.line + np.arange(len(ends))
        self.line += len(ends)
        content = np.flatnonzero(length > 0)
        if self.width is None and len(content):
            self.width = int(fields[content[0]])   # the header (checked too: an open quote)
        wrong = content[(fields[content] != self.width) | (fields[content] == 0)]
        if len(wrong):
            n = int(fields[wrong[0]])
            if n == 0:
                raise InputError("a quoted field does not end on its line (a missing closing "
                                 "quote?): every reading is one line", file=str(self.path),
                                 row=int(numbers[wrong[0]]))
            raise InputError(f"{n} field{'s' if n != 1 else ''} where the header has "
                             f"{self.width}: every line needs one field per column",
                             file=str(self.path), row=int(numbers[wrong[0]]))


def _csv_fields(lines: list[str]) -> list[int]:
    """Fields of each line as Python's csv module reads it on its own, or 0 for a line that
    leaves a quoted field open (a reading's fields hold no line breaks; Arrow's block reader
    would join the next line, or not, depending on where its blocks fall). One reader runs
    over all the lines at C speed; a line it joins to the next is read again alone."""
    counts: list[int] = []
    source = _Cursor(lines + [""])      # an open quote on the last line takes the ""
    while len(counts) < len(lines):
        reader, first = csv.reader(source), len(counts)
        for record in reader:
            if reader.line_num > len(counts) - first + 1:    # it took the next line too
                counts.append(0)
                source.at = len(counts)
                break
            counts.append(len(record))
    return counts[:len(lines)]


class _Cursor:
    """An iterator over a list whose position can be set back (after a joined line)."""

    def __init__(self, items: list[str]):
        self.items, self.at = items, 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.at == len(self.items):
            raise StopIteration
        self.at += 1
        return self.items[self.at - 1]


def _has_content(raw: bytes) -> bool:
    return bool(raw.strip(b" \t\r,;|\xef\xbb\xbf"))


def _check_parquet(path: Path) -> str:
    """A Parquet file whose footer can be read and that has rows (its metadata counts them:
    no data is read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"the Parquet file cannot be read ({err}); is it truncated?",
                         file=str(path)) from None
    if rows == 0:
        raise InputError("the Parquet file has its columns but no rows: nothing to segment",
                         file=str(path))
    return "parquet"


def check_table_file(path: Path, *, accepted: str, allow_parquet: bool = False,
                     fields: bool = False) -> str:
    """Recognise ``path``: ``csv``, ``csv.gz`` or (when allowed) ``parquet``; refuse anything
    else, a text file that is not UTF-8, one with a header and no data rows, a Parquet file
    without rows or with a footer that cannot be read, or (``fields``) a line with another
    number of fields than the header, in one sentence naming what the file is or the line."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head.strip():
        raise InputError("the file is empty: expected a header line and data rows", file=str(path))
    if head.startswith(b"PAR1") and allow_parquet:
        return _check_parquet(path)
    compressed = head.startswith(GZIP)
    if compressed:
        with gzip.open(path, "rb") as handle:
            try:
                inner = handle.read(64)
            except (OSError, EOFError, zlib.error) as err:
                raise InputError(f"the file is gzip-compressed but cannot be decompressed ({err}); "
                                 "is it truncated?", file=str(path)) from None
        what = identify(path, inner) if not inner.startswith(ZIP) else "a zip archive"
        if what:
            raise refuse_kind(path, f"{what}, gzip-compressed", accepted)
    else:
        what = identify(path, head)
        if what:
            raise refuse_kind(path, what, accepted)
        if b"\x00" in head:
            raise refuse_kind(path, "a binary file (it holds zero bytes)", accepted)
    if scan_text(path, compressed=compressed, fields=fields) == 0:
        raise InputError("the file has a header line and no data rows: nothing to segment",
                         file=str(path), row=2)
    return "csv.gz" if compressed else "csv"
