"""FinScribe's field metrics as an `evaluate` metric: `evaluate.load("metrics/finscribe_fields")` from the repository
root. The scores are `trainer.eval.scores.aggregate` of `score_document` for each pair (a test checks they agree exactly).
"""

import datasets
import evaluate

from trainer.eval.scores import aggregate, score_document
from trainer.schema.document import read_document

_DESCRIPTION = """Field-level scores of a model's JSON reading of a financial document (invoice, receipt) against
its ground truth: exact field accuracy (values compared as numbers, dates, times or text, as a careful reader
would), precision/recall/F1 over (path, value) pairs, ANLS, numeric accuracy to the cent, the schema's validation
pass rate, and how often the output is strict JSON or at least holds a JSON object (in a ```json fence or prose).
Line items are aligned to the true rows first. A null truth (not printed) is right when nothing is predicted; a key
the truth leaves out (not labelled) is not scored."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the model's outputs, as written (anything: they never raise).
    references (`list` of `str`): the ground truths, one JSON object each (a dataset's `ground_truth` column).
Returns:
    `trainer.eval.scores.aggregate`'s dict: n, field_accuracy, field_precision, field_recall, field_f1, anls,
    numeric_accuracy, validation_pass_rate, json_valid_rate, json_found_rate, per_field and per_field_anls (by
    generic path, e.g. `line_items.*.amount`); teds and teds_struct are None (see `metrics/teds`).
Examples:
    >>> fields = evaluate.load("metrics/finscribe_fields")
    >>> truth = '{"doc_type": "receipt", "total": "9.00", "date": "2018-12-25"}'
    >>> fields.compute(predictions=['{"doc_type": "receipt", "total": "RM9.00", "date": "25/12/2018"}'],
    ...                references=[truth])["field_accuracy"]
    1.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class FinscribeFields(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        truths = [read_document(reference) for reference in references]
        if None in truths:
            raise ValueError(f"reference {truths.index(None)} is not a JSON object")
        return aggregate([score_document(pred, truth) for pred, truth in zip(predictions, truths, strict=True)])
