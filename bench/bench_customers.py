"""Benchmark of the customer flow against what a user would write by hand (``make bench``).

Every route runs in a fresh child process (wall time and peak RSS, children
included), in the same bench run, so the ratios compare like with like:

- ``cc_flow``: ``segment run customers`` on ``CC_GENERAL.csv`` (17 features),
  Prefect in its ephemeral mode (it starts a temporary API server);
- ``cc_flow_server``: the same against a running Prefect server (``PREFECT_API_URL``);
- ``cc_naive``: the loop a user would write: read, drop missing, scale, then
  k = 2..10 KMeans(n_init=10) with the elbow and the full silhouette;
- ``big_flow`` / ``big_flow_server``: ``segment run customers`` on a generated
  table of ``--rows`` customers x 10 features (CSV);
- ``big_kmeans``: one ``KMeans(k=8, n_init=10)`` fit on that table (the fit's
  own seconds are the baseline);
- ``prefect_startup``: a flow with one trivial task, ephemeral mode.

Prints a table with the ratios and writes bench/results/bench_customers.json.
With ``--growth`` the whole run also on twice the rows (time and peak should grow linearly).
Usage: ``.venv/bin/python bench/bench_customers.py [--rows 1000000] [--no-server] [--growth]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import shutil
from pathlib import Path

from bench_meters import ROOT, measure, start_server
from fixed_costs import PREFECT as STARTUP

CC = ROOT.parent / "shared" / "data" / "customers" / "cc_general" / "CC_GENERAL.csv"
CC_FEATURES = ("BALANCE BALANCE_FREQUENCY PURCHASES ONEOFF_PURCHASES INSTALLMENTS_PURCHASES "
               "CASH_ADVANCE PURCHASES_FREQUENCY ONEOFF_PURCHASES_FREQUENCY "
               "PURCHASES_INSTALLMENTS_FREQUENCY CASH_ADVANCE_FREQUENCY CASH_ADVANCE_TRX "
               "PURCHASES_TRX CREDIT_LIMIT PAYMENTS MINIMUM_PAYMENTS PRC_FULL_PAYMENT TENURE").split()
FLOW = """
import json, sys
from segmentation.cli import main
sys.exit(main(sys.argv[1:]))
"""
NAIVE = """
import sys, numpy as np, pandas as pd
from kneed import KneeLocator
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
frame = pd.read_csv(sys.argv[1]).dropna()
X = StandardScaler().fit_transform(frame.select_dtypes('number'))
ks, inertia, sil = range(2, 11), [], []
for k in ks:
    km = KMeans(k, n_init=10, random_state=42).fit(X)
    inertia.append(km.inertia_)
    sil.append(silhouette_score(X, km.labels_))
knee = KneeLocator(list(ks), inertia, curve='convex', direction='decreasing').knee
print('elbow', knee, 'best silhouette k', 2 + int(np.argmax(sil)))
"""
KMEANS = """
import sys, time, pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
X = StandardScaler().fit_transform(pd.read_csv(sys.argv[1]).select_dtypes('number'))
start = time.perf_counter()
KMeans(8, n_init=10, random_state=42).fit(X)
print(round(time.perf_counter() - start, 2))
"""
GENERATE = """
import sys, numpy as np, pandas as pd
n = int(sys.argv[2]); rng = np.random.default_rng(1)
centres = rng.normal(0, 2, (6, 10)); group = rng.integers(0, 6, n)
X = centres[group] + rng.normal(0, 1, (n, 10))
frame = pd.DataFrame(np.round(np.exp(X[:, :5] / 2) * 100, 2), columns=[f'spend_{i}' for i in range(5)])
for i in range(5, 10):
    frame[f'rating_{i}'] = np.round(X[:, i], 3)
frame.insert(0, 'customer_id', [f'C{i:07d}' for i in range(n)])
frame.to_csv(sys.argv[1], index=False)
"""
BIG_FEATURES = [f"spend_{i}" for i in range(5)] + [f"rating_{i}" for i in range(5, 10)]


def flow_args(path: Path, work: Path, name: str, features: list[str], id_column: str) -> list[str]:
    return ["run", "customers", "--input", str(path), "--id-column", id_column, "--features",
            *features, "--dataset", name, "--run-date", "2026-01-01",
            "--data-root", str(work / "data"), "--outputs-root", str(work / "outputs")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-server", action="store_true", help="skip the running-server routes")
    parser.add_argument("--work", default=str(ROOT / "bench" / "results" / "customers"))
    parser.add_argument("--growth", action="store_true",
                        help="also the whole run on twice the rows (linear growth)")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    big = work / "big.csv"
    measure(GENERATE, str(big), str(args.rows))
    flows = {"cc_flow": lambda out: flow_args(CC, out, "cc", CC_FEATURES, "CUST_ID"),
             "big_flow": lambda out: flow_args(big, out, "big", BIG_FEATURES, "customer_id")}
    routes = {"prefect_startup": (STARTUP, []), "cc_naive": (NAIVE, [str(CC)]),
              "cc_flow": (FLOW, flows["cc_flow"](work / "cc_flow")),
              "big_kmeans": (KMEANS, [str(big)]),
              "big_flow": (FLOW, flows["big_flow"](work / "big_flow"))}
    results = {name: measure(code, *argv) for name, (code, argv) in routes.items()}
    if args.growth:
        double = work / "double.csv"
        measure(GENERATE, str(double), str(2 * args.rows))
        results["big_flow_x2"] = measure(FLOW, *flow_args(double, work / "big_x2", "big",
                                                           BIG_FEATURES, "customer_id"))
        double.unlink()
    if not args.no_server:
        server, url = start_server(work / "prefect-home")
        try:
            os.environ["PREFECT_API_URL"] = url
            for name, make_args in flows.items():
                results[f"{name}_server"] = measure(FLOW, *make_args(work / f"{name}_server"))
        finally:
            os.environ.pop("PREFECT_API_URL", None)
            os.killpg(server.pid, signal.SIGTERM)
    fit = float(results["big_kmeans"]["output"])
    ratios = {
        "cc_flow / cc_naive": results["cc_flow"]["wall_s"] / results["cc_naive"]["wall_s"],
        "big_flow / one KMeans fit": results["big_flow"]["wall_s"] / fit,
    }
    if "big_flow_x2" in results:
        ratios["big_flow_x2 / big_flow"] = results["big_flow_x2"]["wall_s"] / results["big_flow"]["wall_s"]
    if "cc_flow_server" in results:
        ratios["cc_flow_server / cc_naive"] = (results["cc_flow_server"]["wall_s"]
                                               / results["cc_naive"]["wall_s"])
        ratios["big_flow_server / one KMeans fit"] = results["big_flow_server"]["wall_s"] / fit
    print("\n| route | wall s | peak RSS MB |\n|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['wall_s']} | {row['peak_rss_mb']} |")
    print(f"| one KMeans(k=8, n_init=10) fit on {args.rows:,} rows (in process) | {fit} | |")
    for name, value in ratios.items():
        print(f"{name} = {value:.2f}x")
    out = ROOT / "bench" / "results" / "bench_customers.json"
    out.write_text(json.dumps({"rows": args.rows, "results": results,
                               "ratios": {k: round(v, 3) for k, v in ratios.items()}}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
