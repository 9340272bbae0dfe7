"""python bench/quickstart.py [--seeds 0 1 2] [--output bench/results/quickstart.json]

`make quickstart SEED=s` for each seed, timed, and the base-vs-fine-tuned figures its comparison wrote
(runs/quickstart/compare/results.json): each trained task's score (field accuracy, TEDS of the line-item table, OCR
character error rate) with JSON validity and repetition loops, the 95 % interval of each difference, and the tasks
that fine-tuning made worse, on the seed's own test split. Each seed replaces the quickstart's folders, as make quickstart does.
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

from common import write_result

from trainer.eval.report import worse

COMPARISON = Path("runs/quickstart/compare/results.json")
SHOWN = ("field_accuracy", "anls", "teds", "ocr_cer", "json_valid_rate", "loop_rate")


def run(seed: int) -> dict:
    start = time.perf_counter()
    subprocess.run(["make", "quickstart", f"SEED={seed}"], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    comparison = json.loads(COMPARISON.read_text())
    figures = {"seed": seed, "test_documents": comparison["n"], "seconds": round(seconds, 1),
               "worse": [f"{item['task']}: {item['metric']} {item['value']:+.4f}" for item in worse(comparison)]}  # fmt: skip
    for name in SHOWN:
        difference = comparison["difference"][name]
        figures |= {
            f"{name}_base": comparison["base"]["metrics"][name],
            f"{name}_finetuned": comparison["finetuned"]["metrics"][name],
            f"{name}_difference_ci95": [round(difference["ci_low"], 4), round(difference["ci_high"], 4)],
        }
    return figures


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--seeds", type=int, nargs="+", default=[0])
    cli.add_argument("--output", default="bench/results/quickstart.json")
    args = cli.parse_args()
    runs = [run(seed) for seed in args.seeds]
    write_result(args.output, {
        "benchmark": "make quickstart: generate, build the stand-in, fine-tune, compare (seconds include set-up checks)",
        "target": "fine-tuned field accuracy ≥ 15 % and JSON validity ≥ 80 % on the test split, in ≤ 300 s",
        "seeds": {str(r["seed"]): r for r in runs},
    })  # fmt: skip


if __name__ == "__main__":
    main()
