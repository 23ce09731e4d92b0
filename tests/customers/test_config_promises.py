"""Which column plays which part (docs/customers.md "Any table"): names as in the file or in
snake_case, the id found or the line number instead, every numeric column but the id when
no features are named, the Mall roles on exact names only."""

from __future__ import annotations

import pandas as pd
import pytest

from segmentation.customers.config import (CustomerConfig, numeric_columns, resolve_config,
                                           select_columns, with_line_ids)
from segmentation.errors import InputError

MALL = ["customer_id", "gender", "age", "annual_income_k", "spending_score"]


def test_the_mall_table_needs_no_options():
    config = resolve_config(MALL + ["source_row"])
    assert config == CustomerConfig("customer_id", ("annual_income_k", "spending_score"), (),
                                    {"age": "age", "income": "annual_income_k",
                                     "spending": "spending_score", "gender": "gender"})
    assert not config.id_from_line and not config.all_numeric and config.features_note == ""
    assert config.numeric == ["annual_income_k", "spending_score", "age"]
    assert config.suite_columns() == {
        "id": "customer_id", "required": ["customer_id", "annual_income_k", "spending_score"],
        "numeric": ["annual_income_k", "spending_score", "age"], "age": "age",
        "income": "annual_income_k", "spending": "spending_score", "gender": "gender"}


def test_names_may_be_given_as_in_the_file_and_every_policy_is_kept():
    config = resolve_config(["member_id", "tenure_months", "basket_eur", "region"],
                            id_column="Member ID", features=["Tenure Months", "basket (EUR)"],
                            categorical=["Region"], missing="impute", outliers="winsorize",
                            transform="none", cluster_categorical=True)
    assert (config.id_column, config.features, config.categorical) == (
        "member_id", ("tenure_months", "basket_eur"), ("region",))
    assert (config.missing, config.outliers, config.transform, config.cluster_categorical) == (
        "impute", "winsorize", "none", True)
    assert config.suite_columns()["required"] == ["member_id", "tenure_months", "basket_eur",
                                                  "region"]


@pytest.mark.parametrize("columns, expected", [
    (["visits", "id", "member_id"], "id"),
    (["visits", "member_id", "shop_id"], "member_id"),
    (["visits", "shop_id", "customer_id"], "customer_id"),
])
def test_the_id_is_customer_id_else_a_column_called_id_or_ending_in_id(columns, expected):
    config = resolve_config(columns, features=["visits"])
    assert config.id_column == expected and not config.id_from_line


def test_a_table_without_an_id_column_numbers_its_lines():
    config = resolve_config(["fresh", "milk", "identity"], features=["fresh", "milk"])
    assert config.id_from_line and config.id_column == "customer_id"
    rows = pd.DataFrame({"fresh": ["1", "2"], "milk": ["3", "4"], "source_row": [2, 5]})
    ided = with_line_ids(rows, config)
    assert ided["customer_id"].tolist() == ["2", "5"] and ided["customer_id"].dtype == object
    assert with_line_ids(rows, resolve_config(MALL)) is rows


def test_every_numeric_column_but_the_id_gender_and_categoricals_is_clustered():
    columns = ["member_id", "gender", "sex_code", "region", "visits", "notes", "basket"]
    config = resolve_config(columns, categorical=["Region"],
                            numeric=["member_id", "gender", "region", "visits", "basket"])
    assert config.features == ("visits", "basket") and config.all_numeric
    assert config.not_numeric == ("sex_code", "notes")
    assert config.features_note == ("clustered on every numeric column but the id (2): visits, "
                                    "basket; not numeric, left out: sex_code, notes")
    only = resolve_config(["member_id", "visits"], numeric=["visits"])
    assert only.features_note == "clustered on every numeric column but the id (1): visits"


def test_no_numeric_column_to_cluster_is_refused_naming_the_text_columns():
    with pytest.raises(InputError) as refused:
        resolve_config(["member_id", "region", "notes"], numeric=["member_id"], file="m.csv")
    assert str(refused.value) == ("file 'm.csv': no numeric column to cluster on (every column "
                                  "but the id holds text: region, notes); name the features with "
                                  "--features")


@pytest.mark.parametrize("features, categorical", [(["Member ID", "visits"], None),
                                                   (["visits"], ["member_id"])])
def test_the_id_column_cannot_also_be_clustered(features, categorical):
    with pytest.raises(InputError) as refused:
        resolve_config(["member_id", "visits"], features=features, categorical=categorical,
                       file="m.csv")
    assert str(refused.value) == (
        "file 'm.csv', column 'member_id': 'member_id' is the id column; it cannot also be "
        "clustered on (drop it from --features/--categorical or pass another --id-column)")


def test_line_ids_leave_a_feature_called_customer_id_alone():
    config = resolve_config(["visits", "customer_id"], id_column=None, features=["visits"])
    assert config.id_column == "customer_id" and not config.id_from_line


@pytest.mark.parametrize("columns, roles", [
    (["customer_id", "income", "age"], {"income": "income", "age": "age"}),
    (["customer_id", "income_k"], {"income": "income_k"}),
    (["customer_id", "annual_income"], {"income": "annual_income"}),
    (["customer_id", "age_band", "my_age", "incomes", "spending_scores"], {}),
])
def test_roles_need_the_exact_names(columns, roles):
    assert resolve_config(columns, features=[columns[1]]).roles == roles


def test_a_role_column_that_is_the_id_plays_no_role():
    assert resolve_config(["age", "visits"], id_column="age", features=["visits"]).roles == {}


def test_only_the_columns_the_run_uses_are_kept():
    rows = pd.DataFrame({"customer_id": ["1"], "loyalty": ["x"], "age": ["3"], "gender": ["M"],
                         "annual_income_k": ["5"], "spending_score": ["6"], "source_row": [2]})
    kept = select_columns(rows, resolve_config(list(rows.columns)))
    assert list(kept.columns) == ["customer_id", "annual_income_k", "spending_score", "age",
                                  "gender", "source_row"]
    partial = select_columns(rows.drop(columns=["spending_score"]),
                             resolve_config(list(rows.columns)))
    assert "spending_score" not in partial.columns


def test_numeric_means_at_least_90_percent_of_the_given_values_are_numbers(tmp_path):
    values = {"ninety": [str(i) for i in range(9)] + ["x"],
              "eighty": [str(i) for i in range(8)] + ["x", "y"],
              'odd "name"': ["1"] * 10,
              "sparse": [None] * 9 + ["4"],
              "empty": [None] * 10}
    path = tmp_path / "rows.parquet"
    pd.DataFrame(values).to_parquet(path)
    assert numeric_columns(str(path), list(values)) == ["ninety", 'odd "name"', "sparse"]
    assert numeric_columns(str(path), list(values), min_share=0.8) == [
        "ninety", "eighty", 'odd "name"', "sparse"]
    assert numeric_columns(str(path), []) == []


def test_a_table_with_the_mall_s_id_or_a_mall_feature_is_mall_like():
    from segmentation.customers.config import all_numeric

    assert not all_numeric(None, ["CustomerID", "visits"])
    assert not all_numeric(None, ["member", "Spending Score (1-100)"])
    assert all_numeric(None, ["member_id", "visits"])
    config = resolve_config(["customer_id", "visits"], numeric=["visits"])
    assert config.features == ("annual_income_k", "spending_score") and not config.all_numeric
