"""Metrics for extracted documents: pure functions, one document at a time, then micro-averaged over a set.

`score_document(prediction, ground_truth)` scores one model output, whatever it is: nothing a model writes is raised,
it scores zero and is counted (malformed, truncated, non-JSON or non-string output, or JSON nested deeper than
MAX_DEPTH, is no document; an infinite, NaN or absurdly long number is a wrong field). With the model's OTSL table
and the true table's HTML it adds TEDS and TEDS-S, floored at 0; a predicted table far bigger than the true one scores
0 unread (TABLE_CAP). `aggregate(scores)` combines documents as `metrics.json` reports them. Every metric is a ratio of
summed per-document counts (`rates`), so a bootstrap resample is a weighted sum of the same counts.

Fields are addressed by dotted path (`vendor.name`, `taxes.0.amount`); line items are aligned first (align.py), and
values compared as a careful reader would (normalize.py says what is forgiven). A document wrapped in prose or a
```json fence is still scored field by field (`json_found_rate` counts those found); `json_valid_rate` and
`validation_pass_rate` judge the output as a program would receive it, whole. Exact field accuracy is the headline;
ANLS (`anls`) scores the same fields softly, by edit distance. Where the truth is null (not printed) nothing is the
right answer; a key the truth leaves out (not labelled) is not scored at all (fields.py).

The page's text (the `OCR:` task, PaddleOCR-VL's own) is scored against the dataset's `text`, whitespace runs taken
as one space: the character error rate (`ocr_cer`, Levenshtein edits over the true text's characters, micro-averaged),
the mean normalised edit distance per page (`ocr_ned`, edits over the longer text's length), and the character error
rate with the words of both put in one order (`ocr_cer_unordered`), which forgives reading a multi-column page's
columns in another order. All three are errors: lower is better.
"""

from collections import defaultdict

import numpy as np
from rapidfuzz.distance import Levenshtein

from trainer.tables import grid_to_otsl, html_document, html_to_grid, otsl_to_html

from .fields import (
    MAX_DEPTH,
    find_prediction,
    generic,
    parse_prediction,
    passes_validation,
    repeats_itself,
    score_fields,
)
from .teds import teds

__all__ = [
    "COUNTS",
    "MAX_DEPTH",
    "METRICS",
    "TABLE_CAP",
    "aggregate",
    "ocr_counts",
    "paired_bootstrap",
    "rates",
    "score_document",
    "table_counts",
]

# The per-document counts every metric is a ratio of.
# fields_correct of fields_total (every labelled field, nulls included) are right; fields_matched of fields_predicted
# (values predicted where the truth can judge them) and of fields_printed (true fields with a value) are right values.
OCR_COUNTS = ("ocr_pages", "ocr_edits", "ocr_chars", "ocr_ned_sum", "ocr_unordered_edits")  # what `ocr_counts` gives
COUNTS = (
    "documents", "fields_correct", "fields_total", "fields_matched", "fields_predicted", "fields_printed", "anls_sum",
    "numeric_correct", "numeric_total", "valid", "json_valid", "json_found", "tables", "teds_sum", "teds_struct_sum", "looped",
    *OCR_COUNTS,
)  # fmt: skip
METRICS = (
    "field_accuracy", "field_precision", "field_recall", "field_f1", "anls", "numeric_accuracy", "teds", "teds_struct",
    "validation_pass_rate", "json_valid_rate", "json_found_rate", "loop_rate", "ocr_cer", "ocr_ned", "ocr_cer_unordered",
)  # fmt: skip
# Each task's metric as a group: scored only where the task was (a table to compare, a page text).
TASK_METRICS = {"tables": ("teds", "teds_struct"), "ocr_pages": ("ocr_cer", "ocr_ned", "ocr_cer_unordered")}
# A predicted table with more than TABLE_CAP × the true table's rows and cells (+ 100), or TABLE_CAP × its length
# as OTSL (+ 10,000 characters), is a model repeating itself to its token limit: it scores 0 unread, for 10 MB of
# OTSL takes minutes and gigabytes to score exactly. Every node beyond the true table's costs a deletion, so so many
# would score below about 1 / TABLE_CAP anyway; only the length cap can cost more (a cell's text costs it at most 1).
TABLE_CAP = 4


def _ratio(part, whole):
    """part / whole, 0 where whole is 0; for numbers and for arrays of bootstrap sums alike."""
    part, whole = np.asarray(part, dtype=float), np.asarray(whole, dtype=float)
    return np.divide(part, whole, out=np.zeros(np.broadcast(part, whole).shape), where=whole != 0)


def rates(counts: dict) -> dict:
    """Every metric from summed counts. Fields are micro-averaged; TEDS is a mean over documents with a table.

    Without null truths recall is field accuracy; with them, accuracy also credits each null left empty.
    """
    precision = _ratio(counts["fields_matched"], counts["fields_predicted"])
    recall = _ratio(counts["fields_matched"], counts["fields_printed"])
    return {
        "field_accuracy": _ratio(counts["fields_correct"], counts["fields_total"]),
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": _ratio(2 * precision * recall, precision + recall),
        "anls": _ratio(counts["anls_sum"], counts["fields_total"]),
        "numeric_accuracy": _ratio(counts["numeric_correct"], counts["numeric_total"]),
        "teds": _ratio(counts["teds_sum"], counts["tables"]),
        "teds_struct": _ratio(counts["teds_struct_sum"], counts["tables"]),
        "validation_pass_rate": _ratio(counts["valid"], counts["documents"]),
        "json_valid_rate": _ratio(counts["json_valid"], counts["documents"]),
        "json_found_rate": _ratio(counts["json_found"], counts["documents"]),
        "loop_rate": _ratio(counts["looped"], counts["documents"]),
        "ocr_cer": _ratio(counts["ocr_edits"], counts["ocr_chars"]),
        "ocr_ned": _ratio(counts["ocr_ned_sum"], counts["ocr_pages"]),
        "ocr_cer_unordered": _ratio(counts["ocr_unordered_edits"], counts["ocr_chars"]),
    }


def _report(counts: dict) -> dict:
    """`rates` as plain floats; a task's metrics are None (JSON null) when no document had it scored."""
    report = {key: float(value) for key, value in rates(counts).items()}
    for count, keys in TASK_METRICS.items():
        if not counts[count]:
            report |= dict.fromkeys(keys)
    return report


def ocr_counts(prediction, text: str) -> dict:
    """The edits from the model's page text to the true one, as read (`ocr_edits`) and with both texts' words in one
    order (`ocr_unordered_edits`); an answer that is no string is an empty reading."""
    predicted = " ".join(prediction.split()) if isinstance(prediction, str) else ""
    truth = " ".join(text.split())
    edits = Levenshtein.distance(predicted, truth)
    unordered = Levenshtein.distance(" ".join(sorted(predicted.split())), " ".join(sorted(truth.split())))
    return {
        "ocr_pages": 1, "ocr_edits": edits, "ocr_chars": len(truth),
        "ocr_ned_sum": edits / max(len(predicted), len(truth), 1), "ocr_unordered_edits": unordered,
    }  # fmt: skip


def table_counts(otsl, table_html: str) -> dict:
    """TEDS and TEDS-S of the model's OTSL against the true table; 0 for an answer that is no string or too big."""
    true_otsl = grid_to_otsl(html_to_grid(table_html))
    nodes = lambda text: text.count("<fcel>") + text.count("<ecel>") + text.count("<nl>")  # noqa: E731
    if (
        not isinstance(otsl, str)
        or nodes(otsl) > TABLE_CAP * nodes(true_otsl) + 100
        or len(otsl) > TABLE_CAP * len(true_otsl) + 10_000
    ):
        return {"tables": 1, "teds_sum": 0.0, "teds_struct_sum": 0.0}
    pred_html, true_html = otsl_to_html(otsl), html_document(table_html)
    # PubTabNet's TEDS divides by the larger tree, not by the most the edit can cost, so a table of the wrong shape
    # (one long row and an empty one against three short rows) can score below 0: that is no table, worth 0 here.
    return {
        "tables": 1,
        "teds_sum": max(0.0, teds(pred_html, true_html)),
        "teds_struct_sum": max(0.0, teds(pred_html, true_html, structure_only=True)),
    }


def score_document(
    prediction: str, ground_truth: dict, table_prediction: str | None = None, table_html: str | None = None,
    ocr_prediction: str | None = None, text: str | None = None,
) -> dict:  # fmt: skip
    """One document's scores under `metrics.json`'s names, plus its `verdicts` by path and the `counts` behind them.

    `per_field` holds [right, fields] and `per_field_anls` [ANLS sum, fields] by generic path. TEDS is scored when
    both the model's table (OTSL, PaddleOCR-VL's table format) and the true table (HTML) are given; a document whose
    true table is empty has no table to score; the page text likewise when both the model's (`OCR:`) and the true
    `text` are given. `ground_truth` is trusted (it passed the schema); the predictions may be anything.
    """
    strict = parse_prediction(prediction)
    found = strict if strict is not None else find_prediction(prediction)
    fields = score_fields(found, ground_truth)
    verdicts, anls = fields["verdicts"], fields["anls"]
    per_field, per_field_anls = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0.0, 0])
    for path, ok in verdicts.items():
        per_field[generic(path)][0] += ok
        per_field[generic(path)][1] += 1
        per_field_anls[generic(path)][0] += anls[path]
        per_field_anls[generic(path)][1] += 1
    counts = {
        "documents": 1,
        "fields_correct": sum(verdicts.values()),
        "fields_total": len(verdicts),
        "fields_matched": fields["matched"],
        "fields_predicted": fields["predicted_pairs"],
        "fields_printed": fields["printed"],
        "anls_sum": sum(anls.values()),
        "numeric_correct": fields["numeric_correct"],
        "numeric_total": fields["numeric_total"],
        "valid": int(passes_validation(strict)),
        "json_valid": int(strict is not None),
        "json_found": int(found is not None),
        "tables": 0,
        "teds_sum": 0.0,
        "teds_struct_sum": 0.0,
        "looped": int(repeats_itself(prediction)),
        **dict.fromkeys(OCR_COUNTS, 0),
    }
    if table_prediction is not None and table_html:
        counts |= table_counts(table_prediction, table_html)
    if ocr_prediction is not None and text:
        counts |= ocr_counts(ocr_prediction, text)
    return {
        "n": 1, **_report(counts), "per_field": dict(per_field), "per_field_anls": dict(per_field_anls),
        "verdicts": verdicts, "counts": counts,
    }  # fmt: skip


def aggregate(scores: list[dict]) -> dict:
    """Micro-averages over documents (every field of every document weighs the same); rates over documents; each
    field's accuracy and ANLS by generic path (`per_field`, `per_field_anls`)."""
    counts = {key: sum(score["counts"][key] for score in scores) for key in COUNTS}
    summed = {"per_field": defaultdict(lambda: [0, 0]), "per_field_anls": defaultdict(lambda: [0.0, 0])}
    for score in scores:
        for kind, fields in summed.items():
            for name, (part, total) in score[kind].items():
                fields[name][0] += part
                fields[name][1] += total
    by_field = {
        kind: {name: part / total for name, (part, total) in sorted(fields.items())} for kind, fields in summed.items()
    }
    return {"n": len(scores), **_report(counts), **by_field}


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
    unscored = {key for count, keys in TASK_METRICS.items() if not base_counts[:, COUNTS.index(count)].any()
                for key in keys}  # fmt: skip
    for key in METRICS:
        if key in unscored:
            continue  # no document had the task scored
        low, high = np.percentile(drawn_tuned[key] - drawn_base[key], [2.5, 97.5])
        differences[key] = {
            "value": float(point_tuned[key] - point_base[key]),
            "ci_low": float(low),
            "ci_high": float(high),
            "significant": bool(low > 0 or high < 0),
        }
    return differences
