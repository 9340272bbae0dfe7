"""Receipts: a shop's till slip on narrow thermal paper, in three layouts; the page is as long as its content."""

import datetime as dt
import random
from decimal import Decimal

from faker import Faker

from . import items as catalogue
from .locales import WORDS, Country, date_styles, format_clock, format_day, format_money, format_quantity, format_rate
from .page import Column, Page, Style, draw_table

WIDTH, MARGIN, MAX_HEIGHT = 576, 36, 2600
LAYOUTS = ("thermal", "columns", "slip")


def generate(fake: Faker, rng: random.Random, country: Country) -> dict:
    """One receipt label in canonical key order; every amount exact to the currency's minor unit."""
    currency = country.currency
    several_rates = len(country.tax_rates) > 1 and rng.random() < 0.5
    rates = list(country.tax_rates[-1:] + country.tax_rates[:1] if several_rates else country.tax_rates[:1])
    items = catalogue.line_items(rng, catalogue.GROCERIES, country.language, currency, rng.randint(1, 12), rates)
    if several_rates:
        items[-1]["rate"], items[0]["rate"] = rates[1], rates[0]
    subtotal = sum(Decimal(item["amount"]) for item in items)
    settled = catalogue.settle(items, catalogue.discount(rng, subtotal, currency, probability=0.2), currency)
    when = fake.date_time_between(dt.datetime(2019, 1, 1), dt.datetime(2026, 6, 30))
    return {
        "doc_type": "receipt",
        "merchant": {"name": fake.company(), "address": fake.address()},
        "date": when.date().isoformat(),
        "time": when.strftime("%H:%M"),
        "currency": currency,
        "prices_include_tax": False,
        "line_items": [{k: item[k] for k in ("description", "quantity", "unit_price", "amount")} for item in items],
        **{k: settled[k] for k in ("subtotal", "discount", "taxes", "rounding", "total")},
        "payment_method": rng.choice(WORDS[country.language]["payment"]),
    }


def render(doc: dict, layout: str, rng: random.Random, fake: Faker, country: Country, family: str) -> tuple[Page, list]:
    """Draw a receipt; return the page (cropped to its content) and its line-item grid."""
    words, locale = WORDS[country.language], country.locale
    style = Style(family, rng.choice([19, 20, 21]), (0, 0, 0))
    page = Page(WIDTH, MAX_HEIGHT, style, paper=(252, 251, 247), margin=MARGIN)
    s, middle, right = page.style.size, WIDTH / 2, WIDTH - MARGIN

    def money(value: str) -> str:
        return format_money(value, doc["currency"], locale, symbol=False)

    anchor, x = ("ma", middle) if layout != "slip" else ("la", MARGIN)

    merchant = doc["merchant"]
    y = page.lines((x, MARGIN + s), merchant["name"], 1.3, bold=True, anchor=anchor, name="merchant.name") + 0.45 * s
    y = page.lines((x, y), merchant["address"], 0.9, spacing=1.45, anchor=anchor, name="merchant.address")
    page.block()
    page.text((middle, y + 0.5 * s), words["receipt"], 1.1, bold=True, anchor="ma", name="doc_type", value="receipt")
    y += 2.4 * s
    page.text(
        (MARGIN, y), format_day(doc["date"], locale, rng.choice(date_styles(locale))), name="date", value=doc["date"]
    )
    page.text((right, y), format_clock(doc["time"], locale), anchor="ra", name="time", value=doc["time"])
    y = _dashes(page, y + 1.8 * s)

    rows = []
    for i, item in enumerate(doc["line_items"]):
        name = f"line_items.{i}"
        rows.append(
            {
                "description": (item["description"], f"{name}.description", item["description"]),
                "quantity": (format_quantity(item["quantity"], locale), f"{name}.quantity", item["quantity"]),
                "unit_price": (money(item["unit_price"]), f"{name}.unit_price", item["unit_price"]),
                "amount": (money(item["amount"]), f"{name}.amount", item["amount"]),
            }
        )
    if layout == "columns":
        columns = [Column("description", words["item"], 214), Column("quantity", words["quantity"], 90, "right"),
                   Column("unit_price", words["price"], 96, "right"), Column("amount", words["amount"], 104, "right")]  # fmt: skip
        y, grid = draw_table(page, MARGIN, y, columns, rows, "ruled")
        y += s
    else:
        y, grid = (
            _item_lines(page, rows, y, layout),
            [[(row[k][0], 1) for k in ("description", "quantity", "unit_price", "amount")] for row in rows],
        )
        y = _dashes(page, y)

    page.block()
    totals = [(words["subtotal"], doc["subtotal"], "subtotal"), (words["discount"], doc["discount"], "discount")]
    for label, value, name in totals:
        page.text((MARGIN, y), label)
        page.text(
            (right, y),
            ("-" if name == "discount" and Decimal(value) else "") + money(value),
            anchor="ra",
            name=name,
            value=value,
        )
        y += 1.5 * s
    for i, tax in enumerate(doc["taxes"]):
        box = page.text((MARGIN, y), words["tax"], 0.9)
        box = page.text(
            (box[2] + 8, y), format_rate(tax["rate"], locale), 0.9, name=f"taxes.{i}.rate", value=tax["rate"]
        )
        box = page.text((box[2] + 8, y), words["base"], 0.9)
        page.text((box[2] + 8, y), money(tax["base"]), 0.9, name=f"taxes.{i}.base", value=tax["base"])
        page.text((right, y), money(tax["amount"]), 0.9, anchor="ra", name=f"taxes.{i}.amount", value=tax["amount"])
        y += 1.4 * s
    page.text((MARGIN, y), words["rounding"])
    page.text((right, y), money(doc["rounding"]), anchor="ra", name="rounding", value=doc["rounding"])
    y += 2.0 * s
    page.draw.line((MARGIN, y - 0.3 * s, right, y - 0.3 * s), fill=page.style.ink, width=2)
    box = page.text((MARGIN, y), words["total"].upper(), 1.4, bold=True)
    page.text((box[2] + 12, y), doc["currency"], 1.4, bold=True, name="currency")
    page.text((right, y), money(doc["total"]), 1.4, bold=True, anchor="ra", name="total", value=doc["total"])
    y += 2.6 * s
    page.text((MARGIN, y), f"{words['paid_by']}:")
    page.text((right, y), doc["payment_method"], anchor="ra", name="payment_method")
    y += 1.6 * s
    included = str(doc["prices_include_tax"])
    page.text((MARGIN, y), words["tax_excluded"], 0.85, name="prices_include_tax", value=included)
    y = _dashes(page, y + 2 * s)
    page.block()
    page.text((middle, y), words["thanks_receipt"], 0.9, anchor="ma")
    page.text((middle, y + 1.6 * s), fake.bothify("#### ### ######"), 0.8, anchor="ma", fill=(90, 90, 90))
    page.crop(round(y + 3.2 * s + MARGIN))
    return page, grid


def _item_lines(page: Page, rows: list[dict], y: float, layout: str) -> float:
    """Thermal: description and amount, then `qty x price` below. Slip: `qty description ... amount`, `@ price` below."""
    s, right = page.style.size, WIDTH - MARGIN
    for row in rows:
        page.block()
        description, quantity, unit_price, amount = (
            row[k] for k in ("description", "quantity", "unit_price", "amount")
        )
        if layout == "thermal":
            y = page.lines(
                (MARGIN, y), description[0], spacing=1.3, width=360, name=description[1], value=description[2]
            )
            page.text((right, y - 1.3 * s), amount[0], anchor="ra", name=amount[1], value=amount[2])
            box = page.text((MARGIN + 24, y), quantity[0], 0.9, name=quantity[1], value=quantity[2])
            box = page.text((box[2] + 8, y), "x", 0.9)
            page.text((box[2] + 8, y), unit_price[0], 0.9, name=unit_price[1], value=unit_price[2])
        else:
            page.text((MARGIN, y), quantity[0], name=quantity[1], value=quantity[2])
            y = page.lines(
                (MARGIN + 72, y), description[0], spacing=1.3, width=330, name=description[1], value=description[2]
            )
            page.text((right, y - 1.3 * s), amount[0], anchor="ra", name=amount[1], value=amount[2])
            box = page.text((MARGIN + 72, y), "@", 0.85)
            page.text((box[2] + 8, y), unit_price[0], 0.85, name=unit_price[1], value=unit_price[2])
        y += 1.6 * s
    page.block()
    return y


def _dashes(page: Page, y: float) -> float:
    """A dashed separator, as thermal printers print them."""
    for x in range(MARGIN, WIDTH - MARGIN, 14):
        page.draw.line((x, y, x + 7, y), fill=(60, 60, 60), width=2)
    return y + page.style.size
