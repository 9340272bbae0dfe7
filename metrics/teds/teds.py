"""TEDS and TEDS-S of HTML tables as an `evaluate` metric: `evaluate.load("metrics/teds")` from the repository root.

The scores are `trainer.eval.teds.teds`, PubTabNet's definition (a test checks they agree exactly), averaged over the
pairs. PaddleOCR-VL answers tables in OTSL: pass `trainer.tables.otsl_to_html(answer)`.
"""

import datasets
import evaluate

from trainer.eval.teds import teds
from trainer.tables import html_document

_DESCRIPTION = """TEDS (tree-edit-distance similarity, Zhong et al. 2020) of predicted against true HTML tables:
1 − the tree edit distance of the two `<table>` trees over the larger tree's node count, cell contents compared by
normalised Levenshtein distance. TEDS-S ignores cell contents. A side without a table scores 0."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): predicted tables as HTML, a bare `<table>…</table>` or a whole document.
    references (`list` of `str`): the true tables, the same way.
Returns:
    teds (`float`): mean TEDS over the pairs, in [0, 1] but for PubTabNet's rare negative on a table of another
        shape (FinScribe's own report floors each at 0).
    teds_struct (`float`): mean TEDS-S.
Examples:
    >>> teds = evaluate.load("metrics/teds")
    >>> teds.compute(predictions=["<table><tr><td>1</td></tr></table>"], references=["<table><tr><td>1</td></tr></table>"])
    {'teds': 1.0, 'teds_struct': 1.0}
"""

_CITATION = """@inproceedings{zhong2020image,
  title={Image-based table recognition: data, model, and evaluation},
  author={Zhong, Xu and ShafieiBavani, Elaheh and Jimeno Yepes, Antonio},
  booktitle={European Conference on Computer Vision},
  pages={564--580},
  year={2020}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Teds(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://github.com/ibm-aur-nlp/PubTabNet/tree/master/src"],
        )

    def _compute(self, predictions, references):
        # Wrapping a whole document again changes nothing: lxml merges the repeated <html> and <body>.
        pairs = [(html_document(pred), html_document(true)) for pred, true in zip(predictions, references, strict=True)]
        return {
            "teds": sum(teds(pred, true) for pred, true in pairs) / len(pairs),
            "teds_struct": sum(teds(pred, true, structure_only=True) for pred, true in pairs) / len(pairs),
        }
