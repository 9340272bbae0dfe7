"""The tiny stand-in is a real PaddleOCR-VL: real classes, the Hub repo's layout, the Hub model's chat text."""

import filecmp
import os
import subprocess
import sys

import pytest
from PIL import Image
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    PaddleOCRVLConfig,
    PaddleOCRVLForConditionalGeneration,
)

from trainer.tiny import TinyArguments, build, main

USER = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "OCR:"}]}]
ANSWER = [{"role": "assistant", "content": [{"type": "text", "text": "Total 12.50"}]}]
V1_PROMPT = "<|begin_of_sentence|>User: <|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>OCR:\nAssistant: "


def test_repo_layout_and_classes(tiny_model_dir):
    files = {p.name for p in tiny_model_dir.iterdir()}
    expected = {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json"}
    assert expected | {"processor_config.json", "chat_template.jinja"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pth", ".pkl")) for name in files), "safetensors only"
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    assert isinstance(model, PaddleOCRVLForConditionalGeneration) and isinstance(model.config, PaddleOCRVLConfig)
    assert model.config.text_config.num_hidden_layers == 2 and model.config.vision_config.num_hidden_layers == 2


def test_chat_template_renders_the_v1_text(tiny_model_dir):
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    assert processor.apply_chat_template(USER, add_generation_prompt=True, tokenize=False) == V1_PROMPT
    assert processor.apply_chat_template(USER + ANSWER, tokenize=False) == V1_PROMPT + "Total 12.50</s>"


def test_the_1_5_stand_in_renders_1_5s_text(tiny15_model_dir):
    """PaddleOCR-VL 1.5 and 1.6 start the answer on a line of its own; all else is 1.0's."""
    processor = AutoProcessor.from_pretrained(tiny15_model_dir)
    prompt = V1_PROMPT.removesuffix(" ") + "\n"
    assert processor.apply_chat_template(USER, add_generation_prompt=True, tokenize=False) == prompt
    assert processor.apply_chat_template(USER + ANSWER, tokenize=False) == prompt + "Total 12.50</s>"


def test_processor_expands_the_image_placeholder(tiny_model_dir):
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    page = Image.new("RGB", (1000, 1414), "white")
    inputs = processor(images=[page], text=[V1_PROMPT], return_tensors="pt")
    grid = inputs["image_grid_thw"][0]
    image_tokens = int((inputs["input_ids"][0] == processor.tokenizer.image_token_id).sum())
    assert image_tokens == int(grid.prod()) // 4 and image_tokens <= 64  # the small pixel budget
    text = processor.decode(inputs["input_ids"][0])
    assert text.startswith("<|begin_of_sentence|>User: <|IMAGE_START|><|IMAGE_PLACEHOLDER|>")
    assert text.endswith("<|IMAGE_PLACEHOLDER|><|IMAGE_END|>OCR:\nAssistant: ")
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    assert model(**inputs).logits.shape[-1] == len(processor.tokenizer)


@pytest.mark.slow
def test_build_is_deterministic(tiny_model_dir, tmp_path):
    again = build(TinyArguments(output_dir=str(tmp_path / "again")))
    names = sorted(p.name for p in tiny_model_dir.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tiny_model_dir, again, names, shallow=False)
    assert not mismatch and not errors and len(match) == len(names)


@pytest.mark.parametrize("extra", [("--hidden_size", "96"), ("--hidden_size", "0"), ("--num_hidden_layers", "0")])
def test_a_shape_the_architecture_cannot_take_is_one_line(extra, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--output-dir", str(tmp_path / "tiny"), *extra])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and "multiple of 64" in err
    assert not (tmp_path / "tiny").exists()


@pytest.mark.slow
def test_the_build_command_says_what_it_wrote_and_nothing_else(tmp_path):
    """transformers imports torchao (the deploy extra) with its models; what torchao says on a CPU build of torch
    (kernels it cannot load, enums registered the deprecated way) is not for the user."""
    built = subprocess.run(
        [sys.executable, "-m", "trainer.tiny", "--output-dir", str(tmp_path / "tiny")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert built.returncode == 0 and built.stderr == "", built.stderr
    assert built.stdout.startswith("Wrote a tiny PaddleOCR-VL") and len(built.stdout.splitlines()) == 2
