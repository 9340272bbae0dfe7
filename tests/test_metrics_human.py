"""The metrics agree with a careful human on real-style readings, and never with the calendar: every verdict is the
same whatever day the tests run on."""

import datetime as dt
import json

import dateparser
import pytest
import time_machine

from trainer.eval import normalize
from trainer.eval.normalize import similarity, values_match
from trainer.eval.scores import score_document

ABSENT = object()  # the model left the key out

READINGS = [  # (field, what the model wrote, the truth, the careful human's verdict, why)
    # dates: any language or order the project's locales print, but only a whole date
    ("date", "Dec 2018", "2018-12-25", False, "no day: nothing may fill it in, least of all today"),
    ("date", "Dec 2018", "2018-12-01", False, "no day, not even the first"),
    ("date", "25 Dec", "2018-12-25", False, "no year"),
    ("date", "yesterday", "2018-12-25", False, "a relative date is no reading of a printed one"),
    ("date", "25 décembre 2018", "2018-12-25", True, "French month name"),
    ("date", "25. Dezember 2018", "2018-12-25", True, "German month name"),
    ("date", "2018年12月25日", "2018-12-25", True, "Japanese year, month and day marks"),
    ("date", "25 dic 2018", "2018-12-25", True, "Spanish abbreviation"),
    ("date", "25 dicembre 2018", "2018-12-25", True, "Italian month name"),
    ("date", "December 25, 2018", "2018-12-25", True, "US English"),
    ("date", "Tue, 25 Dec 2018", "2018-12-25", True, "a weekday before it"),
    ("date", "25/12/2018", "2018-12-25", True, "day first, slashes"),
    ("date", "2018-12-25", "2018-12-25", True, "ISO, as the schema writes it"),
    ("date", "25.12.18", "2018-12-25", True, "two-digit year"),
    ("date", "25.12.2018 20:13", "2018-12-25", True, "the time printed beside it does not change the day"),
    ("date", "2018-12-26", "2018-12-25", False, "a day off"),
    ("issue_date", "05/03/2024", "2024-03-05", True, "read day first"),
    ("issue_date", "05/03/2024", "2024-05-03", True, "read month first: both are dates, either may be meant"),
    ("due_date", "13/03/2024", "2024-03-13", True, "13 can only be the day"),
    ("due_date", "03/13/2024", "2024-03-13", True, "US order, its only reading"),
    ("due_date", "12/03/2024", "2024-03-13", False, "neither reading is 13 March"),
    # times: the hour and minute, however separated
    ("time", "20:13:39", "20:13", True, "seconds the truth does not keep"),
    ("time", "8:13 PM", "20:13", True, "12-hour clock"),
    ("time", "20.13", "20:13", True, "a dot between hour and minute"),
    ("time", "20h13", "20:13", True, "French style"),
    ("time", "8:13 AM", "20:13", False, "morning, not evening"),
    ("time", "20:14", "20:13", False, "a minute off"),
    # amounts: currency words and symbols, grouping, decimal commas and signs
    ("total", "RM9.00", "9.00", True, "Malaysian ringgit, no space"),
    ("total", "9.00 RM", "9.00", True, "currency after the number"),
    ("total", "Rs. 9.00", "9.00", True, "an abbreviation's dot is no decimal point"),
    ("total", "Fr. 9.00", "9.00", True, "Swiss francs, abbreviated"),
    ("total", "CHF 1'234.50", "1234.50", True, "Swiss apostrophe groups thousands"),
    ("total", "1’234.50", "1234.50", True, "typographic apostrophe"),
    ("total", "€ 1.234,56", "1234.56", True, "German grouping and decimal comma"),
    ("total", "$1,234.56", "1234.56", True, "US grouping"),
    ("total", "¥1,235", "1235", True, "yen have no minor unit"),
    ("total", "9.01", "9.00", False, "a cent off"),
    ("total", "90.00", "9.00", False, "a digit too many"),
    ("total", "2 x 4.50", "9.00", False, "two numbers are no amount"),
    ("amount", "1,234.50", "1.23", False, "both separators: the comma groups thousands, no other reading"),
    ("discount", "−9.00", "-9.00", True, "U+2212 minus sign"),
    ("discount", "9.00-", "-9.00", True, "trailing minus, as tills print it"),
    ("discount", "(9.00)", "-9.00", True, "accountants' parentheses"),
    ("discount", "9.00", "-9.00", False, "the sign matters"),
    ("quantity", "0,434", "0.434", True, "kilograms with a decimal comma"),
    ("quantity", "0,434", "434", False, "no locale groups a leading zero"),
    ("quantity", "1,234", "1.234", True, "decimal comma in German"),
    ("quantity", "1,234", "1234", True, "thousands in English: genuinely ambiguous"),
    ("rate", "8,1 %", "8.1", True, "a percent with a decimal comma"),
    # text: case, width and spacing, never spelling
    ("vendor.name", "ACME GmbH ", "Acme GmbH", True, "case and a trailing space"),
    ("vendor.name", "ＡＣＭＥ GmbH", "Acme GmbH", True, "full-width letters"),
    ("vendor.name", "Acme GmbH.", "Acme GmbH", False, "another string (ANLS credits it)"),
    ("vendor.address", "Hauptstr. 1, 10115 Berlin", "Hauptstr. 1\n10115 Berlin", True, "a line break as a comma"),
    ("invoice_number", "INV 0001", "INV-0001", False, "an ID's punctuation is part of it"),
    ("currency", "€", "EUR", True, "the symbol names the currency"),
    ("currency", "RM", "MYR", True, "the ringgit's symbol"),
    ("currency", "$", "EUR", False, "another currency"),
    ("prices_include_tax", "true", True, True, "JSON's true written as text"),
    ("prices_include_tax", False, True, False, "the opposite"),
    # null truth: the document prints no such field
    ("shipping", None, None, True, "nothing printed, nothing read"),
    ("shipping", "", None, True, "an empty string says the same"),
    ("shipping", ABSENT, None, True, "so does leaving the key out"),
    ("shipping", "4.90", None, False, "invented"),
    ("total", ABSENT, "9.00", False, "missing"),
    ("total", "", "9.00", False, "empty"),
]  # fmt: skip


def nest(path: str, value) -> dict:
    """{"vendor": {"name": value}} for "vendor.name"; {} for an absent value."""
    if value is ABSENT:
        return {}
    *parents, key = path.split(".")
    doc = {key: value}
    for parent in reversed(parents):
        doc = {parent: doc}
    return doc


def verdicts() -> list[bool]:
    return [values_match(key, None if guess is ABSENT else guess, true) for key, guess, true, _, _ in READINGS]


@pytest.mark.parametrize(("key", "guess", "true", "human", "why"), READINGS, ids=[row[4] for row in READINGS])
def test_a_reading_is_judged_as_a_careful_human_would(key, guess, true, human, why):
    """Judged the same by values_match and by score_document on a document that holds only this field."""
    truth = {"doc_type": "receipt", **nest(key, true)}
    score = score_document(json.dumps({"doc_type": "receipt", **nest(key, guess)}, ensure_ascii=False), truth)
    assert score["verdicts"][key] is human, why
    if guess is not ABSENT:
        assert values_match(key, guess, true) is human, why


def forget_readings():
    """Clear what normalize caches (the readings and the date parsers), so a new 'today' reads everything afresh."""
    for cached in (normalize._read_days, normalize._read_numbers, normalize._date_parsers):
        cached.cache_clear()


def test_no_verdict_depends_on_the_day_it_runs():
    expected = [human for *_, human, _ in READINGS]
    for today in (dt.datetime(2018, 12, 25, 12), dt.datetime(2031, 6, 1, 12)):
        with time_machine.travel(today, tick=False):
            forget_readings()
            assert dt.date.today() == today.date()
            assert verdicts() == expected, today
    # The hazard is real: dateparser's defaults fill a missing day from today.
    with time_machine.travel(dt.datetime(2031, 6, 1, 12), tick=False):
        assert dateparser.parse("Dec 2018", languages=["en"]).day == 1
    with time_machine.travel(dt.datetime(2018, 12, 25, 12), tick=False):
        assert dateparser.parse("Dec 2018", languages=["en"]).day == 25
    forget_readings()


def test_anls_credits_a_near_miss_and_not_a_wrong_or_invented_value():
    assert similarity("vendor.name", "Acme GmbH.", "Acme GmbH") == pytest.approx(0.9)
    assert similarity("vendor.name", "ACME GmbH", "Acme GmbH") == 1.0
    assert similarity("vendor.name", "Beta AG", "Acme GmbH") == 0.0  # further than ANLS's 0.5
    assert similarity("total", "RM9.00", "9.00") == 1.0  # what matches scores 1, however differently written
    assert similarity("shipping", "4.90", None) == similarity("total", None, "9.00") == 0.0
    assert similarity("shipping", None, None) == 1.0


TRUTH = {
    "doc_type": "receipt",
    "merchant": {"name": "Kedai Ali", "address": None},  # no address printed
    "date": "2018-12-25",
    "time": "20:13",
    "currency": "MYR",
    "line_items": [{"description": "Teh tarik", "amount": "3.00"}, {"description": "Roti canai", "amount": "6.00"}],
    "total": "9.00",
}  # payment_method, subtotal, taxes and the rows' quantities and prices are not labelled
ANSWER = json.dumps({k: v for k, v in TRUTH.items() if k != "merchant"} | {"merchant": {"name": "Kedai Ali"}})
OUTPUTS = [  # (what the model wrote, the whole output is JSON, a JSON object is found in it, why)
    (ANSWER, True, True, "the answer alone"),
    (f"  {ANSWER}\n", True, True, "whitespace around it is still JSON"),
    (f"```json\n{ANSWER}\n```", False, True, "a fence, as chat models write"),
    (f"Here is the receipt as JSON:\n{ANSWER}\nLet me know if you need more.", False, True, "a sentence either side"),
    (f"Sure! ```json\n{ANSWER}\n``` The total is {{9.00}}.", False, True, "braces in the prose after it"),
    (f"```json\n{ANSWER[:-20]}", False, False, "cut short: no object closes"),
    ("I cannot read this receipt.", False, False, "no JSON at all"),
    (f"[{ANSWER}]", False, True, "a list holding the document"),
]


@pytest.mark.parametrize(("output", "strict", "found", "why"), OUTPUTS, ids=[row[3] for row in OUTPUTS])
def test_a_document_wrapped_in_prose_is_read_but_is_not_valid_json(output, strict, found, why):
    score = score_document(output, TRUTH)
    assert score["json_valid_rate"] == float(strict) and score["json_found_rate"] == float(found), why
    assert score["field_accuracy"] == score["anls"] == float(found), why  # nulls included: nothing found is wrong


def test_a_null_is_right_empty_and_wrong_invented():
    for merchant in (
        {"name": "Kedai Ali"},
        {"name": "Kedai Ali", "address": None},
        {"name": "Kedai Ali", "address": ""},
    ):
        score = score_document(json.dumps(TRUTH | {"merchant": merchant}), TRUTH)
        assert score["verdicts"]["merchant.address"] and score["field_precision"] == 1.0
    invented = score_document(json.dumps(TRUTH | {"merchant": {"name": "Kedai Ali", "address": "Jalan 1"}}), TRUTH)
    assert not invented["verdicts"]["merchant.address"] and invented["field_recall"] == 1.0
    counts = invented["counts"]
    assert counts["fields_predicted"] == counts["fields_printed"] + 1 and invented["field_precision"] < 1.0


def test_an_unlabelled_key_is_neither_scored_nor_charged():
    rows = [row | {"quantity": "1", "unit_price": row["amount"]} for row in reversed(TRUTH["line_items"])]
    extra = TRUTH | {"payment_method": "Cash", "subtotal": "9.00", "line_items": rows}
    score = score_document(json.dumps(extra), TRUTH)
    assert "payment_method" not in score["verdicts"] and "line_items.0.quantity" not in score["verdicts"]
    assert score["field_accuracy"] == score["field_precision"] == score["field_recall"] == 1.0  # rows realigned
    invented_row = extra | {"line_items": [*rows, {"description": "Kopi", "amount": "2.50", "quantity": "1"}]}
    score = score_document(json.dumps(invented_row), TRUTH)
    printed = score["counts"]["fields_printed"]
    assert score["field_precision"] == pytest.approx(printed / (printed + 3))  # an extra row is invented whole
