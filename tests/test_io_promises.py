"""Atomic writes, linked copies and hashes (segmentation/io.py): what a caller may rely on
beyond tests/test_io_contract_settings.py: folders made as deep as needed, no index column in
the Parquet files consumers read, UTF-8 whatever the machine's locale, files hashed in chunks."""

from __future__ import annotations

import hashlib
import io as stdio
import os

import pandas as pd
import pyarrow.parquet as pq

from segmentation import io
from tests.counting_reads import CountingReads, bounded


def test_files_are_written_into_folders_made_as_deep_as_needed(tmp_path):
    parquet = io.write_parquet_atomic(pd.DataFrame({"a": [1]}), tmp_path / "x" / "y" / "t.parquet")
    assert pd.read_parquet(parquet)["a"].tolist() == [1]
    text = io.write_text_atomic("t\n", tmp_path / "p" / "q" / "t.txt")
    assert text.read_text() == "t\n"


def test_a_frame_s_index_is_never_written_as_a_column(tmp_path):
    # Rows kept after a filter carry their old labels; consumers must not find them as a column.
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).iloc[[0, 2]]
    path = io.write_parquet_atomic(frame, tmp_path / "t.parquet")
    table = pq.read_table(path)
    assert table.schema.names == ["a", "b"]
    assert table.to_pydict() == {"a": [1, 3], "b": ["x", "z"]}
    assert pd.read_parquet(path).index.tolist() == [0, 1]


def test_text_is_utf8_even_where_the_locale_says_otherwise(tmp_path, monkeypatch):
    # A machine whose locale encoding is Latin-1: text files written without an explicit
    # encoding would follow it (pathlib asks io.text_encoding when none is given).
    real = stdio.text_encoding
    monkeypatch.setattr(stdio, "text_encoding",
                        lambda encoding, stacklevel=2: real(encoding) if encoding else "latin-1")
    path = io.write_text_atomic("grüße\n", tmp_path / "t.txt")
    assert path.read_bytes() == "grüße\n".encode("utf-8")
    json_path = io.write_json_atomic({"name": "Zürich"}, tmp_path / "m.json")
    assert json_path.read_bytes() == b'{\n  "name": "Z\\u00fcrich"\n}\n'


def test_a_file_is_hashed_in_chunks_never_read_whole(tmp_path, monkeypatch):
    data = bytes(range(256)) * 8
    (tmp_path / "f").write_bytes(data)
    sizes: list = []
    real_open = open
    monkeypatch.setattr(io, "open", lambda *a, **k: CountingReads(real_open(*a, **k), sizes),
                        raising=False)
    assert io.sha256_file(tmp_path / "f", chunk_size=100) == hashlib.sha256(data).hexdigest()
    assert bounded(sizes, 100) and len(sizes) == 22, sizes   # 20 chunks, 48 bytes, the end


def test_a_tree_is_copied_into_a_target_that_exists_or_lies_deep(tmp_path):
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "sub" / "b.txt").write_text("b")
    deep = tmp_path / "x" / "y" / "copy"
    io.copy_tree_linked(source, deep)
    assert (deep / "sub" / "b.txt").read_text() == "b"
    existing = tmp_path / "existing"
    (existing / "sub").mkdir(parents=True)
    (existing / "kept.txt").write_text("kept")
    io.copy_tree_linked(source, existing)
    assert sorted(os.listdir(existing)) == ["a.txt", "kept.txt", "sub"]
    assert os.listdir(existing / "sub") == ["b.txt"]
