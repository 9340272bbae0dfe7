""".venv-serve/bin/python bench/serve.py [--pages 16] [--batch-sizes 1 16] [--runs vllm:bfloat16 ...]
    [--w8a8-dtype bfloat16] [--output bench/results/serve_cpu.json]

Reading speed of the two engines side by side, in one run: transformers' batched `generate` (FinScribe's default
engine, float32 on a CPU as `load_for_inference` loads it, and bf16) against vLLM's offline engine (float32, bf16,
and the model's W8A8 int8 and FP8 variants, written here by trainer.quantize's `quantize_model`, with what they keep
unquantised computing in --w8a8-dtype), on the full-size PaddleOCR-VL architecture with random weights
(`trainer.tiny.build_full_size`; speed does not depend on the weights' values). The same pages at the same pixel
budget, the same prompt, every answer run to the same length (end of sequence ignored), timed end to end after one
warm-up batch: the vision encoder, prefill and decoding all included, so pages/s and decoded tokens/s mean the same
for both engines. Each engine reads in a process of its own, whose memory is reported: its peak resident memory,
plus what vLLM's worker processes hold after reading. Runs in the serving environment (make serve-setup), which
holds both engines.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

from common import synthesize, write_result

from trainer.vllm_engine import int8_takes_bfloat16

# engine:dtype; w8a8-int8 and fp8-dynamic are vLLM reading the model's variant of that name (trainer/quantize/
# compressed.py, which keeps the vision encoder, the projector and lm_head unquantised) with what it keeps in
# --w8a8-dtype. FP8 is asked for by name: on a CPU vLLM reads it through torch's generic float8 product, which took
# over 10 minutes for what bf16 read in seconds (docs/serving.md).
VARIANTS = ("w8a8-int8", "fp8-dynamic")
RUNS = ["transformers:float32", "transformers:bfloat16", "vllm:float32", "vllm:bfloat16", "vllm:w8a8-int8"]


def read_pages(dataset: str, count: int, max_pixels: int) -> list:
    from trainer.data.pages import read_page
    from trainer.eval.run import load_split

    return [read_page(row["image"], max_pixels) for row in load_split(dataset, "test", count)]


def measure(
    engine: str, dtype: str, model: str, pages: list, batch_size: int, new_tokens: int, w8a8_dtype: str
) -> dict:  # fmt: skip
    """Seconds to read every page in batches of `batch_size`, each answer `new_tokens` long, after one warm-up batch."""
    import torch

    from trainer.inference import batches, generate, load_for_inference

    if engine == "transformers":
        loaded, processor = load_for_inference(model)
        loaded = loaded.to(getattr(torch, dtype))
        loaded.generation_config.eos_token_id = None  # every answer runs to new_tokens

        def read(batch):
            return generate(loaded, processor, batch, "extract", new_tokens, stop_loops=False)
    else:
        from transformers import AutoProcessor
        from vllm import LLM, SamplingParams

        from trainer.inference import chat_prompts, from_pretrained
        from trainer.vllm_engine import engine_settings

        settings = engine_settings(model, max(page.width * page.height for page in pages), new_tokens, batch_size)
        dtype = w8a8_dtype if dtype in VARIANTS else dtype  # `model` is then that variant
        llm = LLM(model=model, **(settings | {"dtype": dtype}))
        processor = from_pretrained(AutoProcessor, model)
        sampling = SamplingParams(temperature=0, max_tokens=new_tokens, ignore_eos=True)

        def read(batch):
            documents, texts = chat_prompts(processor, batch)
            prompts = [{"prompt": t, "multi_modal_data": {"image": d}} for t, d in zip(texts, documents, strict=True)]
            outputs = llm.generate(prompts, sampling, use_tqdm=False)
            assert all(len(output.outputs[0].token_ids) == new_tokens for output in outputs)
            return outputs

    read(pages[:batch_size])  # warm-up
    start = time.perf_counter()
    for batch in batches(pages, batch_size):
        read(batch)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "pages_per_s": round(len(pages) / seconds, 3),
            "decoded_tokens_per_s": round(len(pages) * new_tokens / seconds, 1)}  # fmt: skip


def memory_gib() -> float:
    """This process's peak resident memory, plus what its live worker processes (vLLM's engine core and worker) hold
    now, after reading: vLLM allocates its cache up front, so that is near their peak."""
    import psutil

    workers = sum(child.memory_info().rss for child in psutil.Process().children(recursive=True))
    return round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 + workers) / 2**30, 2)


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--pages", type=int, default=16)
    cli.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    cli.add_argument("--max-pixels", type=int, default=50176, help="each page's pixel budget (64 image tokens)")
    cli.add_argument("--new-tokens", type=int, default=64)
    cli.add_argument("--model", help="a model folder (default: the full-size architecture, built here)")
    cli.add_argument("--runs", nargs="+", default=RUNS, choices=[*RUNS, "vllm:fp8-dynamic"],
                     help="engine:dtype pairs to measure")  # fmt: skip
    cli.add_argument("--w8a8-dtype", default="bfloat16", choices=["bfloat16", "float32"],
                     help="what the W8A8 and FP8 variants keep unquantised compute in (float32: as --engine vllm reads "
                          "them on a CPU; bfloat16 on a CPU without AVX-512 BF16 or AMX is slow; on one with AMX vLLM's "
                          "int8 kernel takes bfloat16 only)")  # fmt: skip
    cli.add_argument("--output", default="bench/results/serve_cpu.json")
    cli.add_argument("--child", help=argparse.SUPPRESS)  # engine,dtype,batch,model,dataset: one measurement
    args = cli.parse_args()
    if "vllm:w8a8-int8" in args.runs and args.w8a8_dtype == "float32" and int8_takes_bfloat16():
        cli.error("--w8a8-dtype float32: vLLM's int8 kernel on this CPU (AMX) takes bfloat16 activations only")
    if args.child:
        engine, dtype, batch, model, dataset = args.child.split(",")
        result = measure(engine, dtype, model, read_pages(dataset, args.pages, args.max_pixels), int(batch),
                         args.new_tokens, args.w8a8_dtype)  # fmt: skip
        print(json.dumps(result | {"memory_gib": memory_gib()}))
        return
    built = args.model is None
    with tempfile.TemporaryDirectory() as work:
        if built:
            from trainer.tiny import build_full_size

            args.model = str(build_full_size(f"{work}/model"))
        from trainer.quantize.variants import quantize_model

        for variant in VARIANTS:
            if f"vllm:{variant}" in args.runs:
                quantize_model(args.model, f"{work}/{variant}", variant)
        synthesize(f"{work}/data", 10 * args.pages)
        runs = []
        for engine, dtype in (run.split(":") for run in args.runs):
            for batch in args.batch_sizes:
                model = f"{work}/{dtype}" if dtype in VARIANTS else args.model
                child = [sys.executable, __file__, "--child", f"{engine},{dtype},{batch},{model},{work}/data",
                         "--pages", str(args.pages), "--max-pixels", str(args.max_pixels),
                         "--new-tokens", str(args.new_tokens), "--w8a8-dtype", args.w8a8_dtype]  # fmt: skip
                done = subprocess.run(child, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{engine} {dtype} at batch {batch} failed:\n{done.stderr[-3000:]}")
                figures = json.loads(done.stdout.strip().splitlines()[-1])
                kept = {"kept_dtype": args.w8a8_dtype} if dtype in VARIANTS else {}
                runs.append({"engine": engine, "dtype": dtype, **kept, "batch_size": batch, **figures})
                print(runs[-1], file=sys.stderr)
    path = {(run["engine"], run["dtype"], run["batch_size"]): run for run in runs}
    for run in runs:
        if baseline := path.get(("transformers", "float32", run["batch_size"])):
            run["speed_vs_transformers_float32"] = round(run["pages_per_s"] / baseline["pages_per_s"], 2)
    write_result(args.output, {
        "benchmark": "reading speed of transformers' batched generate against vLLM's offline engine, one run",
        "model": "full-size PaddleOCR-VL architecture, random weights" if built else args.model,
        "pages": args.pages, "max_pixels": args.max_pixels, "new_tokens_per_page": args.new_tokens,
        "timing": "end to end after one warm-up batch: vision encoder, prefill and decoding; end of sequence ignored",
        "runs": runs,
    })  # fmt: skip


if __name__ == "__main__":
    main()
