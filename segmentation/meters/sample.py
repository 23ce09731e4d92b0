"""Generate realistic household readings with planted load-profile archetypes.

Each meter belongs to one of eight planted groups (``ARCHETYPES``), each with a
daily shape (energy share per half hour of local time), a magnitude (mean
kWh per day) and a seasonal amplitude. Readings get a weekend effect, a
seasonal cycle, day-to-day and interval noise. Timestamps are written as
naive local time (Europe/London), so the autumn DST day has its repeated
hour twice (summer time first, in file order) and the spring day lacks one
hour. A few meters get short gaps, a three-day outage, a negative or an
implausible reading, or an exact duplicate row.

Output is long Parquet ``meter_id, timestamp, kwh``, written block by block
of meters so memory stays bounded at any scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segmentation.settings import SEED

SAMPLE_TZ = "Europe/London"
SAMPLE_END = "2024-12-31"  # last local day of generated data (fixed, so runs are reproducible)
BLOCK_ROWS = 4_000_000  # rows per output file


def _bump(hours: np.ndarray, centre: float, width: float, height: float) -> np.ndarray:
    distance = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))
    return height * np.exp(-0.5 * (distance / width) ** 2)


@dataclass(frozen=True)
class Archetype:
    name: str
    expected_name: str  # the segment name the pipeline should give this group
    daily_kwh: float
    seasonal_amplitude: float  # winter/summer swing of daily energy
    bumps: tuple[tuple[float, float, float], ...]  # (centre hour, width h, height)
    base: float

    def shape(self, points: int = 48) -> np.ndarray:
        """Share of daily energy per point of the local day (sums to 1)."""
        hours = (np.arange(points) + 0.5) * 24 / points
        curve = self.base + sum(_bump(hours, *b) for b in self.bumps)
        return curve / curve.sum()


_AVERAGE = ((7.5, 1.5, 0.6), (18.5, 2.0, 1.0))
ARCHETYPES = [
    Archetype("evening_peak", "Evening Peakers", 9.0, 0.12, ((19.0, 1.5, 3.0),), 0.3),
    Archetype("morning_evening", "Morning Peakers", 8.0, 0.12,
              ((7.5, 1.0, 2.6), (19.0, 1.5, 1.2)), 0.3),
    Archetype("daytime", "Daytime Users", 10.0, 0.12, ((13.0, 2.5, 2.0),), 0.3),
    Archetype("night_storage", "Night Users", 13.0, 0.25, ((3.0, 1.8, 3.0),), 0.2),
    Archetype("flat_baseload", "Flat/Baseload", 7.0, 0.05, ((19.0, 1.5, 0.15),), 1.0),
    Archetype("seasonal_heating", "Seasonal Users", 10.0, 0.75, _AVERAGE, 0.4),
    Archetype("high_use", "High Energy Users", 30.0, 0.12, _AVERAGE, 0.4),
    Archetype("low_use", "Low Energy Users", 2.5, 0.12, _AVERAGE, 0.4),
]


def meter_ids(n_meters: int) -> list[str]:
    return [f"MTR{i:05d}" for i in range(n_meters)]


def planted_archetypes(n_meters: int, seed: int = SEED) -> pd.DataFrame:
    """The planted group of every generated meter: ``meter_id, archetype, expected_name``."""
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.arange(n_meters) % len(ARCHETYPES))
    return pd.DataFrame({
        "meter_id": meter_ids(n_meters),
        "archetype": [ARCHETYPES[g].name for g in groups],
        "expected_name": [ARCHETYPES[g].expected_name for g in groups],
        "group": groups,
    })


def local_grid(days: int, freq_minutes: int, tz: str = SAMPLE_TZ,
               end: str = SAMPLE_END) -> pd.DatetimeIndex:
    """The UTC interval starts covering ``days`` local days ending on ``end``, in local time."""
    last = pd.Timestamp(end)
    start = pd.Timestamp(last - pd.Timedelta(days=days - 1)).tz_localize(tz)
    stop = pd.Timestamp(last + pd.Timedelta(days=1)).tz_localize(tz)
    utc = pd.date_range(start.tz_convert("UTC"), stop.tz_convert("UTC"),
                        freq=f"{freq_minutes}min", inclusive="left")
    return utc.tz_convert(tz)


def _block_kwh(groups: np.ndarray, local: pd.DatetimeIndex, freq_minutes: int,
               rng: np.random.Generator) -> np.ndarray:
    """kWh per (meter, interval) for meters of the given planted groups."""
    points = 1440 // freq_minutes
    slot = ((local.hour * 60 + local.minute) // freq_minutes).to_numpy()
    day_codes, day_index = np.unique(local.normalize().tz_localize(None), return_inverse=True)
    day_of_year = np.asarray(pd.DatetimeIndex(day_codes).dayofyear)
    weekend = np.asarray(pd.DatetimeIndex(day_codes).dayofweek >= 5)
    n, n_days = len(groups), len(day_codes)
    shapes = np.stack([a.shape(points) for a in ARCHETYPES])[groups]          # n x points
    weekend_shape = shapes * 0.85 + ARCHETYPES[6].shape(points)[None, :] * 0.15  # more daytime use
    base_kwh = np.array([a.daily_kwh for a in ARCHETYPES])[groups]
    base_kwh = base_kwh * rng.lognormal(0.0, 0.12, n)
    amplitude = np.array([a.seasonal_amplitude for a in ARCHETYPES])[groups]
    season = np.cos(2 * np.pi * (day_of_year - 15) / 365.25)                  # +1 mid-January
    daily = base_kwh[:, None] * (1 + amplitude[:, None] * season[None, :])
    daily = daily * np.where(weekend, 1.1, 1.0)[None, :]
    daily = daily * rng.lognormal(0.0, 0.15, (n, n_days))
    cell_day_weekend = weekend[day_index]
    share = np.where(cell_day_weekend[None, :], weekend_shape[:, slot], shapes[:, slot])
    noise = rng.gamma(4.0, 0.25, (n, len(local)))
    return np.round(daily[:, day_index] * share * noise, 3)


def _damage(kwh: np.ndarray, keep: np.ndarray, rng: np.random.Generator,
            points: int) -> list[tuple[int, int]]:
    """Plant gaps and bad values in place; return (meter, interval) cells to duplicate."""
    n, t = kwh.shape
    for m in rng.choice(n, size=max(1, n // 4), replace=False):
        for start in rng.integers(0, t - 8, 3):
            keep[m, start:start + rng.integers(1, 5)] = False          # short gaps <= 2 h
    for m in rng.choice(n, size=max(1, n // 20), replace=False):
        start = rng.integers(0, t - 3 * points)
        keep[m, start:start + 3 * points] = False                      # a three-day outage
    bad = rng.choice(n, size=max(1, n // 50), replace=False)
    for m in bad:
        cells = rng.integers(0, t, 2)
        kwh[m, cells[0]] = -0.5                                        # negative reading
        kwh[m, cells[1]] = 55.0                                        # implausible reading
    return [(int(m), int(rng.integers(0, t))) for m in bad[:2]]


def write_sample_meters(out_dir: Path, n_meters: int, days: int, seed: int = SEED,
                        freq_minutes: int = 30) -> list[Path]:
    """Write generated readings as long Parquet files under ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Directory for the files (usually ``<data-root>/raw/meters``).
    n_meters, days : int
        Number of meters and of local days (ending on ``SAMPLE_END``).
    seed : int
        Seed of every random choice: same arguments, same bytes of data.
    freq_minutes : int
        Interval length: 15, 30 or 60.

    Returns
    -------
    list of Path
        The files written, ``meters_sample_<part>.parquet``.
    """
    if freq_minutes not in (15, 30, 60):
        raise ValueError("freq_minutes must be 15, 30 or 60")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    local = local_grid(days, freq_minutes)
    naive = local.tz_localize(None).to_numpy().astype("datetime64[us]")
    truth = planted_archetypes(n_meters, seed)
    ids = truth["meter_id"].to_numpy()
    groups = truth["group"].to_numpy()
    per_block = max(1, BLOCK_ROWS // len(local))
    rng = np.random.default_rng(seed)
    paths = []
    for part, first in enumerate(range(0, n_meters, per_block)):
        block = slice(first, min(first + per_block, n_meters))
        kwh = _block_kwh(groups[block], local, freq_minutes, rng)
        keep = np.ones(kwh.shape, dtype=bool)
        duplicates = _damage(kwh, keep, rng, 1440 // freq_minutes)
        rows_m, rows_t = np.nonzero(keep)
        for m, t in duplicates:                      # exact duplicate rows, right after the original
            if keep[m, t]:
                at = np.searchsorted(rows_m * len(local) + rows_t, m * len(local) + t) + 1
                rows_m, rows_t = np.insert(rows_m, at, m), np.insert(rows_t, at, t)
        table = pa.table({
            "meter_id": pa.DictionaryArray.from_arrays(
                pa.array(rows_m.astype(np.int32)), pa.array(ids[block].astype(str))),
            "timestamp": pa.array(naive[rows_t]),
            "kwh": pa.array(kwh[rows_m, rows_t]),
        })
        path = out_dir / f"meters_sample_{part:03d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp, row_group_size=1_000_000)
        tmp.replace(path)
        paths.append(path)
    return paths
