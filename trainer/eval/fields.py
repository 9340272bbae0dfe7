"""One document's field scores: accuracy, precision/recall/F1 over (path, value) pairs, numeric accuracy, validity."""

import json
import re

from trainer.schema import get_path, scalar_paths, validate

from .align import align_rows
from .normalize import NUMERIC_KEYS, equal_to_the_cent, key_of, values_match


def parse_prediction(text: str) -> dict | None:
    """The predicted document, or None when the output is not a JSON object (truncated, prose, empty)."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


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
