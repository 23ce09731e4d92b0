"""The processed readings store and ingestion of one raw file into it.

Layout under ``<data-root>/processed/<dataset>/``::

    readings/_store.json                      number of shards (fixed when created)
    readings/shard=NN/part-<sha16>.parquet    readings of the meters hashed to shard NN,
                                              one part per ingested raw file
    readings/_ledger/<sha256>.json            one entry per ingested file: counts, resolution
    readings_quarantine/part-<sha16>.parquet  readings rejected at ingestion, with reasons
    readings_validation/<sha16>.json          Great Expectations results per chunk
    readings_validation/<sha16>/chunk-NNNN.html   their Data Docs pages

A meter always lands in the same shard (crc32 of its id), so the feature
step reads one shard at a time, and a nightly increment only adds parts.
A file whose sha256 is already in the ledger is skipped. A file's parts are
written to a staging folder and moved in only when the whole file has been
read and validated, then its ledger entry is written: a failed file leaves
nothing behind, and re-ingesting after a crash rewrites the same part names.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segmentation.errors import InputError
from segmentation.io import sha256_file, write_json_atomic, write_text_atomic
from segmentation.meters import ingest
from segmentation.meters.clean import resolve_duplicates

DEFAULT_SHARDS = 16
READING_SCHEMA = pa.schema([("meter_id", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC")),
                            ("kwh", pa.float64()), ("seq", pa.int64()), ("source_row", pa.int64())])
QUARANTINE_SCHEMA = pa.schema([
    ("source_file", pa.string()), ("source_row", pa.int64()), ("meter_id", pa.string()),
    ("timestamp_raw", pa.string()), ("kwh_raw", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")), ("kwh", pa.float64()), ("reason", pa.string())])
UNIQUE_EXPECTATION = "expect_compound_columns_to_be_unique"
GE_COLUMNS = ["meter_id", "timestamp_local", "timestamp", "kwh_raw", "kwh", "nonexistent",
              "grid_offset_s"]


class ReadingsStore:
    """Paths and ledger of one dataset's readings store."""

    def __init__(self, dataset_dir: Path, n_shards: int = DEFAULT_SHARDS):
        self.dataset_dir = Path(dataset_dir)
        self.root = self.dataset_dir / "readings"
        self.quarantine_dir = self.dataset_dir / "readings_quarantine"
        self.validation_dir = self.dataset_dir / "readings_validation"
        meta = self.root / "_store.json"
        if meta.exists():
            self.n_shards = int(json.loads(meta.read_text())["n_shards"])
        else:
            self.n_shards = n_shards

    def _ensure(self) -> None:
        meta = self.root / "_store.json"
        if not meta.exists():
            write_json_atomic({"n_shards": self.n_shards, "layout": "shard=NN/part-<sha16>.parquet"},
                              meta)

    def shard_of(self, meter_ids: pd.Series) -> np.ndarray:
        """Stable shard number of each meter id (crc32 modulo the shard count)."""
        codes, uniques = pd.factorize(meter_ids)
        shard = np.array([zlib.crc32(str(u).encode()) % self.n_shards for u in uniques], dtype=np.int64)
        return shard[codes] if len(uniques) else np.zeros(len(meter_ids), dtype=np.int64)

    def shard_glob(self, shard: int) -> str:
        return str(self.root / f"shard={shard:02d}" / "*.parquet")

    def shards(self) -> list[int]:
        """Shards holding at least one part."""
        return sorted(int(p.name.split("=")[1]) for p in self.root.glob("shard=*")
                      if any(p.glob("*.parquet")))

    def ledger(self) -> dict[str, dict]:
        """sha256 -> entry of every ingested file."""
        return {p.stem: json.loads(p.read_text()) for p in sorted((self.root / "_ledger").glob("*.json"))}

    def entry(self, sha: str) -> dict | None:
        path = self.root / "_ledger" / f"{sha}.json"
        return json.loads(path.read_text()) if path.exists() else None


class _ShardWriters:
    """One ParquetWriter per shard, opened on first use, in a staging folder."""

    def __init__(self, stage: Path, part: str):
        self.stage, self.part, self.writers = stage, part, {}

    def write(self, shard: int, table: pa.Table) -> None:
        if shard not in self.writers:
            folder = self.stage / f"shard={shard:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            self.writers[shard] = pq.ParquetWriter(folder / self.part, READING_SCHEMA)
        self.writers[shard].write_table(table)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def split_chunk(chunk: pd.DataFrame, row_failures: pd.DataFrame, file: str
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Passed readings and quarantined ones (with reasons) of a validated chunk.

    Rows failing only the uniqueness expectation stay in: the duplicate policy decides.
    """
    failures = row_failures[row_failures["expectation"] != UNIQUE_EXPECTATION]
    reasons = (failures.drop_duplicates(["row", "reason"]).groupby("row", sort=True)["reason"]
               .agg("; ".join))
    bad = chunk.index.isin(reasons.index)
    quarantined = chunk[bad].assign(reason=reasons.reindex(chunk.index[bad]).to_numpy(),
                                    source_file=file)
    return chunk[~bad], quarantined


def _quarantine_table(frame: pd.DataFrame) -> pa.Table:
    frame = frame.assign(timestamp_raw=frame["timestamp_raw"].astype(str).astype("string")
                         .mask(frame["timestamp_raw"].isna()),
                         kwh_raw=frame["kwh_raw"].astype("string"),
                         meter_id=frame["meter_id"].astype("string"),
                         timestamp=frame["timestamp"].astype("datetime64[us, UTC]"))
    return pa.Table.from_pandas(frame[QUARANTINE_SCHEMA.names], schema=QUARANTINE_SCHEMA,
                                preserve_index=False)


def _compact_results(outcome) -> list[dict]:
    """Per expectation: type, column, success, unexpected count (no index lists)."""
    rows = []
    for res in outcome.result_json.get("results", []):
        config = res["expectation_config"]
        kwargs = config.get("kwargs", {})
        rows.append({"expectation": config["type"],
                     "column": kwargs.get("column") or kwargs.get("column_list"),
                     "success": res["success"],
                     "unexpected_count": (res.get("result") or {}).get("unexpected_count"),
                     "reason": (config.get("meta") or {}).get("reason")})
    return rows


def ingest_file(path: Path | str, store: ReadingsStore, *, fmt: str = "auto",
                names: ingest.ColumnNames = ingest.ColumnNames(), timezone: str = "Europe/London",
                max_kwh: float = 10.0, chunk_rows: int = ingest.CHUNK_ROWS) -> dict:
    """Stream one raw file into the store, validating every chunk; skip it if already ingested.

    Returns
    -------
    dict
        The ledger entry: ``sha256, path, format, resolution_min, rows_in, rows_stored,
        rows_quarantined, quarantined_by_reason, skipped`` (True when already ingested).

    Raises
    ------
    InputError
        Unreadable file, unknown format, missing column, mixed resolutions.
    ValidationFailed
        A table-level expectation failed on a chunk (names the file and column).
    """
    from segmentation.validation import load_suite, raise_for_table_failures, validate_frame

    path = Path(path).resolve()
    file = str(path)
    kind = ingest.file_kind(path)
    sha = sha256_file(path)
    if (entry := store.entry(sha)) is not None:
        return {**entry, "skipped": True}
    header = ingest.read_header(path, kind)
    fmt = ingest.detect_format(header, fmt, names, file)
    suite = load_suite("readings", {"max_kwh": float(max_kwh)})
    state = ingest.FileState(path=file, timezone=timezone)
    seq = time.time_ns()
    part = f"part-{sha[:16]}.parquet"
    stage = store.dataset_dir / f".ingest-{sha[:16]}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    writers = _ShardWriters(stage / "readings", part)
    quarantine = pq.ParquetWriter(stage / part, QUARANTINE_SCHEMA)
    rows_in = stored = 0
    reasons: Counter = Counter()
    results = []
    try:
        for raw in ingest.iter_raw_chunks(path, kind, fmt, header, names, chunk_rows):
            rows_in += len(raw)
            chunk = ingest.prepare_chunk(raw, state)
            outcome = validate_frame(chunk[GE_COLUMNS], suite, data_docs=True)
            write_text_atomic(outcome.data_docs_html,
                              stage / "data_docs" / f"chunk-{len(results) + 1:04d}.html")
            results.append({"rows": len(chunk), "statistics": outcome.statistics,
                            "expectations": _compact_results(outcome)})
            raise_for_table_failures(outcome, file)
            passed, rejected = split_chunk(chunk, outcome.row_failures, file)
            passed = passed.assign(seq=seq)
            kept, duplicates = resolve_duplicates(passed)
            rejected = pd.concat([rejected, duplicates.assign(source_file=file)], ignore_index=True)
            if len(rejected):
                quarantine.write_table(_quarantine_table(rejected))
                reasons.update(rejected["reason"].astype(str).tolist())
            stored += len(kept)
            shard = store.shard_of(kept["meter_id"])
            table = pa.Table.from_pandas(
                kept.assign(timestamp=kept["timestamp"].astype("datetime64[us, UTC]"))[READING_SCHEMA.names],
                schema=READING_SCHEMA, preserve_index=False)
            order = np.argsort(shard, kind="stable")
            bounds = np.searchsorted(shard[order], np.arange(store.n_shards + 1))
            for s in range(store.n_shards):
                if bounds[s + 1] > bounds[s]:
                    writers.write(s, table.take(order[bounds[s]:bounds[s + 1]]))
        if rows_in == 0:
            raise InputError("the file has a header but no readings", file=file, row=2)
        if state.resolution is None:
            raise InputError("cannot detect the interval length: no meter has two readings",
                             file=file, column="timestamp")
    except BaseException:
        writers.close()
        quarantine.close()
        shutil.rmtree(stage, ignore_errors=True)
        raise
    writers.close()
    quarantine.close()
    store._ensure()
    for shard_dir in sorted((stage / "readings").glob("shard=*")):
        target = store.root / shard_dir.name / part
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(shard_dir / part, target)
    store.quarantine_dir.mkdir(parents=True, exist_ok=True)
    os.replace(stage / part, store.quarantine_dir / part)
    write_json_atomic({"sha256": sha, "file": file, "chunks": results},
                      store.validation_dir / f"{sha[:16]}.json")
    docs = store.validation_dir / sha[:16]
    shutil.rmtree(docs, ignore_errors=True)
    os.replace(stage / "data_docs", docs)
    entry = {"sha256": sha, "path": file, "format": fmt, "kind": kind, "timezone": timezone,
             "resolution_min": state.resolution, "seq": seq, "rows_in": rows_in,
             "rows_stored": stored, "rows_quarantined": rows_in - stored,
             "quarantined_by_reason": dict(sorted(reasons.items())), "max_kwh": max_kwh,
             "validation": str(store.validation_dir / f"{sha[:16]}.json"),
             "data_docs": str(docs),
             "ingested_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if entry["rows_in"] != stored + sum(reasons.values()):
        raise AssertionError(f"ingest accounting does not reconcile for {file}: {entry}")
    write_json_atomic(entry, store.root / "_ledger" / f"{sha}.json")
    shutil.rmtree(stage, ignore_errors=True)
    return {**entry, "skipped": False}
