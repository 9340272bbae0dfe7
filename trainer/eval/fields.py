"""One document's field scores: accuracy, precision/recall/F1 over (path, value) pairs, numeric accuracy, validity."""

import json
import re

from trainer.schema import get_path, scalar_paths, validate

from .align import align_rows
from .normalize import NUMERIC_KEYS, equal_to_the_cent, key_of, values_match

MAX_DEPTH = 64  # a document nests 3 deep (itself, line_items, a row); one nested deeper than this is none


def _integer(digits: str) -> int | float:
    """A JSON integer; one too long for Python to read (4,300 digits) is infinite, as JSON's `1e400` is."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


def _depth(value) -> int:
    """How deeply arrays and objects nest (a flat object: 1), counted level by level, not by recursion."""
    depth, level = 0, [value]
    while level := [node for node in level if isinstance(node, dict | list)]:
        depth += 1
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)]
    return depth


def parse_prediction(text: str) -> dict | None:
    """The predicted document, or None when the output is not a JSON object (truncated, prose, empty, not even a
    string) or nests deeper than MAX_DEPTH (json.loads and the recursive scoring would run out of stack)."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text, parse_int=_integer)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) and _depth(value) <= MAX_DEPTH else None


def renumber(predicted: dict, truth: dict) -> dict:
    """The prediction with its line items reordered to match the true rows they align with; extra rows go last."""
    items, true_items = predicted.get("line_items"), truth.get("line_items", [])
    if not isinstance(items, list):
        return predicted
    pairs = align_rows(items, true_items)
    ordered = [items[pairs[i]] if i in pairs else None for i in range(len(true_items))]
    extra = [item for j, item in enumerate(items) if j not in set(pairs.values())]
    return {**predicted, "line_items": ordered + extra}


def generic(path: str) -> str:
    """`line_items.2.amount` → `line_items.*.amount`, the name a field is reported under."""
    return re.sub(r"\.\d+(\.|$)", r".*\1", path)


def score_fields(predicted: dict | None, truth: dict) -> dict:
    """Per-field verdicts and the counts behind precision and numeric accuracy; no prediction scores zero."""
    true_paths = scalar_paths(truth)
    aligned = renumber(predicted, truth) if predicted is not None else {}
    numeric = [p for p in true_paths if key_of(p) in NUMERIC_KEYS]
    return {
        "verdicts": {path: values_match(path, get_path(aligned, path), get_path(truth, path)) for path in true_paths},
        "predicted_pairs": sum(get_path(aligned, p) not in (None, "") for p in scalar_paths(aligned)),
        "numeric_total": len(numeric),
        "numeric_correct": sum(equal_to_the_cent(get_path(aligned, p), get_path(truth, p)) for p in numeric),
    }


def passes_validation(predicted: dict | None) -> bool:
    return predicted is not None and validate(predicted) == []
