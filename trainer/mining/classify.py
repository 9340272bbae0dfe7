"""Every error of one reading, each with its kind and the dotted paths it involves (multi-label).

Output: `invalid_json` (no JSON object can be parsed from it), `truncated` (it stops inside the JSON: the token limit
cut it), `repetition` (it ends in a loop), `schema` (it parses, but the schema refuses it).
Fields, against the truth: `missing_field` (labelled, not read), `hallucinated_field` (a value where the document
prints none, or a key the schema does not have), `wrong_value` as `wrong_numeric`, `wrong_date` (dates and times),
`wrong_identifier` (invoice numbers, tax ids, IBANs, phone numbers) and `wrong_text` (everything else), and
`format` (the right value, as the metrics forgive it, not written canonically: `25/12/2018` for `2018-12-25`).
Structure: `line_items_missing`, `line_items_extra`, `line_items_merged_or_split` (a row's amount or description
is two neighbours' together), and `table_structure` (TEDS-S below 1 for the table task).
Consistency: `arithmetic` (the reading's own numbers fail the validator: needs no label).
Comparison: `regression` (the baseline read the field right and this reading did not), `table_regression` (its
table scores a lower TEDS than the baseline's) and `ocr_regression` (its page text has more edits from the true
text than the baseline's): what fine-tuning cost, document by document.

A key the truth leaves out is not labelled and is never an error, whatever is read there. Paths of line items are
the truth's row numbers, after the predicted rows are aligned with the true ones (eval.align); an extra row is
numbered after the true rows.
"""

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from trainer.eval.align import align_rows
from trainer.eval.fields import find_prediction, judged, renumber, repeats_itself
from trainer.eval.normalize import DATE_KEYS, NUMERIC_KEYS, TIME_KEYS, is_empty, key_of, normalize_text, values_match
from trainer.eval.scores import ocr_counts, table_counts
from trainer.schema.document import get_path, scalar_paths, validate

KINDS = (
    "invalid_json", "truncated", "repetition", "schema",
    "missing_field", "hallucinated_field", "wrong_numeric", "wrong_date", "wrong_identifier", "wrong_text", "format",
    "line_items_missing", "line_items_extra", "line_items_merged_or_split", "table_structure",
    "arithmetic", "regression", "table_regression", "ocr_regression",
)  # fmt: skip
IDENTIFIER_KEYS = {"invoice_number", "receipt_number", "tax_id", "iban", "phone", "email"}
# How much one error of a kind weighs in a reading's severity (replay's `severity` weighting): a reading that is no
# document at all, or that fine-tuning broke, outweighs one wrong value.
WEIGHTS = {"invalid_json": 5, "truncated": 5, "repetition": 5, "schema": 2, "regression": 3, "arithmetic": 2,
           "table_regression": 3, "ocr_regression": 3}  # fmt: skip
# The wrong paths one kind counts at most: a junk reading that invents 5,000 line items is one bad reading, not a
# thousand times worse than a real one (real readings' errors weigh 6 to 27).
MAX_PATHS_PER_KIND = 10


@dataclass(frozen=True)
class MinedError:
    kind: str
    paths: tuple[str, ...] = ()


def wrong_kind(path: str) -> str:
    """Which `wrong_value` a wrong value at `path` is."""
    key = key_of(path)
    if key in NUMERIC_KEYS:
        return "wrong_numeric"
    if key in DATE_KEYS or key in TIME_KEYS:
        return "wrong_date"
    return "wrong_identifier" if key in IDENTIFIER_KEYS else "wrong_text"


def cut_short(text: str) -> bool:
    """Whether the output stops inside a JSON object: it opens one and the text ends before the object closes."""
    start = text.find("{")
    if start < 0:
        return False
    try:
        json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as error:
        return error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string")
    except RecursionError:
        return False
    return False


def _violation_path(message: str) -> str:
    """The path a validator message names: `schema: taxes.0.rate: ...` or `rule: line_items.1.amount is 3, ...`."""
    rule, _, rest = message.partition(": ")
    if rule == "schema":
        return rest.partition(": ")[0]
    path = rest.partition(" is ")[0]
    if path.startswith("sum("):  # `tax_base: sum(taxes.base) is ...`: the list whose rows add up wrong
        return path[4:].partition(".")[0]
    return rule if " " in path or path[:1].isdigit() else path  # `due_date: 2024-03-01 is before ...` names its rule


def _amount(row) -> Decimal | None:
    """A row's amount as a finite number, or None (none written, or no number: `NaN`, `Infinity`, words)."""
    if not isinstance(row, dict) or row.get("amount") is None:
        return None
    try:
        amount = Decimal(str(row["amount"]))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _text(row) -> str:
    return normalize_text(row.get("description") or "") if isinstance(row, dict) else ""


def _joined(rows: list) -> dict:
    """Every run of 2-3 consecutive rows by what it holds together: ("amount", sum) and ("text", descriptions)."""
    amounts, texts, runs = [_amount(row) for row in rows], [_text(row) for row in rows], {}
    for size in (2, 3):
        for start in range(len(rows) - size + 1):
            run = range(start, start + size)
            if None not in amounts[start : start + size]:
                runs.setdefault(("amount", sum(amounts[start : start + size])), []).append(run)
            if all(texts[start : start + size]):
                runs.setdefault(("text", " ".join(texts[start : start + size])), []).append(run)
    return runs


def _merged_or_split(predicted: list, truth: list) -> tuple[set[int], set[int]]:
    """(true rows, predicted rows) that merge or split neighbours: a predicted row that is 2-3 consecutive true rows
    together (their amounts' sum, or their descriptions one after the other), or a true row that 2-3 consecutive
    predicted rows make up."""
    true_rows, predicted_rows = set(), set()
    for whole, parts, whole_rows, part_rows in ((predicted, truth, predicted_rows, true_rows),
                                                 (truth, predicted, true_rows, predicted_rows)):  # fmt: skip
        runs = _joined(parts)
        for index, row in enumerate(whole):
            for key in (("amount", _amount(row)), ("text", _text(row))):
                for run in runs.get(key, ()) if key[1] else ():
                    whole_rows.add(index)
                    part_rows.update(run)
    return true_rows, predicted_rows


def _line_items(predicted: dict, truth: dict) -> tuple[dict[str, list[str]], set[str], dict[int, int] | None]:
    """Row errors by kind, the paths inside true rows that a row error already explains, and the rows' pairing."""
    items, true_items = predicted.get("line_items"), truth.get("line_items")
    if not isinstance(true_items, list):
        return {}, set(), None
    items = items if isinstance(items, list) else []
    pairs = align_rows(items, true_items)
    merged_true, merged_predicted = (
        _merged_or_split(items, true_items) if len(items) != len(true_items) else (set(), set())
    )
    paired = set(pairs.values())
    errors = {
        "line_items_missing": [
            f"line_items.{i}" for i in range(len(true_items)) if i not in pairs and i not in merged_true
        ],
        "line_items_extra": [
            f"line_items.{len(true_items) + n}"
            for n, j in enumerate(j for j in range(len(items)) if j not in paired)
            if j not in merged_predicted
        ],
        "line_items_merged_or_split": [f"line_items.{i}" for i in sorted(merged_true)],
    }
    explained = {f"line_items.{i}" for i in range(len(true_items)) if i not in pairs or i in merged_true}
    return errors, explained, pairs


def _under(path: str, prefixes: set[str]) -> bool:
    return any(path == prefix or path.startswith(prefix + ".") for prefix in prefixes)


def _flat(doc, prefix: str = "") -> dict:
    """{dotted path: value} of every scalar, as `scalar_paths` orders them."""
    items = enumerate(doc) if isinstance(doc, list) else doc.items()
    flat = {}
    for key, value in items:
        if isinstance(value, dict | list):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _field_errors(document: dict, truth: dict) -> dict[str, list[str]]:
    errors = {kind: [] for kind in KINDS}
    rows, explained, pairs = _line_items(document, truth)
    for kind, paths in rows.items():
        errors[kind] += paths
    aligned = renumber(document, truth, pairs)
    read, true_paths = _flat(aligned), set()
    for path, true in _flat(truth).items():
        true_paths.add(path)
        if _under(path, explained):
            continue
        guess = read[path] if path in read else get_path(aligned, path)  # a list or object where a value is
        if guess == true:
            continue
        if true is None:
            if not is_empty(guess):
                errors["hallucinated_field"].append(path)
        elif is_empty(guess):
            errors["missing_field"].append(path)
        elif not values_match(path, guess, true):
            errors[wrong_kind(path)].append(path)
        elif guess != true:
            errors["format"].append(path)
    true_rows = len(truth["line_items"]) if isinstance(truth.get("line_items"), list) else 0
    extra_rows = {f"line_items.{n}" for n in range(true_rows, len(aligned.get("line_items") or []))}  # row errors
    for path, value in read.items():  # values where the truth has no such field: an extra tax row, a party's key
        if path in true_paths or is_empty(value) or _under(path, extra_rows):
            continue
        parts = path.split(".")
        inside_a_true_field = any(".".join(parts[:n]) in true_paths for n in range(1, len(parts)))
        if judged(truth, path) and not inside_a_true_field:
            errors["hallucinated_field"].append(path)
    return errors


def _right(reading: dict | None, truth: dict, path: str) -> bool:
    return reading is not None and values_match(path, get_path(reading, path), get_path(truth, path))


def _regressions(reading: dict | None, baseline: dict | None, truth: dict) -> list[str]:
    """The labelled fields the baseline read right and this reading did not (every such field of a reading that is
    no document)."""
    if baseline is None:
        return []
    ours = renumber(reading, truth) if reading is not None else None
    theirs = renumber(baseline, truth)
    return [path for path in scalar_paths(truth) if _right(theirs, truth, path) and not _right(ours, truth, path)]


def classify_errors(
    prediction, ground_truth: dict | None = None, *, baseline: str | None = None,
    table_prediction: str | None = None, table_html: str | None = None, baseline_table: str | None = None,
    ocr_prediction: str | None = None, text: str | None = None, baseline_ocr: str | None = None,
) -> list[MinedError]:  # fmt: skip
    """Every error of one reading, in KINDS order, each kind once with its paths (sorted as found).

    `ground_truth` None classifies without labels: output errors, arithmetic and (with a baseline reading) nothing
    else. `baseline`, another model's output for the same document, adds `regression`. With the model's table (OTSL)
    and the true table (HTML), `table_structure` is judged too, and with the baseline's table `table_regression`;
    with the model's page text, the true `text` and the baseline's, `ocr_regression`.
    """
    text = prediction if isinstance(prediction, str) else ""
    errors = {kind: [] for kind in KINDS}
    document = find_prediction(text)  # the whole output, or one wrapped in a fence or prose
    if document is None:
        errors["invalid_json"].append("")
        if cut_short(text):
            errors["truncated"].append("")
    if repeats_itself(text):
        errors["repetition"].append("")
    if document is not None:
        for message in validate(document):
            path = _violation_path(message)
            if message.startswith("schema:"):
                errors["schema"].append(path)
                if "Extra inputs are not permitted" in message:
                    errors["hallucinated_field"].append(path)
            else:
                errors["arithmetic"].append(path)
        if ground_truth is not None:
            for kind, paths in _field_errors(document, ground_truth).items():
                errors[kind] += [path for path in paths if path not in errors[kind]]
    if ground_truth is not None and baseline is not None:
        errors["regression"] += _regressions(document, find_prediction(baseline), ground_truth)
    judged_table = table_prediction is not None and table_html
    if judged_table and table_counts(table_prediction, table_html)["teds_struct_sum"] < 1:
        errors["table_structure"].append("table")
    teds = lambda table: table_counts(table, table_html)["teds_sum"]  # noqa: E731
    if judged_table and baseline_table is not None and teds(table_prediction) < teds(baseline_table):
        errors["table_regression"].append("table")
    edits = lambda reading: ocr_counts(reading, text)["ocr_edits"]  # noqa: E731
    if text and None not in (ocr_prediction, baseline_ocr) and edits(ocr_prediction) > edits(baseline_ocr):
        errors["ocr_regression"].append("text")
    return [MinedError(kind, tuple(p for p in dict.fromkeys(paths) if p)) for kind, paths in errors.items() if paths]


def severity(errors: list[MinedError]) -> float:
    """A reading's weight for replay: each wrong path counts 1 (at most MAX_PATHS_PER_KIND a kind), and each error kind
    its WEIGHTS once more."""
    return float(
        sum(min(max(1, len(error.paths)), MAX_PATHS_PER_KIND) + WEIGHTS.get(error.kind, 0) for error in errors)
    )
