"""Loading a PaddleOCR-VL for reading documents, and batched greedy generation: what evaluate, compare, mine, the
quantize gate and the Space run.

A model is a Hub id or folder: the base model, a merged fine-tune, or a quantised variant (its config carries the
quantisation, which transformers applies on load); an adapter folder adds PEFT's LoRA on top. Generation pads on
the left, so every row of a batch continues from its own last prompt token, and decodes greedily: a document
gives the same output alone or in any batch. A row caught in a short repetition loop stops there (`LoopGuard`):
greedy decoding never leaves one, so the rest of its token budget would only repeat it.

Two engines read (`--engine`): transformers' `generate` here, and vLLM (trainer/vllm_engine.py, in the serving
environment), each behind `load_reader`: the same prompts, chat template, pages, greedy decoding, token cap and loop
cut, the same answers.
"""

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor, StoppingCriteria

from trainer.data.pages import MAX_PIXELS
from trainer.data.tasks import PROMPTS, extract_prompt, user_turn
from trainer.errors import InputError, first_line

TINY_MODEL = "models/tiny-paddleocr-vl"
ENGINES = ("transformers", "vllm")


@dataclass
class GenerationArguments:
    """How pages are read: shared by every command that runs a model over pages (evaluate, compare, mine, quantize)."""

    batch_size: int = field(default=8, metadata={"help": "Documents generated together (left-padded)."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Longest answer; longer ones are cut (and score so)."})
    max_pixels: int = field(default=MAX_PIXELS, metadata={"help": "Pages are downscaled to at most this many pixels."})
    engine: str = field(
        default="transformers",
        metadata={"help": "What generates: `transformers` (batched generate) or `vllm` (needs the serving "
                  "environment: make serve-setup, then .venv-serve/bin/python -m trainer...).", "choices": ENGINES},
    )  # fmt: skip
    tensor_parallel_size: int = field(
        default=1, metadata={"help": "With --engine vllm: GPUs each model is split over."}
    )
    data_parallel_size: int = field(
        default=1,
        metadata={
            "help": "With --engine vllm: copies of the model that read in parallel, each in a process of its "
            "own on --tensor-parallel-size GPUs of its own (on a CPU: its share of the cores)."
        },
    )

    def __post_init__(self):
        if self.batch_size < 1 or self.max_new_tokens < 1 or self.max_pixels < 28 * 28:
            raise InputError(
                "--batch-size and --max-new-tokens must be positive and --max-pixels at least 784, "
                f"got {self.batch_size}, {self.max_new_tokens}, {self.max_pixels}"
            )
        if self.tensor_parallel_size < 1 or self.data_parallel_size < 1:
            raise InputError("--tensor-parallel-size and --data-parallel-size must be positive")


def from_pretrained(auto_class, name: str, **kwargs):
    """`auto_class.from_pretrained`, with a missing model (no such folder, Hub unreachable) as a one-line error.

    A model never takes kernels from the Hub: transformers (5.25) fetches compiled code for a CUDA model from the Hub
    by default (`use_kernels`), remote code FinScribe does not run, and which fails offline at the first step.
    """
    if auto_class is not AutoProcessor:
        kwargs.setdefault("use_kernels", False)
        if Path(name).is_dir() and not (Path(name) / "config.json").is_file():
            adapter = (Path(name) / "adapter_config.json").is_file()
            what = "a PEFT adapter, not a model: pass it as --adapter" if adapter else "not a model folder"
            raise InputError(f"{name} has no config.json: {what}")
    try:
        return auto_class.from_pretrained(name, **kwargs)
    except ValueError as error:  # a processor whose tokenizer files are missing or broken
        if auto_class is not AutoProcessor:
            raise
        raise InputError(f"cannot load the processor of {name!r}: {first_line(error)}") from None
    except OSError as error:
        raise InputError(
            f"model {name!r} not found ({first_line(error)}); offline, build the stand-in: python -m trainer.tiny --output-dir {TINY_MODEL}"
        ) from None


def load_for_inference(model_name: str, adapter: str | None = None):
    """(model, processor) in eval mode: bf16 on a GPU, float32 on a CPU; the adapter's processor when it has one."""
    if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
        raise InputError(f"adapter {adapter!r} is not a PEFT adapter folder (no adapter_config.json)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = from_pretrained(AutoModelForImageTextToText, model_name, dtype=dtype, device_map=device)
    processor_source = model_name
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if (Path(adapter) / "processor_config.json").is_file():  # sft stages the processor it trained with
            processor_source = adapter
    return model.eval(), from_pretrained(AutoProcessor, processor_source)


class LoopGuard(StoppingCriteria):
    """Stops each row whose last `span` generated tokens are one unit of at most `max_unit` tokens said over and over
    (`: : : :`, `NNNN`), and records where: with the defaults, 48 tokens of a unit of 1 to 4 tokens (12 times a
    4-token unit, 48 times a single token).

    Only so short a unit is cut. Greedy decoding does write a line item several times over and then go on to finish
    the document (a 13-token item, on the stand-in), and real receipts print identical lines; no line item, table row
    or dotted leader is 4 tokens said 12 times.
    """

    def __init__(self, prompt_length: int, rows: int, span: int = 48, max_unit: int = 4):
        self.prompt_length, self.span, self.max_unit = prompt_length, span, max_unit
        self.stopped = [None] * rows  # the number of tokens a row had generated when it was stopped

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        new = input_ids[:, self.prompt_length :]
        looping = torch.zeros(len(new), dtype=torch.bool, device=new.device)
        if new.shape[1] >= self.span:
            tail = new[:, -self.span :]
            for unit in range(1, self.max_unit + 1):  # periodic with this period: each token equals the one `unit` on
                looping |= (tail[:, unit:] == tail[:, :-unit]).all(1)
        for row in looping.nonzero().flatten().tolist():
            if self.stopped[row] is None:
                self.stopped[row] = new.shape[1]
        return looping


def loop_start(row: list[int], span: int = 48, max_unit: int = 4) -> int | None:
    """Where `LoopGuard` would have stopped a finished row: the first length at which its last `span` tokens are one
    unit of at most `max_unit` tokens said over and over, or None. For engines that cannot stop a row mid-batch."""
    runs = [0] * (max_unit + 1)  # per unit: how many tokens in a row have equalled the one `unit` before them
    for length, token in enumerate(row, start=1):
        for unit in range(1, max_unit + 1):
            runs[unit] = runs[unit] + 1 if length > unit and token == row[length - 1 - unit] else 0
        if length >= span and any(runs[unit] >= span - unit for unit in range(1, max_unit + 1)):
            return length
    return None


def batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def prompt_inputs(
    processor, pages: list[Image.Image | list[Image.Image]], task: str = "extract",
    fields: list[list[str] | None] | None = None,
):  # fmt: skip
    """The processor's left-padded batch for `generate`: each document's pages and its task's prompt in the chat
    template, ready for `model.generate`."""
    documents, texts = chat_prompts(processor, pages, task, fields)
    images = [page for document in documents for page in document]
    return processor(images=images, text=texts, padding=True, padding_side="left", return_tensors="pt")


def chat_prompts(
    processor, pages: list[Image.Image | list[Image.Image]], task: str = "extract",
    fields: list[list[str] | None] | None = None,
) -> tuple[list[list[Image.Image]], list[str]]:  # fmt: skip
    """(each document's pages, its prompt in the chat template, image placeholders included): what every engine reads."""
    documents = [page if isinstance(page, list) else [page] for page in pages]
    prompts = [extract_prompt(asked) if task == "extract" else PROMPTS[task] for asked in fields or [None] * len(pages)]
    texts = [
        processor.apply_chat_template([user_turn(len(document), prompt)], add_generation_prompt=True)
        for document, prompt in zip(documents, prompts, strict=True)
    ]
    return documents, texts


@torch.inference_mode()
def generate(
    model, processor, pages: list[Image.Image | list[Image.Image]], task: str = "extract", max_new_tokens: int = 1024,
    fields: list[list[str] | None] | None = None, stop_loops: bool = True,
) -> list[str]:  # fmt: skip
    """One greedy answer per document to the task's prompt, as a single left-padded batch; text up to the first EOS
    (or, with `stop_loops`, up to where `LoopGuard` caught it in a loop).

    A document is a page (already read with `read_page`) or a list of its pages, all shown in one prompt. For
    extraction, `fields` names what each document is asked for (None: all).
    """
    answers = generate_scored(model, processor, pages, task, max_new_tokens, fields, False, stop_loops)
    return [answer for answer, _ in answers]


@torch.inference_mode()
def generate_scored(
    model, processor, pages: list[Image.Image | list[Image.Image]], task: str = "extract", max_new_tokens: int = 1024,
    fields: list[list[str] | None] | None = None, scored: bool = True, stop_loops: bool = True,
) -> list[tuple[str, float | None]]:  # fmt: skip
    """`generate`'s answers, each with the mean log-probability of its tokens (EOS included) when `scored`: how sure
    the model was of what it wrote, a label-free signal."""
    inputs = prompt_inputs(processor, pages, task, fields).to(model.device)
    guard = LoopGuard(inputs["input_ids"].shape[1], len(pages))
    # use_cache: training with gradient checkpointing turns the cache off in the config, and the callback reads then.
    output = model.generate(
        **inputs, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
        stopping_criteria=[guard] if stop_loops else None,
        output_scores=scored, return_dict_in_generate=True,
    )  # fmt: skip
    new = output.sequences[:, inputs["input_ids"].shape[1] :]
    logprobs = (
        model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True).tolist()
        if scored
        else [None] * len(new)
    )
    eos = eos_tokens(model.generation_config)
    answers = []
    for row, row_logprobs, stopped in zip(new.tolist(), logprobs, guard.stopped, strict=True):
        end, scored_tokens, _ = answer_end(row, eos, stopped)
        kept = row_logprobs[:scored_tokens] if row_logprobs is not None else None
        answers.append((decode(processor, row[:end]), sum(kept) / len(kept) if kept else None))
    return answers


def eos_tokens(generation_config) -> set[int]:
    """The token ids that end an answer, from a model's `GenerationConfig` (one id or a list of them)."""
    eos = generation_config.eos_token_id
    return set(eos if isinstance(eos, list) else [eos])


def answer_end(row: list[int], eos: set[int], stopped: int | None) -> tuple[int, int, str]:
    """Where a generated row's answer ends, how many of its tokens its score counts, and why it ended: "eos", "loop"
    (the guard stopped it first) or "budget" (neither: out of tokens or time). The EOS is part of the score."""
    end = next((i for i, token in enumerate(row) if token in eos), None)
    if stopped is not None and (end is None or stopped <= end):
        return stopped, stopped, "loop"
    return (len(row), len(row), "budget") if end is None else (end, end + 1, "eos")


def decode(processor, tokens: list[int]) -> str:
    # Decoding keeps added tokens such as OTSL's <fcel>, which skip_special_tokens could drop on some tokenizers.
    return processor.decode(tokens, skip_special_tokens=False).strip()


@torch.inference_mode()
def generate_streamed(
    model, processor, pages: list[Image.Image], max_new_tokens: int = 1024, fields: list[str] | None = None,
    streamer=None, max_time: float | None = None, stop: StoppingCriteria | None = None,
) -> dict:  # fmt: skip
    """One document's extraction as `generate` reads it, its text also handed to `streamer` as it is generated
    (transformers' TextIteratorStreamer): {"text", "tokens", "ended"}, where `ended` is `answer_end`'s reason, or
    "time" when `max_time` seconds ran out first. `stop` (a StoppingCriteria) may end it early, e.g. when the visitor
    leaves."""
    inputs = prompt_inputs(processor, [pages], "extract", [fields]).to(model.device)
    guard = LoopGuard(inputs["input_ids"].shape[1], 1)
    output = model.generate(
        **inputs, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True, streamer=streamer,
        max_time=max_time, stopping_criteria=[guard, *([stop] if stop else [])],
    )  # fmt: skip
    row = output[0, inputs["input_ids"].shape[1] :].tolist()
    end, _, ended = answer_end(row, eos_tokens(model.generation_config), guard.stopped[0])
    if ended == "budget" and len(row) < max_new_tokens:
        ended = "time"
    return {"text": decode(processor, row[:end]), "tokens": end, "ended": ended}


class Reader:
    """What every engine answers: `read_scored` (answers with their mean log-probability, as `generate_scored`) and,
    from it, `read` (the answers alone, as `generate`)."""

    def read_scored(
        self, pages: list, task: str = "extract", max_new_tokens: int = 1024, fields: list | None = None,
        scored: bool = True,
    ) -> list[tuple[str, float | None]]:  # fmt: skip
        raise NotImplementedError

    def read(self, pages: list, task: str = "extract", max_new_tokens: int = 1024, fields: list | None = None):
        return [answer for answer, _ in self.read_scored(pages, task, max_new_tokens, fields, scored=False)]

    def close(self):
        """Free what the engine holds beyond this object (vLLM's engine processes), before another one starts."""


class TransformersReader(Reader):
    """A loaded model and its processor, read with `generate_scored`: the default engine."""

    def __init__(self, model_name: str, adapter: str | None = None):
        self.model, self.processor = load_for_inference(model_name, adapter)

    def read_scored(
        self, pages: list, task: str = "extract", max_new_tokens: int = 1024, fields: list | None = None,
        scored: bool = True,
    ) -> list[tuple[str, float | None]]:  # fmt: skip
        return generate_scored(self.model, self.processor, pages, task, max_new_tokens, fields, scored)


def load_reader(generation: GenerationArguments, model_name: str, adapter: str | None = None):
    """The engine `generation.engine` names, loaded with the model: an object whose `read(pages, task,
    max_new_tokens, fields)` answers as `generate` does, and `read_scored` as `generate_scored`."""
    if generation.engine == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise InputError(
                "--engine vllm needs vLLM, which this environment lacks: make serve-setup, then run the command "
                "with .venv-serve/bin/python"
            )
        from trainer.vllm_engine import ParallelReader, VllmReader

        parallel = generation.data_parallel_size > 1
        return (ParallelReader if parallel else VllmReader)(generation, model_name, adapter)
    return TransformersReader(model_name, adapter)
