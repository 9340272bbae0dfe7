"""Whatever a model writes, or a user annotates, is scored or reported, never raised: in bounded time and memory."""

import copy
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shared import INVOICE, RECEIPT

from trainer.eval.fields import parse_prediction
from trainer.eval.normalize import equal_to_the_cent, parse_numbers
from trainer.eval.scores import MAX_DEPTH, METRICS, aggregate, paired_bootstrap, score_document
from trainer.schema.document import get_path, scalar_paths, validate
from trainer.tables import grid_to_html, grid_to_otsl

TABLE = [
    [("Item", 1), ("Qty", 1), ("Amount", 1)],
    [("Consulting", 1), ("2.5", 1), ("250.00", 1)],
    [("Total", 2), ("", 1)],
]


def put(doc, path: str, value):
    """A copy of doc with the value at a dotted path replaced."""
    doc = copy.deepcopy(doc)
    *parents, key = path.split(".")
    target = doc
    for parent in parents:
        target = target[int(parent)] if isinstance(target, list) else target[parent]
    target[int(key) if isinstance(target, list) else key] = value
    return doc


def with_literal(path: str, literal: str) -> str:
    """INVOICE as JSON text with the raw JSON `literal` at path: numbers json.dumps would not write."""
    return json.dumps(put(INVOICE, path, "@@")).replace('"@@"', literal)


def assert_counted(score: dict):
    """Every metric a ratio in [0, 1], and every true field counted."""
    assert all(0.0 <= score[key] <= 1.0 for key in METRICS if score[key] is not None), score
    assert score["counts"]["fields_total"] == len(scalar_paths(INVOICE))


ABSURD_NUMBERS = [
    "1" + "0" * 27, "9" * 5000, "1e400", "-1e400", "Infinity", "-Infinity", "NaN",
    '"sNaN"', '"NaN"', '"Infinity"', '"-Infinity"', '"1e999999999"', '"1234567890123456789012345678901"', '"' + "9" * 5000 + '"',
]  # fmt: skip
NUMERIC_PATHS = ["total", "line_items.0.amount", "line_items.0.quantity", "taxes.0.rate", "taxes.1.base"]


@pytest.mark.parametrize("path", NUMERIC_PATHS)
@pytest.mark.parametrize("literal", ABSURD_NUMBERS, ids=lambda literal: literal[:12])
def test_an_absurd_number_is_a_wrong_field(literal, path):
    score = score_document(with_literal(path, literal), INVOICE)
    assert_counted(score)
    assert score["json_valid_rate"] == 1.0 and score["validation_pass_rate"] == 0.0
    assert score["verdicts"][path] is False
    assert score["counts"]["fields_correct"] == score["counts"]["fields_total"] - 1
    assert score["counts"]["numeric_correct"] == score["counts"]["numeric_total"] - 1


@pytest.mark.parametrize("path", NUMERIC_PATHS)
@pytest.mark.parametrize("literal", ABSURD_NUMBERS, ids=lambda literal: literal[:12])
def test_an_absurd_number_is_a_schema_violation(literal, path):
    violations = validate(parse_prediction(with_literal(path, literal)))  # json.loads refuses 5,000-digit integers
    assert violations and all(v.startswith(f"schema: {path}:") for v in violations), violations


def test_numbers_no_amount_can_be_compare_unequal():
    for value in (float("inf"), float("-inf"), float("nan"), 10**27, "1" * 5000, "-" + "9" * 19):
        assert not equal_to_the_cent(value, value) and not equal_to_the_cent(value, "354.90")
    assert parse_numbers(float("nan")) == parse_numbers(10**18) == set()
    assert parse_numbers(10**18 - 1) == {10**18 - 1}
    assert equal_to_the_cent("999999999999999999.994", "999999999999999999.99")


def test_the_arithmetic_is_exact_at_the_schemas_bounds():
    # 18 digits × 18 digits: 36 before the point, past Decimal's default 28 digits (quantize raised there)
    huge = put(INVOICE, "line_items.0.quantity", "999999999999999999")
    huge = put(huge, "line_items.0.unit_price", "999999999999999999.99")
    assert [v for v in validate(huge) if v.startswith("line_amount:")] == [
        "line_amount: line_items.0.amount is 250.00, expected 999999999999999998990000000000000000.01"
        " (difference -999999999999999998989999999999999750.01)"
    ]
    # × is 100000000001895008.00499999999 exactly: 29 digits, which 28 would round to …008.0050000000, then to …008.01
    amount = "100000000001895008.00"
    item = {"description": "Bulk", "quantity": "10000010000199.501000001", "unit_price": "9999.99", "amount": amount}
    exact = INVOICE | {"line_items": [item], "subtotal": amount, "discount": "0.00", "taxes": [], "shipping": "0.00"}
    assert validate(exact | {"total": amount}) == []


def test_a_31_digit_quantity_in_an_annotation_is_a_violation():
    violations = validate(put(INVOICE, "line_items.0.quantity", "1234567890123456789012345678901"))
    assert violations and all(v.startswith("schema: line_items.0.quantity: String should match") for v in violations)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("doc_type", ["invoice"]), ("doc_type", {"a": 1}), ("doc_type", None), ("doc_type", 1.5),
        ("currency", ["EUR"]), ("currency", {"code": "EUR"}), ("line_items", {"0": {}}), ("line_items", "none"),
        ("line_items", 3), ("line_items.0", "Consulting"), ("line_items.0", [1, 2]), ("taxes.0", "7 %"),
        ("taxes", [None, True]), ("vendor", "Acme GmbH"), ("vendor", ["Acme"]), ("customer.name", {"first": "B"}),
        ("issue_date", ["2024-03-05"]), ("payment_terms", 30),
    ],
)  # fmt: skip
def test_a_field_of_the_wrong_type_is_a_violation_and_a_wrong_field(path, value):
    doc = put(INVOICE, path, value)
    violations = validate(doc)
    assert violations and all(v.startswith("schema:") for v in violations), violations
    score = score_document(json.dumps(doc), INVOICE)
    assert_counted(score)
    assert score["json_valid_rate"] == 1.0 and score["validation_pass_rate"] == 0.0
    assert score["field_accuracy"] < 1.0


def nested(depth: int, opening: str, closing: str, inside: str = "1") -> str:
    return opening * depth + inside + closing * depth


@pytest.mark.parametrize("depth", [MAX_DEPTH, 900, 1000, 3000, 100_000])
@pytest.mark.parametrize(
    "shape",
    [
        lambda d: nested(d, "[", "]", ""),
        lambda d: nested(d - 1, '{"vendor": ', "}", "{}"),
        lambda d: '{"vendor": ' + nested(d - 1, '{"a": ', "}") + "}",
        lambda d: '{"line_items": ' + nested(d - 1, "[", "]") + "}",
        lambda d: '{"line_items": [{"description": ' + nested(d - 3, "[", "]") + "}]}",
        lambda d: '{"doc_type": ' + nested(d - 1, "[", "]", '"invoice"') + "}",
    ],
    ids=["array", "objects", "vendor", "line_items", "description", "doc_type"],
)
def test_deep_nesting_is_no_document(shape, depth):
    """Deeper than MAX_DEPTH is not a document: json.loads and the recursive scoring would run out of stack."""
    text = shape(depth)
    score = score_document(text, INVOICE)
    assert_counted(score)
    assert score["field_accuracy"] == 0.0 and score["validation_pass_rate"] == 0.0
    assert score["json_valid_rate"] == (1.0 if depth <= MAX_DEPTH and text.startswith("{") else 0.0)
    assert score_document(shape(MAX_DEPTH + 1), INVOICE)["json_valid_rate"] == 0.0
    try:
        doc = json.loads(text)
    except RecursionError:
        return  # the dataset builder cannot read it either
    violations = validate(doc)
    assert violations and all(v.startswith("schema:") for v in violations)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("x" * 1_000_000 + json.dumps(INVOICE) + "}" * 1_000_000, True),
        ("Sure: " + "{" * 1_000_000, False),
        ("Sure: " + json.dumps(INVOICE)[:-1] + " " * 1_000_000, False),
        ("Sure: " + nested(100_000, '{"a": ', "}"), False),
        ("Sure: " + nested(MAX_DEPTH, '{"vendor": ', "}", "{}"), False),
        ("Sure: " + nested(MAX_DEPTH - 1, '{"vendor": ', "}", "{}") + " Done.", True),
    ],
    ids=["prose", "braces", "cut", "deep", "too-deep", "deepest"],
)
def test_a_wrapped_document_is_found_in_bounded_time(text, found):
    """One parse from the first `{`: megabytes around a document, or of braces, cost one pass; too deep is none."""
    start = time.perf_counter()
    score = score_document(text, INVOICE)
    assert time.perf_counter() - start < 2
    assert_counted(score)
    assert score["json_valid_rate"] == 0.0 and score["json_found_rate"] == float(found)
    assert score["field_accuracy"] == (1.0 if text.startswith("x") else 0.0)


def deep(depth: int, make) -> object:
    """A value nested `depth` deep, built without recursion: deeper than json.loads would ever return."""
    value = 1
    for _ in range(depth):
        value = make(value)
    return value


@pytest.mark.parametrize("path", ["doc_type", "vendor", "vendor.name", "line_items.0", "line_items.0.amount", "notes"])
def test_validate_answers_values_nested_thousands_deep(path):
    for make in (lambda value: [value], lambda value: {"a": value}):
        violations = validate(put(INVOICE, path, deep(5000, make)))
        assert violations and all(v.startswith("schema:") and len(v) < 500 for v in violations)


def test_paths_a_model_invents_lead_nowhere():
    for index in ("²", "٣", "9" * 5000, "-1", ""):
        assert get_path(INVOICE, f"line_items.{index}.amount") is None
    assert get_path(INVOICE, "line_items.1.amount") == "59.97"


@pytest.mark.parametrize("table", [{"a": 1}, ["<fcel>a<nl>"], 5, 0, False, b"<fcel>Item<nl>", 0.5])
def test_a_table_answer_that_is_no_string_scores_zero(table):
    score = score_document(json.dumps(INVOICE), INVOICE, table, grid_to_html(TABLE))
    assert score["counts"]["tables"] == 1 and score["teds"] == 0.0 and score["teds_struct"] == 0.0
    assert score["field_accuracy"] == 1.0


@pytest.mark.parametrize("prediction", [None, json.dumps(INVOICE).encode(), bytearray(b"{}"), INVOICE, 5, ["{}"]])
def test_a_prediction_that_is_no_string_is_no_json(prediction):
    score = score_document(prediction, INVOICE)
    assert_counted(score)
    assert score["json_valid_rate"] == 0.0 and score["counts"]["fields_correct"] == 0


def test_a_bigger_table_is_still_scored_exactly():
    true = grid_to_html(TABLE)
    assert score_document("{}", INVOICE, grid_to_otsl(TABLE), true)["teds"] == 1.0
    repeated = score_document("{}", INVOICE, grid_to_otsl(TABLE * 3), true)
    assert 0.0 < repeated["teds"] < 0.5 and repeated["counts"]["tables"] == 1


RUNAWAY = """
import json, resource, sys, time
sys.path.insert(0, "tests")
from shared import INVOICE
from trainer.eval.scores import score_document
from trainer.tables import grid_to_html
true = grid_to_html([[("Item", 1), ("Amount", 1)], [("Consulting", 1), ("250.00", 1)]])
score_document(json.dumps(INVOICE), INVOICE, "<fcel>Item<nl>", true)  # everything imported and warm
runaway = {otsl}
before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
score = score_document(json.dumps(INVOICE), INVOICE, runaway, true)
seconds, grown = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({{"seconds": seconds, "grown_mb": grown / 1024, "teds": score["teds"], "tables": score["counts"]["tables"]}}))
"""


@pytest.mark.parametrize(
    "otsl",
    [
        '"<fcel>x" * 1_500_000 + "<nl>"',
        '"<nl>" * 2_500_000',
        '"<fcel>" + "x" * 10_000_000 + "<nl>"',
        '"<lcel>" * 1_700_000',
    ],
    ids=["cells", "rows", "text", "spans"],
)
@pytest.mark.slow
def test_a_runaway_table_is_refused_quickly(otsl):
    """A 10 MB table answer scores 0 in under 5 s and 300 MB; measured in a fresh process, whose peak memory is its own."""
    command = [sys.executable, "-c", RUNAWAY.format(otsl=otsl)]
    result = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1], timeout=60
    )
    measured = json.loads(result.stdout)
    assert measured["teds"] == 0.0 and measured["tables"] == 1
    assert measured["seconds"] < 5 and measured["grown_mb"] < 300, measured


def random_value(rng: random.Random, depth: int = 0):
    """A JSON value of the kinds models write when they go wrong."""
    kind = rng.randrange(10 if depth < 4 else 7)
    if kind == 0:
        return rng.choice([None, True, False, 0, -1, 10**27, 2**63, float("inf"), float("-inf"), float("nan"), 1e-400])
    if kind == 1:
        return rng.choice([0.5, -12.34, 354.9, 1e308, rng.uniform(-1e6, 1e6), rng.randint(-(10**30), 10**30)])
    if kind in (2, 3, 4):
        return rng.choice([
            "", " ", "NaN", "sNaN", "-Infinity", "1e999999999", "1" * 40, "354,90 €", "1.234.567,89", "--1", ".",
            "²", "١٢٣.٠٠", "\ud800", "\x00", "2024-02-30", "05.03.2024", "31/31/31", "0x1F", "EUR", "invoice",
            "receipt", "a" * 1000, "1 " * 50, "<fcel>", "line_items.0.amount", "\u202e€", "9" * 5000, "99:99",
        ])  # fmt: skip
    if kind in (5, 6):
        return "".join(rng.choice("0123456789.,- €$%eE:/aZ\u00a0") for _ in range(rng.randrange(12)))
    if kind in (7, 8):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["description", "amount", "quantity", "0", "1", "line_items", "a.b", "", "²", "9" * 30]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def places(value) -> list[tuple]:
    """(container, key) of every value inside a document, containers included."""
    items = enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else []
    return [place for key, child in items for place in [(value, key), *places(child)]]


def mutate(rng: random.Random, doc: dict) -> str:
    """The document with random values at random places, keys dropped or added, as JSON text, sometimes cut short or
    wrapped in a fence or a sentence."""
    for _ in range(rng.randint(1, 4)):
        target, key = rng.choice(places(doc) or [(doc, "total")])
        if rng.random() < 0.15:
            del target[key]
        elif rng.random() < 0.1 and isinstance(target, dict):
            target[rng.choice(["notes", "line_items.0", "1", "\ud800"])] = random_value(rng)
        else:
            target[key] = random_value(rng)
    text = json.dumps(doc)
    text = text[: rng.randrange(len(text))] if rng.random() < 0.05 else text
    return (
        rng.choice(["{}", "```json\n{}\n```", "Here it is: {} Done {{.", "{{{}"]).format(text)
        if rng.random() < 0.1
        else text
    )


def random_otsl(rng: random.Random) -> str:
    tokens = ["<fcel>", "<ecel>", "<lcel>", "<ucel>", "<xcel>", "<nl>", "Item", "2.5", "<b>", "&amp;", "\x00", "\ud800"]
    return "".join(rng.choice(tokens) for _ in range(rng.randrange(40)))


@pytest.mark.slow
def test_random_outputs_score_in_range_and_validate_without_raising():
    """A quick deterministic fuzz: random JSON at random paths of valid documents, some with fields not printed (null)
    or not labelled (left out); nothing raises, every rate is in [0, 1], and the set aggregates and bootstraps."""
    rng = random.Random(0)
    true_table, scores = grid_to_html(TABLE), {"invoice": [], "receipt": []}
    sparse = {key: value for key, value in RECEIPT.items() if key not in ("payment_method", "time")}
    sparse |= {"discount": None, "merchant": {"name": "Shop", "address": None}, "line_items": [{"description": "牛乳"}]}
    for i in range(1000):
        truth = INVOICE if i % 2 else rng.choice([RECEIPT, sparse])
        text = mutate(rng, copy.deepcopy(truth))
        table = random_otsl(rng) if rng.random() < 0.5 else rng.choice([grid_to_otsl(TABLE), None, 7])
        score = score_document(text, truth, table, true_table)
        assert all(0.0 <= score[key] <= 1.0 for key in METRICS if score[key] is not None), (text, score)
        scores[truth["doc_type"]].append(score)
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        violations = validate(doc)
        assert all(isinstance(v, str) for v in violations)
        assert (violations == []) == (score["validation_pass_rate"] == 1.0)
    for same in scores.values():
        assert all(0.0 <= aggregate(same)[key] <= 1.0 for key in METRICS if aggregate(same)[key] is not None)
        differences = paired_bootstrap(same[: len(same) // 2], same[len(same) // 2 :], resamples=200)
        assert differences and all(
            -1 <= d["ci_low"] <= d["ci_high"] <= 1 and -1 <= d["value"] <= 1 for d in differences.values()
        )
