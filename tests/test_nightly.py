"""The nightly flow runs every dataset of the catalog; one failing does not stop the others."""

from __future__ import annotations

import io
import json

import pytest

from segmentation.cli import main

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_one_failing_dataset_does_not_stop_the_others(tmp_path, monkeypatch, sample_customers_csv):
    data = tmp_path / "data"
    (data / "raw").mkdir(parents=True)
    good = data / "raw" / "good.csv"
    good.write_bytes(sample_customers_csv.read_bytes())
    (data / "raw" / "bad.csv").write_text("CustomerID,Gender\n1,Male\n")   # no feature columns
    catalog = tmp_path / "segmentation.yaml"
    catalog.write_text("datasets:\n"
                       "  bad:\n    kind: customers\n    input: raw/bad.csv\n"
                       "  good:\n    kind: customers\n    input: raw/good.csv\n    k: 4\n"
                       "  gone:\n    kind: customers\n    input: raw/missing.csv\n")
    monkeypatch.setenv("SEGMENT_CATALOG", str(catalog))
    err = io.StringIO()
    code = main(["run", "nightly", "--run-date", "2026-11-02", "--data-root", str(data),
                 "--outputs-root", str(tmp_path / "outputs")], stdout=io.StringIO(), stderr=err)
    message = err.getvalue()
    assert code == 2 and "bad, gone failed (1 of 3 completed)" in message
    assert "expect_column_to_exist" in message and "matches no file" in message
    manifest = json.loads((tmp_path / "outputs" / "good" / "2026-11-02" / "manifest.json").read_text())
    assert manifest["k"]["chosen"] == 4
    assert not (data / "processed" / "bad").exists()
    out = io.StringIO()
    assert main(["run", "dataset", "good", "--run-date", "2026-11-03", "--data-root", str(data),
                 "--outputs-root", str(tmp_path / "outputs"), "--json"], stdout=out) == 0
    assert json.loads(out.getvalue())["k"] == 4
    assert main(["run", "dataset", "nope", "--data-root", str(data)], stderr=(err := io.StringIO())) == 2
    assert (f"file '{catalog}': no dataset 'nope' in the catalog (known: bad, good, gone)"
            in err.getvalue())
