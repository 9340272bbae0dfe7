"""One document's field scores: accuracy, ANLS, precision/recall/F1 over (path, value) pairs, numeric accuracy,
validity.

A field is a path the truth labels, null included (null: the document prints no such field). A key the truth leaves
out is not labelled: it is not scored, and a value predicted there costs nothing, for it may be right. A predicted
value counts toward precision where the truth can judge it: on a labelled path, inside a labelled null, or in a line
item or tax row beyond the true ones (extra rows are invented whole).
"""

import json
import re

from trainer.schema.document import get_path, scalar_paths, validate

from .align import align_rows
from .normalize import NUMERIC_KEYS, equal_to_the_cent, is_empty, key_of, similarity, values_match

MAX_DEPTH = 64  # a document nests 3 deep (itself, line_items, a row); one nested deeper than this is none


def _integer(digits: str) -> int | float:
    """A JSON integer; one too long for Python to read (4,300 digits) is infinite, as JSON's `1e400` is."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


_DECODER = json.JSONDecoder(parse_int=_integer)


def _depth(value) -> int:
    """How deeply arrays and objects nest (a flat object: 1), counted level by level, not by recursion."""
    depth, level = 0, [value]
    while level := [node for node in level if isinstance(node, dict | list)]:
        depth += 1
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)]
    return depth


def parse_prediction(text: str) -> dict | None:
    """The predicted document, or None when the output is not a JSON object (truncated, prose, empty, not even a
    string) or nests deeper than MAX_DEPTH (json.loads and the recursive scoring would run out of stack)."""
    if not isinstance(text, str):
        return None
    try:
        value = _DECODER.decode(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) and _depth(value) <= MAX_DEPTH else None


def find_prediction(text: str) -> dict | None:
    """The document in an output that wraps it: the whole output when it is one (`parse_prediction`), else the JSON
    object that opens at its first `{`, whatever comes before and after (a ```json fence, a sentence: what base
    models write). One parse from one place, so the work is bounded by the output's length."""
    document = parse_prediction(text)
    if document is not None or not isinstance(text, str) or "{" not in text:
        return document
    try:
        value, _ = _DECODER.raw_decode(text, text.index("{"))
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if _depth(value) <= MAX_DEPTH else None


LOOP_UNIT, LOOP_TIMES, LOOP_CHARS = 256, 3, 20  # a stretch of at most 256 characters, said 3 times, 20 in all


def repeats_itself(text: str) -> bool:
    """Whether an output ends caught in a repetition loop, as greedy decoding that never reaches the end of its
    answer does: the same stretch of up to LOOP_UNIT characters at least LOOP_TIMES times back to back at the end,
    LOOP_CHARS characters or more in all (`"1","1","1"`, a line item written over and over, `NNNNNNNN`). A loop cut
    mid-stretch by the token limit is caught too: a periodic text repeats its last stretch of any phase. A finished
    document does not end so (its last keys differ), whatever it holds twice inside."""
    if not isinstance(text, str):
        return False
    text = text.rstrip()
    for size in range(1, min(LOOP_UNIT, len(text) // LOOP_TIMES) + 1):
        unit, times = text[-size:], 1
        while text.endswith(unit, 0, len(text) - times * size):
            times += 1
        if times >= LOOP_TIMES and times * size >= LOOP_CHARS:
            return True
    return False


def renumber(predicted: dict, truth: dict, pairs: dict[int, int] | None = None) -> dict:
    """The prediction with its line items reordered to match the true rows they align with (`pairs`, as `align_rows`
    finds them when not given); extra rows go last."""
    items, true_items = predicted.get("line_items"), truth.get("line_items")
    if not isinstance(items, list):
        return predicted
    true_items = true_items if isinstance(true_items, list) else []
    pairs = align_rows(items, true_items) if pairs is None else pairs
    ordered = [items[pairs[i]] if i in pairs else None for i in range(len(true_items))]
    extra = [item for j, item in enumerate(items) if j not in set(pairs.values())]
    return {**predicted, "line_items": ordered + extra}


def judged(truth: dict, path: str) -> bool:
    """Whether the truth can judge a value predicted at `path` (a path of the renumbered prediction), and so
    whether it counts toward precision: not where the truth leaves the key out."""
    node = truth
    for key in path.split("."):
        if isinstance(node, dict):
            if key not in node:
                return False  # not labelled
            node = node[key]
        elif isinstance(node, list):
            index = int(key) if key.isascii() and key.isdigit() and len(key) < 19 else len(node)
            if index >= len(node):
                return True  # an extra row
            node = node[index]
        else:
            return True  # inside a null, or where the truth holds a value of another shape
    return True


def generic(path: str) -> str:
    """`line_items.2.amount` → `line_items.*.amount`, the name a field is reported under."""
    return re.sub(r"\.\d+(\.|$)", r".*\1", path)


def score_fields(predicted: dict | None, truth: dict) -> dict:
    """Per-field verdicts and ANLS terms, and the counts behind precision, recall and numeric accuracy. No
    prediction (no JSON object found) scores zero, nulls included: it says nothing, not that nothing is printed."""
    found = predicted is not None
    aligned = renumber(predicted, truth) if found else {}
    pairs = {path: (get_path(aligned, path), get_path(truth, path)) for path in scalar_paths(truth)}
    verdicts = {path: found and values_match(path, guess, true) for path, (guess, true) in pairs.items()}
    numeric = [path for path in pairs if key_of(path) in NUMERIC_KEYS]
    return {
        "verdicts": verdicts,
        "anls": {path: similarity(path, guess, true) if found else 0.0 for path, (guess, true) in pairs.items()},
        "predicted_pairs": sum(
            not is_empty(get_path(aligned, path)) and judged(truth, path) for path in scalar_paths(aligned)
        ),
        "printed": sum(true is not None for _, true in pairs.values()),
        "matched": sum(verdicts[path] and true is not None for path, (_, true) in pairs.items()),
        "numeric_total": len(numeric),
        "numeric_correct": sum(
            verdicts[path] if pairs[path][1] is None else equal_to_the_cent(*pairs[path]) for path in numeric
        ),
    }


def passes_validation(predicted: dict | None) -> bool:
    return predicted is not None and validate(predicted) == []
