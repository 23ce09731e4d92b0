"""End-to-end: deployments of prefect.yaml on a real Prefect server with a real worker.

Runs are created with `create_flow_run_from_deployment`, the API call behind the
UI's Run / Custom run button (POST /deployments/{id}/create_flow_run). The tests
share one stack and one workspace and run in file order: the first run publishes
the `latest/` that the failure and kill tests must leave untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId,
                                            DeploymentFilter, DeploymentFilterId,
                                            FlowRunFilter, FlowRunFilterId)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import PrefectHTTPStatusError
from prefect.states import Scheduled

# One Prefect server for the module (2 minutes to start); later tests read earlier runs, so
# the module runs on one worker, in order (`make test`: pytest-xdist with --dist loadfile).
pytestmark = [pytest.mark.server, pytest.mark.slow]

CUSTOMERS = "customer-segmentation/customers"
NIGHTLY = "nightly-segmentation/nightly"
RUN_TIMEOUT_S = 240     # one small run takes ~15 s here; generous for a loaded CI box
WEBHOOK_TIMEOUT_S = 90  # event -> trigger evaluation -> action, usually a few seconds
FIRST_DATE = "2024-05-01"


# ---------------------------------------------------------------- helpers

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(directory: Path) -> dict[str, str]:
    """Relative path -> content hash of every file under ``directory``."""
    return {str(p.relative_to(directory)): sha256(p)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def deployment_id(client, name: str) -> UUID:
    return client.read_deployment_by_name(name).id


def ui_run(client, name: str, parameters: dict, **kwargs) -> FlowRun:
    """What the UI's Run button does: create a flow run of the deployment."""
    return client.create_flow_run_from_deployment(deployment_id(client, name),
                                                  parameters=parameters, **kwargs)


def wait_final(client, run: FlowRun, stack, timeout: float = RUN_TIMEOUT_S) -> FlowRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(run.id)
        if run.state and run.state.is_final():
            return run
        time.sleep(0.5)
    raise AssertionError(f"flow run {run.name} still {run.state.name if run.state else None} "
                         f"after {timeout} s\n{stack.diagnostics()}")


def assert_state(run: FlowRun, expected: StateType, stack) -> None:
    assert run.state.type == expected, (
        f"flow run {run.name}: {run.state.type.value} ({run.state.message!r}), "
        f"expected {expected.value}\n{stack.diagnostics()}")


def artifacts_of(client, run: FlowRun) -> dict[str, object]:
    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    return {a.key: a for a in found if a.key}


def count_runs(client, name: str) -> int:
    return len(client.read_flow_runs(deployment_filter=DeploymentFilter(
        id=DeploymentFilterId(any_=[deployment_id(client, name)]))))


def segments(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    return frame.sort_values(list(frame.columns[:1])).reset_index(drop=True)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def client(prefect_stack):
    with get_client(sync_client=True) as client:
        yield client


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    from segmentation.customers.sample import write_sample_customers

    root = tmp_path_factory.mktemp("workspace")
    csv = write_sample_customers(root / "data" / "raw" / "customers", n=200, seed=7)
    return {"root": root, "csv": csv, "data_root": root / "data", "outputs_root": root / "outputs",
            "params": {"data_root": str(root / "data"), "outputs_root": str(root / "outputs")}}


def processed(workspace, *parts) -> Path:
    return workspace["data_root"].joinpath("processed", "customers", *parts)


# ---------------------------------------------------------------- tests

def test_all_deployments_are_registered(prefect_stack, client):
    by_name = {}
    for name in (CUSTOMERS, "meter-segmentation/meters", "transaction-segmentation/transactions",
                 NIGHTLY, "dataset-segmentation/dataset", "history-segmentation/history"):
        by_name[name] = client.read_deployment_by_name(name)
    for name, deployment in by_name.items():
        assert deployment.work_pool_name == "segmentation-pool", name
        assert deployment.global_concurrency_limit.limit == 1, name
        assert "segmentation" in deployment.tags, name
        (schedule,) = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *",
                                                                        "Europe/London"), name
    assert by_name[NIGHTLY].schedules[0].active
    assign = client.read_deployment_by_name("assign-segments/assign")      # on demand
    assert assign.work_pool_name == "segmentation-pool" and not assign.schedules
    cluster = client.read_deployment_by_name("meter-segmentation/meters-on-cluster")
    assert not cluster.schedules and cluster.parameters == {"dask_address": "tcp://127.0.0.1:8786"}
    assert "http://127.0.0.1:" in prefect_stack.start_output  # the UI address is printed


def test_ui_run_with_custom_parameters_publishes_and_attaches_artifacts(
        prefect_stack, client, workspace):
    params = dict(workspace["params"], run_date=FIRST_DATE, k_min=3, k_max=6, missing="impute")
    run = wait_final(client, ui_run(client, CUSTOMERS, params), prefect_stack)
    assert_state(run, StateType.COMPLETED, prefect_stack)

    partition = processed(workspace, f"run_date={FIRST_DATE}")
    for table in ("segments", "profiles", "quarantine"):
        assert (partition / f"{table}.parquet").is_file(), table
        assert (processed(workspace, "latest") / f"{table}.parquet").is_file(), table
    assert len(pd.read_parquet(partition / "segments.parquet")) > 0
    report_dir = workspace["outputs_root"] / "customers" / FIRST_DATE
    manifest = json.loads((report_dir / "manifest.json").read_text())
    # The custom parameters reached the flow.
    assert manifest["parameters"]["k_max"] == 6
    assert manifest["parameters"]["missing"] == "impute"

    artifacts = artifacts_of(client, run)
    assert artifacts["customers-report"].type == "markdown"
    assert str(partition) in artifacts["customers-report"].data  # the report gives data paths
    assert artifacts["customers-segments"].type == "table"


def test_invalid_parameters_are_rejected_before_a_run_exists(prefect_stack, client, workspace):
    bad = [(CUSTOMERS, {"k_min": 1}, "k_min"),
           (CUSTOMERS, {"missing": "drop"}, "missing"),
           ("meter-segmentation/meters", {"format": "xlsx"}, "format"),
           (NIGHTLY, {"run_date": "yesterday"}, "run_date")]
    before = {name: count_runs(client, name) for name, _, _ in bad}
    for name, parameters, field in bad:
        with pytest.raises(PrefectHTTPStatusError) as rejected:
            ui_run(client, name, dict(workspace["params"], **parameters))
        response = rejected.value.response
        assert response.status_code == 409, response.text
        assert "Validation failed" in response.text and field in response.text, response.text
    # Nothing was scheduled, so no task ran.
    assert {name: count_runs(client, name) for name in before} == before


def test_reruns_of_a_date_are_identical_sequential_and_reuse_ingestion(
        prefect_stack, client, workspace):
    params = dict(workspace["params"], run_date=FIRST_DATE, k_min=3, k_max=6, missing="impute")
    partition = processed(workspace, f"run_date={FIRST_DATE}")
    first = segments(partition / "segments.parquet")
    # Ingestion checkpoint keyed on the input file's content hash.
    checkpoint = (workspace["data_root"] / "processed" / ".checkpoints" / "customers"
                  / sha256(workspace["csv"]))
    checkpoint_files = sorted(checkpoint.glob("*.parquet"))
    assert checkpoint_files, f"no ingestion checkpoint under {checkpoint}"
    mtimes = {p: p.stat().st_mtime_ns for p in checkpoint_files}

    # Two clicks at once: concurrency_limit 1 makes them run one after the other.
    runs = [ui_run(client, CUSTOMERS, params) for _ in range(2)]
    runs = [wait_final(client, run, prefect_stack) for run in runs]
    for run in runs:
        assert_state(run, StateType.COMPLETED, prefect_stack)
    a, b = sorted(runs, key=lambda r: r.start_time)
    assert a.end_time <= b.start_time, "two runs of one deployment overlapped"

    pd.testing.assert_frame_equal(segments(partition / "segments.parquet"), first)
    tables = [artifacts_of(client, run)["customers-segments"].data for run in runs]
    assert tables[0] == tables[1]
    assert {p: p.stat().st_mtime_ns for p in checkpoint_files} == mtimes, \
        "the rerun ingested the same file again instead of reusing the checkpoint"


def test_table_expectation_failure_fails_run_keeps_latest_and_notifies(
        prefect_stack, client, workspace, webhook):
    from segmentation.customers.sample import HEADER, make_customers

    latest = processed(workspace, "latest")
    before = tree_digest(latest)
    bad_csv = workspace["root"] / "bad" / "customers.csv"
    bad_csv.parent.mkdir()
    frame = make_customers(120, seed=3)[HEADER]
    frame["Annual Income (k$)"] = "unknown"  # a numeric column that is all text
    frame.to_csv(bad_csv, index=False)

    run = ui_run(client, CUSTOMERS, dict(workspace["params"], run_date="2024-05-02",
                                         input_path=str(bad_csv)))
    run = wait_final(client, run, prefect_stack)
    assert_state(run, StateType.FAILED, prefect_stack)
    assert "expect_column_values_to_be_in_type_list" in run.state.message
    failures = artifacts_of(client, run)["customers-validation-failures"]
    assert failures.type == "table"
    assert "expect_column_values_to_be_in_type_list" in failures.data

    assert tree_digest(latest) == before
    assert not processed(workspace, "run_date=2024-05-02").exists()

    payload = webhook.wait_for(lambda p: p.get("flow_run_id") == str(run.id), WEBHOOK_TIMEOUT_S)
    assert payload["state"] == "Failed"
    assert payload["deployment"] == "customers"
    assert "expect_column_values_to_be_in_type_list" in payload["message"]


def test_killed_run_leaves_latest_intact_and_next_run_completes(
        prefect_stack, client, workspace, webhook):
    latest = processed(workspace, "latest")
    before = tree_digest(latest)
    params = dict(workspace["params"], run_date="2024-05-03")
    run = ui_run(client, CUSTOMERS, params)

    # Kill the flow-run process once it is running tasks (mid-run, before publishing).
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = client.read_flow_run(run.id)
        assert not run.state.is_final(), f"run ended before it could be killed: {run.state}"
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[run.id])))
        if run.state.is_running() and run.infrastructure_pid and task_runs:
            break
        assert time.monotonic() < deadline, f"run never started\n{prefect_stack.diagnostics()}"
        time.sleep(0.2)
    os.kill(int(run.infrastructure_pid.rsplit(":", 1)[-1]), signal.SIGKILL)

    run = wait_final(client, run, prefect_stack)
    assert_state(run, StateType.CRASHED, prefect_stack)
    assert tree_digest(latest) == before
    for table in latest.glob("*.parquet"):
        pd.read_parquet(table)  # readable, not half-written
    webhook.wait_for(lambda p: p.get("flow_run_id") == str(run.id), WEBHOOK_TIMEOUT_S)

    rerun = wait_final(client, ui_run(client, CUSTOMERS, params), prefect_stack)
    assert_state(rerun, StateType.COMPLETED, prefect_stack)
    partition = processed(workspace, "run_date=2024-05-03")
    assert tree_digest(latest) == tree_digest(partition)  # latest/ moved to the new date


def test_nightly_run_without_run_date_writes_its_scheduled_london_date(
        prefect_stack, client, tmp_path):
    from segmentation.customers.sample import write_sample_customers

    write_sample_customers(tmp_path / "data" / "raw" / "customers", n=120, seed=11)
    # 23:30 UTC on 14 June is 00:30 on 15 June in London (BST). In the past, so this
    # is also a late run: it must still write the date it was scheduled for.
    scheduled = datetime(2024, 6, 14, 23, 30, tzinfo=timezone.utc)
    run = ui_run(client, NIGHTLY, {"data_root": str(tmp_path / "data"),
                                   "outputs_root": str(tmp_path / "outputs")},
                 state=Scheduled(scheduled_time=scheduled))
    run = wait_final(client, run, prefect_stack)
    assert_state(run, StateType.COMPLETED, prefect_stack)
    published = sorted(p.name for p in (tmp_path / "data" / "processed" / "customers").iterdir())
    assert published == ["latest", "reports", "run_date=2024-06-15"]
