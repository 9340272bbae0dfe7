"""Silence the warnings every run would print about things FinScribe does not use, and nothing else, for a scope.

A user should see only FinScribe's progress and messages at default verbosity; these warnings are each known and
harmless here, and each is dropped by its logger and its text alone. What optional dependencies say as they are
imported (transformers imports torchao with its models) is dropped for the whole process once a command starts (`trainer.start`);
so this module imports nothing but logging until a scope is entered.
"""

import logging
import sys
from contextlib import contextmanager

NOISE = {
    # bitsandbytes (imported by PEFT, which TRL imports) tries to fetch an optional CPU 4-bit kernel from the Hub
    # and falls back to its own: FinScribe trains 4-bit only on GPUs.
    "bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward",
    # PaddleOCR-VL's text config carries `mrope_section` (its multimodal RoPE uses it); the generic check of the
    # default rope type does not know the key.
    "transformers.modeling_rope_utils": "mrope_section",
    # The processor's PIL backend is the one FinScribe means to use: torchvision is not a dependency.
    "transformers.utils.import_utils": "requires torchvision (not installed)",
    # PaddleOCR-VL's own processor class names its image processor the way transformers 5 deprecates.
    "transformers.processing_utils": "image_processor_class = 'AutoImageProcessor'",
    # bitsandbytes' LLM.int8 multiplies in float16 whatever the model's dtype; a float32 model says so every call.
    "bitsandbytes.autograd._functions": "inputs will be cast from",
}


class _DropText(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


class _DropTextOnCPUBuild(_DropText):
    """Drops the text only under a CPU build of torch: on a CUDA build a kernel that fails to load is a real fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        torch = sys.modules.get("torch")  # torchao imports it before it logs
        return super().filter(record) or torch is None or torch.version.cuda is not None


IMPORT_NOISE = {
    # torchao's wheel carries CUDA kernels (mxfp8, CUTLASS) that a CPU build of torch cannot load; int8 weight-only
    # does not use them.
    "torchao": _DropTextOnCPUBuild("Failed to load"),
    # torchao registers its enums with torch.compile the way torch 2.13 deprecates.
    "torch.utils._pytree": _DropText("is an Enum subclass"),
}


def drop_import_noise():
    for name, drop in IMPORT_NOISE.items():
        logging.getLogger(name).addFilter(drop)


@contextmanager
def quiet_datasets():
    """datasets' own progress bars off while FinScribe shows one over documents; as they were afterwards."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


@contextmanager
def known_noise_silenced():
    """Drop NOISE, and the bars of datasets (over files and tables) and transformers (over loading and saving
    weights): seconds each here, and not FinScribe's; a command's own bar counts documents or steps."""
    from transformers.utils import logging as transformers_logging

    filters = {name: _DropText(text) for name, text in NOISE.items()}
    for name, drop in filters.items():
        logging.getLogger(name).addFilter(drop)
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        with quiet_datasets():
            yield
    finally:
        for name, drop in filters.items():
            logging.getLogger(name).removeFilter(drop)
        if bars:
            transformers_logging.enable_progress_bar()
