"""A real customer run and a real meter run under one project-like folder, for the tests of
the output contract (tests/test_contract.py) and of moving a project (tests/test_publish.py).

Both inputs live under the data root and hold rows each kind quarantines: the customer table
gets an exact duplicate, a negative income, a short line and a quoted line break; the meter
sample is damaged (bad values, exact duplicates). Each run joins a table of member
attributes (``write_attributes``): zero-padded customer ids in a ';'-separated CSV, meter
ids in Parquet, with ids of no member and members left without a row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segmentation.customers.sample import write_sample_customers
from segmentation.meters.sample import write_sample_meters

RUN_DATE = "2026-11-30"
CUSTOMERS = 120
BAD_CUSTOMER_LINES = ["901,Male,30,-5,50",                  # negative income
                      "902,Female,40",                      # three fields of five
                      '903,"Fe\nmale",35,60,40']            # a quoted line break: unknown gender


def roots_of(root: Path) -> dict[str, str]:
    return {"data_root": str(root / "data"), "outputs_root": str(root / "outputs")}


def write_inputs(root: Path) -> Path:
    """The customer table and the meter files under ``root/data/raw``; returns the table."""
    table = write_sample_customers(root / "data" / "raw" / "customers", n=CUSTOMERS, seed=7)
    lines = table.read_text().splitlines()
    table.write_text("\n".join(lines + [lines[1]] + BAD_CUSTOMER_LINES) + "\n")   # + a duplicate
    files = write_sample_meters(root / "data" / "raw" / "meters", n_meters=30, days=40, seed=4)
    write_attributes(root, pd.concat([pd.read_parquet(f, columns=["meter_id"]) for f in files])
                     ["meter_id"].unique())
    return table


ATTRIBUTE_CUSTOMERS = 100          # customers 1-100 have a row of attributes; 101-120 none
UNKNOWN_IDS = ["9999", "MTR99999"]


def attributes_of(root: Path, kind: str) -> Path:
    return root / "data" / "attributes" / ("customers.csv" if kind == "customers"
                                           else "meters.parquet")


def write_attributes(root: Path, meter_ids) -> None:
    """Customers: ids 0001-0100 (padded) and 9999, a region (one blank) and a household size;
    meters: the first 25 meters and MTR99999, a tariff and a floor area."""
    folder = attributes_of(root, "customers").parent
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["Customer ID;Region;Household size"] + [
        f"{i:04d};{['North', 'South', 'East', ''][i % 4]};{1 + i % 5}"
        for i in range(1, ATTRIBUTE_CUSTOMERS + 1)] + [f"{UNKNOWN_IDS[0]};North;2"]
    attributes_of(root, "customers").write_text("\n".join(lines) + "\n")
    ids = sorted(meter_ids)[:25] + [UNKNOWN_IDS[1]]
    pd.DataFrame({"meter_id": ids, "tariff": [["flat", "time-of-use"][i % 2] for i in range(26)],
                  "floor_area_m2": [60.0 + 5 * i for i in range(26)]}).to_parquet(
        attributes_of(root, "meters"))


def run_customers(root: Path, run_date: str = RUN_DATE) -> dict:
    from flows.customers import customer_flow

    return customer_flow(input_path=str(root / "data" / "raw" / "customers" / "customers.csv"),
                         categorical=["Gender"], k=4, run_date=run_date, **roots_of(root),
                         attributes_path=str(attributes_of(root, "customers")))


def run_meters(root: Path, run_date: str = RUN_DATE) -> dict:
    from flows.meters import meter_flow

    return meter_flow(k=3, run_date=run_date, **roots_of(root),
                      attributes_path=str(attributes_of(root, "meters")))


def publish_both(root: Path) -> dict[str, dict]:
    """Write the inputs, run both flows for ``RUN_DATE``; their results by kind."""
    table = write_inputs(root)
    return {"customers": {**run_customers(root), "input": table}, "meters": run_meters(root),
            "root": root}


TRANSACTION_CUSTOMERS = 150
MALFORMED_LINE = "599999,A1,CUP,5"                      # four fields of eight


def run_transactions(root: Path, run_date: str = RUN_DATE) -> dict:
    """A generated purchase log (Online Retail layout, its oddities and one malformed line)
    under the data root, segmented through the `segment` CLI; returns the JSON it prints."""
    import io
    import json
    from datetime import date, timedelta

    from segmentation.cli import main
    from segmentation.transactions.sample import write_log

    log = write_log(root / "data" / "raw" / "transactions" / "log.csv",
                    n_customers=TRANSACTION_CUSTOMERS, seed=5,
                    end=date.fromisoformat(run_date) + timedelta(days=20))
    log.write_text(log.read_text() + MALFORMED_LINE + "\n")
    segment = root / "data" / "attributes" / "segment_of_customer.csv"     # a CRM's own label
    segment.parent.mkdir(parents=True, exist_ok=True)
    segment.write_text("customer_id,crm_tier,age\n" + "".join(
        f"{10_000 + i},{'gold' if i % 3 == 0 else 'silver'},{20 + i % 50}\n"
        for i in range(0, 200, 2)))
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "transactions", "--input", str(log), "--run-date", run_date, "--k", "4",
                 "--attributes", str(segment),
                 "--json", *sum((["--" + k.replace("_", "-"), v]
                                 for k, v in roots_of(root).items()), [])],
                stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return {**json.loads(out.getvalue()), "input": log}
