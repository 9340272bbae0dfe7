"""Line items are aligned to the true rows before they are scored, so a missing or extra row costs only that row.

Each (true row, predicted row) pair is scored by how many of the true row's printed values it matches (a row may
label only some keys, and a null says nothing of where a row belongs); the description also counts partly, by its
similarity, so that a row with every value slightly wrong still finds its place. The Hungarian algorithm (scipy's
linear_sum_assignment) picks the one-to-one pairing with the highest total; a true row left without a partner is
missing, a predicted row left over is extra.
"""

import numpy as np
from rapidfuzz import fuzz
from scipy.optimize import linear_sum_assignment

from .normalize import normalize_text, values_match


def row_similarity(predicted: dict, truth: dict) -> float:
    if not isinstance(predicted, dict) or not isinstance(truth, dict):
        return 0.0
    same = sum(
        predicted.get(key) == value or values_match(key, predicted.get(key), value)
        for key, value in truth.items()
        if value is not None
    )
    if truth.get("description") is None:
        return same
    text = fuzz.ratio(normalize_text(predicted.get("description") or ""), normalize_text(truth["description"])) / 100
    return same + text / 2


def align_rows(predicted: list, truth: list[dict]) -> dict[int, int]:
    """{true row index: predicted row index} for the best one-to-one pairing; unpaired rows are absent."""
    if not predicted or not truth:
        return {}
    if predicted == truth:  # read row for row: each row is its own best partner
        return dict(enumerate(range(len(truth))))
    scores = np.array([[row_similarity(p, t) for p in predicted] for t in truth])
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if scores[r, c] > 0}
