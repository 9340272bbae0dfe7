"""Metrics for extracted documents: pure functions, one document at a time, then micro-averaged over a set.

`score_document(prediction, ground_truth)` scores one model output (any string: malformed, truncated or non-JSON
output scores zero and is counted, never raised); with the model's OTSL table and the true table's HTML it adds
TEDS and TEDS-S. `aggregate(scores)` combines documents as `metrics.json` reports them. Every metric is a ratio of
summed per-document counts (`rates`), so a bootstrap resample is a weighted sum of the same counts.
Fields are addressed by dotted path (`vendor.name`, `taxes.0.amount`); line items are aligned first (align.py).
"""

from collections import defaultdict

import numpy as np

from trainer.tables import html_document, otsl_to_html

from .fields import generic, parse_prediction, passes_validation, score_fields
from .teds import teds

__all__ = ["COUNTS", "METRICS", "aggregate", "paired_bootstrap", "rates", "score_document"]

# The per-document counts every metric is a ratio of.
COUNTS = (
    "documents", "fields_correct", "fields_total", "fields_predicted", "numeric_correct", "numeric_total",
    "valid", "json_valid", "tables", "teds_sum", "teds_struct_sum",
)  # fmt: skip
METRICS = (
    "field_accuracy", "field_precision", "field_recall", "field_f1", "numeric_accuracy", "teds", "teds_struct",
    "validation_pass_rate", "json_valid_rate",
)  # fmt: skip


def _ratio(part, whole):
    """part / whole, 0 where whole is 0; for numbers and for arrays of bootstrap sums alike."""
    part, whole = np.asarray(part, dtype=float), np.asarray(whole, dtype=float)
    return np.divide(part, whole, out=np.zeros(np.broadcast(part, whole).shape), where=whole != 0)


def rates(counts: dict) -> dict:
    """Every metric from summed counts. Fields are micro-averaged; TEDS is a mean over documents with a table."""
    precision = _ratio(counts["fields_correct"], counts["fields_predicted"])
    recall = _ratio(counts["fields_correct"], counts["fields_total"])
    return {
        "field_accuracy": recall,
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": _ratio(2 * precision * recall, precision + recall),
        "numeric_accuracy": _ratio(counts["numeric_correct"], counts["numeric_total"]),
        "teds": _ratio(counts["teds_sum"], counts["tables"]),
        "teds_struct": _ratio(counts["teds_struct_sum"], counts["tables"]),
        "validation_pass_rate": _ratio(counts["valid"], counts["documents"]),
        "json_valid_rate": _ratio(counts["json_valid"], counts["documents"]),
    }


def _report(counts: dict) -> dict:
    """`rates` as plain floats; TEDS is None (JSON null) when no document had a table scored."""
    report = {key: float(value) for key, value in rates(counts).items()}
    if not counts["tables"]:
        report["teds"] = report["teds_struct"] = None
    return report


def score_document(
    prediction: str, ground_truth: dict, table_prediction: str | None = None, table_html: str | None = None
) -> dict:
    """One document's scores under `metrics.json`'s names, plus its `verdicts` by path and the `counts` behind them.

    TEDS is scored when both the model's table (OTSL, PaddleOCR-VL's table format) and the true table (HTML) are
    given; a document whose true table is empty has no table to score.
    """
    predicted = parse_prediction(prediction)
    fields = score_fields(predicted, ground_truth)
    verdicts = fields["verdicts"]
    per_field = defaultdict(lambda: [0, 0])
    for path, ok in verdicts.items():
        per_field[generic(path)][0] += ok
        per_field[generic(path)][1] += 1
    counts = {
        "documents": 1,
        "fields_correct": sum(verdicts.values()),
        "fields_total": len(verdicts),
        "fields_predicted": fields["predicted_pairs"],
        "numeric_correct": fields["numeric_correct"],
        "numeric_total": fields["numeric_total"],
        "valid": int(passes_validation(predicted)),
        "json_valid": int(predicted is not None),
        "tables": 0,
        "teds_sum": 0.0,
        "teds_struct_sum": 0.0,
    }
    if table_prediction is not None and table_html:
        pred_html, true_html = otsl_to_html(table_prediction), html_document(table_html)
        counts |= {
            "tables": 1,
            "teds_sum": teds(pred_html, true_html),
            "teds_struct_sum": teds(pred_html, true_html, structure_only=True),
        }
    return {"n": 1, **_report(counts), "per_field": dict(per_field), "verdicts": verdicts, "counts": counts}


def aggregate(scores: list[dict]) -> dict:
    """Micro-averages over documents (every field of every document weighs the same); rates over documents."""
    counts = {key: sum(score["counts"][key] for score in scores) for key in COUNTS}
    per_field = defaultdict(lambda: [0, 0])
    for score in scores:
        for name, (ok, total) in score["per_field"].items():
            per_field[name][0] += ok
            per_field[name][1] += total
    return {
        "n": len(scores),
        **_report(counts),
        "per_field": {name: ok / total for name, (ok, total) in sorted(per_field.items())},
    }


def paired_bootstrap(base: list[dict], finetuned: list[dict], resamples: int = 2000, seed: int = 0) -> dict:
    """Each metric's fine-tuned − base difference with a percentile 95 % interval over document resamples.

    `base` and `finetuned` are `score_document` results for the same documents in the same order; each resample
    draws documents with replacement and scores both models on it, so the interval is of the paired difference.
    """
    base_counts = np.array([[score["counts"][key] for key in COUNTS] for score in base], dtype=float)
    tuned_counts = np.array([[score["counts"][key] for key in COUNTS] for score in finetuned], dtype=float)
    n = len(base_counts)
    rng = np.random.default_rng(seed)
    weights = np.zeros((resamples, n))  # how often each document is drawn in each resample
    np.add.at(weights, (np.arange(resamples)[:, None], rng.integers(0, n, size=(resamples, n))), 1)

    def metrics(counts: np.ndarray) -> dict:
        return rates(dict(zip(COUNTS, counts.T, strict=True)))

    point_base, point_tuned = metrics(base_counts.sum(0)), metrics(tuned_counts.sum(0))
    drawn_base, drawn_tuned = metrics(weights @ base_counts), metrics(weights @ tuned_counts)
    differences = {}
    for key in METRICS:
        if key.startswith("teds") and not base_counts[:, COUNTS.index("tables")].any():
            continue  # no table was scored
        low, high = np.percentile(drawn_tuned[key] - drawn_base[key], [2.5, 97.5])
        differences[key] = {
            "value": float(point_tuned[key] - point_base[key]),
            "ci_low": float(low),
            "ci_high": float(high),
            "significant": bool(low > 0 or high < 0),
        }
    return differences
