"""SEGMENT_THREADS: read, checked, applied by every flow and recorded in the manifest."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn.cluster  # noqa: F401 - loads scikit-learn's OpenMP runtime, as the flows do
from threadpoolctl import threadpool_limits

from segmentation.errors import InputError
from segmentation.settings import segment_threads
from segmentation.threads import limit_threads, threads_in_use

RUN_DATE = "2026-11-20"


def test_default_is_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.delenv("SEGMENT_THREADS", raising=False)
    cores = os.sched_getaffinity(0)
    assert segment_threads() == len(cores)
    if len(cores) > 1:                  # narrowed as `taskset` or a container would
        os.sched_setaffinity(0, {min(cores)})
        try:
            assert segment_threads() == 1
        finally:
            os.sched_setaffinity(0, cores)


@pytest.mark.parametrize("value, expected", [("1", 1), ("3", 3), (" 2 ", 2), ("", None)])
def test_a_whole_number_sets_the_count(monkeypatch, value, expected):
    monkeypatch.setenv("SEGMENT_THREADS", value)
    assert segment_threads() == (expected or len(os.sched_getaffinity(0)))


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "+2", "²"])
def test_anything_else_is_refused_in_one_sentence(monkeypatch, value):
    monkeypatch.setenv("SEGMENT_THREADS", value)
    with pytest.raises(InputError) as raised:
        segment_threads()
    assert str(raised.value) == (f"SEGMENT_THREADS must be a whole number of 1 or more (the BLAS "
                                 f"and OpenMP threads of a run), got '{value}'")


@pytest.mark.parametrize("setting, outer", [("3", 1), ("1", 2)])
def test_limit_threads_sets_blas_and_openmp(monkeypatch, setting, outer):
    monkeypatch.setenv("SEGMENT_THREADS", setting)
    with threadpool_limits(limits=outer):            # restores the session's limit after
        assert threads_in_use() == {"blas": outer, "openmp": outer}
        assert limit_threads() == int(setting)
        assert threads_in_use() == {"blas": int(setting), "openmp": int(setting)}
        assert limit_threads(outer) == outer and threads_in_use()["openmp"] == outer


def test_the_manifest_records_the_limit_in_force():
    import pandas as pd

    from segmentation.kselect import KSelection
    from segmentation.report import build_manifest

    sel = KSelection(k=2, rule="r", knee=None, metrics=pd.DataFrame(
        {"k": [2], "inertia": [1.0], "silhouette": [0.5], "stability": [0.9], "feasible": [True]}))
    for limit in (2, 1):
        with threadpool_limits(limits=limit):
            manifest = build_manifest(dataset="d", run_date=RUN_DATE, inputs=[], counts={},
                                      parameters={}, selection=sel, silhouette=0.5, timings={},
                                      segments={})
        assert manifest["threads"] == {"blas": limit, "openmp": limit}


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("flow", ["customers", "meters"])
def test_a_flow_applies_segment_threads_in_the_thread_that_runs_its_tasks(flow, roots,
                                                                          monkeypatch):
    """Whatever the caller's limit, the flow applies SEGMENT_THREADS first thing, in the
    thread that runs its tasks (here the caller's: the limit stays after the run, which
    stops early for want of input)."""
    from flows.customers import customer_flow
    from flows.meters import meter_flow

    monkeypatch.setenv("SEGMENT_THREADS", "1")
    with threadpool_limits(limits=2):
        state = {"customers": customer_flow, "meters": meter_flow}[flow](
            run_date=RUN_DATE, **roots, return_state=True)
        assert state.is_failed()                     # no input under the empty data root
        assert threads_in_use() == {"blas": 1, "openmp": 1}


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("flow", ["customers", "meters", "nightly"])
def test_every_flow_refuses_a_bad_setting_before_it_starts(flow, roots, monkeypatch):
    from flows.customers import customer_flow
    from flows.meters import meter_flow
    from flows.nightly import nightly_flow

    monkeypatch.setenv("SEGMENT_THREADS", "0")
    run = {"customers": customer_flow, "meters": meter_flow, "nightly": nightly_flow}[flow]
    state = run(run_date=RUN_DATE, **roots, return_state=True)
    assert state.is_failed()
    assert state.message == ("SEGMENT_THREADS must be a whole number of 1 or more (the BLAS and "
                             "OpenMP threads of a run), got '0'")


SPINCOUNT = re.compile(r"GOMP_SPINCOUNT = '(\d+)'")


def openmp_spincount(code: str, **env: str) -> int:
    """How long scikit-learn's OpenMP threads spin before they sleep, in a fresh Python
    that runs ``code`` and then loads scikit-learn (OpenMP prints its settings on load)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    done = subprocess.run([sys.executable, "-c", code + "\nimport sklearn.cluster"],
                          env={**clean, "OMP_DISPLAY_ENV": "VERBOSE", **env},
                          capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    return int(SPINCOUNT.search(done.stderr).group(1))


def test_openmp_threads_sleep_rather_than_spin_in_a_deployment_run():
    """The wait policy reaches OpenMP when a worker imports a flow (Prefect's engine first):
    nothing loads OpenMP before the package sets it."""
    assert openmp_spincount("import prefect.engine, flows.nightly") == 0   # default: 300000


@pytest.mark.parametrize("given, kept", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_package_sets_the_wait_policy_unless_the_user_did(monkeypatch, given, kept):
    import segmentation

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    if given:
        monkeypatch.setenv("OMP_WAIT_POLICY", given)
    importlib.reload(segmentation)
    assert os.environ["OMP_WAIT_POLICY"] == kept
