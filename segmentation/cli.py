"""`segment`: run a flow or write sample data from the command line.

Every expected failure (bad input, failed validation) is printed as one
paragraph and exits with status 2; anything else is a bug: exit 1 with a
pointer to --debug, which adds the traceback and keeps the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from datetime import date
from pathlib import Path

from segmentation.parameters import DEFAULT_ALGORITHM
from segmentation.errors import InputError, SegmentationError
from segmentation.parameters import (METER_K_MIN, TRANSACTION_ROLES, Algorithm, Hemisphere, MeterFormat, Missing, Outliers,
                                     Shape, Transform, choices)
from segmentation.settings import MAX_QUARANTINE_SHARE, MIN_CONFIDENCE, SEED, RunPaths, default_data_root
from segmentation.transactions.config import CANCEL_PREFIX, MAX_QUANTITY

EXIT_BAD_INPUT = 2
SHARED = "../shared/data"

EXAMPLES = {
    "customers": f"""examples:
  segment run customers --input {SHARED}/mall/Mall_Customers.csv
  segment run customers --input {SHARED}/customers/cc_general/CC_GENERAL.csv --dataset cc-general
  segment run customers --input members.csv --id-column "Member ID" \\
      --features tenure_months visits_per_month basket_eur --categorical region --k 5
  segment run customers --input wholesale.csv --features all --missing impute
  segment run customers --input members.csv --attributes regions.csv --attributes-id member_no""",
    "meters": f"""examples:
  segment run meters --input {SHARED}/meters/swiss_15min/elcons_15min_long.csv.gz \\
      --timezone Europe/Zurich --dataset swiss
  segment run meters --input data/raw/meters/*.parquet --kwh-bands 8,15 --shape weekday-weekend
  segment run meters --input LCL-June2015v2_0.csv --format lcl --window-days 180""",
    "transactions": f"""examples:
  segment run transactions --input {SHARED}/transactions/online_retail/online_retail.csv.gz \\
      --run-date 2011-12-09
  segment run transactions --input sales.csv --customer-column client --timestamp-column day \\
      --amount-column dollars --quantity-column units --dataset shop
  segment run transactions --input orders.parquet --window-days 365 --non-product-codes SHIP FEE""",
    "dataset": """examples:
  segment run dataset customers
  segment run dataset meters --run-date 2024-05-01""",
    "nightly": """examples:
  segment run nightly                        # every dataset of segmentation.yaml, today
  segment run nightly --run-date 2024-05-01  # a backfill: latest/ stays on the newest date""",
    "history": """examples:
  segment history transactions --from 2024-01-01 --to 2024-06-30   # six month ends
  segment history meters --from 2024-05-01 --to 2024-05-28 --every week""",
    "assign": """examples:
  segment assign customers --input new_members.csv              # the latest run's model
  segment assign meters --input new_meters.csv --model 2024-05-01 --dataset swiss
  segment assign transactions --input todays_orders.csv --assign-date 2024-06-30
  segment assign dataset online-retail --input new_lines.csv""",
    "store": """examples:
  segment store list --dataset meters
  segment store remove data/raw/meters/readings_2024-05-01.csv
  segment store reset --yes""",
    "sample-data": """examples:
  segment sample-data                                   # into data/raw/
  segment sample-data --out /tmp/raw --meters 40 --days 60 --kind planted""",
}


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrapped, examples kept as written, a little more room for option names."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=34)

    def _fill_text(self, text, width, indent):
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("customer-segmentation")
    except metadata.PackageNotFoundError:   # run from a source tree that is not installed
        return "unknown"


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
_min_size = _bounded(int, 1, 1_000_000, "a whole number of members")
_max_quantity = _bounded(float, 1e-9, 1e12, "a number of units")
_transaction_window = _bounded(int, 1, 36600, "a whole number of days")
_confidence = _bounded(float, 0.01, 0.99, "a probability")


def _kwh_bands(text: str) -> list[float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not two thresholds like 8,15") from None
    if not 0 <= low < high:
        raise argparse.ArgumentTypeError(f"'{text}': thresholds must be >= 0 and increasing")
    return [low, high]


def _roots(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-date", type=_run_date, metavar="YYYY-MM-DD",
                        help="partition date the run writes (default: today)")
    _folders(parser)


def _folders(parser: argparse.ArgumentParser) -> None:
    """--data-root, --outputs-root, --json and --debug."""
    parser.add_argument("--data-root", metavar="DIR",
                        help="data root holding raw/ and processed/ (default: the project's data/, "
                             "or $SEGMENT_DATA_ROOT)")
    parser.add_argument("--outputs-root", metavar="DIR",
                        help="where reports go (default: the project's outputs/, or "
                             "$SEGMENT_OUTPUTS_ROOT)")
    _switches(parser)


def _switches(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the full result as JSON instead of a short summary")
    parser.add_argument("--debug", action="store_true",
                        help="also print the traceback of an error (the exit status stays)")


def _common(parser: argparse.ArgumentParser, dataset: str, k_min: int = 2) -> None:
    parser.add_argument("--dataset", default=dataset, metavar="NAME",
                        help=f"output dataset: the folder under processed/ and outputs/ "
                             f"(default: {dataset})")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--k", type=_k, metavar="K",
                       help="fixed number of segments, 2-30 (default: chosen by the k rule)")
    group.add_argument("--k-min", type=_k, default=k_min, metavar="K",
                       help=f"smallest k to evaluate, 2-30 (default: {k_min})")
    parser.add_argument("--k-max", type=_k, default=10, metavar="K",
                        help="largest k to evaluate, 2-30 (default: 10)")
    parser.add_argument("--min-segment-size", type=_min_size, metavar="N",
                        help="smallest segment in members; smaller groups are atypical members "
                             "of their nearest segment (default: max(2%% of the members, 5))")
    parser.add_argument("--max-quarantine-share", type=_share, default=MAX_QUARANTINE_SHARE,
                        metavar="SHARE",
                        help="refuse an input with a larger share of rows quarantined, 0-1 "
                             f"(default: {MAX_QUARANTINE_SHARE})")
    parser.add_argument("--algorithm", choices=choices(Algorithm), default=DEFAULT_ALGORITHM,
                        help="clustering algorithm: kmeans, gmm (Gaussian mixture), "
                             "agglomerative (Ward) or hdbscan (no --k: finds its own number) "
                             f"(default: {DEFAULT_ALGORITHM})")
    parser.add_argument("--min-confidence", type=_confidence, default=MIN_CONFIDENCE,
                        metavar="P",
                        help="flag members whose segment probability is below P, 0.01-0.99 "
                             f"(default: {MIN_CONFIDENCE})")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="skip the comparison of every algorithm in the report (default: "
                             "compare)")
    _roots(parser)


def _attributes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fresh-ids", action="store_true",
                        help="number segments by size (0 = largest) instead of following the "
                             "previous run's segment ids")
    parser.add_argument("--attributes", metavar="FILE",
                        help="per-member attribute table (CSV, gzip-compressed CSV or Parquet: "
                             "region, tariff, survey answers...), joined by id; each column is "
                             "profiled per segment (default: none)")
    parser.add_argument("--attributes-id", metavar="COL",
                        help="id column of the attribute table (default: the member id's name, "
                             "id, or the one column ending in _id)")


def _cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dask-address", metavar="tcp://HOST:PORT",
                        help="run ingestion and the per-shard steps on this Dask scheduler's "
                             "workers; the data root must be a path they share (default: "
                             "$SEGMENT_DASK_ADDRESS, else this machine; `make cluster` starts one)")


def _sub(parent, name: str, help_text: str, description: str | None = None, **kwargs):
    return parent.add_parser(name, help=help_text, description=description or help_text,
                             epilog=EXAMPLES.get(name), formatter_class=HelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segment", formatter_class=HelpFormatter,
        description="Segment customer tables and smart-meter readings with k-means: "
                    "validated input, named segments, Parquet, plots and a report per run date.",
        epilog="examples:\n  segment sample-data && segment run nightly\n"
               f"  segment run customers --input {SHARED}/mall/Mall_Customers.csv\n"
               "  segment run meters --help\n\n"
               "Bad input exits with status 2 and one paragraph naming the file, column and row.")
    parser.add_argument("--version", action="version", version=f"segment {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = _sub(sub, "run", "run a flow: customers, meters, transactions, dataset or nightly").add_subparsers(
        dest="flow", required=True, metavar="FLOW")

    customers = _sub(run, "customers", "segment a customer table (CSV)",
                     "Segment a customer table: validate, clean, choose k, cluster, name the "
                     "segments and publish Parquet, plots and a report for the run date.")
    customers.add_argument("--input", metavar="CSV",
                           help="customer table, CSV or gzip-compressed CSV (default: the one CSV "
                                "in <data-root>/raw/customers/)")
    customers.add_argument("--id-column", metavar="COL",
                           help="id column, as in the file or in snake_case (default: customer_id, "
                                "id or a column ending in _id; none: the line number)")
    customers.add_argument("--features", nargs="+", metavar="COL",
                           help="numeric columns to cluster on, or 'all' for every numeric column "
                                "but the id (default: income and spending score for the Mall "
                                "table, all for any other table)")
    customers.add_argument("--categorical", nargs="+", metavar="COL",
                           help="categorical columns, profiled per segment as the share of each "
                                "category (default: none)")
    customers.add_argument("--cluster-categorical", action="store_true",
                           help="cluster on the categorical columns too, one-hot encoded "
                                "(default: only profile them)")
    customers.add_argument("--transform", choices=choices(Transform), default="auto",
                           help="log1p of features: auto = right-skewed non-negative columns "
                                "(skewness > 1), log = every non-negative column, none "
                                "(default: auto)")
    customers.add_argument("--missing", choices=choices(Missing), default="quarantine",
                           help="rows with a missing feature value: quarantine them, or impute "
                                "the column's median (default: quarantine)")
    customers.add_argument("--outliers", choices=choices(Outliers), default="flag",
                           help="values beyond Tukey's far-out fences (3 x IQR): flag them in "
                                "is_outlier, or winsorize them to the fences (default: flag)")
    _common(customers, "customers")
    _attributes(customers)

    meters = _sub(run, "meters", "segment smart-meter load profiles",
                  "Segment smart meters: interval readings (15/30/60 min kWh) become load-shape "
                  "archetypes, consumption bands and a seasonal flag for the run date.")
    meters.add_argument("--input", nargs="+", metavar="PATH",
                        help="reading files: CSV, gzip-compressed CSV or Parquet (default: "
                             "every file in <data-root>/raw/meters/)")
    meters.add_argument("--format", choices=choices(MeterFormat), default="auto",
                        help="long = meter_id,timestamp,kwh; lcl = the London LCL layout; wide = a "
                             "timestamp column and one column per meter; auto = from the header "
                             "(default: auto)")
    meters.add_argument("--timezone", default="Europe/London", metavar="TZ",
                        help="IANA zone of naive timestamps, e.g. Europe/Zurich (default: "
                             "Europe/London)")
    meters.add_argument("--hemisphere", choices=choices(Hemisphere),
                        help="which months are winter and summer (default: from the time zone)")
    meters.add_argument("--window-days", type=_window_days, default=365, metavar="N",
                        help="days of data to use, counted back from the last reading, 1-3660 "
                             "(default: 365)")
    meters.add_argument("--kwh-bands", type=_kwh_bands, metavar="LOW,HIGH",
                        help="Low/Medium/High thresholds in kWh/day, e.g. 8,15 (default: "
                             "tertiles of the run's meters)")
    meters.add_argument("--shape", choices=choices(Shape), default="daily",
                        help="cluster on the mean daily shape, or on the weekday and weekend "
                             "shapes side by side (default: daily)")
    _common(meters, "meters", k_min=METER_K_MIN)
    _attributes(meters)
    _cluster(meters)

    transactions = _sub(run, "transactions", "segment customers by behaviour in a purchase log",
                        "Segment the customers of a purchase log (one row per invoice line) by "
                        "behaviour as of the run date: recency, frequency, net spend, tenure, "
                        "order value and returns, named Champions, At Risk, ...; lines dated "
                        "after the run date are not seen.")
    transactions.add_argument("--input", metavar="PATH",
                              help="the log: CSV, gzip-compressed CSV or Parquet (default: the "
                                   "file in <data-root>/raw/transactions/)")
    for role, what in (("customer", "customer id"), ("timestamp", "date or date-time"),
                       ("amount", "line value (else quantity x price)"),
                       ("quantity", "units"), ("price", "unit price"),
                       ("order", "order or invoice id (else: a customer's day is one order)"),
                       ("product", "product code"), ("country", "country, profiled per segment")):
        transactions.add_argument(f"--{role}-column", metavar="COL",
                                  help=f"column of the {what} (default: found by name, e.g. "
                                       "the Online Retail header)")
    transactions.add_argument("--timezone", default="Europe/London", metavar="TZ",
                              help="IANA zone the timestamps are read in (default: Europe/London)")
    transactions.add_argument("--cancel-prefix", default=CANCEL_PREFIX, metavar="TEXT",
                              help="order ids starting with this are cancellations (default: C)")
    transactions.add_argument("--non-product-codes", nargs="+", metavar="CODE",
                              help="product codes of non-product lines, excluded from spend "
                                   "(default: the Online Retail codes POST, DOT, M, ...)")
    transactions.add_argument("--max-quantity", type=_max_quantity, default=MAX_QUANTITY,
                              metavar="N", help="lines with more units are quarantined "
                                                f"(default: {MAX_QUANTITY:,})")
    transactions.add_argument("--window-days", type=_transaction_window, metavar="N",
                              help="use only the N days up to the run date (default: all history)")
    _attributes(transactions)
    _common(transactions, "transactions")
    _cluster(transactions)

    dataset = _sub(run, "dataset", "one dataset of the catalog (segmentation.yaml)",
                   "Run one dataset of the catalog (segmentation.yaml, or the file "
                   "$SEGMENT_CATALOG names) with the settings declared there.")
    dataset.add_argument("name", help="the dataset's name in the catalog")
    _roots(dataset)

    nightly = _sub(run, "nightly", "every dataset of the catalog, as the nightly schedule does",
                   "Run every dataset of the catalog for one date, as the nightly deployment "
                   "does; one failing does not stop the others, and the run fails at the end "
                   "naming those that failed.")
    _roots(nightly)

    history = _sub(sub, "history", "run a catalog dataset for each date in a range",
                   "Run one dataset of the catalog for each month end (or week, or day) from "
                   "--from to --to, oldest first: each run uses only the data up to its date "
                   "and keeps the segment ids of the run before it, so the history says who "
                   "moved where.")
    history.add_argument("name", help="the dataset's name in the catalog")
    history.add_argument("--from", dest="date_from", type=_run_date, metavar="YYYY-MM-DD",
                         help="first date (month: the first month end on or after it; "
                              "default: six months before --to)")
    history.add_argument("--to", dest="date_to", type=_run_date, metavar="YYYY-MM-DD",
                         help="last date (default: today)")
    history.add_argument("--every", choices=["month", "week", "day"], default="month",
                         help="month ends, every seventh day, or every day (default: month)")
    _cluster(history)
    _folders(history)
    history.set_defaults(flow="history", run_date=None)

    _assign_parser(sub)

    store = _sub(sub, "store", "list a meter store's files, or take files out of it")
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    for name, text in (("list", "the files in the store"),
                       ("remove", "take files out of the store (a path or a sha256 prefix)"),
                       ("reset", "empty the store (every file is ingested anew by the next run)")):
        action = actions.add_parser(name, help=text, description=text,
                                    aliases=["forget"] if name == "remove" else [])
        if name == "remove":
            action.add_argument("files", nargs="+", metavar="FILE",
                                help="paths or sha256 prefixes, as `segment store list` shows")
        if name == "reset":
            action.add_argument("--yes", action="store_true",
                                help="really empty it (default: refuse without it)")
        action.add_argument("--dataset", default="meters", metavar="NAME",
                            help="meter dataset (default: meters)")
        action.add_argument("--data-root", metavar="DIR",
                            help="data root (default: the project's data/)")
        _switches(action)

    sample = _sub(sub, "sample-data", "write sample customer and meter data",
                  "Write a Mall-like customer table and meter readings to try the pipeline on.")
    sample.add_argument("--seed", type=int, default=SEED, help=f"random seed (default: {SEED})")
    sample.add_argument("--out", metavar="DIR", help="raw data folder (default: data/raw/)")
    sample.add_argument("--customers", type=int, default=400, metavar="N",
                        help="customers to generate (default: 400)")
    sample.add_argument("--meters", type=int, default=120, metavar="N",
                        help="meters to generate (default: 120)")
    sample.add_argument("--days", type=int, default=400, metavar="N",
                        help="days of meter readings (default: 400)")
    sample.add_argument("--kind", choices=["realistic", "planted"], default="realistic",
                        help="meters like real ones (overlapping shapes, odd meters) or "
                             "well-separated planted groups (default: realistic)")
    sample.add_argument("--hemisphere", choices=choices(Hemisphere), default="north",
                        help="north: Europe/London local time; south: Australia/Sydney "
                             "(default: north)")
    _switches(sample)
    return parser


def _assign_parser(sub) -> None:
    """``segment assign customers|meters|transactions|dataset``: new members, a saved model."""
    assign = _sub(sub, "assign", "place new members in a published run's segments",
                  "Place new members in the segments of a published run without refitting: "
                  "they are read, validated and featurised with the settings of the run whose "
                  "model is used, and published in processed/<dataset>/assignments/"
                  "assign_date=<date>/.")
    kinds = assign.add_subparsers(dest="assign_kind", required=True, metavar="KIND")
    for kind, what in (("customers", "a customer table"), ("meters", "meter reading files"),
                       ("transactions", "a purchase log"), ("dataset", "a catalog dataset's input")):
        parser = kinds.add_parser(kind, help=f"new members from {what}",
                                  description=f"Place new members from {what} in a published "
                                              "run's segments.",
                                  epilog=EXAMPLES["assign"], formatter_class=HelpFormatter)
        if kind == "dataset":
            parser.add_argument("name", help="the dataset's name in the catalog (its kind and "
                                             "its published runs)")
        else:
            parser.add_argument("--dataset", default=kind, metavar="NAME",
                                help=f"the published dataset whose model is used (default: {kind})")
        parser.add_argument("--input", nargs="+", required=True, metavar="FILE",
                            help="the new members' file (meters: one or more reading files); "
                                 "required, no default")
        parser.add_argument("--model", default="latest", metavar="latest|YYYY-MM-DD",
                            help="the run whose model is used: latest, or its run date "
                                 "(default: latest)")
        parser.add_argument("--assign-date", type=_run_date, metavar="YYYY-MM-DD",
                            help="date of the assignment: the partition it writes, the as-of "
                                 "date of purchase behaviour, the end of a meter window "
                                 "(default: today)")
        parser.add_argument("--max-quarantine-share", type=_share, metavar="SHARE",
                            help="refuse the input when a larger share of its rows is "
                                 "quarantined, 0-1 (default: the share of the model's run)")
        _cluster(parser)
        _folders(parser)
        parser.set_defaults(flow="assign", run_date=None)


def _assign_target(args) -> tuple[str, str]:
    """The kind and dataset ``segment assign`` works on (``dataset NAME``: the catalog's)."""
    if args.assign_kind != "dataset":
        return args.assign_kind, args.dataset
    from segmentation.catalog import catalog_entry

    return catalog_entry(args.name).kind, args.name


def _k_args(args) -> dict:
    return {"k": args.k, "k_min": args.k_min, "k_max": args.k_max,
            "min_segment_size": args.min_segment_size, "algorithm": args.algorithm,
            "min_confidence": args.min_confidence, "compare": args.compare}


def _columns(args) -> dict:
    """``--customer-column`` ... as the transaction flow's ``customer_column`` ... parameters."""
    return {f"{role}_column": getattr(args, f"{role}_column") for role in TRANSACTION_ROLES}


def _attribute_args(args) -> dict:
    return {"attributes_path": args.attributes, "attributes_id": args.attributes_id,
            "fresh_ids": args.fresh_ids}


def run_flow(args) -> dict:
    """Check the input, then call the flow the arguments name (imports Prefect only then)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect gives its temporary server 20 s; on a busy 2-core machine it needs longer, and
    # a run that gives up there fails for no reason of its own.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    preflight_checks(args)
    from segmentation import prefect_startup

    prefect_startup.start_in_background()
    prefect_startup.preload("great_expectations", "sklearn.cluster", "matplotlib.pyplot",
                            "kneed", "flows.nightly" if args.flow == "dataset" else f"flows.{args.flow}")
    prefect_startup.wait()
    from tasks.shared import BadInputSaidOnce

    BadInputSaidOnce.cli_prints = True     # the paragraph is printed once, by main()
    try:
        with prefect_startup.api_settings():
            return _call_flow(args)
    finally:
        BadInputSaidOnce.cli_prints = False


def _call_flow(args) -> dict:
    """The flow the arguments name, with their parameters."""
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
                             **_attribute_args(args),
                             **_k_args(args), **roots)
    if args.flow == "meters":
        from flows.meters import meter_flow
        return finished(meter_flow, inputs=args.input, dataset=args.dataset, format=args.format,
                          timezone=args.timezone, window_days=args.window_days,
                          hemisphere=args.hemisphere, kwh_bands=args.kwh_bands, shape=args.shape,
                          max_quarantine_share=args.max_quarantine_share,
                          dask_address=args.dask_address, **_attribute_args(args),
                          **_k_args(args), **roots)
    if args.flow == "transactions":
        from flows.transactions import transaction_flow
        return finished(transaction_flow, input_path=args.input, dataset=args.dataset,
                        **_columns(args), timezone=args.timezone, cancel_prefix=args.cancel_prefix,
                        non_product_codes=args.non_product_codes, max_quantity=args.max_quantity,
                        window_days=args.window_days, dask_address=args.dask_address,
                        **_attribute_args(args),
                        max_quarantine_share=args.max_quarantine_share, **_k_args(args), **roots)
    if args.flow == "dataset":
        from flows.nightly import dataset_flow
        return finished(dataset_flow, name=args.name, **roots)
    if args.flow == "assign":
        from flows.assign import assign_flow
        kind, dataset = _assign_target(args)
        return finished(assign_flow, kind=kind, inputs=args.input, dataset=dataset,
                        model=args.model, assign_date=args.assign_date,
                        max_quarantine_share=args.max_quarantine_share,
                        dask_address=getattr(args, "dask_address", None),
                        data_root=args.data_root, outputs_root=args.outputs_root)
    if args.flow == "history":
        from flows.history import history_flow
        return finished(history_flow, name=args.name, date_from=args.date_from,
                        date_to=args.date_to, every=args.every, data_root=args.data_root,
                        outputs_root=args.outputs_root, dask_address=args.dask_address)
    from flows.nightly import nightly_flow
    return finished(nightly_flow, **roots)


def preflight_checks(args) -> None:
    """Everything checkable without Prefect, before its server starts (``segmentation.preflight``)."""
    from segmentation import preflight
    from segmentation.catalog import catalog_entry, load_catalog
    from segmentation.cluster import check_reachable, dask_address
    from segmentation.locks import check_run_free
    from segmentation.settings import london_today, segment_threads

    segment_threads()                   # a bad SEGMENT_THREADS is named before Prefect starts
    if args.flow != "history" and hasattr(args, "dask_address") and (
            address := dask_address(args.dask_address)):
        check_reachable(address)        # an unreachable scheduler is named in ~3 s, not after start-up
    if args.flow == "assign":
        preflight.check_assignment(*_assign_target(args), args.input, args.model,
                                   args.assign_date or london_today(), args.data_root,
                                   args.outputs_root)
        return
    if args.flow in ("nightly", "dataset", "history"):
        entries = load_catalog()        # a wrong entry is named before anything starts
        if args.flow in ("dataset", "history"):
            entries = {args.name: catalog_entry(args.name)}
        given = getattr(args, "dask_address", None)      # history's option, for every run
        if given and entries[args.name].kind not in ("meters", "transactions"):
            raise InputError(f"--dask-address: dataset '{args.name}' is a "
                             f"{entries[args.name].kind} table, with no per-shard steps to run "
                             f"on Dask (meters and transactions have)")
        for address in sorted({dask_address(given or e.parameters.get("dask_address"))
                               for e in entries.values()} - {None}):
            check_reachable(address)
        if args.flow == "history":
            from datetime import date

            from segmentation.history import history_dates, history_range
            end = date.fromisoformat(args.date_to) if args.date_to else london_today()
            history_dates(*history_range(args.date_from, end), args.every)
        return
    preflight.check_dataset(args.dataset)
    check_run_free(RunPaths.create(args.dataset, args.run_date or london_today(),
                                   args.data_root, args.outputs_root))
    preflight.check_attributes(args.attributes, args.attributes_id, args.flow)
    if args.k is None:
        preflight.check_k(args.k_min, args.k_max)
    preflight.check_algorithm(args.algorithm, args.k)
    if args.flow == "customers":
        paths = RunPaths.create(args.dataset, args.run_date, args.data_root, args.outputs_root)
        preflight.check_customers(args.input, paths, args.id_column, args.features, args.categorical)
    elif args.flow == "transactions":
        preflight.check_transactions(args.input, _columns(args), args.timezone)
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
    from segmentation.transactions.sample import write_sample_transactions

    raw = Path(args.out) if args.out else default_data_root() / "raw"
    customers = write_sample_customers(raw / "customers", n=args.customers, seed=args.seed)
    meters = write_sample_meters(raw / "meters", n_meters=args.meters, days=args.days,
                                 seed=args.seed, kind=args.kind, hemisphere=args.hemisphere)
    transactions = write_sample_transactions(raw / "transactions", seed=args.seed)
    return {"customers": str(customers), "meters": [str(p) for p in meters],
            "transactions": str(transactions)}


def main(argv: list[str] | None = None, *, stdout=None, stderr=None) -> int:
    """Entry point of `segment`; returns the exit status (0 ok, 2 bad input, 1 a bug)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        result = (write_samples(args) if args.command == "sample-data" else
                  manage_store(args) if args.command == "store" else run_flow(args))
    except (SegmentationError, OSError) as err:
        if args.debug:
            traceback.print_exc(file=stderr)
        print(f"\nsegment: error: {err}", file=stderr)
        return EXIT_BAD_INPUT
    except RunFailed as err:
        if args.debug:
            traceback.print_exc(file=stderr)
        print(f"\nsegment: the run failed: {err}\n(rerun with --debug for the traceback)",
              file=stderr)
        return 1
    if args.json:
        print(json.dumps(_summary(result), indent=2, default=str), file=stdout)
    else:
        print(summary_text(result, args), file=stdout)
    return 0


def _summary(result: dict) -> dict:
    """What a program needs after a run: where the outputs went and the headline numbers."""
    if "published" not in result:
        return result
    return {key: result[key] for key in ("published", "k", "silhouette", "segments",
                                         "consumption_bands", "quality", "counts",
                                         "comparison", "model_run_date", "atypical")
            if key in result}


def summary_text(result: dict, args) -> str:
    """A few lines for a person: per dataset k, segment names and sizes, where the report is."""
    if args.command == "sample-data":
        return "\n".join(["sample data written:", f"  customers: {_shown(result['customers'])}",
                          *(f"  meters:    {_shown(p)}" for p in result["meters"]),
                          f"  transactions: {_shown(result['transactions'])}"])
    if args.command == "store":
        if "files" in result and isinstance(result["files"], list):
            lines = [f"store {_shown(result['store'])} ({result['timezone'] or 'empty'}): "
                     f"{len(result['files'])} file(s)"]
            lines += [f"  {f['sha256']}  {f['readings']:>12,} readings  {f['path']}"
                      for f in result["files"]]
            return "\n".join(lines)
        return "\n".join([f"removed from {_shown(result['store'])}:",
                          *(f"  {p}" for p in result["removed"]),
                          f"{result['files_left']} file(s) left"])
    if args.command == "assign":
        return _assign_lines(result)
    runs = result if "published" not in result else {args.dataset if args.flow != "dataset"
                                                    else args.name: result}
    return "\n\n".join(_run_lines(name, run) for name, run in runs.items())


def _assign_lines(result: dict) -> str:
    """Members placed per segment, and where the assignment is."""
    total = sum(result["segments"].values())
    lines = [f"{total:,} member{'' if total == 1 else 's'} placed in the segments of the run of "
             f"{result['model_run_date']} ({result['atypical']:,} atypical)"]
    width = max((len(name) for name in result["segments"]), default=0)
    lines += [f"  {name:<{width}}  {n:>8,}" for name, n in result["segments"].items()]
    lines.append(f"  assignments: {_shown(result['published']['assignments.parquet'])}")
    return "\n".join(lines)


def compared_line(algorithm: str, recommended: str | None) -> str:
    """The comparison in one line: does the published algorithm hold?"""
    if recommended is None:
        return "  algorithms compared: none gives reproducible segments (see the report)"
    if recommended == algorithm:
        return f"  algorithms compared: {algorithm} holds (see the report)"
    return (f"  algorithms compared: {recommended} recommended over {algorithm} "
            "(see the report)")


def _run_lines(name: str, run: dict) -> str:
    quality = run.get("quality", {})
    stability = quality.get("stability")
    head = (f"{name}: {len(run['segments'])} segments (k={run['k']}"
            + (f", stability {stability:.2f}" if stability is not None else "")
            + f", silhouette {run['silhouette']:.2f})")
    width = max(len(s) for s in run["segments"])
    digits = max(len(f"{n:,}") for n in run["segments"].values())
    lines = [head, *(f"  {segment:<{width}}  {size:>{digits},}"
                     for segment, size in run["segments"].items())]
    counts = run.get("counts", {})
    if "readings_in" in counts:
        lines.append(f"  {counts['readings_in']:,} readings in, "
                     f"{counts.get('readings_quarantined', 0):,} quarantined; "
                     f"{counts.get('meters_segmentable', 0):,} meters segmented, "
                     f"{counts.get('meters_quarantined', 0):,} set aside")
    elif "lines_in" in counts:
        lines.append(f"  {counts['lines_in']:,} lines in, {counts['lines_used']:,} used, "
                     f"{counts['lines_quarantined']:,} quarantined, {counts['lines_excluded']:,} "
                     f"excluded; {counts['customers_segmented']:,} customers segmented")
    elif "rows_in" in counts:
        lines.append(f"  {counts['rows_in']:,} rows in, {counts.get('rows_out', 0):,} segmented, "
                     f"{counts.get('rows_quarantined', 0):,} quarantined")
    bands = run.get("consumption_bands")
    if bands:
        order = ["Low", "Medium", "High"]          # Low / Medium / High, not alphabetical
        ranked = sorted(bands.items(), key=lambda band: order.index(band[0].split()[0])
                        if band[0].split()[0] in order else len(order))
        lines.append("  bands: " + ", ".join(f"{name} {n:,}" for name, n in ranked))
    compared = run.get("comparison")
    if compared:
        lines.append(compared_line(compared["algorithm"], compared["recommended"]))
    lines += [f"  warning: {w}" for w in quality.get("warnings", [])]
    published = run["published"]
    report = published.get("report_html") or published.get("report")
    if report:
        lines.append(f"  report:   {_shown(report)}")
    if published.get("segments"):
        lines.append(f"  segments: {_shown(published['segments'])}")
    return "\n".join(lines)


def _shown(path: str) -> str:
    """A path relative to the working directory when it lies under it (shorter to read); the
    stable path, not the version folder a symlink points to."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
