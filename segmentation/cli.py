"""`segment`: run a flow or write sample data from the command line.

Every expected failure (bad input, failed validation) is printed as one
paragraph and exits with status 2; pass --debug for the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from segmentation.errors import SegmentationError
from segmentation.parameters import (METER_K_MIN, Hemisphere, MeterFormat, Missing, Outliers,
                                     Shape, Transform, choices)
from segmentation.settings import MAX_QUARANTINE_SHARE, SEED, RunPaths, default_data_root

EXIT_BAD_INPUT = 2


def _run_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date of the form YYYY-MM-DD") from None


def _bounded(kind, low, high, what: str):
    """An argparse type: a number of ``kind`` between ``low`` and ``high``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value
    return parse


_k = _bounded(int, 2, 30, "a whole number of segments")
_window_days = _bounded(int, 1, 3660, "a whole number of days")
_share = _bounded(float, 0.0, 1.0, "a number between 0 and 1")


def _kwh_bands(text: str) -> list[float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not two thresholds like 8,15") from None
    if not 0 <= low < high:
        raise argparse.ArgumentTypeError(f"'{text}': thresholds must be >= 0 and increasing")
    return [low, high]


def _common(parser: argparse.ArgumentParser, dataset: str, k_min: int = 2) -> None:
    parser.add_argument("--dataset", default=dataset, help=f"output dataset name (default {dataset})")
    parser.add_argument("--max-quarantine-share", type=_share, default=MAX_QUARANTINE_SHARE,
                        help="refuse an input with a larger share of rows quarantined "
                             f"(default {MAX_QUARANTINE_SHARE})")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--k", type=_k, help="fixed number of segments (skips k selection)")
    group.add_argument("--k-min", type=_k, default=k_min,
                       help=f"smallest k to evaluate (default {k_min})")
    parser.add_argument("--k-max", type=_k, default=10, help="largest k to evaluate (default 10)")
    parser.add_argument("--run-date", type=_run_date, help="partition date YYYY-MM-DD (default today)")
    parser.add_argument("--data-root", help="data root (default: the project's data/)")
    parser.add_argument("--outputs-root", help="outputs root (default: the project's outputs/)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segment", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a flow").add_subparsers(dest="flow", required=True)

    customers = run.add_parser("customers", help="segment a customer table")
    customers.add_argument("--input", help="customer CSV (default: the CSV in data/raw/customers/)")
    customers.add_argument("--id-column", help="id column (default customer_id / CustomerID)")
    customers.add_argument("--features", nargs="+", help="numeric columns to cluster on")
    customers.add_argument("--categorical", nargs="+",
                           help="categorical columns, profiled per segment (share of each category)")
    customers.add_argument("--cluster-categorical", action="store_true",
                           help="cluster on the categorical columns too (one-hot)")
    customers.add_argument("--transform", choices=choices(Transform), default="auto",
                           help="log right-skewed features: auto (skewness > 1), log (all "
                                "non-negative), none (default auto)")
    customers.add_argument("--missing", choices=choices(Missing), default="quarantine")
    customers.add_argument("--outliers", choices=choices(Outliers), default="flag")
    _common(customers, "customers")

    meters = run.add_parser("meters", help="segment smart-meter load profiles")
    meters.add_argument("--input", nargs="+", help="reading files (default: data/raw/meters/)")
    meters.add_argument("--format", choices=choices(MeterFormat), default="auto")
    meters.add_argument("--timezone", default="Europe/London", help="zone of naive timestamps")
    meters.add_argument("--hemisphere", choices=choices(Hemisphere),
                        help="for winter/summer months (default: from the time zone)")
    meters.add_argument("--window-days", type=_window_days, default=365,
                        help="days of data to use, 1-3660 (default 365)")
    meters.add_argument("--kwh-bands", type=_kwh_bands,
                        help="Low/Medium/High thresholds in kWh/day, e.g. 8,15 (default: tertiles)")
    meters.add_argument("--shape", choices=choices(Shape), default="daily",
                        help="cluster on the daily shape or the weekday and weekend shapes")
    _common(meters, "meters", k_min=METER_K_MIN)

    dataset = run.add_parser("dataset", help="one dataset of the catalog (segmentation.yaml)")
    dataset.add_argument("name", help="the dataset's name in the catalog")
    dataset.add_argument("--run-date", type=_run_date)
    dataset.add_argument("--data-root")
    dataset.add_argument("--outputs-root")
    dataset.add_argument("--debug", action="store_true")

    nightly = run.add_parser("nightly", help="every dataset of the catalog, as the nightly schedule does")
    nightly.add_argument("--run-date", type=_run_date)
    nightly.add_argument("--data-root")
    nightly.add_argument("--outputs-root")
    nightly.add_argument("--debug", action="store_true")

    store = sub.add_parser("store", help="list a meter store's files, or take files out of it")
    actions = store.add_subparsers(dest="store_command", required=True)
    for name, text in (("list", "the files in the store"),
                       ("remove", "take files out of the store (a path or a sha256 prefix)"),
                       ("reset", "empty the store (every file is ingested anew by the next run)")):
        action = actions.add_parser(name, help=text,
                                    aliases=["forget"] if name == "remove" else [])
        if name == "remove":
            action.add_argument("files", nargs="+", help="paths or sha256 prefixes")
        if name == "reset":
            action.add_argument("--yes", action="store_true", help="really empty it")
        action.add_argument("--dataset", default="meters", help="meter dataset (default meters)")
        action.add_argument("--data-root", help="data root (default: the project's data/)")
        action.add_argument("--debug", action="store_true")

    sample = sub.add_parser("sample-data", help="write sample customer and meter data")
    sample.add_argument("--seed", type=int, default=SEED)
    sample.add_argument("--out", help="raw data folder (default: data/raw/)")
    sample.add_argument("--customers", type=int, default=400, help="customers to generate")
    sample.add_argument("--meters", type=int, default=120, help="meters to generate")
    sample.add_argument("--days", type=int, default=400, help="days of meter readings")
    sample.add_argument("--kind", choices=["realistic", "planted"], default="realistic",
                        help="meters like real ones (overlapping shapes, odd meters) or "
                             "well-separated planted groups (default realistic)")
    sample.add_argument("--hemisphere", choices=choices(Hemisphere), default="north",
                        help="north: Europe/London local time; south: Australia/Sydney")
    sample.add_argument("--debug", action="store_true")
    return parser


def _k_args(args) -> dict:
    return {"k": args.k, "k_min": args.k_min, "k_max": args.k_max}


def run_flow(args) -> dict:
    """Check the input, then call the flow the arguments name (imports Prefect only then)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    preflight_checks(args)
    from segmentation import prefect_startup

    prefect_startup.start_in_background()
    prefect_startup.preload("great_expectations", "sklearn.cluster", "matplotlib.pyplot",
                            "kneed", "flows.nightly" if args.flow == "dataset" else f"flows.{args.flow}")
    prefect_startup.wait()
    roots = {"run_date": args.run_date, "data_root": args.data_root,
             "outputs_root": args.outputs_root}
    if args.flow == "customers":
        from flows.customers import customer_flow
        return finished(customer_flow, input_path=args.input, dataset=args.dataset,
                             id_column=args.id_column, features=args.features,
                             categorical=args.categorical, missing=args.missing,
                             outliers=args.outliers, transform=args.transform,
                             cluster_categorical=args.cluster_categorical,
                             max_quarantine_share=args.max_quarantine_share,
                             **_k_args(args), **roots)
    if args.flow == "meters":
        from flows.meters import meter_flow
        return finished(meter_flow, inputs=args.input, dataset=args.dataset, format=args.format,
                          timezone=args.timezone, window_days=args.window_days,
                          hemisphere=args.hemisphere, kwh_bands=args.kwh_bands, shape=args.shape,
                          max_quarantine_share=args.max_quarantine_share,
                          **_k_args(args), **roots)
    if args.flow == "dataset":
        from flows.nightly import dataset_flow
        return finished(dataset_flow, name=args.name, **roots)
    from flows.nightly import nightly_flow
    return finished(nightly_flow, **roots)


def preflight_checks(args) -> None:
    """Everything checkable without Prefect, before its server starts (``segmentation.preflight``)."""
    from segmentation import preflight
    from segmentation.catalog import catalog_entry, load_catalog

    if args.flow in ("nightly", "dataset"):
        load_catalog()                  # a wrong entry is named before anything starts
        if args.flow == "dataset":
            catalog_entry(args.name)
        return
    preflight.check_dataset(args.dataset)
    if args.k is None:
        preflight.check_k(args.k_min, args.k_max)
    if args.flow == "customers":
        paths = RunPaths.create(args.dataset, args.run_date, args.data_root, args.outputs_root)
        preflight.check_customers(args.input, paths, args.id_column, args.features, args.categorical)
    else:
        preflight.check_meters(args.input, args.format, args.timezone)


class RunFailed(Exception):
    """The flow failed for a reason other than its input (a bug or the machine): exit 1."""


def finished(flow, **parameters) -> dict:
    """Run a flow and return its result. A run failed by bad input (its state carries the
    ``SegmentationError``, see ``tasks.shared.QuietFailure``) raises it (exit 2); any other
    failure raises ``RunFailed`` (exit 1)."""
    state = flow(**parameters, return_state=True)
    if state.is_completed():
        return state.result()
    result = state.result(raise_on_failure=False)
    if isinstance(result, SegmentationError):
        raise result
    raise RunFailed(f"{type(result).__name__}: {result}" if isinstance(result, BaseException)
                    else state.message or f"the run ended {state.name}")


def manage_store(args) -> dict:
    """``segment store list|remove|reset``: the one way to take files out of a meter store."""
    from segmentation.locks import store_lock
    from segmentation.meters.store import ReadingsStore
    from segmentation.settings import RunPaths

    paths = RunPaths.create(args.dataset, None, args.data_root)
    store = ReadingsStore(paths.store_dir)
    if args.store_command == "list":
        return {"store": str(store.root), "timezone": store.timezone,
                "files": [{"sha256": sha[:16], "path": e["path"], "format": e["format"],
                           "timezone": e["timezone"], "readings": e["rows_in"],
                           "ingested_at": e.get("ingested_at")} for sha, e in store.ledger().items()]}
    with store_lock(paths.store_dir):
        if args.store_command == "reset":
            if not args.yes:
                raise SegmentationError(f"`segment store reset` empties {store.root}; "
                                        "add --yes to do it")
            shas = list(store.ledger())
        else:
            shas = []
            for key in args.files:
                found = store.find(key)
                if not found:
                    raise SegmentationError(f"no file '{key}' in the store {store.root}; "
                                            "`segment store list` shows what is there")
                shas += found
        removed = [store.remove(sha)["path"] for sha in dict.fromkeys(shas)]
    return {"store": str(store.root), "removed": removed, "files_left": len(store.ledger())}


def write_samples(args) -> dict:
    from segmentation.customers.sample import write_sample_customers
    from segmentation.meters.sample import write_sample_meters

    raw = Path(args.out) if args.out else default_data_root() / "raw"
    customers = write_sample_customers(raw / "customers", n=args.customers, seed=args.seed)
    meters = write_sample_meters(raw / "meters", n_meters=args.meters, days=args.days,
                                 seed=args.seed, kind=args.kind, hemisphere=args.hemisphere)
    return {"customers": str(customers), "meters": [str(p) for p in meters]}


def main(argv: list[str] | None = None, *, stdout=None, stderr=None) -> int:
    """Entry point of `segment`; returns the exit status (0 ok, 2 bad input)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        result = (write_samples(args) if args.command == "sample-data" else
                  manage_store(args) if args.command == "store" else run_flow(args))
    except (SegmentationError, ValueError, OSError) as err:
        if args.debug:
            raise
        print(f"\nsegment: error: {err}", file=stderr)
        return EXIT_BAD_INPUT
    except RunFailed as err:
        if args.debug:
            raise
        print(f"\nsegment: the run failed: {err}\n(rerun with --debug for the traceback)",
              file=stderr)
        return 1
    print(json.dumps(_summary(result), indent=2, default=str), file=stdout)
    return 0


def _summary(result: dict) -> dict:
    """What a person needs after a run: where the outputs went and the headline numbers."""
    if "published" not in result:
        return result
    return {key: result[key] for key in ("published", "k", "silhouette", "segments",
                                         "consumption_bands", "quality", "counts")
            if key in result}


if __name__ == "__main__":
    sys.exit(main())
