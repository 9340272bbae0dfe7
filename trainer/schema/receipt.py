"""Receipts: a merchant's till slip for items paid on the spot; no shipping."""

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
    merchant: Party
    date: IsoDate
    time: Time
    currency: Currency
    line_items: list[LineItem]
    subtotal: DecimalString
    discount: DecimalString
    taxes: list[Tax]
    total: DecimalString
    payment_method: Text


def check(doc: dict) -> list[str]:
    """Arithmetic rules of a receipt that already matches `Document`."""
    violations = check_minor_units(doc, amount_paths(doc, ("subtotal", "discount", "total")))
    return violations + check_amounts(doc)
