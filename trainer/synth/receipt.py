"""Receipts: a shop's till slip, as a label (`generate`): Faker's shop, catalogue groceries with exact arithmetic,
cash or card, printed on narrow thermal paper in one of four layouts (receipt_layouts.py).

Where shops print gross prices (every country but the US) the prices hold the tax, and the slip shows how much.
Cash totals round to the smallest coin where the country does so. Some slips leave a field off: its label is null.
"""

import datetime as dt
import random
from decimal import Decimal

from faker import Faker

from . import items as catalogue
from .locales import Country, item_languages, words_for
from .receipt_layouts import LAYOUTS, SLIP_LINES, render  # noqa: F401  (a receipt module draws as every DOC_TYPES module does)

MARKED_DOWN = 0.12  # share of receipts with one or two lines marked down by a percentage
PAID_IN_CASH = 0.4
NOT_PRINTED = {"merchant.address": 0.08, "time": 0.1, "payment_method": 0.1}  # shares of slips that leave it off
ITEM_COUNTS = tuple(range(1, SLIP_LINES + 1))  # line items per receipt, drawn from this range
LONG, LONG_COUNTS = 0.1, (20, 40)  # a share of receipts is a week's shop: this many lines, on a supermarket's slip


def generate(
    fake: Faker, rng: random.Random, country: Country, count: int | None = None, long_share: float = LONG
) -> dict:
    """One receipt label in canonical key order; every amount exact to the currency's minor unit, and every field
    the slip does not print null. `long_share` of them are a long supermarket slip."""
    currency, payments = country.currency, words_for(country)["payment"]
    several_rates = len(country.tax_rates) > 1 and rng.random() < 0.5
    rates = list(country.tax_rates[-1:] + country.tax_rates[:1] if several_rates else country.tax_rates[:1])
    if count is None:
        long = rng.random() < long_share
        count = rng.randint(*LONG_COUNTS) if long else rng.randint(ITEM_COUNTS[0], ITEM_COUNTS[-1])
    items = catalogue.line_items(rng, catalogue.GROCERIES, item_languages(country), currency, count, rates)
    if several_rates:
        items[-1]["rate"], items[0]["rate"] = rates[1], rates[0]
    if rng.random() < MARKED_DOWN:
        catalogue.mark_down(rng, items, currency, [10, 20, 25, 30, 50])
    subtotal = sum(Decimal(item["amount"]) for item in items)
    discount = catalogue.discount(rng, subtotal, currency, probability=0.2)
    cash = rng.random() < PAID_IN_CASH
    rounds = cash and country.cash_step is not None and rng.random() < country.cash_receipts_rounded
    step = country.cash_step if rounds else None
    settled = catalogue.settle(items, discount, currency, inclusive=country.receipts_include_tax, cash_step=step)
    when = fake.date_time_between(dt.datetime(2019, 1, 1), dt.datetime(2026, 6, 30))
    shown = {key: rng.random() >= share for key, share in NOT_PRINTED.items()}
    return {
        "doc_type": "receipt",
        "merchant": {"name": fake.company(), "address": fake.address() if shown["merchant.address"] else None},
        "date": when.date().isoformat(),
        "time": when.strftime("%H:%M") if shown["time"] else None,
        "currency": currency,
        "prices_include_tax": country.receipts_include_tax,
        "line_items": [{k: item[k] for k in catalogue.LINE_KEYS if k in item} for item in items],
        **{k: settled[k] for k in ("subtotal", "discount", "taxes", "rounding", "total")},
        "payment_method": (payments[0] if cash else rng.choice(payments[1:])) if shown["payment_method"] else None,
    }


def layouts(doc: dict) -> tuple[str, ...]:
    """The layouts that can print this receipt: a long one only a supermarket's, one line an item."""
    return ("supermarket",) if len(doc["line_items"]) > SLIP_LINES else LAYOUTS
