"""How an invoice is drawn: eight layouts (header, meta block, table look, column order, totals, taxes, footer) over
the label `invoice.generate` made. A long order's lines run on to further pages ("continued"), each headed by the
invoice's number and footed by the firm's bank details and its page number; the totals follow the last line.
"""

import random
import re
from dataclasses import dataclass

from faker import Faker

from . import fapiao
from .codes import bank_details, payment_qr, qr_image
from .fonts import has_glyphs
from .locales import (
    Country,
    date_styles,
    format_day,
    format_money,
    format_quantity,
    format_rate,
    tax_parts,
    words_for,
)
from .logos import draw_logo, initials
from .page import LEADING, Column, Page, Style, draw_table, letter_spacing, tint

WIDTH, HEIGHT, MARGIN = 1000, 1414, 64
DENSE = 0.4  # share of invoices that fill the page: order number, delivery address, notes, terms, legal line
PAYMENT_QR = 0.6  # share of invoices in euros, francs, rupees and reais with a payment QR code (EPC, QR-bill, UPI, Pix)


@dataclass(frozen=True)
class Layout:
    header: str  # logo, band, centered, sidebar or din
    meta: str  # list or boxes
    rule: str  # the table's look (see draw_table)
    columns: tuple[str, ...]  # line-item column order
    totals: str  # list, box, or table (subtotal as a spanning footer row)
    taxes: str  # inline ("VAT 19 % on 1,000.00") or summary (rate / base / tax columns)
    footer: str  # terms or columns


ITEM = ("description", "quantity", "unit_price", "amount")
LAYOUTS = {
    "classic": Layout("logo", "list", "ruled", ITEM, "list", "inline", "terms"),
    "banner": Layout("band", "boxes", "zebra", ITEM, "box", "inline", "terms"),
    "minimal": Layout(
        "centered",
        "list",
        "borderless",
        ("description", "unit_price", "quantity", "amount"),
        "list",
        "inline",
        "columns",
    ),
    "grid": Layout("logo", "boxes", "grid", ("position", *ITEM), "box", "summary", "terms"),
    "sidebar": Layout("sidebar", "list", "ruled", ITEM, "list", "inline", "terms"),
    "ledger": Layout(
        "centered", "boxes", "zebra", ("quantity", "description", "unit_price", "amount"), "list", "summary", "terms"
    ),
    "din": Layout("din", "list", "ruled", ("position", *ITEM), "list", "inline", "columns"),
    "modern": Layout("band", "list", "filled", ITEM, "table", "inline", "terms"),
}
ACCENTS = [(31, 78, 121), (170, 40, 40), (34, 110, 70), (90, 60, 140), (200, 110, 20), (40, 40, 40), (0, 120, 140)]


class Printer:
    """Formats a document's values the way this page prints them."""

    def __init__(self, doc: dict, country: Country, rng: random.Random, fake: Faker, family: str):
        self.doc, self.locale, self.currency, self.rng = doc, country.locale, doc["currency"], rng
        self.country = country
        self.bank = bank_details(fake, country, doc["vendor"])
        self.words = words_for(country)
        self.date_style = rng.choice(date_styles(country.locale))
        self.symbols_in_table = rng.random() < 0.4
        # Indian firms print the rupee as ₹ or Rs.; faces without the ₹ glyph print Rs.
        self.rupee = "₹" if has_glyphs(family, "₹") and rng.random() < 0.6 else "Rs. "

    def money(self, value: str, symbol: bool = True) -> str:
        return format_money(value, self.currency, self.locale, symbol).replace("₹", self.rupee)

    def parts(self, tax: dict) -> list[tuple[str, str]]:
        """The printed parts of a tax row, label and amount: `CGST 9%`, `₹450.00` (India); none elsewhere."""
        parts = tax_parts(self.country, tax, self.currency)
        return [(f"{name} {format_rate(rate, self.locale)}", self.money(amount)) for name, rate, amount in parts]

    def day(self, value: str) -> str:
        return format_day(value, self.locale, self.date_style)


def render(
    doc: dict, layout_name: str, rng: random.Random, fake: Faker, country: Country, family: str
) -> tuple[list[Page], list]:
    """Draw an invoice; return its pages (one unless its lines run on) and its line-item grid."""
    p = Printer(doc, country, rng, fake, family)
    style = Style(family, rng.choice([16, 17, 18]), rng.choice(ACCENTS), tracking=letter_spacing(rng))
    if layout_name == "fapiao":
        page, grid = fapiao.render(Page(fapiao.WIDTH, HEIGHT, style, margin=fapiao.MARGIN), p, fake)
        return [page], grid
    layout = LAYOUTS[layout_name]
    pages = [Page(WIDTH, HEIGHT, style, margin=MARGIN)]
    s, bottom = pages[0].style.size, _footer_top(pages[0], p)
    left, right = (310, WIDTH - MARGIN) if layout.header == "sidebar" else (MARGIN, WIDTH - MARGIN)
    y = HEADERS[layout.header](pages[0], p, left, right)
    y = (_meta_boxes if layout.meta == "boxes" else _meta_list)(pages[0], p, left, right, y, layout)
    y, grid = _table(pages, p, layout, left, right, y + s, bottom)
    if y + s + _totals_height(p, layout) * s > bottom:  # the totals go over, under the page's header
        _continued(pages[-1], p, right, y)
        y = _next_page(pages, p, layout, left, right) - s
    page = pages[-1]
    y = _totals(page, p, layout, left, right, y + s)
    for number, sheet in enumerate(pages):
        _footer(sheet, p, layout, left, right, number, len(pages))
    room = right  # the details block stays left of the payment code
    if rng.random() < PAYMENT_QR and (code := payment_qr(doc, p.bank)):
        room = draw_payment_qr(page, p, *code, left, right, y, bottom) or right
    if rng.random() < DENSE:
        draw_details(page, p, fake, left, room - s, y, bottom)
    if len(pages) > 1:
        pages[0].features.append("pages/multi-page")
    return pages, grid


def _next_page(pages: list[Page], p: Printer, layout: Layout, left: float, right: float) -> float:
    """Start a further page, headed by the vendor's name and the invoice's number and date (none of it labelled:
    the first page labels them); return the y below its header."""
    first = pages[0]
    page = Page(WIDTH, HEIGHT, first.style, paper=first.paper, margin=MARGIN)
    pages.append(page)
    s, half = page.style.size, (right - left) / 2 - page.style.size
    if layout.header == "sidebar":
        page.draw.rectangle((0, 0, 270, HEIGHT), fill=page.style.accent)
    page.text((left, MARGIN), p.doc["vendor"]["name"], 1.2, bold=True, fill=page.style.accent, width=half)
    page.block()
    number = f"{p.words['invoice']} {p.doc['invoice_number']}"
    page.text((right, MARGIN), number, bold=True, anchor="ra", width=half)
    page.text((right, MARGIN + 1.6 * s), p.day(p.doc["issue_date"]), 0.9, anchor="ra", width=half)
    page.block()
    page.draw.line((left, MARGIN + 3.3 * s, right, MARGIN + 3.3 * s), fill=(160, 160, 160), width=1)
    return MARGIN + 4.5 * s


def _continued(page: Page, p: Printer, right: float, y: float):
    """The note under a page's last line that the invoice goes on overleaf."""
    page.block()
    page.text((right, y + 0.6 * page.style.size), p.words["continued"], 0.85, anchor="ra", fill=(90, 90, 90))
    page.block()


def draw_details(page: Page, p: Printer, fake: Faker, left: float, right: float, top: float, bottom: float):
    """What fills a real invoice's empty half: the customer's order number and a delivery address, notes, the
    terms and conditions, and under the footer the firm's legal line (register, directors). Each block only where
    it fits above the footer; none of it is labelled (an order number or a delivery address is not the customer's)."""
    s, words, width = page.style.size, p.words, min(right - left, 36 * page.style.size)  # a readable measure
    blocks = []
    if p.rng.random() < 0.7:
        street = fake.address().replace("\n", ", ")
        blocks.append(
            (1.0, f"{words['order_no']}: {fake.bothify(p.rng.choice(['PO-#####', '4500######', 'B-####/##']))}")
        )
        blocks.append((1.0, f"{words['deliver_to']}: {fake.company()}, {street}"))
    if p.rng.random() < 0.6:
        blocks.append((1.0, f"{words['notes']}: {fake.paragraph(nb_sentences=2)}"))
    if p.rng.random() < 0.6:
        blocks.append((0.95, f"{words['terms']}: {words['terms_text']}"))
    y = top + 0.5 * s
    page.block()
    for size, text in blocks:
        lines = page.wrap(text, width, size)
        height = len(lines) * size * s * 1.35
        if y + height > bottom - s:
            break
        y = page.lines((left, y), text, size, width=width) + 0.5 * s
    page.block()
    legal = words["registry"].format(city=_town(p.doc["vendor"]["address"]), number=fake.numerify("######"),
                                     person=fake.name())  # fmt: skip
    room = right - left - page.width_of(words["page"].format(page=9, pages=9), 0.75) - 2 * s
    size = 0.85 if len(page.fit(legal, room, 0.85)[1]) <= 2 else 0.75  # smaller where it would take three lines
    at = (left, HEIGHT - MARGIN + 0.5 * s)  # under the bank details; two lines at most still end inside the page
    page.text(at, legal, size, fill=(90, 90, 90), width=room)
    page.block()
    page.features.append("pages/dense")


def draw_payment_qr(
    page: Page, p: Printer, kind: str, qr, left: float, right: float, top: float, bottom: float
) -> float | None:
    """The payment QR code under the totals, at the right, with its caption, where the page has room for it
    (above the footer); a Swiss QR-bill code has its cross. Return its left edge (None: no room)."""
    s = page.style.size
    module = max(2, min(4, int((bottom - top - 3 * s) // (qr.symbol_size()[0]))))
    image = qr_image(qr, module, swiss=kind == "qr-bill")
    if bottom - top - 2.5 * s < image.height:
        return
    x, y = right - image.width, bottom - image.height - 1.5 * s
    page.image.paste(image, (round(x), round(y)))
    page.codes.append((round(x), round(y), round(x) + image.width, round(y) + image.height))
    page.block()
    page.text((x + image.width / 2, y + image.height), p.words["pay_qr"], 0.75, anchor="ma", width=image.width + 40)
    page.block()
    page.features.append(f"codes/{kind}")
    return x


def _party(
    page: Page,
    x: float,
    y: float,
    party: dict,
    prefix: str,
    size: float = 1.0,
    fill=None,
    name_size: float = 1.15,
    width: float | None = None,
) -> float:
    """Name over address, within `width` (by default up to the margin), labelled as the `prefix` party's (a
    prefix of None: a later page's repeat, not labelled); return the y below."""
    name, address = (f"{prefix}.name", f"{prefix}.address") if prefix else (None, None)
    y = page.lines((x, y), party["name"], name_size, 1.5, bold=True, fill=fill, width=width, name=name)
    return page.lines((x, y), party["address"], size, fill=fill, width=width, name=address)


def _contacts(
    page: Page, p: Printer, x: float, y: float, right: float, size: float = 0.9, fill=None, labelled: bool = True
) -> float:  # fmt: skip
    """Tax id, phone and email (those printed), one per line, each after its label and ending before `right`."""
    vendor = p.doc["vendor"]
    for key in _printed(vendor, ("tax_id", "phone", "email")):
        box = page.text((x, y), f"{p.words[key]}:", size, fill=fill)
        at, width, name = (box[2] + 6, y), right - box[2] - 6, f"vendor.{key}" if labelled else None
        y = page.lines(at, vendor[key], size, 1.4, fill=fill, width=width, name=name)
    return y


def _header_logo(page: Page, p: Printer, left: float, right: float) -> float:
    s, accent = page.style.size, page.style.accent
    draw_logo(page, left, MARGIN, 64, p.doc["vendor"]["name"], p.rng)
    page.features.append("marks/logo")
    y = _party(page, left, MARGIN + 80, p.doc["vendor"], "vendor", 0.9, name_size=1.3)
    y = _contacts(page, p, left, y + s * 0.3, right)
    page.block()
    page.text(
        (right, MARGIN), p.words["invoice"], 2.2, bold=True, fill=accent, anchor="ra", name="doc_type", value="invoice"
    )
    page.block()
    return max(y, MARGIN + 6 * s) + s


def _header_band(page: Page, p: Printer, left: float, right: float) -> float:
    s, white = page.style.size, (255, 255, 255)
    page.draw.rectangle((0, 0, WIDTH, 150), fill=page.style.accent)
    title = page.text(
        (right, 38), p.words["invoice"], 2.2, bold=True, fill=white, anchor="ra", name="doc_type", value="invoice"
    )
    width = title[0] - 2 * s - left
    page.text((left, 38), p.doc["vendor"]["name"], 1.6, bold=True, fill=white, name="vendor.name", width=width)
    page.block()
    x = left
    for key in _printed(p.doc["vendor"], ("email", "phone")):
        x = page.text((x, 96), p.doc["vendor"][key], 0.9, fill=white, name=f"vendor.{key}")[2] + 24
    page.block()
    y = page.lines((left, 180), p.doc["vendor"]["address"], 0.9, name="vendor.address")
    box = page.text((left, y), f"{p.words['tax_id']}:", 0.9)
    page.text((box[2] + 6, y), p.doc["vendor"]["tax_id"], 0.9, name="vendor.tax_id")
    page.block()
    return max(y + 2 * s, 180 + 5 * s)


def _header_centered(page: Page, p: Printer, left: float, right: float) -> float:
    s, middle, vendor = page.style.size, WIDTH / 2, p.doc["vendor"]
    page.text((middle, MARGIN), vendor["name"], 1.7, bold=True, anchor="ma", name="vendor.name")
    page.text(
        (middle, MARGIN + 3 * s),
        vendor["address"].replace("\n", ", "),
        0.9,
        anchor="ma",
        name="vendor.address",
        value=vendor["address"],
    )
    parts = [(f"{p.words[k]}: ", vendor[k], f"vendor.{k}") for k in _printed(vendor, ("tax_id", "phone", "email"))]
    widths = [page.width_of(label + value, 0.85) for label, value, _ in parts]
    x = middle - (sum(widths) + 30 * (len(parts) - 1)) / 2  # centred as one line
    for (label, value, name), width in zip(parts, widths, strict=True):
        page.text((x, MARGIN + 4.6 * s), label, 0.85)
        page.text((x + page.width_of(label, 0.85), MARGIN + 4.6 * s), value, 0.85, name=name)
        x += width + 30
    y = MARGIN + 7 * s
    page.draw.line((left, y, right, y), fill=page.style.accent, width=3)
    page.block()
    page.text((middle, y + s), p.words["invoice"], 2.0, bold=True, anchor="ma", name="doc_type", value="invoice")
    page.block()
    return y + 5 * s


def _header_sidebar(page: Page, p: Printer, left: float, right: float) -> float:
    s, white, vendor = page.style.size, (255, 255, 255), p.doc["vendor"]
    page.draw.rectangle((0, 0, 270, HEIGHT), fill=page.style.accent)
    x = 28
    page.text((x, MARGIN), initials(vendor["name"]), 2.4, bold=True, fill=white)
    width = 270 - 2 * x  # the sidebar, less its padding
    y = page.lines(
        (x, MARGIN + 4 * s), vendor["name"], 1.1, 1.36, bold=True, fill=white, width=width, name="vendor.name"
    )
    y = page.lines((x, y + 0.5 * s), vendor["address"], 0.85, fill=white, width=width, name="vendor.address")
    for key in _printed(vendor, ("tax_id", "phone", "email")):
        page.text((x, y + 0.6 * s), p.words[key], 0.8, bold=True, fill=white, width=width)
        y = page.lines((x, y + 1.8 * s), vendor[key], 0.8, 1.5, fill=white, width=width, name=f"vendor.{key}")
    page.block()
    page.text(
        (left, MARGIN), p.words["invoice"], 2.2, bold=True, fill=page.style.accent, name="doc_type", value="invoice"
    )
    page.block()
    return MARGIN + 4 * s


def _header_din(page: Page, p: Printer, left: float, right: float) -> float:
    """German DIN 5008 letter: sender line over the window address, info block on the right; vendor in footer."""
    s, vendor = page.style.size, p.doc["vendor"]
    page.text(
        (right, MARGIN), vendor["name"], 1.5, bold=True, fill=page.style.accent, anchor="ra"
    )  # labelled in the footer
    page.block()
    width = _meta_left(page, p, right) - s - left  # the window, left of the info block
    sender = f"{vendor['name']} · {vendor['address'].splitlines()[0]}"
    box = page.text((left, 170), sender, 0.7, fill=(90, 90, 90), width=width)
    page.draw.line((left, box[3] + 3, box[2], box[3] + 3), fill=(90, 90, 90))
    page.block()
    y = _party(page, left, 200, p.doc["customer"], "customer", width=width)
    page.block()
    page.text((left, max(y, 330) + s), p.words["invoice"], 1.6, bold=True, name="doc_type", value="invoice")
    page.block()
    return 170


HEADERS = {
    "logo": _header_logo,
    "band": _header_band,
    "centered": _header_centered,
    "sidebar": _header_sidebar,
    "din": _header_din,
}


def _meta_values(p: Printer) -> list[tuple[str, str, str]]:
    """Label, printed text and field of each meta row; an invoice without a due date has no row for it."""
    doc = p.doc
    due = [(p.words["due_date"], p.day(doc["due_date"]), "due_date")] if doc["due_date"] is not None else []
    return [
        (p.words["invoice_number"], doc["invoice_number"], "invoice_number"),
        (p.words["issue_date"], p.day(doc["issue_date"]), "issue_date"),
        *due,
        (p.words["currency"], doc["currency"], "currency"),
    ]


def _meta_left(page: Page, p: Printer, right: float) -> float:
    """Where the label/value rows start: 300 px before `right`, or further left where a label and its value need it."""
    need = max(
        page.width_of(f"{label}:", 0.95, bold=True) + page.width_of(text, 0.95) for label, text, _ in _meta_values(p)
    )
    return right - max(300, need + page.style.size)


def _meta_list(page: Page, p: Printer, left: float, right: float, y: float, layout: Layout) -> float:
    """Label/value rows on the right, the customer on the left (the DIN header already placed the customer)."""
    s, label_x = page.style.size, _meta_left(page, p, right)
    if layout.header != "din":
        page.block()
        page.text((left, y), p.words["bill_to"], 0.85, bold=True, fill=page.style.accent)
        bottom = _party(page, left, y + 1.6 * s, p.doc["customer"], "customer", width=label_x - s - left)
    else:
        bottom = y
    page.block()
    for i, (label, text, name) in enumerate(_meta_values(p)):
        row_y = y + i * 1.6 * s
        page.text((label_x, row_y), f"{label}:", 0.95, bold=True)
        page.text((right, row_y), text, 0.95, anchor="ra", name=name, value=p.doc[name])
    page.block()
    return max(bottom, y + 6.4 * s) + (8 * s if layout.header == "din" else s)


def _meta_boxes(page: Page, p: Printer, left: float, right: float, y: float, layout: Layout) -> float:
    """A row of boxes (label above value) under the header, then the customer."""
    s, values = page.style.size, _meta_values(p)
    width = (right - left) / len(values)
    fitted = [page.fit(text, width - 30, bold=True) for _, text, _ in values]
    height = 3.4 * s + max((len(lines) - 1) * size * LEADING * s for size, lines in fitted)  # room for a wrapped value
    page.block()
    for i, (label, text, name) in enumerate(values):
        x = left + i * width
        page.draw.rectangle((x, y, x + width - 10, y + height), fill=tint(page.style.accent), outline=page.style.accent)
        page.text((x + 10, y + 0.4 * s), label, 0.8, fill=page.style.accent, width=width - 30)
        page.text((x + 10, y + 1.7 * s), text, 1.0, bold=True, name=name, value=p.doc[name], width=width - 30)
    page.block()
    y += height + 1.2 * s
    page.text((left, y), p.words["bill_to"], 0.85, bold=True, fill=page.style.accent)
    return _party(page, left, y + 1.6 * s, p.doc["customer"], "customer") + s


WIDTHS = {"position": 56, "quantity": 90, "unit_price": 150, "discount": 120, "amount": 160}
NARROW = 0.85  # with a discount column the others give up some width, so the description keeps enough


def _table(
    pages: list[Page], p: Printer, layout: Layout, left: float, right: float, y: float, bottom: float
) -> tuple[float, list]:  # fmt: skip
    """The line items in the layout's column order, a discount column before the amount when a line has one; the
    lines that do not fit above `bottom` go on to further pages, each under the table's header again."""
    headers = {"position": p.words["position"], **{k: p.words[k] for k in (*ITEM, "discount")}}
    keys = layout.columns
    marked_down = any("discount" in item for item in p.doc["line_items"])
    if marked_down:
        at = keys.index("amount")
        keys = (*keys[:at], "discount", *keys[at:])
    scale = NARROW if marked_down else 1
    fixed = sum(WIDTHS[k] * scale for k in keys if k != "description")
    columns = [
        Column(
            k,
            headers[k],
            WIDTHS[k] * scale if k in WIDTHS else right - left - fixed,
            "left" if k in ("description", "position") else "right",
        )
        for k in keys
    ]
    rows = []
    for i, item in enumerate(p.doc["line_items"]):
        name = f"line_items.{i}"
        cut = ("", None, None)  # a line without a discount leaves its cell empty
        if "discount" in item:
            cut = ("-" + p.money(item["discount"], p.symbols_in_table), f"{name}.discount", item["discount"])
        rows.append(
            {
                "position": (str(i + 1), None, None),
                "description": (item["description"], f"{name}.description", item["description"]),
                "quantity": (format_quantity(item["quantity"], p.locale), f"{name}.quantity", item["quantity"]),
                "unit_price": (
                    p.money(item["unit_price"], p.symbols_in_table),
                    f"{name}.unit_price",
                    item["unit_price"],
                ),
                "discount": cut,
                "amount": (p.money(item["amount"], p.symbols_in_table), f"{name}.amount", item["amount"]),
            }
        )
    footer = []
    if layout.totals == "table":
        footer = [(p.words["subtotal"], (p.money(p.doc["subtotal"]), "subtotal", p.doc["subtotal"]))]
    grid, room = [], bottom - 2.5 * pages[0].style.size  # room for the note that the lines continue
    while True:
        y, part, drawn = draw_table(pages[-1], left, y, columns, rows, layout.rule, footer, room)
        grid += part[1:] if grid else part  # one table: its header once
        if not (rows := rows[drawn:]):
            return y, grid
        _continued(pages[-1], p, right, y)
        y = _next_page(pages, p, layout, left, right)


def _totals_height(p: Printer, layout: Layout) -> float:
    """How far down `_totals` draws, in body sizes: its rows, the total and the note under it."""
    doc, lines = p.doc, len([key for key in ("discount", "shipping", "rounding") if p.doc[key] is not None])
    lines += layout.totals != "table"  # the subtotal
    parts = sum(len(p.parts(tax)) for tax in doc["taxes"])
    if layout.taxes == "summary":
        rows, summary = lines * 1.7, 1.8 + len(doc["taxes"]) * 1.5 + parts * 1.3
    else:
        rows, summary = (lines + len(doc["taxes"])) * 1.7 + parts * 1.35, 0
    return max(rows + 5.0, summary + 2.5)


def _totals(page: Page, p: Printer, layout: Layout, left: float, right: float, y: float) -> float:
    """Subtotal, discount, taxes, shipping, rounding and total as label/value rows at the right (a discount, shipping
    or rounding only where there is one), and under them the note that the prices exclude tax."""
    s, doc = page.style.size, p.doc
    value_x, label_x = right - 10, right - 190
    room = value_x - label_x - s  # a value stays clear of its label
    before = [] if layout.totals == "table" else ["subtotal"]
    before += [key for key in ("discount",) if doc[key] is not None]
    after = [key for key in ("shipping", "rounding") if doc[key] is not None]
    top = summary_bottom = y
    if layout.totals == "box":
        taxes = 0 if layout.taxes == "summary" else sum(1 + 0.8 * len(p.parts(tax)) for tax in doc["taxes"])
        rows_below = len(before) + len(after) + taxes
        page.draw.rectangle(
            (right - 420, y - 0.5 * s, right, y + rows_below * 1.7 * s), fill=tint(page.style.accent, 0.08)
        )
    page.block()

    def row(key: str) -> float:
        page.text((label_x, y), p.words[key], anchor="ra")
        sign = "-" if key == "discount" else ""
        page.text((value_x, y), sign + p.money(doc[key]), anchor="ra", name=key, value=doc[key], width=room)
        return y + 1.7 * s

    for key in before:
        y = row(key)
    if layout.taxes == "summary":  # beside the totals, on the left
        summary_bottom = _tax_summary(page, p, left, top)
        page.block()
    else:
        for i, tax in enumerate(doc["taxes"]):
            parts = [
                (p.words["tax"], None, None),
                (format_rate(tax["rate"], p.locale), f"taxes.{i}.rate", tax["rate"]),
                (p.words["base"], None, None),
                (p.money(tax["base"]), f"taxes.{i}.base", tax["base"]),
            ]
            _right_aligned(page, label_x, y, parts)
            amount = p.money(tax["amount"])
            page.text((value_x, y), amount, anchor="ra", name=f"taxes.{i}.amount", value=tax["amount"], width=room)
            y += 1.7 * s
            for label, part in p.parts(tax):  # printed under the row, not labelled
                page.text((label_x, y - 0.2 * s), label, 0.8, anchor="ra", fill=(90, 90, 90))
                page.text((value_x, y - 0.2 * s), part, 0.8, anchor="ra", fill=(90, 90, 90), width=room)
                y += 1.35 * s
    for key in after:
        y = row(key)
    y += 0.2 * s
    if layout.totals == "box":
        page.draw.rectangle((right - 420, y - 0.4 * s, right, y + 1.8 * s), fill=page.style.accent)
    fill = (255, 255, 255) if layout.totals == "box" else None
    if fill is None:
        page.draw.line((label_x - 150, y - 0.5 * s, right, y - 0.5 * s), fill=page.style.ink, width=2)
    page.text((label_x, y), p.words["total"], 1.2, bold=True, fill=fill, anchor="ra")
    total = p.money(doc["total"])
    page.text((value_x, y), total, 1.2, bold=True, fill=fill, anchor="ra", name="total", value=doc["total"], width=room)
    page.block()
    y += 2.3 * s
    note, included = p.words["tax_excluded"], str(doc["prices_include_tax"])
    page.text((value_x, y), note, 0.8, anchor="ra", name="prices_include_tax", value=included, width=right - left)
    page.block()
    return max(y, summary_bottom) + 2.5 * s


def _tax_summary(page: Page, p: Printer, left: float, y: float) -> float:
    """A small rate / base / tax table, printed beside the totals."""
    s = page.style.size
    x = left
    widths = (80, 150 - s, 150 - s)  # right-aligned columns ending at x + 80, + 230 and + 380
    page.block()
    heads = (p.words["rate"], p.words["taxable"], p.words["tax"])
    for j, head in enumerate(heads):
        page.text((x + 80 + j * 150, y), head, 0.85, bold=True, anchor="ra", width=widths[j])
    y += 1.5 * s
    for i, tax in enumerate(p.doc["taxes"]):
        cells = [
            (format_rate(tax["rate"], p.locale), f"taxes.{i}.rate", tax["rate"]),
            (p.money(tax["base"]), f"taxes.{i}.base", tax["base"]),
            (p.money(tax["amount"]), f"taxes.{i}.amount", tax["amount"]),
        ]
        for j, (text, name, value) in enumerate(cells):
            page.text((x + 80 + j * 150, y), text, 0.9, anchor="ra", name=name, value=value, width=widths[j])
        y += 1.5 * s
        for label, part in p.parts(tax):  # printed under the row, not labelled
            page.text((x + 230, y), label, 0.8, anchor="ra", fill=(90, 90, 90), width=widths[1])
            page.text((x + 380, y), part, 0.8, anchor="ra", fill=(90, 90, 90), width=widths[2])
            y += 1.3 * s
    page.block()
    return y + 0.3 * s


def _right_aligned(
    page: Page, right: float, y: float, parts: list[tuple[str, str | None, str | None]], size: float = 1.0
):
    """Draw words that end at `right`, each recorded as its own field when named."""
    gap = page.width_of(" ", size)
    x = right - sum(page.width_of(text, size) for text, _, _ in parts) - gap * (len(parts) - 1)
    for text, name, value in parts:
        page.text((x, y), text, size, name=name, value=value)
        x += page.width_of(text, size) + gap


def _footer_top(page: Page, p: Printer) -> float:
    """Where a page's footer starts (its rule): what goes above it ends here. A third line of bank details (India's
    UPI address, Brazil's Pix key) starts it higher, above the legal line."""
    return HEIGHT - MARGIN - (7.5 + 1.2 * max(0, len(p.bank.lines) - 2)) * page.style.size


def _footer(page: Page, p: Printer, layout: Layout, left: float, right: float, number: int, count: int):
    """Thanks, payment terms (on the last page) and the vendor's bank details, and the page's number of `count`."""
    s, doc = page.style.size, p.doc
    y = _footer_top(page, p) + s
    page.draw.line((left, y - s, right, y - s), fill=(160, 160, 160), width=1)
    page.block()
    if layout.footer == "columns":
        width = (right - left) / 3
        if layout.header == "din":  # the vendor's address and contacts live here, labelled on the first page
            first = number == 0
            _party(page, left, y, doc["vendor"], "vendor" if first else None, 0.8, name_size=0.85, width=width - s)
            _contacts(page, p, left + width, y, left + 2 * width - s, 0.8, labelled=first)
        else:
            page.text((left, y), p.words["thanks"], 0.85, width=width - s)
        page.block()
        x, room = left + 2 * width, width
    else:
        thanks = page.text((right, y + 1.4 * s), p.words["thanks"], 0.9, anchor="ra", fill=page.style.accent)
        x, room = left, thanks[0] - s - left
    if doc["payment_terms"] is not None and number == count - 1:
        page.text((x, y), p.words["payment_terms"], 0.85, bold=True, width=room)
        page.text((x, y + 1.4 * s), doc["payment_terms"], 0.85, name="payment_terms", width=room)
        y += 3.0 * s
    page.text((x, y), p.words["bank"], 0.85, bold=True, width=room)
    for i, line in enumerate(p.bank.lines):
        page.text((x, y + (1.4 + 1.2 * i) * s), line, 0.8, width=room)
    page.block()
    folio = p.words["page"].format(page=number + 1, pages=count)
    page.text((right, HEIGHT - MARGIN + s), folio, 0.75, anchor="ra", fill=(110, 110, 110))


def _town(address: str) -> str:
    """The town of an address: its last line that is not a British postcode, less a leading postcode (`13027,
    Scopa (VC)` → `Scopa (VC)`). Faker's own `city()` is no use here: in it_IT it depends on the hash seed."""
    lines = [line for line in address.splitlines() if not re.fullmatch(r"[A-Z]{1,2}\d[\dA-Z]? ?\d[A-Z]{2}", line)]
    return re.sub(r"^[\d\s,-]+", "", lines[-1]) or lines[-1]


def _printed(party: dict, keys: tuple[str, ...]) -> list[str]:
    """The keys whose values the page prints: a null one (no email, no phone) is left off."""
    return [key for key in keys if party[key] is not None]
