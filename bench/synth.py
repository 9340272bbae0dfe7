"""python bench/synth.py [--num-samples 400] [--output bench/results/synth.json]

Documents per second of `python -m trainer.synth` at default settings (augmentations on, Parquet written),
with 1 and 2 processes, measured in the same run. Target: ≥ 20 documents/s on a 2-core machine.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from trainer.folders import claim
from trainer.synth.__main__ import SynthArguments, check_state, generate

TARGET = 20.0


def measure(num_samples: int, num_proc: int) -> dict:
    with tempfile.TemporaryDirectory() as folder, claim(folder, "bench/synth.py") as output_dir:
        args = SynthArguments(num_samples=num_samples, output_dir=folder, num_proc=num_proc)
        check_state(args, output_dir)
        start = time.perf_counter()
        generate(args, output_dir)  # render, augment, encode, write Parquet: all a user waits for
        seconds = time.perf_counter() - start
    return {
        "num_proc": num_proc,
        "num_samples": num_samples,
        "seconds": round(seconds, 2),
        "docs_per_s": round(num_samples / seconds, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=400)
    parser.add_argument("--output", default="bench/results/synth.json")
    cli = parser.parse_args()
    measure(20, 1)  # warm-up: fonts, Faker locales, Babel data
    runs = [measure(cli.num_samples, n) for n in (1, 2)]
    result = {
        "benchmark": "trainer.synth documents per second, default settings (augmentations on)",
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "runs": runs,
        "speedup_2_vs_1": round(runs[1]["docs_per_s"] / runs[0]["docs_per_s"], 2),
        "target_docs_per_s": TARGET,
        "meets_target": max(r["docs_per_s"] for r in runs) >= TARGET,
    }
    Path(cli.output).parent.mkdir(parents=True, exist_ok=True)
    Path(cli.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
