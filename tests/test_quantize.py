"""Deployment variants on the tiny model: each method's round trip through `from_pretrained` alone, the merge that
reads like base + adapter, and the command's gate, cards and push."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForImageTextToText, AutoProcessor

from trainer.data.pages import read_page
from trainer.errors import InputError
from trainer.inference import generate, load_for_inference, prompt_inputs
from trainer.quantize.__main__ import refusal
from trainer.quantize.smoothing import input_ranges, smooth
from trainer.quantize.variants import folder_problems, quantize_model, quantized_modules, weight_bytes

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_quantizeTestSecret0123456789"}
# What each method leaves in a quantised linear layer's weight: bitsandbytes packs its own types, torchao keeps the
# layer's dtype on a tensor subclass whose data is int8.
STORED = {"int8": torch.int8, "nf4": torch.uint8, "torchao-int8": torch.int8}


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    """A real PEFT LoRA adapter on the tiny model, with non-zero weights (so merging changes the model)."""
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapter")
    get_peft_model(model, config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pages(synthetic):
    return [
        read_page(row["image"], 3136) for row in synthetic["test"].cast_column("image", _undecoded()).select(range(4))
    ]


def _undecoded():
    from datasets import Image

    return Image(decode=False)


def stored(weight: torch.Tensor) -> torch.dtype:
    return weight.qdata.dtype if hasattr(weight, "qdata") else weight.dtype


@pytest.mark.parametrize("method", ["int8", "nf4", "torchao-int8"])
def test_each_method_saves_a_model_that_from_pretrained_alone_loads_quantised(tiny_model_dir, pages, method, tmp_path):
    folder = quantize_model(str(tiny_model_dir), tmp_path / method, method)
    assert sorted(p.suffix for p in folder.glob("model*")) == [".safetensors"]  # no pickle anywhere
    config = json.loads((folder / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == ("torchao" if method == "torchao-int8" else "bitsandbytes")

    model = AutoModelForImageTextToText.from_pretrained(folder)
    layers = model.model.language_model.layers
    assert stored(layers[0].mlp.up_proj.weight) == STORED[method]
    assert stored(layers[-1].self_attn.q_proj.weight) == STORED[method]
    # Kept by default: the vision encoder, its projector and lm_head.
    assert type(model.lm_head.weight) is torch.nn.Parameter and model.lm_head.weight.dtype == torch.float32
    assert not [name for name in quantized_modules(model) if not name.startswith("model.language_model.")]
    assert len(quantized_modules(model)) == 7 * len(layers)  # q, k, v, o, gate, up, down in every layer

    loaded, processor = load_for_inference(str(folder))
    outputs = generate(loaded, processor, pages[:2], "extract", max_new_tokens=8)
    assert len(outputs) == 2 and all(isinstance(text, str) for text in outputs)


@pytest.fixture(scope="module")
def untied_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with an lm_head of its own, as the Hub model has."""
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    for config in (model.config, model.config.text_config):
        config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    folder = tmp_path_factory.mktemp("untied")
    model.save_pretrained(folder)
    AutoProcessor.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


def test_the_whole_language_model_in_int8_halves_its_bytes(untied_model_dir, pages, tmp_path):
    """Without lm_head among the kept modules, torchao quantises it and the input embeddings too."""
    keep = ("model.visual", "model.projector")
    folder = quantize_model(str(untied_model_dir), tmp_path / "all", "torchao-int8", keep_modules=keep)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert stored(model.model.language_model.embed_tokens.weight) == torch.int8
    assert stored(model.lm_head.weight) == torch.int8
    before, after = weight_bytes(untied_model_dir), weight_bytes(folder)
    assert after["vision"] == before["vision"]
    assert after["language"] / before["language"] < 0.3  # int8 against the tiny model's float32, scales included
    loaded, processor = load_for_inference(str(folder))
    assert len(generate(loaded, processor, pages[:1], "extract", max_new_tokens=8)) == 1


def test_a_tied_lm_head_cannot_be_quantised_apart_from_the_embeddings(tiny_model_dir, tmp_path):
    with pytest.raises(InputError, match="ties lm_head to its input embeddings"):
        quantize_model(str(tiny_model_dir), tmp_path / "tied", "torchao-int8", keep_modules=("model.visual",))


def test_merged_reads_exactly_like_base_plus_adapter(tiny_model_dir, adapter, pages, tmp_path):
    folder = quantize_model(str(tiny_model_dir), tmp_path / "merged", "merged", adapter=str(adapter))
    assert not (folder / "adapter_config.json").exists() and (folder / "model.safetensors").is_file()
    merged, processor = load_for_inference(str(folder))
    assert not quantized_modules(merged) and merged.dtype == torch.float32  # the base's own dtype on a CPU
    with_adapter, _ = load_for_inference(str(tiny_model_dir), str(adapter))
    plain, _ = load_for_inference(str(tiny_model_dir))
    read = [generate(model, processor, pages, "extract", max_new_tokens=24) for model in (merged, with_adapter, plain)]
    assert read[0] == read[1]
    assert read[0] != read[2]  # the adapter changed what the model reads: the equality above means something


def test_a_merged_model_whose_adapter_trained_the_head_apart_is_saved_untied(tiny_model_dir, pages, tmp_path):
    """The stand-in ties lm_head to the embeddings; an adapter that saves both (recipes/quickstart_adapter.yaml's
    lora_modules_to_save) trains them apart. The merged folder says they are untied and holds both, so transformers
    and vLLM read the head that was trained, not the embeddings again."""
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=8, target_modules=["q_proj"], modules_to_save=["embed_tokens", "lm_head"])
    peft_model = get_peft_model(model, config)
    head = peft_model.get_output_embeddings().modules_to_save["default"].weight
    head.data += 0.05 * torch.randn_like(head)  # as training moves it
    peft_model.save_pretrained(tmp_path / "adapter")
    folder = quantize_model(str(tiny_model_dir), tmp_path / "merged", "merged", adapter=str(tmp_path / "adapter"))
    saved = json.loads((folder / "config.json").read_text())
    assert saved["tie_word_embeddings"] is False and saved["text_config"]["tie_word_embeddings"] is False
    merged, processor = load_for_inference(str(folder))
    assert torch.equal(merged.get_output_embeddings().weight, head.detach())
    with_adapter, _ = load_for_inference(str(tiny_model_dir), str(tmp_path / "adapter"))
    read = [generate(m, processor, pages, "extract", max_new_tokens=24) for m in (merged, with_adapter)]
    assert read[0] == read[1]
    assert folder_problems(folder) == []
    (folder / "config.json").write_text(json.dumps(saved | {"tie_word_embeddings": True, "text_config": saved[
        "text_config"] | {"tie_word_embeddings": True}}))  # fmt: skip  # as the merge wrote it before untying
    assert folder_problems(folder) == [
        "config.json ties lm_head to the input embeddings, but the folder saves a different head"
    ]


def test_smoothing_narrows_the_activations_and_computes_what_the_model_did(tiny_model_dir, pages):
    """SmoothQuant's smoothing before int8 activations: in float32 the smoothed model's logits are the model's
    (1e-5), while the largest input of each layer's channels comes closer to their typical one."""
    model, processor = load_for_inference(str(tiny_model_dir))
    inputs = prompt_inputs(processor, pages)
    with torch.no_grad():
        before = model(**inputs).logits
    ranges = input_ranges(model, processor, pages, max_new_tokens=16)
    assert set(ranges) == {name for name, module in model.model.language_model.named_modules()
                           if isinstance(module, torch.nn.Linear)}  # fmt: skip
    norm = model.model.language_model.layers[0].input_layernorm.weight.clone()
    smooth(model, ranges, 0.5)
    with torch.no_grad():
        after = model(**inputs).logits
    assert not torch.equal(norm, model.model.language_model.layers[0].input_layernorm.weight)
    assert (after - before).abs().max() <= 1e-5 * before.abs().max()
    smoothed = input_ranges(model, processor, pages, max_new_tokens=16)

    def spread(values: dict) -> float:  # the layers' largest channel over their median one, on average
        smoothed_inputs = [name for name in values if not name.endswith("o_proj")]  # o_proj's input is left as it is
        return sum(float(values[n].max() / values[n].median()) for n in smoothed_inputs) / len(smoothed_inputs)

    assert spread(smoothed) < spread(ranges)


def test_a_folder_a_server_cannot_read_as_it_is_is_named_for_what_it_lacks(tiny_model_dir, tmp_path):
    assert folder_problems(tiny_model_dir) == []
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["tie_word_embeddings"] = config["text_config"]["tie_word_embeddings"] = False  # it saves one matrix
    (folder / "config.json").write_text(json.dumps(config))
    assert folder_problems(folder) == ["config.json unties lm_head, but the folder saves none"]
    (folder / "tokenizer.json").write_text("{")  # cut short
    assert folder_problems(folder)[0].startswith("its tokenizer does not load")
    (folder / "chat_template.jinja").unlink()
    assert folder_problems(folder) == ["no chat_template.jinja"]


def test_the_gate_refuses_a_variant_that_loses_more_than_the_allowed_points():
    def accuracy(reference: float, variant: float) -> dict:
        difference = {"field_accuracy": {"value": variant - reference, "ci_low": 0.0, "ci_high": 0.0}}
        return {
            "reference": {"field_accuracy": reference},
            "variant": {"field_accuracy": variant},
            "difference": difference,
        }

    assert refusal(accuracy(0.80, 0.795), 1.0) is None  # half a point
    assert "2.0 points below" in refusal(accuracy(0.80, 0.78), 1.0)
    assert refusal(accuracy(0.80, 0.80), 0.0) is None
    assert refusal(accuracy(0.80, 0.80), -1.0) is not None  # a threshold below zero refuses even an equal one
    assert refusal(None, 1.0) is None  # nothing measured, nothing to refuse on


def run_quantize(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainer.quantize", *argv], env=ENV, capture_output=True, text=True,
                          timeout=900)  # fmt: skip


@pytest.mark.slow
def test_the_command_gates_cards_and_pushes_only_with_force(tiny_model_dir, synthetic_dir, tmp_path):
    output = tmp_path / "variants"
    common = ["--model", str(tiny_model_dir), "--methods", "int8", "--output-dir", str(output),
              "--eval-dataset", str(synthetic_dir), "--eval-limit", "4", "--max-new-tokens", "16",
              "--max-pixels", "3136", "--tables", "false", "--max-regression", "-1", "--push-to-hub", "someone/invoices"]  # fmt: skip
    refused = run_quantize(*common)
    assert refused.returncode == 0, refused.stderr[-3000:]
    assert "int8: not pushed: field accuracy" in refused.stdout and "--force pushes it anyway" in refused.stdout
    assert "could not push" not in refused.stderr  # nothing was sent

    summary = json.loads((output / "summary.json").read_text())
    int8 = summary["variants"]["int8"]
    assert int8["accuracy"]["n"] == 4 and 0 <= int8["accuracy"]["agreement"] <= 1
    assert summary["reference"]["accuracy"]["variant"] == int8["accuracy"]["reference"]  # what the table prints
    card = ModelCard.load(output / "int8" / "README.md")
    assert card.data.base_model_relation == "quantized" and card.data.base_model is None  # a local folder: no Hub id
    text = card.text
    assert summary["machine"] in text and f"{int8['speed']['tokens_per_s_batch_1']}" in text
    assert f"{int8['speed']['peak_mib']} MiB" in text and "Not published by FinScribe: field accuracy" in text
    assert "model.language_model.layers.*.mlp.up_proj (2)" in text and "`lm_head`" in text

    forced = run_quantize(*common, "--resume", "--force")
    assert forced.returncode == 1, forced.stderr[-3000:]
    (error,) = [line for line in forced.stderr.splitlines() if line.startswith("error:")]
    assert "could not push" in error and "someone/invoices-int8" in error and "intact" in error
    assert "Traceback" not in forced.stderr and (output / "int8" / "model.safetensors").is_file()

    secret = ENV["HF_TOKEN"]
    for run in (refused, forced):
        assert secret not in run.stdout + run.stderr
    assert not [
        p for p in output.rglob("*") if p.is_file() and p.suffix in (".md", ".json") and secret in p.read_text()
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--methods", "int4"], "unknown --methods int4"),
        (["--methods", "merged"], "--methods merged needs --adapter"),
        (["--eval-limit", "3"], "--eval-limit needs --eval-dataset"),
        (["--push-to-hub", "no-slash"], "--push-to-hub takes USER/REPO"),
        (["--methods", "w8a8-int8"], "w8a8-int8 needs compressed-tensors, which the serving environment holds"),
        (["--smoothing", "2"], "--smoothing is in [0, 1]"),
    ],
)
@pytest.mark.slow
def test_misuse_is_one_line_and_exit_2(tiny_model_dir, tmp_path, argv, message):
    result = run_quantize("--model", str(tiny_model_dir), "--output-dir", str(tmp_path / "out"), *argv)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_dataset_without_the_eval_split_is_one_line(tiny_model_dir, synthetic_dir, tmp_path):
    result = run_quantize("--model", str(tiny_model_dir), "--methods", "torchao-int8", "--output-dir",
                          str(tmp_path / "out"), "--eval-dataset", str(synthetic_dir), "--eval-split", "nosuch")  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "nosuch" in result.stderr.splitlines()[-1]
