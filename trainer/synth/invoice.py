"""Invoices: Faker parties and catalogue line items with exact arithmetic, as a label (`generate`), printed in one of
eight layouts (invoice_layouts.py) or, in China, as a fapiao (fapiao.py).

Invoices are business to business: net prices, the tax on top, a note saying so. Some mark lines down (a discount
column), and some leave a field off the page (no due date, no payment terms, no email or phone): its label is null.
A long order's lines run on to further pages.
"""

import datetime as dt
import random
from decimal import Decimal

from faker import Faker

from trainer.schema.document import money

from . import fapiao
from . import items as catalogue
from .invoice_layouts import LAYOUTS, render  # noqa: F401  (an invoice module draws as every DOC_TYPES module does)
from .locales import Country, item_languages, words_for

MARKED_DOWN = 0.12  # share of invoices with one or two discounted lines
NOT_PRINTED = {"due_date": 0.12, "vendor.email": 0.12, "vendor.phone": 0.1, "payment_terms": 0.12}
ITEM_COUNTS = (1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8)  # line items per invoice, drawn from this list
LONG = 0.1  # share of invoices for a long order, of LONG_COUNTS lines: most take two or three pages
LONG_COUNTS = (14, 40)


def generate(
    fake: Faker, rng: random.Random, country: Country, count: int | None = None, long_share: float = LONG
) -> dict:  # fmt: skip
    """One invoice label in canonical key order; every amount exact to the currency's minor unit, and every field
    the page does not print null (a discount, shipping or rounding of zero too). `long_share` of them are for a
    long order, which runs on to further pages."""
    words, currency = words_for(country), country.currency
    several_rates = len(country.tax_rates) > 1 and rng.random() < 0.35
    rates = list(country.tax_rates[:2] if several_rates else country.tax_rates[:1])
    if count is None:
        count = rng.randint(*LONG_COUNTS) if rng.random() < long_share else rng.choice(ITEM_COUNTS)
    items = catalogue.line_items(rng, catalogue.SERVICES, item_languages(country), currency, count, rates)
    if several_rates:  # make sure both rates really occur
        items[-1]["rate"], items[0]["rate"] = rates[1], rates[0]
    if rng.random() < MARKED_DOWN:
        catalogue.mark_down(rng, items, currency, [5, 10, 10, 15, 20])
    subtotal = sum(Decimal(item["amount"]) for item in items)
    discount = catalogue.discount(rng, subtotal, currency, probability=0.3)
    shipping = catalogue.price(rng, 5, 40, currency) if rng.random() < 0.35 else Decimal(0)
    rounds = country.cash_step is not None and rng.random() < country.invoices_rounded
    step = country.cash_step if rounds else None
    settled = catalogue.settle(items, discount, currency, inclusive=False, extra=shipping, cash_step=step)
    issued = fake.date_between(dt.date(2019, 1, 1), dt.date(2026, 6, 30))
    days = rng.choice([0, 7, 14, 14, 30, 30, 30, 45, 60])
    customer = fake.company() if rng.random() < 0.7 else fake.name()
    terms = words["net"].format(days=days) if days else words["net_0"]
    shown = {key: rng.random() >= share for key, share in NOT_PRINTED.items()}
    if country.locale == "zh_CN":  # an e-fapiao's 20 digits, the first two the year's
        number = f"{issued.year % 100:02d}{fake.numerify('#' * 18)}"
    else:
        number = fake.bothify(rng.choice(["INV-####-####", "RE-######", "F####/####", "#####", "INV##-???###"])).upper()
    return {
        "doc_type": "invoice",
        "invoice_number": number,
        "issue_date": issued.isoformat(),
        "due_date": (issued + dt.timedelta(days=days)).isoformat() if shown["due_date"] else None,
        "currency": currency,
        "prices_include_tax": False,
        "vendor": {
            "name": fake.company(),
            "address": fake.address(),
            "tax_id": fake.bothify(country.tax_id).upper(),
            "email": fake.company_email() if shown["vendor.email"] else None,
            "phone": fake.phone_number() if shown["vendor.phone"] else None,
        },
        "customer": {"name": f"{customer} {words['honorific']}".strip(), "address": fake.address()},
        "line_items": [{k: item[k] for k in catalogue.LINE_KEYS if k in item} for item in items],
        "subtotal": settled["subtotal"],
        "discount": settled["discount"],
        "taxes": settled["taxes"],
        "shipping": money(shipping, currency) if shipping else None,
        "rounding": settled["rounding"],
        "total": settled["total"],
        "payment_terms": terms if shown["payment_terms"] else None,
    }


def layouts(doc: dict) -> tuple[str, ...]:
    """The layouts that print this invoice: a Chinese one that the fapiao's form has room for (`fapiao.fits`) is a
    fapiao, as nearly every invoice in China is; any other takes any of the eight."""
    return ("fapiao",) if fapiao.fits(doc) else tuple(LAYOUTS)
