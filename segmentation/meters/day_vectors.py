"""Readings into day vectors: one row per (meter, local day) holding that day's interval values.

A day vector has ``slots_per_day(resolution)`` positions, 25 hours' worth
(the autumn DST day is 25 hours long, the spring one 23): position ``s`` holds
the reading whose UTC instant is the day's local midnight (in UTC) plus
``s`` x resolution, NaN where there is none. So a vector keeps exact instants
through DST changes, and a window's UTC grid is built by placing each vector
at its day's offset (``DayCalendar``).

``DayBlock`` fills vectors batch by batch in numpy for a bounded number of
open meters (a file sorted by meter, the usual case, opens each meter once;
an unsorted file flushes partial vectors, which the read side merges). Two
readings for the same meter and instant within a file are resolved here by
the duplicate policy, the later row wins, and the losers are returned for
quarantine with their rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_US = 86_400_000_000
MINUTE_US = 60_000_000


def slots_per_day(resolution: int) -> int:
    """Positions of a day vector: 25 hours at ``resolution`` minutes."""
    return 25 * 60 // resolution


@dataclass(frozen=True)
class DayCalendar:
    """Local days ``first_day`` .. ``first_day + n_days - 1`` of a time zone and their midnights in UTC."""

    first_day: pd.Timestamp      # naive local date
    start_us: np.ndarray         # UTC microseconds of each day's local midnight
    next_us: np.ndarray          # ... and of the following midnight
    timezone: str

    @classmethod
    def spanning(cls, first_day, last_day, timezone: str) -> "DayCalendar":
        days = pd.date_range(pd.Timestamp(first_day).normalize(),
                             pd.Timestamp(last_day).normalize() + pd.Timedelta(days=1), freq="D")
        # A zone whose clocks skip midnight itself starts that day at the first valid instant;
        # one whose midnight comes twice (back from 01:00 to 00:00) at the first midnight, so
        # that every reading of the local day has a place at or after the day's start.
        starts = days.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
        micros = np.asarray((starts.tz_convert("UTC") - pd.Timestamp(0, tz="UTC"))
                            // pd.Timedelta(1, "us"), dtype=np.int64)
        return cls(first_day=days[0], start_us=micros[:-1], next_us=micros[1:], timezone=timezone)

    @property
    def n_days(self) -> int:
        return len(self.start_us)

    @property
    def first_day_number(self) -> int:
        """Days since 1970-01-01 of ``first_day``."""
        return int((self.first_day - pd.Timestamp(0)) // pd.Timedelta(days=1))

    def day_of(self, local_us: np.ndarray) -> np.ndarray:
        """Index of the local day of each naive local time (microseconds)."""
        return local_us // DAY_US - self.first_day_number

    def day_lengths(self, resolution: int) -> np.ndarray:
        """Intervals in each day: 46, 48 or 50 at 30 minutes around DST changes."""
        return (self.next_us - self.start_us) // (resolution * MINUTE_US)

    def dates(self) -> np.ndarray:
        """The local dates, as ``datetime64[D]``."""
        return (self.first_day + pd.to_timedelta(np.arange(self.n_days), unit="D")).to_numpy(
            "datetime64[D]")


@dataclass
class FlushedDays:
    """Day vectors of flushed meters: row i is meter ``meters[i]`` on day ``days[i]``."""

    meters: np.ndarray   # meter codes
    days: np.ndarray     # day indices of the calendar
    values: np.ndarray   # rows x slots, NaN where no reading
    n_readings: np.ndarray


class DayBlock:
    """Open day vectors of up to ``capacity`` meters over ``n_days`` days, filled in place.

    Memory is ``capacity x n_days x slots`` x 13 bytes (values, source rows,
    counts), whatever the size of the file.
    """

    def __init__(self, n_days: int, slots: int, capacity: int):
        self.n_days, self.slots, self.capacity = n_days, slots, capacity
        shape = (capacity, n_days, slots)
        self.values = np.full(shape, np.nan)
        self.rows = np.zeros(shape, dtype=np.int64)
        self.filled = np.zeros(shape, dtype=bool)
        self.position: dict[int, int] = {}
        self._stamp = np.zeros(capacity * n_days * slots, dtype=np.int64)  # dup detection scratch

    def add(self, meters: np.ndarray, days: np.ndarray, slots: np.ndarray, kwh: np.ndarray,
            source_rows: np.ndarray) -> tuple[list[FlushedDays], pd.DataFrame]:
        """Place a batch of readings; returns vectors flushed to make room and duplicate losers.

        The losers frame has ``meter, day, slot, kwh, source_row, winner_kwh``.
        """
        if not len(meters):
            return [], _no_losers()
        flushed, losers = [], []
        # The first row of each run of one meter: files sorted by meter have a few runs per
        # batch, so np.unique sorts a handful of values instead of the whole batch.
        runs = np.r_[True, meters[1:] != meters[:-1]]
        distinct = np.unique(meters[runs])
        for chunk in np.array_split(distinct, -(-len(distinct) // self.capacity)):
            keep = np.isin(meters, chunk) if len(chunk) < len(distinct) else slice(None)
            flushed += self._make_room(chunk)
            losers.append(self._place(meters[keep], days[keep], slots[keep], kwh[keep],
                                      source_rows[keep]))
        return flushed, pd.concat(losers, ignore_index=True)

    def flush_all(self) -> list[FlushedDays]:
        return [self._flush(list(self.position))] if self.position else []

    # ------------------------------------------------------------ internals

    def _make_room(self, chunk: np.ndarray) -> list[FlushedDays]:
        new = [int(m) for m in chunk if int(m) not in self.position]
        free = self.capacity - len(self.position)
        flushed = []
        if len(new) > free:
            # Flush every meter this chunk does not touch: few, large writes (a sorted file
            # never sees them again; an unsorted one merges the partial vectors when read).
            current = set(int(m) for m in chunk)
            flushed.append(self._flush([m for m in self.position if m not in current]))
        used = set(self.position.values())
        spare = iter(p for p in range(self.capacity) if p not in used)
        for meter in new:
            self.position[meter] = next(spare)
        return flushed

    def _place(self, meters, days, slots, kwh, source_rows) -> pd.DataFrame:
        where = _lookup(self.position, meters)
        flat = (where * self.n_days + days) * self.slots + slots
        values, rows, filled = self.values.reshape(-1), self.rows.reshape(-1), self.filled.reshape(-1)
        order = np.arange(len(flat))
        self._stamp[flat] = order
        repeated = self._stamp[flat] != order           # a second row for the same cell
        clash = filled[flat]
        if repeated.any():
            clash |= np.isin(flat, flat[repeated])
        if not clash.any():   # the usual batch: plain scatters, no masked copies
            values[flat], rows[flat], filled[flat] = kwh, source_rows, True
            return _no_losers()
        ok = ~clash
        values[flat[ok]], rows[flat[ok]], filled[flat[ok]] = kwh[ok], source_rows[ok], True
        return self._resolve(flat[clash], meters[clash], days[clash], slots[clash], kwh[clash],
                             source_rows[clash])

    def _resolve(self, flat, meters, days, slots, kwh, source_rows) -> pd.DataFrame:
        """The duplicate policy on clashing cells: the later row wins."""
        values, rows, filled = self.values.reshape(-1), self.rows.reshape(-1), self.filled.reshape(-1)
        incoming = pd.DataFrame({"cell": flat, "meter": meters, "day": days, "slot": slots,
                                 "kwh": kwh, "source_row": source_rows})
        cells = np.unique(flat)
        held = cells[filled[cells]]
        stored = incoming.drop_duplicates("cell").set_index("cell").loc[held].reset_index()
        stored = stored.assign(kwh=values[held], source_row=rows[held])
        allrows = pd.concat([stored, incoming], ignore_index=True)
        allrows = allrows.sort_values(["cell", "source_row"], kind="stable")
        winners = allrows.drop_duplicates("cell", keep="last").set_index("cell")
        values[winners.index.to_numpy()] = winners["kwh"].to_numpy()
        rows[winners.index.to_numpy()] = winners["source_row"].to_numpy()
        filled[winners.index.to_numpy()] = True
        lost = allrows[allrows.duplicated("cell", keep="last")]
        lost = lost.assign(winner_kwh=winners["kwh"].reindex(lost["cell"]).to_numpy())
        return lost[["meter", "day", "slot", "kwh", "source_row", "winner_kwh"]]

    def _flush(self, meters: list[int]) -> FlushedDays:
        """Close ``meters``, never none: ``flush_all`` calls it only while a meter is open, and
        ``_make_room`` only when the chunk's new meters do not fit, so (a chunk fits the block)
        some open meter is outside the chunk."""
        parts = []
        for meter in meters:
            p = self.position.pop(meter)
            have = self.filled[p].any(axis=1)
            days = np.flatnonzero(have)
            parts.append((np.full(len(days), meter), days, self.values[p, days].copy(),
                          self.filled[p, days].sum(axis=1)))
            self.values[p], self.filled[p], self.rows[p] = np.nan, False, 0
        return FlushedDays(*(np.concatenate(x) for x in zip(*parts)))


def _lookup(position: dict[int, int], meters: np.ndarray) -> np.ndarray:
    """Block position of each row's meter, looked up once per run of equal meters (a
    non-empty batch: ``DayBlock.add`` answers an empty one itself)."""
    starts = np.flatnonzero(np.r_[True, meters[1:] != meters[:-1]])
    lengths = np.diff(np.r_[starts, len(meters)])
    return np.repeat(np.fromiter((position[int(m)] for m in meters[starts]), np.int64, len(starts)),
                     lengths)


def _no_losers() -> pd.DataFrame:
    return pd.DataFrame({"meter": np.empty(0, np.int64), "day": np.empty(0, np.int64),
                         "slot": np.empty(0, np.int64), "kwh": np.empty(0),
                         "source_row": np.empty(0, np.int64), "winner_kwh": np.empty(0)})
