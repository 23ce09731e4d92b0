"""Locks in the data root, so concurrent runs cannot publish a mix.

- ``run_lock``: one run per dataset and run date, whatever started it (CLI,
  a deployment, the nightly flow). A second run exits with a clear message
  naming the run that holds the lock (or waits, with ``SEGMENT_LOCK_WAIT_SECONDS``).
- ``publish_lock``: one publisher per dataset at a time (runs of different
  dates build the next version in turn).
- ``store_lock``: one ingestion per meter store at a time.

They are ``flock`` locks on files under ``processed/.locks/``: the kernel
releases them when the process ends, however it ends, so a killed run never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from segmentation.errors import SegmentationError
from segmentation.settings import RunPaths


class RunInProgress(SegmentationError):
    """Another run holds the lock for this dataset and date."""


def _holder(run: str | None = None) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "run": run,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _current_flow_run() -> str | None:
    try:
        from prefect.runtime import flow_run
        name, run_id = flow_run.name, flow_run.id
        return f"flow run '{name}' ({run_id})" if run_id else None
    except Exception:  # noqa: BLE001 - outside Prefect, or Prefect not importable
        return None


@contextmanager
def _flock(path: Path, *, wait_seconds: float, describe: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _in_progress(path, describe) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder(_current_flow_run())).encode())
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _in_progress(path: Path, describe: str) -> RunInProgress:
    return RunInProgress(f"{describe} is already running ({_read_holder(path)}); wait for it to "
                         f"finish, or stop it; the lock is {path}")


def _read_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())   # empty: taken a moment ago, not yet written
    except (OSError, ValueError):
        return "holder unknown"
    parts = [f"pid {info.get('pid')} on {info.get('host')}", f"since {info.get('since')}"]
    if info.get("run"):
        parts.insert(0, info["run"])
    return ", ".join(parts)


def lock_wait_seconds() -> float:
    return float(os.environ.get("SEGMENT_LOCK_WAIT_SECONDS", "0"))


def _run_lock_file(paths: RunPaths) -> tuple[Path, str]:
    day = paths.run_date.isoformat()
    return (paths.locks_dir / f"{paths.dataset}-{day}.lock",
            f"a run of dataset '{paths.dataset}' for {day}")


@contextmanager
def run_lock(paths: RunPaths, wait_seconds: float | None = None):
    """Hold the dataset-and-date lock for the whole run (RunInProgress when taken)."""
    wait = lock_wait_seconds() if wait_seconds is None else wait_seconds
    path, describe = _run_lock_file(paths)
    with _flock(path, wait_seconds=wait, describe=describe):
        yield


def check_run_free(paths: RunPaths) -> None:
    """Refuse at once when another run holds this dataset and date (the CLI asks before
    Prefect starts; the run itself still takes the lock, so a race is refused there)."""
    path, describe = _run_lock_file(paths)
    if lock_wait_seconds() > 0 or not path.exists():
        return                         # told to wait for it, or never locked
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise _in_progress(path, describe) from None
    finally:
        os.close(fd)


@contextmanager
def publish_lock(paths: RunPaths):
    """Hold the dataset's publish lock (publishing takes a second: always waited for)."""
    with _flock(paths.locks_dir / f"{paths.dataset}.publish.lock", wait_seconds=600,
                describe=f"publishing of dataset '{paths.dataset}'"):
        yield


@contextmanager
def store_lock(store_dir: Path):
    """Hold a meter store's ingestion lock (another run's ingestion is waited for)."""
    with _flock(Path(store_dir).parent.parent / ".locks" / f"store-{Path(store_dir).name}.lock",
                wait_seconds=3600, describe=f"ingestion into {store_dir}"):
        yield
