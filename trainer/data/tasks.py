"""The tasks a document teaches, each with its prompt defined here and nowhere else.

- extract: page → the document's canonical JSON (FinScribe's task)
- table:   PaddleOCR-VL's own `Table Recognition:` → OTSL of the line items
- ocr:     PaddleOCR-VL's own `OCR:` → the page text in reading order

An extraction may ask for named fields: `Information Extraction (JSON): doc_type, merchant.name, date, total` is
answered with exactly those fields, in canonical order. A partially labelled document is always asked for what it
labels (so training never teaches that a field it does not label is absent); a fully labelled one gets the plain
prompt, or a drawn subset of its fields, as the recipe's `subset_share` says.
"""

import json
import random

from pydantic import BaseModel, ValidationError

from trainer.schema.common import LineItem
from trainer.schema.document import DOCUMENT_TYPES

PROMPTS = {
    "extract": "Information Extraction (JSON):",
    "table": "Table Recognition:",
    "ocr": "OCR:",
}
# The dataset column each task's answer comes from.
TARGETS = {"extract": "ground_truth", "table": "table_otsl", "ocr": "text"}


def user_turn(pages: int, prompt: str) -> dict:
    """The user's message: the document's pages, then the prompt (the chat template puts each page's image tokens)."""
    return {"role": "user", "content": [{"type": "image"}] * pages + [{"type": "text", "text": prompt}]}


def extract_prompt(fields: list[str] | None = None) -> str:
    """The extraction prompt, naming the fields asked for (all of them when None)."""
    return PROMPTS["extract"] + (" " + ", ".join(fields) if fields else "")


def compact(part: dict) -> str:
    """A document or part of one as the model writes it: its key order kept, no spaces, text as it is."""
    return json.dumps(part, ensure_ascii=False, separators=(",", ":"))


def fields_of(doc: dict) -> list[str]:
    """The fields a document labels, as they are asked for: top-level keys, a party's keys as `vendor.name`, and a
    list (line items, taxes) as a whole."""
    fields = []
    for key, value in doc.items():
        fields += [f"{key}.{sub}" for sub in value] if isinstance(value, dict) and value else [key]
    return fields


def select(doc: dict, fields: list[str]) -> dict:
    """The part of a document the fields name, in the document's own key order; a field it lacks is left out."""
    wanted: dict[str, set[str]] = {}  # top-level key → the party keys named under it (none: all of it)
    for name in fields:
        key, _, sub = name.partition(".")
        wanted.setdefault(key, set()).update([sub] if sub else [])
    part = {}
    for key, value in doc.items():
        if key in wanted:
            keep = wanted[key]
            part[key] = {k: v for k, v in value.items() if k in keep} if keep and isinstance(value, dict) else value
    return part


def is_complete(doc: dict) -> bool:
    """Whether every field of the document's type is labelled (null, not printed, counts as labelled)."""
    module = DOCUMENT_TYPES.get(doc.get("doc_type")) if isinstance(doc.get("doc_type"), str) else None
    try:
        return module is not None and _all_set(module.Document.model_validate(doc))
    except ValidationError:
        return False


def _all_set(model: BaseModel) -> bool:
    optional = {"discount"} if isinstance(model, LineItem) else set()  # a line without one shows none
    if model.model_fields_set | optional != set(type(model).model_fields):
        return False
    values = [getattr(model, name) for name in type(model).model_fields]
    values = [item for value in values for item in (value if isinstance(value, list) else [value])]
    return all(_all_set(value) for value in values if isinstance(value, BaseModel))


def draw_fields(seed: int, doc_id: str, epoch: int, doc: dict, subset_share: float) -> list[str] | None:
    """The fields one training example asks for: a partial document's labelled fields; for a complete one, None
    (the plain prompt) or, in `subset_share` of documents and epochs, a random non-empty subset of its fields."""
    fields = fields_of(doc)
    if not is_complete(doc):
        return fields
    rng = random.Random(f"{seed}:{doc_id}:{epoch}:fields")
    if rng.random() >= subset_share:
        return None
    chosen = set(rng.sample(fields, rng.randint(1, len(fields) - 1)))
    return [name for name in fields if name in chosen]  # in canonical order
