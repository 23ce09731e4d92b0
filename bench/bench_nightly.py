"""Nightly cost of the meter flow on a two-year London-scale store (issue 19; ``make bench``).

Generates (or reuses, ``--work``) 5,567 meters x 730 days half-hourly as one Parquet file and
one more day of every meter, then measures in fresh processes (wall, peak RSS):

- ``scan``: the floor, one DuckDB scan grouping by (meter, half-hour);
- ``backfill_365`` / ``increment_365``: the whole ``segment run meters`` on the two years
  (default 365-day window), then the night's file into the same store;
- ``backfill_730`` / ``increment_730``: the same into a second store with ``--window-days 730``;
- ``server_increment_365`` / ``_730``: one more night into each store against a running Prefect
  server (``make server``'s route: no temporary server);
- ``warm_increment_365``: two more nights in one process against that server; the second
  pays no imports and no start-up (what a long-lived worker would leave);
- fixed costs: ``imports`` (Great Expectations, scikit-learn, Prefect and the flow in a fresh
  process: what every run imports before its first step) and ``prefect`` (a flow with one
  trivial task, its temporary server included).

A night's cost should follow the new day, not the window: the increment with 730 days against
the one with 365 (target <= 1.1x), and each increment against the scan (target <= 3x).
With ``--growth`` it also generates twice the meters (same days) and runs the backfill and the
scan on them: time and peak memory should grow linearly (targets <= 2.2x and <= 2 GB).
Usage: ``.venv/bin/python bench/bench_nightly.py [--meters 5567] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
from pathlib import Path

from bench_meters import DUCKDB, GENERATE, PIPELINE, ROOT, measure, start_server
from fixed_costs import PREFECT

IMPORTS = """
import great_expectations, sklearn.cluster, matplotlib.pyplot, kneed, prefect, flows.meters
print(1)
"""
NEXT_NIGHT = """
import sys
from pathlib import Path
from segmentation.meters.sample import write_sample_meters
write_sample_meters(Path(sys.argv[1]), n_meters=int(sys.argv[2]), days=1, seed=int(sys.argv[3]),
                    end=sys.argv[4], damage=False)
"""
# Two nights in one process (a long-lived worker's route): the second pays no imports and no
# Prefect start-up; what is left is the night's own work.
WARM = """
import io, json, sys, time
from segmentation.cli import main
def night(args):
    out = io.StringIO()
    start = time.perf_counter()
    assert main(["run", "meters", "--json", *args], stdout=out) == 0, out.getvalue()
    return round(time.perf_counter() - start, 2)
first, second = json.loads(sys.argv[1])
print(json.dumps({"first_s": night(first), "second_s": night(second)}))
"""


def run_args(input_file: Path, root: Path, window: int, run_date: str = "2025-01-01") -> list[str]:
    return ["--input", str(input_file), "--data-root", str(root / "data"), "--outputs-root",
            str(root / "outputs"), "--run-date", run_date, "--window-days", str(window),
            "--no-compare"]


def steps(result: dict) -> dict:
    """The run's step timings (manifest) and ``other``: start-up, publishing and exit."""
    timed = json.loads(result["output"])["steps"]
    return {**timed, "other": round(result["wall_s"] - sum(timed.values()), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=5567)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--work", default=str(ROOT / "bench" / "results" / "work-nightly"))
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--growth", action="store_true",
                        help="also the backfill at twice the meters (linear growth)")
    args = parser.parse_args()
    work = Path(args.work)
    readings = work / "readings.parquet"
    if not readings.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        measure(GENERATE, str(work), str(args.meters), str(args.days))
        shutil.rmtree(work / "parts", ignore_errors=True)
    nightly = next((work / "nightly").glob("*.parquet"))
    for n, (seed, day) in enumerate([(44, "2025-01-02"), (45, "2025-01-03"), (46, "2025-01-04")], 2):
        if not (work / f"night{n}").exists():
            measure(NEXT_NIGHT, str(work / f"night{n}"), str(args.meters), str(seed), day)
    night2, night3, night4 = (next((work / f"night{n}").glob("*.parquet")) for n in (2, 3, 4))
    row = {"meters": args.meters, "days": args.days, "scan": measure(DUCKDB, str(readings)),
           "imports": measure(IMPORTS), "prefect": measure(PREFECT)}
    server, url = start_server(work / "prefect-home")
    try:
        for window in (365, 730):
            root = work / f"run{window}"
            shutil.rmtree(root, ignore_errors=True)
            row[f"backfill_{window}"] = measure(PIPELINE, *run_args(readings, root, window))
            row[f"increment_{window}"] = measure(PIPELINE, *run_args(nightly, root, window))
            os.environ["PREFECT_API_URL"] = url
            try:
                row[f"server_increment_{window}"] = measure(
                    PIPELINE, *run_args(night2, root, window, "2025-01-02"))
                if window == 365:
                    warm = measure(WARM, json.dumps([run_args(night3, root, window, "2025-01-03"),
                                                     run_args(night4, root, window, "2025-01-04")]))
                    row["warm_increment_365"] = json.loads(warm["output"])
            finally:
                os.environ.pop("PREFECT_API_URL", None)
            shutil.rmtree(root, ignore_errors=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
    if args.growth:
        double = work.parent / f"{work.name}-x2"
        if not (double / "readings.parquet").exists():
            double.mkdir(parents=True, exist_ok=True)
            measure(GENERATE, str(double), str(2 * args.meters), str(args.days))
            shutil.rmtree(double / "parts", ignore_errors=True)
        row["scan_x2"] = measure(DUCKDB, str(double / "readings.parquet"))
        row["backfill_365_x2"] = measure(PIPELINE, *run_args(double / "readings.parquet",
                                                             double / "run", 365))
        shutil.rmtree(double / "run", ignore_errors=True)
        if not args.keep:
            shutil.rmtree(double, ignore_errors=True)
        row["growth"] = {"backfill_time": round(row["backfill_365_x2"]["wall_s"]
                                                / row["backfill_365"]["wall_s"], 2),
                         "scan_time": round(row["scan_x2"]["wall_s"] / row["scan"]["wall_s"], 2),
                         "backfill_peak_mb": [row["backfill_365"]["peak_rss_mb"],
                                              row["backfill_365_x2"]["peak_rss_mb"]]}
        print(f"twice the meters: backfill {row['growth']['backfill_time']}x the time "
              f"(scan {row['growth']['scan_time']}x), peak {row['growth']['backfill_peak_mb']} MB")
    scan = row["scan"]["wall_s"]
    routes = ("backfill_365", "increment_365", "server_increment_365", "backfill_730",
              "increment_730", "server_increment_730")
    ratios = {f"{name}_vs_scan": round(row[name]["wall_s"] / scan, 2) for name in routes}
    for prefix in ("", "server_"):
        ratios[f"{prefix}increment_730_vs_365"] = round(
            row[f"{prefix}increment_730"]["wall_s"] / row[f"{prefix}increment_365"]["wall_s"], 2)
    ratios["warm_increment_365_vs_scan"] = round(row["warm_increment_365"]["second_s"] / scan, 2)
    row["ratios"] = ratios
    print("\n| route | wall s | peak RSS MB | x scan | steps (s) |\n|---|---|---|---|---|")
    for name in ("scan", "imports", "prefect", *routes):
        r = row[name]
        print(f"| {name} | {r['wall_s']} | {r['peak_rss_mb']} | "
              f"{ratios.get(name + '_vs_scan', '')} | {steps(r) if name in routes else ''} |")
    print(f"a second night in the same process (warm): {row['warm_increment_365']['second_s']} s "
          f"= {ratios['warm_increment_365_vs_scan']}x the scan")
    print(f"increment with 730 days / with 365 days = {ratios['increment_730_vs_365']}x; "
          f"against a running server {ratios['server_increment_730_vs_365']}x")
    out = ROOT / "bench" / "results" / "bench_nightly.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(row, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
