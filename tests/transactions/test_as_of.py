"""As-of semantics: a run for D sees only lines dated on or before D, so the whole log and
the log cut at D give identical segments, profiles and quarantine (honest history)."""

from datetime import date

import pandas as pd
import pytest

from segmentation.transactions import features, ingest
from segmentation.transactions.config import resolve_transaction_config
from segmentation.transactions.pipeline import segment_transactions
from segmentation.transactions.sample import write_log

END, AS_OF = date(2024, 6, 30), date(2024, 3, 31)


def run_as_of(path, work, run_date=AS_OF):
    """The run's pure steps: stage, split as of ``run_date``, features, segments."""
    staged = ingest.stage_lines(path, work / "staged.parquet")
    config = resolve_transaction_config(staged["header"])
    split = ingest.split_lines(str(work / "staged.parquet"), config, run_date, work, str(path))
    features.customer_features(split.lines, run_date, work / "features.parquet")
    result, _ = segment_transactions(pd.read_parquet(work / "features.parquet"), k=4)
    quarantine = pd.read_parquet(split.quarantine)
    return result, quarantine, split.counts


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("as-of")
    whole = write_log(root / "whole.csv", n_customers=150, end=END, seed=11)
    text = whole.read_text().splitlines()
    kept = [text[0]] + [line for line in text[1:] if line.split(",")[4][:10] <= str(AS_OF)]
    assert 1 < len(kept) < len(text)                 # the cut drops lines, and keeps some
    cut = root / "cut.csv"
    cut.write_text("\n".join(kept) + "\n")
    return root, whole, cut


def test_the_whole_log_and_the_log_cut_at_the_date_give_the_same_outputs(logs):
    root, whole, cut = logs
    (root / "w").mkdir(), (root / "c").mkdir()
    a, qa, ca = run_as_of(whole, root / "w")
    b, qb, cb = run_as_of(cut, root / "c")
    pd.testing.assert_frame_equal(a.segments, b.segments)
    pd.testing.assert_frame_equal(a.profiles, b.profiles)
    pd.testing.assert_frame_equal(qa, qb)
    assert ca["excluded_by_reason"].pop("dated after the run date") > 0
    assert "dated after the run date" not in cb["excluded_by_reason"]
    assert {k: v for k, v in ca.items() if k != "lines_staged"} == \
        {k: v for k, v in cb.items() if k != "lines_staged"}
    assert pd.to_datetime(a.segments["last_purchase"]).max() <= pd.Timestamp(AS_OF)


def test_a_saved_model_places_the_run_s_customers_where_the_run_put_them(logs, tmp_path):
    from segmentation.artifact import ModelArtifact
    from segmentation.customers.pipeline import assign_rows
    from segmentation.transactions.features import CLUSTER_FEATURES
    from segmentation.transactions.pipeline import model_artifact

    root, whole, _ = logs
    result, _, _ = run_as_of(whole, tmp_path)
    saved = model_artifact(result, dataset="shop", run_date=AS_OF).save(tmp_path / "model.json")
    model = ModelArtifact.load(saved, kind="transactions", features=list(CLUSTER_FEATURES))
    assert model.space["floors"] == {"monetary": 0.0}
    placed = assign_rows(pd.read_parquet(tmp_path / "features.parquet"), model)
    assert placed["segment_id"].tolist() == result.segments["segment_id"].tolist()
    assert placed["segment_name"].tolist() == result.segments["segment_name"].tolist()
    assert placed["distance_to_centroid"].tolist() == result.segments["distance_to_centroid"].tolist()
    # far from every segment, or clipped: the model says so again; a floor's reason ("would
    # form a segment of ...") belongs to the fit, not to one member
    run_reason = result.segments["atypical_reason"].fillna("")
    again = run_reason.str.contains("far from every segment|clipped for clustering")
    assert again.any()
    assert placed["is_atypical"].tolist() == again.tolist()
