"""python bench/grpo.py [--steps 100] [--start runs/quickstart] [--dataset data/quickstart] [--work runs/grpo-bench]
       [--output bench/results/grpo_cpu.json]

GRPO on the quickstart's fine-tuned stand-in (after `make quickstart`), measured: `python -m trainer.grpo --config
recipes/quickstart_grpo.yaml` (timed), then the greedy readings of the held-out validation pages by the starting
model and by the GRPO model, each scored by `trainer.rewards` against its label, with a paired-bootstrap 95 %
interval of the mean reward's change, and `trainer.compare` of the two on the test split (field accuracy and JSON
validity with their intervals).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import write_result

from trainer.eval.run import ReadingArguments, evaluate_split, load_split
from trainer.rewards import REWARDS, total


def rewards_of(model: str, folder: Path, weights: dict[str, float], args) -> dict[str, np.ndarray]:
    """Each validation document's rewards for the model's greedy reading, and their weighted total."""
    reading = ReadingArguments(dataset=args.dataset, split="validation", max_pixels=3136,
                               max_new_tokens=args.max_new_tokens, batch_size=16, tables=False, ocr=False)  # fmt: skip
    evaluate_split(reading, folder, model)
    outputs = {line["id"]: line["output"] for line in map(json.loads, (folder / "predictions.jsonl").open())}
    rows = load_split(args.dataset, "validation", None)
    answers = [outputs[i] for i in rows["id"]]
    truths, tasks = rows["ground_truth"], ["extract"] * len(answers)
    scores = {
        name: np.array([s or 0.0 for s in REWARDS[name](answers, task=tasks, reference=truths)]) for name in weights
    }
    scores["total"] = np.array(total(answers, tasks, truths, weights))
    return scores


def paired_interval(before: np.ndarray, after: np.ndarray, resamples: int = 2000) -> dict:
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(before), size=(resamples, len(before)))
    low, high = np.percentile((after[draws] - before[draws]).mean(1), [2.5, 97.5])
    return {"before": round(float(before.mean()), 4), "after": round(float(after.mean()), 4),
            "difference": round(float((after - before).mean()), 4), "ci95": [round(float(low), 4), round(float(high), 4)]}  # fmt: skip


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--steps", type=int, default=100)
    cli.add_argument("--start", default="runs/quickstart", help="the fine-tuned model GRPO starts from")
    cli.add_argument("--dataset", default="data/quickstart")
    cli.add_argument("--work", default="runs/grpo-bench", help="where the GRPO model and the readings go")
    cli.add_argument("--max-new-tokens", type=int, default=512)
    cli.add_argument("--output", default="bench/results/grpo_cpu.json")
    args = cli.parse_args()
    if not Path(args.start, "model.safetensors").is_file():
        raise SystemExit(f"{args.start} holds no model: run make quickstart first")
    work = Path(args.work)
    tuned = work / "grpo"
    start = time.perf_counter()
    grpo = [sys.executable, "-m", "trainer.grpo", "--config", "recipes/quickstart_grpo.yaml", "--max_steps",
            str(args.steps), "--model_name_or_path", args.start, "--dataset_name", args.dataset, "--output_dir",
            str(tuned), "--max_completion_length", str(args.max_new_tokens), "--save_strategy", "no"]  # fmt: skip
    subprocess.run(grpo, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    weights = {"fields": 1.0, "arithmetic": 0.2, "well_formed": 0.2}
    before = rewards_of(args.start, work / "start", weights, args)
    after = rewards_of(str(tuned), work / "readings", weights, args)
    comparison = work / "compare" / "results.json"
    reading = ["--max-pixels", "3136", "--max-new-tokens", str(args.max_new_tokens), "--batch-size", "16", "--tables",
               "false", "--ocr", "false"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "trainer.compare", "--base", args.start, "--finetuned", str(tuned),
                    "--dataset", args.dataset, "--output", str(comparison), *reading], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    compared = json.loads(comparison.read_text())
    write_result(args.output, {
        "benchmark": "GRPO on a fine-tuned model (recipes/quickstart_grpo.yaml): validation rewards of greedy "
                     "readings before and after, and trainer.compare on the test split",
        "start": args.start, "dataset": args.dataset, "steps": args.steps, "grpo_seconds": round(seconds, 1),
        "validation_documents": len(before["total"]),
        "rewards": {name: paired_interval(before[name], after[name]) for name in before},
        "test_split": {key: {"start": compared["base"]["metrics"][key], "grpo": compared["finetuned"]["metrics"][key],
                             **compared["difference"][key]} for key in ("field_accuracy", "json_valid_rate", "field_f1")},
    })  # fmt: skip


if __name__ == "__main__":
    main()
