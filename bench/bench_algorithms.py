"""Benchmark of the clustering algorithms and the comparison on the real sets (``make bench``,
issue 21).

For each real set of ``../shared/data`` (skipped when absent): ``segment run`` with each
``--algorithm`` and ``--no-compare``, then the default run (k-means) with the comparison,
each through the CLI in a fresh process. The manifest's step timings say what each costs:
the baseline is k-means' segment step measured in the same benchmark; each algorithm's
segment step and the comparison step are given as ratios to it (and in seconds). The
comparison table of the default run is printed as the report shows it.

Usage: ``.venv/bin/python bench/bench_algorithms.py``; writes bench/results/bench_algorithms.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench_assign import CLI, each_real_set
from bench_meters import ROOT, measure

WORK = ROOT / "bench" / "results" / "algorithms"
ALGORITHMS = ("kmeans", "gmm", "agglomerative", "hdbscan")
# name, kind, input under ../shared/data, date, extra options: the README's real-data runs
SETS = [
    ("mall", "customers", "mall/Mall_Customers.csv", "2026-11-30", []),
    ("cc-general", "customers", "customers/cc_general/CC_GENERAL.csv", "2026-11-30", []),
    ("swiss", "meters", "meters/swiss_15min/elcons_15min_long.csv.gz", "2026-11-30",
     ["--timezone", "Europe/Zurich"]),
    ("online-retail", "transactions", "transactions/online_retail/online_retail.csv.gz",
     "2011-12-09", []),
]


def manifest(name: str, day: str) -> dict:
    return json.loads((WORK / "outputs" / name / day / "manifest.json").read_text())


def run(name: str, kind: str, source: Path, day: str, options: list[str], *extra: str) -> dict:
    """One CLI run; its wall time, peak memory and manifest (a refused run: its reason)."""
    dataset = f"{name}-{extra[1] if extra else 'compare'}"
    try:
        done = measure(CLI, "run", kind, "--input", str(source), "--dataset", dataset,
                       "--run-date", day, *options, *extra, "--data-root", str(WORK / "data"),
                       "--outputs-root", str(WORK / "outputs"))
    except RuntimeError as err:                      # e.g. HDBSCAN finds no two dense regions
        return {"refused": str(err).strip().splitlines()[-1]}
    return {**done, "manifest": manifest(dataset, day)}


def bench_set(name: str, kind: str, source: Path, day: str, options: list[str]) -> dict:
    alone = {a: run(name, kind, source, day, options, "--algorithm", a, "--no-compare")
             for a in ALGORITHMS}
    compared = run(name, kind, source, day, options)
    base = alone["kmeans"]["manifest"]["timings_seconds"]["segment"]
    rows = []
    for algorithm, result in alone.items():
        if "refused" in result:
            rows.append({"algorithm": algorithm, "refused": result["refused"]})
            continue
        m = result["manifest"]
        rows.append({"algorithm": algorithm, "k": m["k"]["chosen"],
                     "stability": round(m["k"]["stability"], 3),
                     "silhouette": round(m["silhouette"], 3),
                     "segment_s": m["timings_seconds"]["segment"],
                     "segment_over_kmeans": round(m["timings_seconds"]["segment"] / base, 2),
                     "run_s": result["wall_s"], "peak_mb": result["peak_rss_mb"]})
    block = compared["manifest"]["comparison"]
    compare_s = compared["manifest"]["timings_seconds"]["compare"]
    return {"dataset": name, "algorithms": rows, "compare_s": compare_s,
            "compare_over_kmeans_segment": round(compare_s / base, 2),
            "recommended": block["recommended"], "why": block["why"],
            "comparison": block["algorithms"], "compared_rows": block["rows"]}


def main() -> None:
    results = each_real_set(WORK, SETS, bench_set)
    for r in results or []:
        print(f"\n{r['dataset']}: comparison {r['compare_s']} s = "
              f"{r['compare_over_kmeans_segment']}x k-means' segment step "
              f"({r['compared_rows']:,} members); recommended {r['recommended']}: {r['why']}")
        print(f"  {'algorithm':<14} {'k':>3} {'stab.':>6} {'silh.':>6} {'segment s':>10} "
              f"{'x kmeans':>9} {'run s':>7} {'peak MB':>8}")
        for a in r["algorithms"]:
            if "refused" in a:
                print(f"  {a['algorithm']:<14} refused: {a['refused'][:90]}")
                continue
            print(f"  {a['algorithm']:<14} {a['k']:>3} {a['stability']:>6} {a['silhouette']:>6} "
                  f"{a['segment_s']:>10} {a['segment_over_kmeans']:>9} {a['run_s']:>7} "
                  f"{a['peak_mb']:>8}")
        print(f"  {'compared':<14} {'seg.':>4} {'stab.':>6} {'noise':>6} {'n.ratio':>8} "
              f"{'loglik':>8} {'ARI':>6} {'s':>6}")
        for c in r["comparison"]:
            cell = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
            print(f"  {c['algorithm']:<14} {cell(c['segments'], '>4')} "
                  f"{cell(c['stability'], '>6.3f')} {cell(c['noise_share'], '>6.3f')} "
                  f"{cell(c['neighbour_ratio'], '>8.3f')} {cell(c['heldout_loglik'], '>8.3f')} "
                  f"{cell(c['ari_with_published'], '>6.3f')} {cell(c['seconds'], '>6.1f')}")
    if results is not None:
        out = ROOT / "bench" / "results" / "bench_algorithms.json"
        out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
