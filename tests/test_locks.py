"""The locks of docs/outputs.md: one run per dataset and date (a second one is refused naming
the holder, or waits up to SEGMENT_LOCK_WAIT_SECONDS), one publisher per dataset and one
ingestion per meter store (waited for), all released however the holder ends."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import threading
import time
from contextlib import contextmanager
from datetime import date

import pytest

from segmentation.errors import SegmentationError
from segmentation.locks import (RunInProgress, check_run_free, publish_lock, run_lock,
                                store_lock)
from segmentation.settings import RunPaths

DAY = date(2026, 11, 1)


def paths_for(tmp_path, dataset="shop", day=DAY) -> RunPaths:
    return RunPaths.create(dataset, day, tmp_path / "data", tmp_path / "outputs")


def held_by_other(path) -> bool:
    """True when another open file holds an exclusive flock on ``path`` (what a second
    process would meet)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)        # closing releases a lock this probe took
    return False


@contextmanager
def held_in_thread(lock, release_after: float):
    """Hold ``lock`` in another thread and release it after ``release_after`` seconds."""
    taken = threading.Event()

    def hold():
        with lock:
            taken.set()
            time.sleep(release_after)

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(5)
    try:
        yield
    finally:
        thread.join()


def test_the_run_lock_is_the_documented_file_and_is_held_for_the_whole_run(tmp_path):
    paths = paths_for(tmp_path)
    lock_file = tmp_path / "data" / "processed" / ".locks" / "shop-2026-11-01.lock"
    with run_lock(paths, wait_seconds=0):
        assert held_by_other(lock_file)
    assert not held_by_other(lock_file)


def test_a_second_run_of_the_same_dataset_and_date_is_refused_naming_the_holder(tmp_path,
                                                                                   monkeypatch):
    monkeypatch.delenv("SEGMENT_LOCK_WAIT_SECONDS", raising=False)
    paths = paths_for(tmp_path)
    with run_lock(paths):
        started = time.monotonic()
        with pytest.raises(RunInProgress) as refused:
            with run_lock(paths_for(tmp_path)):
                pytest.fail("a second holder entered the run")
        assert time.monotonic() - started < 0.4          # default: refused at once, no wait
    message = str(refused.value)
    assert isinstance(refused.value, SegmentationError)  # the CLI's exit 2, one paragraph
    assert message.startswith("a run of dataset 'shop' for 2026-11-01 is already running (")
    assert f"pid {os.getpid()} on {socket.gethostname()}, since " in message
    assert re.search(r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", message)
    assert message.endswith("; wait for it to finish, or stop it; the lock is "
                            f"{paths.locks_dir / 'shop-2026-11-01.lock'}")


def test_the_cli_check_refuses_a_held_date_before_starting_and_lets_a_free_one_run(
        tmp_path, monkeypatch):
    monkeypatch.delenv("SEGMENT_LOCK_WAIT_SECONDS", raising=False)
    paths = paths_for(tmp_path)
    check_run_free(paths)                                   # never locked: no lock file yet
    with run_lock(paths):
        with pytest.raises(RunInProgress) as refused:
            check_run_free(paths_for(tmp_path))
        check_run_free(paths_for(tmp_path, day=date(2026, 11, 2)))   # another date is free
        check_run_free(paths_for(tmp_path, dataset="grid"))
        monkeypatch.setenv("SEGMENT_LOCK_WAIT_SECONDS", "5")
        check_run_free(paths)                               # told to wait: the run waits
    assert str(refused.value).startswith(
        "a run of dataset 'shop' for 2026-11-01 is already running (pid ")
    monkeypatch.delenv("SEGMENT_LOCK_WAIT_SECONDS")
    check_run_free(paths)                                   # released: free again
    with run_lock(paths, wait_seconds=0):                   # the check took nothing for itself
        pass


def test_another_date_or_dataset_runs_beside_it_and_the_lock_is_released_after(tmp_path):
    paths = paths_for(tmp_path)
    with run_lock(paths, wait_seconds=0):
        with run_lock(paths_for(tmp_path, day=date(2026, 11, 2)), wait_seconds=0):
            pass
        with run_lock(paths_for(tmp_path, dataset="grid"), wait_seconds=0):
            pass
    with run_lock(paths, wait_seconds=0):
        pass


def test_a_run_that_fails_releases_the_lock(tmp_path):
    paths = paths_for(tmp_path)
    with pytest.raises(ZeroDivisionError):
        with run_lock(paths, wait_seconds=0):
            1 / 0
    with run_lock(paths, wait_seconds=0):
        pass


def test_a_second_run_waits_up_to_segment_lock_wait_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMENT_LOCK_WAIT_SECONDS", "3")
    paths = paths_for(tmp_path)
    with held_in_thread(run_lock(paths_for(tmp_path), wait_seconds=0), release_after=0.3):
        started = time.monotonic()
        with run_lock(paths):                 # waits for the first run, then runs
            waited = time.monotonic() - started
    assert 0.2 < waited < 2.5


def test_a_wait_that_runs_out_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMENT_LOCK_WAIT_SECONDS", "0.4")
    paths = paths_for(tmp_path)
    with run_lock(paths, wait_seconds=0):
        started = time.monotonic()
        with pytest.raises(RunInProgress, match="is already running"):
            with run_lock(paths_for(tmp_path)):
                pass
        assert 0.35 < time.monotonic() - started < 2.0


def test_the_holder_is_named_as_its_prefect_flow_run(tmp_path, monkeypatch):
    from prefect.runtime import flow_run

    monkeypatch.setattr(flow_run, "name", "quiet-otter", raising=False)
    monkeypatch.setattr(flow_run, "id", "1234-abcd", raising=False)
    paths = paths_for(tmp_path)
    with run_lock(paths, wait_seconds=0):
        monkeypatch.undo()
        with pytest.raises(RunInProgress) as refused:
            with run_lock(paths, wait_seconds=0):
                pass
    assert ("is already running (flow run 'quiet-otter' (1234-abcd), "
            f"pid {os.getpid()} on {socket.gethostname()}, since ") in str(refused.value)


@pytest.mark.parametrize("content", ["{not json", ""])
def test_a_holder_that_wrote_nothing_readable_is_unknown(tmp_path, content):
    paths = paths_for(tmp_path)
    lock_file = paths.locks_dir / "shop-2026-11-01.lock"
    lock_file.parent.mkdir(parents=True)
    lock_file.write_text(content)
    fd = os.open(lock_file, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(RunInProgress, match=r"is already running \(holder unknown\);"):
            with run_lock(paths, wait_seconds=0):
                pass
    finally:
        os.close(fd)


def test_publishing_is_one_at_a_time_and_waited_for(tmp_path):
    paths = paths_for(tmp_path)
    lock_file = paths.locks_dir / "shop.publish.lock"
    with held_in_thread(publish_lock(paths), release_after=0.3):
        assert held_by_other(lock_file)
        started = time.monotonic()
        with publish_lock(paths_for(tmp_path, day=date(2026, 11, 2))):   # another date: waits
            assert time.monotonic() - started > 0.2
            assert held_by_other(lock_file)
    assert not held_by_other(lock_file)


def test_ingestion_into_a_store_is_one_at_a_time_and_waited_for(tmp_path):
    paths = paths_for(tmp_path, dataset="grid")
    lock_file = paths.locks_dir / "store-grid.lock"
    with held_in_thread(store_lock(paths.store_dir), release_after=0.3):
        assert held_by_other(lock_file)
        started = time.monotonic()
        with store_lock(paths.store_dir):
            assert time.monotonic() - started > 0.2
    assert not held_by_other(lock_file)


class FakeClock:
    """The locks module's ``time``: ``readings`` in turn, sleeps recorded and not slept, the
    rest the real module's."""

    def __init__(self, readings) -> None:
        self.readings = iter(readings)
        self.slept: list = []

    def monotonic(self) -> float:
        return next(self.readings)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def __getattr__(self, name: str):
        return getattr(time, name)


def fake_clock(monkeypatch, *readings) -> list:
    """The locks' clock reads ``readings`` in turn; their sleeps are recorded, not slept.

    Only the locks module's name ``time`` is replaced: patching ``time.monotonic`` itself
    reached every thread of the process, and Prefect's event-loop thread (of the session's
    Prefect harness) died of the exhausted readings, failing the harness's teardown."""
    from segmentation import locks

    clock = FakeClock(readings)
    monkeypatch.setattr(locks, "time", clock)
    return clock.slept


def test_a_run_waits_exactly_segment_lock_wait_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMENT_LOCK_WAIT_SECONDS", "3")
    paths = paths_for(tmp_path)
    with run_lock(paths, wait_seconds=0):
        slept = fake_clock(monkeypatch, 100.0, 102.9, 103.0)
        with pytest.raises(RunInProgress, match="^a run of dataset 'shop' for 2026-11-01 is "):
            with run_lock(paths):
                pass
        assert len(slept) == 1            # still waiting at 2.9 s, refused at 3 s


@pytest.mark.parametrize("lock, describe", [
    (lambda p: publish_lock(p), "publishing of dataset 'shop'"),
    (lambda p: store_lock(p.store_dir), "ingestion into {store}"),
])
def test_publishing_and_ingestion_wait_long_then_say_what_is_running(tmp_path, monkeypatch,
                                                                     lock, describe):
    paths = paths_for(tmp_path)
    describe = describe.format(store=paths.store_dir)
    with lock(paths):
        slept = fake_clock(monkeypatch, 0.0, 599.0, 1e6)
        with pytest.raises(RunInProgress) as refused:
            with lock(paths):
                pass
    assert slept                          # ten minutes and more are waited for
    assert str(refused.value).startswith(f"{describe} is already running (pid {os.getpid()}")
