"""Line items are aligned to the true rows before they are scored, so a missing or extra row costs only that row.

Each (true row, predicted row) pair is scored by how many of the true row's printed values it matches (a row may
label only some keys, and a null says nothing of where a row belongs); the description also counts partly, by its
similarity, so that a row with every value slightly wrong still finds its place. The Hungarian algorithm (scipy's
linear_sum_assignment) picks the one-to-one pairing with the highest total; a true row left without a partner is
missing, a predicted row left over is extra.
"""

import numpy as np
from rapidfuzz import fuzz, process
from scipy.optimize import linear_sum_assignment

from .normalize import comparable, normalize_text, values_match


def _matched(predicted, truth, forms: tuple[dict, dict]) -> int:
    if not isinstance(predicted, dict) or not isinstance(truth, dict):
        return 0
    same = 0
    for key, value in truth.items():
        if value is None:
            continue
        mine, theirs = forms[0].get(key), forms[1][key]
        if mine is not None and theirs is not None:
            same += mine == theirs
        else:
            same += predicted.get(key) == value or values_match(key, predicted.get(key), value)
    return same


def align_rows(predicted: list, truth: list[dict]) -> dict[int, int]:
    """{true row index: predicted row index} for the best one-to-one pairing; unpaired rows are absent."""
    if not predicted or not truth:
        return {}
    if predicted == truth:  # read row for row: each row is its own best partner
        return dict(enumerate(range(len(truth))))
    # each value's comparable form once a row, not once a pair: a long order has 40 rows on each side
    mine, theirs = (
        [{key: comparable(key, value) for key, value in row.items()} if isinstance(row, dict) else {} for row in rows]
        for rows in (predicted, truth)
    )
    scores = np.array(
        [
            [_matched(p, t, (f, g)) for p, f in zip(predicted, mine, strict=True)]
            for t, g in zip(truth, theirs, strict=True)
        ],
        dtype=float,
    )
    # the descriptions' similarities, all pairs at once (rapidfuzz's cdist), where they count
    described = [isinstance(t, dict) and t.get("description") is not None for t in truth]
    true_texts = [normalize_text(t["description"]) if d else "" for t, d in zip(truth, described, strict=True)]
    texts = [normalize_text(p.get("description") or "") if isinstance(p, dict) else "" for p in predicted]
    counts = np.outer(described, [isinstance(p, dict) for p in predicted])
    scores += np.where(counts, process.cdist(true_texts, texts, scorer=fuzz.ratio, dtype=np.float64) / 100 / 2, 0)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if scores[r, c] > 0}
