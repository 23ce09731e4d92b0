"""The meter flow on a local Dask cluster against local execution, at 1x and 2x London scale
(issue 20; ``make bench``).

For each size (5,567 and 11,134 meters x 730 days half-hourly, generated once, ``--work``):

- ``local``: ``segment run meters`` in a fresh process (wall, peak RSS);
- ``cluster``: the same with ``--dask-address`` on a fresh ``deploy/cluster.sh`` cluster
  (a scheduler and two one-thread workers on 127.0.0.1): wall, the flow process's peak RSS,
  each worker's peak RSS (``VmHWM`` of the worker processes), and the bytes that crossed the
  scheduler: TCP bytes sent and received on its port during the run (``ss -ti``, sampled
  every 0.2 s: every message through it, tasks' parameters included; a connection closed
  between two samples loses at most its last 0.2 s).

On two cores no speed-up is expected. What should hold: segments identical to the local
run's, memory per worker bounded as meters double (a worker holds one file's ingestion or
one shard at a time), and nothing large crossing the scheduler (paths and small dicts: kB,
not the GBs of readings).
Usage: ``.venv/bin/python bench/bench_dask.py [--work DIR] [--meters 5567] [--days 730]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from bench_meters import GENERATE, PIPELINE, ROOT, measure

SEGMENTS = """
import sys, pandas as pd
a, b = (pd.read_parquet(p).drop(columns=["run_date"]) for p in sys.argv[1:3])
print(a.equals(b))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    children = [int(p) for p in out.stdout.split()]
    return children + [d for c in children for d in _descendants(c)]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class SocketBytes(threading.Thread):
    """Bytes sent + received on the established TCP connections of a local port, sampled."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.seen, self.stop = port, {}, threading.Event()
        self.baseline = self.sample()

    def sample(self) -> dict[str, int]:
        out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{self.port} )"],
                             capture_output=True, text=True).stdout
        found, peer = {}, None
        for line in out.splitlines():
            if not line.startswith((" ", "\t")):
                peer = line.split()[-1]
            elif peer:
                counts = dict(re.findall(r"(bytes_sent|bytes_received):(\d+)", line))
                found[peer] = sum(int(v) for v in counts.values())
        return found

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for peer, n in self.sample().items():
                self.seen[peer] = max(n, self.seen.get(peer, 0))

    def total(self) -> int:
        self.stop.set()
        self.join()
        return sum(n - self.baseline.get(peer, 0) for peer, n in self.seen.items())


class Cluster:
    """``deploy/cluster.sh`` on a free port with its own state folder."""

    def __init__(self, home: Path):
        self.port = _free_port()
        self.env = dict(os.environ, PREFECT_HOME=str(home), SEGMENT_DASK_PORT=str(self.port))
        self.run_dir = home / "run"

    def __enter__(self) -> "Cluster":
        subprocess.run(["bash", str(ROOT / "deploy" / "cluster.sh"), "start"], env=self.env,
                       check=True, capture_output=True)
        self.scheduler = int((self.run_dir / "dask-scheduler.pid").read_text())
        self.nannies = [int(p.read_text()) for p in sorted(self.run_dir.glob("dask-worker-*.pid"))]
        return self

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def worker_peaks_mb(self) -> list[float]:
        """Peak RSS of each worker process (the nanny's child that runs the tasks)."""
        return [round(max(_status_kb(p, "VmHWM") for p in _descendants(n)) / 1024, 1)
                for n in self.nannies]

    def __exit__(self, *exc) -> None:
        subprocess.run(["bash", str(ROOT / "deploy" / "cluster.sh"), "stop"], env=self.env,
                       capture_output=True)


def run_args(readings: Path, root: Path) -> list[str]:
    return ["--input", str(readings), "--data-root", str(root / "data"), "--outputs-root",
            str(root / "outputs"), "--run-date", "2025-01-01", "--no-compare"]


def one_size(readings: Path, scratch: Path) -> dict:
    local_root, cluster_root = scratch / "local", scratch / "cluster"
    local = measure(PIPELINE, *run_args(readings, local_root))
    with Cluster(scratch / "cluster-home") as cluster:
        traffic = SocketBytes(cluster.port)
        traffic.start()
        remote = measure(PIPELINE, *run_args(readings, cluster_root),
                         "--dask-address", cluster.address)
        through_scheduler = traffic.total()
        workers = cluster.worker_peaks_mb()
    latest = "data/processed/meters/latest/segments.parquet"
    same = measure(SEGMENTS, str(local_root / latest), str(cluster_root / latest))["output"]
    return {"local_s": local["wall_s"], "local_peak_mb": local["peak_rss_mb"],
            "cluster_s": remote["wall_s"], "flow_process_peak_mb": remote["peak_rss_mb"],
            "worker_peaks_mb": workers, "scheduler_traffic_kb": round(through_scheduler / 1024, 1),
            "segments_identical": same == "True",
            "steps_local": json.loads(local["output"])["steps"],
            "steps_cluster": json.loads(remote["output"])["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=5567)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--work", default=str(ROOT / "bench" / "results" / "work-dask"))
    args = parser.parse_args()
    rows = {}
    for factor in (1, 2):
        work = Path(args.work) / f"m{args.meters * factor}"
        readings = work / "readings.parquet"
        if not readings.exists():
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            measure(GENERATE, str(work), str(args.meters * factor), str(args.days))
            shutil.rmtree(work / "parts", ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=Path(args.work)) as scratch:
            rows[f"{factor}x"] = one_size(readings, Path(scratch))
        print(json.dumps({f"{factor}x": rows[f"{factor}x"]}), flush=True)
    growth = {"worker_peak": round(max(rows["2x"]["worker_peaks_mb"])
                                   / max(rows["1x"]["worker_peaks_mb"]), 2),
              "cluster_time": round(rows["2x"]["cluster_s"] / rows["1x"]["cluster_s"], 2),
              "cluster_vs_local_1x": round(rows["1x"]["cluster_s"] / rows["1x"]["local_s"], 2),
              "cluster_vs_local_2x": round(rows["2x"]["cluster_s"] / rows["2x"]["local_s"], 2)}
    print(json.dumps({"growth": growth}))
    out = ROOT / "bench" / "results" / "dask.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**rows, "growth": growth}, indent=2))


if __name__ == "__main__":
    main()
