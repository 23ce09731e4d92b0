"""Cleaning policies as pure functions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.meters.clean import coarsen, interpolate_short_gaps, make_window, meter_reason


def test_interpolation_fills_gaps_up_to_the_limit_only():
    row = np.arange(20, dtype=float)
    row[2:6] = np.nan      # 4 cells: filled with limit 4
    row[8:13] = np.nan     # 5 cells: left missing
    row[18:] = np.nan      # trailing: left missing
    filled, interpolated, missing = interpolate_short_gaps(row[None, :], 4)
    assert np.allclose(filled[0, 2:6], [2, 3, 4, 5])
    assert np.isnan(filled[0, 8:13]).all() and np.isnan(filled[0, 18:]).all()
    assert interpolated.tolist() == [4] and missing.tolist() == [7]


def test_meter_reasons():
    assert meter_reason(1, False, 0, 10, 0.6) == "only 1 reading in the window"
    assert meter_reason(500, True, 10, 10, 0.6) == "all readings are zero"
    assert meter_reason(500, False, 5, 10, 0.6).startswith("too little data: 5 of 10 days")
    assert meter_reason(500, False, 6, 10, 0.6) is None


def test_window_is_clipped_to_the_data_span_and_local_days():
    first = pd.Timestamp("2018-10-28 23:00", tz="UTC")   # 2018-10-29 00:00 CET
    last = pd.Timestamp("2018-12-16 22:45", tz="UTC")    # 23:45 CET
    window = make_window(first, last, 365, 15, "Europe/Zurich")
    assert window.n_days == 49 and window.start == first
    assert window.end == pd.Timestamp("2018-12-16 23:00", tz="UTC")


def test_coarsen_sums_runs_of_cells_and_keeps_all_missing_runs_missing():
    values = np.array([[1.0, 2.0, np.nan, 4.0, np.nan, np.nan, 5.0, 6.0]])
    assert np.array_equal(coarsen(values, 2), [[3.0, 4.0, np.nan, 11.0]], equal_nan=True)
    assert np.array_equal(coarsen(values, 4), [[7.0, 11.0]])
    assert coarsen(values, 1) is values
