"""China's VAT invoice (增值税发票, the fapiao) as zh_CN invoices print it: the title over the invoice's 20-digit
number and date, the buyer's and the seller's boxes side by side, a ruled grid of lines each with its own rate and
tax, the 合计 row, the amount in words (价税合计（大写）, in the financial numerals) beside the figure, and the remarks
box that holds what the form has no box for (currency, due date, terms, bank account).

A fapiao prints net prices and the tax of every line, so it is a layout only for an invoice without a discount,
shipping or rounding (none of which its grid has room for) and of a few lines; its lines may be at different rates
(goods at 13 %, services at 6 %). The lines' taxes, rounded one by one, are made to add up to each rate's labelled
tax: the rate's last line takes the remainder, as issuing software does.
"""

import datetime as dt
from decimal import Decimal
from itertools import combinations

from cn2an import an2cn

from trainer.schema.document import money

from .page import Column, Page, draw_table

WIDTH, MARGIN = 1000, 40
RED = (150, 60, 45)  # the form's printed colour: its title, rules and box labels
MAX_ITEMS = 8
TITLES = ("电子发票（普通发票）", "电子发票（增值税专用发票）")


def fits(doc: dict) -> bool:
    """Whether the fapiao's grid can print this invoice: yuan, a few lines, nothing but lines and tax."""
    lines = doc["line_items"]
    plain = all(doc[key] is None for key in ("discount", "shipping", "rounding"))
    plain &= not any("discount" in item for item in lines)
    return plain and doc["currency"] == "CNY" and len(lines) <= MAX_ITEMS


def in_words(amount: str) -> str:
    """An amount in the financial numerals a fapiao prints it in: 壹仟贰佰叁拾肆圆伍角陆分, 壹佰圆整."""
    return an2cn(amount, "rmb").replace("元", "圆")


def line_rates(doc: dict) -> list[str]:
    """The rate of each line: the label gives each rate's base, and with no discount a base is the sum of its lines'
    amounts, so the lines are split into groups that add up to the bases (any such split agrees with the label)."""
    amounts = [Decimal(item["amount"]) for item in doc["line_items"]]

    def split(lines: list[int], taxes: list[dict]) -> dict[int, str] | None:
        if len(taxes) == 1:
            return dict.fromkeys(lines, taxes[0]["rate"])
        for size in range(1, len(lines)):
            for group in combinations(lines, size):
                if sum(amounts[i] for i in group) == Decimal(taxes[0]["base"]):
                    rest = split([i for i in lines if i not in group], taxes[1:])
                    if rest is not None:
                        return dict.fromkeys(group, taxes[0]["rate"]) | rest
        return None

    rates = split(list(range(len(amounts))), doc["taxes"])
    return [rates[i] for i in range(len(amounts))]


def line_taxes(doc: dict, rates: list[str]) -> list[str]:
    """Each line's tax at its rate (`line_rates`), rounded to the fen, the last line of each rate taking what makes
    that rate's lines add up to its labelled tax."""
    items, currency = doc["line_items"], doc["currency"]
    taxes = [
        Decimal(money(Decimal(item["amount"]) * Decimal(rate) / 100, currency))
        for item, rate in zip(items, rates, strict=True)
    ]
    for tax in doc["taxes"]:
        at_rate = [i for i, rate in enumerate(rates) if rate == tax["rate"]]
        taxes[at_rate[-1]] += Decimal(tax["amount"]) - sum(taxes[i] for i in at_rate)
    return [money(tax, currency) for tax in taxes]


def render(page: Page, p, fake) -> tuple[Page, list]:
    """Draw the fapiao on `page` (cut to its content); `p` formats the values (invoice_layouts.Printer). Return the page
    and its grid."""
    s, doc = page.style.size, p.doc
    left, right = MARGIN, WIDTH - MARGIN
    _seal(page, fake, left + 40, MARGIN - 10)
    title = p.rng.choice(TITLES)
    page.text((WIDTH / 2, MARGIN), title, 1.6, bold=True, fill=RED, anchor="ma", name="doc_type", value="invoice")
    rule = MARGIN + 2.2 * s
    page.draw.line((WIDTH / 2 - 170, rule, WIDTH / 2 + 170, rule), fill=RED, width=2)
    page.draw.line((WIDTH / 2 - 170, rule + 4, WIDTH / 2 + 170, rule + 4), fill=RED, width=2)
    page.block()
    issued = dt.date.fromisoformat(doc["issue_date"])
    for i, (label, text, name) in enumerate(
        [("发票号码：", doc["invoice_number"], "invoice_number"),
         ("开票日期：", f"{issued.year}年{issued.month:02d}月{issued.day:02d}日", "issue_date")]
    ):  # fmt: skip
        y = MARGIN + 3.2 * s + i * 1.6 * s
        page.text((right - 330, y), label, 0.9, fill=RED)
        page.text((right, y), text, 0.9, anchor="ra", name=name, value=doc[name], width=240)
    page.block()
    y = _parties(page, p, left, right, MARGIN + 7 * s)
    y, grid = _grid(page, p, left, right, y)
    y = _amount_in_words(page, p, left, right, y)
    y = _remarks(page, p, left, right, y)
    page.text((left + 10, y + 0.8 * s), f"开票人：{fake.name()}", 0.9)
    page.block()
    page.crop(round(y + 3 * s))
    page.features.append("pages/fapiao")
    return page, grid


def _seal(page: Page, fake, x: float, y: float):
    """The tax bureau's oval supervision seal (发票监制章) beside the title, in red."""
    s = page.style.size
    page.draw.ellipse((x, y, x + 9 * s, y + 5 * s), outline=(200, 40, 40), width=3)
    page.block()
    page.text((x + 4.5 * s, y + 1.1 * s), "全国统一发票监制章", 0.6, fill=(200, 40, 40), anchor="ma", width=8 * s)
    page.text((x + 4.5 * s, y + 2.2 * s), "国家税务总局", 0.7, fill=(200, 40, 40), anchor="ma", width=8 * s)
    page.text((x + 4.5 * s, y + 3.3 * s), f"{fake.province()}税务局", 0.6, fill=(200, 40, 40), anchor="ma",
              width=8 * s)  # fmt: skip
    page.block()


def _parties(page: Page, p, left: float, right: float, top: float) -> float:
    """The buyer's box (购买方) and the seller's (销售方) side by side, each value after its label; return the y
    below them."""
    s, doc, middle = page.style.size, p.doc, (left + right) / 2
    vendor, customer = doc["vendor"], doc["customer"]
    sides = [
        ("购买方信息", left, [("名称：", customer["name"], "customer.name"),
                              ("地址：", customer["address"], "customer.address")]),
        ("销售方信息", middle, [("名称：", vendor["name"], "vendor.name"),
                                ("统一社会信用代码/纳税人识别号：", vendor["tax_id"], "vendor.tax_id"),
                                ("地址：", vendor["address"], "vendor.address"),
                                *([("电话：", vendor["phone"], "vendor.phone")] if vendor["phone"] else [])]),
    ]  # fmt: skip
    bottom = top
    for heading, x, rows in sides:
        page.block()
        page.text((x + 10, top + 0.5 * s), heading, 0.85, fill=RED)
        y = top + 2.1 * s
        for label, value, name in rows:
            end = page.text((x + 10, y), label, 0.85, fill=RED)[2] + 6
            if x + (middle - left) - 10 - end < 8 * s:  # a long label: the value under it
                end, y = x + 10, y + 1.35 * s
            y = page.lines((end, y), value, 0.85, width=x + (middle - left) - 10 - end, name=name) + 0.2 * s
        bottom = max(bottom, y)
    page.block()
    bottom += 0.4 * s
    page.draw.rectangle((left, top, right, bottom), outline=RED, width=2)
    page.draw.line((middle, top, middle, bottom), fill=RED, width=2)
    return bottom


def _grid(page: Page, p, left: float, right: float, top: float) -> tuple[float, list]:
    """The lines, each with its rate and tax, then the 合计 row (the subtotal and the whole tax) and a row for each
    rate (其中: the labelled rate, base and tax)."""
    doc = p.doc
    widths = {"quantity": 80, "unit_price": 130, "amount": 140, "rate": 110, "tax": 130}
    heads = {"description": "项目名称", "quantity": "数量", "unit_price": "单价", "amount": "金额",
             "rate": "税率/征收率", "tax": "税额"}  # fmt: skip
    columns = [
        Column(key, head, widths.get(key, right - left - sum(widths.values())),
               "left" if key == "description" else "right")
        for key, head in heads.items()
    ]  # fmt: skip
    rows = []
    rates = line_rates(doc)
    for i, (item, rate, line_tax) in enumerate(zip(doc["line_items"], rates, line_taxes(doc, rates), strict=True)):
        name = f"line_items.{i}"
        rows.append({
            "description": (item["description"], f"{name}.description", item["description"]),
            "quantity": (item["quantity"], f"{name}.quantity", item["quantity"]),
            "unit_price": (p.money(item["unit_price"], False), f"{name}.unit_price", item["unit_price"]),
            "amount": (p.money(item["amount"], False), f"{name}.amount", item["amount"]),
            "rate": (_rate(rate), None, None),
            "tax": (p.money(line_tax, False), None, None),
        })  # fmt: skip
    empty = ("", None, None)
    whole = money(sum(Decimal(tax["amount"]) for tax in doc["taxes"]), doc["currency"])
    rows.append({**dict.fromkeys(heads, empty), "description": ("合计", None, None),
                 "amount": (p.money(doc["subtotal"]), "subtotal", doc["subtotal"]),
                 "tax": (p.money(whole), None, None)})  # fmt: skip
    for k, tax in enumerate(doc["taxes"]):
        rows.append({**dict.fromkeys(heads, empty), "description": ("其中" if k == 0 else "", None, None),
                     "rate": (_rate(tax["rate"]), f"taxes.{k}.rate", tax["rate"]),
                     "amount": (p.money(tax["base"]), f"taxes.{k}.base", tax["base"]),
                     "tax": (p.money(tax["amount"]), f"taxes.{k}.amount", tax["amount"])})  # fmt: skip
    y, grid, _ = draw_table(page, left, top, columns, rows, "grid")
    return y, grid


def _rate(rate: str) -> str:
    return f"{Decimal(rate):g}%"


def _amount_in_words(page: Page, p, left: float, right: float, top: float) -> float:
    """价税合计（大写）: the total in financial numerals, and （小写）: the labelled figure."""
    s, total = page.style.size, p.doc["total"]
    bottom = top + 2.4 * s
    page.draw.rectangle((left, top, right, bottom), outline=RED, width=2)
    page.block()
    y = top + 0.6 * s
    label = page.text((left + 10, y), "价税合计（大写）", 0.9, fill=RED)
    page.text((label[2] + 16, y), f"ⓧ {in_words(total)}", 0.95, width=right - 330 - label[2] - 24)
    small = page.text((right - 320, y), "（小写）", 0.9, fill=RED)
    page.text((small[2] + 8, y), p.money(total), 1.0, bold=True, name="total", value=total, width=right - small[2] - 18)
    page.block()
    return bottom


def _remarks(page: Page, p, left: float, right: float, top: float) -> float:
    """The 备注 box: the currency, the due date, the terms, the seller's email, that prices are net, the bank."""
    s, doc, words = page.style.size, p.doc, p.words
    rows = [(f"{words['currency']}：", doc["currency"], "currency", doc["currency"])]
    if doc["due_date"] is not None:
        rows.append((f"{words['due_date']}：", p.day(doc["due_date"]), "due_date", doc["due_date"]))
    if doc["payment_terms"] is not None:
        rows.append((f"{words['payment_terms']}：", doc["payment_terms"], "payment_terms", doc["payment_terms"]))
    if doc["vendor"]["email"] is not None:
        rows.append((f"{words['email']}：", doc["vendor"]["email"], "vendor.email", doc["vendor"]["email"]))
    page.block()
    page.text((left + 10, top + 0.6 * s), "备注", 0.9, fill=RED)
    x, y = left + 4 * s, top + 0.6 * s
    for label, text, name, value in rows:
        box = page.text((x, y), label, 0.85)
        page.text((box[2] + 4, y), text, 0.85, name=name, value=value, width=right - box[2] - 14)
        y += 1.4 * s
    note = str(doc["prices_include_tax"])
    page.text((x, y), words["tax_excluded"], 0.85, name="prices_include_tax", value=note, width=right - x - 10)
    y += 1.4 * s
    page.text((x, y), f"{words['bank']}：{' '.join(p.bank.lines)}", 0.85, width=right - x - 10)
    y += 1.6 * s
    page.block()
    page.draw.rectangle((left, top, right, y), outline=RED, width=2)
    page.draw.line((left + 3.5 * s, top, left + 3.5 * s, y), fill=RED, width=1)
    return y
