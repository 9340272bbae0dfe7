"""python -m trainer.quantize.measure MODEL_DIR [--dtype auto] [--batch-sizes 1 8] [--new-tokens 32] [--repeats 3] [--compile] [--engine vllm]

Peak memory and greedy decoding speed of one saved model, measured in a process of its own (so that one model's
peak is not another's) and printed as one JSON line. `measure_in_child` runs it; `trainer.quantize` writes what it
prints into each variant's card and `bench/quantize.py` into its table.

Speed is decoding alone: each batch generates exactly N new tokens (EOS ignored) and then exactly 1, and
tokens/s = batch × (N − 1) / (time(N) − time(1)), so the page's encoding and the prompt's prefill cancel out; each
time is the best of `repeats` runs, since a shared machine only ever slows a run down. time(1) is the batch's
encoding and prefill, and pages/s reads a page to an answer of `answer_tokens` from the two: batch / (time(1) +
(answer_tokens − 1) × batch / tokens/s). The page is blank at the processor's pixel budget: the work depends on how
many tokens there are, not what they read.
Memory is the process's peak resident set (CPU) or CUDA's peak allocation (GPU), after loading and after generating.

With `--engine vllm` (a compressed-tensors variant, in the serving environment) the same timings come from vLLM's
offline engine, at the dtype it serves the model in, with prefix caching off so that each timed batch encodes its
pages and prefills again; memory is then this process's peak plus what vLLM's worker processes hold after reading
(they allocate their cache up front).
"""

import argparse
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from trainer.inference import from_pretrained, prompt_inputs
from trainer.quantize.variants import quantized_modules
from trainer.quiet import known_noise_silenced


def machine() -> str:
    """What the figures were measured on, as a card names it."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").is_file():
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
    return f"CPU: {cpu}, {os.cpu_count()} cores (torch {torch.__version__})"


def peak_mib() -> float:
    """The process's peak memory so far: CUDA's allocation on a GPU, the resident set on a CPU.

    Linux's VmHWM is this process image's own peak; getrusage's ru_maxrss (the fallback elsewhere) keeps the
    parent's resident set from before the fork, so a child started by a big process would report the parent's.
    """
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    status = Path("/proc/self/status")
    if status.is_file():
        return (
            next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:")) / 1024
        )
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def blank_page(processor) -> Image.Image:
    """A white A4-shaped page of as many pixels as the processor reads at most."""
    pixels = processor.image_processor.size.longest_edge  # transformers 5 keeps max_pixels under this name
    width = int(math.sqrt(pixels / math.sqrt(2)))
    return Image.new("RGB", (width, int(width * math.sqrt(2))), "white")


@torch.inference_mode()
def decode_seconds(model, inputs, new_tokens: int) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, use_cache=True)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def decoding_rates(
    timer, batch_sizes: tuple[int, ...], new_tokens: int, repeats: int, answer_tokens: int, warm_up_tokens: int = 2
) -> dict:  # fmt: skip
    """Tokens/s, prefill seconds and pages/s at each batch size, as the module's docstring defines them, whatever the
    engine: `timer(batch)` prepares that batch and returns a function that times generating exactly N tokens."""
    rates = {}
    for batch in batch_sizes:
        seconds = timer(batch)
        seconds(warm_up_tokens)
        one = min(seconds(1) for _ in range(repeats))
        many = min(seconds(new_tokens) for _ in range(repeats))
        rate = batch * (new_tokens - 1) / max(many - one, 1e-9)
        rates[f"tokens_per_s_batch_{batch}"] = round(rate, 2)
        rates[f"prefill_seconds_batch_{batch}"] = round(one, 4)
        rates[f"pages_per_s_batch_{batch}"] = round(batch / (one + (answer_tokens - 1) * batch / rate), 3)
    return rates


def measure(
    model_path: str, dtype: str = "auto", batch_sizes: tuple[int, ...] = (1, 8), new_tokens: int = 32,
    compiled: bool = False, repeats: int = 3, answer_tokens: int = 256,
) -> dict:  # fmt: skip
    """Load `model_path` (its own quantisation applies) in `dtype` and time greedy decoding at each batch size."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    start = time.perf_counter()
    model = from_pretrained(
        AutoModelForImageTextToText,
        model_path,
        dtype=dtype if dtype == "auto" else getattr(torch, dtype),
        device_map=device,
    ).eval()
    processor = from_pretrained(AutoProcessor, model_path)
    result = {
        "model": model_path, "dtype": str(model.dtype).removeprefix("torch."), "compiled": compiled,
        "load_seconds": round(time.perf_counter() - start, 2), "peak_mib_load": round(peak_mib(), 1),
        "quantized_modules": quantized_modules(model),
    }  # fmt: skip
    if compiled:  # shapes change every step (the cache grows): compiled once for dynamic shapes
        model.forward = torch.compile(model.forward, dynamic=True)
    page = blank_page(processor)

    def timer(batch: int):
        inputs = prompt_inputs(processor, [page] * batch).to(device)
        return lambda tokens: decode_seconds(model, inputs, tokens)

    # warm-up: compilation needs the longest run's shapes
    result |= decoding_rates(timer, batch_sizes, new_tokens, repeats, answer_tokens, new_tokens if compiled else 2)
    prompt_tokens = int(prompt_inputs(processor, [page])["input_ids"].shape[1])
    result |= {"peak_mib": round(peak_mib(), 1), "prompt_tokens": prompt_tokens}
    result |= {"new_tokens": new_tokens, "repeats": repeats, "answer_tokens": answer_tokens}
    result |= {"memory": "CUDA peak allocated" if device == "cuda" else "peak RSS"}
    return result


def measure_vllm(
    model_path: str, batch_sizes: tuple[int, ...] = (1, 8), new_tokens: int = 32, repeats: int = 3,
    answer_tokens: int = 256,
) -> dict:  # fmt: skip
    """`measure`'s figures for vLLM reading `model_path` (its own quantisation applies)."""
    import psutil
    from vllm import LLM, SamplingParams

    from trainer.inference import chat_prompts
    from trainer.quantize.variants import served_quantized_modules
    from trainer.vllm_engine import engine_settings

    processor = from_pretrained(AutoProcessor, model_path)
    page = blank_page(processor)
    settings = engine_settings(model_path, page.width * page.height, new_tokens, max(batch_sizes)) | {
        "enable_prefix_caching": False
    }
    start = time.perf_counter()
    llm = LLM(model=model_path, **settings)
    workers = psutil.Process().children(recursive=True)
    result = {
        "model": model_path, "engine": "vllm", "dtype": settings["dtype"], "compiled": False,
        "load_seconds": round(time.perf_counter() - start, 2),
        "peak_mib_load": round(peak_mib() + sum(w.memory_info().rss for w in workers) / 2**20, 1),
        "quantized_modules": served_quantized_modules(model_path),
    }  # fmt: skip

    def timer(batch: int):
        documents, texts = chat_prompts(processor, [page] * batch)
        prompts = [{"prompt": t, "multi_modal_data": {"image": d}} for t, d in zip(texts, documents, strict=True)]

        def seconds(tokens: int) -> float:
            sampling = SamplingParams(temperature=0, max_tokens=tokens, min_tokens=tokens, ignore_eos=True)
            began = time.perf_counter()
            llm.generate(prompts, sampling, use_tqdm=False)
            return time.perf_counter() - began

        return seconds

    result |= decoding_rates(timer, batch_sizes, new_tokens, repeats, answer_tokens)
    workers = sum(worker.memory_info().rss for worker in psutil.Process().children(recursive=True))
    prompt_tokens = int(prompt_inputs(processor, [page])["input_ids"].shape[1])
    result |= {"peak_mib": round(peak_mib() + workers / 2**20, 1), "prompt_tokens": prompt_tokens}
    result |= {"new_tokens": new_tokens, "repeats": repeats, "answer_tokens": answer_tokens}
    return result | {"memory": "peak RSS with vLLM's workers"}


def measure_in_child(model_path: str | Path, timeout: float | None = None, **options) -> dict:
    """`measure` in a fresh Python process: its peak memory is this model's alone. A failure raises RuntimeError
    with the child's last line of stderr."""
    argv = [sys.executable, "-m", "trainer.quantize.measure", str(model_path), "--dtype", options.get("dtype", "auto")]
    argv += ["--batch-sizes", *map(str, options.get("batch_sizes", (1, 8)))]
    argv += ["--new-tokens", str(options.get("new_tokens", 32)), "--repeats", str(options.get("repeats", 3))]
    argv += ["--answer-tokens", str(options.get("answer_tokens", 256))]
    argv += ["--compile"] if options.get("compiled") else []
    argv += ["--engine", options.get("engine", "transformers")]
    child = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if child.returncode < 0:  # a crash in native code (torch.compile, a kernel) prints no Python error
        raise RuntimeError(f"measuring {model_path} failed: killed by {signal.Signals(-child.returncode).name}")
    if child.returncode:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"measuring {model_path} failed: {last}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None):
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("model")
    cli.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    cli.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    cli.add_argument("--new-tokens", type=int, default=32)
    cli.add_argument("--repeats", type=int, default=3, help="each timing is the best of this many runs")
    cli.add_argument("--answer-tokens", type=int, default=256, help="the answer's length that pages/s reads to")
    cli.add_argument("--compile", action="store_true")
    cli.add_argument("--engine", default="transformers", choices=["transformers", "vllm"])
    args = cli.parse_args(argv)
    if args.engine == "vllm":
        result = measure_vllm(args.model, tuple(args.batch_sizes), args.new_tokens, args.repeats, args.answer_tokens)
        print(json.dumps(result))
        return
    with known_noise_silenced(), warnings.catch_warnings():
        # torch.compile's note that torchao's int8 tensor has no stable hash for its cache: it compiles anyway.
        warnings.filterwarnings("ignore", message=".*_stable_hash_for_caching")
        result = measure(
            args.model,
            args.dtype,
            tuple(args.batch_sizes),
            args.new_tokens,
            args.compile,
            args.repeats,
            args.answer_tokens,
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
