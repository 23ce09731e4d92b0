"""Which column plays which part (``segmentation/transactions/config.py``): options before
known names, the most specific name first, one column per role, the policies carried."""

import pytest

from segmentation.errors import InputError
from segmentation.transactions.config import NON_PRODUCT_CODES, resolve_transaction_config


def test_options_and_names_are_recorded_and_described_in_role_order():
    header = ["when", "Country", "Client Ref", "total", "StockCode"]
    config = resolve_transaction_config(header, given={"timestamp": "when",
                                                       "customer": "client_ref",
                                                       "order": None})
    assert list(config.columns) == ["customer", "timestamp", "amount", "product", "country"]
    assert config.found == {"customer": "option", "timestamp": "option", "amount": "by name",
                            "product": "by name", "country": "by name"}
    assert config.describe() == ("customer: 'Client Ref'; timestamp: 'when'; amount: 'total'; "
                                 "product: 'StockCode'; country: 'Country'")


def test_the_policies_are_carried_as_given_or_by_default():
    header = ["customer_id", "date", "amount"]
    default = resolve_transaction_config(header)
    assert (default.cancel_prefix, default.non_product, default.max_quantity,
            default.window_days, default.timezone) == ("C", NON_PRODUCT_CODES, 10000.0, None,
                                                       "Europe/London")
    given = resolve_transaction_config(header, cancel_prefix="R", non_product=["FEE", "POST"],
                                       max_quantity=50, window_days=90, timezone="UTC")
    assert (given.cancel_prefix, given.non_product, given.max_quantity, given.window_days,
            given.timezone) == ("R", ("FEE", "POST"), 50.0, 90, "UTC")
    assert type(given.max_quantity) is float
    assert resolve_transaction_config(header, non_product=[]).non_product == ()


def test_the_most_specific_known_name_wins_and_the_first_of_two_spellings():
    header = ["date", "Customer ID", "customer_id", "InvoiceDate", "sales"]
    config = resolve_transaction_config(header)
    assert config.column("timestamp") == "InvoiceDate"        # before the generic "date"
    assert config.column("customer") == "Customer ID"         # the leftmost of one name


def test_a_column_named_by_an_option_is_not_found_again_for_another_role():
    config = resolve_transaction_config(["customer_id", "date", "amount", "sku"],
                                        given={"order": "sku"})
    assert config.column("order") == "sku" and config.column("product") is None


def test_an_option_matches_the_column_as_written_before_its_snake_case_form():
    header = ["client_ref", "Client Ref", "date", "amount"]
    assert resolve_transaction_config(header, given={"customer": "Client Ref"}
                                      ).column("customer") == "Client Ref"
    assert resolve_transaction_config(header, given={"customer": "CLIENT REF"}
                                      ).column("customer") == "client_ref"


def test_an_amount_named_by_option_stays_the_value_beside_a_price_option():
    header = ["customer_id", "date", "quantity", "unit_price", "total"]
    config = resolve_transaction_config(header, given={"amount": "total", "price": "unit_price"})
    assert config.value_from == "amount" and config.column("price") is None
    assert "price" not in config.found
    chosen = resolve_transaction_config(header, given={"price": "unit_price"})
    assert "amount" not in chosen.found and chosen.found["price"] == "option"


def test_an_unknown_role_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown column roles \\['colour'\\]"):
        resolve_transaction_config(["customer_id", "date", "amount"], given={"colour": "x"})


def test_a_refusal_names_the_file_the_missing_roles_only_and_the_header():
    with pytest.raises(InputError) as err:
        resolve_transaction_config(["qty", "unit_price"], file="log.csv")
    assert str(err.value) == ("file 'log.csv': cannot tell which column holds what: pass "
                              "--customer-column and --timestamp-column; the columns are: "
                              "qty, unit_price")
