"""Invoices: a vendor bills a customer for line items, with taxes, an optional discount and shipping."""

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
    amount_paths,
    check_amounts,
    check_minor_units,
)


class Vendor(Party):
    tax_id: Text
    email: Text
    phone: Text


class Document(Strict):
    doc_type: Literal["invoice"]
    invoice_number: Text
    issue_date: IsoDate
    due_date: IsoDate
    currency: Currency
    vendor: Vendor
    customer: Party
    line_items: list[LineItem]
    subtotal: DecimalString
    discount: DecimalString
    taxes: list[Tax]
    shipping: DecimalString
    total: DecimalString
    payment_terms: Text


def check(doc: dict) -> list[str]:
    """Arithmetic and date rules of an invoice that already matches `Document`."""
    violations = check_minor_units(doc, amount_paths(doc, ("subtotal", "discount", "shipping", "total")))
    violations += check_amounts(doc, extra_charges=("shipping",))
    if doc["due_date"] < doc["issue_date"]:
        violations.append(f"due_date: {doc['due_date']} is before issue_date {doc['issue_date']}")
    return violations
