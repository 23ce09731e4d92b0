"""The dataset catalog: declared once, checked before anything runs, every entry run nightly."""

from __future__ import annotations

import pytest

from segmentation.catalog import catalog_entry, load_catalog
from segmentation.errors import InputError

GOOD = """
datasets:
  shop:
    kind: customers
    input: raw/shop/members.csv
    id_column: Member ID
    features: [tenure_months, basket_eur]
    categorical: [region]
    transform: log
  grid-uk:
    kind: meters
    input: raw/uk/
    timezone: Europe/London
    kwh_bands: [8, 15]
    k_min: 4
"""


def catalog(tmp_path, text):
    path = tmp_path / "segmentation.yaml"
    path.write_text(text)
    return path


def test_entries_become_flow_parameters(tmp_path):
    entries = load_catalog(catalog(tmp_path, GOOD))
    assert set(entries) == {"shop", "grid-uk"}
    data = tmp_path / "data"
    (data / "raw" / "shop").mkdir(parents=True)
    (data / "raw" / "shop" / "members.csv").write_text("x")
    (data / "raw" / "uk").mkdir()
    for name in ("b.csv", "a.csv", ".hidden"):
        (data / "raw" / "uk" / name).write_text("x")
    shop = entries["shop"].flow_parameters(data)
    assert shop == {"dataset": "shop", "input_path": str(data / "raw/shop/members.csv"),
                    "id_column": "Member ID", "features": ["tenure_months", "basket_eur"],
                    "categorical": ["region"], "transform": "log"}
    uk = entries["grid-uk"].flow_parameters(data)
    assert uk["inputs"] == [str(data / "raw/uk/a.csv"), str(data / "raw/uk/b.csv")]
    assert uk["kwh_bands"] == [8.0, 15.0] and uk["k_min"] == 4 and uk["dataset"] == "grid-uk"


@pytest.mark.parametrize("text, expected", [
    ("datasets:\n  shop:\n    kind: shops\n", "dataset 'shop', key 'kind': 'shops' is not one of"),
    ("datasets:\n  shop:\n    kind: customers\n    featurez: [a]\n", "dataset 'shop', key 'featurez'"),
    ("datasets:\n  m:\n    kind: meters\n    window_days: 0\n", "dataset 'm', key 'window_days'"),
    ("datasets:\n  m:\n    kind: meters\n    k_max: 99\n", "dataset 'm', key 'k_max'"),
    ("datasets:\n  m:\n    kind: meters\n    shape: weekly\n", "dataset 'm', key 'shape'"),
    ("datasets:\n  My Shop:\n    kind: customers\n", "dataset name 'My Shop'"),
    ("datasets: [a, b]\n", "needs a 'datasets:' mapping"),
    ("datasets:\n  a: [\n", "not valid YAML"),
])
def test_a_wrong_entry_is_refused_naming_file_dataset_and_key(tmp_path, text, expected):
    path = catalog(tmp_path, text)
    with pytest.raises(InputError, match=expected.replace("[", r"\[").replace("(", r"\(")) as err:
        load_catalog(path)
    assert str(path) in str(err.value)


def test_one_entry_by_name_or_an_error_naming_the_catalog_and_the_known_names(tmp_path):
    path = catalog(tmp_path, GOOD)
    assert catalog_entry("shop", path) == load_catalog(path)["shop"]
    with pytest.raises(InputError, match=rf"^file '{path}': no dataset 'nope' in the catalog "
                                         r"\(known: shop, grid-uk\)$"):
        catalog_entry("nope", path)


def test_no_catalog_is_an_empty_one(tmp_path):
    assert load_catalog(tmp_path / "absent.yaml") == {}


def test_an_input_that_matches_nothing_is_named(tmp_path):
    entries = load_catalog(catalog(tmp_path, GOOD))
    with pytest.raises(InputError, match="input 'raw/shop/members.csv' matches no file"):
        entries["shop"].flow_parameters(tmp_path / "data")


def test_the_shipped_catalog_is_valid_and_covers_the_sample_data():
    from segmentation.catalog import catalog_path

    entries = load_catalog(catalog_path())
    assert {e.kind for e in entries.values()} == {"customers", "meters", "transactions"}


def test_a_purchase_log_in_another_layout_is_declared_by_its_columns(tmp_path):
    """customer, date, units, dollars and no order id: the entry's keys reach the flow's
    parameters, which the flow accepts as they are."""
    from flows.transactions import transaction_flow

    path = tmp_path / "segmentation.yaml"
    path.write_text("datasets:\n  shop:\n    kind: transactions\n    input: raw/shop/log.csv\n"
                    "    customer_column: customer\n    timestamp_column: date\n"
                    "    amount_column: dollars\n    quantity_column: units\n"
                    "    window_days: 365\n")
    (tmp_path / "data" / "raw" / "shop").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "shop" / "log.csv").write_text("customer,date,units,dollars\n")
    parameters = load_catalog(path)["shop"].flow_parameters(tmp_path / "data")
    assert parameters == {"dataset": "shop", "customer_column": "customer",
                          "timestamp_column": "date", "amount_column": "dollars",
                          "quantity_column": "units", "window_days": 365,
                          "input_path": str(tmp_path / "data" / "raw" / "shop" / "log.csv")}
    validated = transaction_flow.validate_parameters(parameters)
    assert {key: validated[key] for key in parameters} == parameters


def test_a_purchase_log_entry_with_a_setting_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "segmentation.yaml"
    path.write_text("datasets:\n  shop:\n    kind: transactions\n    kwh_bands: [1, 2]\n")
    with pytest.raises(InputError, match="key 'kwh_bands': not a transactions setting"):
        load_catalog(path)


def test_an_attribute_table_is_a_path_under_the_data_root_for_every_kind(tmp_path):
    entries = load_catalog(catalog(tmp_path, """
datasets:
  shop:
    kind: customers
    attributes: raw/shop/regions.csv
    attributes_id: Member ID
  grid:
    kind: meters
    attributes: /srv/homes.parquet
"""))
    data = tmp_path / "data"
    assert entries["shop"].flow_parameters(data) == {
        "dataset": "shop", "attributes_path": str(data / "raw/shop/regions.csv"),
        "attributes_id": "Member ID"}
    assert entries["grid"].flow_parameters(data)["attributes_path"] == "/srv/homes.parquet"
