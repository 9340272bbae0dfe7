"""Typed schemas of the financial documents FinScribe reads, their canonical JSON, and the validator.

Each document type is one module in this package holding a pydantic `Document` (its keys in canonical order)
and `check(doc) -> list[str]` (its arithmetic), named in `DOCUMENT_TYPES`. Adding a type (bank statements,
purchase orders) means adding its module here, an entry in `DOCUMENT_TYPES`, and its generator in `trainer.synth`.
"""

import json
import reprlib

from pydantic import ValidationError

from . import invoice, receipt
from .common import ITEM_KEYS, get_path, minor_units, money, quantize

__all__ = [
    "ITEM_KEYS",
    "DOCUMENT_TYPES",
    "canonical_json",
    "get_path",
    "minor_units",
    "money",
    "quantize",
    "scalar_paths",
    "validate",
]

DOCUMENT_TYPES = {"invoice": invoice, "receipt": receipt}


def validate(doc: dict) -> list[str]:
    """Every schema and arithmetic violation of a document, each naming its rule; empty when the document is valid.

    Any JSON value is answered with violations, never an exception: annotations are users' files.
    """
    if not isinstance(doc, dict):
        return [f"schema: document is a {type(doc).__name__}, not a JSON object"]
    doc_type = doc.get("doc_type")
    module = DOCUMENT_TYPES.get(doc_type) if isinstance(doc_type, str) else None
    if module is None:  # reprlib: the value may be a list nested thousands deep or megabytes long
        return [f"schema: doc_type: {reprlib.repr(doc_type)} is not one of {sorted(DOCUMENT_TYPES)}"]
    try:
        module.Document.model_validate(doc)
    except ValidationError as error:
        return [f"schema: {'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in error.errors()]
    return module.check(doc)


def canonical_json(doc: dict) -> str:
    """The one serialisation of a document: schema key order, no spaces, UTF-8 text kept as is."""
    ordered = DOCUMENT_TYPES[doc["doc_type"]].Document.model_validate(doc).model_dump()
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def scalar_paths(doc: dict, prefix: str = "") -> list[str]:
    """Dotted paths of every scalar value: `vendor.name`, `taxes.0.amount`, `line_items.2.quantity`."""
    items = enumerate(doc) if isinstance(doc, list) else doc.items()
    paths = []
    for key, value in items:
        path = f"{prefix}{key}"
        paths += scalar_paths(value, f"{path}.") if isinstance(value, dict | list) else [path]
    return paths
