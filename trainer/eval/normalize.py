"""How a predicted value is compared with the truth: as text, as a number or as a date, by the field's key.

An empty or missing value never matches (the design this came from let empty strings match).
"""

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from dateutil import parser as dateparser

NUMERIC_KEYS = {"quantity", "unit_price", "amount", "subtotal", "discount", "base", "rate", "shipping", "total"}
DATE_KEYS = {"issue_date", "due_date", "date"}
_NOT_NUMBER = re.compile(r"[^\d.,\-]")  # currency symbols, codes, spaces, percent signs
_TOO_LARGE = Decimal(10) ** 18  # the schema's bound: no true value reaches it, and cents of larger ones can overflow


def normalize_text(value) -> str:
    """NFKC, whitespace collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", str(value)).split()).casefold()


def parse_number(value) -> Decimal | None:
    """`"1,234.50"`, `"1.234,50 €"`, `"$1234.5"`, `"19 %"` → Decimal; None when it is no number, or no amount:
    infinite, NaN (JSON's `1e400`, `NaN`) or 10**18 and over.

    With both separators the last one is the decimal point; a lone comma is a decimal comma unless exactly three
    digits follow it (`1,234`).
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = Decimal(str(value))
        return number if number.is_finite() and abs(number) < _TOO_LARGE else None
    if not isinstance(value, str):
        return None
    text = _NOT_NUMBER.sub("", unicodedata.normalize("NFKC", value))
    if "," in text and "." in text:
        thousands = "," if text.rfind(".") > text.rfind(",") else "."
        text = text.replace(thousands, "").replace(",", ".")
    elif "," in text:
        whole, _, last = text.rpartition(",")
        text = text.replace(",", "") if len(last) == 3 and whole else text.replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if abs(number) < _TOO_LARGE else None


def parse_day(value) -> dt.date | None:
    """ISO dates, and the other ways a date is written (`05.03.2024`, `March 5, 2024`); None when it is no date.

    No date is written in more than 64 characters, and dateutil takes seconds to read a megabyte.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        pass
    try:
        return dateparser.parse(value, dayfirst=True).date()
    except (ValueError, OverflowError, dateparser.ParserError):
        return None


def key_of(path: str) -> str:
    """`line_items.2.amount` → `amount`."""
    return path.rsplit(".", 1)[-1]


def values_match(path: str, predicted, truth) -> bool:
    """Whether a predicted value equals the true one, compared the way the field's key says."""
    if predicted is None or (isinstance(predicted, str) and not predicted.strip()):
        return False
    key = key_of(path)
    if key in NUMERIC_KEYS:
        a, b = parse_number(predicted), parse_number(truth)
        return a is not None and b is not None and a == b
    if key in DATE_KEYS:
        a, b = parse_day(predicted), parse_day(truth)
        return a is not None and a == b
    return isinstance(predicted, str | int | float) and normalize_text(predicted) == normalize_text(truth)


def equal_to_the_cent(predicted, truth) -> bool:
    a, b = parse_number(predicted), parse_number(truth)
    cent = Decimal("0.01")
    return a is not None and b is not None and a.quantize(cent) == b.quantize(cent)
