"""Pieces every document type shares: money arithmetic, field types and the rules on line items, taxes and totals.

Amounts are decimal strings with exactly the currency's minor units (ISO 4217, via Babel): JPY has none.
All arithmetic is exact in Decimal and rounds half-up to the minor unit.
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache
from typing import Annotated

from babel.numbers import get_currency_precision, list_currencies
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

# At most 18 digits before the point (a quintillion: no amount, quantity or rate comes near) and 9 after. Every
# number the schema accepts then has at most 27 digits and a product of two at most 54 (sums add a digit per tenfold
# more terms), so the arithmetic, run at PRECISION digits, is exact for every document that passes the schema.
NUMBER = r"\d{1,18}(\.\d{1,9})?"
DECIMAL_PATTERN = rf"^-?{NUMBER}$"
PRECISION = 64


def minor_units(currency: str) -> int:
    """Digits after the decimal point for a currency (EUR 2, JPY 0)."""
    return get_currency_precision(currency)


def quantize(value: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit."""
    return value.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def money(value: Decimal, currency: str) -> str:
    """The canonical string of an amount: rounded, with exactly the minor units."""
    return str(quantize(value, currency))


@cache
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def _iso_date(value: str) -> str:
    dt.date.fromisoformat(value)  # raises ValueError on 2024-02-30
    return value


def _currency(value: str) -> str:
    if value not in _currencies():
        raise ValueError(f"not an ISO 4217 currency code: {value!r}")
    return value


DecimalString = Annotated[str, StringConstraints(pattern=DECIMAL_PATTERN)]
Rate = Annotated[str, StringConstraints(pattern=rf"^{NUMBER}$")]
IsoDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_iso_date)]
Time = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Currency = Annotated[str, AfterValidator(_currency)]
Text = Annotated[str, StringConstraints(min_length=1)]


class Strict(BaseModel):
    """No extra keys, no coercion: the JSON must already be canonical."""

    model_config = ConfigDict(extra="forbid", strict=True)


class LineItem(Strict):
    description: Text
    quantity: DecimalString
    unit_price: DecimalString
    amount: DecimalString


ITEM_KEYS = tuple(LineItem.model_fields)  # description, quantity, unit_price, amount


class Tax(Strict):
    rate: Rate
    base: DecimalString
    amount: DecimalString


class Party(Strict):
    name: Text
    address: Text


def _check(rule: str, path: str, expected: Decimal, got: Decimal) -> list[str]:
    """[] when equal, else one violation naming the rule and the difference."""
    return [] if got == expected else [f"{rule}: {path} is {got}, expected {expected} (difference {got - expected})"]


def amount_paths(doc: dict, scalar_keys: tuple[str, ...]) -> list[str]:
    """Dotted paths of every amount in a document: line items, taxes and the named top-level keys."""
    paths = [f"line_items.{i}.{key}" for i in range(len(doc["line_items"])) for key in ("unit_price", "amount")]
    paths += [f"taxes.{i}.{key}" for i in range(len(doc["taxes"])) for key in ("base", "amount")]
    return paths + list(scalar_keys)


def get_path(doc, path: str):
    """doc["taxes"][0]["amount"] for "taxes.0.amount"; None where the path leads nowhere (a model's output may)."""
    for key in path.split("."):
        if isinstance(doc, list):
            # an index as scalar_paths writes one; a model's keys may hold other digits ("²") or thousands of them
            index = int(key) if key.isascii() and key.isdigit() and len(key) < 19 else len(doc)
            doc = doc[index] if index < len(doc) else None
        elif isinstance(doc, dict):
            doc = doc.get(key)
        else:
            return None
    return doc


def check_minor_units(doc: dict, paths: list[str]) -> list[str]:
    digits = minor_units(doc["currency"])
    violations = []
    for path in paths:
        value = get_path(doc, path)
        places = len(value.partition(".")[2])
        if places != digits:
            violations.append(f"minor_units: {path} is {value!r}, {doc['currency']} amounts have {digits} decimals")
    return violations


def check_amounts(doc: dict, extra_charges: tuple[str, ...] = ()) -> list[str]:
    """The arithmetic every itemised document obeys (the schema has already made every amount a decimal string).

    amount = quantity × unit_price; subtotal = Σ amount; Σ taxes.base = subtotal − discount;
    taxes.amount = base × rate / 100; total = subtotal − discount + Σ taxes.amount + Σ extra_charges.
    """
    currency = doc["currency"]
    items, taxes = doc["line_items"], doc["taxes"]
    violations = []
    with localcontext() as context:
        context.prec = PRECISION  # exact for every number the schema accepts (see DECIMAL_PATTERN)
        for i, item in enumerate(items):
            expected = quantize(Decimal(item["quantity"]) * Decimal(item["unit_price"]), currency)
            violations += _check("line_amount", f"line_items.{i}.amount", expected, Decimal(item["amount"]))
        subtotal = Decimal(doc["subtotal"])
        violations += _check("subtotal", "subtotal", sum(Decimal(item["amount"]) for item in items), subtotal)
        net = subtotal - Decimal(doc["discount"])
        if taxes:
            violations += _check("tax_base", "sum(taxes.base)", net, sum(Decimal(tax["base"]) for tax in taxes))
        for i, tax in enumerate(taxes):
            expected = quantize(Decimal(tax["base"]) * Decimal(tax["rate"]) / 100, currency)
            violations += _check("tax_amount", f"taxes.{i}.amount", expected, Decimal(tax["amount"]))
        total = net + sum(Decimal(tax["amount"]) for tax in taxes) + sum(Decimal(doc[key]) for key in extra_charges)
        return violations + _check("total", "total", total, Decimal(doc["total"]))
