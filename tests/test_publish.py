"""Publishing is one switch: partition, report and latest/ change together or not at all;
latest/ never moves back to an older date; one run per dataset and date."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmentation.locks import RunInProgress, run_lock
from segmentation.publish import PAUSE_ENV, publish_run, save_figure
from segmentation.settings import RunPaths

REPO = Path(__file__).resolve().parents[1]


def paths_for(root: Path, day: str) -> RunPaths:
    return RunPaths.create("shop", day, root / "data", root / "outputs")


def publish(root: Path, day: str, k: int) -> dict:
    """A run's outputs whose every file says which run made it (k)."""
    paths = paths_for(root, day)
    frame = pd.DataFrame({"segment_id": list(range(k)), "k": k})
    return publish_run(paths, {"segments": frame, "profiles": frame}, manifest={"k": k},
                       report_md=f"k={k}", figures={})


def state(root: Path, day: str) -> tuple:
    """What a consumer sees: k of the partition, of the report, of latest/ (None if absent)."""
    paths = paths_for(root, day)
    part = paths.partition_dir / "segments.parquet"
    latest = paths.latest_dir / "segments.parquet"
    report = paths.report_dir / "manifest.json"
    return (int(pd.read_parquet(part)["k"].iloc[0]) if part.exists() else None,
            json.loads(report.read_text())["k"] if report.exists() else None,
            int(pd.read_parquet(latest)["k"].iloc[0]) if latest.exists() else None)


def test_a_publish_switches_partition_report_and_latest_together(tmp_path):
    publish(tmp_path, "2026-11-01", 3)
    assert state(tmp_path, "2026-11-01") == (3, 3, 3)
    published = publish(tmp_path, "2026-11-01", 6)
    assert state(tmp_path, "2026-11-01") == (6, 6, 6) and published["latest_moved"] == "yes"
    paths = paths_for(tmp_path, "2026-11-01")
    assert paths.dataset_dir.is_symlink() and paths.report_dir.is_symlink()
    assert len(list(paths.versions_dir.iterdir())) == 2      # current + previous, for readers


def test_every_published_path_exists_and_the_run_record_says_which_run(tmp_path):
    paths = paths_for(tmp_path, "2026-11-01")
    frame = pd.DataFrame({"segment_id": [0, 1], "k": 2}, index=[5, 9])
    schema = pa.schema([("segment_id", pa.int32()), ("k", pa.int16())])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    published = publish_run(paths, {"segments": frame, "profiles": table, "plain": frame},
                            schemas={"segments": schema, "profiles": schema}, manifest={"k": 2},
                            report_md="k=2", figures={}, report_html="<p>k=2</p>")
    assert set(published) == {"segments", "profiles", "plain", "latest", "report", "manifest",
                              "plots", "report_html", "latest_moved"}
    for name in ("segments", "profiles"):                   # typed by the schema, no index
        assert pq.read_schema(published[name]).remove_metadata() == schema
    assert pq.read_schema(published["plain"]).names == ["segment_id", "k"]
    assert all(Path(v).exists() for k, v in published.items() if k != "latest_moved")
    assert Path(published["report_html"]).read_text() == "<p>k=2</p>"
    for where in (paths.partition_dir, paths.latest_dir):
        record = json.loads((where / "_run.json").read_text())
        assert set(record) == {"dataset", "run_date", "published_at", "token"}
        assert (record["dataset"], record["run_date"]) == ("shop", "2026-11-01")
        assert pd.Timestamp(record["published_at"]).tzinfo is not None
        assert len(record["token"]) == 8 and int(record["token"], 16) >= 0
    assert not list(paths.staging_root.glob("*publish*"))     # the stage is gone


def test_finished_files_are_copied_where_consumers_read_them(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = paths_for(tmp_path, "2026-11-01")
    work = tmp_path / "work"
    (work / "docs").mkdir(parents=True)
    pq.write_table(pa.table({"segment_id": [0, 1]}), work / "segments.parquet")
    (work / "docs" / "validation.html").write_text("<p>validated</p>")
    fig, _ = plt.subplots()
    save_figure(fig, work / "sizes.png")
    fig, _ = plt.subplots()
    published = publish_run(paths, {"segments": work / "segments.parquet",
                                    "profiles": pa.table({"n": [2]})},
                            manifest={"k": 2}, report_md="k=2",
                            figures={"sizes": work / "sizes.png", "drawn": fig},
                            report_files={"data_docs/ab12/validation.html":
                                          work / "docs" / "validation.html",
                                          "data_docs/ab12/index.html":
                                          work / "docs" / "validation.html"})
    assert (Path(published["segments"]).read_bytes()
            == (work / "segments.parquet").read_bytes())
    assert pd.read_parquet(published["profiles"])["n"].tolist() == [2]
    plots = Path(published["plots"])
    assert (plots / "sizes.png").read_bytes() == (work / "sizes.png").read_bytes()
    assert (plots / "drawn.png").read_bytes()[:4] == b"\x89PNG"
    assert (paths.report_dir / "data_docs" / "ab12" / "validation.html").read_text() \
        == "<p>validated</p>"
    assert not list(paths.staging_root.iterdir())


def test_a_failed_publish_leaves_no_stage_and_nothing_published(tmp_path):
    publish(tmp_path, "2026-11-01", 3)
    paths = paths_for(tmp_path, "2026-11-01")
    with pytest.raises(FileNotFoundError):
        publish_run(paths, {"segments": tmp_path / "missing.parquet"}, manifest={"k": 6},
                    report_md="k=6", figures={})
    assert state(tmp_path, "2026-11-01") == (3, 3, 3)
    assert not list(paths.staging_root.iterdir())


@pytest.mark.parametrize("step", ["staged", "built"])
def test_a_run_killed_while_publishing_leaves_the_old_outputs_whole(tmp_path, step):
    publish(tmp_path, "2026-11-01", 3)
    marker = tmp_path / "paused"
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / 'tests')!r});"
            f"from test_publish import publish; from pathlib import Path;"
            f"publish(Path({str(tmp_path)!r}), '2026-11-01', 6)")
    env = dict(os.environ, **{PAUSE_ENV: f"{step}:{marker}"})
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    for _ in range(300):
        if marker.exists():
            break
        time.sleep(0.1)
    assert marker.exists(), "the publishing child never reached the pause"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state(tmp_path, "2026-11-01") == (3, 3, 3)          # old partition, report, latest
    publish(tmp_path, "2026-11-01", 6)                           # the rerun completes the date
    assert state(tmp_path, "2026-11-01") == (6, 6, 6)
    paths = paths_for(tmp_path, "2026-11-01")
    assert not list(paths.dataset_dir.parent.glob(".shop.link-*"))
    assert len(list(paths.versions_dir.iterdir())) == 2          # the killed run's version is gone


def test_a_backfill_publishes_its_date_but_latest_stays_newest(tmp_path):
    publish(tmp_path, "2026-11-02", 4)
    moved = publish(tmp_path, "2026-11-01", 5)["latest_moved"]
    assert moved == "no: backfill for 2026-11-01; latest/ stays at the newer 2026-11-02"
    assert state(tmp_path, "2026-11-01") == (5, 5, 4)
    assert state(tmp_path, "2026-11-02") == (4, 4, 4)
    assert publish(tmp_path, "2026-11-03", 7)["latest_moved"] == "yes"
    assert state(tmp_path, "2026-11-01") == (5, 5, 7)          # other dates carried over


def test_a_dataset_published_before_versions_is_adopted(tmp_path):
    paths = paths_for(tmp_path, "2026-11-01")
    old = paths.dataset_dir / "run_date=2026-10-31"
    old.mkdir(parents=True)
    pd.DataFrame({"k": [2]}).to_parquet(old / "segments.parquet")
    (paths.dataset_dir / "notes.txt").write_text("an analyst's file")
    paths.report_dir.mkdir(parents=True)                  # a report dir of the same date
    (paths.report_dir / "report.md").write_text("old")
    publish(tmp_path, "2026-11-01", 3)
    assert pd.read_parquet(paths.dataset_dir / "run_date=2026-10-31" / "segments.parquet")["k"][0] == 2
    assert state(tmp_path, "2026-11-01") == (3, 3, 3)
    assert paths.report_dir.is_symlink() and (paths.report_dir / "report.md").read_text() == "k=3"
    assert not (paths.dataset_dir / "notes.txt").exists()   # only dates and latest/ are adopted
    aside = list(paths.dataset_dir.parent.glob(f".{paths.dataset_dir.name}.legacy-*"))
    assert len(aside) == 1 and (aside[0] / "notes.txt").read_text() == "an analyst's file"  # kept


def test_a_legacy_latest_is_adopted_and_a_backfill_keeps_it(tmp_path):
    paths = paths_for(tmp_path, "2026-11-01")
    latest = paths.dataset_dir / "latest"
    latest.mkdir(parents=True)
    pd.DataFrame({"k": [9]}).to_parquet(latest / "segments.parquet")
    (latest / "_run.json").write_text(json.dumps({"run_date": "2026-11-05"}))
    paths.versions_dir.mkdir(parents=True)        # left by an adoption that was killed
    assert publish(tmp_path, "2026-11-01", 3)["latest_moved"] == (
        "no: backfill for 2026-11-01; latest/ stays at the newer 2026-11-05")
    assert state(tmp_path, "2026-11-01") == (3, 3, 9)


def test_a_report_link_pointing_elsewhere_is_repointed(tmp_path):
    paths = paths_for(tmp_path, "2026-11-01")
    paths.report_dir.parent.mkdir(parents=True)
    paths.report_dir.symlink_to(tmp_path / "elsewhere")
    publish(tmp_path, "2026-11-01", 3)
    assert os.readlink(paths.report_dir) == "../../data/processed/shop/reports/2026-11-01"
    assert state(tmp_path, "2026-11-01") == (3, 3, 3)


def symlinks(root: Path) -> dict[str, str]:
    """Every symlink under ``root`` (not followed) -> its target as written."""
    return {str(Path(folder, name).relative_to(root)): os.readlink(Path(folder, name))
            for folder, dirs, files in os.walk(root) for name in dirs + files
            if Path(folder, name).is_symlink()}


def test_every_link_is_relative_so_a_moved_project_still_reads(tmp_path):
    publish(tmp_path / "a", "2026-11-01", 3)
    publish(tmp_path / "a", "2026-11-02", 4)
    links = symlinks(tmp_path / "a")
    assert set(links) == {"data/processed/shop", "outputs/shop/2026-11-01", "outputs/shop/2026-11-02"}
    assert not any(os.path.isabs(target) for target in links.values())
    shutil.move(tmp_path / "a", tmp_path / "b")                 # moved (or mounted elsewhere)
    assert state(tmp_path / "b", "2026-11-01") == (3, 3, 4)
    assert state(tmp_path / "b", "2026-11-02") == (4, 4, 4)
    publish(tmp_path / "b", "2026-11-03", 5)                    # and runs on there
    assert state(tmp_path / "b", "2026-11-01") == (3, 3, 5)
    assert state(tmp_path / "b", "2026-11-03") == (5, 5, 5)


def test_absolute_report_links_of_earlier_runs_become_relative(tmp_path):
    publish(tmp_path, "2026-11-01", 3)
    old = paths_for(tmp_path, "2026-11-01")
    old.report_dir.unlink()                                     # as the first layout made it
    old.report_dir.symlink_to(old.dataset_dir / "reports" / "2026-11-01")
    mine = old.report_dir.with_name("notes")                     # not the pipeline's: left alone
    mine.symlink_to(tmp_path / "notes")
    publish(tmp_path, "2026-11-02", 4)
    assert os.readlink(old.report_dir) == "../../data/processed/shop/reports/2026-11-01"
    assert os.readlink(mine) == str(tmp_path / "notes")
    assert state(tmp_path, "2026-11-01") == (3, 3, 4)


def test_a_moved_project_reads_and_runs_on(real_runs, tmp_path):
    """Real customer and meter runs, their whole folder (data and outputs roots) moved: every
    file reads from the new place, through links inside it, and the next runs publish there."""
    from tests.real_runs import RUN_DATE, run_customers, run_meters

    original = real_runs["root"]
    shutil.copytree(original, tmp_path / "a" / "project", symlinks=True)  # the fixture is shared
    assert not any(os.path.isabs(target) for target in symlinks(tmp_path / "a").values())
    moved = tmp_path / "b" / "moved"
    moved.parent.mkdir()
    shutil.move(tmp_path / "a" / "project", moved)
    for dataset in ("customers", "meters"):
        for relative in (f"data/processed/{dataset}/latest/segments.parquet",
                         f"data/processed/{dataset}/run_date={RUN_DATE}/segments.parquet",
                         f"data/processed/{dataset}/run_date={RUN_DATE}/quarantine.parquet"):
            read = moved / relative
            assert Path(os.path.realpath(read)).is_relative_to(moved), relative
            assert pd.read_parquet(read).equals(pd.read_parquet(original / relative))
        report = moved / "outputs" / dataset / RUN_DATE / "report.md"
        assert Path(os.path.realpath(report)).is_relative_to(moved)
        assert report.read_text() == (original / "outputs" / dataset / RUN_DATE / "report.md").read_text()

    day = "2026-12-01"
    runs = {"customers": run_customers(moved, day), "meters": run_meters(moved, day)}
    for dataset, result in runs.items():
        assert all(Path(p).is_relative_to(moved) for k, p in result["published"].items()
                   if k != "latest_moved")
        latest = moved / "data" / "processed" / dataset / "latest"
        assert json.loads((latest / "_run.json").read_text())["run_date"] == day
        assert (moved / "outputs" / dataset / day / "report.md").read_text()
        assert (moved / "outputs" / dataset / RUN_DATE / "report.md").exists()   # still there
        quarantine = pd.read_parquet(latest / "quarantine.parquet")
        assert quarantine["source_file"].str.startswith(f"raw/{dataset}/").all()
    assert runs["meters"]["counts"] == real_runs["meters"]["counts"]   # the file was skipped
    docs = moved / "outputs" / "meters" / day / "data_docs"          # found in the moved store
    pages = sorted(p.parent.name for p in docs.rglob("validation.html"))
    assert pages and pages == sorted(p.parent.name for p in (
        original / "outputs" / "meters" / RUN_DATE / "data_docs").rglob("validation.html"))
    manifest = json.loads((moved / "outputs" / "meters" / day / "manifest.json").read_text())
    assert all(Path(f).is_relative_to(moved) and Path(f).is_file()
               for f in manifest["expectations"].values())
    assert not any(os.path.isabs(target) for target in symlinks(moved).values())


def test_one_run_per_dataset_and_date(tmp_path):
    paths = paths_for(tmp_path, "2026-11-01")
    with run_lock(paths):
        with pytest.raises(RunInProgress, match=f"pid {os.getpid()}"):
            with run_lock(RunPaths.create("shop", date(2026, 11, 1), tmp_path / "data")):
                pass
        with run_lock(paths_for(tmp_path, "2026-11-02")):      # another date may run
            pass
    with run_lock(paths):                                         # released when done
        pass


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append((int(stat.parent.name), cmdline))
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"


@pytest.mark.slow
def test_a_killed_cli_run_takes_its_prefect_server_with_it_and_publishes_nothing(
        tmp_path, prefect_home):
    from tests.conftest import shared_file

    mall = shared_file("mall/Mall_Customers.csv")
    marker = tmp_path / "paused"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({PAUSE_ENV: f"staged:{marker}", "PREFECT_HOME": str(prefect_home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    cli = subprocess.Popen([sys.executable, "-m", "segmentation.cli", "run", "customers",
                            "--input", str(mall), "--run-date", "2026-11-01",
                            "--data-root", str(tmp_path / "data"),
                            "--outputs-root", str(tmp_path / "outputs")],
                           env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(900):
        if marker.exists() or cli.poll() is not None:
            break
        time.sleep(0.1)
    assert marker.exists(), "the run never reached publishing"
    servers = [pid for pid, cmd in _children(cli.pid) if "uvicorn" in cmd]
    assert servers, "no temporary Prefect server found under the CLI process"
    os.kill(cli.pid, signal.SIGKILL)
    cli.wait()
    for _ in range(100):
        if not any(_alive(pid) for pid in servers):
            break
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in servers)
    paths = RunPaths.create("customers", "2026-11-01", tmp_path / "data", tmp_path / "outputs")
    assert not paths.dataset_dir.exists() and not paths.report_dir.exists()


def test_save_figure_writes_a_png_and_closes_the_figure_or_copies_a_saved_one(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from PIL import Image

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.plot([0, 1], [1, 0])
    other, _ = plt.subplots()                     # the current figure is another one
    first = save_figure(fig, tmp_path / "a.png")
    assert first == tmp_path / "a.png" and first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number) and plt.fignum_exists(other.number)
    plt.close(other)
    with Image.open(first) as image:
        assert [round(d) for d in image.info["dpi"]] == [110, 110]
        assert image.size[0] < 6.4 * 110 and image.size[1] < 4.8 * 110   # cropped tight
    copy = save_figure(first, tmp_path / "b.png")
    assert copy.read_bytes() == first.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("first_k, second_k", [(6, 3)])
def test_two_runs_of_one_dataset_and_date_publish_one_whole_and_refuse_the_other(
        tmp_path, prefect_home, first_k, second_k):
    from segmentation.customers.sample import write_sample_customers

    table = write_sample_customers(tmp_path / "raw", n=200, seed=7)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    marker = tmp_path / "paused"

    def cli(k: int, **extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "segmentation.cli", "run", "customers", "--input", str(table),
             "--k", str(k), "--run-date", "2026-11-01", "--data-root", str(tmp_path / "data"),
             "--outputs-root", str(tmp_path / "outputs")],
            env=dict(env, **extra), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)

    first = cli(first_k, **{PAUSE_ENV: f"staged:{marker}"})     # holds the run, mid-publish
    for _ in range(1200):
        if marker.exists() or first.poll() is not None:
            break
        time.sleep(0.1)
    assert marker.exists(), first.communicate()[1]
    second = cli(second_k)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 2 and "Traceback" not in err, err
    assert ("segment: error: a run of dataset 'customers' for 2026-11-01 is already running "
            "(flow run '") in err and f"pid {first.pid} on " in err
    marker.unlink()                                               # let the first run finish
    assert first.wait(timeout=300) == 0, first.communicate()[1]
    paths = RunPaths.create("customers", "2026-11-01", tmp_path / "data", tmp_path / "outputs")
    manifest = json.loads((paths.report_dir / "manifest.json").read_text())
    for where in (paths.partition_dir, paths.latest_dir):
        segments = pd.read_parquet(where / "segments.parquet")
        assert manifest["k"]["chosen"] == first_k == segments["segment_id"].nunique()
