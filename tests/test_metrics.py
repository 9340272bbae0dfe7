"""Field metrics: normalisation, row alignment, precision/recall, numeric accuracy, and robustness to bad output."""

import copy
import json
from decimal import Decimal

import pytest
from test_schema import INVOICE

from trainer.eval import aggregate, score_document
from trainer.eval.normalize import parse_day, parse_number, values_match


def as_text(doc) -> str:
    return json.dumps(doc, ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "number"),
    [("1,234.50", "1234.5"), ("1.234,50 €", "1234.50"), ("$1,234.5", "1234.5"), ("1 234,56", "1234.56"),
     ("CHF 1’234.50", "1234.50"), ("1,234", "1234"), ("1,5", "1.5"), ("19 %", "19"), ("-12.00", "-12"), ("￥1,235", "1235")],
)  # fmt: skip
def test_numbers_compare_as_decimals(text, number):
    assert parse_number(text) == Decimal(number)


def test_no_number_is_none():
    assert parse_number("") is None and parse_number("total") is None and parse_number(None) is None


def test_dates_compare_as_dates():
    assert parse_day("05.03.2024") == parse_day("2024-03-05") == parse_day("5 March 2024")
    assert values_match("issue_date", "2024-03-05", "2024-03-05") and not values_match(
        "issue_date", "2024-03-06", "2024-03-05"
    )
    assert not values_match("due_date", "soon", "2024-03-05")


def test_text_is_normalised_and_empty_never_matches():
    assert values_match("vendor.name", "  ＡＣＭＥ   gmbh ", "Acme GmbH")
    assert not values_match("vendor.name", "", "Acme GmbH") and not values_match("vendor.name", None, "Acme GmbH")
    assert not values_match("total", "", "0.00") and values_match("total", "0", "0.00")


def test_a_perfect_prediction_scores_one():
    score = score_document(as_text(INVOICE), INVOICE)
    for key in (
        "field_accuracy",
        "field_precision",
        "field_recall",
        "field_f1",
        "numeric_accuracy",
        "validation_pass_rate",
        "json_valid_rate",
    ):
        assert score[key] == 1.0, key
    assert score["per_field"]["line_items.*.amount"] == [2, 2]


def test_formatted_values_count_as_correct_but_fail_validation():
    doc = copy.deepcopy(INVOICE)
    doc["total"], doc["issue_date"] = "354,90 €", "05.03.2024"
    score = score_document(as_text(doc), INVOICE)
    assert score["field_accuracy"] == 1.0 and score["validation_pass_rate"] == 0.0 and score["json_valid_rate"] == 1.0


@pytest.mark.parametrize(
    "output", ["", "not json at all", '{"doc_type": "invoice", "total": ', "[1, 2]", "null", '"text"']
)
def test_malformed_output_scores_zero_and_is_counted(output):
    score = score_document(output, INVOICE)
    assert score["json_valid_rate"] == 0.0 and score["validation_pass_rate"] == 0.0
    assert score["field_accuracy"] == 0.0 and score["field_precision"] == 0.0 and score["numeric_accuracy"] == 0.0
    assert score["counts"]["fields_total"] == score_document(as_text(INVOICE), INVOICE)["counts"]["fields_total"]


def test_a_missing_row_costs_only_that_row():
    full = score_document(as_text(INVOICE), INVOICE)["counts"]["fields_total"]
    dropped = copy.deepcopy(INVOICE)
    del dropped["line_items"][0]
    score = score_document(as_text(dropped), INVOICE)
    assert score["counts"]["fields_correct"] == full - 4  # the missing row's four values, nothing else
    assert score["field_precision"] == 1.0


def test_reordered_rows_score_as_the_right_rows():
    swapped = copy.deepcopy(INVOICE)
    swapped["line_items"].reverse()
    assert score_document(as_text(swapped), INVOICE)["field_accuracy"] == 1.0


def test_an_extra_row_or_invented_field_costs_precision_only():
    extra = copy.deepcopy(INVOICE)
    extra["line_items"].append({"description": "Invented", "quantity": "1", "unit_price": "9.99", "amount": "9.99"})
    extra["notes"] = "made up"
    score = score_document(as_text(extra), INVOICE)
    assert score["field_recall"] == 1.0 and score["field_precision"] < 1.0
    total = score["counts"]["fields_total"]
    assert score["field_precision"] == pytest.approx(total / (total + 5))


def test_a_wrong_row_value_costs_one_field():
    wrong = copy.deepcopy(INVOICE)
    wrong["line_items"][1]["quantity"] = "4"
    score = score_document(as_text(wrong), INVOICE)
    assert score["counts"]["fields_correct"] == score["counts"]["fields_total"] - 1
    assert score["per_field"]["line_items.*.quantity"] == [1, 2]


def test_numeric_accuracy_is_to_the_cent():
    near = copy.deepcopy(INVOICE)
    near["total"] = "354.904"  # rounds to the true cent
    near["subtotal"] = "309.98"  # one cent off
    score = score_document(as_text(near), INVOICE)
    counts = score["counts"]
    assert counts["numeric_correct"] == counts["numeric_total"] - 1


def test_aggregate_is_micro_averaged():
    small = {"doc_type": "receipt", **{k: v for k, v in INVOICE.items() if k in ("currency", "total")}}
    half = copy.deepcopy(INVOICE)
    half["vendor"] = {}
    scores = [score_document(as_text(half), INVOICE), score_document("oops", small)]
    metrics = aggregate(scores)
    correct = sum(s["counts"]["fields_correct"] for s in scores)
    total = sum(s["counts"]["fields_total"] for s in scores)
    assert metrics["n"] == 2 and metrics["field_accuracy"] == pytest.approx(correct / total)
    assert metrics["json_valid_rate"] == 0.5 and metrics["per_field"]["vendor.name"] == 0.0
