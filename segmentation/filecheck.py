"""What an input file really is, read from its bytes before anything slow starts.

A user drops in an Excel workbook renamed ``.csv``, a PNG, a file saved as
Latin-1 or a CSV with a header and nothing under it. Each is recognised here,
in the CLI's preflight, from the file's magic bytes and one streaming pass,
and refused with one sentence that says what the file is: "this is an Excel
workbook", not "the first line has a single column". The pass is cheap
(C-speed decoding in 1 MiB chunks, gzip decompressed on the fly), so the
whole file is checked for UTF-8, and the bad byte's line is named.
"""

from __future__ import annotations

import codecs
import re
import gzip
import zipfile
import zlib
from pathlib import Path

from segmentation.errors import InputError

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


def scan_text(path: Path, *, compressed: bool) -> int:
    """Check the whole file is UTF-8 and return its number of non-blank data lines (after the
    header), counting at most 2 (enough to tell "none" from "some").

    Raises
    ------
    InputError
        Naming the line and byte of the first byte that is not UTF-8, or a gzip stream
        that cannot be read to its end.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset, rows = 1, 0, DataLines()
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
                line += chunk.count(b"\n")
                offset += len(chunk)
            decoder.decode(b"", final=True)
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


def _has_content(raw: bytes) -> bool:
    return bool(raw.strip(b" \t\r,;|\xef\xbb\xbf"))


def check_table_file(path: Path, *, accepted: str, allow_parquet: bool = False) -> str:
    """Recognise ``path``: ``csv``, ``csv.gz`` or (when allowed) ``parquet``; refuse anything
    else, a text file that is not UTF-8, or one with a header and no data rows, in one
    sentence naming what the file is."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head.strip():
        raise InputError("the file is empty: expected a header line and data rows", file=str(path))
    if head.startswith(b"PAR1") and allow_parquet:
        return "parquet"
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
    if scan_text(path, compressed=compressed) == 0:
        raise InputError("the file has a header line and no data rows: nothing to segment",
                         file=str(path), row=2)
    return "csv.gz" if compressed else "csv"
