"""How a receipt is drawn: a till slip on narrow thermal paper in four layouts (thermal, columns, slip, supermarket),
over the label `receipt.generate` made; the page is as long as its content.

Where shops print gross prices the slip ends with a table of the tax those prices hold, one row per rate: rate, net,
tax and gross. Cash slips show what was given and the change.
"""

import random
from decimal import Decimal

from faker import Faker
from PIL import ImageOps

from trainer.schema.document import quantize

from . import items as catalogue
from .codes import barcode_image, till_code
from .locales import (
    Country,
    date_styles,
    format_clock,
    format_day,
    format_money,
    format_quantity,
    format_rate,
    tax_parts,
    words_for,
)
from .logos import draw_logo
from .page import Column, Page, Style, draw_table, letter_spacing

WIDTH, MARGIN, MAX_HEIGHT = 576, 36, 3200
LAYOUTS = ("thermal", "columns", "slip", "supermarket")
SLIP_LINES = 12  # the most lines every layout prints: a longer receipt is a supermarket's long slip
NOTES = {"JPY": (1000, 2000, 5000, 10000), "INR": (100, 200, 500, 2000), "BRL": (10, 20, 50, 100, 200)}  # cash given
LOGO, INVERTED, BARCODE = 0.4, 0.15, 0.45  # shares of slips with a logo, the shop's name white on black, a barcode


def render(
    doc: dict, layout: str, rng: random.Random, fake: Faker, country: Country, family: str
) -> tuple[list[Page], list]:
    """Draw a receipt; return its page (cropped to its content) and its line-item grid. A null field is not drawn."""
    words, locale = words_for(country), country.locale
    style = Style(family, rng.choice([19, 20, 21]), (0, 0, 0), tracking=letter_spacing(rng))
    page = Page(WIDTH, MAX_HEIGHT, style, paper=(252, 251, 247), margin=MARGIN)
    if len(doc["line_items"]) > SLIP_LINES:
        page.features.append("shape/long-receipt")
    s, middle, right = page.style.size, WIDTH / 2, WIDTH - MARGIN

    def money(value: str) -> str:
        return format_money(value, doc["currency"], locale, symbol=False)

    def row(y: float, label: str, value: str, name: str, sign: str = "") -> float:
        page.text((MARGIN, y), label)
        page.text((right, y), sign + money(value), anchor="ra", name=name, value=value)
        return y + 1.5 * s

    anchor, x = ("ma", middle) if layout != "slip" else ("la", MARGIN)

    merchant, top = doc["merchant"], MARGIN + s
    if rng.random() < LOGO:
        draw_logo(page, middle - 40 if anchor == "ma" else MARGIN, MARGIN, 80, merchant["name"], rng)
        top = MARGIN + 80 + s
        page.features.append("marks/logo")
    y = page.lines((x, top), merchant["name"], 1.3, bold=True, anchor=anchor, name="merchant.name") + 0.45 * s
    if rng.random() < INVERTED:  # the name white on a black band, as many tills print the shop's header
        band = (MARGIN - 8, round(top - 0.45 * s), WIDTH - MARGIN + 8, round(y))
        page.image.paste(ImageOps.invert(page.image.crop(band)), band[:2])
        y += 0.4 * s
        page.features.append("print/inverted-header")
    if merchant["address"] is not None:
        y = page.lines((x, y), merchant["address"], 0.9, spacing=1.45, anchor=anchor, name="merchant.address")
    page.block()
    page.text((middle, y + 0.5 * s), words["receipt"], 1.1, bold=True, anchor="ma", name="doc_type", value="receipt")
    y += 2.4 * s
    page.text(
        (MARGIN, y), format_day(doc["date"], locale, rng.choice(date_styles(locale))), name="date", value=doc["date"]
    )
    if doc["time"] is not None:
        page.text((right, y), format_clock(doc["time"], locale), anchor="ra", name="time", value=doc["time"])
    y = _dashes(page, y + 1.8 * s)

    marked_down = any("discount" in item for item in doc["line_items"])
    rows = []
    for i, item in enumerate(doc["line_items"]):
        name = f"line_items.{i}"
        cells = {
            "description": (item["description"], f"{name}.description", item["description"]),
            "quantity": (format_quantity(item["quantity"], locale), f"{name}.quantity", item["quantity"]),
            "unit_price": (money(item["unit_price"]), f"{name}.unit_price", item["unit_price"]),
            "amount": (money(item["amount"]), f"{name}.amount", item["amount"]),
        }
        if "discount" in item:
            cells["discount"] = ("-" + money(item["discount"]), f"{name}.discount", item["discount"])
        elif marked_down:
            cells["discount"] = ("", None, None)
        rows.append(cells)
    keys = tuple(k for k in catalogue.LINE_KEYS if marked_down or k != "discount")
    if layout == "columns":
        widths = (156, 84, 84, 84, 96) if marked_down else (214, 90, 96, 104)
        headers = {"description": words["item"], "quantity": words["quantity"], "unit_price": words["price"],
                   "discount": words["discount"], "amount": words["amount"]}  # fmt: skip
        columns = [
            Column(k, headers[k], width, "left" if k == "description" else "right")
            for k, width in zip(keys, widths, strict=True)
        ]
        y, grid, _ = draw_table(page, MARGIN, y, columns, rows, "ruled")
        y += s
    else:
        cuts = _cut_labels(doc, words["saving" if layout == "supermarket" else "discount"], locale)
        y = _item_lines(page, rows, y, layout, cuts, rng)
        grid = [[(cells[k][0], 1) for k in keys] for cells in rows]
        y = _dashes(page, y)

    page.block()
    y = row(y, words["subtotal"], doc["subtotal"], "subtotal")
    if doc["discount"] is not None:
        y = row(y, words["discount"], doc["discount"], "discount", "-")
    if not doc["prices_include_tax"]:  # the tax comes on top: added before the total, as the slip's own words say
        for i, tax in enumerate(doc["taxes"]):
            label = {"name": "prices_include_tax", "value": "False"} if i == 0 else {}
            box = page.text((MARGIN, y), words["tax"], 0.9, **label)
            box = page.text((box[2] + 8, y), format_rate(tax["rate"], locale), 0.9, name=f"taxes.{i}.rate",
                            value=tax["rate"])  # fmt: skip
            box = page.text((box[2] + 8, y), words["base"], 0.9)
            page.text((box[2] + 8, y), money(tax["base"]), 0.9, name=f"taxes.{i}.base", value=tax["base"])
            page.text((right, y), money(tax["amount"]), 0.9, anchor="ra", name=f"taxes.{i}.amount", value=tax["amount"])
            y += 1.4 * s
    if doc["rounding"] is not None:
        y = row(y, words["rounding"], doc["rounding"], "rounding")
    y += 0.5 * s
    page.draw.line((MARGIN, y - 0.3 * s, right, y - 0.3 * s), fill=page.style.ink, width=2)
    box = page.text((MARGIN, y), words["total"].upper(), 1.4, bold=True)
    box = page.text((box[2] + 12, y), doc["currency"], 1.4, bold=True, name="currency")
    room = right - box[2] - 12  # the total stays clear of the currency (letter-spaced, the line is full)
    page.text(
        (right, y), money(doc["total"]), 1.4, bold=True, anchor="ra", name="total", value=doc["total"], width=room
    )
    y += 2.6 * s
    if layout == "supermarket":
        y = _tendered(page, doc, words, rng, y, money)
    elif doc["payment_method"] is not None:
        page.text((MARGIN, y), f"{words['paid_by']}:")
        page.text((right, y), doc["payment_method"], anchor="ra", name="payment_method")
        y += 1.6 * s
    if doc["prices_include_tax"]:
        y = _tax_table(page, doc, words, country, y + 0.4 * s)
    y = _dashes(page, y + 0.4 * s)
    page.block()
    page.text((middle, y), words["thanks_receipt"], 0.9, anchor="ma")
    page.text((middle, y + 1.6 * s), fake.bothify("#### ### ######"), 0.8, anchor="ma", fill=(90, 90, 90))
    y += 3.2 * s
    if rng.random() < BARCODE:  # the slip's own barcode, which the returns desk scans, its digits printed below
        symbology, content = till_code(doc, rng)
        bars = barcode_image(symbology, content, 2, 64)
        at = (round(middle - bars.width / 2), round(y))
        page.image.paste(bars, at)
        page.codes.append((*at, at[0] + bars.width, at[1] + bars.height))
        page.block()
        page.text((middle, y + bars.height + 4), content, 0.8, anchor="ma")
        y += bars.height + 2 * s
        page.features.append(f"codes/{symbology}")
    page.crop(round(y + MARGIN))
    return [page], grid


def _cut_labels(doc: dict, word: str, locale: str) -> list[str]:
    """What a till prints before each line's discount: `Rabatt -20 %` where the cut is a whole percentage of the
    line, else just `Rabatt` (empty for a line without one)."""
    labels = []
    for item in doc["line_items"]:
        if "discount" not in item:
            labels.append("")
            continue
        gross = quantize(Decimal(item["quantity"]) * Decimal(item["unit_price"]), doc["currency"])
        percent = (Decimal(item["discount"]) * 100 / gross).quantize(Decimal(1))
        whole = quantize(gross * percent / 100, doc["currency"]) == Decimal(item["discount"])
        labels.append(f"{word} -{format_rate(str(percent), locale)}" if whole else word)
    return labels


def _item_lines(page: Page, rows: list[dict], y: float, layout: str, cuts: list[str], rng: random.Random) -> float:
    """Thermal: description and amount, then `qty x price` below. Slip: `qty description ... amount`, `@ price` below.
    Supermarket: one line an item, `4711 Milch 1L   2 x 1,09   2,18`, its article number first. A marked-down
    line's cut follows its price: `2 x 1,29  Rabatt -20 % -0,52`; the amount is after the cut (on a line of its own
    at the supermarket: `Mengenrabatt -0,52`)."""
    s, right = page.style.size, WIDTH - MARGIN
    digits = rng.choice((4, 5, 6))  # the shop's article numbers
    for row, cut in zip(rows, cuts, strict=True):
        page.block()
        description, quantity, unit_price, amount = (
            row[k] for k in ("description", "quantity", "unit_price", "amount")
        )
        if layout == "supermarket":
            code = page.text((MARGIN, y), f"{rng.randrange(10 ** (digits - 1), 10**digits)}", 0.85)
            price_x = right - page.width_of("00000,00", 1.0) - s
            box = page.text((price_x, y), unit_price[0], 0.9, anchor="ra", name=unit_price[1], value=unit_price[2])
            box = page.text((box[0] - page.width_of(" x ", 0.9), y), "x", 0.9, anchor="la")
            box = page.text((box[0] - page.width_of(" ", 0.9), y), quantity[0], 0.9, anchor="ra", name=quantity[1],
                            value=quantity[2])  # fmt: skip
            left = code[2] + s * 0.6
            y = page.lines((left, y), description[0], spacing=1.3, width=box[0] - s - left, name=description[1],
                           value=description[2])  # fmt: skip
            page.text((right, y - 1.3 * s), amount[0], anchor="ra", name=amount[1], value=amount[2])
            if cut:
                text, name, value = row["discount"]
                page.text((left + s, y), cut, 0.85)
                page.text((right, y), text, 0.85, anchor="ra", name=name, value=value)
                y += 1.3 * s
            y += 0.25 * s
            continue
        if layout == "thermal":
            y = page.lines(
                (MARGIN, y), description[0], spacing=1.3, width=360, name=description[1], value=description[2]
            )
            page.text((right, y - 1.3 * s), amount[0], anchor="ra", name=amount[1], value=amount[2])
            box = page.text((MARGIN + 24, y), quantity[0], 0.9, name=quantity[1], value=quantity[2])
            box = page.text((box[2] + 8, y), "x", 0.9)
            box = page.text((box[2] + 8, y), unit_price[0], 0.9, name=unit_price[1], value=unit_price[2])
        else:
            page.text((MARGIN, y), quantity[0], name=quantity[1], value=quantity[2])
            y = page.lines(
                (MARGIN + 72, y), description[0], spacing=1.3, width=330, name=description[1], value=description[2]
            )
            page.text((right, y - 1.3 * s), amount[0], anchor="ra", name=amount[1], value=amount[2])
            box = page.text((MARGIN + 72, y), "@", 0.85)
            box = page.text((box[2] + 8, y), unit_price[0], 0.85, name=unit_price[1], value=unit_price[2])
        if cut:
            text, name, value = row["discount"]
            box = page.text((box[2] + 16, y), cut, 0.85)
            page.text((box[2] + 8, y), text, 0.85, name=name, value=value)
        y += 1.6 * s
    page.block()
    return y


def _tendered(page: Page, doc: dict, words: dict, rng: random.Random, y: float, money) -> float:
    """What a supermarket prints under its total: the payment and the sum tendered (a note or two for cash), the
    change, and the loyalty points earned, several amounts next to the total for a reader to tell apart."""
    s, right = page.style.size, WIDTH - MARGIN
    total, method = Decimal(doc["total"]), doc["payment_method"]
    if method is not None:
        cash = method == words["payment"][0]
        given = total
        if cash:
            notes = [Decimal(n) for n in NOTES.get(doc["currency"], (5, 10, 20, 50, 100))]
            given = next((n for n in notes if n >= total), total) if rng.random() < 0.85 else total
        page.text((MARGIN, y), method, name="payment_method")
        page.text((right, y), money(str(quantize(given, doc["currency"]))), anchor="ra")
        y += 1.5 * s
        if cash:
            page.text((MARGIN, y), words["change"])
            page.text((right, y), money(str(quantize(given - total, doc["currency"]))), anchor="ra")
            y += 1.5 * s
    if rng.random() < 0.5:
        page.text((MARGIN, y), f"{words['points']}: {int(total) // (100 if doc['currency'] == 'JPY' else 1)}", 0.9)
        y += 1.5 * s
    return y + 0.3 * s


def _tax_table(page: Page, doc: dict, words: dict, country: Country, y: float) -> float:
    """The tax gross prices hold, as European and Japanese till slips print it: a line that says so, then per rate
    its net, tax and gross (`19 %  6,55  1,24  7,79`), and under it the taxes it is levied as where there are
    several (India's `CGST 2.5%  1.19`). Return the y below it."""
    s, right, column, locale = page.style.size, WIDTH - MARGIN, 118, country.locale
    edges = (right - 2 * column, right - column, right)  # where the net, tax and gross columns end

    def money(value: str) -> str:
        return format_money(value, doc["currency"], locale, symbol=False)

    page.block()
    rates = " / ".join(format_rate(tax["rate"], locale) for tax in doc["taxes"])
    title = words["tax_included"].format(tax=words["tax"], rates=rates)
    page.text((MARGIN, y), title, 0.9, name="prices_include_tax", value="True")
    y += 1.5 * s
    page.text((MARGIN, y), words["rate"], 0.8, bold=True, width=edges[0] - column - MARGIN)
    for edge, head in zip(edges, (words["net_amount"], words["tax"], words["gross"]), strict=True):
        page.text((edge, y), head, 0.8, bold=True, anchor="ra", width=column - 12)
    y += 1.4 * s
    for i, tax in enumerate(doc["taxes"]):
        gross = str(Decimal(tax["base"]) + Decimal(tax["amount"]))  # both have the currency's minor units
        page.text((MARGIN, y), format_rate(tax["rate"], locale), 0.9, name=f"taxes.{i}.rate", value=tax["rate"])
        cells = ((tax["base"], f"taxes.{i}.base"), (tax["amount"], f"taxes.{i}.amount"), (gross, None))
        for edge, (value, name) in zip(edges, cells, strict=True):
            page.text((edge, y), money(value), 0.9, anchor="ra", name=name, value=value, width=column - 12)
        y += 1.4 * s
        for name, rate, amount in tax_parts(country, tax, doc["currency"]):  # printed, not labelled
            page.text((MARGIN + s, y), f"{name} {format_rate(rate, locale)}", 0.8)
            page.text((edges[1], y), money(amount), 0.8, anchor="ra", width=column - 12)
            y += 1.3 * s
    page.block()
    return y + 0.4 * s


def _dashes(page: Page, y: float) -> float:
    """A dashed separator, as thermal printers print them."""
    for x in range(MARGIN, WIDTH - MARGIN, 14):
        page.draw.line((x, y, x + 7, y), fill=(60, 60, 60), width=2)
    return y + page.style.size
