"""Runs on a real Dask cluster (issue 20): a worker killed mid-run, a history, members
placed in chunks; each compared with the same work done locally."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pandas as pd

from segmentation.cli import main
from segmentation.meters.sample import write_sample_meters
from tests.dask_support import executed, published


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
    local = published(meter_flow(data_root=str(tmp_path / "local"),
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
    remote = published(state.result())
    pd.testing.assert_frame_equal(local["segments"], remote["segments"])
    pd.testing.assert_frame_equal(local["profiles"], remote["profiles"])
    assert local["manifest"]["rows"] == remote["manifest"]["rows"]
    staging = Path(roots["data_root"]) / "processed" / ".staging"
    assert not staging.exists() or not any(staging.iterdir())   # no half-written work left


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
