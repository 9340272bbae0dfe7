"""python bench/train.py [--model models/tiny-paddleocr-vl] [--max-pixels 50176] [--steps 30] [--output bench/results/train_cpu.json]

Training throughput of `trainer.sft` against a plain TRL `sft_vlm`-style baseline (the same documents as `messages`
+ `images`, TRL's defaults, loss on the whole sequence), same model, batch and LoRA, measured in one run: samples/s,
tokens/s (non-padding tokens, image tokens included), seconds per step, peak memory, parameter counts, and on CUDA
the model FLOPs utilisation.

`--full-size` trains the full PaddleOCR-VL-0.9B architecture with random weights (no download needed). On a GPU:
  python bench/train.py --full-size --max-pixels 1003520 2822400 --output bench/results/train_gpu.json
On a CPU, a few steps at a small pixel budget (30 to 45 s a step and 6 GiB of memory on 2 cores, 6 minutes in all):
  python bench/train.py --full-size --max-pixels 50176 --steps 2 --warmup 1 --batch-size 1 \
      --output bench/results/train_cpu_full_size.json
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset, Image, List
from transformers import AutoModelForImageTextToText, TrainerCallback
from trl import SFTTrainer, TrlParser

from trainer.data.dataset import NEEDED
from trainer.data.documents import load_document_dataset
from trainer.sft import ModelConfig, ScriptArguments, SFTConfig, document_split, load_processor, lora_config
from trainer.synth.__main__ import main as synth
from trainer.tiny import build_full_size

H100_BF16_FLOPS = 989e12  # dense bf16 peak of an H100 SXM; MFU is reported against it


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
    """What `sft_vlm.py` trains on: whole conversations and the original page images (the processor resizes them)."""
    pages = documents.cast_column("image", Image(decode=False))["image"]
    rows = [{"messages": e["prompt"] + e["completion"], "images": [page]} for e, page in zip(ours, pages, strict=True)]
    return Dataset.from_list(rows).cast_column("images", List(Image()))


def vision_and_text_parameters(model) -> tuple[int, int]:
    """Weights that multiply each patch (vision encoder) and each token (decoder layers and the output layer, tied to
    the input embeddings or not): the input embeddings are a lookup."""
    vision = sum(p.numel() for p in model.model.visual.parameters())
    layers = model.model.language_model.layers.named_parameters()
    return vision, sum(p.numel() for name, p in layers if "lora_" not in name) + model.lm_head.weight.numel()


def run(name: str, trainer: SFTTrainer, clock: Clock, batch: int, max_pixels: int, patches_per_image: float) -> dict:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.add_callback(clock)
    trainer.train()
    samples = clock.steps * batch
    trainable, total = trainer.model.get_nb_trainable_parameters()  # PEFT's count: LoRA matrices are the trainable
    result = {
        "trainer": name,
        "max_pixels": max_pixels,
        "steps_timed": clock.steps,
        "seconds_per_step": round(clock.seconds / clock.steps, 3),
        "samples_per_s": round(samples / clock.seconds, 3),
        "tokens_per_s": round(clock.tokens / clock.seconds, 1),
        "parameters": total - trainable,
        "trainable_parameters": trainable,
        "lora_modules": len(trainer.model.targeted_module_names),
    }
    if torch.cuda.is_available():
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        vision, text = vision_and_text_parameters(trainer.model.get_base_model())  # the LoRA-wrapped model
        # frozen vision encoder: forward only (2 FLOPs/parameter/patch); LoRA language model: forward + activation
        # gradients (4 FLOPs/parameter/token); attention's quadratic term, the projector and LoRA are left out
        flops = 2 * vision * patches_per_image * samples + 4 * text * clock.tokens
        result["mfu"] = round(flops / clock.seconds / H100_BF16_FLOPS, 4)
    else:
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # this process
    return result


def train_one(name: str, work: Path, model_dir: str, max_pixels: int, args) -> dict:
    """One timed run, alone in its process so that peak memory is its own."""
    cuda = torch.cuda.is_available()
    argv = ["--model_name_or_path", model_dir, "--dataset_name", str(work / "data"), "--output_dir", str(work / "out"),
            "--max_pixels", str(max_pixels), "--min_pixels", "3136", "--max_steps", str(args.steps + args.warmup),
            "--per_device_train_batch_size", str(args.batch_size), "--use_peft", "true", "--lora_r", "16",
            "--save_strategy", "no", "--eval_strategy", "no", "--logging_steps", "1000", "--report_to", "none",
            "--disable_tqdm", "true", "--include_num_input_tokens_seen", "true", "--activation_checkpointing", "false",
            "--bf16", str(cuda).lower(), "--use_cpu", str(not cuda).lower(),
            "--dataloader_num_workers", "4" if cuda else "0"]  # fmt: skip
    if name == "trl_sft_vlm_baseline":
        argv += ["--remove_unused_columns", "true"]
    script_args, training_args, model_args = parse(argv)
    processor = load_processor(model_args, script_args)
    ours = document_split(script_args, "train", (args.steps + args.warmup) * args.batch_size, training_args.seed)
    patches = float(processor.image_processor(images=ours[0]["images"], return_tensors="pt")["image_grid_thw"].prod())
    dataset = ours
    if name == "trl_sft_vlm_baseline":
        documents = load_document_dataset(str(work / "data"), "train", NEEDED).select(range(len(ours)))
        dataset = baseline_dataset(documents, ours)
    dtype = torch.bfloat16 if cuda else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype, attn_implementation="sdpa")
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=lora_config(model_args),
    )
    return run(name, trainer, Clock(args.warmup), args.batch_size, max_pixels, patches)


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--model", default="models/tiny-paddleocr-vl")
    cli.add_argument("--full-size", action="store_true", help="random-weight PaddleOCR-VL-0.9B architecture")
    cli.add_argument("--max-pixels", type=int, nargs="+", default=[50176])
    cli.add_argument("--steps", type=int, default=30)
    cli.add_argument("--warmup", type=int, default=5)
    cli.add_argument("--batch-size", type=int, default=4)
    cli.add_argument("--output", default="bench/results/train_cpu.json")
    cli.add_argument("--one", nargs=4, metavar=("TRAINER", "WORK", "MODEL_DIR", "MAX_PIXELS"), help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.one:  # a child run: print its result as the last line
        name, work, model_dir, max_pixels = args.one
        print(json.dumps(train_one(name, Path(work), model_dir, int(max_pixels), args)))
        return
    work = Path(tempfile.mkdtemp(prefix="finscribe-bench-"))
    synth(["--num-samples", "200", "--output-dir", str(work / "data"), "--num-proc", str(os.cpu_count() or 1)])
    model_dir = args.model
    if args.full_size:  # the real architecture and sizes (103k vocabulary too), random weights, the tiny processor
        model_dir = str(build_full_size(work / "full", args.model))
    results = []
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", str(args.batch_size)]
    for max_pixels in args.max_pixels:
        for name in ("finscribe", "trl_sft_vlm_baseline"):
            one = [sys.executable, __file__, *common, "--one", name, str(work), model_dir, str(max_pixels)]
            child = subprocess.run(one, capture_output=True, text=True, check=False)
            if child.returncode:
                raise SystemExit(f"{name} at max_pixels {max_pixels} failed:\n{child.stderr[-3000:]}")
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]))
    for ours, plain in zip(results[::2], results[1::2], strict=True):
        ours["speed_vs_baseline"] = round(plain["seconds_per_step"] / ours["seconds_per_step"], 3)
    cuda = torch.cuda.is_available()
    device = (
        torch.cuda.get_device_name()
        if cuda
        else f"CPU, {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
    )
    report = {"benchmark": "training throughput, trainer.sft vs plain TRL sft_vlm-style, LoRA r=16, same documents",
              "device": device, "model": "PaddleOCR-VL-0.9B architecture, random weights" if args.full_size else args.model,
              "batch_size": args.batch_size, "steps_timed": args.steps, "results": results}  # fmt: skip
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
