"""Small and degenerate inputs through the CLI: every one ends with exit 0 (segments) or exit 2
(one paragraph saying why), never exit 1, never a traceback.

A pilot of 20 meters or a branch with a dozen customers is an ordinary input. The sweep
covers every regime of the k rule: too few to form two segments (1-9), two segments only
(10-14), fewer than k_min segments (meters: 20 allow at most 4 of at least 5), and enough;
plus identical rows, a constant column, duplicated rows, NaN readings and a date in 2099.
The pure k rule is swept over every size 1-30 in ``tests/test_kselect.py``.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmentation.cli import main

HEADER = "CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)\n"
RUN_DATE = "2026-11-20"


def customer_rows(n: int, seed: int = 0) -> str:
    """n Mall-like customers: two income/score groups so that k-means has something to find."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(1, n + 1):
        rich = i % 2
        lines.append(f"{i},{'Male' if i % 3 else 'Female'},{rng.integers(18, 70)},"
                     f"{rng.integers(90, 130) if rich else rng.integers(15, 40)},"
                     f"{rng.integers(60, 99) if rich else rng.integers(1, 40)}\n")
    return "".join(lines)


def run(capfd, *arguments: str) -> tuple[int, str]:
    """Run the CLI in-process; the exit code and everything printed to stdout and stderr,
    Prefect's log lines included (its console handlers are pointed at this test's stderr:
    they keep the stream they were created with, which an earlier test's capture closed)."""
    handlers = [h for logger in [logging.getLogger(), *map(logging.getLogger,
                                                         list(logging.root.manager.loggerDict))]
                for h in getattr(logger, "handlers", [])
                if type(h).__name__ == "PrefectConsoleHandler"]
    for handler in handlers:
        handler.stream = handler.console.file = sys.stderr
    try:
        code = main(list(arguments))
    finally:
        for handler in handlers:
            handler.stream = handler.console.file = sys.__stderr__
    out, err = capfd.readouterr()
    run.stdout = out
    return code, out + err


def assert_clean_ending(code: int, output: str, paragraph: str | None = None) -> None:
    assert code in (0, 2), output
    assert "Traceback" not in output and "ValueError" not in output, output
    if code == 2:
        said = output.split("segment: error: ")[-1].strip().splitlines()[0]
        assert output.count(said) == 1, output          # said once, not by every engine log
        if paragraph:
            assert paragraph in said, said


def customers(tmp_path: Path, capfd, text: str, *extra: str) -> tuple[int, str]:
    path = tmp_path / "table.csv"
    path.write_text(text)
    return run(capfd, "run", "customers", "--input", str(path), "--run-date", RUN_DATE,
               "--data-root", str(tmp_path / "data"), "--outputs-root", str(tmp_path / "out"),
               *extra)


@pytest.mark.parametrize("n", [1, 9, 10, 30])
def test_tiny_customer_tables(prefect_harness, tmp_path, capfd, n):
    code, output = customers(tmp_path, capfd, HEADER + customer_rows(n))
    assert_clean_ending(code, output)
    if n < 10:      # two segments of at least 5 need 10 customers
        assert code == 2 and (f"only {n} row" in output or f"{n} customers" in output), output
    else:
        assert code == 0, output


@pytest.mark.parametrize("case", ["identical", "constant column", "duplicated rows"])
def test_degenerate_customer_tables(prefect_harness, tmp_path, capfd, case):
    if case == "identical":           # 200 customers, all with the same feature values
        text = HEADER + "".join(f"{i},Male,30,50,50\n" for i in range(1, 201))
        code, output = customers(tmp_path, capfd, text)
        assert_clean_ending(code, output, "all 200 customers have the same values of the "
                                          "features: there are no segments to find")
        assert code == 2
        return
    if case == "constant column":     # every income the same: the score alone separates
        text = HEADER + "".join(f"{i},Male,30,50,{10 if i % 2 else 90}\n" for i in range(1, 41))
    else:                             # three distinct customers, each repeated (other ids)
        rows = customer_rows(3)
        text = HEADER + "".join(f"{i}," + rows.splitlines()[i % 3].split(",", 1)[1] + "\n"
                                for i in range(1, 31))
    code, output = customers(tmp_path, capfd, text)
    assert_clean_ending(code, output)
    assert code == 0, output


def meter_csv(path: Path, n_meters: int, days: int = 30, *, nan_every: int = 0,
              far_future: bool = False) -> Path:
    """Hourly long-format readings: a morning or an evening peak per meter, a little noise."""
    rng = np.random.default_rng(n_meters)
    stamps = pd.date_range("2026-09-01", periods=days * 24, freq="h")
    frames = []
    for m in range(n_meters):
        hour = stamps.hour.to_numpy()
        peak = 8 if m % 2 else 19
        kwh = 0.2 + np.exp(-0.5 * ((hour - peak) / 1.5) ** 2) + rng.uniform(0, 0.1, len(stamps))
        text = np.char.mod("%.3f", kwh).astype(object)
        if nan_every:
            text[::nan_every] = "-nan"
        frames.append(pd.DataFrame({"meter_id": f"M{m:03d}", "timestamp":
                                    stamps.strftime("%Y-%m-%d %H:%M:%S"), "kwh": text}))
    table = pd.concat(frames)
    if far_future:
        table.iloc[5, 1] = "2099-01-01 05:00:00"
    table.to_csv(path, index=False)
    return path


def meters(tmp_path: Path, capfd, path: Path, *extra: str) -> tuple[int, str]:
    return run(capfd, "run", "meters", "--input", str(path), "--run-date", RUN_DATE,
               "--data-root", str(tmp_path / "data"), "--outputs-root", str(tmp_path / "out"),
               *extra)


@pytest.mark.slow
@pytest.mark.parametrize("n", [4])
def test_tiny_meter_files(prefect_harness, tmp_path, capfd, n):       # 20 meters: below
    code, output = meters(tmp_path, capfd, meter_csv(tmp_path / "m.csv", n))
    assert_clean_ending(code, output)
    assert code == 2 and f"{n} meters cannot form 2 segments of at least 5" in output, output


@pytest.mark.slow
@pytest.mark.parametrize("case", ["nan readings and a reading in 2099", "identical"])
def test_odd_twenty_meter_files(prefect_harness, tmp_path, capfd, case):
    path = tmp_path / "m.csv"
    if case == "identical":
        meter_csv(path, 1)
        one = pd.read_csv(path, dtype=str)
        pd.concat([one.assign(meter_id=f"M{m:03d}") for m in range(20)]).to_csv(path, index=False)
    else:
        meter_csv(path, 20, nan_every=97, far_future=True)
    code, output = meters(tmp_path, capfd, path, "--json")
    assert_clean_ending(code, output)
    if case == "identical":
        assert code == 2 and "all 20 meters have the same values of the features" in output
        return
    assert code == 0, output
    result = json.loads(run.stdout)
    manifest = json.loads(Path(result["published"]["manifest"]).read_text())
    assert manifest["k"]["chosen"] <= 4
    reasons = manifest["rows"]["readings_quarantined_by_reason"]       # no reading lost
    assert reasons["kwh missing or not a number"] == len(range(0, 30 * 24, 97)) * 20
    assert reasons["implausible timestamp (before 1990 or after next month)"] == 1
    assert manifest["rows"]["reconciles"]
    assert manifest["k"]["rule"].startswith("20 meters allow at most 4 segments of at least 5")
