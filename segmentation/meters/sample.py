"""Generate household readings: a *realistic* kind (the default) and a *planted* kind.

- ``planted``: every meter has one of six well-separated daily shapes
  (``SHAPES``), one of three magnitudes a decade apart, and a strong or a weak
  winter/summer swing, all recorded by ``planted_truth``: the recovery tests
  check that shapes, bands and seasonal users come back with the right names.
- ``realistic``: what real meters look like. Each home's shape is a blend of a
  dominant archetype with an ordinary average profile and its own timing (so
  shapes overlap), magnitudes are log-normal over a decade and larger for
  electric heating, the seasonal swing varies continuously, and a few odd
  meters are planted: vacant homes (a small flat load), a faulty meter
  stuck on one value, storage heaters. Day-to-day and interval noise is
  larger than in the planted kind.

Either kind can be written for the northern (Europe/London) or southern
(Australia/Sydney) hemisphere: timestamps are naive local time of that zone
and the seasonal cycle peaks in mid-January or mid-July accordingly. The
autumn DST day has its repeated hour twice (summer time first, in file
order) and the spring day lacks one hour. A few meters get short gaps, a
three-day outage, a negative or an implausible reading, or an exact duplicate.

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

SAMPLE_TZ = {"north": "Europe/London", "south": "Australia/Sydney"}
WINTER_PEAK_DAY = {"north": 15, "south": 196}  # day of year of the coldest days
SAMPLE_END = "2024-12-31"  # last local day of generated data (fixed, so runs are reproducible)
BLOCK_ROWS = 4_000_000  # rows per output file
KINDS = ("realistic", "planted")


def _bump(hours: np.ndarray, centre: float, width: float, height: float) -> np.ndarray:
    distance = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))
    return height * np.exp(-0.5 * (distance / width) ** 2)


@dataclass(frozen=True)
class Shape:
    name: str  # the archetype name the pipeline should give this shape
    bumps: tuple[tuple[float, float, float], ...]  # (centre hour, width h, height)
    base: float

    def curve(self, points: int = 48, shift: float = 0.0) -> np.ndarray:
        """Share of daily energy per point of the local day (sums to 1); ``shift`` moves it in hours."""
        hours = (np.arange(points) + 0.5) * 24 / points
        curve = self.base + sum(_bump(hours, c + shift, w, h) for c, w, h in self.bumps)
        return curve / curve.sum()


SHAPES = [
    Shape("Evening Peakers", ((19.0, 1.5, 3.0),), 0.3),
    Shape("Morning Peakers", ((7.5, 1.2, 3.0),), 0.3),
    Shape("Morning & Evening Peakers", ((7.5, 1.0, 2.2), (19.0, 1.5, 2.2)), 0.3),
    Shape("Daytime Users", ((13.0, 2.5, 2.0),), 0.3),
    Shape("Night Users", ((3.0, 1.8, 3.0),), 0.2),
    Shape("Flat/Baseload", ((19.0, 1.5, 0.15),), 1.0),
]
AVERAGE = Shape("average", ((7.5, 1.5, 0.6), (18.5, 2.0, 1.0)), 0.4)
PLANTED_KWH = (3.0, 9.0, 27.0)            # daily kWh of the three planted magnitudes
PLANTED_SWING = (0.08, 0.6)               # winter/summer swing: ratio ~1.2 or ~4
# Realistic kind: how common each dominant shape is (same order as SHAPES).
REALISTIC_MIX = (0.32, 0.10, 0.25, 0.13, 0.10, 0.10)
ODD_KINDS = ("vacant", "stuck")


def _planted_groups(n_meters: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shape, magnitude tier and seasonal flag per meter, crossed so every shape has every tier."""
    i = np.random.default_rng(seed).permutation(n_meters)
    shape, j = i % len(SHAPES), i // len(SHAPES)
    tier = (j + shape) % len(PLANTED_KWH)
    seasonal = j % 3 == 0
    return shape, tier, seasonal


def planted_truth(n_meters: int, seed: int = SEED) -> pd.DataFrame:
    """What was planted in each meter of the planted kind.

    Columns: ``meter_id, shape (expected segment name), group (shape index),
    kwh_tier (0 low .. 2 high), seasonal (bool)``.
    """
    shape, tier, seasonal = _planted_groups(n_meters, seed)
    return pd.DataFrame({"meter_id": meter_ids(n_meters),
                         "shape": [SHAPES[g].name for g in shape], "group": shape,
                         "kwh_tier": tier, "seasonal": seasonal})


def meter_ids(n_meters: int) -> list[str]:
    return [f"MTR{i:05d}" for i in range(n_meters)]


def local_grid(days: int, freq_minutes: int, tz: str = SAMPLE_TZ["north"],
               end: str = SAMPLE_END) -> pd.DatetimeIndex:
    """The UTC interval starts covering ``days`` local days ending on ``end``, in local time."""
    last = pd.Timestamp(end)
    start = pd.Timestamp(last - pd.Timedelta(days=days - 1)).tz_localize(tz)
    stop = pd.Timestamp(last + pd.Timedelta(days=1)).tz_localize(tz)
    utc = pd.date_range(start.tz_convert("UTC"), stop.tz_convert("UTC"),
                        freq=f"{freq_minutes}min", inclusive="left")
    return utc.tz_convert(tz)


@dataclass(frozen=True)
class MeterPlan:
    """Per-meter generation parameters (row i = meter i)."""

    shapes: np.ndarray     # meters x points, weekday shape (sums to 1)
    daily_kwh: np.ndarray  # mean kWh per day
    swing: np.ndarray      # seasonal amplitude: daily kWh x (1 + swing x cos(season))
    stuck: np.ndarray      # faulty meter: the same value every interval
    day_noise: float       # sigma of the log-normal day-to-day factor
    interval_noise: float  # shape of the gamma interval noise (smaller: noisier)


def plan_meters(kind: str, n_meters: int, points: int, seed: int = SEED) -> MeterPlan:
    """Shapes, magnitudes and seasonal swings of every meter (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "planted":
        shape, tier, seasonal = _planted_groups(n_meters, seed)
        rng = np.random.default_rng(seed + 1)
        return MeterPlan(
            shapes=np.stack([s.curve(points) for s in SHAPES])[shape],
            daily_kwh=np.array(PLANTED_KWH)[tier] * rng.lognormal(0.0, 0.12, n_meters),
            swing=np.array(PLANTED_SWING)[seasonal.astype(int)],
            stuck=np.zeros(n_meters, dtype=bool), day_noise=0.15, interval_noise=4.0)
    truth = realistic_truth(n_meters, seed)
    rng = np.random.default_rng(seed + 1)
    dominant = truth["group"].to_numpy()
    weight = rng.uniform(0.25, 0.7, n_meters)
    second = rng.choice(len(SHAPES), size=n_meters, p=REALISTIC_MIX)
    second_weight = rng.uniform(0.0, 0.3, n_meters)
    shift = rng.normal(0.0, 1.0, n_meters)
    shapes = np.stack([w * SHAPES[d].curve(points, t) + v * SHAPES[e].curve(points, t)
                       + (1 - w - v) * AVERAGE.curve(points, t)
                       for d, w, e, v, t in zip(dominant, weight, second, second_weight, shift)])
    heating = truth["shape"].eq("Night Users").to_numpy()
    daily = rng.lognormal(np.log(8.0), 0.55, n_meters) * np.where(heating, 1.8, 1.0)
    swing = np.where(heating, rng.uniform(0.35, 0.7, n_meters), 0.5 * rng.beta(2, 5, n_meters))
    odd = truth["odd"].to_numpy()
    vacant = odd == "vacant"
    shapes[vacant] = 1.0 / points
    daily[vacant] = rng.uniform(0.6, 1.2, vacant.sum())
    swing[vacant] = 0.0
    return MeterPlan(shapes=shapes, daily_kwh=daily, swing=swing, stuck=odd == "stuck",
                     day_noise=0.3, interval_noise=2.0)


def realistic_truth(n_meters: int, seed: int = SEED) -> pd.DataFrame:
    """Dominant shape and odd kind (vacant, stuck or empty) of each meter of the realistic kind."""
    rng = np.random.default_rng(seed)
    group = rng.choice(len(SHAPES), size=n_meters, p=REALISTIC_MIX)
    odd = np.full(n_meters, "", dtype=object)
    n_vacant = max(1, n_meters // 60)
    picks = rng.permutation(n_meters)
    odd[picks[:n_vacant]] = "vacant"
    if n_meters >= 20:
        odd[picks[n_vacant]] = "stuck"
    return pd.DataFrame({"meter_id": meter_ids(n_meters), "group": group,
                         "shape": [SHAPES[g].name for g in group], "odd": odd})


def _block_kwh(plan: MeterPlan, block: slice, local: pd.DatetimeIndex, freq_minutes: int,
               hemisphere: str, rng: np.random.Generator) -> np.ndarray:
    """kWh per (meter, interval) for the meters of ``block``."""
    points = 1440 // freq_minutes
    slot = ((local.hour * 60 + local.minute) // freq_minutes).to_numpy()
    day_codes, day_index = np.unique(local.normalize().tz_localize(None), return_inverse=True)
    day_of_year = np.asarray(pd.DatetimeIndex(day_codes).dayofyear)
    weekend = np.asarray(pd.DatetimeIndex(day_codes).dayofweek >= 5)
    shapes = plan.shapes[block]
    n, n_days = len(shapes), len(day_codes)
    weekend_shape = shapes * 0.85 + SHAPES[3].curve(points)[None, :] * 0.15  # more daytime use
    season = np.cos(2 * np.pi * (day_of_year - WINTER_PEAK_DAY[hemisphere]) / 365.25)
    daily = plan.daily_kwh[block, None] * (1 + plan.swing[block, None] * season[None, :])
    daily = daily * np.where(weekend, 1.1, 1.0)[None, :]
    daily = daily * rng.lognormal(0.0, plan.day_noise, (n, n_days))
    share = np.where(weekend[day_index][None, :], weekend_shape[:, slot], shapes[:, slot])
    noise = rng.gamma(plan.interval_noise, 1 / plan.interval_noise, (n, len(local)))
    kwh = daily[:, day_index] * share * noise
    stuck = plan.stuck[block]
    kwh[stuck] = 0.2 * freq_minutes / 30  # a faulty register: one value, day and night
    return np.round(kwh, 3)


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
                        freq_minutes: int = 30, kind: str = "realistic",
                        hemisphere: str = "north", end: str = SAMPLE_END,
                        damage: bool = True) -> list[Path]:
    """Write generated readings as long Parquet files under ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Directory for the files (usually ``<data-root>/raw/meters``).
    n_meters, days : int
        Number of meters and of local days (ending on ``end``, default ``SAMPLE_END``).
    seed : int
        Seed of every random choice: same arguments, same bytes of data.
    freq_minutes : int
        Interval length: 15, 30 or 60.
    kind : str
        ``realistic`` (overlapping shapes, odd meters) or ``planted`` (see ``planted_truth``).
    hemisphere : str
        ``north`` (Europe/London local time) or ``south`` (Australia/Sydney).
    end : str
        Last local day, e.g. the day after a first file's for a nightly increment.
    damage : bool
        Plant gaps, bad values and duplicates (default True).

    Returns
    -------
    list of Path
        The files written, ``meters_sample_<part>.parquet``.
    """
    if freq_minutes not in (15, 30, 60):
        raise ValueError("freq_minutes must be 15, 30 or 60")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if hemisphere not in SAMPLE_TZ:
        raise ValueError(f"hemisphere must be north or south, got {hemisphere!r}")
    local = local_grid(days, freq_minutes, SAMPLE_TZ[hemisphere], end)
    naive = local.tz_localize(None).to_numpy().astype("datetime64[us]")
    ids = np.array(meter_ids(n_meters))
    plan = plan_meters(kind, n_meters, 1440 // freq_minutes, seed)
    per_block = max(1, BLOCK_ROWS // len(local))
    rng = np.random.default_rng(seed)
    paths = []
    for part, first in enumerate(range(0, n_meters, per_block)):
        block = slice(first, min(first + per_block, n_meters))
        kwh = _block_kwh(plan, block, local, freq_minutes, hemisphere, rng)
        keep = np.ones(kwh.shape, dtype=bool)
        duplicates = _damage(kwh, keep, rng, 1440 // freq_minutes) if damage else []
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
