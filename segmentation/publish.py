"""Publish one run's outputs for its date, atomically.

Everything is first written under a staging directory on the same
filesystem; only when all files are complete is each published directory
swapped into place (partition, then report, then ``latest/``). A killed or
failed run therefore leaves the previous outputs and ``latest/`` untouched.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from segmentation.io import (copy_tree_linked, recover_aside,  # noqa: E402
                             swap_into_place, write_json_atomic, write_text_atomic)
from segmentation.settings import RunPaths  # noqa: E402


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


def publish_run(paths: RunPaths, tables: dict[str, pd.DataFrame | pa.Table | Path], *,
                schemas: dict[str, pa.Schema] | None = None, manifest: dict,
                report_md: str, figures: dict[str, plt.Figure | Path],
                report_files: dict[str, Path] | None = None) -> dict[str, str]:
    """Write ``<name>.parquet`` tables, manifest, report and plots; return published paths.

    Tables and figures may be given as finished files (a Parquet or PNG path),
    which are copied, so Prefect tasks can hand over paths instead of objects.
    ``report_files`` maps a relative path in the report dir (e.g.
    ``data_docs/validation.html``) to a finished file to copy there.
    """
    schemas = schemas or {}
    token = uuid.uuid4().hex[:8]
    data_stage = paths.staging_root / f"{paths.dataset}-{paths.run_date}-{token}"
    report_stage = paths.report_dir.parent / f".staging-{paths.run_date}-{token}"
    try:
        data_stage.mkdir(parents=True)
        for name, frame in tables.items():
            target = data_stage / f"{name}.parquet"
            if isinstance(frame, (str, Path)):
                shutil.copyfile(frame, target)
            else:
                pq.write_table(to_table(frame, schemas.get(name)), target)
        (report_stage / "plots").mkdir(parents=True)
        for name, fig in figures.items():
            save_figure(fig, report_stage / "plots" / f"{name}.png")
        for relative, source in (report_files or {}).items():
            (report_stage / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, report_stage / relative)
        write_text_atomic(report_md, report_stage / "report.md")
        write_json_atomic(manifest, report_stage / "manifest.json")

        for final in (paths.partition_dir, paths.report_dir, paths.latest_dir):
            recover_aside(final)
        swap_into_place(data_stage, paths.partition_dir)
        swap_into_place(report_stage, paths.report_dir)
        latest_stage = paths.staging_root / f"{paths.dataset}-latest-{token}"
        copy_tree_linked(paths.partition_dir, latest_stage)
        swap_into_place(latest_stage, paths.latest_dir)
    finally:
        for leftover in (data_stage, report_stage):
            shutil.rmtree(leftover, ignore_errors=True)
    published = {name: str(paths.partition_dir / f"{name}.parquet") for name in tables}
    published.update(latest=str(paths.latest_dir), report=str(paths.report_dir / "report.md"),
                     manifest=str(paths.report_dir / "manifest.json"),
                     plots=str(paths.report_dir / "plots"))
    return published
