"""Which column plays which part: the Online Retail header by name, any layout by options."""

import pytest

from segmentation.errors import InputError
from segmentation.transactions.config import resolve_transaction_config

ONLINE_RETAIL = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                 "CustomerID", "Country"]


def test_the_online_retail_header_needs_no_option():
    config = resolve_transaction_config(ONLINE_RETAIL)
    assert config.columns == {"customer": "CustomerID", "timestamp": "InvoiceDate",
                              "quantity": "Quantity", "price": "UnitPrice", "order": "InvoiceNo",
                              "product": "StockCode", "country": "Country"}
    assert config.value_from == "quantity x price"


def test_another_layout_by_options_in_snake_case_or_as_written():
    header = ["Client Ref", "day", "units", "dollars"]
    config = resolve_transaction_config(header, given={
        "customer": "client_ref", "timestamp": "day", "amount": "dollars", "quantity": "units"})
    assert config.columns == {"customer": "Client Ref", "timestamp": "day", "amount": "dollars",
                              "quantity": "units"}
    assert config.value_from == "amount" and config.column("order") is None


def test_an_amount_column_is_the_value_unless_a_price_is_chosen():
    header = ["customer_id", "date", "quantity", "unit_price", "total"]
    assert resolve_transaction_config(header).value_from == "amount"
    chosen = resolve_transaction_config(header, given={"price": "unit_price"})
    assert chosen.value_from == "quantity x price" and "amount" not in chosen.columns


def test_a_named_column_missing_from_the_header_is_named_with_the_header():
    with pytest.raises(InputError) as err:
        resolve_transaction_config(ONLINE_RETAIL, file="log.csv", given={"customer": "Client"})
    assert str(err.value) == ("file 'log.csv', column 'Client': no column 'Client' "
                              "(--customer-column) in the header; the columns are: "
                              + ", ".join(ONLINE_RETAIL))


@pytest.mark.parametrize("header, missing", [
    (["when", "amount"], "--customer-column and --timestamp-column"),
    (["customer_id", "date", "quantity"], "--amount-column (or --quantity-column with "
                                          "--price-column)"),
])
def test_a_log_without_a_customer_timestamp_or_value_is_refused(header, missing):
    with pytest.raises(InputError, match="cannot tell which column holds what: pass "
                       + missing.replace("(", r"\(").replace(")", r"\)")):
        resolve_transaction_config(header)
