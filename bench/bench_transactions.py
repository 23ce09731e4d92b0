"""Benchmark of the purchase-log path at scale (``make bench``, issue 17 item 7).

A generated log (``segmentation.transactions.sample.write_log``; by default
200,000 customers and about 10 M lines in the Online Retail layout) is written
once per set of parameters and kept under ``bench/results/transactions/``.
Then, each in a fresh child process (wall time and peak RSS of that process;
``call_s`` is the time inside the process around the work itself, after the
imports):

- ``baseline``: one DuckDB ``GROUP BY CustomerID`` aggregation (count, spend, first
  and last date) over the same file, the floor the path is compared with;
- ``stage``: ``ingest.stage_lines`` (the file to staged Parquet text);
- ``split``: ``ingest.split_lines`` as of the log's last date (typing, the GX
  validation of the (customer, month) summary, quarantine, kept lines);
- ``features``: ``features.customer_features`` on the kept lines.

Targets: ``features`` within 3x the baseline, every step's peak RSS within 2 GB.
Repeated steps report the median. Prints a table with the ratios and writes
bench/results/bench_transactions.json.
Usage: ``.venv/bin/python bench/bench_transactions.py [--customers 200000]
[--formats parquet,csv.gz] [--repeat 3] [--repeat-steps 1]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
from pathlib import Path

from bench_meters import ROOT, measure

GENERATE = """
import json, sys
from datetime import date
from pathlib import Path
from segmentation.transactions.sample import write_log
path, n, days, end, seed, scale = sys.argv[1:]
path = Path(path)
part = path.with_name('part-' + path.name)   # keeps the suffix write_log reads the format from
write_log(part, int(n), int(days), date.fromisoformat(end), int(seed), order_scale=float(scale))
part.rename(path)
"""
DESCRIBE = """
import json, sys, duckdb
lines, customers, last = duckdb.sql(
    f"SELECT count(*), count(DISTINCT CustomerID) FILTER (WHERE CustomerID <> ''), "
    f"max(InvoiceDate)[:10] FROM read_parquet('{sys.argv[1]}')").fetchall()[0]
print(json.dumps({"lines": lines, "customers": customers, "last_date": last}))
"""
BASELINE = """
import json, sys, time, duckdb
src = sys.argv[1]
scan = (f"read_parquet('{src}')" if src.endswith('.parquet')
        else f"read_csv('{src}', header = true, all_varchar = false)")
con = duckdb.connect()
start = time.perf_counter()
groups = con.execute(f"SELECT CustomerID, count(*), sum(Quantity * UnitPrice), min(InvoiceDate), "
                     f"max(InvoiceDate) FROM {scan} GROUP BY 1").to_arrow_table().num_rows
print(json.dumps({"call_s": round(time.perf_counter() - start, 3), "groups": groups}))
"""
STAGE = """
import json, sys, time
from segmentation.transactions.ingest import stage_lines
start = time.perf_counter()
r = stage_lines(sys.argv[1], sys.argv[2])
print(json.dumps({"call_s": round(time.perf_counter() - start, 3), "rows": r["rows"],
                  "rejects": len(r["rejects"])}))
"""
SPLIT = """
import json, sys, time
from datetime import date
import duckdb, segmentation.validation   # imported before the clock: split_lines imports them
from segmentation.transactions.config import resolve_transaction_config
from segmentation.transactions.ingest import read_header, split_lines
src, staged, run_date, work = sys.argv[1:]
start = time.perf_counter()
config = resolve_transaction_config(read_header(src), file=src)
split = split_lines(staged, config, date.fromisoformat(run_date), work, file=src)
c = split.counts
print(json.dumps({"call_s": round(time.perf_counter() - start, 3), "kept": c["lines_kept"],
                  "quarantined": sum(c["quarantined_by_reason"].values()),
                  "excluded": sum(c["excluded_by_reason"].values()), "lines": split.lines}))
"""
FEATURES = """
import json, sys, time
from datetime import date
import duckdb
from segmentation.transactions.features import customer_features
start = time.perf_counter()
r = customer_features(sys.argv[1], date.fromisoformat(sys.argv[2]), sys.argv[3])
print(json.dumps({"call_s": round(time.perf_counter() - start, 3), "customers": r["customers"],
                  "lines_used": r["lines_used"]}))
"""
STEPS = ("stage", "split", "features")
PEAK_LIMIT_MB = 2048
FEATURES_LIMIT = 3.0


def cached_log(cache: Path, fmt: str, params: dict) -> tuple[Path, dict]:
    """The generated log in ``fmt`` (made once per parameters) and its description."""
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    argv = [str(params[k]) for k in ("customers", "days", "end", "seed", "order_scale")]
    parquet = cache / f"log-{key}.parquet"
    if not parquet.exists():
        measure(GENERATE, str(parquet), *argv)
    meta_file = cache / f"log-{key}.json"
    if not meta_file.exists():
        out = measure(DESCRIBE, str(parquet))["output"]
        meta_file.write_text(out[out.rindex("{"):])
    path = cache / f"log-{key}.{fmt}"
    if not path.exists():   # the same generator and seed: the same lines, another format
        measure(GENERATE, str(path), *argv)
    return path, dict(json.loads(meta_file.read_text()), file_mb=round(path.stat().st_size / 2**20, 1))


def median_of(code: str, args: list[str], times: int) -> dict:
    """``measure`` ``times`` times; medians of wall, peak RSS and ``call_s``."""
    runs = [measure(code, *args) for _ in range(times)]
    # DuckDB's progress bar shares stdout: the result is the last line's JSON object.
    inner = [json.loads(r["output"][r["output"].rindex("{"):]) for r in runs]
    return {"wall_s": statistics.median(r["wall_s"] for r in runs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            "call_s": statistics.median(i["call_s"] for i in inner),
            "runs": len(runs), "output": inner[-1]}


def run_format(path: Path, meta: dict, work: Path, repeat: int, repeat_steps: int) -> dict:
    """Baseline and the three steps on one file; their ratios."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    staged, lines = work / "staged.parquet", work / "split" / "lines.parquet"
    row = {"baseline": median_of(BASELINE, [str(path)], repeat),
           "stage": median_of(STAGE, [str(path), str(staged)], repeat_steps),
           "split": median_of(SPLIT, [str(path), str(staged), meta["last_date"], str(work / "split")],
                              repeat_steps),
           "features": median_of(FEATURES, [str(lines), meta["last_date"],
                                            str(work / "features.parquet")], repeat_steps)}
    base = row["baseline"]
    path_wall = sum(row[s]["wall_s"] for s in STEPS)
    path_call = sum(row[s]["call_s"] for s in STEPS)
    row["path"] = {"wall_s": round(path_wall, 2), "call_s": round(path_call, 2),
                   "peak_rss_mb": max(row[s]["peak_rss_mb"] for s in STEPS)}
    row["ratios"] = {
        "features / baseline (process)": round(row["features"]["wall_s"] / base["wall_s"], 2),
        "features / baseline (inside)": round(row["features"]["call_s"] / base["call_s"], 2),
        "path / baseline (process)": round(path_wall / base["wall_s"], 2),
        "path / baseline (inside)": round(path_call / base["call_s"], 2)}
    row["over_target"] = (
        [f"{s} peak {row[s]['peak_rss_mb']} MB > {PEAK_LIMIT_MB} MB" for s in ("baseline", *STEPS)
         if row[s]["peak_rss_mb"] > PEAK_LIMIT_MB]
        + [f"{k} = {v}x > {FEATURES_LIMIT}x" for k, v in row["ratios"].items()
           if k.startswith("features") and v > FEATURES_LIMIT])
    shutil.rmtree(work, ignore_errors=True)
    return row


def print_table(results: dict, meta: dict, load: dict) -> None:
    print(f"\nlog: {meta['lines']:,} lines, {meta['customers']:,} customers, last date "
          f"{meta['last_date']}; load average {load['before']} before, {load['after']} after")
    print("\n| format | file MB | step | process wall s | inside s | peak RSS MB | x baseline "
          "(process / inside) |\n|---|---|---|---|---|---|---|")
    for fmt, row in results.items():
        base = row["baseline"]
        for step in ("baseline", *STEPS, "path"):
            r = row[step]
            ratio = (f"{r['wall_s'] / base['wall_s']:.2f} / {r['call_s'] / base['call_s']:.2f}"
                     if step != "baseline" else "1")
            print(f"| {fmt} | {row['file_mb']} | {step} | {r['wall_s']} | {r['call_s']} "
                  f"| {r['peak_rss_mb']} | {ratio} |")
    for fmt, row in results.items():
        verdict = "; ".join(row["over_target"]) or "within targets"
        print(f"{fmt}: {verdict} (features <= {FEATURES_LIMIT}x baseline, peaks <= "
              f"{PEAK_LIMIT_MB} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--order-scale", type=float, default=1.8,
                        help="orders-per-year multiplier of the generator (1.8: ~50 lines each)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--end", default="2025-12-31")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--formats", default="parquet", help="parquet and/or csv.gz, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the baseline (median)")
    parser.add_argument("--repeat-steps", type=int, default=1, help="runs of each step (median)")
    parser.add_argument("--cache", default=str(ROOT / "bench" / "results" / "transactions"))
    args = parser.parse_args()
    params = {"customers": args.customers, "days": args.days, "end": args.end, "seed": args.seed,
              "order_scale": args.order_scale}
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    load = {"before": [round(x, 2) for x in os.getloadavg()]}
    results, meta = {}, {}
    for fmt in args.formats.split(","):
        path, meta = cached_log(cache, fmt, params)
        row = run_format(path, meta, cache / f"run-{fmt}", args.repeat, args.repeat_steps)
        results[fmt] = {"file": str(path), "file_mb": meta["file_mb"], **row}
        print(json.dumps({fmt: row["ratios"]}), flush=True)
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    print_table(results, meta, load)
    out = ROOT / "bench" / "results" / "bench_transactions.json"
    out.write_text(json.dumps({"params": params, "log": meta, "load_average": load,
                               "cpus": os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
