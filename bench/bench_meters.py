"""Benchmark of the meter flow at Low Carbon London scale (``make bench``).

For each size (1/4, 1/2 and all of ``--meters``, each ``--days`` of half-hourly
readings) it generates the readings with the sample generator as ONE long
Parquet file, then measures, each in a fresh child process (wall time, and
peak RSS: the largest of that process and the processes it waited for, e.g.
Prefect's temporary server):

- ``duckdb``: the floor, one DuckDB scan of the file grouping by (meter, half-hour of day);
- ``pipeline``: the whole ``segment run meters --input FILE`` (Prefect, ingestion,
  validation, features, k selection, outputs), with the step timings of its manifest;
- ``increment``: then one more day of every meter as a new file into the same store,
  the whole run again (a nightly run);
- ``pandas``: the naive route, read everything into pandas, pivot, compute
  the profile and daily features; only up to ``--pandas-max-rows`` rows.

At the first size it also writes the readings as an LCL-format CSV and measures
DuckDB's own scan of that CSV and the whole run on it (``lcl_csv``).

Prints a table with the ratios and writes it to bench/results/bench_meters.json.
Usage: ``.venv/bin/python bench/bench_meters.py [--meters 5567] [--days 730]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PIPELINE = """
import io, json, sys
from segmentation.cli import main
out = io.StringIO()
code = main(["run", "meters", "--json", *sys.argv[1:]], stdout=out)
r = json.loads(out.getvalue())
steps = json.load(open(r["published"]["manifest"]))["timings_seconds"]
print(json.dumps({"k": r["k"], "readings_in": r["counts"]["readings_in"],
                  "reconciles": r["counts"]["reconciles"], "steps": steps}))
"""
DUCKDB = """
import sys, duckdb
con = duckdb.connect()
n = con.execute(f\"\"\"SELECT count(*) FROM (SELECT meter_id, hour(timestamp) * 2 + minute(timestamp) // 30
    AS slot, sum(kwh), count(*) FROM read_parquet('{sys.argv[1]}') GROUP BY ALL)\"\"\").fetchall()
print(n)
"""
DUCKDB_CSV = """
import sys, duckdb
con = duckdb.connect()
print(con.execute(f"SELECT count(*), sum(kwh) FROM read_csv('{sys.argv[1]}', header = true, "
                  "names = ['meter', 'tariff', 'time', 'kwh'])").fetchall())
"""
PANDAS = """
import sys, pandas as pd
frame = pd.read_parquet(sys.argv[1])
frame['slot'] = frame['timestamp'].dt.hour * 2 + frame['timestamp'].dt.minute // 30
frame['day'] = frame['timestamp'].dt.normalize()
profile = frame.pivot_table(index='meter_id', columns='slot', values='kwh', aggfunc='mean', observed=True)
profile = profile.div(profile.sum(axis=1), axis=0)
daily = frame.groupby(['meter_id', 'day'], observed=True)['kwh'].sum().unstack()
features = pd.DataFrame({'mean_daily': daily.mean(axis=1), 'cv': daily.std(axis=1) / daily.mean(axis=1),
                         'peak_to_mean': profile.max(axis=1) * profile.shape[1]})
print(len(features), len(frame))
"""


def measure(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh Python; wall seconds and peak RSS (MB) of that process."""
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONPATH=str(ROOT))
    # Output goes to files: a pipe nobody reads until the end would block a chatty child.
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=ROOT,
                                stdout=out_file, stderr=err_file, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out_file.seek(0), err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if status != 0:
        raise RuntimeError(f"benchmark step failed:\n{err[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "output": out.strip().splitlines()[-1] if out.strip() else ""}


# Data is generated and converted in child processes: a child inherits its parent's peak
# RSS at fork (Linux records the old address space's high-water mark at exec), so the
# measuring process must stay small for the peaks it reports to be the children's own.
GENERATE = """
import sys
from pathlib import Path
import duckdb
from segmentation.meters.sample import write_sample_meters
work, n, days = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
write_sample_meters(work / "parts", n_meters=n, days=days, seed=42)
duckdb.sql(f"COPY (SELECT * FROM read_parquet('{work}/parts/*.parquet')) TO '{work}/readings.parquet' "
           "(FORMAT parquet, ROW_GROUP_SIZE 1000000)")
write_sample_meters(work / "nightly", n_meters=n, days=1, seed=43, end="2025-01-01", damage=False)
"""
LCL_CSV = """
import sys, duckdb
kwh = '"KWH/hh (per half hour) "'
duckdb.sql(f"COPY (SELECT meter_id AS LCLid, 'Std' AS stdorToU, "
           f"strftime(timestamp, '%Y-%m-%d %H:%M:%S') || '.0000000' AS DateTime, "
           f"kwh AS {kwh} FROM read_parquet('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT csv, HEADER)")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    """A Prefect server on a free loopback port; returns the process and its API URL."""
    port = free_port()
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "server", "start",
                             "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("the Prefect server did not start")


def run_args(input_file: Path, work: Path) -> list[str]:
    return ["--input", str(input_file), "--data-root", str(work / "data"),
            "--outputs-root", str(work / "outputs"), "--run-date", "2025-01-01"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=5567)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--fractions", default="0.25,0.5,1")
    parser.add_argument("--pandas-max-rows", type=int, default=60_000_000,
                        help="largest input the naive pandas route is tried on (memory)")
    parser.add_argument("--no-csv", action="store_true", help="skip the LCL CSV route")
    parser.add_argument("--no-server", action="store_true",
                        help="skip the routes against a running Prefect server")
    parser.add_argument("--work", default=str(ROOT / "bench" / "results" / "work"))
    args = parser.parse_args()
    results = []
    for i, fraction in enumerate(float(f) for f in args.fractions.split(",")):
        n = max(8, int(args.meters * fraction))
        work = Path(args.work) / f"m{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        start = time.perf_counter()
        measure(GENERATE, str(work), str(n), str(args.days))
        shutil.rmtree(work / "parts")
        readings = work / "readings.parquet"
        nightly = next((work / "nightly").glob("*.parquet"))
        generate = time.perf_counter() - start
        rows = n * args.days * 48
        row = {"meters": n, "approx_rows": rows, "generate_s": round(generate, 1),
               "duckdb": measure(DUCKDB, str(readings)),
               "pipeline": measure(PIPELINE, *run_args(readings, work / "run")),
               "increment": measure(PIPELINE, *run_args(nightly, work / "run"))}
        if not args.no_server:
            server, url = start_server(work / "prefect-home")
            try:
                os.environ["PREFECT_API_URL"] = url
                row["pipeline_server"] = measure(PIPELINE, *run_args(readings, work / "run_server"))
                row["increment_server"] = measure(PIPELINE, *run_args(nightly, work / "run_server"))
            finally:
                os.environ.pop("PREFECT_API_URL", None)
                os.killpg(server.pid, signal.SIGTERM)
        if rows <= args.pandas_max_rows:
            row["pandas"] = measure(PANDAS, str(readings))
        if i == 0 and not args.no_csv:
            csv = work / "readings_lcl.csv"
            measure(LCL_CSV, str(readings), str(csv))
            row["duckdb_csv"] = measure(DUCKDB_CSV, str(csv))
            row["lcl_csv"] = measure(PIPELINE, *run_args(csv, work / "csv"))
            csv.unlink()
        row["pipeline_vs_duckdb"] = round(row["pipeline"]["wall_s"] / row["duckdb"]["wall_s"], 2)
        row["increment_vs_duckdb"] = round(row["increment"]["wall_s"] / row["duckdb"]["wall_s"], 2)
        for name in ("pipeline_server", "increment_server"):
            if name in row:
                row[f"{name}_vs_duckdb"] = round(row[name]["wall_s"] / row["duckdb"]["wall_s"], 2)
        if "pandas" in row:
            row["pandas_vs_pipeline"] = round(row["pandas"]["wall_s"] / row["pipeline"]["wall_s"], 2)
        if "lcl_csv" in row:
            allowed = 2 * row["duckdb_csv"]["wall_s"] + row["pipeline"]["wall_s"]
            row["lcl_csv_vs_allowed"] = round(row["lcl_csv"]["wall_s"] / allowed, 2)
        results.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(work, ignore_errors=True)

    print("\n| meters | rows | route | wall s | peak RSS MB |\n|---|---|---|---|---|")
    for row in results:
        for step in ("duckdb", "pipeline", "increment", "pipeline_server", "increment_server",
                     "pandas", "duckdb_csv", "lcl_csv"):
            if step in row:
                print(f"| {row['meters']} | {row['approx_rows']:,} | {step} | {row[step]['wall_s']} "
                      f"| {row[step]['peak_rss_mb']} |")
    for row in results:
        print(f"{row['meters']} meters: pipeline / duckdb scan = {row['pipeline_vs_duckdb']}x; "
              f"increment / duckdb scan = {row['increment_vs_duckdb']}x"
              + (f"; pandas / pipeline = {row['pandas_vs_pipeline']}x" if "pandas_vs_pipeline" in row
                 else "; pandas not run at this size")
              + (f"; LCL CSV / (2 x DuckDB CSV scan + Parquet run) = {row['lcl_csv_vs_allowed']}x"
                 if "lcl_csv_vs_allowed" in row else "")
              + (f"; with a running Prefect server: pipeline {row['pipeline_server_vs_duckdb']}x, "
                 f"increment {row['increment_server_vs_duckdb']}x" if "pipeline_server" in row else ""))
        print(f"   steps: {json.loads(row['pipeline']['output'])['steps']}")
    out = ROOT / "bench" / "results" / "bench_meters.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
