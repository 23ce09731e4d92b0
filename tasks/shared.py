"""Tasks and helpers shared by the customer and meter flows."""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from segmentation.errors import InputError, SegmentationError
from segmentation.io import sha256_file
from segmentation.locks import run_lock
from segmentation.publish import publish_run
from segmentation.report_html import html_report
from segmentation.settings import SCHEDULE_TZ, RunPaths, london_today


class BadInputSaidOnce(logging.Filter):
    """Bad input is said once: the flow's one error line (``QuietFailure``), or, when the CLI
    prints the paragraph itself (``cli_prints``), not at all in the logs.

    Prefect's engines log a failed task with its exception and traceback, then the task's
    and the flow's final states, each repeating the message: four or five copies of one
    paragraph. For a ``SegmentationError`` those records are dropped (bugs keep theirs).
    """

    said: set[str] = set()      # paragraphs of bad-input errors raised in this process
    cli_prints = False

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "bad_input_paragraph", False):
            return not self.cli_prints
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, SegmentationError):
            self.said.add(str(error))
            return False
        if self.said and any(paragraph in record.getMessage() for paragraph in self.said):
            return False
        return True


def say_bad_input(error: SegmentationError) -> None:
    """Log a bad-input paragraph once for the run (the engines' copies are dropped)."""
    BadInputSaidOnce.said.add(str(error))
    get_run_logger().error("%s", error, extra={"bad_input_paragraph": True})


for _name in ("prefect.task_runs", "prefect.flow_runs", "prefect.engine"):
    logging.getLogger(_name).addFilter(BadInputSaidOnce())


class QuietFailure:
    """Wrap a flow's body: bad input (``SegmentationError``) ends the run as a Failed state
    whose message is the one clear paragraph, logged once, instead of an
    exception Prefect's engine would log with its traceback. The state carries the error as its
    data, so a caller can tell bad input from a crash. Bugs propagate with theirs::

        with QuietFailure() as failure:
            ...
            return result
        return failure.state
    """

    def __init__(self):
        self.state = None

    def __enter__(self) -> "QuietFailure":
        return self

    def __exit__(self, kind, error, _traceback) -> bool:
        if kind is not None and issubclass(kind, SegmentationError):
            say_bad_input(error)
            # The standard "Failed" name, so automations and the UI treat it as any failure.
            self.state = Failed(message=str(error), data=error)
            return True
        return False


def _transient(task, task_run, state) -> bool:
    """Retry I/O hiccups, never bad input: the same file would fail the same way."""
    try:
        state.result()
    except (SegmentationError, FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    except Exception:  # noqa: BLE001 - anything else may be transient
        return True
    return False


IO_RETRIES = dict(retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=_transient)


def resolve_run_date(run_date: str | date | None) -> date:
    """The explicit date, else the flow run's scheduled date (Europe/London), else today.

    Using the scheduled date means a late or retried nightly run still writes
    the partition it was scheduled for.
    """
    if isinstance(run_date, date):
        return run_date
    if run_date:
        return date.fromisoformat(run_date)
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    if isinstance(scheduled, datetime):
        return scheduled.astimezone(SCHEDULE_TZ).date()
    return london_today()


class StepTimer:
    """Wall time per flow step, for the manifest."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step], self._start = now - self._start, now


def checkpointed_input(input_path: str, paths: RunPaths) -> tuple[str, Path]:
    """The input's sha256 and its checkpoint folder (``processed/.checkpoints/<dataset>/<sha>``):
    an input is read once per content, and a rerun reuses what was read."""
    if not Path(input_path).is_file():
        raise InputError("file not found (check the input path)", file=input_path)
    sha = sha256_file(input_path)
    return sha, paths.data_root / "processed" / ".checkpoints" / paths.dataset / sha


def one_raw_input(paths: RunPaths, folder: str, pattern: str, what: str) -> str:
    """The one file matching ``pattern`` in ``<data-root>/raw/<folder>/`` (a run's default)."""
    files = sorted(p for p in (paths.raw_dir / folder).glob(pattern)
                   if p.is_file() and not p.name.startswith("."))
    if len(files) != 1:
        raise InputError(f"expected exactly one {what} in {paths.raw_dir / folder}, found "
                         f"{len(files)}; pass input_path (CLI: --input)")
    return str(files[0])


def data_docs_page(sha256: str) -> str:
    """Where a validated file's Data Docs page is published: the same place for every dataset."""
    return f"data_docs/{sha256[:16]}/validation.html"


def segmentation_outputs(work: Path, result, figures: dict) -> dict:
    """Save a customer-like run's plots and return what its flow needs of the segmentation
    (``result``: ``customers.pipeline.CustomerSegments``; its model already saved as
    ``work/model.json``): files, k selection, quality."""
    from segmentation.publish import save_figure
    from segmentation.quality import quality

    (work / "plots").mkdir(parents=True, exist_ok=True)
    plots = {name: str(save_figure(fig, work / "plots" / f"{name}.png"))
             for name, fig in figures.items()}
    fit = result.result
    return {"segments": str(work / "segments.parquet"), "profiles": str(work / "profiles.parquet"),
            "model": str(work / "model.json"),
            "points": save_points(result.points, result.segments, work, fit.algorithm,
                                  fit.selection.stability),
            "plots": plots, "selection": fit.selection, "silhouette": fit.silhouette,
            "transforms": result.transforms,
            "quality": quality(fit.selection, fit.silhouette, result.labels, fit.atypical,
                               result.fallback_segments)}


def save_points(points, members: pd.DataFrame, work: Path, algorithm: str,
                stability: float) -> str:
    """The scaled points a run clustered and its published segments (``members``, in the
    order of the points), for the algorithm comparison (``compare_algorithms``): a path, not
    arrays, crosses between tasks."""
    from dataclasses import asdict

    import numpy as np

    from segmentation.comparison import Published

    path = work / "points.npz"
    np.savez(path, points=points, **asdict(Published.from_members(members, algorithm, stability)))
    return str(path)


@task(name="compare-algorithms", cache_policy=NO_CACHE)
def compare_algorithms(points: str, paths: RunPaths, clustering: dict, *, k: int | None,
                       k_min: int, k_max: int, min_size: int | None, unit: str) -> dict:
    """Every algorithm on the run's points (``segmentation.comparison``): comparison.parquet,
    its plot and Ward's dendrogram in the work dir; the report section and manifest block."""
    import numpy as np

    from segmentation.comparison import (Published, comparison_block, comparison_rows,
                                         comparison_section, compare)
    from segmentation.contract import COMPARISON_SCHEMA
    from segmentation.io import write_parquet_atomic
    from segmentation.plots import plot_comparison, plot_dendrogram, plot_title
    from segmentation.publish import save_figure
    from segmentation.settings import MIN_CONFIDENCE, SEED

    saved = np.load(points)
    X = saved["points"]
    published = Published(str(saved["algorithm"]), saved["labels"], float(saved["stability"]),
                          saved["probability"], saved["atypical"], saved["noise"])
    table = compare(X, published, k=k, k_min=k_min, k_max=k_max, seed=SEED, min_size=min_size,
                    unit=unit, min_confidence=clustering.get("min_confidence", MIN_CONFIDENCE))
    work = paths.work_dir
    path = write_parquet_atomic(table.assign(run_date=paths.run_date),
                                work / "comparison.parquet", COMPARISON_SCHEMA)
    sample = comparison_rows(len(X), SEED)
    named = {"dataset": paths.dataset, "run_date": paths.run_date}
    (work / "plots").mkdir(parents=True, exist_ok=True)
    plots = {"comparison": plot_comparison(table, plot_title(**named, what="algorithms compared")),
             "dendrogram": plot_dendrogram(X if sample is None else X[sample],
                                           plot_title(**named, what="Ward tree of the "
                                                      + ("members" if sample is None
                                                         else "sampled members")))}
    return {"comparison": str(path),
            "plots": {name: str(save_figure(fig, work / "plots" / f"{name}.png"))
                      for name, fig in plots.items()},
            "section": comparison_section(table, len(X), unit),
            "block": comparison_block(table, len(X))}


def compared_summary(compared: dict | None, algorithm: str) -> dict | None:
    """What a flow returns of its comparison: the published and the recommended algorithm."""
    if compared is None:
        return None
    return {"algorithm": algorithm, "recommended": compared["block"]["recommended"]}


def history_outputs(paths: RunPaths, segments: pd.DataFrame, previous, alignment,
                    id_column: str) -> tuple[pd.DataFrame, dict]:
    """The members with ``previous_segment_id``; ``migrations.parquet`` (and its heatmap when
    there was a previous run) written to the work dir: what changed since the ``previous``
    run (``alignment.PreviousRun``); with two earlier runs or more, ``predictions.parquet``
    (``prediction``: each member's chances at the next run) and the backtest."""
    from segmentation.alignment import migrations, with_previous_ids
    from segmentation.contract import MIGRATIONS_SCHEMA, predictions_schema
    from segmentation.io import write_parquet_atomic

    work, run_date, dataset = paths.work_dir, paths.run_date, paths.dataset
    segments = segments.assign(previous_segment_id=with_previous_ids(segments, previous,
                                                                     id_column))
    moves = migrations(segments, previous.segments, id_column).assign(run_date=run_date)
    path = write_parquet_atomic(moves, work / "migrations.parquet", MIGRATIONS_SCHEMA)
    plots = {}
    if len(moves):
        from segmentation.plots import plot_migrations, plot_title
        from segmentation.publish import save_figure

        (work / "plots").mkdir(parents=True, exist_ok=True)
        title = plot_title(dataset, run_date, f"moves since {previous.run_date}")
        plots["migrations"] = str(save_figure(plot_migrations(moves, title),
                                              work / "plots" / "migrations.png"))
    from segmentation.prediction import prediction_block, published_history

    runs, dates = published_history(paths.dataset_dir, run_date, id_column,
                                    alignment.previous_run_date)
    block, predicted = prediction_block(runs + [segments[[id_column, "segment_id"]]],
                                        dates + [str(run_date)], id_column)
    tables = {}
    if predicted is not None:
        ids = sorted(int(c.rsplit("_", 1)[1]) for c in predicted if c.startswith("p_segment_"))
        tables["predictions"] = str(write_parquet_atomic(
            predicted.assign(run_date=run_date), work / "predictions.parquet",
            predictions_schema(id_column, ids)))
    return segments, {"migrations": str(path), "migration_plots": plots, "prediction": block,
                      "prediction_tables": tables,
                      "alignment": {"note": previous.note, **alignment.manifest()}}


def history_report(report: str, segmented: dict) -> str:
    """The report with its "Segments over time" section (before "Segment quality")."""
    from segmentation.attributes import insert_section
    from segmentation.report import over_time_section

    moves = pd.read_parquet(segmented["migrations"])
    return insert_section(report, over_time_section(segmented["alignment"], moves,
                                                    prediction=segmented["prediction"]))


def artifact_key(dataset: str, kind: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return f"{dataset}-{kind}".lower().replace("_", "-")


@task(name="publish-outputs", cache_policy=NO_CACHE, **IO_RETRIES)
def publish_outputs(paths: RunPaths, table_files: dict[str, str], figure_files: dict[str, str],
                    manifest: dict, report_md: str,
                    report_files: dict[str, str] | None = None,
                    data_files: dict[str, str] | None = None) -> dict[str, str]:
    """Move the run's finished files into place for its date, then ``latest/``."""
    published = publish_run(paths, {k: Path(v) for k, v in table_files.items()}, manifest=manifest,
                            report_md=report_md, figures={k: Path(v) for k, v in figure_files.items()},
                            report_files={k: Path(v) for k, v in (report_files or {}).items()},
                            report_html=html_report(report_md, figure_files),
                            data_files={k: Path(v) for k, v in (data_files or {}).items()})
    if published["latest_moved"] != "yes":
        get_run_logger().warning("published %s for %s; latest/ not moved (%s)", paths.dataset,
                                 paths.run_date, published["latest_moved"])
    return published


def report_artifacts(dataset: str, report_md: str, profiles: pd.DataFrame) -> None:
    """The markdown report and the segment table, keyed so they show on the Artifacts page."""
    create_markdown_artifact(report_md, key=artifact_key(dataset, "report"),
                             description=f"Segmentation report for {dataset}")
    rows = profiles.drop(columns=["run_date"], errors="ignore").round(3)
    create_table_artifact(rows.astype(object).to_dict(orient="records"),
                          key=artifact_key(dataset, "segments"),
                          description=f"Segments of {dataset}")


def validation_failure_artifact(dataset: str, failures: list[dict]) -> None:
    """Table of failed table-level expectations, before the run fails."""
    create_table_artifact(failures, key=artifact_key(dataset, "validation-failures"),
                          description=f"Failed expectations for {dataset}")


@contextmanager
def exclusive_run(paths: RunPaths):
    """The run holds its dataset-and-date lock throughout; staging left by killed runs of the
    same dataset and date is removed first, and the run's own work folder at the end."""
    with run_lock(paths):
        for stale in paths.stale_staging():
            shutil.rmtree(stale, ignore_errors=True)
        try:
            yield
        finally:
            shutil.rmtree(paths.work_dir, ignore_errors=True)


@task(name="profile-attributes", cache_policy=NO_CACHE)
def profile_member_attributes(attributes_path: str, attributes_id: str | None, id_column: str,
                              segments_file: str, profiles_file: str) -> dict:
    """Join the attribute table to the run's members (``id_column`` of segments.parquet),
    add the per-segment attribute columns to profiles.parquet (rewritten in place) and
    return the manifest's ``attributes`` and the report's section
    (``segmentation.attributes``)."""
    import pyarrow.parquet as pq

    from segmentation import attributes
    from segmentation.io import write_parquet_atomic

    header = attributes.attribute_header(attributes_path)
    key = attributes.resolve_id_column(header, attributes_id, id_column, attributes_path)
    table = attributes.load_attributes(attributes_path, key)
    members = pd.read_parquet(segments_file, columns=[id_column, "segment_id"])
    profile = attributes.profile_attributes(members[id_column], members["segment_id"], table)
    profiles = pd.read_parquet(profiles_file)
    schema = attributes.profiles_schema(pq.read_schema(profiles_file).remove_metadata(),
                                        profile.per_segment)
    write_parquet_atomic(attributes.merge_profiles(profiles, profile.per_segment),
                         Path(profiles_file), schema)
    names = dict(zip(profiles["segment_id"].astype(int), profiles["segment_name"]))
    counts = profile.counts
    get_run_logger().info("attributes: %s of %s members matched; %s ids of the table match no "
                          "member", counts["members_with_attributes"],
                          counts["members_with_attributes"] + counts["members_without_attributes"],
                          counts["attribute_ids_unmatched"])
    return {"manifest": attributes.manifest_entry(profile, attributes_path, key),
            "section": attributes.attributes_section(profile, names)}
