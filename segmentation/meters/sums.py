"""What a span of days contributes to each meter's features, in a form that adds up.

``span_sums`` turns a span's interval matrix (meters x cells, after short-gap
interpolation) into ``MeterSums``: counts, sums, extremes, the per-point and
per-calendar-month energy of complete days, and the lowest interval values.
``combine`` adds spans (a window = its months): sums add, extremes take the
extreme, the spread of daily totals merges exactly (Chan et al.'s pairwise
update), so features computed from the combined sums equal those computed
from the whole window at once (``features.features_from_sums``).

The 10th percentile of interval kWh (base load) is the one statistic that
does not add up. Each span keeps its lowest ``ceil(tail_share x n) + 2``
values; the window's percentile is exact when both order statistics it
needs lie below every span's cut (the largest value it kept), and
``low_percentile`` says for which meters it is not and which value each span
must reach (then those spans are read again keeping every value of those
meters: ``pipeline``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import sparse

TAIL_SHARE = 1 / 3     # lowest share of a span's interval values kept for the percentile
BASE_LOAD_PERCENTILE = 10


@dataclass(frozen=True)
class Calendar:
    """Local-time position of every cell of a span of whole local days."""

    day: np.ndarray          # cell -> local day index
    point: np.ndarray        # cell -> profile point
    weekend_day: np.ndarray  # day -> Saturday/Sunday
    month_day: np.ndarray    # day -> month 1..12
    points: int

    @property
    def n_days(self) -> int:
        return len(self.weekend_day)


@dataclass
class MeterSums:
    """Per meter (rows in ``meter_id`` order): what a span of days contributes.

    ``n_readings``/``interpolated``: grid cells with a reading / filled by interpolation;
    ``raw_max``/``raw_min``: extremes of the readings (NaN: none); ``complete_days``,
    ``weekend_days`` (complete ones); ``points*``: energy per profile point over complete
    days, all, Monday-Friday and weekend; ``daily_*``: sum and squared deviations (about
    the span's mean) of complete days' totals, weekday and weekend sums; ``cell_*``: sum,
    count and maximum of the intervals of complete days; ``month_sum``/``month_days``:
    complete days' energy and count per calendar month (12 columns); ``low``: the lowest
    interval values of complete days, sorted, and ``low_cut``: the largest value kept when
    some were left out (+inf when all were kept); ``superseded_*``: readings replaced by a
    later file's (exact / conflicting duplicates).
    """

    meter_id: np.ndarray
    n_readings: np.ndarray
    interpolated: np.ndarray
    raw_max: np.ndarray
    raw_min: np.ndarray
    complete_days: np.ndarray
    weekend_days: np.ndarray
    points: np.ndarray
    points_weekday: np.ndarray
    points_weekend: np.ndarray
    daily_sum: np.ndarray
    daily_m2: np.ndarray
    weekday_daily_sum: np.ndarray
    weekend_daily_sum: np.ndarray
    cell_sum: np.ndarray
    cell_count: np.ndarray
    cell_max: np.ndarray
    month_sum: np.ndarray
    month_days: np.ndarray
    low: np.ndarray          # object array of sorted float arrays
    low_cut: np.ndarray
    superseded_exact: np.ndarray
    superseded_conflicting: np.ndarray

    def __len__(self) -> int:
        return len(self.meter_id)

    def take(self, rows) -> "MeterSums":
        """The rows ``rows`` (mask or indices) only."""
        return replace(self, **{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @classmethod
    def empty(cls, points: int) -> "MeterSums":
        return zeros(np.empty(0, object), points)


def zeros(meters: np.ndarray, points: int) -> MeterSums:
    """Sums of meters that have nothing in a span (the neutral element of ``combine``)."""
    m = len(meters)

    def z():                      # a new array per field: reindex writes into them
        return np.zeros(m)

    def zi():
        return np.zeros(m, np.int64)

    return MeterSums(meter_id=np.asarray(meters, object), n_readings=zi(), interpolated=zi(),
                     raw_max=np.full(m, np.nan), raw_min=np.full(m, np.nan), complete_days=zi(),
                     weekend_days=zi(), points=np.zeros((m, points)),
                     points_weekday=np.zeros((m, points)), points_weekend=np.zeros((m, points)),
                     daily_sum=z(), daily_m2=z(), weekday_daily_sum=z(), weekend_daily_sum=z(),
                     cell_sum=z(), cell_count=zi(), cell_max=np.full(m, np.nan),
                     month_sum=np.zeros((m, 12)), month_days=np.zeros((m, 12), np.int64),
                     low=_objects([np.empty(0)] * m), low_cut=np.full(m, np.inf),
                     superseded_exact=zi(), superseded_conflicting=zi())


def _objects(items: list) -> np.ndarray:
    out = np.empty(len(items), object)
    out[:] = items
    return out


def indicator(index: np.ndarray, n: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(len(index)), (np.arange(len(index)), index)),
                             shape=(len(index), n))


def times(dense: np.ndarray, matrix: sparse.csr_matrix) -> np.ndarray:
    """dense (m x cells) @ matrix (cells x n), keeping the sparse matrix on the left."""
    return np.asarray((matrix.T @ dense.T).T)


def complete_days(values: np.ndarray, cal: Calendar) -> np.ndarray:
    """meters x days: True where every interval of the local day has a value."""
    missing = times(np.isnan(values).astype(float), indicator(cal.day, cal.n_days))
    return missing == 0


def span_sums(meters: np.ndarray, raw: np.ndarray, filled: np.ndarray, cal: Calendar,
              tail_share: float | None = TAIL_SHARE, superseded: tuple | None = None,
              keep_all: np.ndarray | None = None) -> MeterSums:
    """A span's sums from its matrices (meters x cells).

    Parameters
    ----------
    raw, filled : ndarray
        kWh per cell before and after short-gap interpolation; NaN = missing.
    cal : Calendar
        The span's cells in local time (whole local days).
    tail_share : float or None
        Share of the complete days' interval values kept for the percentile (None: all).
    superseded : (ndarray, ndarray) or None
        Readings superseded per meter, exact and conflicting.
    keep_all : ndarray of bool or None
        Meters whose every complete-day value is kept, whatever ``tail_share``.
    """
    m = len(meters)
    complete = complete_days(filled, cal)
    values = np.nan_to_num(filled)
    daily = np.where(complete, times(values, indicator(cal.day, cal.n_days)), np.nan)
    in_complete = complete[:, cal.day]
    used = np.where(in_complete, values, 0.0)
    weekend_cell = cal.weekend_day[cal.day]
    by_point = indicator(cal.point, cal.points)
    n_complete = complete.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # meters without readings: NaN
        mean = np.nansum(daily, axis=1) / n_complete
        raw_max, raw_min = np.nanmax(raw, axis=1), np.nanmin(raw, axis=1)
        cell_max = np.nanmax(np.where(in_complete, filled, np.nan), axis=1)
    in_month = cal.month_day[None, :] == np.arange(1, 13)[:, None]        # 12 x days
    low, cut = _lowest(np.where(in_complete, filled, np.inf), in_complete.sum(axis=1), tail_share,
                       keep_all)
    exact, conflicting = superseded if superseded is not None else (np.zeros(m, np.int64),) * 2
    return MeterSums(
        meter_id=np.asarray(meters, object),
        n_readings=(~np.isnan(raw)).sum(axis=1),
        interpolated=(np.isnan(raw) & ~np.isnan(filled)).sum(axis=1),
        raw_max=raw_max, raw_min=raw_min,
        complete_days=n_complete,
        weekend_days=(complete & cal.weekend_day).sum(axis=1),
        points=times(used, by_point),
        points_weekday=times(used * ~weekend_cell, by_point),
        points_weekend=times(used * weekend_cell, by_point),
        daily_sum=np.nansum(daily, axis=1),
        daily_m2=np.nansum((daily - mean[:, None]) ** 2, axis=1),
        weekday_daily_sum=np.nansum(np.where(~cal.weekend_day, daily, np.nan), axis=1),
        weekend_daily_sum=np.nansum(np.where(cal.weekend_day, daily, np.nan), axis=1),
        cell_sum=used.sum(axis=1), cell_count=in_complete.sum(axis=1), cell_max=cell_max,
        month_sum=np.nan_to_num(daily) @ in_month.T,
        month_days=complete.astype(np.int64) @ in_month.T,
        low=low, low_cut=cut,
        superseded_exact=np.asarray(exact, np.int64),
        superseded_conflicting=np.asarray(conflicting, np.int64))


def _lowest(values: np.ndarray, counts: np.ndarray, tail_share: float | None,
            keep_all: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row the lowest ``keep`` values (sorted) of ``values`` (+inf = not a value)."""
    keep = counts if tail_share is None else np.minimum(
        counts, np.ceil(counts * tail_share).astype(np.int64) + 2)
    if keep_all is not None:
        keep = np.where(keep_all, counts, keep)
    width = int(keep.max()) if len(keep) else 0
    if width and width < values.shape[1]:
        part = np.sort(np.partition(values, width - 1, axis=1)[:, :width], axis=1)
    else:
        part = np.sort(values, axis=1)[:, :width]
    low = _objects([row[:k].copy() for row, k in zip(part, keep)])
    cut = np.where(keep < counts, part[np.arange(len(keep)), np.maximum(keep - 1, 0)]
                   if width else np.inf, np.inf)
    return low, cut


def reindex(sums: MeterSums, meters: np.ndarray, points: int) -> MeterSums:
    """The sums on the meter list ``meters`` (sorted): zeros for meters not in ``sums``."""
    out = zeros(meters, points)
    if not len(sums):
        return out
    at = np.searchsorted(meters, sums.meter_id)
    if not (at < len(meters)).all() or not (meters[np.minimum(at, len(meters) - 1)]
                                            == sums.meter_id).all():
        raise ValueError("reindex: a meter of the sums is not in the meter list")
    for f in fields(sums):
        if f.name != "meter_id":
            getattr(out, f.name)[at] = getattr(sums, f.name)
    return out


def combine(spans: list[MeterSums], meters: np.ndarray, points: int) -> MeterSums:
    """The sums of several spans of days on the meter list ``meters`` (sorted ids)."""
    total = zeros(meters, points)
    for span in spans:
        total = _add(total, reindex(span, meters, points))
    return total


def _add(a: MeterSums, b: MeterSums) -> MeterSums:
    n = a.complete_days + b.complete_days
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = b.daily_sum / np.maximum(b.complete_days, 1) - a.daily_sum / np.maximum(
            a.complete_days, 1)
        spread = np.where((a.complete_days > 0) & (b.complete_days > 0),
                          delta ** 2 * a.complete_days * b.complete_days / np.maximum(n, 1), 0.0)
    summed = {f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(a)
              if f.name not in ("meter_id", "raw_max", "raw_min", "cell_max", "low", "low_cut",
                                "daily_m2")}
    return MeterSums(meter_id=a.meter_id, **summed,
                     raw_max=np.fmax(a.raw_max, b.raw_max), raw_min=np.fmin(a.raw_min, b.raw_min),
                     cell_max=np.fmax(a.cell_max, b.cell_max),
                     daily_m2=a.daily_m2 + b.daily_m2 + spread,
                     low=_objects([np.concatenate([x, y]) for x, y in zip(a.low, b.low)]),
                     low_cut=np.minimum(a.low_cut, b.low_cut))


def low_percentile(sums: MeterSums, q: float = BASE_LOAD_PERCENTILE
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``q``-th percentile of each meter's complete-day intervals (numpy's linear rule)
    from the kept lowest values (NaN for meters without complete days).

    Returns
    -------
    value, exact, needed : ndarray
        The percentile; whether it is exact (False: a span left out values that may rank
        below it); the value every span's kept values must reach for it to be (+inf when
        fewer values were kept than the rank needs).
    """
    out = np.full(len(sums), np.nan)
    needed = np.full(len(sums), -np.inf)
    for i, (low, n) in enumerate(zip(sums.low, sums.cell_count)):
        if n == 0:
            continue
        rank = (n - 1) * (q / 100)
        lo, hi = int(np.floor(rank)), int(np.ceil(rank))
        if hi >= len(low):
            needed[i] = np.inf
            continue
        ordered = np.partition(low, hi) if hi < len(low) - 1 else np.sort(low)
        a, b = np.partition(ordered[:hi + 1], lo)[lo], ordered[hi]
        needed[i] = b
        t = rank - lo
        out[i] = a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)   # numpy's _lerp
    exact = needed <= sums.low_cut
    return np.where(exact, out, np.nan), exact, needed
