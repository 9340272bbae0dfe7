"""python bench/teds.py [--repeat 3] [--output bench/results/teds.json]

trainer.eval.teds against a straightforward apted-based TEDS on the reference pairs (tests/data/teds_reference.jsonl),
both scored in the same run: seconds for all pairs (TEDS and TEDS-S), the speed-up, and whether every score agrees.
Target: ≥ 5× faster with identical scores.
"""

import argparse
import json
import time
from pathlib import Path

from apted import APTED, Config
from common import write_result
from lxml import html
from rapidfuzz.distance import Levenshtein

from trainer.eval.teds import node_tokens, teds

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "teds_reference.jsonl"


class Node:
    def __init__(self, tag, colspan=None, rowspan=None, content=None):
        self.tag, self.colspan, self.rowspan, self.content, self.children = tag, colspan, rowspan, content, []


class TableConfig(Config):
    def rename(self, a, b):
        if (a.tag, a.colspan, a.rowspan) != (b.tag, b.colspan, b.rowspan):
            return 1.0
        if a.tag == "td" and (a.content or b.content):
            return Levenshtein.distance(a.content, b.content) / max(len(a.content), len(b.content))
        return 0.0

    def children(self, node):
        return node.children


def to_tree(element, structure_only: bool) -> Node:
    if element.tag == "td":
        content = [] if structure_only else node_tokens(element)[1:-1]
        return Node("td", int(element.get("colspan", "1")), int(element.get("rowspan", "1")), content)
    node = Node(element.tag)
    node.children = [to_tree(child, structure_only) for child in element]
    return node


def teds_apted(pred: str, true: str, structure_only: bool = False) -> float:
    """The same definition, the obvious way: lxml trees of Node objects, APTED for the distance."""
    if not pred or not true:
        return 0.0
    parser = html.HTMLParser(remove_comments=True, encoding="utf-8")
    pred_tables = html.fromstring(pred, parser=parser).xpath("body/table")
    true_tables = html.fromstring(true, parser=parser).xpath("body/table")
    if not pred_tables or not true_tables:
        return 0.0
    nodes = max(len(pred_tables[0].xpath(".//*")), len(true_tables[0].xpath(".//*")))
    tree_pred, tree_true = to_tree(pred_tables[0], structure_only), to_tree(true_tables[0], structure_only)
    return 1.0 - APTED(tree_pred, tree_true, TableConfig()).compute_edit_distance() / nodes


def time_all(function, pairs: list[dict], repeat: int) -> tuple[float, list[float]]:
    best, scores = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        scores = [function(p["pred"], p["true"], structure) for p in pairs for structure in (False, True)]
        best = min(best, time.perf_counter() - start)
    return best, scores


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--repeat", type=int, default=3)
    cli.add_argument("--output", default="bench/results/teds.json")
    args = cli.parse_args()
    pairs = [json.loads(line) for line in REFERENCE.read_text().splitlines()]
    ours_seconds, ours = time_all(teds, pairs, args.repeat)
    apted_seconds, baseline = time_all(teds_apted, pairs, args.repeat)
    reference = [value for p in pairs for value in (p["teds"], p["teds_struct"])]
    result = {
        "benchmark": "TEDS + TEDS-S over the reference pairs, best of --repeat runs",
        "pairs": len(pairs),
        "finscribe_seconds": round(ours_seconds, 3),
        "apted_seconds": round(apted_seconds, 3),
        "speedup": round(apted_seconds / ours_seconds, 2),
        "max_difference_to_apted": max(abs(a - b) for a, b in zip(ours, baseline, strict=True)),
        "max_difference_to_reference": max(abs(a - b) for a, b in zip(ours, reference, strict=True)),
        "target_speedup": 5.0,
    }
    result["meets_target"] = result["speedup"] >= 5 and result["max_difference_to_reference"] <= 1e-9
    write_result(args.output, result)


if __name__ == "__main__":
    main()
