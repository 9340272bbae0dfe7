"""Deployment variants of a fine-tuned PaddleOCR-VL: the adapter merged in, and quantised copies of the merged model.

`quantize_model(model_path, output_path, method="int8")` writes a folder that `AutoModelForImageTextToText
.from_pretrained` loads alone: safetensors, the processor, and (for a quantised one) the quantisation in config.json.

- `merged`: a PEFT adapter merged into its base weights (bf16 on a GPU, the base's own dtype otherwise).
- `int8`: bitsandbytes LLM.int8 (8-bit weights, outliers kept in 16 bits at run time).
- `nf4`: bitsandbytes 4-bit NormalFloat.
- `torchao-int8`: torchao int8 weight-only, one scale per output row, serialised as safetensors.
- `w8a8-int8`, `fp8-dynamic`: 8-bit weights and activations in the compressed-tensors format, which vLLM serves
  (`compressed.py`; written where compressed-tensors is installed, the serving environment).

The modules in `keep_modules` stay in the model's dtype; by default the vision encoder, its projector and `lm_head`.
Leaving `lm_head` out of them quantises it and the input embeddings too (torchao; bitsandbytes has no embedding),
so that the whole language model is int8. Which layers were quantised is read back from the loaded model
(`quantized_modules`), not assumed.
"""

import importlib.util
import re
import tempfile
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor, BitsAndBytesConfig, TorchAoConfig

from trainer.errors import InputError, first_line
from trainer.folders import HIDDEN
from trainer.inference import from_pretrained

QUANTIZED = ("int8", "nf4", "torchao-int8")  # what transformers reads
SERVED = ("w8a8-int8", "fp8-dynamic")  # what vLLM serves
METHODS = ("merged", *QUANTIZED, *SERVED)
# PaddleOCRVLForConditionalGeneration's modules: model.visual (the vision encoder), model.projector, lm_head. A name
# is matched as transformers matches it: from the start up to a dot, as a regex, or as the end of a module's name.
KEEP_MODULES = ("model.visual", "model.projector", "lm_head")
# Where the weights sit, by the start of their names in the saved files (the Hub checkpoint's names: visual.* and
# mlp_AR.* for the vision encoder and projector; model.* and lm_head.* for the language model).
PARTS = {
    "vision": ("visual.", "mlp_AR."),
    "embeddings": ("model.embed_tokens.",),
    "decoder": ("model.layers.", "model.norm."),
    "lm_head": ("lm_head.",),
}
LANGUAGE = ("embeddings", "decoder", "lm_head")
EMBEDDINGS = "model.embed_tokens.weight"


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def quantization_config(method: str, keep_modules: tuple[str, ...] = KEEP_MODULES):
    """transformers' config for `method`: it quantises on load, is saved into config.json, and is applied again when
    the saved folder is loaded."""
    keep = list(keep_modules)
    compute = torch.bfloat16 if device() == "cuda" else torch.float32
    if method == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=keep)
    if method == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute, llm_int8_skip_modules=keep
        )
    if method == "torchao-int8":
        try:
            from torchao.quantization import FqnToConfig, Int8WeightOnlyConfig, IntxWeightOnlyConfig, PerAxis
        except ImportError:
            raise InputError("torchao-int8 needs torchao: pip install 'finscribe[deploy]'") from None
        config = Int8WeightOnlyConfig()
        if "lm_head" in keep:
            return TorchAoConfig(config, modules_to_not_convert=keep)
        # The whole language model: lm_head is a linear layer like the others; the input embeddings (a lookup
        # table) take torchao's int8 with one scale per row, named by their module.
        rows = IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0))
        by_module = FqnToConfig({"_default": config, "model.language_model.embed_tokens": rows})
        return TorchAoConfig(by_module, modules_to_not_convert=keep, include_input_output_embeddings=True)
    raise InputError(f"unknown quantisation method {method!r}; choose from {', '.join(QUANTIZED)}")


def processor_source(model_path: str, adapter: str | None) -> str:
    """The adapter's processor when sft staged one with it (what it trained with), else the model's."""
    if adapter is not None and (Path(adapter) / "processor_config.json").is_file():
        return adapter
    return model_path


def load_merged(model_path: str, adapter: str):
    """Base model + adapter, merged into plain weights: bf16 on a GPU, the base's own dtype otherwise."""
    if not (Path(adapter) / "adapter_config.json").is_file():
        raise InputError(f"adapter {adapter!r} is not a PEFT adapter folder (no adapter_config.json)")
    from peft import PeftModel

    dtype = torch.bfloat16 if device() == "cuda" else "auto"
    model = from_pretrained(AutoModelForImageTextToText, model_path, dtype=dtype, device_map=device())
    with warnings.catch_warnings():  # PEFT asks transformers 5 for a property under its deprecated name
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    untie_if_trained_apart(merged)
    return merged


def untie_if_trained_apart(model):
    """An adapter that trained lm_head and the input embeddings as modules of their own (`modules_to_save`) leaves
    two different matrices where the config ties one: the config says so then, in the text config too (which
    transformers and vLLM also read), so that both are saved and the trained head is the one read."""
    head, embeddings = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    if head.data_ptr() == embeddings.data_ptr() or torch.equal(head, embeddings):
        return
    for config in (model.config, getattr(model.config, "text_config", None)):
        if config is not None:
            config.tie_word_embeddings = False


@contextmanager
def staged(output_path: Path):
    """A folder beside `output_path` to write into, renamed to it when the block ends without error: an interrupted
    save leaves no half a model, and a folder at `output_path` is never mixed into."""
    if output_path.exists() and any(output_path.iterdir()):
        raise InputError(f"{output_path} is not empty: choose a new folder")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    # Removed when anything fails; once renamed, there is nothing left to remove.
    with tempfile.TemporaryDirectory(
        dir=output_path.parent, prefix=f".{output_path.name}-", ignore_cleanup_errors=True
    ) as staging:
        yield Path(staging)
        Path(staging).replace(output_path)  # an empty folder there is replaced


def save_model(model, processor, output_path: Path) -> Path:
    """Model (safetensors) and processor written to `output_path` through a staging folder (`staged`)."""
    with staged(output_path) as staging:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
    return output_path


def quantize_model(
    model_path: str, output_path: str | Path, method: str = "int8", adapter: str | None = None,
    keep_modules: tuple[str, ...] = KEEP_MODULES, calibration: list | None = None, smoothing: float = 0.5,
) -> Path:  # fmt: skip
    """Write `method`'s variant of `model_path` (+ `adapter`) to `output_path`, loadable with `from_pretrained` alone.

    A quantised variant of an adapter is made from the merged model (merged into a temporary folder first). The
    variants vLLM serves are smoothed by `calibration` documents' activations where some are given.
    """
    output_path = Path(output_path)
    processor = from_pretrained(AutoProcessor, processor_source(model_path, adapter))
    if method == "merged":
        if adapter is None:
            raise InputError("merging needs an adapter: without one the model is already whole")
        return save_model(load_merged(model_path, adapter), processor, output_path)
    if adapter is not None:
        with tempfile.TemporaryDirectory(prefix="finscribe-merged-") as merged:
            save_model(load_merged(model_path, adapter), processor, Path(merged))
            return quantize_model(merged, output_path, method, keep_modules=keep_modules, calibration=calibration,
                                  smoothing=smoothing)  # fmt: skip
    if method in SERVED:
        return write_served(model_path, output_path, method, keep_modules, processor, calibration, smoothing)
    config = quantization_config(method, keep_modules)
    if method == "torchao-int8" and "lm_head" not in keep_modules and ties_embeddings(model_path):
        raise InputError(f"{model_path} ties lm_head to its input embeddings: one matrix, which torchao-int8 cannot "
                         "quantise as both; keep lm_head")  # fmt: skip
    dtype = torch.bfloat16 if device() == "cuda" else "auto"
    with warnings.catch_warnings():  # torchao deprecates FqnToConfig's "_default", which transformers still reads
        warnings.filterwarnings("ignore", message="Config Deprecation: _default")
        model = from_pretrained(
            AutoModelForImageTextToText, model_path, dtype=dtype, device_map=device(), quantization_config=config
        )
    if not quantized_modules(model):
        raise InputError(f"{method} quantised no layer of {model_path}: --keep-modules {','.join(keep_modules)} "
                         "keeps them all")  # fmt: skip
    return save_model(model, processor, output_path)


def write_served(
    model_path: str, output_path: Path, method: str, keep_modules: tuple[str, ...], processor,
    calibration: list | None = None, smoothing: float = 0.5,
) -> Path:  # fmt: skip
    """`method` (one of SERVED) in the compressed-tensors format, the modules in `keep_modules` left as they are,
    smoothed first by the `calibration` documents' activations where some are given."""
    if importlib.util.find_spec("compressed_tensors") is None:
        raise InputError(
            f"{method} needs compressed-tensors, which the serving environment holds: make serve-setup, then run "
            "trainer.quantize with .venv-serve/bin/python"
        )
    from .compressed import write_compressed

    # transformers' way of naming a kept module (its name, a prefix up to a dot, or the end of a name), as regexes
    ignore = [f"re:(.*\\.)?{re.escape(name)}(\\..*)?$" for name in keep_modules]
    with staged(output_path) as staging:
        write_compressed(model_path, staging, method, ignore, processor, calibration, smoothing)
        processor.save_pretrained(staging)
    return output_path


def served_quantized_modules(folder: str | Path) -> list[str]:
    """The layers a compressed-tensors folder holds quantised: those saved with a weight scale."""
    names = []
    for path in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(path, framework="pt") as f:
            names += [name.removesuffix(".weight_scale") for name in f.keys() if name.endswith(".weight_scale")]  # noqa: SIM118
    return names


def folder_problems(folder: str | Path) -> list[str]:
    """What keeps a saved model folder from being served as it is (empty: nothing): the files a server reads (config,
    generation config, tokenizer, processor, chat template) present and loadable, and `tie_word_embeddings` true only
    where the folder holds one matrix for the output layer and the input embeddings."""
    folder = Path(folder)
    problems = [f"no {name}" for name in ("config.json", "generation_config.json", "tokenizer_config.json",
                                          "processor_config.json", "chat_template.jinja") if not (folder / name).is_file()]  # fmt: skip
    if problems:
        return problems
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(folder)
    except Exception as error:  # a tokenizer_class this transformers does not know, a broken tokenizer.json
        problems.append(f"its tokenizer does not load: {first_line(error)}")
    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(path, framework="pt") as f:
            tensors |= {name: f.get_tensor(name) for name in ("lm_head.weight", EMBEDDINGS) if name in f.keys()}  # noqa: SIM118
    head, embeddings = tensors.get("lm_head.weight"), tensors.get(EMBEDDINGS)
    tied = from_pretrained(AutoConfig, str(folder)).get_text_config().tie_word_embeddings
    if tied and head is not None and not (embeddings is not None and torch.equal(head, embeddings)):
        problems.append("config.json ties lm_head to the input embeddings, but the folder saves a different head")
    if not tied and head is None:
        problems.append("config.json unties lm_head, but the folder saves none")
    return problems


def ties_embeddings(model_path: str) -> bool:
    """Whether the model's lm_head is its input embedding matrix (as the stand-in's is)."""
    return from_pretrained(AutoConfig, model_path).tie_word_embeddings


def quantized_modules(model) -> list[str]:
    """The names of the modules whose weight is no longer a plain parameter (bitsandbytes' and torchao's own tensor
    types): what the variant's card lists as quantised."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(getattr(module, "weight", None), torch.Tensor) and type(module.weight) is not torch.nn.Parameter
    ]


def module_patterns(names: list[str]) -> list[str]:
    """Names with their layer numbers folded: `model.language_model.layers.*.mlp.up_proj (18)`."""
    counts = Counter(re.sub(r"\.\d+\.", ".*.", name) for name in names)
    return [f"{pattern} ({count})" if count > 1 else pattern for pattern, count in counts.items()]


def weight_bytes(folder: str | Path) -> dict[str, int]:
    """Bytes of the saved tensors, quantisation scales included, read from the safetensors headers: in all, per part
    (`PARTS`), and for the language model (embeddings, decoder and lm_head)."""
    totals = Counter()
    for path in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(path, framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                tensor = f.get_slice(name)
                part = next((part for part, starts in PARTS.items() if name.startswith(starts)), "other")
                totals[part] += torch.Size(tensor.get_shape()).numel() * _element_size(tensor.get_dtype())
    return dict(totals) | {"language": sum(totals[part] for part in LANGUAGE), "all": sum(totals.values())}


def _element_size(dtype: str) -> int:
    """Bytes per element of a safetensors dtype name (`BF16`, `I8`, `U8`, `F32`…)."""
    return int(re.search(r"\d+", dtype).group()) // 8 if dtype != "BOOL" else 1


def folder_bytes(folder: str | Path) -> int:
    """Size on disk of what a user downloads: every file but the hidden ones."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file() and p.name not in HIDDEN)
