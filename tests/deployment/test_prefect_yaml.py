"""prefect.yaml and the failure automation are valid without a server."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "prefect.yaml"
EXPECTED = {  # deployment name -> flow name
    "customers": "customer-segmentation",
    "meters": "meter-segmentation",
    "meters-on-cluster": "meter-segmentation",
    "transactions": "transaction-segmentation",
    "nightly": "nightly-segmentation",
    "dataset": "dataset-segmentation",
    "history": "history-segmentation",
    "assign": "assign-segments",
}
ON_DEMAND = {"assign", "meters-on-cluster"}   # no schedule: run from the UI or the CLI


@pytest.fixture(scope="module")
def config() -> dict:
    # Parsed the way `prefect deploy` parses it (aliases resolved, schema checked).
    from prefect.cli.deploy._models import PrefectYamlModel

    raw = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    PrefectYamlModel.model_validate(raw)
    return raw


@pytest.fixture(scope="module")
def deployments(config) -> dict[str, dict]:
    return {d["name"]: d for d in config["deployments"]}


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_declares_the_eight_deployments(deployments):
    assert set(deployments) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_entrypoint_imports_the_named_flow(deployments, name, monkeypatch):
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(REPO)  # entrypoints are relative to the project root
    flow = load_flow_from_entrypoint(deployments[name]["entrypoint"])
    assert flow.name == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schedule_pool_limit_tags_description(deployments, name):
    from prefect.client.schemas.schedules import CronSchedule

    deployment = deployments[name]
    if name in ON_DEMAND:
        assert not deployment.get("schedules")
    else:
        (schedule,) = deployment["schedules"]
        parsed = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
        assert (parsed.cron, parsed.timezone) == ("0 2 * * *", "Europe/London")
    assert deployment["concurrency_limit"]["limit"] == 1
    assert deployment["work_pool"]["name"] == "segmentation-pool"
    assert "segmentation" in deployment["tags"]  # the failure automation matches this tag
    assert len(deployment["description"]) > 40
    assert deployment["enforce_parameter_schema"] is True


def test_only_the_nightly_schedule_is_active(deployments):
    # The parent runs both datasets; active child schedules would run them twice.
    assert {n: d["schedules"][0]["active"] for n, d in deployments.items()
            if n not in ON_DEMAND} == {
        "customers": False, "meters": False, "transactions": False, "nightly": True,
        "dataset": False, "history": False}


def test_pull_step_is_portable(config, deployments):
    steps = [config.get("pull")] + [d.get("pull") for d in deployments.values()]
    values = list(strings([s for s in steps if s]))
    assert "{{ $SEGMENT_PROJECT_DIR }}" in values
    assert not [v for v in values if v.startswith(("/", "~")) or ":\\" in v], values
    assert str(REPO) not in PREFECT_YAML.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ui_form_has_descriptions_for_every_parameter(deployments, name, monkeypatch):
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    monkeypatch.chdir(REPO)
    schema = parameter_schema(load_flow_from_entrypoint(deployments[name]["entrypoint"]))
    missing = [p for p, spec in schema.properties.items() if not spec.get("description")]
    assert not missing, f"parameters without a description in the UI form: {missing}"


def test_customer_form_bounds_and_choices(deployments, monkeypatch):
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    monkeypatch.chdir(REPO)
    props = parameter_schema(load_flow_from_entrypoint(
        deployments["customers"]["entrypoint"])).properties
    assert props["k_min"]["minimum"] == 2
    assert props["missing"]["enum"] == ["quarantine", "impute"]
    assert props["outliers"]["enum"] == ["flag", "winsorize"]
    assert "pattern" in str(props["run_date"])


def test_failure_automation_file_validates():
    from prefect.automations import Automation

    spec = yaml.safe_load((REPO / "deploy/automations/flow-run-failed.yaml").read_text())
    spec["actions"][0]["block_document_id"] = str(uuid.uuid4())  # set by create_automation.py
    automation = Automation.model_validate(spec)
    assert {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"} <= automation.trigger.expect
    assert automation.trigger.match_related.root == {
        "prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.segmentation"}
    assert automation.actions[0].type == "call-webhook"


def test_server_script_parses():
    subprocess.run(["bash", "-n", str(REPO / "deploy/server.sh")], check=True)


def test_the_cluster_deployment_runs_the_meter_flow_on_make_clusters_address(deployments):
    cluster = (REPO / "deploy" / "cluster.sh").read_text(encoding="utf-8")
    assert 'HOST=127.0.0.1' in cluster and 'PORT="${SEGMENT_DASK_PORT:-8786}"' in cluster
    assert deployments["meters-on-cluster"]["parameters"] == {"dask_address": "tcp://127.0.0.1:8786"}
