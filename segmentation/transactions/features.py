"""Behavioural features per customer as of the run date, computed in DuckDB.

From the kept lines (``ingest.split_lines``: every line dated on or before the
run date D, inside the window), one row per customer who bought at least once:

=========================  ====================================================================
recency_days               days from the last purchase order to D
frequency                  purchase orders (an order id, or a customer's purchases on one day)
monetary                   net spend: purchases minus returns (negative when returns of
                           purchases made before the data outweigh later purchases)
tenure_days                days from the first purchase order to D
avg_order_value            purchases / orders
return_rate                returns / purchases, capped at 1 (share of spend returned)
mean_days_between_orders   (last - first order day) / (orders - 1); null for one order
spend_trend                (last 90 days - the 90 before) / (their sum), -1..1; null when
                           neither period has a purchase
distinct_products          products bought (null without a product column; counted by a 64-bit
                           hash of the code: two of one customer's codes would have to collide)
r_score, f_score, m_score  quintiles 1-5 of recency (5 = most recent), frequency and monetary
                           (5 = highest); ranks, ties broken by customer id, as analysts'
                           ``qcut(rank(method="first"), 5)``; ``rfm_score`` joins them ("545")
is_new                     first order within ``NEW_CUSTOMER_DAYS`` (30) days of D
=========================  ====================================================================

``country`` is the country of most of the customer's lines (ties: alphabetical).
A customer whose lines as of D are all returns has no purchase to date a
recency from: their lines are excluded and counted, not segmented.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from segmentation.io import sql_literal
from segmentation.transactions.config import NEW_CUSTOMER_DAYS

FEATURES = ("recency_days", "frequency", "monetary", "tenure_days", "avg_order_value",
            "return_rate", "mean_days_between_orders", "spend_trend", "distinct_products")
# Money is summed as DECIMAL (exact to 1e-6): a sum of doubles depends on the order DuckDB's
# threads add them in, and the same lines must give the same features to the last bit.
MONEY = "CAST(value AS DECIMAL(38, 6))"
# Clustered on: the first six (the others have nulls or repeat these); RFM scores are ranks.
CLUSTER_FEATURES = ("recency_days", "frequency", "monetary", "tenure_days", "avg_order_value",
                    "return_rate")
# On a Dask cluster the customers are split into this many shards, one task each; locally
# one shard (one DuckDB query using both cores). Same features either way.
CLUSTER_SHARDS = 16
RETURNS_ONLY = "customer with returns only (no purchase as of the run date)"

# One shard of customers (``hash(customer_id) % shards``): every per-customer aggregate; the
# scores, which rank customers against each other, come after the shards (``SCORES_SQL``).
FEATURES_SQL = """
WITH lines AS (SELECT * FROM read_parquet({lines}) WHERE hash(customer_id) % {shards} = {shard}),
orders AS (
    SELECT customer_id, order_key, min(day) AS day, sum({money}) AS spend
    FROM lines WHERE NOT is_return GROUP BY ALL),
bought AS (
    SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(*) AS frequency,
           sum(spend) AS gross,
           coalesce(sum(spend) FILTER (WHERE day > DATE '{d}' - 90), 0) AS last90,
           coalesce(sum(spend) FILTER (WHERE day > DATE '{d}' - 180 AND day <= DATE '{d}' - 90), 0)
               AS prev90
    FROM orders GROUP BY ALL),
per_line AS (
    SELECT customer_id, -coalesce(sum({money}) FILTER (WHERE is_return), 0) AS returned,
           count(DISTINCT hash(product)) FILTER (WHERE NOT is_return) AS products,
           count(*) AS n_lines
    FROM lines GROUP BY ALL),
countries AS (
    SELECT customer_id, country FROM (
        SELECT customer_id, country, row_number() OVER (PARTITION BY customer_id
                                                        ORDER BY n DESC, country) AS rank
        FROM (SELECT customer_id, country, count(*) AS n FROM lines
              WHERE country IS NOT NULL GROUP BY ALL)) WHERE rank = 1),
features AS (
    SELECT b.customer_id, DATE '{d}' - b.last_day AS recency_days, b.frequency,
           CAST(b.gross - p.returned AS DOUBLE) AS monetary,
           DATE '{d}' - b.first_day AS tenure_days,
           CAST(b.gross AS DOUBLE) / b.frequency AS avg_order_value,
           CASE WHEN b.gross > 0 THEN least(CAST(p.returned AS DOUBLE) / CAST(b.gross AS DOUBLE),
                                            1.0) ELSE 0 END AS return_rate,
           CASE WHEN b.frequency > 1 THEN (b.last_day - b.first_day) / (b.frequency - 1) END
               AS mean_days_between_orders,
           CASE WHEN b.last90 + b.prev90 > 0
                THEN CAST(b.last90 - b.prev90 AS DOUBLE) / CAST(b.last90 + b.prev90 AS DOUBLE)
           END AS spend_trend,
           {products} AS distinct_products, c.country, b.first_day AS first_purchase,
           b.last_day AS last_purchase, p.n_lines
    FROM bought b JOIN per_line p USING (customer_id) LEFT JOIN countries c USING (customer_id))
SELECT * FROM features
"""
SCORES_SQL = """
SELECT *,
       ntile(5) OVER (ORDER BY recency_days DESC, customer_id) AS r_score,
       ntile(5) OVER (ORDER BY frequency, customer_id) AS f_score,
       ntile(5) OVER (ORDER BY monetary, customer_id) AS m_score,
       tenure_days < {new_days} AS is_new
FROM read_parquet({parts}) ORDER BY customer_id
"""

# Returns are few: only their lines are joined to each customer's first purchase.
RETURNS_SQL = """
WITH returns AS (SELECT customer_id, ts, value FROM read_parquet({lines})
                 WHERE is_return AND hash(customer_id) % {shards} = {shard}),
first_buy AS (SELECT customer_id, min(ts) AS first_ts FROM read_parquet({lines})
              WHERE NOT is_return AND customer_id IN (SELECT customer_id FROM returns)
              GROUP BY ALL)
SELECT count(*) FILTER (WHERE f.first_ts IS NULL) AS returns_only_lines,
       count(DISTINCT r.customer_id) FILTER (WHERE f.first_ts IS NULL) AS returns_only_customers,
       count(*) FILTER (WHERE f.first_ts IS NULL OR r.ts < f.first_ts) AS unmatched_lines,
       coalesce(-sum({money}) FILTER (WHERE f.first_ts IS NULL OR r.ts < f.first_ts), 0)
           AS unmatched_value,
       count(DISTINCT r.customer_id) FILTER (WHERE f.first_ts IS NULL OR r.ts < f.first_ts)
           AS unmatched_customers,
       count(*) AS return_lines, coalesce(-sum({money}), 0) AS returned_value
FROM returns r LEFT JOIN first_buy f USING (customer_id)
"""


def shard_features(lines: str | Path, run_date: date, target: str | Path, shard: int = 0,
                   shards: int = 1, has_product: bool = True) -> dict:
    """Write the unscored features of one shard of customers (``hash(customer_id) % shards``)
    to ``target``; return its returns summary, exact (see ``score_features``).

    Every aggregate is per customer and a customer's lines are all in one shard, so shards
    can be computed anywhere (a Dask worker) and in any order.
    """
    import duckdb

    sql = FEATURES_SQL.format(lines=sql_literal(lines), d=run_date.isoformat(), money=MONEY,
                              shard=int(shard), shards=int(shards),
                              products="p.products" if has_product else "CAST(NULL AS BIGINT)")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute("SET preserve_insertion_order = false")     # the scores order the rows
        con.execute(f"COPY ({sql}) TO {sql_literal(target)} (FORMAT parquet)")
        cursor = con.execute(RETURNS_SQL.format(lines=sql_literal(lines), money=MONEY,
                                                shard=int(shard), shards=int(shards)))
        names = [column[0] for column in cursor.description]
        returns = dict(zip(names, cursor.fetchall()[0]))
    return {"part": str(target), "returns": {k: str(v) for k, v in returns.items()}}


def score_features(shards: list[dict], target: str | Path) -> dict:
    """Rank every customer of the shards (RFM scores), write them in id order to ``target``.

    Returns
    -------
    dict
        ``customers`` (rows written), ``lines_used`` (their lines), ``returns``: lines and
        value of all returns, and of returns with no earlier purchase in the data (kept and
        netted, counted here), ``returns_only``: lines and customers excluded because the
        customer has no purchase as of the run date.
    """
    import duckdb

    parts = "[" + ", ".join(sql_literal(s["part"]) for s in shards) + "]"
    with duckdb.connect() as con:
        con.execute(f"COPY ({SCORES_SQL.format(parts=parts, new_days=NEW_CUSTOMER_DAYS)}) "
                    f"TO {sql_literal(target)} (FORMAT parquet)")
        customers, used = con.execute(f"SELECT count(*), coalesce(sum(n_lines), 0) "
                                      f"FROM read_parquet({sql_literal(target)})").fetchall()[0]
    # Summed as exact decimals, rounded once: the same as one query over every customer.
    r = {key: sum(Decimal(s["returns"][key]) for s in shards) for key in shards[0]["returns"]}
    return {"customers": int(customers), "lines_used": int(used),
            "returns": {"lines": int(r["return_lines"]), "value": round(float(r["returned_value"]), 2),
                        "without_earlier_purchase": {
                            "lines": int(r["unmatched_lines"]),
                            "value": round(float(r["unmatched_value"]), 2),
                            "customers": int(r["unmatched_customers"])}},
            "returns_only": {"lines": int(r["returns_only_lines"]),
                             "customers": int(r["returns_only_customers"])}}


def customer_features(lines: str | Path, run_date: date, target: str | Path,
                      has_product: bool = True) -> dict:
    """Write one row per customer (``FEATURES``, scores, country, dates) to ``target``: one
    shard holding every customer, then the scores (``score_features`` gives the result)."""
    part = Path(target).with_name(Path(target).stem + "-unscored.parquet")
    try:
        return score_features([shard_features(lines, run_date, part, has_product=has_product)],
                              target)
    finally:
        part.unlink(missing_ok=True)
