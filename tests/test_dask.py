"""The per-shard steps on a real Dask cluster (issue 20): same results as a local run, and a
scheduler that is wrong or missing is named before anything starts."""

from __future__ import annotations

import io
import json
import os
import pickle
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from segmentation.cli import main
from segmentation.cluster import DASK_ADDRESS_ENV, check_reachable, dask_address
from segmentation.errors import InputError, ValidationFailed
from segmentation.meters.sample import write_sample_meters


@pytest.fixture(scope="module")
def dask_cluster():
    """A real scheduler and two worker processes on 127.0.0.1, one thread each."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        yield cluster


def executed(cluster) -> int:
    """Tasks the cluster's workers have run so far."""
    from distributed import Client

    with Client(cluster) as client:
        return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def _published(result: dict) -> dict:
    published = result["published"]
    manifest = json.loads(Path(published["manifest"]).read_text())
    return {"segments": pd.read_parquet(published["segments"]),
            "profiles": pd.read_parquet(published["profiles"]),
            "quarantine": pd.read_parquet(published["quarantine"]),
            "manifest": manifest}


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
    a, b = _published(local), _published(remote)
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
    a, b = _published(local), _published(remote)
    assert len(a["segments"]) > 300
    pd.testing.assert_frame_equal(a["segments"], b["segments"])
    pd.testing.assert_frame_equal(a["profiles"], b["profiles"])
    for block in ("rows", "k"):
        assert a["manifest"][block] == b["manifest"][block], block
    assert local["counts"] == remote["counts"]


class KillOnce:
    """Built on demand as a Dask ``WorkerPlugin``: ends its worker's process, as a crash would,
    0.1 s after the first shard task starts there; the flag file makes it once per test (the
    nanny starts a new worker, which gets the plugin too)."""

    @staticmethod
    def plugin(flag: Path):
        from distributed.diagnostics.plugin import WorkerPlugin

        class Plugin(WorkerPlugin):
            def transition(self, key, start, finish, **kwargs):
                if finish != "executing" or "meter_shard_features" not in str(key):
                    return
                try:
                    os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return
                threading.Timer(0.1, os._exit, (1,)).start()

        return Plugin()


def test_a_worker_killed_during_the_run_leaves_whole_outputs_and_the_same_result(
        prefect_harness, tmp_path):
    from distributed import Client, LocalCluster

    from flows.meters import meter_flow

    write_sample_meters(tmp_path / "raw", n_meters=40, days=45, seed=12)
    inputs = [str(p) for p in sorted((tmp_path / "raw").glob("*.parquet"))]
    common = {"inputs": inputs, "run_date": "2025-01-02", "compare": False}
    local = _published(meter_flow(data_root=str(tmp_path / "local"),
                                  outputs_root=str(tmp_path / "out-l"), **common))
    flag = tmp_path / "killed"
    roots = {"data_root": str(tmp_path / "remote"), "outputs_root": str(tmp_path / "out-r")}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            client.register_plugin(KillOnce.plugin(flag))
        state = meter_flow(dask_address=cluster.scheduler_address, return_state=True,
                           **roots, **common)
        assert flag.exists()                     # a worker was killed during the run
        if not state.is_completed():             # the run may fail cleanly: its rerun completes
            state = meter_flow(dask_address=cluster.scheduler_address, return_state=True,
                               **roots, **common)
    assert state.is_completed(), state.message
    remote = _published(state.result())
    pd.testing.assert_frame_equal(local["segments"], remote["segments"])
    pd.testing.assert_frame_equal(local["profiles"], remote["profiles"])
    assert local["manifest"]["rows"] == remote["manifest"]["rows"]
    staging = Path(roots["data_root"]) / "processed" / ".staging"
    assert not staging.exists() or not any(staging.iterdir())   # no half-written work left


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


def test_another_service_on_the_port_is_not_taken_for_a_scheduler():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_garbage():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)

    threading.Thread(target=answer_garbage, daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(InputError, match=f"no Dask scheduler answers at tcp://127.0.0.1:{port}"):
            check_reachable(f"tcp://127.0.0.1:{port}", timeout=2)
        assert time.monotonic() - started < 5
    finally:
        server.close()


def test_a_scheduler_without_workers_is_refused_and_one_with_workers_accepted(dask_cluster):
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=":0") as empty:
        with pytest.raises(InputError, match="has no workers: start some"):
            check_reachable(empty.scheduler_address)
    check_reachable(dask_cluster.scheduler_address)
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


def test_history_runs_each_date_of_a_meter_dataset_on_the_cluster(prefect_harness, dask_cluster,
                                                                   tmp_path, monkeypatch):
    from flows.history import history_flow

    write_sample_meters(tmp_path / "data" / "raw" / "m", n_meters=30, days=40, seed=3,
                        end="2025-01-31")
    catalog = tmp_path / "segmentation.yaml"
    catalog.write_text("datasets:\n  m:\n    kind: meters\n    input: raw/m\n    compare: false\n")
    monkeypatch.setenv("SEGMENT_CATALOG", str(catalog))
    before = executed(dask_cluster)
    runs = history_flow(name="m", date_from="2025-01-30", date_to="2025-01-31", every="day",
                        data_root=str(tmp_path / "data"), outputs_root=str(tmp_path / "out"),
                        dask_address=dask_cluster.scheduler_address)
    assert list(runs) == ["2025-01-30", "2025-01-31"]
    shards = len(list((tmp_path / "data").rglob("days/shard=*")))
    # per run: the ingestion task (the second finds the file stored and skips it), the shards
    assert executed(dask_cluster) - before == 2 * (1 + shards)
    manifest = json.loads(Path(runs["2025-01-31"]["published"]["manifest"]).read_text())
    assert manifest["parameters"]["dask_address"] == dask_cluster.scheduler_address


def test_history_refuses_the_option_for_a_customer_table_before_starting(tmp_path, monkeypatch):
    catalog = tmp_path / "segmentation.yaml"
    catalog.write_text("datasets:\n  c:\n    kind: customers\n    input: raw/c.csv\n")
    monkeypatch.setenv("SEGMENT_CATALOG", str(catalog))
    err = io.StringIO()
    status = main(["history", "c", "--from", "2025-01-01", "--to", "2025-02-28",
                   "--dask-address", "tcp://127.0.0.1:1"], stdout=io.StringIO(), stderr=err)
    assert status == 2
    assert ("--dask-address: dataset 'c' is a customers table, with no per-shard steps to run "
            "on Dask (meters and transactions have)") in err.getvalue()


def test_members_are_placed_in_chunks_on_the_cluster_as_in_one_call(
        prefect_harness, dask_cluster, real_runs, tmp_path, monkeypatch):
    import shutil

    from flows.assign import assign_flow
    from tasks import assign as assign_steps
    from tests.real_runs import RUN_DATE, roots_of

    results = {}
    for where in ("local", "cluster"):
        root = tmp_path / where
        shutil.copytree(real_runs["root"], root, symlinks=True)
        table = root / "data" / "raw" / "customers" / "customers.csv"
        if where == "cluster":
            monkeypatch.setattr(assign_steps, "PLACE_CHUNK_ROWS", 37)
            before = executed(dask_cluster)
        results[where] = assign_flow(kind="customers", inputs=[str(table)], assign_date=RUN_DATE,
                                     dask_address=(dask_cluster.scheduler_address
                                                   if where == "cluster" else None),
                                     **roots_of(root))
    placed = {w: pd.read_parquet(r["published"]["assignments.parquet"]) for w, r in results.items()}
    chunks = -(-len(placed["local"]) // 37)
    assert chunks > 3 and executed(dask_cluster) - before == chunks
    pd.testing.assert_frame_equal(placed["local"], placed["cluster"])
    assert results["local"]["counts"] == results["cluster"]["counts"]
