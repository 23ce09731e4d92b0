"""Publish one run's outputs as one switch consumers see.

Layout, for dataset ``D`` (data root ``data/``, outputs root ``outputs/``)::

    data/processed/D  ->  .versions/D/<version>       a symlink: the switch
    data/processed/.versions/D/<version>/
        run_date=YYYY-MM-DD/    the tables of each date, and _run.json
        latest/                 the tables of the newest run date (hard links)
        reports/YYYY-MM-DD/     report.md, report.html, manifest.json, plots/, data_docs/
    outputs/D/YYYY-MM-DD  ->  ../../data/processed/D/reports/YYYY-MM-DD   (made once per date)

Every symlink is relative to its own folder (``os.path.relpath``), so the data and
outputs roots can be moved or mounted elsewhere together and every link still resolves.

A run builds a new version beside the current one: every file of the current
version is hard-linked in, except its own date (partition and report, from
its staging) and ``latest/``, which becomes its date unless the current latest
is newer (a backfill publishes its partition and report only, and says so).
Then one ``rename(2)`` replaces the ``processed/D`` symlink. Consumers, who
read ``processed/D/...`` and ``outputs/D/<date>/...`` (both through that
symlink), see the old version or the new one, never a mix: a run killed at
any instant leaves the old version, and the next run removes the unused one.

Versions are built and switched under the dataset's publish lock
(``locks.publish_lock``), so two runs of different dates cannot drop each
other's partition. The previous version is kept for readers in flight; older
ones are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from segmentation.io import copy_tree_linked, write_json_atomic, write_text_atomic  # noqa: E402
from segmentation.locks import publish_lock  # noqa: E402
from segmentation.settings import RUN_RECORD, RunPaths  # noqa: E402

PAUSE_ENV = "SEGMENT_TEST_PAUSE_AT"  # tests: "staged:<marker>" or "built:<marker>"


def _pause(step: str) -> None:
    """A test hook: at ``step``, create ``<marker>`` and wait while it exists (at most an hour),
    so a test can kill the run there, or start another run and then let this one go on."""
    wanted = os.environ.get(PAUSE_ENV, "")
    if wanted.split(":")[0] == step:
        marker = Path(wanted.split(":", 1)[1])
        marker.touch()
        deadline = time.monotonic() + 3600
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def to_table(frame: pd.DataFrame | pa.Table, schema: pa.Schema | None) -> pa.Table:
    """A DataFrame as an Arrow table with exactly ``schema`` (columns in schema order)."""
    if isinstance(frame, pa.Table):
        return frame.cast(schema) if schema is not None else frame
    if schema is None:
        return pa.Table.from_pandas(frame, preserve_index=False)
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def save_figure(fig: plt.Figure | Path, target: Path) -> Path:
    """Save (and close) a figure as PNG, or copy an already-saved PNG."""
    if isinstance(fig, (str, Path)):
        shutil.copyfile(fig, target)
    else:
        fig.savefig(target, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return target


def current_version(paths: RunPaths) -> Path | None:
    """The version directory consumers see now, or None before the first publish."""
    link = paths.dataset_dir
    if link.is_symlink():
        return (link.parent / os.readlink(link)).resolve()
    return None


def latest_run_date(version: Path | None) -> str | None:
    """The run date ``latest/`` holds in ``version``."""
    record = version / "latest" / RUN_RECORD if version else None
    if record is None or not record.exists():
        return None
    return json.loads(record.read_text())["run_date"]


def publish_run(paths: RunPaths, tables: dict[str, pd.DataFrame | pa.Table | Path], *,
                schemas: dict[str, pa.Schema] | None = None, manifest: dict,
                report_md: str, figures: dict[str, plt.Figure | Path],
                report_files: dict[str, Path] | None = None,
                report_html: str | None = None,
                data_files: dict[str, Path] | None = None) -> dict[str, str]:
    """Stage tables, manifest, report and plots, then publish them in one switch.

    Tables and figures may be given as finished files (a Parquet or PNG path),
    which are copied, so Prefect tasks can hand over paths instead of objects.
    ``report_files`` maps a relative path in the report dir (e.g.
    ``data_docs/validation.html``) to a finished file to copy there; ``data_files`` maps a
    file name in the partition (``model.json``) to a finished file to copy beside the tables.

    Returns the published paths and ``latest_moved`` ("yes", or why not).
    """
    schemas = schemas or {}
    token = uuid.uuid4().hex[:8]
    stage = paths.staging_root / f"{paths.dataset}-{paths.run_date}-{token}-publish"
    day = paths.run_date.isoformat()
    record = {"dataset": paths.dataset, "run_date": day, "published_at":
              time.strftime("%Y-%m-%dT%H:%M:%S%z"), "token": token}
    try:
        data_stage, report_stage = stage / "partition", stage / "report"
        data_stage.mkdir(parents=True)
        for name, frame in tables.items():
            target = data_stage / f"{name}.parquet"
            if isinstance(frame, (str, Path)):
                shutil.copyfile(frame, target)
            else:
                pq.write_table(to_table(frame, schemas.get(name)), target)
        for name, source in (data_files or {}).items():
            shutil.copyfile(source, data_stage / name)
        write_json_atomic(record, data_stage / RUN_RECORD)
        (report_stage / "plots").mkdir(parents=True)
        for name, fig in figures.items():
            save_figure(fig, report_stage / "plots" / f"{name}.png")
        for relative, source in (report_files or {}).items():
            (report_stage / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, report_stage / relative)
        write_text_atomic(report_md, report_stage / "report.md")
        if report_html is not None:
            write_text_atomic(report_html, report_stage / "report.html")
        write_json_atomic(manifest, report_stage / "manifest.json")
        _pause("staged")
        with publish_lock(paths):
            moved = _switch(paths, data_stage, report_stage, day)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    _link_report(paths)
    published = {name: str(paths.partition_dir / f"{name}.parquet") for name in tables}
    published.update(latest=str(paths.latest_dir), report=str(paths.report_dir / "report.md"),
                     manifest=str(paths.report_dir / "manifest.json"),
                     plots=str(paths.report_dir / "plots"), latest_moved=moved)
    if report_html is not None:
        published["report_html"] = str(paths.report_dir / "report.html")
    return published


def _switch(paths: RunPaths, data_stage: Path, report_stage: Path, day: str) -> str:
    """Build the next version from the current one and the staged date; switch to it."""
    adopt_legacy(paths)
    current = current_version(paths)
    version = _new_version(paths)
    partition, report = Path(f"run_date={day}"), Path("reports") / day
    if current is not None:
        link_all_but(current, version, {partition, Path("latest"), report})
    os.rename(data_stage, version / partition)
    (version / "reports").mkdir(exist_ok=True)
    os.rename(report_stage, version / report)
    newest = latest_run_date(current)
    if newest is not None and newest > day:
        copy_tree_linked(current / "latest", version / "latest")
        moved = f"no: backfill for {day}; latest/ stays at the newer {newest}"
    else:
        copy_tree_linked(version / partition, version / "latest")
        moved = "yes"
    _point_to(paths, version, current)
    return moved


def _new_version(paths: RunPaths) -> Path:
    version = paths.versions_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    version.mkdir(parents=True)
    return version


def link_all_but(source: Path, target: Path, skip: set[Path], below: Path = Path()) -> None:
    """Hard-link the tree ``source`` into ``target``, except the paths in ``skip`` (relative
    to the version: what the new version replaces)."""
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        relative = below / item.name
        if relative in skip:
            continue
        if any(relative in s.parents for s in skip):
            link_all_but(item, target / item.name, skip, relative)
        elif item.is_dir():
            copy_tree_linked(item, target / item.name)
        else:                       # a version holds folders; a file at its top is kept too
            shutil.copy2(item, target / item.name)


def _point_to(paths: RunPaths, version: Path, current: Path | None) -> None:
    """The one switch: ``processed/D`` points to ``version``; older versions go."""
    link = paths.dataset_dir
    tmp_link = link.with_name(f".{link.name}.link-{uuid.uuid4().hex[:8]}")
    os.symlink(os.path.relpath(version, link.parent), tmp_link)
    _pause("built")
    os.replace(tmp_link, link)
    _remove_old_versions(paths, keep={version, current})  # the previous one: readers in flight


def publish_assignment(paths: RunPaths, files: dict[str, Path], day: str) -> dict[str, str]:
    """Publish an assignment's files as ``processed/D/assignments/assign_date=<day>/`` in one
    switch, like a run (``segment assign``): the rest of the version is linked as it is,
    ``latest/`` included; a rerun for the day replaces that day's folder."""
    stage = paths.staging_root / f"{paths.dataset}-{day}-{uuid.uuid4().hex[:8]}-assign"
    relative = Path("assignments") / f"assign_date={day}"
    try:
        stage.mkdir(parents=True)
        for name, source in files.items():
            shutil.copyfile(source, stage / name)
        _pause("staged")
        with publish_lock(paths):
            current = current_version(paths)
            version = _new_version(paths)
            if current is not None:
                link_all_but(current, version, {relative})
            (version / relative).parent.mkdir(parents=True, exist_ok=True)
            os.rename(stage, version / relative)
            _point_to(paths, version, current)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {name: str(paths.dataset_dir / relative / name) for name in files}


def adopt_legacy(paths: RunPaths) -> None:
    """A dataset published before versions (a real directory) becomes the first version."""
    link = paths.dataset_dir
    if not link.exists() or link.is_symlink():
        return
    paths.versions_dir.mkdir(parents=True, exist_ok=True)
    first = paths.versions_dir / f"00000000T000000-legacy-{uuid.uuid4().hex[:8]}"
    first.mkdir()
    for item in link.iterdir():
        if item.name.startswith("run_date=") or item.name == "latest":
            copy_tree_linked(item, first / item.name)
    aside = link.with_name(f".{link.name}.legacy-{time.strftime('%Y%m%dT%H%M%S')}")
    os.rename(link, aside)
    os.symlink(os.path.relpath(first, link.parent), link)


def _remove_old_versions(paths: RunPaths, keep: set) -> None:
    for link in paths.dataset_dir.parent.glob(f".{paths.dataset_dir.name}.link-*"):
        link.unlink(missing_ok=True)     # left by a run killed just before its switch
    for old in paths.versions_dir.iterdir():
        if old.is_dir() and old not in keep:   # older versions, and ones killed runs built
            shutil.rmtree(old, ignore_errors=True)


def _link_report(paths: RunPaths) -> None:
    """``outputs/D/<date>`` points through the dataset symlink, so it follows every switch.

    Every link is relative to its own folder, so the project (data and outputs roots
    together) can be moved or mounted elsewhere; absolute links of earlier runs are
    rewritten when a run publishes."""
    folder = paths.report_dir.parent
    folder.mkdir(parents=True, exist_ok=True)
    dates = {paths.report_dir.name} | {p.name for p in folder.iterdir() if _absolute_report_link(p)}
    for day in sorted(dates):
        _relink(folder / day, report_target(folder / day, paths.dataset_dir))


def _absolute_report_link(link: Path) -> bool:
    """A link an earlier version of this module made: absolute, to ``.../reports/<its name>``."""
    if not link.is_symlink() or not os.path.isabs(target := os.readlink(link)):
        return False
    return Path(target).parts[-2:] == ("reports", link.name)


def report_target(link: Path, dataset_dir: Path) -> str:
    """The relative target of the report link ``link`` (``outputs/D/<date>``)."""
    return os.path.relpath(dataset_dir / "reports" / link.name, link.parent)


def _relink(link: Path, target: str) -> None:
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.exists() and not link.is_symlink():   # a report dir from before versions
        shutil.rmtree(link)
    tmp_link = link.with_name(f".{link.name}.link-{uuid.uuid4().hex[:8]}")
    os.symlink(target, tmp_link)
    os.replace(tmp_link, link)
