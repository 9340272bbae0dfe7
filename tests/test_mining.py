"""Hard-sample mining: the error taxonomy on hand-made readings, each with the kinds and paths a careful reader finds."""

import copy
import json

import pytest

from trainer.mining.classify import KINDS, classify_errors, severity
from trainer.tables import grid_to_html, grid_to_otsl

INVOICE = {
    "doc_type": "invoice", "invoice_number": "INV-2024-0042", "issue_date": "2024-03-05", "due_date": "2024-04-04",
    "currency": "EUR", "prices_include_tax": False,
    "vendor": {"name": "Müller GmbH", "address": "Hauptstr. 5, 10115 Berlin", "tax_id": "DE123456789", "email": None,
               "phone": "+49 30 1234567"},
    "customer": {"name": "Acme Ltd", "address": None},
    "line_items": [
        {"description": "Widget", "quantity": "2", "unit_price": "10.00", "amount": "20.00"},
        {"description": "Gadget", "quantity": "1", "unit_price": "5.50", "amount": "5.50"},
        {"description": "Service", "quantity": "3", "unit_price": "15.00", "amount": "45.00"},
    ],
    "subtotal": "70.50", "discount": None, "taxes": [{"rate": "19", "base": "70.50", "amount": "13.40"}],
    "shipping": None, "rounding": "0.00", "total": "83.90", "payment_terms": "30 days",
}  # fmt: skip
RECEIPT = {
    "doc_type": "receipt", "merchant": {"name": "Café Nord", "address": "Rue 1, Paris"}, "date": "2024-07-14",
    "time": "12:30", "currency": "EUR", "prices_include_tax": True,
    "line_items": [
        {"description": "Espresso", "quantity": "2", "unit_price": "2.20", "amount": "4.40"},
        {"description": "Croissant", "quantity": "1", "unit_price": "1.60", "amount": "1.60"},
    ],
    "subtotal": "6.00", "discount": None, "taxes": [{"rate": "10", "base": "5.45", "amount": "0.55"}],
    "rounding": None, "total": "6.00", "payment_method": "Card",
}  # fmt: skip
DELETE = object()


def edited(doc: dict, **changes) -> dict:
    """A copy with values set by path (`vendor__tax_id` for vendor.tax_id, `line_items__1` for a row); DELETE drops
    the key or row."""
    doc = copy.deepcopy(doc)
    for name, value in changes.items():
        *parents, last = name.split("__")
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


def text(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def partial(doc: dict, *left_out: str) -> dict:
    return edited(doc, **dict.fromkeys(left_out, DELETE))


WHOLE = text(INVOICE)
MERGED = [
    {"description": "Widget Gadget", "quantity": "3", "unit_price": "8.50", "amount": "25.50"},
    INVOICE["line_items"][2],
]
SPLIT = INVOICE["line_items"][:2] + [
    {"description": "Service", "quantity": "2", "unit_price": "15.00", "amount": "30.00"},
    {"description": "Service", "quantity": "1", "unit_price": "15.00", "amount": "15.00"},
]
EXTRA_ROW = {"description": "Bonus", "quantity": "1", "unit_price": "1.00", "amount": "1.00"}
LOOP = '{"doc_type":"invoice","line_items":[' + '{"quantity":"1"},' * 30

# (name, reading, truth, expected {kind: paths})
CASES = [
    ("a perfect reading", WHOLE, INVOICE, {}),
    ("prose, no JSON", "I am sorry, I cannot read this invoice.", INVOICE, {"invalid_json": ()}),
    ("cut off by the token limit", WHOLE[: len(WHOLE) // 2], INVOICE, {"invalid_json": (), "truncated": ()}),
    ("a loop to the token limit", LOOP, INVOICE, {"invalid_json": (), "truncated": (), "repetition": ()}),
    ("digits over and over, no JSON", "1" * 200, INVOICE, {"invalid_json": (), "repetition": ()}),
    ("an empty answer", "", INVOICE, {"invalid_json": ()}),
    ("wrapped in a ```json fence", f"```json\n{WHOLE}\n```", INVOICE, {}),
    ("a quantity as a JSON number", text(edited(INVOICE, line_items__0__quantity=2)), INVOICE,
     {"schema": ("line_items.0.quantity",), "format": ("line_items.0.quantity",)}),
    ("a key the schema does not have", text({**INVOICE, "notes": "paid"}), INVOICE,
     {"schema": ("notes",), "hallucinated_field": ("notes",)}),
    ("the tax id not read", text(edited(INVOICE, vendor__tax_id=None)), INVOICE, {"missing_field": ("vendor.tax_id",)}),
    ("the total left out", text(partial(INVOICE, "total")), INVOICE, {"missing_field": ("total",)}),
    ("an empty string for the vendor's name", text(edited(INVOICE, vendor__name="")), INVOICE,
     {"schema": ("vendor.name",), "missing_field": ("vendor.name",)}),
    ("an address the customer has none of", text(edited(INVOICE, customer__address="Somewhere 1")), INVOICE,
     {"hallucinated_field": ("customer.address",)}),
    ("an email the vendor prints none of", text(edited(INVOICE, vendor__email="info@mueller.de")), INVOICE,
     {"hallucinated_field": ("vendor.email",)}),
    ("a discount that is not printed", text(edited(INVOICE, discount="5.00")), INVOICE,
     {"hallucinated_field": ("discount",), "arithmetic": ("taxes", "total")}),
    ("the total misread", text(edited(INVOICE, total="83.00")), INVOICE,
     {"wrong_numeric": ("total",), "arithmetic": ("total",)}),
    ("a unit price misread", text(edited(INVOICE, line_items__2__unit_price="16.00")), INVOICE,
     {"wrong_numeric": ("line_items.2.unit_price",), "arithmetic": ("line_items.2.amount",)}),
    ("the issue date a day off", text(edited(INVOICE, issue_date="2024-03-06")), INVOICE,
     {"wrong_date": ("issue_date",)}),
    ("the due date before the issue date", text(edited(INVOICE, due_date="2024-03-01")), INVOICE,
     {"wrong_date": ("due_date",), "arithmetic": ("due_date",)}),
    ("the invoice number's last digit", text(edited(INVOICE, invoice_number="INV-2024-0043")), INVOICE,
     {"wrong_identifier": ("invoice_number",)}),
    ("the tax id's last digit", text(edited(INVOICE, vendor__tax_id="DE123456780")), INVOICE,
     {"wrong_identifier": ("vendor.tax_id",)}),
    ("the vendor's name misspelt", text(edited(INVOICE, vendor__name="Miller GmbH")), INVOICE,
     {"wrong_text": ("vendor.name",)}),
    ("another currency", text(edited(INVOICE, currency="USD")), INVOICE, {"wrong_text": ("currency",)}),
    ("the date as printed, 05/03/2024", text(edited(INVOICE, issue_date="05/03/2024")), INVOICE,
     {"schema": ("issue_date",), "format": ("issue_date",)}),
    ("a decimal comma in the total", text(edited(INVOICE, total="83,90")), INVOICE,
     {"schema": ("total",), "format": ("total",)}),
    ("the vendor's name in capitals", text(edited(INVOICE, vendor__name="MÜLLER GMBH")), INVOICE,
     {"format": ("vendor.name",)}),
    ("the currency as its symbol", text(edited(INVOICE, currency="€")), INVOICE,
     {"schema": ("currency",), "format": ("currency",)}),
    ("a line item not read", text(edited(INVOICE, line_items__1=DELETE)), INVOICE,
     {"line_items_missing": ("line_items.1",), "arithmetic": ("subtotal",)}),
    ("a line item invented", text(edited(INVOICE, line_items=INVOICE["line_items"] + [EXTRA_ROW])), INVOICE,
     {"line_items_extra": ("line_items.3",), "arithmetic": ("subtotal",)}),
    ("two rows read as one", text(edited(INVOICE, line_items=MERGED)), INVOICE,
     {"line_items_merged_or_split": ("line_items.0", "line_items.1")}),
    ("one row read as two", text(edited(INVOICE, line_items=SPLIT)), INVOICE,
     {"line_items_merged_or_split": ("line_items.2",)}),
    ("a payment term where the label says nothing", text(edited(RECEIPT, payment_method="Cash")), partial(RECEIPT, "payment_method"), {}),
    ("the merchant's address, unlabelled, read", WHOLE, partial(INVOICE, "payment_terms"), {}),
    ("the time as 12.30", text(edited(RECEIPT, time="12.30")), RECEIPT, {"schema": ("time",), "format": ("time",)}),
    ("tax-inclusive as a string", text(edited(RECEIPT, prices_include_tax="true")), RECEIPT,
     {"schema": ("prices_include_tax",), "format": ("prices_include_tax",)}),
    ("a second tax row invented", text(edited(RECEIPT, taxes=RECEIPT["taxes"] + [{"rate": "20", "base": "1.00", "amount": "0.20"}])),
     RECEIPT, {"hallucinated_field": ("taxes.1.rate", "taxes.1.base", "taxes.1.amount"), "arithmetic": ("taxes",)}),
    ("items on a receipt that prints none", text(RECEIPT), edited(RECEIPT, line_items=None),
     {"hallucinated_field": ("line_items",)}),
]  # fmt: skip


@pytest.mark.parametrize(("reading", "truth", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_classify_errors(reading, truth, expected):
    found = {error.kind: error.paths for error in classify_errors(reading, truth)}
    assert found == {kind: tuple(paths) for kind, paths in expected.items()}


def test_there_are_thirty_hand_made_cases():
    assert len(CASES) >= 30


def test_without_a_label_only_what_the_reading_says_of_itself():
    inconsistent = text(edited(INVOICE, total="90.00"))
    assert [(e.kind, e.paths) for e in classify_errors(inconsistent, None)] == [("arithmetic", ("total",))]
    assert [e.kind for e in classify_errors("no idea", None)] == ["invalid_json"]
    assert classify_errors(WHOLE, None) == []


def test_regression_needs_the_baseline_right_and_the_reading_wrong():
    wrong_total = text(edited(INVOICE, total="83.00"))
    kinds = {e.kind: e.paths for e in classify_errors(wrong_total, INVOICE, baseline=WHOLE)}
    assert kinds["regression"] == ("total",)
    both_wrong = {e.kind for e in classify_errors(wrong_total, INVOICE, baseline=wrong_total)}
    assert "regression" not in both_wrong
    broken = {e.kind: e.paths for e in classify_errors("{", INVOICE, baseline=text(partial(INVOICE, "total")))}
    assert "total" not in broken["regression"] and "invoice_number" in broken["regression"]


def test_table_structure_is_judged_by_teds_s():
    grid = [[("Item", 1), ("Amount", 1)], [("Widget", 1), ("20.00", 1)], [("Gadget", 1), ("5.50", 1)]]
    html = grid_to_html(grid)
    assert classify_errors(WHOLE, INVOICE, table_prediction=grid_to_otsl(grid), table_html=html) == []
    short = grid_to_otsl(grid[:2])
    assert [(e.kind, e.paths) for e in classify_errors(WHOLE, INVOICE, table_prediction=short, table_html=html)] == [
        ("table_structure", ("table",))
    ]


def test_a_table_or_a_page_text_read_worse_than_the_baseline_read_it_is_a_regression():
    grid = [[("Item", 1), ("Amount", 1)], [("Widget", 1), ("20.00", 1)], [("Gadget", 1), ("5.50", 1)]]
    html, whole, short = grid_to_html(grid), grid_to_otsl(grid), grid_to_otsl(grid[:2])
    page = "ACME GmbH Widget 20.00 Gadget 5.50 Total 25.50"
    misread = "ACME GmbH Widget 20.00 Gadget 5.80 Tota1 25.50"

    def kinds(**readings) -> set[str]:
        return {e.kind for e in classify_errors(WHOLE, INVOICE, table_html=html, text=page, **readings)}

    assert kinds(table_prediction=short, baseline_table=whole) == {"table_structure", "table_regression"}
    assert "table_regression" not in kinds(table_prediction=short, baseline_table=short)  # both as bad: no loss
    assert "table_regression" not in kinds(table_prediction=whole, baseline_table=short)  # a gain
    assert kinds(ocr_prediction=misread, baseline_ocr=page) == {"ocr_regression"}
    assert kinds(ocr_prediction=page, baseline_ocr=misread) == set()
    assert kinds(ocr_prediction=misread) == set()  # no baseline: nothing to lose against


@pytest.mark.slow
def test_every_kind_is_named_and_severity_ranks_broken_readings_first():
    seen = {error.kind for case in CASES for error in classify_errors(case[1], case[2])}
    assert seen | {"regression", "table_structure", "table_regression", "ocr_regression"} == set(KINDS)
    no_json = severity(classify_errors("nothing", INVOICE))
    one_wrong = severity(classify_errors(text(edited(INVOICE, vendor__name="Miller GmbH")), INVOICE))
    assert no_json > one_wrong > 0
    assert severity([]) == 0
    # Issue 34: 5,000 invented line items weighed 5,025 against 6-27 for real errors and ruled severity replay.
    junk = severity(classify_errors(text(edited(INVOICE, line_items=INVOICE["line_items"] * 2500)), INVOICE))
    assert no_json <= junk <= 60


def test_anything_a_model_writes_is_classified_without_raising():
    odd_rows = text(edited(INVOICE, line_items=[{"amount": "sNaN"}, {"amount": "sNaN"}]))
    for reading in (
        None,
        42,
        "[1, 2]",
        '{"doc_type": 5}',
        "{" * 5000,
        '{"line_items": "many"}',
        '{"total": 1e400}',
        odd_rows,
    ):
        kinds = [e.kind for e in classify_errors(reading, INVOICE)]
        assert kinds, reading
