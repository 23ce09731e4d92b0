"""Line numbers of the rows Arrow's CSV reader returns (``segmentation.lines``): Arrow skips
empty lines, and every quarantined row is named by its line in the file (docs/outputs.md,
``source_row``), empty lines counted."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from segmentation.lines import LineCounter, line_ends


class Chunks:
    """A binary stream returning at most the given sizes in turn, whatever is asked for."""

    def __init__(self, data: bytes, sizes: list[int]):
        self.data, self.sizes, self.reads = io.BytesIO(data), sizes, 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        return self.data.read(self.sizes[self.reads % len(self.sizes)])

    def close(self) -> None:
        self.data.close()


def random_lines(rng, end: bytes) -> bytes:
    """A header, then lines that are empty, of spaces or of fields, ended by ``end``."""
    lines = [b"h,h"] + [[b"", b"  ", b"a,b", b"\xc3\xa9,b"][int(rng.integers(0, 4))]
                        for _ in range(int(rng.integers(1, 15)))]
    return end.join(lines) + (end if rng.random() < 0.5 else b"")


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_arrow_s_rows_get_the_numbers_of_the_lines_that_are_not_empty(end):
    """Whatever the read sizes (a \\r\\n or an empty line split between reads), Arrow's n-th
    row is the n-th line with content, numbered as a line reader numbers the file's lines."""
    rng = np.random.default_rng(len(end))
    for _ in range(600):
        data = random_lines(rng, end)
        counter = LineCounter(Chunks(data, [int(x) for x in rng.integers(1, 6, 4)]))
        while counter.read(4):
            pass
        with_content = [n for n, line in enumerate(data.splitlines(), start=1) if line]
        ordinals = np.arange(1, len(with_content) + 1)
        assert counter.physical(ordinals).tolist() == with_content, data


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("compressed", [False, True])
def test_rows_read_by_arrow_through_the_counter_carry_their_line_numbers(end, compressed):
    """Each line with content holds its own line number; read by Arrow in blocks of 16 bytes
    through the counter, ``physical`` gives back exactly those numbers."""
    rng = np.random.default_rng(7)
    lines = ["line,value"]
    for n in range(2, 120):
        lines.append("" if rng.random() < 0.25 else f"{n},x")
    data = (end.join(lines) + end).encode()
    raw = pa.input_stream(pa.BufferReader(gzip.compress(data) if compressed else data),
                          compression="gzip" if compressed else None)
    with LineCounter(raw) as counter:
        table = pacsv.read_csv(counter, read_options=pacsv.ReadOptions(block_size=16),
                               convert_options=pacsv.ConvertOptions(
                                   column_types={"line": pa.int64()}))
        numbers = counter.physical(np.arange(2, table.num_rows + 2))
    assert numbers.tolist() == table["line"].to_pylist()
    assert table.num_rows == sum(1 for line in lines[1:] if line)
    assert counter.closed


def test_without_empty_lines_the_ordinals_are_the_line_numbers():
    counter = LineCounter(io.BytesIO(b"a,b\n1,2\n3,4\n"))
    assert counter.read() == b"a,b\n1,2\n3,4\n"           # the bytes pass through unchanged
    assert counter.physical(np.array([1, 2, 3])).tolist() == [1, 2, 3]


def test_empty_lines_after_the_last_row_shift_nothing():
    counter = LineCounter(io.BytesIO(b"a,b\r\n1,2\r\n\r\n\r\n"))
    counter.read()
    assert counter.physical(np.array([2])).tolist() == [2]


def test_empty_lines_before_the_first_row_are_counted():
    """Arrow skips empty lines at the top too: its first row is then a later line."""
    counter = LineCounter(io.BytesIO(b"\n\r\n\na,b\n1,2\n"))
    while counter.read(3):
        pass
    assert counter.physical(np.array([1, 2])).tolist() == [4, 5]


def test_reads_pass_the_size_asked_for_and_the_stream_says_when_it_is_closed():
    """Arrow reads block by block: the counter never reads more than it is asked for, so
    memory does not grow with the file; ``closed`` is False until ``close``."""
    counter = LineCounter(io.BytesIO(b"a,b\n1,2\n3,4\n"))
    assert counter.closed is False
    assert counter.read(5) == b"a,b\n1" and counter.read(3) == b",2\n"
    counter.close()
    assert counter.closed is True and counter.raw.closed


@pytest.mark.parametrize("data, ends, lengths", [
    (b"a\r\nbb\rc\n\ndd", [2, 5, 7, 8], [1, 2, 1, 0]),   # \r\n, lone \r, \n, an empty line
    (b"\r\n\r\r\n", [1, 2, 4], [0, 0, 0]),
    (b"abc", [], []),                                        # a line not yet ended
    (b"", [], []),
])
def test_line_ends_are_arrow_s_and_lengths_leave_the_line_end_out(data, ends, lengths):
    """``\\n``, ``\\r\\n`` (at its ``\\n``) and a lone ``\\r`` end a line; a line's length counts
    neither its ``\\n`` nor the ``\\r`` of its ``\\r\\n``."""
    found, length = line_ends(data)
    assert found.tolist() == ends and length.tolist() == lengths


def test_a_last_r_ends_a_line_only_when_nothing_follows():
    """A chunk's last ``\\r`` may be the start of a ``\\r\\n`` split between chunks: it ends a
    line only when the bytes are ``complete``; before it, a lone ``\\r`` is a line end."""
    assert line_ends(b"a\rb\r", complete=False)[0].tolist() == [1]
    assert line_ends(b"a\rb\r", complete=True)[0].tolist() == [1, 3]
    assert line_ends(b"a\rb\r\n", complete=False)[0].tolist() == [1, 4]
