"""Fixtures shared by all tests: a Prefect harness, the real data in ../shared, sample tables."""

from __future__ import annotations

import fcntl
import os
import pickle
import sys
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


@pytest.fixture(autouse=True)
def fresh_ward_trees():
    """Each test computes its own Ward trees: the process-wide memo (``algorithms.ward_tree``)
    would hand it the trees an earlier test computed, and under mutmut (which forks each
    mutant's run from a process that has run the tests) those of the unmutated code: every
    mutant of ``ward_tree`` survived."""
    module = sys.modules.get("segmentation.algorithms")
    if module is not None:
        module._WARD_TREES.clear()


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
def overlapping():
    """Three overlapping groups of 80 rows (read-only): bootstrap results depend on the seed
    and their count, so determinism is testable (the k-selection and clustering tests)."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=240, centers=3, cluster_std=2.5, random_state=7)
    X.flags.writeable = False
    return X


@pytest.fixture(scope="session")
def prefect_template(request, tmp_path_factory) -> Path:
    """A Prefect database at the head migration, to copy into each server's (tests/prefect_db.py).

    Kept in pytest's cache, shared by the xdist workers and by later sessions of the same
    Prefect (8-10 s saved per server started); per session without the cache plugin.
    """
    from tests.prefect_db import migrated_template

    cache = getattr(request.config, "cache", None)
    folder = (cache.mkdir("prefect-db") if cache is not None
              else tmp_path_factory.getbasetemp().parent / "prefect-db")
    return migrated_template(Path(folder))


@pytest.fixture
def prefect_home(prefect_template, tmp_path) -> Path:
    """A PREFECT_HOME for a process that starts its own temporary server: its default
    database (``prefect.db``) is already migrated."""
    from tests.prefect_db import seed

    home = tmp_path / "prefect"
    seed(prefect_template, home / "prefect.db")
    return home


@pytest.fixture(scope="session")
def prefect_harness(prefect_template):
    """One temporary Prefect API for the whole session, on a copy of the migrated database
    (it starts in 5-6 s instead of 10-20 s).

    The flows run in this process send no heartbeats: Prefect 3.9 ends every flow run by
    joining its heartbeat thread, which sleeps in whole seconds (0.5-1 s per run, over a
    hundred runs here). A heartbeat (every 180 s) lets a server mark a run whose process
    died as crashed; these runs live in the test's process and last seconds. The runs of
    the deployment tests and the CLI processes keep Prefect's default.
    """
    import tempfile

    from prefect.settings import (PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
                                  PREFECT_SERVER_DATABASE_CONNECTION_URL, temporary_settings)
    from prefect.testing import utilities

    from tests.prefect_db import SQLITE_URL, seed

    seeded: list[Path] = []

    def seeded_folder() -> str:
        folder = Path(tempfile.mkdtemp())
        seeded.append(seed(prefect_template, folder / "prefect-test.db"))
        return str(folder)

    # The harness puts its database in a fresh mkdtemp() folder (and removes it at exit):
    # the folder it gets here already holds the migrated copy under the harness's file name.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utilities, "mkdtemp", seeded_folder)
        with utilities.prefect_test_harness(server_startup_timeout=120):
            url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
            assert [SQLITE_URL.format(path) for path in seeded] == [str(url)], (
                f"the harness does not run on the migrated copy: {url}, copies {seeded}")
            with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                yield


def once_per_session(tmp_path_factory, name: str, compute):
    """``compute()``, run by one process of the session; the other xdist workers read its result.

    The first worker to ask runs it (under a file lock in the session's temporary folder,
    which the workers share) and pickles what it returns; a worker asking meanwhile waits
    for it rather than running the same flows again. For results that name files the tests
    only read: each worker gets the same paths.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return compute()                      # one process: nobody to share with
    folder = tmp_path_factory.getbasetemp().parent
    stored = folder / f"{name}.pickle"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # released when the file closes
        if stored.exists():
            return pickle.loads(stored.read_bytes())
        result = compute()
        stored.write_bytes(pickle.dumps(result))
        return result


@pytest.fixture(scope="session")
def real_runs(prefect_harness, tmp_path_factory) -> dict:
    """A real customer run and meter run under one folder (tests/real_runs.py); read only.
    Once per session (``once_per_session``): tests/test_contract.py and tests/test_publish.py
    use it, often on different workers."""
    from tests.real_runs import publish_both

    return once_per_session(tmp_path_factory, "real-runs",
                            lambda: publish_both(tmp_path_factory.mktemp("real-runs")))


@pytest.fixture(scope="session")
def transaction_run(prefect_harness, tmp_path_factory) -> dict:
    """A real purchase-log run through the CLI (tests/real_runs.py); read only. Once per
    session: tests/test_contract.py and tests/transactions/test_flow.py use it."""
    from tests.real_runs import run_transactions

    return once_per_session(tmp_path_factory, "transaction-run",
                            lambda: run_transactions(tmp_path_factory.mktemp("transaction-run")))


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


@pytest.fixture(scope="module")
def dask_cluster():
    """A real Dask scheduler and two worker processes on 127.0.0.1, one thread each
    (tests/test_dask*.py)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        yield cluster
