"""Promises of reading meter files (``segmentation.meters.sources``, docs/meters.md step 1):
long Parquet read in place whatever its column names."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from segmentation.meters.sources import ColumnNames, read_header, source_sql
from tests.meters.conftest import duck


def test_long_parquet_columns_are_read_whatever_characters_their_names_hold(tmp_path):
    """Column names are configurable (``ColumnNames``); a name with a double quote, a space or
    a comma is still the column it names."""
    names = ColumnNames(meter='meter "id"', timestamp="time, local", kwh="kWh 'hh'")
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table({names.meter: ["M1", "M2"], names.timestamp: ["2024-01-10 00:00:00"] * 2,
                             names.kwh: [0.5, 0.25]}), path)
    query = source_sql(path, "parquet", "long", read_header(path, "parquet"), names, None)
    assert duck(f"SELECT source_row, meter_raw, ts_raw, kwh_raw FROM ({query}) ORDER BY 1") == [
        (1, "M1", "2024-01-10 00:00:00", 0.5), (2, "M2", "2024-01-10 00:00:00", 0.25)]
