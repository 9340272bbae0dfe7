"""python bench/train.py [--model models/tiny-paddleocr-vl | --full-size] [--dataset DIR] [--methods lora qlora full]
       [--max-pixels 50176] [--batch-size 4] [--fit-batch-sizes 8 16 32] [--steps 30] [--output bench/results/train_cpu.json]

Training throughput of `trainer.sft` on each recipe's settings (`recipes/paddleocr_vl_{lora,qlora,full}.yaml`:
LoRA, QLoRA on an nf4 base, the full fine-tune), and for LoRA against a plain TRL `sft_vlm`-style baseline (the same
documents as `messages` + `images`, TRL's defaults, loss on the whole sequence), same model and batch, measured in
one run: seconds per step, samples/s, real tokens/s (attention-mask tokens: padding left out, image tokens in), peak
memory, parameter counts, and on CUDA the model FLOPs utilisation against the chip's dense bf16 peak.
`--fit-batch-sizes` trains LoRA at growing batch sizes until one runs out of GPU memory: the largest that fits.
`--padding-free` also trains LoRA packed (`--padding_free true`, trainer/packing.py), right after the padded LoRA run,
and `--tokens-per-batch N` packed again with batches filled to N tokens (`--tokens_per_batch N`) after that: each run
records the share of its batches' tokens that are real (not padding), and the packed runs their real tokens/s against
the padded one's; the budget run how full its batches are and how many examples they hold.

`--full-size` trains the full PaddleOCR-VL-0.9B architecture with random weights (no download needed); `--model-dir`
reuses one already built (`trainer.tiny.build_full_size`). On a GPU, as bench/gpu.sh runs it:
  python bench/train.py --full-size --max-pixels 1003520 --methods lora qlora full --fit-batch-sizes 8 16 32 64 \
      --steps 6 --warmup 3 --output bench/results/train_gpu.json
On a CPU, a few steps at a small pixel budget (30 to 45 s a step and 6 GiB of memory on 2 cores, 6 minutes in all):
  python bench/train.py --full-size --max-pixels 50176 --steps 2 --warmup 1 --batch-size 1 \
      --output bench/results/train_cpu_full_size.json
"""

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
import yaml
from common import HOPPER_BF16_FLOPS, hardware, scratch, synthesize
from datasets import Dataset, Image, List
from transformers import AutoConfig, AutoModelForImageTextToText, TrainerCallback
from trl import SFTTrainer, TrlParser

from trainer.data.document_dataset import load_document_dataset
from trainer.data.prompts import NEEDED, Epoch
from trainer.packing import real_tokens
from trainer.quiet import known_noise_silenced
from trainer.sft import (
    ModelConfig,
    ScriptArguments,
    SFTConfig,
    build_trainer,
    document_split,
    lengths_of,
    load_model,
    load_processor,
    lora_config,
)
from trainer.tiny import build_full_size

RECIPES = {method: f"recipes/paddleocr_vl_{method}.yaml" for method in ("lora", "qlora", "full")}


class Clock(TrainerCallback):
    """Wall time and tokens of the steps after the warm-up ones."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.tokens = warmup, None, 0

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            _wait_for_gpu()
            self.start, self.tokens_at_start = time.perf_counter(), state.num_input_tokens_seen

    def on_train_end(self, args, state, control, **kwargs):
        _wait_for_gpu()
        self.seconds = time.perf_counter() - self.start
        self.steps = state.global_step - self.warmup
        self.tokens = state.num_input_tokens_seen - self.tokens_at_start


def _wait_for_gpu():
    """Queued CUDA work finishes before a clock is read."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def parse(argv: list[str]):
    return TrlParser((ScriptArguments, SFTConfig, ModelConfig)).parse_args_and_config(argv)


def baseline_dataset(documents: Dataset, ours: Dataset) -> Dataset:
    """What `sft_vlm.py` trains on: whole conversations and the original pages' images, every page of a multi-page
    document (the processor resizes them)."""
    raw = documents.cast_column("image", Image(decode=False)).cast_column("more_pages", List(Image(decode=False)))
    rows = [{"messages": e["prompt"] + e["completion"], "images": [first, *more]}
            for e, first, more in zip(ours, raw["image"], raw["more_pages"], strict=True)]  # fmt: skip
    return Dataset.from_list(rows).cast_column("images", List(Image()))


def parameters(model) -> tuple[int, int]:
    """Trainable and all parameters, as PEFT's `get_nb_trainable_parameters` counts them for an adapter."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters())


def vision_and_text_parameters(model_dir: str) -> tuple[int, int]:
    """Weights that multiply each patch (vision encoder) and each token (decoder layers and the output layer, tied to
    the input embeddings or not; the input embeddings are a lookup), counted on the architecture itself: a 4-bit
    base packs two weights a byte."""
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(model_dir))
    vision = sum(p.numel() for p in model.model.visual.parameters())
    return vision, sum(p.numel() for p in model.model.language_model.layers.parameters()) + model.lm_head.weight.numel()


def model_flops(model_dir: str, method: str, patches: float, tokens: int) -> float:
    """FLOPs of the steps by the usual count (activation recomputation, attention's quadratic term, the projector
    and LoRA's own matrices left out): the frozen vision encoder runs forward only (2 per parameter and patch); the
    language model forward and the activations' gradients (4 per parameter and token), and for a full fine-tune the
    weights' gradients too (6)."""
    vision, text = vision_and_text_parameters(model_dir)
    return 2 * vision * patches + (6 if method == "full" else 4) * text * tokens


def patches_per_sample(processor, examples, limit: int = 64) -> float:
    """The vision encoder's patches per training example, averaged over the first `limit` examples: pages differ
    (a receipt is narrow, an invoice may have three pages), and the steps draw them at random."""
    shown = [examples[i]["images"] for i in range(min(limit, len(examples)))]
    grids = [processor.image_processor(images=images, return_tensors="pt")["image_grid_thw"] for images in shown]
    return sum(float(grid.prod(-1).sum()) for grid in grids) / len(grids)


def recipe_argv(method: str, work: Path, dataset: str, model_dir: str, max_pixels: int, batch: int, args) -> list[str]:
    """The recipe's settings with the benchmark's model, data, pixel budget, batch and step count."""
    recipe = yaml.safe_load(Path(RECIPES[method]).read_text())
    cuda = torch.cuda.is_available()
    return ["--config", RECIPES[method], "--model_name_or_path", model_dir, "--dataset_name", dataset,
            "--output_dir", str(work / "out"), "--max_pixels", str(max_pixels),
            "--min_pixels", str(min(recipe["min_pixels"], max_pixels)), "--max_steps", str(args.steps + args.warmup),
            "--per_device_train_batch_size", str(batch), "--gradient_accumulation_steps", "1",
            "--save_strategy", "no", "--eval_strategy", "no", "--logging_steps", "1000", "--report_to", "none",
            "--disable_tqdm", "true", "--warmup_steps", "0",
            "--bf16", str(cuda).lower(), "--use_cpu", str(not cuda).lower(), "--dtype", "bfloat16" if cuda else "float32",
            "--dataloader_num_workers", "4" if cuda else "0"]  # fmt: skip


def train_one(name: str, method: str, work: Path, dataset: str, model_dir: str, max_pixels: int, batch: int, args):
    """One timed run: the result's dict, or one that says it ran out of GPU memory."""
    argv = recipe_argv(method, work, dataset, model_dir, max_pixels, batch, args)
    if name == "trl_sft_vlm_baseline":
        argv += ["--remove_unused_columns", "true"]
    argv += ["--padding_free", str(name.startswith("finscribe_padding_free")).lower()]  # whatever the recipe says
    if name == "finscribe_padding_free_budget":
        argv += ["--tokens_per_batch", str(args.tokens_per_batch)]
    script_args, training_args, model_args = parse(argv)
    training_args.include_num_input_tokens_seen = "non_padding"  # real tokens (the parser reads the flag as a bool)
    processor = load_processor(model_args, script_args)
    epoch = Epoch()
    ours = document_split(script_args, "train", None, training_args.seed, epoch)  # epochs repeat it when it is short
    dataset_ = ours
    if name == "trl_sft_vlm_baseline":
        documents = load_document_dataset(dataset, "train", NEEDED | {"more_pages"})
        dataset_ = baseline_dataset(documents, ours)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    clock = Clock(args.warmup)
    if name == "trl_sft_vlm_baseline":  # TRL's own
        kind = SFTTrainer
    else:  # FinScribe's
        kind = partial(build_trainer, lengths=lengths_of(ours, processor, script_args, training_args.seed), epoch=epoch)
    trainer = kind(
        model=load_model(model_args),
        args=training_args,
        train_dataset=dataset_,
        processing_class=processor,
        peft_config=lora_config(model_args),
        callbacks=[clock, epoch],
    )
    try:
        trainer.train()
    except torch.OutOfMemoryError:
        del trainer
        gc.collect()
        torch.cuda.empty_cache()
        return {"trainer": name, "method": method, "batch_size": batch, "out_of_memory": True}
    samples = clock.steps * batch
    budget = {}
    if training_args.tokens_per_batch:  # batches of as many examples as fit: counted by their mean length
        lengths, plan = trainer.lengths(0), trainer.token_budget_sampler.plans[0]
        samples = clock.tokens / (sum(lengths) / len(lengths))
        budget = {"tokens_per_batch": training_args.tokens_per_batch,
                  "examples_per_batch": round(len(lengths) / len(plan), 2),
                  "budget_filled": round(sum(lengths) / len(plan) / training_args.tokens_per_batch, 4),
                  "largest_batch_tokens": max(sum(lengths[i] for i in batch) for batch in plan),
                  "trained_alone": sum(length > training_args.tokens_per_batch for length in lengths)}  # fmt: skip
    model = trainer.model
    trainable, total = model.get_nb_trainable_parameters() if model_args.use_peft else parameters(model)
    result = {
        "trainer": name,
        "method": method,
        "recipe": RECIPES[method],
        "max_pixels": max_pixels,
        "batch_size": batch,
        "activation_checkpointing": training_args.activation_checkpointing,
        "steps_timed": clock.steps,
        "seconds_per_step": round(clock.seconds / clock.steps, 3),
        "samples_per_s": round(samples / clock.seconds, 3),
        "tokens_per_s": round(clock.tokens / clock.seconds, 1),
        "tokens_per_sample": round(clock.tokens / samples, 1),
        "padding_free": training_args.padding_free,
        "real_token_share": real_token_share(trainer.data_collator, dataset_, batch),
        **budget,
        "parameters": total,
        "trainable_parameters": trainable,
        "final_loss": round(trainer.state.log_history[-1].get("train_loss", float("nan")), 4),
    }
    if torch.cuda.is_available():
        flops = model_flops(model_dir, method, patches_per_sample(processor, ours) * samples, clock.tokens)
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result["model_tflops_per_s"] = round(flops / clock.seconds / 1e12, 1)
        result["mfu"] = round(flops / clock.seconds / HOPPER_BF16_FLOPS, 4)
    else:
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # this process
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def real_token_share(collate, examples, batch: int, batches: int = 16) -> float:
    """The share of the batches' tensor that is real tokens, not padding, over the first `batches` batches in the
    dataset's order: what a padded step pays for against what it trains on (1 when packed)."""
    real = total = 0
    for start in range(0, min(len(examples), batch * batches), batch):
        collated = collate([examples[i] for i in range(start, min(start + batch, len(examples)))])
        real, total = real + real_tokens(collated), total + collated["input_ids"].numel()
    return round(real / total, 4)


def child(argv: list[str]):
    """Runs in its own process, so that its peak memory is its own, and yields each JSON line it prints as it comes:
    a run stopped by a time bound keeps what it measured. A failure yields the end of the child's stderr."""
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, stderr=errors, text=True)
        for line in process.stdout:
            if line.startswith('{"'):  # not Trainer's own logs
                yield json.loads(line)
        if process.wait():
            errors.seek(0)
            yield {"failed": errors.read()[-2000:], "argv": argv[-6:]}


def compare(report: dict):
    """The LoRA runs' speed against the baseline's, and the largest LoRA batch that fitted."""
    results = [r for r in report["results"] if "seconds_per_step" in r and not r.get("fit")]
    plain = [r for r in results if r["trainer"] == "trl_sft_vlm_baseline"]
    padded = [r for r in results if r["trainer"] == "finscribe" and r["method"] == "lora"]
    for packed in (r for r in results if r["trainer"].startswith("finscribe_padding_free")):
        for other in (r for r in padded if r["max_pixels"] == packed["max_pixels"]):
            packed["real_tokens_per_s_vs_padded"] = round(packed["tokens_per_s"] / other["tokens_per_s"], 3)
    for mine in (r for r in results if r["trainer"] == "finscribe" and r["method"] == "lora"):
        for other in (r for r in plain if r["max_pixels"] == mine["max_pixels"]):
            mine["speed_vs_baseline"] = round(other["seconds_per_step"] / mine["seconds_per_step"], 3)
    if fitted := [r["batch_size"] for r in report["results"] if r.get("fit") and "seconds_per_step" in r]:
        report["largest_lora_batch_that_fit"] = max(fitted)


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--model", default="models/tiny-paddleocr-vl", help="the model, or the processor for --full-size")
    cli.add_argument("--full-size", action="store_true", help="random-weight PaddleOCR-VL-0.9B architecture")
    cli.add_argument("--model-dir", help="a full-size model already built by trainer.tiny.build_full_size")
    cli.add_argument("--dataset", help="a document dataset to train on (default: 200 generated documents)")
    cli.add_argument("--methods", nargs="+", default=["lora"], choices=sorted(RECIPES))
    cli.add_argument("--max-pixels", type=int, nargs="+", default=[50176])
    cli.add_argument("--steps", type=int, default=30)
    cli.add_argument("--warmup", type=int, default=5)
    cli.add_argument("--batch-size", type=int, default=4)
    cli.add_argument("--padding-free", action="store_true", help="also train LoRA packed, after the padded run")
    cli.add_argument("--tokens-per-batch", type=int, help="with --padding-free, then packed by this token budget")
    cli.add_argument("--fit-batch-sizes", type=int, nargs="*", default=[], help="LoRA batches to try, growing")
    cli.add_argument("--output", default="bench/results/train_cpu.json")
    cli.add_argument("--one", nargs=6, metavar=("TRAINER", "METHOD", "WORK", "DATASET", "MODEL_DIR", "MAX_PIXELS"),
                     help=argparse.SUPPRESS)  # fmt: skip
    args = cli.parse_args()
    if args.one:  # a child: each batch size in turn, as one JSON line each, until one runs out of memory
        name, method, work, dataset, model_dir, max_pixels = args.one
        for batch in [args.batch_size, *args.fit_batch_sizes]:
            with known_noise_silenced():
                result = train_one(name, method, Path(work), dataset, model_dir, int(max_pixels), batch, args)
            print(json.dumps(result), flush=True)
            if result.get("out_of_memory"):
                break
        return
    work = scratch("finscribe-bench-")
    dataset = args.dataset
    if dataset is None:  # the generator only when no dataset is given (a lent GPU has none of its fonts)
        dataset = str(work / "data")
        synthesize(dataset, 200)
    model_dir = args.model_dir or args.model
    if args.full_size and not args.model_dir:  # the real sizes (103k vocabulary too), random weights
        with known_noise_silenced():
            model_dir = str(build_full_size(work / "full", args.model))
    report = {"benchmark": "training throughput of trainer.sft's recipes, LoRA against a plain TRL sft_vlm-style run",
              **hardware(), "dataset": dataset,
              "model": "PaddleOCR-VL-0.9B architecture, random weights" if args.full_size else args.model,
              "steps_timed": args.steps, "warmup_steps": args.warmup, "results": []}  # fmt: skip
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    def add(result: dict):  # the report is rewritten after each result
        report["results"].append(result)
        compare(report)
        output.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(result), flush=True)

    output.write_text(json.dumps(report, indent=2) + "\n")
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", str(args.batch_size)]
    common += ["--tokens-per-batch", str(args.tokens_per_batch)] if args.tokens_per_batch else []
    # A method named twice runs twice (the first run of a session may pay for what later ones find warm); the
    # baseline runs right after the first LoRA run, and with --padding-free the packed run right after that.
    runs = [("finscribe", method) for method in args.methods]
    if "lora" in args.methods:
        first = args.methods.index("lora")
        runs.insert(first + 1, ("trl_sft_vlm_baseline", "lora"))
        if args.padding_free:
            runs.insert(first + 2, ("finscribe_padding_free", "lora"))
        if args.padding_free and args.tokens_per_batch:
            runs.insert(first + 3, ("finscribe_padding_free_budget", "lora"))
    for max_pixels in args.max_pixels:
        for order, (name, method) in enumerate(runs):
            for result in child([*common, "--one", name, method, str(work), dataset, model_dir, str(max_pixels)]):
                add(result | {"order": order})
        if args.fit_batch_sizes and "lora" in args.methods:
            sizes = list(map(str, args.fit_batch_sizes))
            fit = ["--steps", "2", "--warmup", "1", "--batch-size", sizes[0], "--fit-batch-sizes", *sizes[1:]]
            for result in child([*fit, "--one", "finscribe", "lora", str(work), dataset, model_dir, str(max_pixels)]):
                add(result | {"fit": True})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
