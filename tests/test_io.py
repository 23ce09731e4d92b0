"""Atomic writes and directory swaps: readers never see a partial output."""

import os

import pandas as pd

from segmentation.io import recover_aside, sha256_file, swap_into_place, write_parquet_atomic


def test_swap_replaces_existing_dir_whole(tmp_path):
    final, staged = tmp_path / "final", tmp_path / "staged"
    final.mkdir(); (final / "a.txt").write_text("old")
    staged.mkdir(); (staged / "a.txt").write_text("new"); (staged / "b.txt").write_text("new")
    swap_into_place(staged, final)
    assert sorted(p.name for p in final.iterdir()) == ["a.txt", "b.txt"]
    assert (final / "a.txt").read_text() == "new"
    assert not staged.exists()


def test_recover_restores_a_dir_left_aside(tmp_path):
    aside = tmp_path / ".final.old-1234"
    aside.mkdir(); (aside / "x").write_text("kept")
    recover_aside(tmp_path / "final")
    assert (tmp_path / "final" / "x").read_text() == "kept"


def test_parquet_write_leaves_no_temp_files(tmp_path):
    target = write_parquet_atomic(pd.DataFrame({"a": [1, 2]}), tmp_path / "t.parquet")
    assert os.listdir(tmp_path) == ["t.parquet"]
    assert pd.read_parquet(target)["a"].tolist() == [1, 2]


def test_sha256_matches_known_digest(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256_file(tmp_path / "f").startswith("ba7816bf")
