"""TEDS reproduces PubTabNet's reference scores, and its tree edit distance is APTED's (the library it replaces)."""

import json
import random
from pathlib import Path

import pytest

from trainer.eval.teds import teds

REFERENCE = [
    json.loads(line) for line in (Path(__file__).parent / "data" / "teds_reference.jsonl").read_text().splitlines()
]


@pytest.mark.parametrize("pair", REFERENCE, ids=[f"{i}-{p['kind']}" for i, p in enumerate(REFERENCE)])
def test_reproduces_the_reference_implementation(pair):
    assert abs(teds(pair["pred"], pair["true"]) - pair["teds"]) <= 1e-9
    assert abs(teds(pair["pred"], pair["true"], structure_only=True) - pair["teds_struct"]) <= 1e-9


def test_degenerate_inputs_score_zero():
    table = "<html><body><table><tr><td>1</td></tr></table></body></html>"
    assert teds(table, table) == 1.0
    for other in ("", "<html><body><p>no table</p></body></html>", "plain text"):
        assert teds(other, table) == 0.0 and teds(table, other) == 0.0


def random_table(rng: random.Random) -> str:
    """Tables with spans, header cells, inline markup and uneven rows: the shapes a model's output can take."""
    rows = []
    for _ in range(rng.randint(1, 6)):
        cells = []
        for _ in range(rng.randint(1, 5)):
            tag = rng.choice(["td", "td", "td", "th"])
            span = f' colspan="{rng.randint(2, 3)}"' if rng.random() < 0.15 else ""
            text = "".join(rng.choice("ab12 ,.") for _ in range(rng.randint(0, 6)))
            text = f"<b>{text}</b>" if rng.random() < 0.2 else text
            cells.append(f"<{tag}{span}>{text}</{tag}>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = "".join(rows)
    if rng.random() < 0.5:
        body = f"<thead>{rows[0]}</thead><tbody>{''.join(rows[1:])}</tbody>"
    return f"<html><body><table>{body}</table></body></html>"


def test_tree_edit_distance_equals_apted_on_random_tables():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from teds import teds_apted  # the straightforward APTED implementation that bench/teds.py times

    rng = random.Random(0)
    for _ in range(150):
        pred, true = random_table(rng), random_table(rng)
        for structure_only in (False, True):
            assert abs(teds(pred, true, structure_only) - teds_apted(pred, true, structure_only)) <= 1e-12
