"""Error kinds counted over a split: how many documents show each kind in one set of readings, and a table of two
sets side by side (before and after a round of mining and retraining). `python -m trainer.tally` writes it.
"""

from trainer.schema.document import read_document

from .classify import KINDS, classify_errors


def tally(rows, readings: dict[str, dict]) -> dict[str, int]:
    """Documents with each kind (and with none), over the documents both the split and the readings have."""
    counts = dict.fromkeys(KINDS, 0) | {"documents": 0, "without errors": 0}
    for row in rows:
        truth = read_document(row["ground_truth"] or "")
        if truth is None or row["id"] not in readings:
            continue
        kinds = {error.kind for error in classify_errors(readings[row["id"]]["output"], truth)}
        counts["documents"] += 1
        counts["without errors"] += not kinds
        for kind in kinds:
            counts[kind] += 1
    return counts


def before_after_rows(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The Markdown table's lines: each kind either side shows, with the change."""
    lines = ["| kind | before | after | change |", "|---|---|---|---|"]
    for kind in ("documents", "without errors", *KINDS):
        if before[kind] or after[kind]:
            lines.append(f"| {kind} | {before[kind]} | {after[kind]} | {after[kind] - before[kind]:+d} |")
    return lines
