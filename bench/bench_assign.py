"""Benchmark of ``segment assign`` on the real sets (``make bench``, issue 18).

For each real set of ``../shared/data`` (skipped when absent): ``segment run`` for a
date, then ``segment assign`` of the same input with that run's model on the same
date, each through the CLI in a fresh process (the temporary Prefect server
included, as a user runs them). The run is the baseline: the assign's time is
given as a ratio to it. The assigned labels are compared with the run's
(``segment_id``, ``segment_name`` and ``distance_to_centroid`` of every member):
a run's own input must come out exactly as the run labelled it.

Usage: ``.venv/bin/python bench/bench_assign.py``; writes bench/results/bench_assign.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench_meters import ROOT, measure

SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "bench" / "results" / "assign"
# name, kind, input under ../shared/data, date, extra options of the run
SETS = [
    ("mall", "customers", "mall/Mall_Customers.csv", "2026-11-30", []),
    ("cc-general", "customers", "customers/cc_general/CC_GENERAL.csv", "2026-11-30",
     ["--missing", "impute"]),
    ("swiss", "meters", "meters/swiss_15min/elcons_15min_long.csv.gz", "2018-12-16",
     ["--timezone", "Europe/Zurich", "--window-days", "14"]),
    ("online-retail", "transactions", "transactions/online_retail/online_retail.csv.gz",
     "2011-11-30", []),
]
CLI = """
import sys
from segmentation.cli import main
sys.exit(main(sys.argv[1:]))
"""
COMPARE = """
import json, sys
import pandas as pd
dataset_dir, day, id_column = sys.argv[1:]
run = pd.read_parquet(f"{dataset_dir}/run_date={day}/segments.parquet")
placed = pd.read_parquet(f"{dataset_dir}/assignments/assign_date={day}/assignments.parquet")
both = run.merge(placed, on=id_column, suffixes=("", "_assigned"))
same = all((both[c] == both[c + "_assigned"]).all()
           for c in ("segment_id", "segment_name", "distance_to_centroid"))
print(json.dumps({"members": len(run), "assigned": len(placed), "matched": len(both),
                  "identical": bool(same and len(both) == len(run) == len(placed))}))
"""


def bench_set(name: str, kind: str, source: Path, day: str, options: list[str]) -> dict:
    roots = ["--data-root", str(WORK / "data"), "--outputs-root", str(WORK / "outputs")]
    run = measure(CLI, "run", kind, "--input", str(source), "--dataset", name, "--run-date", day,
                  *options, *roots)
    assign = measure(CLI, "assign", kind, "--input", str(source), "--dataset", name,
                     "--assign-date", day, *roots)
    id_column = "meter_id" if kind == "meters" else "customer_id"
    check = json.loads(measure(COMPARE, str(WORK / "data" / "processed" / name), day,
                               id_column)["output"])
    return {"dataset": name, "kind": kind, "run_s": run["wall_s"], "assign_s": assign["wall_s"],
            "assign_over_run": round(assign["wall_s"] / run["wall_s"], 2),
            "run_peak_mb": run["peak_rss_mb"], "assign_peak_mb": assign["peak_rss_mb"], **check}


def each_real_set(work: Path, sets: list, bench) -> list | None:
    """``bench(name, kind, source, day, options)`` for each set present, in an emptied
    ``work`` folder; None (said) when there is no real data."""
    if not SHARED.is_dir():
        print(f"no real data at {SHARED}: nothing to measure")
        return None
    shutil.rmtree(work, ignore_errors=True)
    return [bench(name, kind, SHARED / path, day, options)
            for name, kind, path, day, options in sets if (SHARED / path).is_file()]


def main() -> None:
    rows = each_real_set(WORK, SETS, bench_set)
    if rows is None:
        return
    print(f"{'dataset':<14} {'members':>8} {'identical':>9} {'run s':>7} {'assign s':>9} "
          f"{'ratio':>6} {'assign MB':>10}")
    for r in rows:
        print(f"{r['dataset']:<14} {r['members']:>8,} {str(r['identical']):>9} {r['run_s']:>7} "
              f"{r['assign_s']:>9} {r['assign_over_run']:>6} {r['assign_peak_mb']:>10}")
    out = ROOT / "bench" / "results" / "bench_assign.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    if not all(r["identical"] for r in rows):
        raise SystemExit("a run's own input was not assigned as the run labelled it")


if __name__ == "__main__":
    main()
