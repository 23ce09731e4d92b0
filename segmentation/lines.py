"""Line numbers of the rows Arrow's CSV reader returns.

Arrow skips empty lines, so after one its n-th row is no longer the file's line n. Every
quarantined reading or purchase line is named by its line in the file (``source_row``,
docs/outputs.md), so the readers hand Arrow the file through ``LineCounter``, which notes
the empty lines as Arrow reads past them, and ``LineCounter.physical`` turns Arrow's row
ordinals (1 = the header, then each line that is not empty) into line numbers. A line of
spaces is not empty: Arrow reads it as a row. ``line_ends`` finds the lines in a chunk of
bytes for this and for the preflight's field count (``filecheck.FieldCount``).
"""

from __future__ import annotations

import numpy as np

LF, CR = 10, 13


def line_ends(data: bytes, *, complete: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Where the lines of ``data`` end (byte offsets), and each line's length without
    its line end. Line ends are Arrow's: ``\\n``, ``\\r\\n`` (at its ``\\n``) and a lone ``\\r``.

    A ``\\r`` as the last byte ends a line only when ``data`` is ``complete`` (nothing follows):
    otherwise the next chunk's first byte may make it a ``\\r\\n``. The bytes after the last
    line end, if any, are a line not yet ended.
    """
    b = np.frombuffer(data, np.uint8)
    lf = b == LF
    crlf = np.zeros(len(b), bool)       # the \r of each \r\n, which ends no line itself
    ending = lf
    if b"\r" in data:                   # bytes' search is C-speed: numpy only when needed
        cr = b == CR
        crlf[:-1] = cr[:-1] & lf[1:]
        ending = lf | (cr & ~crlf)
        if not complete:
            ending[-1] = lf[-1]
    ends = np.flatnonzero(ending)
    starts = np.r_[0, ends[:-1] + 1]
    return ends, ends - starts - crlf[np.maximum(ends - 1, 0)]


class LineCounter:
    """A binary stream for Arrow's CSV reader (``read`` only) that notes the empty lines it
    passes, at numpy speed; a chunk without any costs two comparisons and a count.

    Line ends are ``\\n``, ``\\r\\n`` and ``\\r``, as Arrow's. A ``\\r`` ending a chunk is
    held back until the next byte says whether it starts a ``\\r\\n``.
    """

    def __init__(self, raw):
        self.raw = raw
        self.closed = False
        self._held = b""           # a chunk's last byte when it is \r
        self._nonempty = 0         # lines with content among them
        self._at_line_start = True
        # For each empty line, the ordinal the next line with content gets: Arrow's row n is
        # then line n + (the number of these <= n).
        self._shifts: list[int] = []

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        data = self._held + chunk
        self._held = b""
        if chunk and data.endswith(b"\r"):
            data, self._held = data[:-1], b"\r"
        if data:
            self._scan(data)
        return chunk

    def close(self) -> None:
        self.raw.close()
        self.closed = True

    def __enter__(self) -> LineCounter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def physical(self, ordinals: np.ndarray) -> np.ndarray:
        """Line numbers of Arrow's rows ``ordinals`` (1 = the header; lines with content)."""
        ordinals = np.asarray(ordinals, dtype=np.int64)
        shifts = np.asarray(self._shifts, dtype=np.int64)
        return ordinals + np.searchsorted(shifts, ordinals, side="right")

    def _scan(self, data: bytes) -> None:
        b = np.frombuffer(data, np.uint8)
        lf = b == LF
        has_cr = b"\r" in data
        # An empty line shows as two line ends in a row (a \r among them sends the chunk to
        # the full pass), or as a \n right after the previous chunk's last line end.
        first_empty = self._at_line_start and data[:1] == b"\n"
        if not has_cr and not first_empty and not (lf[1:] & lf[:-1]).any():
            self._nonempty += int(np.count_nonzero(lf))   # no empty line here: count them
            self._at_line_start = bool(lf[-1])
            return
        ends, length = line_ends(data)              # never none: a \r or \n is in data
        empty = length == 0
        empty[0] &= self._at_line_start             # else the line began in an earlier chunk
        nonempty_before = self._nonempty + np.cumsum(~empty)    # (at empty lines)
        self._shifts.extend((nonempty_before[empty] + 1).tolist())
        self._nonempty += int((~empty).sum())
        self._at_line_start = bool(ends[-1] == len(b) - 1)
