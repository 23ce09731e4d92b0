"""Monthly sums in the store: a night's run recomputes only the months its files touched.

A window's features are the combination of its local months' ``MeterSums``
(``sums``). A month whose readings and interpolation context (one day each
side, more for gaps longer than a day) lie inside the window is *interior*:
its sums do not depend on the window and are kept per shard under
``<dataset>/months/<key>/shard=NN/<YYYY-MM>.parquet``, ``key`` naming what
they depend on (resolution, time zone, longest gap filled, this module's
version). Each file records the files whose readings may enter the month
(``identity``: sha and order of ingestion of every ledger entry whose span
overlaps the month with its context); a month is reused only while that list
is the same, so a late file, a removed file or a re-ingestion recomputes it.
The window's first and last months are computed every run.

Stored readings per meter and month folder (for the readings outside the
window) are kept the same way under ``counts/``, keyed by the part files and
their files' order of ingestion.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segmentation.io import write_parquet_atomic
from segmentation.meters.day_vectors import DayCalendar
from segmentation.meters.store import ReadingsStore
from segmentation.meters.sums import MeterSums

VERSION = 1      # of the sums' definition: a new version never reads an older one's files
_MATRICES = ("points", "points_weekday", "points_weekend", "month_sum", "month_days")


@dataclass(frozen=True)
class MonthSpan:
    """One local month of a window: its days in the window, and the days read with it."""

    label: str            # YYYY-MM
    first: np.datetime64  # first and last local day in the window
    last: np.datetime64
    read_first: np.datetime64   # ... widened by the interpolation context, clipped to the window
    read_last: np.datetime64
    interior: bool        # context not clipped: the sums do not depend on the window


def context_days(max_gap_minutes: int) -> int:
    """Days read on each side of a month so that every gap it may fill is seen whole."""
    return int(max_gap_minutes) // 1440 + 1


def month_spans(days: DayCalendar, max_gap_minutes: int) -> list[MonthSpan]:
    """The window's local days (``days``) split by local month."""
    dates = days.dates()
    ctx = np.timedelta64(context_days(max_gap_minutes), "D")
    months = dates.astype("datetime64[M]")
    spans = []
    for month in np.unique(months):
        inside = dates[months == month]
        lo, hi = inside[0] - ctx, inside[-1] + ctx
        spans.append(MonthSpan(label=str(month), first=inside[0], last=inside[-1],
                               read_first=max(lo, dates[0]), read_last=min(hi, dates[-1]),
                               interior=bool(lo >= dates[0] and hi <= dates[-1])))
    return spans


def cache_key(resolution: int, timezone: str, max_gap_minutes: int) -> str:
    text = json.dumps([VERSION, int(resolution), timezone, int(max_gap_minutes)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_spans(store: ReadingsStore) -> list[tuple[str, int, int]]:
    """``(sha16:seq, first, last)`` of every ingested file with readings (UTC microseconds),
    parsed once per shard: ``identity`` asks for each month."""
    return [(f"{sha[:16]}:{e['seq']}", pd.Timestamp(e["first_reading_utc"]).value // 1000,
             pd.Timestamp(e["last_reading_utc"]).value // 1000)
            for sha, e in store.ledger().items() if e.get("first_reading_utc")]


def identity(files: list[tuple[str, int, int]], span: MonthSpan, timezone: str) -> list[str]:
    """The files (``file_spans``) whose readings may fall in the span's read days."""
    days = DayCalendar.spanning(span.read_first, span.read_last, timezone)
    lo, hi = int(days.start_us[0]), int(days.next_us[-1])
    return sorted(name for name, first, last in files if first < hi and last >= lo)


# ---------------------------------------------------------------- MeterSums <-> Parquet

def to_table(sums: MeterSums, meta: dict) -> pa.Table:
    columns = {}
    for f in fields(sums):
        value = getattr(sums, f.name)
        if f.name == "meter_id":
            columns[f.name] = pa.array(value.astype(str), pa.string())
        elif f.name == "low":
            lengths = np.array([len(x) for x in value], np.int64)
            flat = np.concatenate(list(value)) if len(value) else np.empty(0)
            columns[f.name] = pa.ListArray.from_arrays(
                pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int32)), pa.array(flat, pa.float64()))
        elif f.name in _MATRICES:
            columns[f.name] = pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)),
                                                                value.shape[1])
        else:
            columns[f.name] = pa.array(value)
    return pa.table(columns).replace_schema_metadata({"segmentation": json.dumps(meta)})


def from_table(table: pa.Table) -> MeterSums:
    values = {}
    for f in fields(MeterSums):
        column = table.column(f.name).combine_chunks()
        if f.name == "meter_id":
            values[f.name] = np.asarray(column.to_pylist(), object)
        elif f.name == "low":
            flat = column.flatten().to_numpy()
            offsets = column.offsets.to_numpy()
            out = np.empty(len(column), object)
            out[:] = [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
            values[f.name] = out
        elif f.name in _MATRICES:
            values[f.name] = column.flatten().to_numpy().reshape(len(column), column.type.list_size)
        else:
            values[f.name] = column.to_numpy()
    return MeterSums(**values)


def metadata(path: Path) -> dict | None:
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None               # unreadable: recomputed and rewritten
    raw = meta.get(b"segmentation")
    return json.loads(raw) if raw else None


class MonthCache:
    """The interior months' sums of one shard, reused while their files are the same."""

    def __init__(self, store: ReadingsStore, shard: int, key: str):
        self.folder = store.dataset_dir / "months" / key / f"shard={shard:02d}"

    def load(self, span: MonthSpan, files: list[str]) -> MeterSums | None:
        path = self.folder / f"{span.label}.parquet"
        if not path.exists() or (metadata(path) or {}).get("identity") != files:
            return None
        return from_table(pq.read_table(path))

    def save(self, span: MonthSpan, files: list[str], sums: MeterSums) -> None:
        write_parquet_atomic(to_table(sums, {"identity": files, "month": span.label}),
                             self.folder / f"{span.label}.parquet")


# ---------------------------------------------------------------- stored readings per meter

def _count(paths: list[Path], first=None, last=None) -> pd.DataFrame:
    """Stored readings per meter in ``paths``: in [first, last] (``n_in``) and outside (``n_out``)."""
    frames = []
    for path in paths:
        table = pq.read_table(path, columns=["meter_id", "day", "n_readings"])
        day = table.column("day").to_numpy().astype("datetime64[D]")
        n = table.column("n_readings").to_numpy().astype(np.int64)
        inside = np.ones(len(day), bool) if first is None else (day >= first) & (day <= last)
        frames.append(pd.DataFrame({"meter_id": table.column("meter_id").to_numpy(zero_copy_only=False),
                                    "n_in": np.where(inside, n, 0), "n_out": np.where(inside, 0, n)}))
    if not frames:
        return pd.DataFrame({"n_in": pd.Series(dtype=np.int64), "n_out": pd.Series(dtype=np.int64)},
                            index=pd.Index([], name="meter_id", dtype=object))
    return pd.concat(frames).groupby("meter_id").sum()


def stored_counts(store: ReadingsStore, shard: int, first: np.datetime64,
                  last: np.datetime64) -> pd.DataFrame:
    """Stored readings per meter of the shard, in the window's days [first, last] and outside.

    Every part counts (superseded readings too). A month folder wholly inside or outside
    the window is counted once and kept (``counts/``) while its parts are the same.
    """
    ingested = {sha[:16]: e["seq"] for sha, e in store.ledger().items()}
    folder = store.shard_dir(shard)
    frames = [_count([p for p in sorted(folder.glob("part-*.parquet"))         # older layout
                      if p.stem.removeprefix("part-") in ingested], first, last)]
    lo, hi = str(first.astype("datetime64[M]")), str(last.astype("datetime64[M]"))
    for month_dir in sorted(folder.glob("month=*")):
        month = month_dir.name.removeprefix("month=")
        parts = [p for p in sorted(month_dir.glob("part-*.parquet"))
                 if p.stem.removeprefix("part-") in ingested]
        if month in (lo, hi):            # the window starts or ends inside this month
            frames.append(_count(parts, first, last))
            continue
        cached = store.dataset_dir / "months" / "counts" / f"shard={shard:02d}" / f"{month}.parquet"
        # a file read again with other settings keeps its name: its order of ingestion changes
        names = [f"{p.name}:{ingested[p.stem.removeprefix('part-')]}" for p in parts]
        if cached.exists() and (metadata(cached) or {}).get("identity") == names:
            counts = pd.read_parquet(cached).set_index("meter_id")
        else:
            counts = _count(parts)
            table = pa.Table.from_pandas(counts.reset_index(), preserve_index=False)
            write_parquet_atomic(table.replace_schema_metadata(
                {"segmentation": json.dumps({"identity": names})}), cached)
        inside = lo < month < hi
        frames.append(pd.DataFrame({"n_in": counts["n_in"] + counts["n_out"] if inside else 0,
                                    "n_out": 0 if inside else counts["n_in"] + counts["n_out"]},
                                   index=counts.index))
    return pd.concat(frames).groupby(level=0).sum().sort_index()
