"""Small promises of shared modules, each tested alone (found by `make mutate` on threads,
settings and contract): the manifest's thread counts, the scheduled day, the predictions
contract."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pyarrow as pa

from segmentation import contract, settings, threads
from tests.test_contract import DOC, doc_tables, expected_columns, mismatches


def test_the_thread_count_of_a_library_kind_is_its_largest_pool(monkeypatch):
    pools = [{"user_api": "blas", "num_threads": 4}, {"user_api": "blas", "num_threads": 2},
             {"user_api": "openmp", "num_threads": 3}]
    monkeypatch.setattr(threads, "threadpool_info", lambda: pools)
    assert threads.threads_in_use() == {"blas": 4, "openmp": 3}


def test_the_scheduled_day_is_london_s_not_the_machine_s(monkeypatch):
    class LateEveningUtc(datetime):
        """23:30 UTC on 30 June: already 1 July in London (BST)."""
        @classmethod
        def now(cls, tz=None):
            instant = datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc)
            return instant.astimezone(tz) if tz else instant.replace(tzinfo=None)

    monkeypatch.setattr(settings, "datetime", LateEveningUtc)
    assert settings.london_today() == date(2026, 7, 1)


def test_the_predictions_schema_is_the_page_s():
    for kind, id_column in contract.ID_COLUMNS.items():
        schema = contract.predictions_schema(id_column, [0, 3])
        assert mismatches(expected_columns(doc_tables(DOC.read_text()), "predictions.parquet",
                                           kind), schema) == []
        assert schema.names[-3:] == ["p_segment_0", "p_segment_3", "run_date"]
        assert schema.field("p_segment_3").type == pa.float64()
