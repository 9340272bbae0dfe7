"""What documents sell, and the exact arithmetic that turns line items into taxes, rounding and totals.

The catalogues are tables/services.csv and tables/groceries.csv: per item, its description in each of LANGUAGES, how
it is counted, and a price range in US dollars that `price` converts to the document's currency.
"""

import csv
import io
import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from trainer.packaged import packaged_text
from trainer.schema.document import money, quantize

LANGUAGES = ("en", "de", "fr", "es", "it", "ja", "ms", "zh", "nl", "pt")
# Rough purchasing-power factors, so prices look plausible in each currency.
USD_TO = {
    "USD": Decimal("1"),
    "GBP": Decimal("0.8"),
    "EUR": Decimal("0.92"),
    "CHF": Decimal("0.9"),
    "JPY": Decimal("150"),
    "INR": Decimal("22"),
    "MYR": Decimal("1.8"),
    "CNY": Decimal("4"),
    "BRL": Decimal("2.6"),
}


def catalogue(name: str) -> list[tuple[tuple[str, ...], str, int, int]]:
    """A catalogue of tables/NAME.csv: one row per item, its description in each of LANGUAGES, its unit and its
    price range in US dollars, as (descriptions, unit, low, high)."""
    rows = csv.DictReader(io.StringIO(packaged_text("synth", "tables", name)))
    return [
        (tuple(row[lang] for lang in LANGUAGES), row["unit"], int(row["low_usd"]), int(row["high_usd"])) for row in rows
    ]


SERVICES = catalogue("services.csv")  # what invoices bill
GROCERIES = catalogue("groceries.csv")  # what receipts list


def quantity(rng: random.Random, unit: str, counts: list[int]) -> Decimal:
    """Hours in quarters, weights to the gram, everything else one of `counts`."""
    if unit == "hours":
        return Decimal(rng.randint(2, 160)) / 4
    if unit == "kg":
        return Decimal(rng.randint(150, 2500)) / 1000
    if unit == "days":
        return Decimal(rng.choice([1, 1, 2, 3, 5]))
    return Decimal(rng.choice(counts))


def price(rng: random.Random, low: int, high: int, currency: str) -> Decimal:
    """A plausible price: whole tens of yen, whole 5 Rappen, or cents ending in .00, .50, .95, .99 or anything."""
    value = Decimal(rng.uniform(low, high)).quantize(Decimal("0.01")) * USD_TO[currency]
    if currency == "JPY":
        return Decimal(max(10, int(value / 10) * 10))
    cents = rng.choice(["00", "50", "95", "99", None])
    whole = max(int(value), 1)
    value = Decimal(f"{whole}.{cents}") if cents else quantize(value, currency)
    if currency == "CHF":  # Swiss prices end in 0 or 5 Rappen, the smallest coin: weighed goods and cuts do not
        value = (value / 5).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 5
    return value


# A label's line item, in the schema's order; a line without a discount leaves that key out (the line shows none).
LINE_KEYS = ("description", "quantity", "unit_price", "discount", "amount")
BUSINESS_COUNTS = [1, 1, 1, 2, 2, 3, 4, 5, 6, 10, 12, 20, 25, 50]
SHOP_COUNTS = [1, 1, 1, 1, 2, 2, 3, 4, 6]


def line_items(
    rng: random.Random, catalogue: list, languages: tuple[str, ...], currency: str, count: int, rates: list[str]
) -> list[dict]:
    """`count` catalogue rows, priced, each tagged with a tax rate from `rates`: distinct ones, and beyond the
    catalogue's length repeats (a long shop scans some articles twice, each on its own line). Each is named in
    `languages`, one after the other."""
    counts = SHOP_COUNTS if catalogue is GROCERIES else BUSINESS_COUNTS
    rows = rng.sample(catalogue, min(count, len(catalogue)))
    rows += [rng.choice(catalogue) for _ in range(count - len(rows))]
    items = []
    for names, unit, low, high in rows:
        qty, unit_price = quantity(rng, unit, counts), price(rng, low, high, currency)
        items.append(
            {
                "description": " ".join(names[LANGUAGES.index(language)] for language in languages),
                "quantity": str(qty),
                "unit_price": money(unit_price, currency),
                "amount": money(qty * unit_price, currency),
                "rate": rng.choice(rates),
            }
        )
    return items


def mark_down(rng: random.Random, items: list[dict], currency: str, percents: list[int]):
    """Take a percentage off one or two lines (a markdown, a loyalty deal): the line's amount is then its quantity
    × unit price, rounded, less its discount. A cut that rounds to nothing or to the whole line is not made."""
    for item in rng.sample(items, min(len(items), rng.choice([1, 1, 2]))):
        gross = Decimal(item["amount"])
        cut = quantize(gross * rng.choice(percents) / 100, currency)
        if 0 < cut < gross:
            item["discount"], item["amount"] = money(cut, currency), money(gross - cut, currency)


def settle(
    items: list[dict], discount: Decimal, currency: str, inclusive: bool, extra: Decimal = Decimal(0),
    cash_step: str | None = None,
) -> dict:  # fmt: skip
    """Subtotal, one tax row per rate, the rounding and the total, exact to the minor unit.

    The discount is split across the rates in proportion to their amounts (the last rate takes the rounding
    remainder), so that the rows add up to subtotal − discount exactly: their bases when prices exclude tax, their
    gross (base + tax) when prices include it, the tax then being the part rate / (100 + rate) of that gross.
    With a cash step the total is rounded to it, half up, and the rounding is the difference. A discount or
    rounding of zero is not printed: None.
    """
    subtotal = sum(Decimal(item["amount"]) for item in items)
    by_rate = defaultdict(Decimal)
    for item in items:
        by_rate[item["rate"]] += Decimal(item["amount"])
    rates = sorted(by_rate, key=Decimal)
    taxes, discount_left = [], discount
    for i, rate in enumerate(rates):
        share = discount_left if i == len(rates) - 1 else quantize(discount * by_rate[rate] / subtotal, currency)
        discount_left -= share
        part = by_rate[rate] - share  # this rate's net, or its gross when prices include tax
        if inclusive:
            tax = quantize(part * Decimal(rate) / (100 + Decimal(rate)), currency)
            base = part - tax
        else:
            base, tax = part, quantize(part * Decimal(rate) / 100, currency)
        taxes.append({"rate": rate, "base": money(base, currency), "amount": money(tax, currency)})
    total = subtotal - discount + extra + (0 if inclusive else sum(Decimal(tax["amount"]) for tax in taxes))
    rounding = Decimal(0)
    if cash_step is not None:
        step = Decimal(cash_step)
        rounding = (total / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step - total
    return {
        "subtotal": money(subtotal, currency),
        "discount": money(discount, currency) if discount else None,
        "taxes": taxes,
        "rounding": money(rounding, currency) if rounding else None,
        "total": money(total + rounding, currency),
    }


def discount(rng: random.Random, subtotal: Decimal, currency: str, probability: float) -> Decimal:
    """Usually none; otherwise 5–15 % of the subtotal or a round amount."""
    if rng.random() >= probability:
        return Decimal(0)
    if rng.random() < 0.6:
        return quantize(subtotal * Decimal(rng.choice([5, 10, 15])) / 100, currency)
    return min(quantize(subtotal / 10, currency), Decimal(rng.choice([5, 10, 20, 50])) * USD_TO[currency]).quantize(
        Decimal(1)
    )
