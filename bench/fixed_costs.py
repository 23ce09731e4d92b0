"""Costs no meter pipeline can avoid, to set the benchmark targets against (not a test).

Each measurement runs in a fresh process: wall seconds and peak RSS.

- ``prefect``: start-up of a Prefect flow with one trivial task (temporary server);
- ``scan``: the floor, one DuckDB scan grouping by (meter, half-hour of day);
- ``store_write``: one bare DuckDB COPY of every reading into Parquet sharded by meter;
- ``unique``: a (meter, timestamp) uniqueness check over all readings.

Usage: ``.venv/bin/python bench/fixed_costs.py DATA_ROOT`` where ``DATA_ROOT/raw/meters/``
holds the generated Parquet (``bench_meters.py --work`` keeps none; generate with
``segment sample-data`` or ``segmentation.meters.sample.write_sample_meters``).
"""

from __future__ import annotations

import json
import sys
import tempfile

from bench_meters import measure

PREFECT = """
from prefect import flow, task
@task
def one(): return 1
@flow
def trivial(): return one()
print(trivial())
"""
DUCKDB = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET threads TO 2")
src = f"read_parquet('{sys.argv[1]}/raw/meters/*.parquet')"
print(con.execute(QUERY.format(src=src, out=sys.argv[2])).fetchall())
"""
QUERIES = {
    "scan": "SELECT count(*) FROM (SELECT meter_id, hour(timestamp) * 2 + minute(timestamp) // 30 "
            "AS slot, sum(kwh), count(*) FROM {src} GROUP BY ALL)",
    "store_write": "COPY (SELECT meter_id, timestamp, kwh, hash(meter_id) % 16 AS shard FROM {src}) "
                   "TO '{out}/store' (FORMAT parquet, PARTITION_BY (shard))",
    "unique": "SELECT count(*) FROM (SELECT meter_id, timestamp FROM {src} GROUP BY ALL "
              "HAVING count(*) > 1)",
}


def main() -> None:
    data_root = sys.argv[1]
    results = {"prefect": measure(PREFECT)}
    for name, query in QUERIES.items():
        with tempfile.TemporaryDirectory() as out:
            results[name] = measure(DUCKDB.replace("QUERY", repr(query)), data_root, out)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
