"""Invoices: a vendor bills a customer for line items, with taxes, an optional discount, shipping and rounding."""

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
    ran,
)


class Vendor(Party):
    tax_id: Text | None = None
    email: Text | None = None
    phone: Text | None = None


class Document(Strict):
    doc_type: Literal["invoice"]
    invoice_number: Text | None = None
    issue_date: IsoDate | None = None
    due_date: IsoDate | None = None
    currency: Currency | None = None
    prices_include_tax: bool | None = None
    vendor: Vendor | None = None
    customer: Party | None = None
    line_items: list[LineItem] | None = None
    subtotal: DecimalString | None = None
    discount: DecimalString | None = None
    taxes: list[Tax] | None = None
    shipping: DecimalString | None = None
    rounding: DecimalString | None = None
    total: DecimalString | None = None
    payment_terms: Text | None = None


def check(doc: dict) -> list[str]:
    """Arithmetic and date rules of an invoice that already matches `Document`, each where its inputs are labelled."""
    violations = check_minor_units(doc, amount_paths(doc, ("subtotal", "discount", "shipping", "rounding", "total")))
    violations += check_amounts(doc, charges=("shipping", "rounding"))
    issued, due = doc.get("issue_date"), doc.get("due_date")
    if issued is not None and due is not None:
        ran("due_date")
    if issued is not None and due is not None and due < issued:
        violations.append(f"due_date: {due} is before issue_date {issued}")
    return violations
