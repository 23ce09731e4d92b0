"""Atomic writes, linked copies and hashes (segmentation/io.py); the output contract's
schemas (segmentation/contract.py); the paths of a run (segmentation/settings.py)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation import contract, io
from segmentation.settings import RunPaths, default_data_root, default_outputs_root


def test_a_file_is_hashed_whole_in_chunks(tmp_path):
    data = bytes(range(256)) * 40
    (tmp_path / "f").write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert io.sha256_file(tmp_path / "f") == expected
    assert io.sha256_file(str(tmp_path / "f"), chunk_size=7) == expected


def test_parquet_with_a_schema_has_its_columns_order_and_types(tmp_path):
    schema = pa.schema([("b", pa.float64()), ("a", pa.string())])
    frame = pd.DataFrame({"a": ["x", "y"], "extra": [1, 2], "b": [1, 2]}, index=[5, 6])
    path = io.write_parquet_atomic(frame, tmp_path / "deep" / "t.parquet", schema)
    assert path == tmp_path / "deep" / "t.parquet"
    table = pq.read_table(path)
    assert table.schema.names == ["b", "a"] and table.schema.field("b").type == pa.float64()
    assert table.to_pydict() == {"b": [1.0, 2.0], "a": ["x", "y"]}
    assert os.listdir(path.parent) == ["t.parquet"]
    with pytest.raises(KeyError):
        io.write_parquet_atomic(frame.drop(columns=["a"]), tmp_path / "u.parquet", schema)


def test_an_arrow_table_is_written_as_it_is_and_replaces_the_old_file(tmp_path):
    path = tmp_path / "t.parquet"
    io.write_parquet_atomic(pd.DataFrame({"a": [1]}), path)
    io.write_parquet_atomic(pa.table({"z": [3, 4]}), path)
    assert pq.read_table(path).to_pydict() == {"z": [3, 4]}
    assert pq.read_table(path).schema.metadata is None or b"pandas" not in \
        pq.read_table(path).schema.metadata


def test_text_and_json_are_written_whole_as_utf8(tmp_path):
    path = io.write_text_atomic("grüße\n", tmp_path / "a" / "t.txt")
    assert path.read_bytes() == "grüße\n".encode("utf-8")
    target = io.write_json_atomic({"b": date(2026, 11, 1), "a": [1]}, tmp_path / "a" / "m.json")
    assert target.read_text() == '{\n  "a": [\n    1\n  ],\n  "b": "2026-11-01"\n}\n'
    assert sorted(os.listdir(tmp_path / "a")) == ["m.json", "t.txt"]


def test_a_tree_is_copied_with_hard_links_and_copies_where_links_fail(tmp_path, monkeypatch):
    source = tmp_path / "src"
    (source / "sub" / "deeper").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "sub" / "deeper" / "b.txt").write_text("b")
    io.copy_tree_linked(source, tmp_path / "linked")
    assert os.path.samefile(source / "a.txt", tmp_path / "linked" / "a.txt")
    assert (tmp_path / "linked" / "sub" / "deeper" / "b.txt").read_text() == "b"

    def no_links(*args):
        raise OSError("cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    io.copy_tree_linked(source, tmp_path / "copied")
    copy = tmp_path / "copied" / "sub" / "deeper" / "b.txt"
    assert copy.read_text() == "b" and not os.path.samefile(copy, source / "sub/deeper/b.txt")


def test_segments_and_profiles_share_their_leading_columns_and_end_with_run_date():
    segments = contract.segments_schema("meter_id", [("kwh", pa.float64())])
    assert segments.names == ["meter_id", "segment_id", "segment_name", "segment_label",
                              "is_atypical", "atypical_reason", "distance_to_centroid",
                              "previous_segment_id", "segment_probability",
                              "is_low_confidence", "kwh", "run_date"]
    assert segments.field("meter_id").type == pa.string()
    assert segments.field("run_date").type == pa.date32()
    profiles = contract.profiles_schema([("age", pa.float64())])
    assert profiles.names == ["segment_id", "segment_name", "size", "share", "atypical", "age",
                              "run_date"]


def test_quarantine_starts_with_its_four_columns_then_each_input_column_once_as_text():
    schema = contract.quarantine_schema(["id", "reason", "age", "id", "source_row"])
    assert schema.names == ["source_row", "reason", "raw_line", "source_file", "id", "age"]
    assert schema.field("age").type == pa.string() and schema.field("source_row").type == pa.int64()


def test_a_run_s_paths(tmp_path):
    paths = RunPaths.create("shop", "2026-11-01", str(tmp_path / "d"), tmp_path / "o")
    data, out = (tmp_path / "d").resolve(), (tmp_path / "o").resolve()
    assert paths.run_date == date(2026, 11, 1) and paths.data_root == data
    assert paths.raw_dir == data / "raw"
    assert paths.dataset_dir == data / "processed" / "shop"
    assert paths.versions_dir == data / "processed" / ".versions" / "shop"
    assert paths.store_dir == data / "processed" / ".stores" / "shop"
    assert paths.locks_dir == data / "processed" / ".locks"
    assert paths.partition_dir == data / "processed" / "shop" / "run_date=2026-11-01"
    assert paths.latest_dir == data / "processed" / "shop" / "latest"
    assert paths.staging_root == data / "processed" / ".staging"
    assert paths.report_dir == out / "shop" / "2026-11-01"
    assert paths.work_dir == data / "processed" / ".staging" / \
        f"shop-2026-11-01-{paths.run_token}-work"
    assert len(paths.run_token) == 8
    assert paths.run_token != RunPaths.create("shop", "2026-11-01", data, out).run_token
    assert RunPaths.create("shop", date(2026, 11, 1), data, out).run_date == date(2026, 11, 1)
    assert RunPaths.create("shop", None, data, out).run_date == date.today()


def test_the_roots_default_to_the_project_unless_the_environment_says(tmp_path, monkeypatch):
    from segmentation.settings import PROJECT_ROOT

    monkeypatch.delenv("SEGMENT_DATA_ROOT", raising=False)
    monkeypatch.delenv("SEGMENT_OUTPUTS_ROOT", raising=False)
    assert default_data_root() == PROJECT_ROOT / "data"
    assert default_outputs_root() == PROJECT_ROOT / "outputs"
    monkeypatch.setenv("SEGMENT_DATA_ROOT", str(tmp_path / "d"))
    monkeypatch.setenv("SEGMENT_OUTPUTS_ROOT", str(tmp_path / "o"))
    assert default_data_root() == tmp_path / "d"
    paths = RunPaths.create("shop", "2026-11-01")
    assert paths.data_root == (tmp_path / "d").resolve()
    assert paths.outputs_root == (tmp_path / "o").resolve()


def test_stale_staging_is_the_killed_runs_of_this_dataset_and_date_only(tmp_path):
    paths = RunPaths.create("shop", "2026-11-01", tmp_path / "d", tmp_path / "o")
    staging = paths.staging_root
    for name in (f"shop-2026-11-01-{paths.run_token}-work", "shop-2026-11-01-dead0001-work",
                 "shop-2026-11-01-dead0002-stage", "shop-2026-11-02-dead0003-work",
                 "shopping-2026-11-01-dead0004-work"):
        (staging / name).mkdir(parents=True)
    (staging / "shop-2026-11-01-file").write_text("not a folder")
    assert sorted(p.name for p in paths.stale_staging()) == [
        "shop-2026-11-01-dead0001-work", "shop-2026-11-01-dead0002-stage"]
