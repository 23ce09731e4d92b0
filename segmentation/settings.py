"""Every path the pipeline reads or writes, derived from the project root or a run's parameters."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from segmentation.errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SEED = 42
# An input losing more of its rows or readings to quarantine than this is refused whole:
# that many bad rows means a wrong file or wrong settings, not a few bad rows.
MAX_QUARANTINE_SHARE = 0.10
# A member whose segment is less probable than this (segmentation/algorithms.py) is flagged
# low confidence: with 0.6, its segment is at least half again as likely as all others together.
MIN_CONFIDENCE = 0.6


def segment_threads() -> int:
    """BLAS/OpenMP threads a run may use: ``SEGMENT_THREADS``, default the cores this process
    may run on (its CPU affinity, which containers and ``taskset`` narrow).

    Raises
    ------
    InputError
        When ``SEGMENT_THREADS`` is not a whole number of at least 1.
    """
    raw = os.environ.get("SEGMENT_THREADS", "").strip()
    if not raw:
        return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise InputError(f"SEGMENT_THREADS must be a whole number of 1 or more (the BLAS and "
                         f"OpenMP threads of a run), got '{raw}'")
    return int(raw)


SCHEDULE_TZ = ZoneInfo("Europe/London")   # the nightly schedule's zone: a run's default date


def london_today() -> date:
    """Today's date where the nightly schedule runs (a run without a date writes this one)."""
    return datetime.now(SCHEDULE_TZ).date()


def default_data_root() -> Path:
    """``data/`` under the project root, unless SEGMENT_DATA_ROOT says otherwise."""
    return Path(os.environ.get("SEGMENT_DATA_ROOT", PROJECT_ROOT / "data"))


def default_outputs_root() -> Path:
    """``outputs/`` under the project root, unless SEGMENT_OUTPUTS_ROOT says otherwise."""
    return Path(os.environ.get("SEGMENT_OUTPUTS_ROOT", PROJECT_ROOT / "outputs"))


RUN_RECORD = "_run.json"     # in each published partition: its dataset, run date, publish time


@dataclass(frozen=True)
class RunPaths:
    """Where one run of one dataset for one date reads and writes.

    Consumers read ``partition_dir``, ``latest_dir`` and ``report_dir``; they
    reach them through the dataset's symlink, switched in one step by
    ``segmentation.publish``. ``run_token`` names this run's own work folder.
    """

    dataset: str
    run_date: date
    data_root: Path
    outputs_root: Path
    run_token: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @classmethod
    def create(cls, dataset: str, run_date: date | str | None = None,
               data_root: Path | str | None = None,
               outputs_root: Path | str | None = None) -> "RunPaths":
        if run_date is None:
            run_date = date.today()
        elif isinstance(run_date, str):
            run_date = date.fromisoformat(run_date)
        return cls(
            dataset=dataset,
            run_date=run_date,
            data_root=Path(data_root or default_data_root()).resolve(),
            outputs_root=Path(outputs_root or default_outputs_root()).resolve(),
        )

    @property
    def raw_dir(self) -> Path:
        return self.data_root / "raw"

    @property
    def dataset_dir(self) -> Path:
        """What consumers read: a symlink to the dataset's current version."""
        return self.data_root / "processed" / self.dataset

    @property
    def versions_dir(self) -> Path:
        return self.data_root / "processed" / ".versions" / self.dataset

    @property
    def store_dir(self) -> Path:
        """The meter readings store of the dataset (not read by consumers)."""
        return self.data_root / "processed" / ".stores" / self.dataset

    @property
    def locks_dir(self) -> Path:
        return self.data_root / "processed" / ".locks"

    @property
    def partition_dir(self) -> Path:
        return self.dataset_dir / f"run_date={self.run_date.isoformat()}"

    @property
    def latest_dir(self) -> Path:
        return self.dataset_dir / "latest"

    @property
    def staging_root(self) -> Path:
        """Scratch space on the same filesystem as the published dirs, so renames are atomic."""
        return self.data_root / "processed" / ".staging"

    @property
    def report_dir(self) -> Path:
        return self.outputs_root / self.dataset / self.run_date.isoformat()

    @property
    def work_dir(self) -> Path:
        """Intermediate files of this run; never read by consumers, never shared by two runs."""
        return self.staging_root / f"{self.dataset}-{self.run_date.isoformat()}-{self.run_token}-work"

    def stale_staging(self) -> list[Path]:
        """Staging left by earlier runs of this dataset and date (killed ones); call under
        ``locks.run_lock``, when no other run of them can be writing there."""
        prefix = f"{self.dataset}-{self.run_date.isoformat()}-"
        return [p for p in self.staging_root.glob(f"{prefix}*")
                if p.is_dir() and not p.name.startswith(f"{prefix}{self.run_token}-")]
