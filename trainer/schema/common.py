"""Pieces every document type shares: money arithmetic, field types and the rules on line items, taxes and totals.

Amounts are decimal strings with exactly the currency's minor units (ISO 4217, via Babel): JPY has none.
All arithmetic is exact in Decimal and rounds half-up to the minor unit.

A key left out of a document is not labelled; a key that is null is not printed. Each arithmetic rule runs only
when all its inputs are labelled, and an additive amount (a discount, shipping, rounding) that is not printed is 0.
"""

import datetime as dt
from contextvars import ContextVar
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache
from typing import Annotated

from babel.numbers import get_currency_precision, list_currencies
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

# At most 18 digits before the point (a quintillion: no amount, quantity or rate comes near) and 9 after. Every
# number the schema accepts then has at most 27 digits and a product of two at most 54 (sums add a digit per tenfold
# more terms), so sums and products, run at PRECISION digits, are exact for every document that passes the schema.
# The one quotient (a tax inside a gross price) that does not end lies at least 1e-48 from any rounding boundary;
# PRECISION digits put it within 1e-80 of the truth, so it rounds as the exact value does.
NUMBER = r"\d{1,18}(\.\d{1,9})?"
DECIMAL_PATTERN = rf"^-?{NUMBER}$"
PRECISION = 100
# The names of the rules run while `trainer.schema.rule_verdicts` collects them: a rule whose inputs are not all
# labelled is not run, so passing it says nothing.
RULES_RUN: ContextVar[set[str] | None] = ContextVar("rules_run", default=None)


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
def currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def _iso_date(value: str) -> str:
    dt.date.fromisoformat(value)  # raises ValueError on 2024-02-30
    return value


def _currency(value: str) -> str:
    if value not in currencies():
        raise ValueError(f"not an ISO 4217 currency code: {value!r}")
    return value


DecimalString = Annotated[str, StringConstraints(pattern=DECIMAL_PATTERN)]
Rate = Annotated[str, StringConstraints(pattern=rf"^{NUMBER}$")]
IsoDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_iso_date)]
Time = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Currency = Annotated[str, AfterValidator(_currency)]
Text = Annotated[str, StringConstraints(min_length=1)]


class Strict(BaseModel):
    """No extra keys, no coercion: the JSON must already be canonical. Every key but `doc_type` is `X | None = None`:
    left out (unset, and so absent from the canonical JSON too) or null (not printed)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class LineItem(Strict):
    description: Text | None = None
    quantity: DecimalString | None = None
    unit_price: DecimalString | None = None
    discount: DecimalString | None = None  # left out: the line shows none
    amount: DecimalString | None = None


ITEM_KEYS = ("description", "quantity", "unit_price", "amount")  # the columns every line-item table prints


class Tax(Strict):
    rate: Rate | None = None
    base: DecimalString | None = None
    amount: DecimalString | None = None


class Party(Strict):
    name: Text | None = None
    address: Text | None = None


def ran(rule: str):
    """Note that a rule ran, for `rule_verdicts`."""
    if (rules := RULES_RUN.get()) is not None:
        rules.add(rule)


def _check(rule: str, path: str, expected: Decimal, got: Decimal) -> list[str]:
    """[] when equal, else one violation naming the rule and the difference."""
    ran(rule)
    return [] if got == expected else [f"{rule}: {path} is {got}, expected {expected} (difference {got - expected})"]


def _value(record: dict, key: str, additive: bool = False) -> Decimal | None:
    """The number a rule reads, or None when the rule cannot run: the key is not labelled, or it is not printed and
    is no additive amount (an additive amount not printed is 0)."""
    if key not in record:
        return None
    if record[key] is None:
        return Decimal(0) if additive else None
    return Decimal(record[key])


def _round(value: Decimal, currency: str | None, written: str) -> Decimal:
    """Half-up to the currency's minor unit; with no currency labelled, to the decimals the amount is written with."""
    places = minor_units(currency) if currency is not None else len(written.partition(".")[2])
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def amount_paths(doc: dict, scalar_keys: tuple[str, ...]) -> list[str]:
    """Dotted paths of every amount in a document: line items, taxes and the named top-level keys."""
    items, taxes = doc.get("line_items") or [], doc.get("taxes") or []
    paths = [f"line_items.{i}.{key}" for i in range(len(items)) for key in ("unit_price", "discount", "amount")]
    paths += [f"taxes.{i}.{key}" for i in range(len(taxes)) for key in ("base", "amount")]
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
    """Every printed amount has the currency's decimals; with no currency labelled or printed, none can be checked."""
    if doc.get("currency") is None:
        return []
    digits = minor_units(doc["currency"])
    violations = []
    for path in paths:
        if (value := get_path(doc, path)) is None:
            continue
        ran("minor_units")
        if len(value.partition(".")[2]) != digits:
            violations.append(f"minor_units: {path} is {value!r}, {doc['currency']} amounts have {digits} decimals")
    return violations


def check_amounts(doc: dict, charges: tuple[str, ...] = ()) -> list[str]:
    """The arithmetic every itemised document obeys, each rule where all its inputs are labelled (the schema has
    already made every amount a decimal string or null).

    amount = quantity × unit_price − the line's discount; subtotal = Σ amount; then with prices excluding tax:
    Σ taxes.base = subtotal − discount; taxes.amount = base × rate / 100;
    total = subtotal − discount + Σ taxes.amount + Σ charges (shipping, rounding).
    With prices including tax, line amounts are gross and each tax row's base + amount is its rate's gross:
    Σ (base + amount) = subtotal − discount; amount = (base + amount) × rate / (100 + rate);
    total = subtotal − discount + Σ charges.
    """
    currency, inclusive = doc.get("currency"), doc.get("prices_include_tax")
    items, taxes = doc.get("line_items"), doc.get("taxes")
    violations = []
    with localcontext() as context:
        context.prec = PRECISION  # exact for every number the schema accepts (see DECIMAL_PATTERN)
        for i, item in enumerate(items or []):
            quantity, price, amount = (_value(item, key) for key in ("quantity", "unit_price", "amount"))
            if None not in (quantity, price, amount):
                gross = _round(quantity * price, currency, item["amount"])
                expected = gross - Decimal(item.get("discount") or 0)  # left out or null: the line shows none
                violations += _check("line_amount", f"line_items.{i}.amount", expected, amount)
        amounts = [_value(item, "amount") for item in items] if items is not None else [None]
        subtotal = _value(doc, "subtotal")
        if subtotal is not None and None not in amounts:
            violations += _check("subtotal", "subtotal", sum(amounts), subtotal)
        discount = _value(doc, "discount", additive=True)
        net = None if subtotal is None or discount is None else subtotal - discount
        rows = [[_value(tax, key) for key in ("rate", "base", "amount")] for tax in taxes or []]
        if taxes and net is not None and inclusive is not None:
            parts = [(base, amount) if inclusive else (base,) for _, base, amount in rows]  # each rate's gross or net
            if all(None not in part for part in parts):
                path = "sum(taxes.base + taxes.amount)" if inclusive else "sum(taxes.base)"
                violations += _check("tax_base", path, net, sum(sum(part) for part in parts))
        for i, (rate, base, amount) in enumerate(rows):
            if None not in (rate, base, amount) and inclusive is not None:
                tax = (base + amount) * rate / (100 + rate) if inclusive else base * rate / 100
                expected = _round(tax, currency, taxes[i]["amount"])
                violations += _check("tax_amount", f"taxes.{i}.amount", expected, amount)
        added = [_value(doc, key, additive=True) for key in charges]
        if not inclusive:  # the taxes come on top of the prices
            added += [amount for _, _, amount in rows] if taxes is not None else [None]
        total = _value(doc, "total")
        if total is not None and net is not None and inclusive is not None and None not in added:
            violations += _check("total", "total", net + sum(added), total)
    return violations
