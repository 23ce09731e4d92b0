"""Generated purchase logs: the sample behind `make run`, test inputs and the 10 M-line bench.

Customers are drawn from behaviour groups (frequent and recent, lapsed, new,
one-off, heavy returners, big baskets); their orders fall in their active
span, each order has a few lines. The log also holds what real logs hold:
anonymous lines (no customer id), cancellations (``C`` invoices with negative
quantities), postage lines, exact duplicate lines, a zero price and an
implausible quantity. Everything is vectorised, in chunks of customers, so a
log of 10 M lines is written in bounded memory.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segmentation.settings import SEED

ONLINE_RETAIL = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                 "CustomerID", "Country"]
SIMPLE = ["customer", "date", "units", "dollars"]     # another layout: no order id, amounts
# group: share, orders per year, span start (days before the end, low-high), span end, lines
# per order, quantity scale, return share
GROUPS = {
    "frequent": (0.20, 18.0, (250, 365), (0, 20), 6, 8, 0.01),
    "lapsed": (0.20, 8.0, (250, 365), (120, 220), 5, 6, 0.01),
    "new": (0.15, 12.0, (5, 40), (0, 5), 4, 6, 0.0),
    "one-off": (0.25, 1.0, (30, 365), None, 3, 4, 0.0),
    "returners": (0.10, 6.0, (150, 365), (0, 60), 4, 6, 0.25),
    "big-baskets": (0.10, 3.0, (100, 365), (0, 60), 12, 40, 0.01),
}
COUNTRIES = (["United Kingdom"] * 17 + ["Germany", "France", "EIRE"])


def _customers(rng, first: int, n: int) -> pd.DataFrame:
    names = list(GROUPS)
    shares = np.array([GROUPS[g][0] for g in names])
    group = rng.choice(len(names), size=n, p=shares / shares.sum())
    frame = pd.DataFrame({"customer": np.arange(first, first + n), "group": np.array(names)[group]})
    frame["country"] = rng.choice(COUNTRIES, size=n)
    return frame


def _orders(rng, customers: pd.DataFrame, days: int, order_scale: float = 1.0) -> pd.DataFrame:
    """Orders per customer: count from the group's rate (times ``order_scale``) over its active
    span, days uniform."""
    params = customers["group"].map(GROUPS)
    start = np.array([rng.integers(*p[2]) for p in params]) * days // 365
    end = np.array([rng.integers(*p[3]) if p[3] else s for p, s in zip(params, start)])
    end = np.minimum(end * days // 365, start)
    span = np.maximum(start - end, 1)
    rate = np.array([p[1] for p in params]) * order_scale
    n = np.maximum(1, rng.poisson(rate * span / 365.0))
    n = np.where(customers["group"].eq("one-off"), 1, n)
    idx = np.repeat(np.arange(len(customers)), n)
    ago = end[idx] + (rng.random(len(idx)) * span[idx]).astype(int)
    return pd.DataFrame({"row": idx, "days_ago": ago, "minute": rng.integers(8 * 60, 20 * 60,
                                                                              len(idx))})


def make_log(n_customers: int = 300, days: int = 365, end: date | None = None, seed: int = SEED,
             first_customer: int = 10_000, first_invoice: int = 500_000,
             oddities: bool = True, *, order_scale: float = 1.0) -> pd.DataFrame:
    """One chunk of a log in the Online Retail layout (plus ``group``, the planted behaviour).

    ``order_scale`` multiplies every group's orders per year (one-off customers keep one
    order): the bench's 10 M lines from 200,000 customers take 1.8.
    """
    rng = np.random.default_rng(seed)
    end = end or date.today()
    customers = _customers(rng, first_customer, n_customers)
    orders = _orders(rng, customers, days, order_scale)
    orders["invoice"] = np.arange(first_invoice, first_invoice + len(orders))
    params = customers["group"].map(GROUPS).to_numpy()
    per_order = np.array([p[4] for p in params])[orders["row"]]
    lines_n = 1 + rng.poisson(per_order - 1)
    o = np.repeat(np.arange(len(orders)), lines_n)
    row = orders["row"].to_numpy()[o]
    qty_scale = np.array([p[5] for p in params])[row]
    product = rng.integers(20_000, 20_400, len(o))
    price = np.round(np.exp(rng.normal(1.0, 0.6, 400)), 2)[product - 20_000]
    when = (pd.Timestamp(end) - pd.to_timedelta(orders["days_ago"].to_numpy()[o], unit="D")
            + pd.to_timedelta(orders["minute"].to_numpy()[o], unit="min"))
    log = pd.DataFrame({
        "InvoiceNo": orders["invoice"].to_numpy()[o].astype(str),
        "StockCode": product.astype(str), "Description": "ITEM " + product.astype(str),
        "Quantity": 1 + rng.poisson(qty_scale), "InvoiceDate": when,
        "UnitPrice": price, "CustomerID": customers["customer"].to_numpy()[row].astype(str),
        "Country": customers["country"].to_numpy()[row], "group": customers["group"].to_numpy()[row]})
    returns = rng.random(len(log)) < np.array([p[6] for p in params])[row]
    back = log[returns].copy()
    back["InvoiceNo"] = "C" + back["InvoiceNo"]
    back["Quantity"] = -back["Quantity"]
    back["InvoiceDate"] = np.minimum(back["InvoiceDate"] + pd.Timedelta(days=7),
                                     pd.Timestamp(end) + pd.Timedelta(hours=23))
    log = pd.concat([log, back], ignore_index=True)
    if oddities:
        log = _oddities(rng, log, orders)
    return log.sort_values(["InvoiceDate", "InvoiceNo"], kind="stable", ignore_index=True)


def _oddities(rng, log: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """Anonymous lines (~8%), postage lines, duplicates (~0.5%), a zero price, a huge quantity."""
    anonymous = log.sample(frac=0.08, random_state=int(rng.integers(1 << 30))).assign(
        CustomerID="", InvoiceNo=lambda f: "9" + f["InvoiceNo"].str.lstrip("C"), group="anonymous")
    firsts = log.drop_duplicates("InvoiceNo").sample(frac=0.05, random_state=1)
    postage = firsts.assign(StockCode="POST", Description="POSTAGE", Quantity=1, UnitPrice=18.0)
    duplicates = log.sample(frac=0.005, random_state=2)
    odd = log.sample(2, random_state=3).assign(Quantity=[1, 80_995], UnitPrice=[0.0, 2.08])
    return pd.concat([log, anonymous, postage, duplicates, odd], ignore_index=True)


def to_layout(log: pd.DataFrame, layout: str = "online_retail") -> pd.DataFrame:
    """The log in a layout: ``online_retail`` (as generated) or ``simple`` (customer, date,
    units, dollars: no order id, the line's amount instead of a unit price)."""
    if layout == "online_retail":
        out = log[ONLINE_RETAIL].copy()
        out["InvoiceDate"] = out["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
        return out
    return pd.DataFrame({"customer": log["CustomerID"], "date": log["InvoiceDate"].dt.date
                         .astype(str), "units": log["Quantity"],
                         "dollars": (log["Quantity"] * log["UnitPrice"]).round(2)})


def write_log(path: Path | str, n_customers: int = 300, days: int = 365, end: date | None = None,
              seed: int = SEED, layout: str = "online_retail", chunk: int = 20_000, *,
              order_scale: float = 1.0) -> Path:
    """Write a generated log (CSV, ``.csv.gz`` or ``.parquet`` by the name), ``chunk`` customers
    at a time; ``order_scale`` as in ``make_log``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    sink = pa.CompressedOutputStream(str(path), "gzip") if path.suffix == ".gz" else str(path)
    try:
        for i, first in enumerate(range(0, n_customers, chunk)):
            part = make_log(min(chunk, n_customers - first), days, end, seed + i,
                            first_customer=10_000 + first, first_invoice=500_000 + 10_000_000 * i,
                            order_scale=order_scale)
            table = pa.Table.from_pandas(to_layout(part, layout), preserve_index=False)
            if path.suffix == ".parquet":
                writer = writer or pq.ParquetWriter(str(path), table.schema)
                writer.write_table(table)
            else:
                writer = writer or pacsv.CSVWriter(sink, table.schema, write_options=pacsv.WriteOptions(
                    quoting_style="none"))   # generated values hold no comma or quote
                writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
        if not isinstance(sink, str):
            sink.close()
    return path


def write_sample_transactions(out_dir: Path, n_customers: int = 300, seed: int = SEED,
                              end: date | None = None) -> Path:
    """``transactions.csv`` under ``out_dir``: a year of purchases up to ``end`` (yesterday)."""
    end = end or date.today() - timedelta(days=1)
    return write_log(Path(out_dir) / "transactions.csv", n_customers, 365, end, seed)
