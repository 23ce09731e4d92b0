"""The version switch shared by runs and assignments (segmentation/publish.py): what a new
version keeps, what consumers see while an assignment is staged, what a failure leaves."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from segmentation.publish import PAUSE_ENV, link_all_but, publish_assignment, publish_run
from segmentation.settings import RunPaths


def published(tmp_path: Path, day: str = "2026-11-30") -> RunPaths:
    """A dataset with one published run (its model among the partition's files)."""
    paths = RunPaths.create("shop", day, tmp_path / "data", tmp_path / "out")
    model = tmp_path / "model.json"
    model.write_text('{"format_version": 1}')
    publish_run(paths, {"segments": pd.DataFrame({"customer_id": ["a"], "segment_id": [0]})},
                manifest={}, report_md="# run", figures={}, data_files={"model.json": model})
    return paths


def test_a_run_s_data_files_are_published_in_its_partition_and_latest(tmp_path):
    paths = published(tmp_path)
    for folder in (paths.partition_dir, paths.latest_dir):
        assert (folder / "model.json").read_text() == '{"format_version": 1}'


def test_a_new_version_links_everything_but_what_it_replaces(tmp_path):
    source, target = tmp_path / "v1", tmp_path / "v2"
    (source / "assignments" / "assign_date=2026-12-01").mkdir(parents=True)
    (source / "assignments" / "assign_date=2026-12-01" / "a.parquet").write_text("old")
    (source / "assignments" / "assign_date=2026-12-02").mkdir()
    (source / "assignments" / "assign_date=2026-12-02" / "a.parquet").write_text("keep")
    (source / "run_date=2026-11-30").mkdir()
    (source / "run_date=2026-11-30" / "segments.parquet").write_text("run")
    (source / "notes.txt").write_text("a file at the top is kept too")
    link_all_but(source, target, {Path("assignments") / "assign_date=2026-12-01"})
    assert not (target / "assignments" / "assign_date=2026-12-01").exists()
    assert (target / "assignments" / "assign_date=2026-12-02" / "a.parquet").read_text() == "keep"
    assert (target / "run_date=2026-11-30" / "segments.parquet").read_text() == "run"
    assert (target / "notes.txt").read_text() == "a file at the top is kept too"
    assert os.path.samefile(target / "run_date=2026-11-30" / "segments.parquet",
                            source / "run_date=2026-11-30" / "segments.parquet")  # a hard link


def test_consumers_see_no_assignment_until_the_switch_and_the_old_version_stays(tmp_path,
                                                                                monkeypatch):
    paths = published(tmp_path)
    before = paths.dataset_dir.resolve()
    table = tmp_path / "assignments.parquet"
    pd.DataFrame({"customer_id": ["x"]}).to_parquet(table)
    marker = tmp_path / "staged"
    monkeypatch.setenv(PAUSE_ENV, f"staged:{marker}")
    done = {}
    worker = threading.Thread(target=lambda: done.update(publish_assignment(
        paths, {"assignments.parquet": table}, "2026-12-02")))
    worker.start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the assignment never reached its staged pause"
    assert not (paths.dataset_dir / "assignments").exists()      # staged, not published
    marker.unlink()
    worker.join(30)
    day = paths.dataset_dir / "assignments" / "assign_date=2026-12-02"
    assert Path(done["assignments.parquet"]) == day / "assignments.parquet"
    assert pd.read_parquet(day / "assignments.parquet")["customer_id"].tolist() == ["x"]
    assert paths.dataset_dir.resolve() != before and before.is_dir()   # kept for readers


def test_a_failed_assignment_publish_leaves_no_stage_and_nothing_published(tmp_path):
    paths = published(tmp_path)
    with pytest.raises(FileNotFoundError):
        publish_assignment(paths, {"assignments.parquet": tmp_path / "missing.parquet"},
                           "2026-12-02")
    assert not list(paths.staging_root.glob("*-assign"))
    assert not (paths.dataset_dir / "assignments").exists()


def test_a_report_folder_of_another_date_from_before_links_is_left_alone(tmp_path):
    old = tmp_path / "out" / "shop" / "2020-01-31"
    old.mkdir(parents=True)
    (old / "report.md").write_text("# an old report, a real folder")
    published(tmp_path)
    assert not old.is_symlink() and (old / "report.md").read_text().startswith("# an old")
