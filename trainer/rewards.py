"""Rewards a document reader's answer earns by what it says, for reinforcement learning (`trainer.grpo`): small named
functions in TRL's reward form, `reward(completions, task, reference, **kwargs) -> list[float | None]`, each scoring
the examples of its own task (extract, table, ocr) and None for the others, and built on the evaluation's own scorers
and the schema's own rules, so that a reward and a metric never disagree about what is right.

- `fields`: agreement with the label, field by field: F1 over (path, value) pairs of what the label labels, so a
  partial label scores only its fields, and invented values and endless extra rows cost precision. An unlabelled
  page (an empty reference) it leaves to the label-free rewards.
- `arithmetic`: label-free, the share of the schema's arithmetic rules (line amounts, subtotal, taxes, total, minor
  units, due date) that ran on the answer and passed. A rule whose inputs are not all there does not run; an answer
  on which none runs earns nothing, for nothing was checked. It cannot tell a page's numbers from made-up ones that
  add up, which is why it weighs less than `fields` where a label exists (`WEIGHTS`).
- `well_formed`: 1 for an answer that is the JSON document alone, accepted by the schema, that ends by itself: no
  loop (the evaluation's `repeats_itself`) and not cut off by the token limit (a cut-off document does not parse).
- `page_text`: 1 − the character error rate of an `OCR:` answer against the page's text (0 at or past 100 %).
- `table`: TEDS of a `Table Recognition:` answer (OTSL) against the true table.

`total` is the weighted sum TRL optimises with `WEIGHTS` (a recipe's `reward_weights` may set others).
"""

import json

from trainer.eval.fields import parse_prediction, repeats_itself
from trainer.eval.scores import ocr_counts, score_document, table_counts
from trainer.schema.document import rule_verdicts, validate
from trainer.tables import grid_to_html, otsl_to_grid

WEIGHTS = {"fields": 1.0, "arithmetic": 0.2, "well_formed": 0.2, "page_text": 1.0, "table": 1.0}


def text_of(completion) -> str:
    """A completion's text: TRL passes a conversational one as its list of messages."""
    if isinstance(completion, list):
        return "".join(text_of(message.get("content", "")) for message in completion if isinstance(message, dict))
    if isinstance(completion, dict):
        return str(completion.get("text", ""))
    return completion if isinstance(completion, str) else ""


def fields(completions, task, reference, **kwargs) -> list[float | None]:
    return [  # an unlabelled page (no reference) is left to the label-free rewards
        float(score_document(text_of(completion), json.loads(truth))["field_f1"])
        if kind == "extract" and truth
        else None
        for completion, kind, truth in zip(completions, task, reference, strict=True)
    ]


def arithmetic(completions, task, **kwargs) -> list[float | None]:
    return [rules_passed(text_of(c)) if kind == "extract" else None for c, kind in zip(completions, task, strict=True)]


def rules_passed(text: str) -> float:
    """The share of the arithmetic rules that ran on the answer and passed (0: no document, or nothing ran)."""
    document = parse_prediction(text)
    if document is None:
        return 0.0
    verdicts = rule_verdicts(document)
    ran = [rule for rule in verdicts if rule != "schema"]
    if verdicts.get("schema") or not ran:
        return 0.0
    return sum(not verdicts[rule] for rule in ran) / len(ran)


def well_formed(completions, task, **kwargs) -> list[float | None]:
    return [
        float(is_well_formed(text_of(c))) if kind == "extract" else None
        for c, kind in zip(completions, task, strict=True)
    ]


def is_well_formed(text: str) -> bool:
    document = parse_prediction(text)
    if document is None or repeats_itself(text):
        return False
    return not any(violation.startswith("schema:") for violation in validate(document))


def page_text(completions, task, reference, **kwargs) -> list[float | None]:
    scores = []
    for completion, kind, truth in zip(completions, task, reference, strict=True):
        if kind != "ocr":
            scores.append(None)
            continue
        counts = ocr_counts(text_of(completion), truth)
        scores.append(max(0.0, 1.0 - counts["ocr_edits"] / max(counts["ocr_chars"], 1)))
    return scores


def table(completions, task, reference, **kwargs) -> list[float | None]:
    return [
        table_counts(text_of(completion), grid_to_html(otsl_to_grid(truth)))["teds_sum"] if kind == "table" else None
        for completion, kind, truth in zip(completions, task, reference, strict=True)
    ]


REWARDS = {reward.__name__: reward for reward in (fields, arithmetic, well_formed, page_text, table)}


def total(completions, task, reference, weights: dict[str, float] = WEIGHTS) -> list[float]:
    """Each example's weighted sum of the rewards that score it, as TRL adds them."""
    sums = [0.0] * len(completions)
    for name, weight in weights.items():
        for index, score in enumerate(REWARDS[name](completions, task=task, reference=reference)):
            sums[index] += weight * (score or 0.0)
    return sums
