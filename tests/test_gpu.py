"""On CUDA, what a CPU cannot show: LoRA and QLoRA (bitsandbytes nf4) steps in bf16 lower the loss, the saved adapter
reloads to the same answers, and a bf16 batch reads like each page alone. Marked `gpu` (deselected by default);
`pytest -m gpu` runs them, on a CPU too, where they check the same plumbing in float32.

A GPU machine may lack the generator's fonts (the lent one does): FINSCRIBE_GPU_DATA and FINSCRIBE_GPU_MODEL then
name a document dataset and a tiny model made elsewhere (bench/gpu_carry.sh carries both); unset, the session's
generated set and tiny model are used.
"""

import os

import pytest
import torch
from shared import sft_argv
from trl import TrlParser

from trainer.inference import generate, load_for_inference
from trainer.sft import ModelConfig, ScriptArguments, SFTConfig, load_model, make_trainer

pytestmark = pytest.mark.gpu
CUDA = torch.cuda.is_available()
# bf16 weights and autocast on a GPU, as the real recipes train; float32 on a CPU.
PRECISION = ["--bf16", str(CUDA).lower(), "--use_cpu", str(not CUDA).lower()]
OVERFIT = ["--task_mix", "extract=1", "--max_pixels", "3136", "--min_pixels", "784", "--eval_strategy", "no",
           "--save_strategy", "no", "--logging_steps", "5", "--lr_scheduler_type", "constant", "--warmup_steps", "0",
           "--per_device_train_batch_size", "2"]  # fmt: skip
QLORA = ["--load_in_4bit", "true", "--bnb_4bit_quant_type", "nf4", "--use_bnb_nested_quant", "true"]


def parse(argv: list[str]):
    return TrlParser((ScriptArguments, SFTConfig, ModelConfig)).parse_args_and_config(argv)


@pytest.fixture(scope="module")
def documents(request):
    return os.environ.get("FINSCRIBE_GPU_DATA") or request.getfixturevalue("synthetic_dir")


@pytest.fixture(scope="module")
def model_dir(request):
    return os.environ.get("FINSCRIBE_GPU_MODEL") or request.getfixturevalue("tiny_model_dir")


def losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def trained_documents(trainer, count: int) -> list:
    """The first `count` training documents' pages, as the model was shown them."""
    return [trainer.train_dataset[i]["images"] for i in range(count)]


@pytest.mark.parametrize("quantized", [False, True], ids=["lora", "qlora"])
def test_adapter_steps_lower_the_loss_and_the_saved_adapter_reads_the_same(quantized, model_dir, documents, tmp_path):
    steps = ["--max_train_samples", "2", "--max_steps", "40", "--learning_rate", "5e-3", "--dtype", "bfloat16" if CUDA else "float32"]  # fmt: skip
    argv = sft_argv(model_dir, documents, tmp_path, *OVERFIT, *PRECISION, *steps, *(QLORA if quantized else []))
    script_args, training_args, model_args = parse(argv)
    trainer = make_trainer(script_args, training_args, model_args)
    trainer.train()
    assert losses(trainer)[-1] < 0.85 * losses(trainer)[0], losses(trainer)
    if quantized:
        assert "Linear4bit" in {type(m).__name__ for m in trainer.model.modules()}, "the base must be 4-bit"
    trainer.save_model(tmp_path)
    pages = trained_documents(trainer, 2)
    trained = generate(trainer.model.eval(), trainer.processing_class, pages, max_new_tokens=48)
    if quantized:  # the same 4-bit base, loaded as sft loads it, with the saved adapter
        from peft import PeftModel

        model = PeftModel.from_pretrained(load_model(model_args), tmp_path).eval()
    else:  # as evaluate, compare and the Space load an adapter
        model, _ = load_for_inference(model_dir, adapter=str(tmp_path))
    reloaded = generate(model, trainer.processing_class, pages, max_new_tokens=48)
    assert reloaded == trained and all(trained)


def test_a_bf16_batch_reads_like_each_page_alone(model_dir, documents, tmp_path):
    # A model sure of its answers (four documents learnt by heart), so that only a batching fault can change one.
    overfit = ["--max_train_samples", "4", "--max_steps", "240", "--learning_rate", "6e-3", "--use_peft", "false",
               "--per_device_train_batch_size", "4"]  # fmt: skip
    trainer = make_trainer(*parse(sft_argv(model_dir, documents, tmp_path, *OVERFIT, *PRECISION, *overfit)))
    trainer.train()
    assert losses(trainer)[-1] < 0.1, losses(trainer)
    model = trainer.model.eval().to(torch.bfloat16 if CUDA else torch.float32)
    pages = trained_documents(trainer, 4)
    assert len({tuple(page.size for page in document) for document in pages}) > 1, "a padded batch: several sizes"
    batched = generate(model, trainer.processing_class, pages, max_new_tokens=64)
    alone = [generate(model, trainer.processing_class, [page], max_new_tokens=64)[0] for page in pages]
    assert batched == alone and all(batched)
