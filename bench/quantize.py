"""python bench/quantize.py [--new-tokens 32] [--batch-sizes 1 8] [--max-pixels N] [--timeout 1800] [--output bench/results/quantize_cpu.json]

Size, memory and decoding speed of every deployment variant of the full-size PaddleOCR-VL-0.9B architecture with
random weights (speed and memory do not depend on the weights' values), in one run on this machine: fp32, bf16,
bitsandbytes `int8` and `nf4`, and torchao `torchao-int8` with the default modules kept (vision, projector,
lm_head) and with the whole language model in int8 (`--keep-modules model.visual,model.projector`), each eager and
the bf16 and torchao ones under `torch.compile` too.

Each variant is made by `trainer.quantize.variants.quantize_model` and measured by `trainer.quantize.measure` in a process
of its own: weights' bytes from the saved safetensors (fp32: the bf16 file's tensors at 4 bytes each) in all, of
the language model (embeddings, decoder layers, lm_head) and of its decoder layers alone, peak memory after loading
and after generating, greedy decoding tokens/s at each batch size (prefill excluded; each time the best of 3), the
batch's encoding and prefill time, and pages/s read to a 256-token answer. A variant that fails or runs past
--timeout is recorded with why. On a GPU, as bench/gpu.sh runs it (1,003,520 pixels a page, the recipes' budget):
  python bench/quantize.py --batch-sizes 1 8 32 --max-pixels 1003520 --output bench/results/quantize_gpu.json
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch
from common import hardware, scratch
from transformers import AutoProcessor

from trainer.quantize.measure import measure_in_child
from trainer.quantize.variants import quantize_model, weight_bytes
from trainer.quiet import known_noise_silenced
from trainer.tiny import build_full_size

LANGUAGE_IN_INT8 = ("model.visual", "model.projector")  # lm_head and the embeddings quantised too

VARIANTS = [  # name, method, keep_modules, dtype at load, compiled
    ("fp32", None, None, "float32", False),
    ("bf16", None, None, "bfloat16", False),
    ("bf16 compiled", None, None, "bfloat16", True),
    ("int8 (bitsandbytes)", "int8", None, "auto", False),
    ("nf4 (bitsandbytes)", "nf4", None, "auto", False),
    ("torchao-int8", "torchao-int8", None, "auto", False),
    ("torchao-int8 compiled", "torchao-int8", None, "auto", True),
    ("torchao-int8, whole language model", "torchao-int8", LANGUAGE_IN_INT8, "auto", False),
    ("torchao-int8, whole language model, compiled", "torchao-int8", LANGUAGE_IN_INT8, "auto", True),
]


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--processor", default="models/tiny-paddleocr-vl", help="processor and token ids to build on")
    cli.add_argument("--new-tokens", type=int, default=32)
    cli.add_argument("--timeout", type=float, default=1800, help="seconds one variant's measurement may take")
    cli.add_argument("--only", nargs="*", help="measure only these variants (by name)")
    cli.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    cli.add_argument("--max-pixels", type=int, help="the page's pixel budget (default: the processor's)")
    cli.add_argument("--repeats", type=int, default=3, help="each timing is the best of this many runs")
    cli.add_argument("--model-dir", help="a full-size model already built by trainer.tiny.build_full_size")
    cli.add_argument("--output", default="bench/results/quantize_cpu.json")
    args = cli.parse_args()
    if not Path(args.processor).is_dir():
        raise SystemExit(f"{args.processor} is missing: python -m trainer.tiny --output-dir {args.processor}")
    work = scratch("finscribe-bench-quantize-")
    with known_noise_silenced():
        bf16 = Path(args.model_dir) if args.model_dir else build_full_size(work / "bf16", args.processor)
        if args.max_pixels:  # the page measure reads is as large as the processor's budget; variants copy it
            processor = AutoProcessor.from_pretrained(bf16)
            processor.image_processor.size = {"shortest_edge": 3136, "longest_edge": args.max_pixels}
            processor.save_pretrained(bf16)
    bf16_bytes = weight_bytes(bf16)
    report = {
        "benchmark": "deployment variants: weights' bytes, peak memory, greedy decoding tokens/s (prefill excluded)",
        **hardware(),
        "model": "PaddleOCR-VL-0.9B architecture (0.9 B parameters, untied lm_head), random weights",
        "cuda": torch.cuda.is_available(),
        "max_pixels": args.max_pixels,
        "new_tokens": args.new_tokens,
        "results": [],
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    folders = {}
    for name, method, keep, dtype, compiled in VARIANTS:
        if args.only and name not in args.only:
            continue
        result = {"variant": name, "method": method or dtype, "keep_modules": list(keep) if keep else None}
        try:
            if method is None:
                folder = bf16
                result["weight_bytes"] = {k: v * 2 for k, v in bf16_bytes.items()} if dtype == "float32" else bf16_bytes
            else:
                if (method, keep) not in folders:
                    start = time.perf_counter()
                    with known_noise_silenced():
                        folders[method, keep] = quantize_model(
                            str(bf16), work / f"{method}-{len(folders)}", method, **({"keep_modules": keep} if keep else {})
                        )  # fmt: skip
                    result["quantize_seconds"] = round(time.perf_counter() - start, 1)
                folder = folders[method, keep]
                result["weight_bytes"] = weight_bytes(folder)
            measured = measure_in_child(
                folder, timeout=args.timeout, dtype=dtype, new_tokens=args.new_tokens, compiled=compiled,
                batch_sizes=args.batch_sizes, repeats=args.repeats,
            )  # fmt: skip
            result["quantized_layers"] = len(measured.pop("quantized_modules"))
            result |= measured
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            result["failed"] = str(error).splitlines()[0][:500]
        report["results"].append(result)
        compare(report["results"], args.batch_sizes)
        output.write_text(json.dumps(report, indent=2) + "\n")  # after each variant: a time bound keeps the rest
        print(json.dumps(result), flush=True)
    print(f"wrote {args.output}")


def compare(results: list[dict], batch_sizes: list[int]):
    """Each variant's bytes and decoding speed against bf16 eager's."""
    base = next((r for r in results if r["variant"] == "bf16" and "failed" not in r), None)
    for result in results:
        if base is None or "failed" in result:
            continue
        for part in ("language", "decoder", "all"):
            result[f"{part}_bytes_vs_bf16"] = round(result["weight_bytes"][part] / base["weight_bytes"][part], 3)
        for batch in batch_sizes:
            key = f"tokens_per_s_batch_{batch}"
            result[f"speed_vs_bf16_eager_batch_{batch}"] = round(result[key] / base[key], 3)


if __name__ == "__main__":
    main()
