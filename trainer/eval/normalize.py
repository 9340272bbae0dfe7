"""How a predicted value is compared with the truth, by the field's key, the way a careful reader of both would judge.

Forgiven, because the value is the same:
- text: case, Unicode width (NFKC) and runs of whitespace; in an `address`, line breaks and commas alike.
- amounts and other numbers: a currency symbol, code or word on either side (`RM9.00`, `Rs. 9.00`, `9.00 €`),
  thousands grouped by `,` `.` a space or an apostrophe (`CHF 1'234.50`), a decimal comma, and a minus written
  `−9.00`, `9.00-` or `(9.00)`. Every reading is Babel's (CLDR, strict grouping) in the project's locales: a lone
  separator followed by exactly three digits (`1,234`) reads two ways there, and either may match; `0,434` and
  `1,234.50` read one way.
- dates: any order and language the project's locales print (`25. Dezember 2018`, `2018年12月25日`,
  `25/12/18`), read by dateparser; `05/03/2024` may be 5 March or 3 May, `13/03/2024` only 13 March.
- times: `20:13:39`, `8:13 PM`, `20.13` and `20h13` all read 20:13 (the truth keeps minutes).
- a currency's ISO code, its symbol or its name (`€`, `Euro` for EUR); a yes/no as JSON's true/false or as text.

Not forgiven: any other difference of text (an ID's punctuation, a name's spelling: ANLS scores those softly), a
number off by anything (`9.01` is not `9.00`; numeric accuracy separately rounds to the cent), a date without its
day, month or year (`Dec 2018` is no date: nothing is filled in, and nothing depends on the day the metric runs),
and an empty or missing value where the document prints one. A true null means the document prints no such field:
there nothing (null, an empty string, the key left out) is right, and any value is invented.
"""

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale
from babel.numbers import NumberFormatError, get_currency_name, get_currency_symbol, parse_decimal
from dateparser.date import DateDataParser
from rapidfuzz.distance import Levenshtein

NUMERIC_KEYS = {
    "quantity", "unit_price", "amount", "subtotal", "discount", "base", "rate", "shipping", "rounding", "total",
}  # fmt: skip
DATE_KEYS = {"issue_date", "due_date", "date"}
TIME_KEYS = {"time"}
# The synthetic documents' locales (trainer.synth.locales.COUNTRIES; a test keeps them in step).
LOCALES = (
    "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "de_CH", "ja_JP", "en_IN", "ms_MY", "zh_CN", "nl_NL", "pt_BR",
)  # fmt: skip
LANGUAGES = ("en", "de", "fr", "es", "it", "ja", "ms", "zh", "nl", "pt")  # the languages of those locales' month names
MAX_LENGTH = 64  # no date, time or amount is written in more, and dateparser takes seconds to read a megabyte
ANLS_THRESHOLD = 0.5  # DocVQA's: a text further than this from the truth was not read, and scores 0
_TOO_LARGE = Decimal(10) ** 18  # the schema's bound: no true value reaches it, and cents of larger ones can overflow
_CENT = Decimal("0.01")
# NFKC leaves these minus signs alone; spaces and apostrophes that group thousands go before Babel reads a number.
_MINUS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-"})
_GROUP = re.compile(r"(?<=[0-9])[ '’](?=[0-9]{3}(?![0-9]))")
# A number runs from its first digit to its last (a leading decimal point too, unless it ends a word: `Rs.9`).
_NUMBER = re.compile(r"(?:(?<![^\W\d_])[.,])?[0-9](?:[0-9.,' ’]*[0-9])?")
_CANONICAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # how the schema writes a number: one reading
# Digits with no point, or a point not followed by exactly three digits (`1.234` groups thousands in German): every
# locale reads these one way, as Python's Decimal does (a test holds this against Babel).
_PLAIN = re.compile(r"[0-9]{1,18}(\.[0-9]{1,2}|\.[0-9]{4,9})?")
# 05/03/2024, 5.3.2024, 05-03-2024: day and month in either order, a four-digit year (a test holds this against
# dateparser); other forms go to dateparser.
_NUMERIC_DATE = re.compile(r"([0-9]{1,2})([./-])([0-9]{1,2})\2([0-9]{4})")
# Malay writes the half of the day `pg` (pagi, morning) and `ptg` (petang, afternoon).
_TIME = re.compile(
    r"([0-9]{1,2}) ?[:.h時] ?([0-9]{2})(?: ?[:.分] ?[0-9]{2})? ?(?:([ap])\.? ?m\.?|(pg|ptg))? ?(?:uhr|分|秒)?"
)
_DATE_SETTINGS = {
    "REQUIRE_PARTS": ["day", "month", "year"],  # `Dec 2018` is no date: dateparser would take today's day
    "RELATIVE_BASE": dt.datetime(2000, 1, 1),  # and nothing it reads may depend on the day the metric runs
    "PARSERS": ["absolute-time"],  # no `yesterday`, no Unix timestamps
    "PREFER_LOCALE_DATE_ORDER": False,  # DATE_ORDER decides `05/03/2024`, read once each way
}


def normalize_text(value) -> str:
    """NFKC, whitespace collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", str(value)).split()).casefold()


def is_empty(value) -> bool:
    """Nothing written: null, blank text, or an empty list or object."""
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


@cache
def _locales() -> tuple[Locale, ...]:
    return tuple(Locale.parse(name) for name in LOCALES)


@cache
def _date_parsers() -> tuple[DateDataParser, ...]:
    """Day first, then month first: a date both read validly has two readings."""
    return tuple(
        DateDataParser(languages=list(LANGUAGES), settings=_DATE_SETTINGS | {"DATE_ORDER": order})
        for order in ("DMY", "MDY")
    )


@lru_cache(maxsize=1 << 16)
def _read_numbers(text: str) -> frozenset[Decimal]:
    text = unicodedata.normalize("NFKC", text).translate(_MINUS)
    match = _NUMBER.search(text)
    if match is None or re.search("[0-9]", text[match.end() :]):
        return frozenset()  # no number, or two (`2 x 4.50`)
    before, after = text[: match.start()], text[match.end() :]
    sign = -1 if "-" in before or "-" in after or ("(" in before and ")" in after) else 1
    number = _GROUP.sub("", match.group())
    # The schema's own form has one reading in every locale: Babel is asked only about the others.
    readings = {sign * Decimal(number)} if _PLAIN.fullmatch(number) else _babel_readings(number, sign)
    return frozenset(number for number in readings if number.is_finite() and abs(number) < _TOO_LARGE)


def _babel_readings(number: str, sign: int) -> set[Decimal]:
    """Each locale's strict reading of a number (`1.234` is 1.234 in English and 1234 in German)."""
    readings = set()
    for locale in _locales():
        try:
            readings.add(sign * parse_decimal(number, locale=locale, strict=True))
        except (NumberFormatError, ArithmeticError):
            continue
    return readings


def parse_numbers(value) -> frozenset[Decimal]:
    """Every number a value may be read as under the project's locales: `RM9.00` → {9.00}, `1.234,56 €` →
    {1234.56}, `1,234` → {1234, 1.234}. Empty when it is no number, or no amount: infinite, NaN (JSON's `1e400`,
    `NaN`), 10**18 and over, or longer than MAX_LENGTH characters."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = Decimal(str(value))
        return frozenset({number}) if number.is_finite() and abs(number) < _TOO_LARGE else frozenset()
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        return frozenset()
    return _read_numbers(value)


def _true_numbers(truth) -> frozenset[Decimal]:
    """A true value as the schema writes it (`1.234` is one and a quarter, near enough) has one reading."""
    if isinstance(truth, str) and _CANONICAL.fullmatch(truth):
        number = Decimal(truth)
        return frozenset({number}) if abs(number) < _TOO_LARGE else frozenset()
    return parse_numbers(truth)


@lru_cache(maxsize=1 << 16)
def _read_days(text: str) -> frozenset[dt.date]:
    try:
        return frozenset({dt.date.fromisoformat(text)})  # the schema's form, and the only reading of it
    except ValueError:
        pass
    if match := _NUMERIC_DATE.fullmatch(text):
        first, _, second, year = match.groups()
        return frozenset(filter(None, (_day(year, second, first), _day(year, first, second))))
    days = (parser.get_date_data(text).date_obj for parser in _date_parsers())
    return frozenset(day.date() for day in days if day is not None)


def _day(year: str, month: str, day: str) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def parse_days(value) -> frozenset[dt.date]:
    """Every date a value may be read as: `05/03/2024` → {5 March, 3 May}; empty when it names no day, month and year
    or is longer than MAX_LENGTH characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_LENGTH:
        return frozenset()
    return _read_days(value.strip())


def parse_time(value) -> dt.time | None:
    """The hour and minute a value reads: `20:13:39`, `8:13 PM`, `8:13 PTG`, `20.13`, `20h13`; None when it is no
    time."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        return None
    match = _TIME.fullmatch(normalize_text(value))
    if match is None:
        return None
    hour, minute, half = int(match[1]), int(match[2]), match[3] or {"pg": "a", "ptg": "p"}.get(match[4])
    if half is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "p" else 0)
    return dt.time(hour, minute) if hour < 24 and minute < 60 else None


@lru_cache(maxsize=1024)
def _currency_names(code: str) -> frozenset[str]:
    """An ISO code, and its symbols and names in the project's locales: `EUR`, `€`, `euro`, `ユーロ`."""
    written = {code, *(get_currency_symbol(code, locale) for locale in _locales())}
    written |= {get_currency_name(code, locale=locale) for locale in _locales()}
    return frozenset(normalize_text(text) for text in written)


def _read_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(normalize_text(value))


def key_of(path: str) -> str:
    """`line_items.2.amount` → `amount`."""
    return path.rsplit(".", 1)[-1]


def _form(key: str, text: str):
    """`text` as `values_match` compares it for `key` without parsing: a plain number's Decimal, a text field's
    normalised text; None where only parsing can tell (dates, times, numbers as printed, currencies, addresses)."""
    if key in NUMERIC_KEYS:
        return Decimal(text) if _PLAIN.fullmatch(text) else None
    if key in DATE_KEYS or key in TIME_KEYS or key in ("currency", "address"):
        return None
    return normalize_text(text)


def comparable(path: str, value):
    """A form of a value under which two values are equal exactly when `values_match` matches them, or None where
    only `values_match` can tell. Row alignment computes them once a row instead of once a pair."""
    return _form(key_of(path), value) if isinstance(value, str) and not is_empty(value) else None


def values_match(path: str, predicted, truth) -> bool:
    """Whether a predicted value equals the true one, compared the way the field's key says; where the truth is
    null, whether nothing was predicted."""
    if truth is None:
        return is_empty(predicted)
    if is_empty(predicted) or not isinstance(predicted, str | int | float):  # bool is an int
        return False
    key = key_of(path)
    if isinstance(predicted, str) and isinstance(truth, str):
        mine, theirs = _form(key, predicted), _form(key, truth)
        if mine is not None and theirs is not None:  # plain numbers and text, without parsing
            return mine == theirs
    if isinstance(truth, bool):
        return _read_bool(predicted) is truth
    if key in NUMERIC_KEYS:
        return bool(parse_numbers(predicted) & _true_numbers(truth))
    if key in DATE_KEYS:
        return bool(parse_days(predicted) & parse_days(truth))
    if key in TIME_KEYS:
        return parse_time(predicted) is not None and parse_time(predicted) == parse_time(truth)
    if key == "currency" and isinstance(truth, str):
        return normalize_text(predicted) in _currency_names(truth)
    if key == "address":
        return normalize_text(str(predicted).replace(",", " ")) == normalize_text(str(truth).replace(",", " "))
    return normalize_text(predicted) == normalize_text(truth)


def similarity(path: str, predicted, truth) -> float:
    """One field's ANLS term: 1 for a value that matches; otherwise 1 − the normalised Levenshtein distance of the
    normalised texts when it is under ANLS_THRESHOLD, else 0. Nothing predicted, or a value invented where the
    truth is null, scores 0."""
    if values_match(path, predicted, truth):
        return 1.0
    if truth is None or is_empty(predicted) or not isinstance(predicted, str | int | float):
        return 0.0
    distance = Levenshtein.normalized_distance(
        normalize_text(predicted), normalize_text(truth), score_cutoff=ANLS_THRESHOLD
    )  # past the cutoff rapidfuzz stops early and answers 1.0: a megabyte of text costs nothing
    return 1.0 - distance if distance < ANLS_THRESHOLD else 0.0


def equal_to_the_cent(predicted, truth) -> bool:
    """Whether some reading of the prediction rounds to the true value's cent."""
    rounded = {number.quantize(_CENT) for number in parse_numbers(predicted)}
    return bool(rounded & {number.quantize(_CENT) for number in _true_numbers(truth)})
