"""Metrics for extracted documents: pure functions, one document at a time, then micro-averaged over a set.

`score_document(prediction, ground_truth)` scores one model output (any string: malformed, truncated or non-JSON
output scores zero and is counted, never raised); `aggregate(scores)` combines documents as `metrics.json` reports
them. Fields are addressed by dotted path (`vendor.name`, `taxes.0.amount`); line items are aligned first (align.py).
"""

from collections import defaultdict

from .fields import generic, parse_prediction, passes_validation, score_fields

__all__ = ["aggregate", "score_document"]


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def score_document(prediction: str, ground_truth: dict) -> dict:
    """One document's scores, under the names `metrics.json` uses; `per_field` holds [correct, total] by field."""
    predicted = parse_prediction(prediction)
    fields = score_fields(predicted, ground_truth)
    verdicts = fields["verdicts"]
    correct = sum(verdicts.values())
    per_field = defaultdict(lambda: [0, 0])
    for path, ok in verdicts.items():
        per_field[generic(path)][0] += ok
        per_field[generic(path)][1] += 1
    precision, recall = _ratio(correct, fields["predicted_pairs"]), _ratio(correct, len(verdicts))
    return {
        "n": 1,
        "field_accuracy": recall,
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": _f1(precision, recall),
        "numeric_accuracy": _ratio(fields["numeric_correct"], fields["numeric_total"]),
        "validation_pass_rate": float(passes_validation(predicted)),
        "json_valid_rate": float(predicted is not None),
        "per_field": dict(per_field),
        "counts": {
            "fields_correct": correct,
            "fields_total": len(verdicts),
            "fields_predicted": fields["predicted_pairs"],
            "numeric_correct": fields["numeric_correct"],
            "numeric_total": fields["numeric_total"],
        },
    }


def aggregate(scores: list[dict]) -> dict:
    """Micro-averages over documents (every field of every document weighs the same); rates over documents."""
    counts = defaultdict(int)
    per_field = defaultdict(lambda: [0, 0])
    for score in scores:
        for key, value in score["counts"].items():
            counts[key] += value
        for name, (ok, total) in score["per_field"].items():
            per_field[name][0] += ok
            per_field[name][1] += total
    precision = _ratio(counts["fields_correct"], counts["fields_predicted"])
    recall = _ratio(counts["fields_correct"], counts["fields_total"])
    return {
        "n": len(scores),
        "field_accuracy": recall,
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": _f1(precision, recall),
        "numeric_accuracy": _ratio(counts["numeric_correct"], counts["numeric_total"]),
        "validation_pass_rate": _ratio(sum(s["validation_pass_rate"] for s in scores), len(scores)),
        "json_valid_rate": _ratio(sum(s["json_valid_rate"] for s in scores), len(scores)),
        "per_field": {name: _ratio(ok, total) for name, (ok, total) in sorted(per_field.items())},
    }
