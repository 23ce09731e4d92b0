"""Every flow loads, and its typed parameters reject bad values before any task runs."""

import importlib

import pytest
from prefect import Flow
from prefect.exceptions import ParameterTypeError

FLOWS = {"flows.customers": "customer_flow", "flows.meters": "meter_flow",
         "flows.transactions": "transaction_flow", "flows.nightly": "nightly_flow",
         "flows.history": "history_flow", "flows.assign": "assign_flow"}


@pytest.mark.parametrize("module", sorted(FLOWS))
def test_flow_loads_with_a_parameter_schema(module):
    flow = getattr(importlib.import_module(module), FLOWS[module])
    assert isinstance(flow, Flow)
    schema = flow.parameters.model_dump()
    dated = {"flows.history": "date_to", "flows.assign": "assign_date"}.get(module, "run_date")
    assert dated in schema["properties"]
    assert flow.description


@pytest.mark.parametrize("params,field", [
    ({"k_min": 1}, "k_min"),
    ({"k": 500}, "k"),
    ({"run_date": "28/11/2026"}, "run_date"),
    ({"missing": "drop"}, "missing"),
    ({"dataset": "Bad Name!"}, "dataset"),
])
def test_customer_flow_rejects_bad_parameters(params, field):
    from flows.customers import customer_flow

    with pytest.raises(ParameterTypeError, match=field):
        customer_flow.validate_parameters(params)


def test_meter_flow_rejects_unknown_format():
    from flows.meters import meter_flow

    with pytest.raises(ParameterTypeError, match="format"):
        meter_flow.validate_parameters({"format": "xml"})


@pytest.mark.parametrize("params,field", [
    ({"max_quantity": 0}, "max_quantity"),
    ({"window_days": 0}, "window_days"),
    ({"cancel_prefix": "x" * 11}, "cancel_prefix"),
])
def test_transaction_flow_rejects_bad_parameters(params, field):
    from flows.transactions import transaction_flow

    with pytest.raises(ParameterTypeError, match=field):
        transaction_flow.validate_parameters(params)


def test_cli_rejects_bad_arguments_before_running():
    from segmentation.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "customers", "--k-min", "1"])
