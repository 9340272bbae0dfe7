"""python bench/space.py [--jobs 20] [--output bench/results/space.json]

The Space (space/app.py) under load, and its memory, measured in one run on this machine:
- load: the app on loopback with the tiny stand-in and the quickstart's adapter (`make space` builds both), then
  `--jobs` gradio_client jobs submitted at once, over the bundled examples with their truths. Every job must return
  the comparison the same example gets alone (readings, verdicts, field table); median, 95th-percentile and worst
  latency from submission to result, at the app's default concurrency.
- memory: the app's peak resident memory after loading the full-size PaddleOCR-VL architecture (random bf16 weights,
  float32 on a CPU as the app loads it) with a rank-16 LoRA adapter on its language model, and after one comparison,
  against the same app with the base model alone: base and fine-tuned share one copy of the weights.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import scratch, write_result
from gradio_client import Client, handle_file

from trainer.quiet import known_noise_silenced
from trainer.space.reader import EXAMPLE_SEED, EXAMPLES
from trainer.tiny import build_full_size

ROOT = Path(__file__).resolve().parents[1]


def launch(env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    port = 7870 + os.getpid() % 100
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "GRADIO_SERVER_PORT": str(port), **env}  # fmt: skip
    server = subprocess.Popen([sys.executable, str(ROOT / "space" / "app.py")], env=env, stdout=log.open("w"),
                              stderr=subprocess.STDOUT)  # fmt: skip
    while "Running on" not in log.read_text():
        if server.poll() is not None:
            raise SystemExit(f"the app did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
    return server, f"http://127.0.0.1:{port}/"


def resident_gib(pid: int) -> dict:
    """The process's resident memory now and at its peak, GiB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    kib = {key: int(status[key].split()[0]) for key in ("VmRSS", "VmHWM")}
    return {"rss_gib": round(kib["VmRSS"] / 2**20, 3), "peak_rss_gib": round(kib["VmHWM"] / 2**20, 3)}


def compared(result: dict) -> dict:
    """What must not change under load: each model's reading, verdicts and scores, and the field table."""
    keep = ("text", "tokens", "ended", "json", "rules", "line_items", "field_accuracy", "teds")
    return {"models": {m: {k: r.get(k) for k in keep} for m, r in result["models"].items()}, "fields": result["fields"]}


def load(args, work: Path) -> dict:
    env = {"FINSCRIBE_BASE_MODEL": args.model, "FINSCRIBE_ADAPTER": args.adapter, "FINSCRIBE_MAX_PIXELS": "3136",
           "FINSCRIBE_MAX_NEW_TOKENS": "512", "FINSCRIBE_EXAMPLES": str(work / "examples"),
           "FINSCRIBE_MINING_DIR": str(work / "flagged"), "FINSCRIBE_CONCURRENCY": str(args.concurrency)}  # fmt: skip
    server, url = launch(env, work / "load.log")
    try:
        client = Client(url, verbose=False)
        names = [work / "examples" / f"{doc_type}_{locale}" for doc_type, locale in EXAMPLES]
        examples = [(name.with_suffix(".jpg"), name.with_suffix(".json").read_text()) for name in names]
        request = lambda page, truth: (handle_file(str(page)), 0, "", truth, 512)  # noqa: E731
        alone = [compared(client.predict(*request(*example), api_name="/compare")) for example in examples]
        start, jobs, finished = time.perf_counter(), [], {}
        for index in range(args.jobs):
            done = lambda *_, index=index: finished.setdefault(index, time.perf_counter())  # noqa: E731
            job = client.submit(
                *request(*examples[index % len(examples)]), api_name="/compare", result_callbacks=[done]
            )
            jobs.append((index, time.perf_counter(), job))
        latencies, errors, wrong = [], [], 0
        for index, submitted, job in jobs:
            try:
                result = job.result(timeout=600)
            except Exception as error:  # an error is what the benchmark counts
                errors.append(f"job {index}: {error}")
                continue
            latencies.append(finished.get(index, time.perf_counter()) - submitted)
            wrong += compared(result) != alone[index % len(examples)]
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(30)
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return {
        "jobs": args.jobs, "completed": len(latencies), "errors": errors, "differing_from_alone": wrong,
        "concurrency": args.concurrency, "wall_seconds": round(wall, 2),
        "latency_seconds": {"median": round(statistics.median(latencies), 2), "p95": round(q[18], 2),
                            "max": round(max(latencies), 2)},
        "model": args.model, "adapter": args.adapter, "examples": len(examples), "example_seed": EXAMPLE_SEED,
    }  # fmt: skip


def memory(args, work: Path) -> dict:
    with known_noise_silenced():
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForImageTextToText

        full = build_full_size(work / "full", args.model)
        model = AutoModelForImageTextToText.from_pretrained(full)
        target = r"model\.language_model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)"
        get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=target)).save_pretrained(work / "lora")
        del model
    results = {}
    for name, adapter in (("base alone", None), ("base + adapter (the app)", str(work / "lora"))):
        env = {"FINSCRIBE_BASE_MODEL": str(full), "FINSCRIBE_EXAMPLES": str(work / "examples"),
               "FINSCRIBE_MAX_PIXELS": "200704", **({"FINSCRIBE_ADAPTER": adapter} if adapter else {})}  # fmt: skip
        server, url = launch(env, work / "memory.log")
        try:
            loaded = resident_gib(server.pid)
            page = work / "examples" / "receipt_en_US.jpg"
            Client(url, verbose=False).predict(handle_file(str(page)), 0, "", "", 16, api_name="/compare")
            results[name] = {"after_loading": loaded, "after_one_comparison": resident_gib(server.pid)}
        finally:
            server.terminate()
            server.wait(30)
    base, app = (results[name]["after_one_comparison"]["rss_gib"] for name in results)
    return {"model": "full-size PaddleOCR-VL architecture, random weights, float32 on CPU", "lora_rank": 16,
            **results, "app_over_base_alone": round(app / base, 3)}  # fmt: skip


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--jobs", type=int, default=20)
    cli.add_argument("--model", default="models/tiny-paddleocr-vl")
    cli.add_argument("--adapter", default="runs/quickstart-adapter")
    cli.add_argument("--skip-memory", action="store_true", help="the load test alone (the memory part loads 0.9 B)")
    cli.add_argument("--concurrency", type=int, default=1, help="the app's FINSCRIBE_CONCURRENCY")
    cli.add_argument("--output", default="bench/results/space.json")
    args = cli.parse_args()
    for folder, make in ((args.model, "make space"), (args.adapter, "make space")):
        if not Path(folder).is_dir():
            raise SystemExit(f"{folder} is missing: {make} builds it")
    work = scratch("finscribe-bench-space-")
    result = {"benchmark": "the Space under concurrent gradio_client jobs, and its memory", "load": load(args, work)}
    if not args.skip_memory:
        result["memory"] = memory(args, work)
    write_result(args.output, result)


if __name__ == "__main__":
    main()
