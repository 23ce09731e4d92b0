"""Atomic file writes and content hashes."""

import os

import pandas as pd

from segmentation.io import sha256_file, write_parquet_atomic


def test_parquet_write_leaves_no_temp_files(tmp_path):
    target = write_parquet_atomic(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.parquet")
    assert os.listdir(tmp_path) == ["t.parquet"]
    assert pd.read_parquet(target)["a"].tolist() == [1, 2]


def test_sha256_matches_known_digest(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256_file(tmp_path / "f").startswith("ba7816bf")
