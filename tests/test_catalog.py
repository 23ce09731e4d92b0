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


def test_an_empty_catalog_knows_no_dataset(tmp_path):
    empty = catalog(tmp_path, "datasets: {}\n")
    with pytest.raises(InputError, match=r"no dataset 'shop' in the catalog \(known: none\)$"):
        catalog_entry("shop", empty)


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


def files_under(data, *names):
    for name in names:
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("x")


def test_a_customer_glob_that_matches_several_tables_is_refused_naming_them(tmp_path):
    path = catalog(tmp_path, "datasets:\n  shop:\n    kind: customers\n"
                             "    input: raw/shop/*.csv\n")
    data = tmp_path / "data"
    files_under(data, "raw/shop/b.csv", "raw/shop/a.csv")
    with pytest.raises(InputError) as refused:
        load_catalog(path)["shop"].flow_parameters(data)
    assert str(refused.value) == ("dataset 'shop': input 'raw/shop/*.csv' is ambiguous: it "
                                  "matches 2 files (raw/shop/a.csv, raw/shop/b.csv); a customer "
                                  "dataset reads one table: name that file")
    (data / "raw/shop/b.csv").unlink()                    # one match: that table
    assert load_catalog(path)["shop"].flow_parameters(data)["input_path"] == \
        str(data / "raw/shop/a.csv")


@pytest.mark.parametrize("count, more", [(5, ""), (6, " and 1 more"), (7, " and 2 more")])
def test_many_matches_are_named_up_to_five_and_counted(tmp_path, count, more):
    data = tmp_path / "data"
    files_under(data, *[f"raw/shop/{n}.csv" for n in range(count)])
    path = catalog(tmp_path, "datasets:\n  shop:\n    kind: customers\n    input: raw/shop/\n")
    with pytest.raises(InputError) as refused:
        load_catalog(path)["shop"].flow_parameters(data)
    assert f"'raw/shop/' is ambiguous: it matches {count} files (raw/shop/0.csv, raw/shop/1.csv, " \
        f"raw/shop/2.csv, raw/shop/3.csv, raw/shop/4.csv{more});" in str(refused.value)


def test_matches_outside_the_data_root_are_named_by_their_full_path(tmp_path):
    files_under(tmp_path, "elsewhere/a.csv", "elsewhere/b.csv")
    pattern = tmp_path / "elsewhere" / "*.csv"
    path = catalog(tmp_path, f"datasets:\n  shop:\n    kind: customers\n    input: {pattern}\n")
    with pytest.raises(InputError) as refused:
        load_catalog(path)["shop"].flow_parameters(tmp_path / "data")
    assert (f"matches 2 files ({tmp_path / 'elsewhere/a.csv'}, {tmp_path / 'elsewhere/b.csv'});"
            in str(refused.value))


def test_a_meter_glob_or_folder_takes_every_file_in_order(tmp_path):
    data = tmp_path / "data"
    files_under(data, "raw/uk/2024/b.csv", "raw/uk/a.csv", "raw/uk/.cache/x.csv", "raw/uk/c.txt")
    path = catalog(tmp_path, "datasets:\n  uk:\n    kind: meters\n    input: raw/uk/*.csv\n"
                             "  all-uk:\n    kind: meters\n    input: raw/uk\n")
    entries = load_catalog(path)
    assert entries["uk"].flow_parameters(data)["inputs"] == [str(data / "raw/uk/a.csv")]
    assert entries["all-uk"].flow_parameters(data)["inputs"] == [
        str(data / "raw/uk/2024/b.csv"), str(data / "raw/uk/a.csv"), str(data / "raw/uk/c.txt")]


def test_an_absolute_input_is_taken_as_it_is(tmp_path):
    table = tmp_path / "elsewhere" / "members.csv"
    files_under(tmp_path, "elsewhere/members.csv")
    path = catalog(tmp_path, f"datasets:\n  shop:\n    kind: customers\n    input: {table}\n")
    assert load_catalog(path)["shop"].flow_parameters(tmp_path / "data")["input_path"] == str(table)


def test_an_entry_without_input_leaves_the_flow_its_default_folder(tmp_path):
    entry = load_catalog(catalog(tmp_path, "datasets:\n  shop:\n    kind: customers\n"
                                           "    missing: impute\n"))["shop"]
    assert entry.inputs(tmp_path) == []
    assert entry.flow_parameters(tmp_path) == {"dataset": "shop", "missing": "impute"}


def test_segment_catalog_names_another_file(tmp_path, monkeypatch):
    from segmentation.catalog import catalog_path

    path = catalog(tmp_path, GOOD)
    monkeypatch.setenv("SEGMENT_CATALOG", str(path))
    assert catalog_path() == path
    assert set(load_catalog()) == {"shop", "grid-uk"}
    assert catalog_entry("shop").kind == "customers"


@pytest.mark.parametrize("text, expected", [
    ("", "the catalog needs a 'datasets:' mapping of dataset names to entries"),
    ("datasets:\n  shop: customers\n", "dataset 'shop': the entry must be a mapping of keys"),
    ("datasets:\n  shop:\n    input: a.csv\n", "dataset 'shop', key 'kind': 'None' is not one of "
                                              "customers, meters, transactions"),
    ("datasets:\n  7shop:\n    kind: customers\n", "dataset name '7shop' must be lower-case "
                                                   "letters, digits, '-' or '_', starting with a "
                                                   "letter"),
    ("datasets:\n  12:\n    kind: customers\n", "dataset name '12' must be"),
    ("datasets:\n  shop:\n    kind: customers\n    timezone: Europe/London\n",
     "dataset 'shop', key 'timezone': not a customers setting (known: algorithm, attributes, "
     "attributes_id, categorical, "
     "cluster_categorical, compare, features, id_column, input, k, k_max, k_min, "
     "max_quarantine_share, min_confidence, min_segment_size, missing, outliers, transform)"),
    ("datasets:\n  m:\n    kind: meters\n    algorithm: dbscan\n",
     "dataset 'm', key 'algorithm': Input should be 'kmeans', 'gmm', 'agglomerative' or "
     "'hdbscan' (got 'dbscan')"),
    ("datasets:\n  m:\n    kind: meters\n    k_min: 0\n",
     "dataset 'm', key 'k_min': Input should be greater than or equal to 2 (got 0)"),
    ("datasets:\n  shop:\n    kind: customers\n    missing: drop\n",
     "dataset 'shop', key 'missing': Input should be 'quarantine' or 'impute' (got 'drop')"),
])
def test_each_wrong_entry_gets_its_own_sentence(tmp_path, text, expected):
    path = catalog(tmp_path, text)
    with pytest.raises(InputError) as refused:
        load_catalog(path)
    assert str(refused.value).startswith(f"file '{path}': {expected}")


def test_a_wrong_value_is_shown_as_given(tmp_path):
    path = catalog(tmp_path, "datasets:\n  m:\n    kind: meters\n    window_days: 0\n")
    with pytest.raises(InputError, match=r"key 'window_days': .* \(got 0\)$"):
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


def test_every_key_of_each_kind_is_accepted_with_its_type(tmp_path):
    entries = load_catalog(catalog(tmp_path, """
datasets:
  shop:
    kind: customers
    k: 4
    k_min: 3
    k_max: 6
    min_segment_size: 2
    max_quarantine_share: 0.2
    id_column: null
    features: [a, b]
    categorical: [c]
    missing: impute
    outliers: winsorize
    transform: none
    cluster_categorical: true
  grid:
    kind: meters
    format: long
    timezone: Europe/Zurich
    hemisphere: south
    window_days: 28
    kwh_bands: [5, 9]
    shape: daily
    max_kwh_per_interval: 40
"""))
    assert entries["shop"].parameters["cluster_categorical"] is True
    assert entries["shop"].parameters["max_quarantine_share"] == 0.2
    assert entries["grid"].parameters["kwh_bands"] == [5.0, 9.0]
    assert entries["grid"].parameters["max_kwh_per_interval"] == 40


def test_the_catalog_is_read_as_utf8_whatever_the_locale(tmp_path, monkeypatch):
    """A feature named 'Größe' must not depend on the machine's locale encoding."""
    import codecs
    from pathlib import Path

    path = catalog(tmp_path, "datasets:\n  shop:\n    kind: customers\n    features: [Größe]\n")
    encodings = []
    read_text = Path.read_text

    def spy(self, encoding=None, errors=None):
        encodings.append(encoding)
        return read_text(self, encoding=encoding, errors=errors)

    monkeypatch.setattr(Path, "read_text", spy)
    assert load_catalog(path)["shop"].parameters["features"] == ["Größe"]
    assert [codecs.lookup(e).name for e in encodings] == ["utf-8"]


def test_a_purchase_log_glob_that_matches_several_files_is_refused(tmp_path):
    path = catalog(tmp_path, "datasets:\n  shop:\n    kind: transactions\n"
                             "    input: raw/shop/*.csv\n")
    data = tmp_path / "data"
    files_under(data, "raw/shop/2024.csv", "raw/shop/2025.csv")
    with pytest.raises(InputError, match=r"matches 2 files \(raw/shop/2024.csv, raw/shop/2025.csv"
                                         r"\); a purchase-log dataset reads one log"):
        load_catalog(path)["shop"].flow_parameters(data)
