"""Fixtures shared by all tests: a Prefect harness, the real data in ../shared, sample tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The flows apply SEGMENT_THREADS (default: every core): one thread, like the fixture below,
# for flows run here and for the CLI processes tests start.
os.environ["SEGMENT_THREADS"] = "1"


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_library():
    """One BLAS/OpenMP thread per process: on 2 busy cores, k-means' threads fighting each
    other slowed tests 40-60 times; single-threaded they are fast and steady."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def slow_files_first(items) -> None:
    """Order the files by how long they take, in place, keeping each file's own order.

    `make test` hands whole files to its workers in this order (``--dist loadfile
    --no-loadscope-reorder``); xdist's default puts the files with most tests first, which
    started the deployment tests (one Prefect stack, 3 minutes) last, alone on one worker.
    The real-server file goes first, then the files of real flow runs, then the rest.
    """
    def weight(item) -> int:
        if item.get_closest_marker("server"):
            return 0
        if "prefect_harness" in item.fixturenames or item.get_closest_marker("slow"):
            return 1
        return 2

    files: dict[str, int] = {}
    for item in items:
        name = item.nodeid.split("::")[0]
        files[name] = min(files.get(name, 2), weight(item))
    items.sort(key=lambda item: files[item.nodeid.split("::")[0]])   # stable: file order kept


def pytest_collection_modifyitems(config, items):
    """Slow files first (``slow_files_first``); under mutmut (it sets MUTANT_UNDER_TEST), leave
    out the tests that need a Prefect API.

    They start a server and real runs in every mutant's process (12-20 s for the server
    alone, minutes on a busy machine), so mutmut's timeout counted each mutant they reach as
    caught: `make mutate` is about the pure tests (pyproject.toml, [tool.mutmut]).
    """
    slow_files_first(items)
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    needs_prefect = [item for item in items if "prefect_harness" in item.fixturenames]
    if needs_prefect:
        config.hook.pytest_deselected(items=needs_prefect)
        items[:] = [item for item in items if item not in needs_prefect]


REPO = Path(__file__).resolve().parents[1]
# SEGMENT_SHARED_DATA: for copies of the tests that live elsewhere (mutmut runs them in mutants/)
SHARED_DATA = Path(os.environ.get("SEGMENT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip: a user's fresh clone has no ../shared."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"real data {relative} not found under {SHARED_DATA} "
                    "(../shared is only present on the project's machines)")
    return path


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect API for the whole session (it takes 12-20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def real_runs(prefect_harness, tmp_path_factory) -> dict:
    """A real customer run and meter run under one folder (tests/real_runs.py); read only."""
    from tests.real_runs import publish_both

    return publish_both(tmp_path_factory.mktemp("real-runs"))


@pytest.fixture(scope="session")
def transaction_run(prefect_harness, tmp_path_factory) -> dict:
    """A real purchase-log run through the CLI (tests/real_runs.py); read only."""
    from tests.real_runs import run_transactions

    return run_transactions(tmp_path_factory.mktemp("transaction-run"))


@pytest.fixture
def roots(tmp_path) -> dict[str, str]:
    """Fresh data and outputs roots for one test."""
    return {"data_root": str(tmp_path / "data"), "outputs_root": str(tmp_path / "outputs")}


@pytest.fixture
def mall_csv() -> Path:
    return shared_file("mall/Mall_Customers.csv")


@pytest.fixture
def sample_customers_csv(tmp_path) -> Path:
    from segmentation.customers.sample import write_sample_customers

    return write_sample_customers(tmp_path / "raw", n=200, seed=7)

