"""Field metrics: normalisation, row alignment, precision/recall, numeric accuracy, robustness to bad output, and the
evaluate modules in metrics/ that publish them."""

import copy
import datetime as dt
import json
import random
import socket
from decimal import Decimal
from pathlib import Path

import evaluate
import pytest
from faker import Faker
from shared import INVOICE, RECEIPT

from trainer.eval.fields import repeats_itself
from trainer.eval.normalize import LANGUAGES, LOCALES, comparable, parse_days, parse_numbers, values_match
from trainer.eval.scores import aggregate, score_document
from trainer.eval.teds import teds
from trainer.schema.document import read_document
from trainer.synth.locales import COUNTRIES
from trainer.tables import grid_to_html, html_document


def as_text(doc) -> str:
    return json.dumps(doc, ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "number"),
    [("1,234.50", "1234.5"), ("1.234,50 €", "1234.50"), ("$1,234.5", "1234.5"), ("1 234,56", "1234.56"),
     ("CHF 1’234.50", "1234.50"), ("1,5", "1.5"), ("19 %", "19"), ("-12.00", "-12"), ("￥1,235.00", "1235")],
)  # fmt: skip
def test_numbers_compare_as_decimals(text, number):
    assert parse_numbers(text) == {Decimal(number)}


def test_three_digits_after_one_separator_read_both_ways():
    assert parse_numbers("1,234") == parse_numbers("1.234") == {Decimal("1234"), Decimal("1.234")}
    assert parse_numbers("0,434") == {Decimal("0.434")}  # no locale groups a leading 0


def test_no_number_is_empty():
    assert parse_numbers("") == parse_numbers("total") == parse_numbers(None) == parse_numbers("2 x 4.50") == set()


def test_dates_compare_as_dates():
    assert parse_days("13.03.2024") == parse_days("2024-03-13") == parse_days("13 March 2024") == {dt.date(2024, 3, 13)}
    assert parse_days("05.03.2024") == {dt.date(2024, 3, 5), dt.date(2024, 5, 3)}  # day or month first
    assert values_match("issue_date", "2024-03-05", "2024-03-05") and not values_match(
        "issue_date", "2024-03-06", "2024-03-05"
    )
    assert not values_match("due_date", "soon", "2024-03-05")


def test_text_is_normalised_and_empty_never_matches():
    assert values_match("vendor.name", "  ＡＣＭＥ   gmbh ", "Acme GmbH")
    assert not values_match("vendor.name", "", "Acme GmbH") and not values_match("vendor.name", None, "Acme GmbH")
    assert not values_match("total", "", "0.00") and values_match("total", "0", "0.00")


@pytest.mark.parametrize("key", ["description", "quantity", "unit_price", "amount", "vendor.name", "date", "currency"])
def test_comparable_forms_agree_with_values_match(key):
    """Row alignment compares comparable forms where both exist and asks values_match otherwise: for every pair
    the two must give the same answer."""
    values = ["Äpfel rot", "ÄPFEL  ROT", "äpfel rot ", "Apfel", "1", "1.0", "1.00", "01", "1,00", "2", "3.50", "3.5",
              "3,50 €", "1 234.56", "1234.56", "2024-03-05", "05/03/2024", "EUR", "€", "", "  ", "0", "0.00"]  # fmt: skip
    decided = 0
    for predicted in values:
        for truth in values:
            mine, theirs = comparable(key, predicted), comparable(key, truth)
            if mine is not None and theirs is not None:
                decided += 1
                assert (mine == theirs) == values_match(key, predicted, truth), (predicted, truth)
    assert decided > 50 or key in ("date", "currency")  # dates and currencies are left to values_match
    assert comparable("date", "2024-03-05") is None and comparable("currency", "EUR") is None


def test_rows_align_as_scoring_every_pair_value_by_value_would():
    """align_rows compares comparable forms and scores descriptions all pairs at once; the pairing must be the one
    that scoring each pair of rows with values_match and rapidfuzz's ratio gives, odd rows included."""
    import numpy as np
    from rapidfuzz import fuzz
    from scipy.optimize import linear_sum_assignment

    from trainer.eval.align import align_rows
    from trainer.eval.normalize import normalize_text
    from trainer.synth.invoice import generate

    def similarity(row, true):
        if not isinstance(row, dict) or not isinstance(true, dict):
            return 0.0
        same = sum(values_match(k, row.get(k), v) for k, v in true.items() if v is not None)
        if true.get("description") is None:
            return same
        return (
            same + fuzz.ratio(normalize_text(row.get("description") or ""), normalize_text(true["description"])) / 200
        )

    rng, fake = random.Random(3), Faker("de_DE")
    fake.seed_instance(3)
    checked = 0
    for _ in range(40):
        truth = generate(fake, rng, COUNTRIES["de_DE"], count=rng.randint(2, 30))["line_items"]
        rows = [dict(row) for row in rng.sample(truth, rng.randint(1, len(truth)))]
        for row in rows:
            key = rng.choice(list(row))
            row[key] = rng.choice(["1", "1.0", " ", "", None, 1, True, [1], {"a": 1}, row[key].upper(), "Extra"])
        rows += rng.sample([1, "row", None, [], {"description": 0}, {"quantity": "01"}], 2)
        scores = np.array([[similarity(row, true) for row in rows] for true in truth])
        expected = {int(r): int(c) for r, c in zip(*linear_sum_assignment(scores, maximize=True), strict=True)
                    if scores[r, c] > 0}  # fmt: skip
        pairs = align_rows(rows, truth)
        assert sum(scores[r, c] for r, c in pairs.items()) == pytest.approx(
            sum(scores[r, c] for r, c in expected.items())
        )
        checked += pairs == expected
    assert checked >= 38  # the same pairing, up to ties between equally good ones


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


def test_an_extra_row_or_a_value_where_none_is_printed_costs_precision_only():
    truth = INVOICE | {"shipping": None}  # the document prints no shipping
    extra = copy.deepcopy(truth)
    extra["line_items"].append({"description": "Invented", "quantity": "1", "unit_price": "9.99", "amount": "9.99"})
    extra["notes"] = "made up"  # no key the truth labels: not judged, and so free
    score = score_document(as_text(extra), truth)
    assert score["field_accuracy"] == score["field_recall"] == 1.0
    printed = score["counts"]["fields_printed"]
    assert score["field_precision"] == pytest.approx(printed / (printed + 4))
    extra["shipping"] = "4.90"  # invented where the truth is null: wrong, and a predicted pair
    score = score_document(as_text(extra), truth)
    assert score["verdicts"]["shipping"] is False and score["field_recall"] == 1.0
    assert score["field_precision"] == pytest.approx(printed / (printed + 5))


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


def edit_distance(a: str, b: str) -> int:
    """Textbook Levenshtein by dynamic programming: what rapidfuzz's distance must equal."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        row, previous = [i], row
        for j, y in enumerate(b, 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y)))
    return row[-1]


def test_ocr_is_scored_by_edits_read_as_written_and_in_any_word_order():
    page = "TOTAL  5.70\nCASH 10.00\n  CHANGE 4.30"  # whitespace runs count as one space
    truth = "TOTAL 5.70 CASH 10.00 CHANGE 4.30"
    assert score_document("", RECEIPT, ocr_prediction=page, text=page)["ocr_cer"] == 0.0
    misread = score_document("", RECEIPT, ocr_prediction="T0TAL 5.70 CASH 10.00 CHANGE 4.3", text=page)
    assert misread["counts"]["ocr_edits"] == 2 and misread["ocr_cer"] == pytest.approx(2 / len(truth))
    columns = "CASH 10.00 CHANGE 4.30 TOTAL 5.70"  # the same words, another column read first
    swapped = score_document("", RECEIPT, ocr_prediction=columns, text=page)
    assert swapped["ocr_cer"] > 0.3 and swapped["ocr_cer_unordered"] == 0.0
    assert swapped["counts"]["ocr_edits"] == edit_distance(columns, truth)
    nothing = score_document("", RECEIPT, ocr_prediction=None, text=page)  # no OCR asked: not scored
    assert nothing["counts"]["ocr_pages"] == 0 and nothing["ocr_cer"] is None
    for answer in ("", ["not", "text"]):  # nothing read, or no string at all: every character missed
        empty = score_document("", RECEIPT, ocr_prediction=answer, text=page)
        assert empty["ocr_cer"] == 1.0 and empty["ocr_ned"] == 1.0
    rng = random.Random(0)
    for _ in range(50):  # rapidfuzz's distance, as scored, against the textbook one
        a, b = ("".join(rng.choices("ab c.1", k=rng.randint(0, 30))) for _ in range(2))
        counts = score_document("", RECEIPT, ocr_prediction=a, text=b or "x")["counts"]
        assert counts["ocr_edits"] == edit_distance(" ".join(a.split()), " ".join((b or "x").split()))
    both = aggregate([misread, swapped])  # micro-averaged: summed edits over summed characters
    assert both["ocr_cer"] == pytest.approx((2 + swapped["counts"]["ocr_edits"]) / (2 * len(truth)))


def test_the_locales_read_are_those_the_documents_are_printed_in():
    assert set(COUNTRIES) <= set(LOCALES)
    assert {country.language for country in COUNTRIES.values()} == set(LANGUAGES)


METRICS_DIR = Path(__file__).parents[1] / "metrics"


@pytest.fixture(scope="module")
def metric_modules() -> dict:
    return {name: evaluate.load(str(METRICS_DIR / name)) for name in ("finscribe_fields", "teds")}


def test_the_metric_modules_load_from_the_repository_without_the_network(monkeypatch):
    def refuse(*address):
        raise AssertionError(f"network access: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    table = "<table><tr><td>1</td></tr></table>"
    assert evaluate.load(str(METRICS_DIR / "teds")).compute(predictions=[table], references=[table]) == {
        "teds": 1.0, "teds_struct": 1.0,
    }  # fmt: skip
    fields = evaluate.load(str(METRICS_DIR / "finscribe_fields"))
    assert fields.compute(predictions=[as_text(RECEIPT)], references=[as_text(RECEIPT)])["field_accuracy"] == 1.0


def test_the_fields_module_is_score_document_aggregated(metric_modules):
    wrong, extra = copy.deepcopy(INVOICE), copy.deepcopy(RECEIPT)
    wrong["total"], wrong["issue_date"] = "RM 354.91", "5 mars 2024"
    extra["line_items"].append({"description": "Invented", "quantity": "1", "unit_price": "9", "amount": "9"})
    predictions = [as_text(INVOICE), as_text(wrong), f"```json\n{as_text(extra)}\n```", "oops", "", as_text(RECEIPT)]
    references = [as_text(INVOICE), as_text(INVOICE), as_text(RECEIPT), as_text(INVOICE), as_text(RECEIPT),
                  as_text({"doc_type": "receipt", "total": "464", "time": None})]  # fmt: skip
    expected = aggregate([score_document(p, read_document(r)) for p, r in zip(predictions, references, strict=True)])
    assert metric_modules["finscribe_fields"].compute(predictions=predictions, references=references) == expected
    assert 0 < expected["field_accuracy"] < 1 and expected["json_found_rate"] == 4 / 6


@pytest.mark.slow
def test_the_teds_module_is_teds_averaged(metric_modules):
    pairs = [json.loads(line) for line in (Path(__file__).parent / "data" / "teds_reference.jsonl").open()]
    result = metric_modules["teds"].compute(
        predictions=[pair["pred"] for pair in pairs], references=[pair["true"] for pair in pairs]
    )
    assert result["teds"] == sum(teds(pair["pred"], pair["true"]) for pair in pairs) / len(pairs)
    assert result["teds_struct"] == sum(teds(pair["pred"], pair["true"], True) for pair in pairs) / len(pairs)
    bare = [grid_to_html([[("Item", 1), ("Qty", 1)], [("Tea", 1), ("2", 1)]]), grid_to_html([[("Total", 2)]])]
    result = metric_modules["teds"].compute(predictions=bare, references=bare[::-1])  # bare tables, as datasets hold
    assert (
        result["teds"]
        == sum(teds(html_document(p), html_document(t)) for p, t in zip(bare, bare[::-1], strict=True)) / 2
    )


@pytest.mark.parametrize(
    ("output", "loops"),
    [
        ('{"doc_type":"receipt","merchant":{"name":"NNNNNNNNNNNNNNNNNNNNNNNN', True),  # one character, over and over
        (
            '{"line_items":[{"quantity":"1"},{"quantity":"1"},{"quantity":"1"},{"quantity":"1"},{"quan',
            True,
        ),  # cut mid-way
        ('{"a":"ugo, ugo, ugo, ugo, ugo, u', True),
        ('{"doc_type":"receipt","total":"10.00"}', False),  # a finished document
        ('{"a":{"b":{"c":{"d":1}}}}', False),  # closing braces: repeated, but short
        ('{"total":"1000000.00"}', False),
        ("", False),
        (None, False),
    ],
)
def test_a_repetition_loop_is_an_output_that_ends_repeating_itself(output, loops):
    assert repeats_itself(output) is loops
    assert score_document(output, {"doc_type": "receipt"})["counts"]["looped"] == int(loops)


def test_the_fast_readings_of_numbers_and_dates_agree_with_babel_and_dateparser():
    """normalize reads plain numbers with Decimal and d/m/yyyy dates by hand; both must say what the libraries say."""
    import itertools
    import random
    from decimal import Decimal

    from trainer.eval import normalize

    rng = random.Random(0)
    numbers = ["0", "7", "007", "20.00", "20.5", "1.2345", "123456789.50", "5.0000"]
    numbers += [
        f"{rng.randint(0, 10 ** rng.randint(0, 12))}.{rng.randint(0, 10**4)}"[: rng.randint(1, 16)] for _ in range(500)
    ]
    plain = [text for text in numbers if normalize._PLAIN.fullmatch(text)]
    assert len(plain) > 300 and not normalize._PLAIN.fullmatch("1.234")  # a German thousand goes to Babel
    for text in plain:
        assert normalize._babel_readings(text, 1) == {Decimal(text)}, text
    for predicted, truth in zip(plain, plain[1:] + plain[:1], strict=True):  # values_match's shortcut for two of them
        general = bool(normalize.parse_numbers(predicted) & normalize._true_numbers(truth))
        assert normalize.values_match("total", predicted, truth) == general == (Decimal(predicted) == Decimal(truth))
    for day, month, separator in itertools.product(range(0, 33, 3), range(0, 14), "./-"):
        text = f"{day:02d}{separator}{month}{separator}2024"
        days = (parser.get_date_data(text).date_obj for parser in normalize._date_parsers())
        assert normalize._read_days.__wrapped__(text) == frozenset(d.date() for d in days if d is not None), text
