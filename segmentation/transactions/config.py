"""Which columns of a purchase log play which part, resolved against the actual header.

A log needs a customer, a timestamp and a line value: an amount column, or a
quantity and a unit price. An order (invoice) id, a product code and a country
are optional. Each role is found by the user's option (the column as in the
file, or its snake_case form), else by a known name (``ALIASES``): the Online
Retail header (``InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
UnitPrice, CustomerID, Country``) needs no option at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from segmentation.errors import InputError


def canonical_name(name: str) -> str:
    """The snake_case form the customer tables use (imported late: it brings pandas)."""
    from segmentation.customers.ingest import canonical_name as canonical

    return canonical(name)

ROLES = ("customer", "timestamp", "amount", "quantity", "price", "order", "product", "country")
# Known column names (snake_case) per role, most specific first.
ALIASES = {
    "customer": ("customer_id", "customerid", "customer", "client_id", "member_id", "user_id",
                 "customer_no", "customer_number", "account_id"),
    "timestamp": ("invoicedate", "invoice_date", "order_date", "transaction_date", "purchase_date",
                  "order_datetime", "created_at", "datetime", "timestamp", "ts", "date"),
    "amount": ("amount", "line_amount", "line_total", "sales", "revenue", "spend", "net_amount",
               "total"),
    "quantity": ("quantity", "qty", "units"),
    "price": ("unitprice", "unit_price", "price"),
    "order": ("invoiceno", "invoice_no", "invoice", "order_id", "order_no", "order_number",
              "transaction_id", "receipt_id"),
    "product": ("stockcode", "stock_code", "product_id", "product_code", "sku", "item_id",
                "product"),
    "country": ("country",),
}
# Non-product lines of the Online Retail log (StockCode): postage and carriage, manual lines,
# discounts, samples, bank charges, marketplace fees, charity commission, bad-debt adjustments.
NON_PRODUCT_CODES = ("POST", "DOT", "C2", "M", "m", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK",
                     "B")
CANCEL_PREFIX = "C"
MAX_QUANTITY = 10_000
NEW_CUSTOMER_DAYS = 30   # first order within this many days of the run date: is_new


@dataclass(frozen=True)
class TransactionConfig:
    """Columns (as in the file) per role, and the cleaning policies.

    ``columns`` maps each role present to its column in the file. The line's
    value is ``amount`` when there is an amount column, else ``quantity x price``.
    """

    columns: dict[str, str]
    cancel_prefix: str = CANCEL_PREFIX
    non_product: tuple[str, ...] = NON_PRODUCT_CODES
    max_quantity: float = MAX_QUANTITY
    window_days: int | None = None
    timezone: str = "Europe/London"
    found: dict[str, str] = field(default_factory=dict)   # role -> how it was found

    @property
    def value_from(self) -> str:
        """``amount`` or ``quantity x price``: where a line's value comes from."""
        return "amount" if "amount" in self.columns else "quantity x price"

    def column(self, role: str) -> str | None:
        return self.columns.get(role)

    def describe(self) -> str:
        """One line for the log and the report: each role and its column."""
        return "; ".join(f"{role}: '{col}'" for role, col in self.columns.items())


def _match(header: list[str], name: str) -> str | None:
    """The header column called ``name``, exactly or in snake_case."""
    if name in header:
        return name
    wanted = canonical_name(name)
    return next((h for h in header if canonical_name(h) == wanted), None)


def resolve_transaction_config(header: list[str], *, file: str | None = None,
                               given: dict[str, str | None] | None = None,
                               cancel_prefix: str = CANCEL_PREFIX,
                               non_product: list[str] | tuple[str, ...] | None = None,
                               max_quantity: float = MAX_QUANTITY, window_days: int | None = None,
                               timezone: str = "Europe/London") -> TransactionConfig:
    """Build a TransactionConfig from the header and the user's column options.

    Parameters
    ----------
    header : list of str
        The file's column names as written.
    given : dict
        Role -> column named by the user (``--customer-column`` ...); None: found by name.

    Raises
    ------
    InputError
        A named column is not in the header, or a required role has no column.
    """
    given = {role: col for role, col in (given or {}).items() if col}
    unknown = [role for role in given if role not in ROLES]
    if unknown:
        raise ValueError(f"unknown column roles {unknown}")
    columns, found = {}, {}
    for role, name in given.items():
        match = _match(header, name)
        if match is None:
            raise InputError(f"no column '{name}' (--{role}-column) in the header; the columns "
                             f"are: {', '.join(header)}", file=file, column=name)
        columns[role], found[role] = match, "option"
    canonical = {canonical_name(h): h for h in reversed(header)}
    taken = set(columns.values())
    for role in ROLES:
        if role in columns:
            continue
        name = next((canonical[a] for a in ALIASES[role] if a in canonical
                     and canonical[a] not in taken), None)
        if name is not None:
            columns[role], found[role] = name, "by name"
            taken.add(name)
    # An amount column is the value, unless the user chose a price (then quantity x price).
    drop = "amount" if "amount" in columns and "price" in given and "amount" not in given \
        else "price" if "amount" in columns else None
    columns.pop(drop, None)
    found.pop(drop, None)
    _require(columns, header, file)
    return TransactionConfig(dict(sorted(columns.items(), key=lambda kv: ROLES.index(kv[0]))),
                             cancel_prefix, tuple(NON_PRODUCT_CODES if non_product is None
                                                  else non_product),
                             float(max_quantity), window_days, timezone, found)


def _require(columns: dict[str, str], header: list[str], file: str | None) -> None:
    """Customer, timestamp and a value (amount, or quantity and price) must have a column."""
    need = [f"--{role}-column" for role in ("customer", "timestamp") if role not in columns]
    if "amount" not in columns and not {"quantity", "price"} <= set(columns):
        need.append("--amount-column (or --quantity-column with --price-column)")
    if need:
        raise InputError(f"cannot tell which column holds what: pass {' and '.join(need)}; "
                         f"the columns are: {', '.join(header)}", file=file)
