"""Typed schemas of the financial documents FinScribe reads, their canonical JSON, and the validator.

Each document type is one module in this package holding a pydantic `Document` (its keys in canonical order)
and `check(doc) -> list[str]` (its arithmetic), named in `DOCUMENT_TYPES`. Adding a type (bank statements,
purchase orders) means adding its module here, an entry in `DOCUMENT_TYPES`, and its generator in `trainer.synth`.

Schema version 2 added `prices_include_tax`, `rounding` and line items' `discount`, and lets any key but `doc_type`
be left out (not labelled) or null (not printed). A complete version 1 document means prices without tax and no
rounding: `upgrade` says so, and `read_document` reads stored ground truths through it.
"""

import json
import reprlib
from decimal import Decimal

from pydantic import ValidationError

from . import invoice, receipt
from .common import ITEM_KEYS, RULES_RUN, get_path, minor_units, money, quantize

__all__ = [
    "ITEM_KEYS",
    "DOCUMENT_TYPES",
    "canonical_json",
    "get_path",
    "minor_units",
    "money",
    "quantize",
    "read_document",
    "rule_verdicts",
    "scalar_paths",
    "upgrade",
    "validate",
]

DOCUMENT_TYPES = {"invoice": invoice, "receipt": receipt}
# Every rule `validate` names, in the order a reader checks them: the schema first, then the arithmetic.
RULES = ("schema", "minor_units", "line_amount", "subtotal", "tax_base", "tax_amount", "total", "due_date")
V2_KEYS = ("prices_include_tax", "rounding")
V1_KEYS = {name: set(module.Document.model_fields) - set(V2_KEYS) for name, module in DOCUMENT_TYPES.items()}


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


def rule_verdicts(doc) -> dict[str, list[str]]:
    """Each rule `validate` ran on the document, in `RULES` order, with its violations (none: it passed). A rule
    whose inputs are not all labelled does not run and is not listed; when the schema fails, nothing else runs."""
    rules: set[str] = {"schema"}
    token = RULES_RUN.set(rules)
    try:
        violations = validate(doc)
    finally:
        RULES_RUN.reset(token)
    verdicts = {rule: [] for rule in RULES if rule in rules}
    for violation in violations:
        verdicts.setdefault(violation.partition(":")[0], []).append(violation)
    return verdicts


def canonical_json(doc: dict) -> str:
    """The one serialisation of a document: schema key order, no spaces, UTF-8 text kept as is; keys left out stay
    out (not labelled) and nulls stay null (not printed)."""
    ordered = DOCUMENT_TYPES[doc["doc_type"]].Document.model_validate(doc).model_dump(exclude_unset=True)
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def upgrade(doc: dict) -> dict:
    """A complete version 1 document (every key it had, neither version 2 key) as the version 2 document it means:
    prices exclude tax and nothing is rounded. Any other document is returned as it is."""
    doc_type = doc.get("doc_type") if isinstance(doc, dict) else None
    v1_keys = V1_KEYS.get(doc_type) if isinstance(doc_type, str) else None
    if v1_keys is None or not v1_keys <= doc.keys() or any(key in doc for key in V2_KEYS):
        return doc
    currency = doc["currency"]
    zero = money(Decimal(0), currency) if isinstance(currency, str) else "0.00"  # the validator judges the currency
    upgraded = {}
    for key, value in doc.items():  # each new key beside its neighbour, so an ordered document stays in order
        if key == "total":
            upgraded["rounding"] = zero
        upgraded[key] = value
        if key == "currency":
            upgraded["prices_include_tax"] = False
    return upgraded


def read_document(text: str) -> dict | None:
    """A stored document (a dataset's ground truth) as a version 2 document; None when the text is no JSON object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return upgrade(value) if isinstance(value, dict) else None


def scalar_paths(doc: dict, prefix: str = "") -> list[str]:
    """Dotted paths of every scalar value: `vendor.name`, `taxes.0.amount`, `line_items.2.quantity`."""
    items = enumerate(doc) if isinstance(doc, list) else doc.items()
    paths = []
    for key, value in items:
        path = f"{prefix}{key}"
        paths += scalar_paths(value, f"{path}.") if isinstance(value, dict | list) else [path]
    return paths
