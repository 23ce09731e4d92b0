"""bench/mutation_summary.py, which `make mutate` ends with: counts per module (one module
with MODULE=), and exit status 1 while any survivor is neither killed nor explained."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "mutation_summary.py"
RESULTS = """\
    segmentation.locks.x_run_lock__mutmut_1: killed
    segmentation.locks.x_run_lock__mutmut_2: survived
    segmentation.locks.x__flock__mutmut_3: no tests
    segmentation.locks.x__flock__mutmut_4: timeout
    segmentation.catalog.x_load_catalog__mutmut_1: survived
    segmentation.catalog.x_load_catalog__mutmut_2: killed
not a result line
"""


@pytest.fixture
def summary():
    if not SCRIPT.exists():
        pytest.skip("bench/ is not copied into mutmut's mutants/ folder")
    spec = importlib.util.spec_from_file_location("mutation_summary", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_counts_per_module_and_only_the_module_asked_for(summary):
    per_module, survivors = summary.summarise(RESULTS)
    assert dict(per_module["segmentation.locks"]) == {"killed": 1, "survived": 1, "no tests": 1,
                                                      "timeout": 1}
    assert dict(per_module["segmentation.catalog"]) == {"killed": 1, "survived": 1}
    assert survivors == ["segmentation.locks.x_run_lock__mutmut_2: survived",
                         "segmentation.catalog.x_load_catalog__mutmut_1: survived"]
    per_module, survivors = summary.summarise(RESULTS, "segmentation.catalog")
    assert list(per_module) == ["segmentation.catalog"]
    assert survivors == ["segmentation.catalog.x_load_catalog__mutmut_1: survived"]


def run(summary, monkeypatch, tmp_path, explanations: str, *module: str) -> int:
    results = tmp_path / "mutants.txt"
    results.write_text(RESULTS)
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "mutation.md").write_text(explanations)
    monkeypatch.setattr(summary, "EXPLAINED", tmp_path / "docs" / "mutation.md")
    monkeypatch.setattr(sys, "argv", ["mutation_summary.py", str(results), *module])
    return summary.main()


def test_an_unexplained_survivor_fails_and_is_listed(summary, monkeypatch, tmp_path, capsys):
    explained = "- `segmentation.locks.x_run_lock__mutmut_2`: cannot matter.\n"
    assert run(summary, monkeypatch, tmp_path, explained) == 1
    out = capsys.readouterr().out
    assert "| segmentation.locks | 4 | 1 | 1 | 1 | 1 |" in out
    assert "| all | 6 | 2 | 2 | 1 | 1 |" in out
    assert "2 survivors, 1 explained in docs/mutation.md" in out
    assert "unexplained: segmentation.catalog.x_load_catalog__mutmut_1" in out
    assert "unexplained: segmentation.locks" not in out


def test_all_survivors_explained_or_another_module_asked_for_passes(summary, monkeypatch,
                                                                   tmp_path, capsys):
    explained = "- `segmentation.locks.x_run_lock__mutmut_2`: cannot matter.\n"
    assert run(summary, monkeypatch, tmp_path, explained, "segmentation.locks") == 0
    out = capsys.readouterr().out
    assert "segmentation.catalog" not in out and "1 survivors, 1 explained" in out
    both = explained + "- `segmentation.catalog.x_load_catalog__mutmut_1`, and why.\n"
    assert run(summary, monkeypatch, tmp_path, both) == 0
    assert "unexplained" not in capsys.readouterr().out
    assert run(summary, monkeypatch, tmp_path, "segmentation.locks.x_run_lock__mutmut_2 "
                                               "named without backquotes\n") == 1
