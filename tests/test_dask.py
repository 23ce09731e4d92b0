"""The per-shard steps on a real Dask cluster (issue 20): same results as a local run, and a
scheduler that is wrong or missing is named before anything starts."""

from __future__ import annotations

import io
import pickle
import socket
import threading
import time

import pandas as pd
import pytest

from segmentation.cli import main
from segmentation.cluster import DASK_ADDRESS_ENV, check_reachable, dask_address
from segmentation.errors import InputError, ValidationFailed
from segmentation.meters.sample import write_sample_meters
from tests.dask_support import executed, published


def test_meter_flow_on_the_cluster_equals_the_local_run(prefect_harness, dask_cluster, tmp_path):
    from flows.meters import meter_flow

    write_sample_meters(tmp_path / "raw", n_meters=40, days=45, seed=11)
    inputs = [str(p) for p in sorted((tmp_path / "raw").glob("*.parquet"))]
    common = {"inputs": inputs, "run_date": "2025-01-02", "compare": False}
    local = meter_flow(data_root=str(tmp_path / "local"), outputs_root=str(tmp_path / "out-l"),
                       **common)
    before = executed(dask_cluster)
    remote = meter_flow(data_root=str(tmp_path / "remote"), outputs_root=str(tmp_path / "out-r"),
                        dask_address=dask_cluster.scheduler_address, **common)
    shards = len(list((tmp_path / "remote").rglob("days/shard=*")))
    # every file's ingestion and every shard's features ran on the workers
    assert executed(dask_cluster) - before == len(inputs) + shards
    a, b = published(local), published(remote)
    pd.testing.assert_frame_equal(a["segments"], b["segments"])
    pd.testing.assert_frame_equal(a["profiles"], b["profiles"])
    pd.testing.assert_frame_equal(a["quarantine"].drop(columns="source_file"),
                                  b["quarantine"].drop(columns="source_file"))
    for block in ("rows", "k", "consumption_bands", "store_months"):
        assert a["manifest"][block] == b["manifest"][block], block
    assert local["counts"] == remote["counts"] and local["counts"]["reconciles"]
    assert b["manifest"]["parameters"]["dask_address"] == dask_cluster.scheduler_address
    assert a["manifest"]["parameters"]["dask_address"] is None


def test_transaction_flow_on_the_cluster_equals_the_local_run(prefect_harness, dask_cluster,
                                                              tmp_path):
    from datetime import date

    from flows.transactions import transaction_flow
    from segmentation.transactions.features import CLUSTER_SHARDS
    from segmentation.transactions.sample import write_log

    log = write_log(tmp_path / "log.csv", n_customers=400, days=365, end=date(2024, 12, 31),
                    seed=5)
    common = {"input_path": str(log), "run_date": "2024-12-31", "compare": False}
    local = transaction_flow(data_root=str(tmp_path / "local"),
                             outputs_root=str(tmp_path / "out-l"), **common)
    before = executed(dask_cluster)
    remote = transaction_flow(data_root=str(tmp_path / "remote"),
                              outputs_root=str(tmp_path / "out-r"),
                              dask_address=dask_cluster.scheduler_address, **common)
    assert executed(dask_cluster) - before == CLUSTER_SHARDS   # the features ran in 16 shards
    a, b = published(local), published(remote)
    assert len(a["segments"]) > 300
    pd.testing.assert_frame_equal(a["segments"], b["segments"])
    pd.testing.assert_frame_equal(a["profiles"], b["profiles"])
    for block in ("rows", "k"):
        assert a["manifest"][block] == b["manifest"][block], block
    assert local["counts"] == remote["counts"]


def test_every_port_from_1_to_65535_is_an_address():
    for port in (1, 2, 65534, 65535):
        assert dask_address(f"tcp://h:{port}") == f"tcp://h:{port}"


def test_a_host_that_does_not_resolve_is_named():
    with pytest.raises(InputError, match=r"cannot reach the Dask scheduler at "
                                         r"tcp://no-such-host.invalid:8786 \(.+\); start one"):
        check_reachable("tcp://no-such-host.invalid:8786")


def test_address_from_the_option_else_the_environment(monkeypatch):
    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)
    assert dask_address(None) is None
    assert dask_address("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    monkeypatch.setenv(DASK_ADDRESS_ENV, "tcp://sched.example:9000")
    assert dask_address(None) == "tcp://sched.example:9000"
    assert dask_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"   # the option wins
    monkeypatch.setenv(DASK_ADDRESS_ENV, "127.0.0.1:8786")
    with pytest.raises(InputError, match=f"^{DASK_ADDRESS_ENV} '127.0.0.1:8786' is not a Dask"):
        dask_address(None)
    for bad in ("tcp://host:0", "tcp://host:65536", "http://host:8786", "tcp://host"):
        with pytest.raises(InputError, match="^--dask-address .* is not a Dask scheduler"):
            dask_address(bad)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_port_is_named_at_once():
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(InputError, match=f"cannot reach the Dask scheduler at {address} "
                                         r"\(Connection refused\); start one with `make cluster`"):
        check_reachable(address)
    assert time.monotonic() - started < 1


def _answer_garbage(server: socket.socket) -> None:
    """Accept every connection and reply with an HTTP error, as a web server on the port would."""
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)


@pytest.mark.parametrize("answers, says", [
    (True, "something else listens there"),    # another service on the port
    (False, "no answer in 1 s"),               # the kernel accepts; nobody answers
])
def test_a_port_that_is_not_a_scheduler_is_named_within_the_timeout(answers, says):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if answers:
        threading.Thread(target=_answer_garbage, args=(server,), daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(InputError, match=f"no Dask scheduler answers at tcp://127.0.0.1:{port} "
                                             rf"\({says}\)"):
            check_reachable(f"tcp://127.0.0.1:{port}", timeout=1)
        assert time.monotonic() - started < 4
    finally:
        server.close()


def test_a_scheduler_without_workers_is_refused_and_one_with_workers_accepted(dask_cluster):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=":0") as empty:
        with pytest.raises(InputError, match="has no workers: start some"):
            check_reachable(empty.scheduler_address)
    check_reachable(dask_cluster.scheduler_address)
    check_reachable(dask_cluster.scheduler_address, timeout=1)     # a short timeout is enough
    worker = next(iter(dask_cluster.scheduler_info["workers"]))   # a worker's own address
    with pytest.raises(InputError, match=f"^{worker} answers as a Dask Worker, not a scheduler"):
        check_reachable(worker)


def test_cli_names_an_unreachable_scheduler_in_one_line_before_prefect(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    write_sample_meters(tmp_path / "raw", n_meters=20, days=10, seed=1)
    err = io.StringIO()
    started = time.monotonic()
    status = main(["run", "meters", "--input", *map(str, (tmp_path / "raw").glob("*.parquet")),
                   "--data-root", str(tmp_path / "data"), "--dask-address", address],
                  stdout=io.StringIO(), stderr=err)
    assert status == 2 and time.monotonic() - started < 5
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"segment: error: cannot reach the Dask "
                                                   f"scheduler at {address}")
    assert not (tmp_path / "data" / "processed").exists()


def test_a_validation_failure_raised_on_a_worker_travels_whole():
    failure = ValidationFailed("f.csv", [{"expectation": "expect_column_to_exist", "column": "kwh"}])
    again = pickle.loads(pickle.dumps(failure))
    assert (again.file, again.failures, str(again)) == (failure.file, failure.failures, str(failure))


def test_a_flow_given_an_unreachable_scheduler_fails_with_the_one_line(prefect_harness, tmp_path):
    from flows.meters import meter_flow

    write_sample_meters(tmp_path / "raw", n_meters=20, days=10, seed=1)
    address = f"tcp://127.0.0.1:{_free_port()}"
    state = meter_flow(inputs=[str(p) for p in (tmp_path / "raw").glob("*.parquet")],
                       data_root=str(tmp_path / "data"), dask_address=address,
                       return_state=True)
    assert state.is_failed()
    assert state.message.startswith(f"cannot reach the Dask scheduler at {address}"), state.message
    assert not (tmp_path / "data" / "processed" / "meters").exists()
