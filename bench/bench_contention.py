"""The customer run on CC_GENERAL.csv with a core taken by another process (``make bench``).

``segment run customers --input CC_GENERAL.csv`` runs quiet, then again while a busy
process (a Python ``while True`` loop) is pinned to the first core, for each thread
setting below. Every run is a fresh process with its own data and outputs roots and
its own PREFECT_HOME (a temporary Prefect API). Measured: the wall time of the whole
run, and the segment step from the manifest's ``timings_seconds``.

Settings:

- ``before``: as before ``SEGMENT_THREADS`` existed: one BLAS/OpenMP thread per core and
  OpenMP's own wait policy (its threads spin while waiting);
- ``default``: ``SEGMENT_THREADS`` and ``OMP_WAIT_POLICY`` left to the project's defaults;
- ``one``: ``SEGMENT_THREADS=1``.

The issue's target: a contended run within 1.5x of the quiet one. The machine may be
shared: run it when nothing else is busy, (three runs of each case by default); the medians are reported.
Writes bench/results/contention.json.
Usage: ``.venv/bin/python bench/bench_contention.py [--repeats 3] [--settings before default one]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SEGMENT_SHARED_DATA", ROOT.parent / "shared" / "data"))
CC = SHARED / "customers" / "cc_general" / "CC_GENERAL.csv"
RUN_DATE = "2024-05-01"
TARGET = 1.5
# The CLI in a fresh Python. For "before", OpenMP's wait policy goes back to the library's
# own: importing segmentation sets OMP_WAIT_POLICY, and OpenMP reads it when scikit-learn
# loads it, later in the run.
RUN = """
import os, sys
import segmentation
if os.environ.pop("BENCH_LIBRARY_WAIT_POLICY", None):
    os.environ.pop("OMP_WAIT_POLICY", None)
from segmentation.cli import main
sys.exit(main(sys.argv[1:]))
"""
BUSY = "while True: pass"


def settings(cores: int) -> dict[str, dict[str, str]]:
    """Environment of each thread setting (see the module docstring)."""
    return {"before": {"SEGMENT_THREADS": str(cores), "BENCH_LIBRARY_WAIT_POLICY": "1"},
            "default": {}, "one": {"SEGMENT_THREADS": "1"}}


def run_once(extra_env: dict[str, str], contended: bool, timeout: float) -> dict:
    """One ``segment run customers`` in a fresh process; with ``contended`` a busy process
    holds the first core for the whole run."""
    with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items()
               if k not in ("SEGMENT_THREADS", "OMP_WAIT_POLICY", "PREFECT_API_URL")}
        env.update(PREFECT_HOME=str(work / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",
                   PYTHONPATH=str(ROOT), **extra_env)
        args = ["run", "customers", "--input", str(CC), "--run-date", RUN_DATE,
                "--data-root", str(work / "data"), "--outputs-root", str(work / "outputs")]
        busy = None
        if contended:
            first_core = min(os.sched_getaffinity(0))
            busy = subprocess.Popen([sys.executable, "-c", BUSY], start_new_session=True,
                                    preexec_fn=lambda: os.sched_setaffinity(0, {first_core}))
            time.sleep(0.5)
        try:
            with open(work / "out.txt", "w+") as out:
                start = time.perf_counter()
                proc = subprocess.Popen([sys.executable, "-c", RUN, *args], env=env, cwd=ROOT,
                                        stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                try:
                    code = proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return {"wall_s": None, "segment_s": None, "error": f"timeout {timeout:.0f} s"}
                wall = time.perf_counter() - start
                out.seek(0)
                tail = out.read()[-2000:]
        finally:
            if busy is not None:
                os.killpg(busy.pid, signal.SIGKILL)
                busy.wait()
        if code != 0:
            return {"wall_s": None, "segment_s": None, "error": f"exit {code}: {tail}"}
        manifest = json.loads((work / "outputs" / "customers" / RUN_DATE / "manifest.json")
                              .read_text())
        return {"wall_s": round(wall, 2), "segment_s": manifest["timings_seconds"]["segment"],
                "threads": manifest.get("threads")}


def median(runs: list[dict], key: str) -> float | None:
    """Median over the runs that finished (a failed one is kept, with its error, in the JSON)."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def ratio(contended: float | None, quiet: float | None) -> float | None:
    return round(contended / quiet, 2) if contended and quiet else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case (median)")
    parser.add_argument("--settings", nargs="+", default=["before", "default", "one"],
                        choices=["before", "default", "one"])
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "contention.json"))
    args = parser.parse_args()
    if not CC.is_file():
        print(f"skipped: {CC} not found (set SEGMENT_SHARED_DATA to the folder holding "
              "customers/cc_general/CC_GENERAL.csv)")
        return
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        print(f"skipped: this process may use {cores} core; contention needs 2 or more")
        return
    env = settings(cores)
    runs: dict[str, dict[str, list[dict]]] = {s: {"quiet": [], "contended": []}
                                              for s in args.settings}
    for repeat in range(args.repeats):        # interleaved, so a busy spell hits every case
        for name in args.settings:
            for condition in ("quiet", "contended"):
                result = run_once(env[name], condition == "contended", args.timeout)
                runs[name][condition].append(result)
                print(f"run {repeat + 1}/{args.repeats} {name:8s} {condition:9s} "
                      f"wall {result['wall_s']} s, segment {result['segment_s']} s"
                      + (f" ({result['error'][:200]})" if "error" in result else ""), flush=True)
    summary = {}
    for name, by in runs.items():
        row = {f"{c}_{k}": median(by[c], f"{k}_s") for c in ("quiet", "contended")
               for k in ("wall", "segment")}
        row["ratio_wall"] = ratio(row["contended_wall"], row["quiet_wall"])
        row["ratio_segment"] = ratio(row["contended_segment"], row["quiet_segment"])
        row["failed_runs"] = sum("error" in r for c in by.values() for r in c)
        threads = next((r["threads"] for r in by["quiet"] if r.get("threads")), {})
        row["threads"] = ", ".join(f"{api} {n}" for api, n in threads.items()) or None
        summary[name] = row
    print(f"\nCC_GENERAL.csv, {cores} cores, busy process on core "
          f"{min(os.sched_getaffinity(0))}, median of {args.repeats}; target: contended within "
          f"{TARGET}x of quiet")
    print("| setting | threads | quiet wall s | contended wall s | ratio | quiet segment s "
          "| contended segment s | ratio |\n|---|---|---|---|---|---|---|---|")
    for name, row in summary.items():
        print(f"| {name} | {row['threads']} | {row['quiet_wall']} | {row['contended_wall']} | "
              f"{row['ratio_wall']} | {row['quiet_segment']} | {row['contended_segment']} | "
              f"{row['ratio_segment']} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"input": str(CC), "cores": cores, "repeats": args.repeats,
                               "target_ratio": TARGET, "summary": summary, "runs": runs},
                              indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
