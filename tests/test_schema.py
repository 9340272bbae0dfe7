"""The validator accepts exact documents and names every rule a broken one violates, with the difference."""

import copy
import json

import pytest
from shared import INVOICE, RECEIPT

from trainer.schema.document import DOCUMENT_TYPES, canonical_json, money, scalar_paths, validate


def broken(doc: dict, **changes) -> dict:
    doc = copy.deepcopy(doc)
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = doc
        for parent in parents:
            target = target[int(parent)] if isinstance(target, list) else target[parent]
        target[int(key) if isinstance(target, list) else key] = value
    return doc


def test_valid_documents_pass():
    assert validate(INVOICE) == []
    assert validate(RECEIPT) == []


def test_tax_amount_rounds_half_up():
    # 34.4 yen rounds down, 0.5 of the minor unit rounds up
    doc = broken(
        RECEIPT,
        line_items__0__unit_price="225",
        line_items__0__amount="450",
        subtotal="450",
        taxes__0__base="450",
        taxes__0__amount="36",
        total="486",
    )
    assert validate(doc) == []  # 450 × 8 % = 36.0
    doc = broken(RECEIPT, taxes=[{"rate": "10", "base": "430", "amount": "43"}], total="473")
    assert validate(doc) == []
    half = broken(
        RECEIPT,
        line_items__0__quantity="1",
        line_items__0__unit_price="5",
        line_items__0__amount="5",
        subtotal="5",
        taxes=[{"rate": "10", "base": "5", "amount": "1"}],
        total="6",
    )
    assert validate(half) == []  # 0.5 yen rounds half-up to 1


@pytest.mark.parametrize(
    ("changes", "rule", "difference"),
    [
        ({"line_items__0__amount": "251.00", "subtotal": "310.97"}, "line_amount", "1.00"),
        ({"subtotal": "310.00"}, "subtotal", "0.03"),
        ({"taxes__0__base": "60.00"}, "tax_base", "1.96"),
        ({"taxes__1__amount": "46.00"}, "tax_amount", "0.03"),
        ({"total": "355.00"}, "total", "0.10"),
    ],
)
def test_each_arithmetic_rule_names_itself_and_the_difference(changes, rule, difference):
    violations = validate(broken(INVOICE, **changes))
    assert any(v.startswith(f"{rule}:") and f"difference {difference}" in v for v in violations), violations


def test_minor_units_follow_the_currency():
    assert any(v.startswith("minor_units: subtotal") for v in validate(broken(INVOICE, subtotal="309.970")))
    yen = broken(RECEIPT, total="464.00")
    assert any(v.startswith("minor_units: total") and "JPY amounts have 0 decimals" in v for v in validate(yen))


@pytest.mark.parametrize(
    "changes",
    [
        {"issue_date": "2024-02-30"},
        {"issue_date": "05/03/2024"},
        {"currency": "EURO"},
        {"total": 354.9},
        {"total": "1,234.50"},
        {"vendor__email": ""},
        {"taxes__0__rate": "7%"},
        {"unexpected": "key"},
    ],
)
def test_schema_violations_are_reported_not_raised(changes):
    violations = validate(broken(INVOICE, **changes))
    assert violations and all(v.startswith("schema:") for v in violations)


def test_wrong_types_and_document_types():
    assert validate("not a dict") == ["schema: document is a str, not a JSON object"]
    assert validate({"doc_type": "bank_statement"})[0].startswith("schema: doc_type:")
    assert validate({"currency": "EUR"})[0].startswith("schema: doc_type:")  # the one key every document labels
    assert validate({"doc_type": "receipt", "time": "25:00"})  # no crash on a half-empty document
    assert validate(broken(INVOICE, prices_include_tax="false"))[0].startswith("schema: prices_include_tax:")


def test_due_date_not_before_issue_date():
    assert any(v.startswith("due_date:") for v in validate(broken(INVOICE, due_date="2024-03-01")))


def test_canonical_json_orders_keys_by_schema():
    shuffled = dict(reversed(list(INVOICE.items())))
    text = canonical_json(shuffled)
    assert list(json.loads(text)) == list(DOCUMENT_TYPES["invoice"].Document.model_fields)
    assert text == canonical_json(INVOICE) and "München" in text  # UTF-8 kept, not \u-escaped


def test_scalar_paths_and_money():
    assert "taxes.1.amount" in scalar_paths(INVOICE) and "vendor.tax_id" in scalar_paths(INVOICE)
    from decimal import Decimal

    assert money(Decimal("2.675"), "EUR") == "2.68"  # half-up, not banker's rounding
    assert money(Decimal("1234.5"), "JPY") == "1235"
