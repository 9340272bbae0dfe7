"""What differs between the countries documents come from: currency, tax rates, tax ids, whether shop prices include
tax, cash rounding, and the words printed (tables/words.yaml).

Money, number and date formats are Babel's (CLDR), never hand-written; only the document vocabulary lives here.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import yaml
from babel import Locale
from babel.dates import format_date, format_time, get_date_format
from babel.numbers import format_currency, format_decimal, format_percent

from trainer.packaged import packaged_text
from trainer.schema.document import minor_units, money, quantize

from .fonts import CJK


@dataclass(frozen=True)
class Country:
    locale: str  # Faker and Babel locale, e.g. "de_DE"
    currency: str
    tax_rates: tuple[str, ...]  # standard rate first; the others are reduced rates
    tax_id: str  # Faker bothify pattern of the vendor's VAT/tax registration id
    language: str
    # Shops print gross prices with the tax they hold (VAT countries, Japan); US shops add sales tax at the till.
    # Invoices are business to business everywhere: net prices, tax on top.
    receipts_include_tax: bool = True
    cash_step: str | None = None  # the smallest coin a cash total is rounded to, half up
    cash_receipts_rounded: float = 0.0  # share of receipts paid in cash that round to it
    invoices_rounded: float = 0.0  # share of invoices that round their total to it
    # The taxes one rate is levied as, each at an equal part of it, printed under its row (India's GST: half as
    # central, half as state tax). The label keeps the rate's row: the parts are printed, not labelled.
    tax_parts: tuple[str, ...] = ()
    # Second languages a share of documents print beside the first (MIXED): bilingual headings and item names.
    mixed: tuple[str, ...] = ()
    second: str | None = None  # the one this document prints, if any

    @property
    def languages(self) -> tuple[str, ...]:
        return (self.language, self.second) if self.second else (self.language,)


MIXED = 0.4  # share of documents from a country with second languages that print one


COUNTRIES = {
    c.locale: c
    for c in (
        Country("en_US", "USD", ("8.875", "7.25", "6", "4.5"), "##-#######", "en", receipts_include_tax=False),
        Country("en_GB", "GBP", ("20", "5"), "GB### #### ##", "en"),
        Country("de_DE", "EUR", ("19", "7"), "DE#########", "de"),
        Country("fr_FR", "EUR", ("20", "10", "5.5"), "FR## #########", "fr"),
        Country("es_ES", "EUR", ("21", "10", "4"), "ES?########", "es"),
        # Italy stopped minting 1 and 2 cent coins in 2018; shops may round cash totals to 5 cents, and many do.
        Country("it_IT", "EUR", ("22", "10", "4"), "IT###########", "it", cash_step="0.05", cash_receipts_rounded=0.5),
        # Switzerland's smallest coin is 5 Rappen: cash is always rounded to it, and many firms round invoices too.
        Country(
            "de_CH",
            "CHF",
            ("8.1", "2.6"),
            "CHE-###.###.### MWST",
            "de",
            cash_step="0.05",
            cash_receipts_rounded=1.0,
            invoices_rounded=0.3,
        ),
        Country("ja_JP", "JPY", ("10", "8"), "T#############", "ja"),
        # GST slabs since September 2025; the GSTIN is state, PAN, entity, Z and a check character. Shop prices
        # (MRP) include it; many bills round the total to the rupee ("Round off").
        Country(
            "en_IN",
            "INR",
            ("18", "5"),
            "##?????####?1Z?",
            "en",
            cash_step="1",
            cash_receipts_rounded=0.5,
            invoices_rounded=0.4,
            tax_parts=("CGST", "SGST"),
        ),
        # Service tax (SST) is charged on top at the till; cash totals round to 5 sen (Bank Negara's rounding
        # mechanism); receipts mix Malay with English and, in Chinese-run shops, Chinese.
        Country(
            "ms_MY",
            "MYR",
            ("8", "6"),
            "?##-####-########",
            "ms",
            receipts_include_tax=False,
            cash_step="0.05",
            cash_receipts_rounded=1.0,
            mixed=("en", "zh"),
        ),
        # VAT (增值税) at 13 %, 6 % on services (invoices) and 9 % on farm produce (receipts); the unified social credit
        # code is 18 characters.
        Country("zh_CN", "CNY", ("13", "6", "9"), "91######MA#?##?#?X", "zh", mixed=("en",)),
        # Dutch shops round cash totals to 5 cents.
        Country("nl_NL", "EUR", ("21", "9"), "NL#########B##", "nl", cash_step="0.05", cash_receipts_rounded=0.9),
        # ICMS at the common state rates; the id is the firm's CNPJ.
        Country("pt_BR", "BRL", ("18", "12", "7"), "##.###.###/0001-##", "pt"),
    )
}


def _read_words() -> tuple[dict, dict]:
    """tables/words.yaml: each language's words, and each country's own where they differ; payment methods as tuples."""
    tables = yaml.safe_load(packaged_text("synth", "tables", "words.yaml"))

    def read(words: dict) -> dict:
        return {key: tuple(value) if isinstance(value, list) else value for key, value in words.items()}

    return ({name: read(words) for name, words in tables[part].items()} for part in ("words", "local"))


WORDS, LOCAL_WORDS = _read_words()  # by language; by locale, where a country's documents say it otherwise


# The headings a mixed document prints in both languages, the first one's first: `合计 Total`, `Jumlah / Total`.
BILINGUAL = (
    "invoice", "receipt", "invoice_number", "issue_date", "due_date", "bill_to", "description", "quantity",
    "unit_price", "price", "amount", "subtotal", "discount", "total", "date", "time", "item", "change",
)  # fmt: skip


@cache
def words_for(country: Country) -> dict:
    """The words a document from this country prints: its language's, with the country's own where they differ;
    with English as its second language, the headings in both."""
    words = WORDS[country.language] | LOCAL_WORDS.get(country.locale, {})
    if country.second == "en":
        gap = " " if country.language in CJK else " / "
        words |= {key: f"{words[key]}{gap}{WORDS['en'][key]}" for key in BILINGUAL}
    return words


def item_languages(country: Country) -> tuple[str, ...]:
    """The languages an item's name is printed in: both where the second is written in another script (`Roti
    面包`, `牛奶 Whole milk 1L`), else the first."""
    scripts = {language in CJK for language in country.languages}
    return country.languages if len(scripts) == 2 else (country.language,)


def tax_parts(country: Country, tax: dict, currency: str) -> list[tuple[str, str, str]]:
    """Name, rate and amount of each tax a labelled row is levied as (India: CGST and SGST at half the rate each);
    none where the country levies one. The first part takes the half rounded half up, the last the rest, so that
    the printed parts add up to the labelled amount."""
    if not country.tax_parts:
        return []
    count, amount = len(country.tax_parts), Decimal(tax["amount"])
    rate = str(Decimal(tax["rate"]) / count)
    first = quantize(amount / count, currency)
    amounts = [first] * (count - 1) + [amount - first * (count - 1)]
    return [(name, rate, money(part, currency)) for name, part in zip(country.tax_parts, amounts, strict=True)]


def _plain(text: str) -> str:
    """Babel's no-break spaces as the plain spaces a reader (and an OCR target) sees."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@cache
def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)


def format_money(value: str, currency: str, locale: str, symbol: bool = True) -> str:
    """An amount as the locale prints it: `1.234,56 €`, `$1,234.56`, `￥1,235`, `₹1,23,456.00`; without symbol:
    `1.234,56`."""
    if symbol:
        return _plain(format_currency(Decimal(value), currency, locale=babel_locale(locale)))
    digits = minor_units(currency)
    whole = babel_locale(locale).decimal_formats[None].pattern.partition(".")[0]  # India's #,##,##0 groups lakhs
    pattern = whole + ("." + "0" * digits if digits else "")
    return _plain(format_decimal(Decimal(value), format=pattern, locale=babel_locale(locale)))


def format_quantity(value: str, locale: str) -> str:
    return format_decimal(Decimal(value), locale=babel_locale(locale), decimal_quantization=False)


def format_rate(rate: str, locale: str) -> str:
    """A tax rate as printed: `19 %` in German, `7.5%` in English."""
    return _plain(format_percent(Decimal(rate) / 100, locale=babel_locale(locale), decimal_quantization=False))


def date_styles(locale: str) -> list[str]:
    """Babel date styles that print a four-digit year (en_US's short `3/5/24` does not)."""
    styles = []
    for style in ("short", "medium", "long"):
        pattern = get_date_format(style, locale=babel_locale(locale)).pattern
        if pattern.count("y") != 2:
            styles.append(style)
    return styles


def format_day(value: str, locale: str, style: str) -> str:
    """`2024-03-05` as `05.03.2024`, `Mar 5, 2024` or `2024年3月5日`, by style."""
    return _plain(format_date(dt.date.fromisoformat(value), format=style, locale=babel_locale(locale)))


def format_clock(value: str, locale: str) -> str:
    """`14:30` as the locale prints a time: `2:30 PM`, `14:30`."""
    return _plain(format_time(dt.time.fromisoformat(value), format="short", locale=babel_locale(locale)))
