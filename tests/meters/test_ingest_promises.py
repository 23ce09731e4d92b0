"""Promises of meter ingestion (docs/meters.md step 1 and 2, ``segmentation.meters.ingest``),
on hand-made ledger entries and tiny files: when a file already in the store is skipped; a
data root in any folder."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation.meters.ingest import IngestOptions, ingest_file, read_the_same_way
from segmentation.meters.outputs import write_quarantine
from segmentation.meters.sources import ColumnNames
from segmentation.meters.store import ReadingsStore


# ---------------------------------------------------------------- the ledger's settings key

def ledger_entry(**fields) -> dict:
    """The settings part of a ledger entry, as ``ingest_file`` writes it."""
    return {"format": "long", "timezone": "Europe/London", "max_kwh": 10.0,
            "columns": ["meter_id", "timestamp", "kwh"], **fields}


def test_a_file_read_with_its_own_column_names_is_skipped_when_they_are_the_same():
    """The column names are part of the settings a file was read with: the same names given
    again skip the file, the defaults (or others) read it anew."""
    names = ColumnNames(meter="LCLid", timestamp="when", kwh="energy")
    entry = ledger_entry(columns=["LCLid", "when", "energy"])
    assert read_the_same_way(entry, "long", IngestOptions(names=names))
    assert not read_the_same_way(entry, "long", IngestOptions())


@pytest.mark.parametrize("max_kwh", [1.0, 10.0, 1000.0])
def test_an_entry_that_does_not_say_its_plausible_maximum_is_read_anew(max_kwh):
    """A ledger entry without ``max_kwh`` (an earlier version) cannot show the file was read
    with this maximum: it is read again, whatever maximum (> 0) the run uses."""
    entry = {k: v for k, v in ledger_entry().items() if k != "max_kwh"}
    assert not read_the_same_way(entry, "long", IngestOptions(max_kwh=max_kwh))
    assert read_the_same_way(ledger_entry(max_kwh=max_kwh), "long", IngestOptions(max_kwh=max_kwh))


# ---------------------------------------------------------------- any folder will do

def test_a_data_root_whose_path_holds_an_apostrophe_ingests_and_quarantines(tmp_path):
    """``O'Brien's data`` as the data root: DuckDB's spill folder, the quarantine pass and the
    run's quarantine file are all written there (paths are SQL literals, not pasted text)."""
    root = tmp_path / "O'Brien's data"
    root.mkdir()
    times = pd.date_range("2024-01-10", periods=48, freq="30min")
    lines = [f"M,{t:%Y-%m-%d %H:%M:%S},0.5" for t in times] + ["M,2024-01-11 00:00:00,-1"]
    (root / "readings.csv").write_text("meter_id,timestamp,kwh\n" + "\n".join(lines) + "\n")
    store = ReadingsStore(root / "processed" / "meters", n_shards=2)
    entry = ingest_file(root / "readings.csv", store)
    assert entry["rows_stored"] == 48 and entry["quarantined_by_reason"] == {"negative reading": 1}
    parts = [str(p) for p in store.quarantine_dir.glob("*.parquet")]
    assert write_quarantine(parts, root / "outputs" / "quarantine.parquet") == 1
    assert pd.read_parquet(root / "outputs" / "quarantine.parquet")["source_row"].tolist() == [50]
