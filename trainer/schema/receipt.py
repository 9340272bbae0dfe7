"""Receipts: a merchant's till slip for items paid on the spot; no shipping, perhaps cash rounding."""

from typing import Literal

from .common import (
    Currency,
    DecimalString,
    IsoDate,
    LineItem,
    Party,
    Strict,
    Tax,
    Text,
    Time,
    amount_paths,
    check_amounts,
    check_minor_units,
)


class Document(Strict):
    doc_type: Literal["receipt"]
    merchant: Party | None = None
    date: IsoDate | None = None
    time: Time | None = None
    currency: Currency | None = None
    prices_include_tax: bool | None = None
    line_items: list[LineItem] | None = None
    subtotal: DecimalString | None = None
    discount: DecimalString | None = None
    taxes: list[Tax] | None = None
    rounding: DecimalString | None = None
    total: DecimalString | None = None
    payment_method: Text | None = None


def check(doc: dict) -> list[str]:
    """Arithmetic rules of a receipt that already matches `Document`, each where its inputs are labelled."""
    violations = check_minor_units(doc, amount_paths(doc, ("subtotal", "discount", "rounding", "total")))
    return violations + check_amounts(doc, charges=("rounding",))
