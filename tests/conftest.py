"""Session fixtures: one small synthetic dataset, generated through the real CLI, shared by the tests."""

import atexit
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A cache of the test session's own: datasets must not hand back a table prepared by an earlier run.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="finscribe-datasets-cache-")
atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)

# Enough samples that every layout, locale and document type occurs (test_synth checks that they do).
NUM_SAMPLES = 240


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    from trainer.synth.__main__ import main as synth_main  # here, not above: a lent GPU has no generator fonts

    output_dir = tmp_path_factory.mktemp("synthetic")
    synth_main(
        ["--num-samples", str(NUM_SAMPLES), "--output-dir", str(output_dir), "--num-proc", "2", "--chunk-size", "60"]
    )
    return output_dir


@pytest.fixture(scope="session")
def synthetic(synthetic_dir):
    from datasets import load_dataset

    return load_dataset(str(synthetic_dir))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The offline stand-in for PaddlePaddle/PaddleOCR-VL, built by the real `trainer.tiny`."""
    from trainer.tiny import TinyArguments, build

    return build(TinyArguments(output_dir=str(tmp_path_factory.mktemp("tiny-paddleocr-vl"))))


@pytest.fixture(scope="session")
def tiny15_model_dir(tmp_path_factory):
    """The stand-in with PaddleOCR-VL 1.5's (and 1.6's) chat template: `Assistant:` and a new line before the answer."""
    from trainer.tiny import TinyArguments, build

    return build(TinyArguments(output_dir=str(tmp_path_factory.mktemp("tiny-paddleocr-vl-1.5")), template="1.5"))


@pytest.fixture(scope="session")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter on the tiny model, its weights drawn at random (not zero) so that it changes the readings."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = tmp_path_factory.mktemp("adapter")
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=8, target_modules=r".*language_model.*\.(q_proj|v_proj)", init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(folder)
    AutoProcessor.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def random_adapter_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter with random (not zero) B matrices, scaled up (alpha 64 over rank 8): a model that answers
    differently from its base, whatever the stand-in's tokenizer learnt."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    folder = tmp_path_factory.mktemp("random-adapter")
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    config = LoraConfig(
        r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"], init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(folder)
    return folder
