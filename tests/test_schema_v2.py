"""Schema version 2 on real documents: tax-inclusive prices, cash rounding, line discounts, nulls and partial labels.

The fixtures in tests/data/real_documents are written by hand; each test here recomputes their numbers with its own
Decimal code, so the validator is checked against arithmetic it did not do.
"""

import io
import json
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from datasets import Dataset
from PIL import Image

from trainer.schema.common import LineItem
from trainer.schema.document import DOCUMENT_TYPES, canonical_json, read_document, upgrade, validate
from trainer.synth import invoice, receipt
from trainer.synth.generate import faker_for
from trainer.synth.locales import COUNTRIES

FIXTURES = Path(__file__).parent / "data" / "real_documents"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))
ITEMISED = [name for name in NAMES if name != "my_receipt_sroie_partial"]


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def module_fields(doc_type: str) -> list[str]:
    return list(DOCUMENT_TYPES[doc_type].Document.model_fields)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def line_amounts(doc: dict) -> list[Decimal]:
    """Each line recomputed: quantity × unit price to the cent, less the line's discount."""
    return [
        cents(Decimal(item["quantity"]) * Decimal(item["unit_price"])) - Decimal(item.get("discount") or 0)
        for item in doc["line_items"]
    ]


def test_the_fixtures_are_there():
    assert NAMES == [
        "ch_receipt_cash_rounding",
        "de_invoice_two_pages",
        "de_supermarket_receipt",
        "gb_invoice_line_discounts",
        "my_receipt_sroie_partial",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_each_fixture_is_valid_and_canonical(name):
    doc = load(name)
    assert validate(doc) == []
    assert canonical_json(doc) == json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def test_german_receipt_prices_include_two_rates():
    doc = load("de_supermarket_receipt")
    amounts = line_amounts(doc)
    assert [str(a) for a in amounts] == [item["amount"] for item in doc["line_items"]]
    gross = {"7": sum(amounts[:5]), "19": sum(amounts[5:])}  # A: food; B: water, its deposit, household
    assert gross == {"7": Decimal("11.97"), "19": Decimal("7.79")}
    for tax in doc["taxes"]:
        rate = Decimal(tax["rate"])
        vat = cents(gross[tax["rate"]] * rate / (100 + rate))
        assert (tax["base"], tax["amount"]) == (str(gross[tax["rate"]] - vat), str(vat))
    assert [(t["base"], t["amount"]) for t in doc["taxes"]] == [("11.19", "0.78"), ("6.55", "1.24")]
    assert doc["subtotal"] == doc["total"] == str(sum(amounts)) == "19.76"  # the VAT is inside the prices


def test_swiss_receipt_rounds_cash_to_five_centimes():
    doc = load("ch_receipt_cash_rounding")
    amounts = line_amounts(doc)
    assert [str(a) for a in amounts] == [item["amount"] for item in doc["line_items"]]
    gross = {"2.6": sum(amounts[:3]), "8.1": sum(amounts[3:])}
    for tax in doc["taxes"]:
        rate = Decimal(tax["rate"])
        vat = cents(gross[tax["rate"]] * rate / (100 + rate))
        assert (tax["base"], tax["amount"]) == (str(gross[tax["rate"]] - vat), str(vat))
    subtotal = sum(amounts)
    paid = (subtotal / Decimal("0.05")).quantize(Decimal(1), rounding=ROUND_HALF_UP) * Decimal("0.05")
    assert (str(subtotal), str(paid - subtotal), str(paid)) == (doc["subtotal"], doc["rounding"], doc["total"])
    assert (doc["subtotal"], doc["rounding"], doc["total"]) == ("29.42", "-0.02", "29.40")


def test_british_invoice_discounts_lines_and_adds_vat():
    doc = load("gb_invoice_line_discounts")
    amounts = line_amounts(doc)
    assert [str(a) for a in amounts] == [item["amount"] for item in doc["line_items"]]
    assert [item.get("discount") for item in doc["line_items"][:2]] == ["75.60", "127.50"]  # 10 % and 15 %
    subtotal = sum(amounts)
    vat = cents(subtotal * Decimal("0.20"))
    assert (str(subtotal), str(vat), str(subtotal + vat)) == (doc["subtotal"], doc["taxes"][0]["amount"], doc["total"])
    assert doc["total"] == "2301.07"


def test_two_page_invoice_is_one_document():
    doc = load("de_invoice_two_pages")
    amounts = line_amounts(doc)
    assert len(amounts) == 26 and [str(a) for a in amounts] == [item["amount"] for item in doc["line_items"]]
    subtotal = sum(amounts)
    discount = cents(subtotal * 3 / 100)
    vat = cents((subtotal - discount) * 19 / 100)
    expected = (str(subtotal), str(discount), str(subtotal - discount), str(vat), str(subtotal - discount + vat))
    tax = doc["taxes"][0]
    assert expected == (doc["subtotal"], doc["discount"], tax["base"], tax["amount"], doc["total"])
    assert expected == ("1488.33", "44.65", "1443.68", "274.30", "1717.98")
    assert doc["due_date"] is None and list(doc["customer"]) == ["name"]


@pytest.mark.parametrize("name", ITEMISED)
def test_a_total_one_cent_off_names_the_rule_and_the_difference(name):
    doc = load(name)
    right = Decimal(doc["total"])
    doc["total"] = str(right + Decimal("0.01"))
    assert validate(doc) == [f"total: total is {doc['total']}, expected {right} (difference 0.01)"]


def test_a_wrong_tax_inside_the_prices_is_caught():
    doc = load("de_supermarket_receipt")
    doc["taxes"][0] |= {"base": "11.18", "amount": "0.79"}  # the group's gross still 11.97: only the split is wrong
    assert validate(doc) == ["tax_amount: taxes.0.amount is 0.79, expected 0.78 (difference 0.01)"]
    doc = load("de_supermarket_receipt")
    doc["taxes"][1]["base"] = "6.56"
    assert validate(doc) == [
        "tax_base: sum(taxes.base + taxes.amount) is 19.77, expected 19.76 (difference 0.01)",
        "tax_amount: taxes.1.amount is 1.24, expected 1.25 (difference -0.01)",
    ]


def test_tax_inclusive_prices_read_as_exclusive_fail():
    doc = load("de_supermarket_receipt") | {"prices_include_tax": False}
    rules = [violation.split(":")[0] for violation in validate(doc)]
    assert rules == ["tax_base", "total"]  # each row splits the same either way: net × rate = gross's tax


def test_a_wrong_rounding_is_caught_by_the_total():
    doc = load("ch_receipt_cash_rounding") | {"rounding": "-0.03"}
    assert validate(doc) == ["total: total is 29.40, expected 29.39 (difference 0.01)"]
    doc = load("ch_receipt_cash_rounding") | {"rounding": "-0.020"}
    assert validate(doc) == ["minor_units: rounding is '-0.020', CHF amounts have 2 decimals"]


def test_a_wrong_line_discount_is_caught():
    doc = load("gb_invoice_line_discounts")
    doc["line_items"][0]["discount"] = "75.00"
    assert validate(doc) == ["line_amount: line_items.0.amount is 680.40, expected 681.00 (difference -0.60)"]


def test_a_line_without_discount_shows_none():
    doc = load("gb_invoice_line_discounts")
    for item in doc["line_items"][2:]:
        del item["discount"]  # null (an empty cell) and left out both mean the line shows no discount
    assert validate(doc) == []
    doc["line_items"][2]["discount"] = "0.00"
    assert validate(doc) == []


def test_null_additive_amounts_count_as_zero():
    doc = load("gb_invoice_line_discounts")
    assert (doc["discount"], doc["shipping"], doc["rounding"]) == (None, None, None)
    assert validate(doc | {"discount": "0.00", "shipping": "0.00", "rounding": "0.00"}) == []
    assert validate(doc | {"shipping": "5.00"}) == ["total: total is 2301.07, expected 2306.07 (difference -5.00)"]
    assert [v.split(":")[0] for v in validate(doc | {"discount": "1.00"})] == ["tax_base", "total"]


def test_other_nulls_stop_the_rules_that_read_them():
    doc = load("gb_invoice_line_discounts")
    doc["total"] = "1.00"
    doc["taxes"][0]["amount"] = None  # the VAT is not printed: the total cannot be checked, nor the tax
    assert validate(doc) == []
    doc = load("de_invoice_two_pages") | {"subtotal": None, "total": "1.00"}
    doc["line_items"][0]["amount"] = "171.61"
    assert validate(doc) == ["line_amount: line_items.0.amount is 171.61, expected 171.60 (difference 0.01)"]
    doc = load("de_invoice_two_pages")
    doc["line_items"][0] |= {"quantity": None, "amount": "1.00"}  # no quantity printed: the line cannot be checked
    assert [v.split(":")[0] for v in validate(doc)] == ["subtotal"]  # but the subtotal still adds what is printed


def test_rules_whose_inputs_are_left_out_do_not_run_and_the_others_still_do():
    sroie = load("my_receipt_sroie_partial")
    assert validate(sroie | {"total": "99.99"}) == []  # nothing to check a total against
    receipt_doc = load("de_supermarket_receipt")
    del receipt_doc["taxes"]  # prices include the tax: the total does not need the tax rows
    assert validate(receipt_doc | {"total": "19.75"}) == ["total: total is 19.75, expected 19.76 (difference -0.01)"]
    unsure = load("de_supermarket_receipt")
    del unsure["prices_include_tax"]  # no tax rule and no total without knowing which way the prices are
    unsure["taxes"][0]["amount"], unsure["total"] = "9.99", "1.00"
    assert validate(unsure) == []
    unsure["line_items"][1]["amount"] = "1.43"
    assert [v.split(":")[0] for v in validate(unsure)] == ["line_amount", "subtotal"]
    sparse = load("de_invoice_two_pages")
    sparse["line_items"][0] = {"description": "Kopierpapier A4 80 g/m², 500 Blatt", "amount": "171.60"}
    del sparse["rounding"]  # the total cannot run; the tax rules and the subtotal still do
    sparse["total"] = "1.00"
    assert validate(sparse) == []
    sparse["taxes"][0]["amount"] = "274.31"
    assert validate(sparse) == ["tax_amount: taxes.0.amount is 274.31, expected 274.30 (difference 0.01)"]
    assert validate({"doc_type": "invoice", "line_items": [{"amount": "2.00"}], "subtotal": "3.00"}) == [
        "subtotal: subtotal is 3.00, expected 2.00 (difference 1.00)"
    ]
    assert validate({"doc_type": "invoice", "subtotal": "3.00", "total": "3.00"}) == []  # no line_items key


def test_without_a_currency_amounts_round_as_they_are_written():
    doc = load("de_supermarket_receipt") | {"currency": None}  # no currency symbol on the slip
    assert validate(doc) == []
    doc["taxes"][1] |= {"base": "6.54", "amount": "1.25"}
    assert validate(doc) == ["tax_amount: taxes.1.amount is 1.25, expected 1.24 (difference 0.01)"]
    doc = load("de_supermarket_receipt")
    del doc["currency"]
    assert validate(doc | {"subtotal": "19.760", "total": "19.760"}) == []  # no minor units to check them against


def test_v1_documents_upgrade_to_v2():
    for module, locale in ((invoice, "ja_JP"), (receipt, "en_US")):  # net prices, as version 1's were
        fake = faker_for(locale)
        fake.seed_instance(5)
        v2 = module.generate(fake, random.Random(5), COUNTRIES[locale])
        v2["rounding"] = "0" if locale == "ja_JP" else "0.00"  # upgraded: no rounding; yen have no minor units
        v1 = {key: value for key, value in v2.items() if key not in ("prices_include_tax", "rounding")}
        upgraded = upgrade(v1)
        assert upgraded == v2 and list(upgraded) == list(v2) == list(module_fields(v2["doc_type"]))
        assert validate(upgraded) == [] and canonical_json(upgraded) == canonical_json(v2)
        assert read_document(json.dumps(v1)) == v2
        assert upgrade(v2) == v2  # already version 2
    partial = {key: value for key, value in v1.items() if key != "payment_method"}
    assert upgrade(partial) == partial  # not a complete version 1 document: a partial version 2 one
    one_key = v1 | {"rounding": "0"}
    assert upgrade(one_key) == one_key
    assert [read_document(text) for text in ("[1]", "not json", '"text"', "")] == [None] * 4
    assert upgrade({"doc_type": ["invoice"]}) == {"doc_type": ["invoice"]}


def test_the_v2_key_order():
    assert module_fields("invoice") == [
        "doc_type", "invoice_number", "issue_date", "due_date", "currency", "prices_include_tax", "vendor",
        "customer", "line_items", "subtotal", "discount", "taxes", "shipping", "rounding", "total", "payment_terms",
    ]  # fmt: skip
    assert module_fields("receipt") == [
        "doc_type", "merchant", "date", "time", "currency", "prices_include_tax", "line_items", "subtotal",
        "discount", "taxes", "rounding", "total", "payment_method",
    ]  # fmt: skip
    assert list(LineItem.model_fields) == ["description", "quantity", "unit_price", "discount", "amount"]


def test_canonical_json_orders_keys_and_keeps_absent_keys_absent():
    doc = {
        "total": "5.00",
        "line_items": [{"amount": "5.00", "discount": "1.00", "description": "Tee"}],
        "customer": None,
        "doc_type": "invoice",
    }
    assert canonical_json(doc) == (
        '{"doc_type":"invoice","customer":null,'
        '"line_items":[{"description":"Tee","discount":"1.00","amount":"5.00"}],"total":"5.00"}'
    )


@pytest.mark.parametrize(
    ("path", "key"),
    [((), "notes"), (("line_items", 0), "vat_rate"), (("taxes", 0), "label"), (("merchant",), "country")],
)
def test_unknown_keys_are_schema_violations(path, key):
    doc = load("de_supermarket_receipt")
    target = doc
    for step in path:
        target = target[step]
    target[key] = "x"
    violations = validate(doc)
    assert violations == [f"schema: {'.'.join(map(str, (*path, key)))}: Extra inputs are not permitted"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("prices_include_tax", "yes"), ("prices_include_tax", 1), ("rounding", 0.02), ("rounding", "0,02"),
     ("date", "17.05.2024"), ("time", "6:42 PM"), ("line_items", [None]), ("doc_type", None)],
)  # fmt: skip
def test_types_stay_strict(key, value):
    violations = validate(load("de_supermarket_receipt") | {key: value})
    assert violations and all(v.startswith("schema:") for v in violations), violations


def test_training_targets_and_evaluation_truths_are_upgraded():
    from trainer.data.prompts import to_prompt_completion
    from trainer.eval.run import score

    fake = faker_for("en_US")
    fake.seed_instance(1)
    v2 = receipt.generate(fake, random.Random(1), COUNTRIES["en_US"]) | {"rounding": "0.00"}  # as version 1's
    v1_text = json.dumps({k: v for k, v in v2.items() if k not in ("prices_include_tax", "rounding")})
    page = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(page, "PNG")
    rows = Dataset.from_dict({
        "image": [{"bytes": page.getvalue(), "path": None}], "id": ["old"], "fields": [[]],
        "ground_truth": [v1_text], "table_otsl": [""], "text": [""],
    })  # fmt: skip
    example = to_prompt_completion(rows, {"extract": 1}, 64 * 64)[0]
    assert example["completion"][0]["content"][0]["text"] == canonical_json(v2)
    scores, _ = score(rows, {"old": {"id": "old", "output": canonical_json(v2)}}, tables=False)
    assert scores["old"]["field_accuracy"] == 1.0 and scores["old"]["field_precision"] == 1.0
