"""Padding-free training is exact: a packed batch gives the loss and every gradient of its examples run one at a
time, no example sees another, and the labels are each example's answer and EOS, on the tiny stand-in and on a
full-width slice of PaddleOCR-VL (float32, relative differences ≤ 1e-5)."""

import copy

import pytest
import torch
from PIL import Image
from shared import sft_argv
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    PaddleOCRVLConfig,
    PaddleOCRVLForConditionalGeneration,
)
from trl import TrlParser

from trainer.data.prompts import Epoch
from trainer.packing import PackingCollator, TokenBudgetSampler, pack, real_tokens
from trainer.sft import ModelConfig, PackedSFTTrainer, ScriptArguments, SFTConfig, make_trainer

TOLERANCE = 1e-5
MIX = ["--task_mix", "extract=1,table=1,ocr=1", "--use_peft", "false"]


def trainer_for(model_dir, dataset_dir, tmp_path, *extra):
    parsed = TrlParser((ScriptArguments, SFTConfig, ModelConfig)).parse_args_and_config(
        sft_argv(model_dir, dataset_dir, tmp_path, *MIX, *extra)
    )
    return make_trainer(*parsed)


@pytest.fixture(scope="module")
def examples_and_collator(tiny_model_dir, synthetic_dir, tmp_path_factory):
    """Five training examples of all three tasks, and TRL's (padding) collator of the quickstart recipe, on a copy of
    the examples each time (it writes the image into their prompts)."""
    trainer = trainer_for(tiny_model_dir, synthetic_dir, tmp_path_factory.mktemp("sft"))
    return [trainer.train_dataset[i] for i in range(5)], lambda examples: trainer.data_collator(copy.deepcopy(examples))


def full_width_slice(tiny_model_dir) -> PaddleOCRVLForConditionalGeneration:
    """PaddleOCR-VL's real widths (text 1024, vision 1152, 103,424-token vocabulary, untied head) with two layers
    each, random weights, the stand-in's token ids."""
    tiny = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).config
    tokens = {name: getattr(tiny, name) for name in ("image_token_id", "video_token_id", "vision_start_token_id",
                                                      "vision_end_token_id")}  # fmt: skip
    config = PaddleOCRVLConfig(
        text_config={"num_hidden_layers": 2, "tie_word_embeddings": False}, vision_config={"num_hidden_layers": 2},
        tie_word_embeddings=False, **tokens,
    )  # fmt: skip
    torch.manual_seed(0)
    return PaddleOCRVLForConditionalGeneration(config).float().eval()


def loss_and_gradients(model, batches: list[dict]) -> tuple[float, dict[str, torch.Tensor]]:
    """The loss over every trained token of `batches` (summed, over their count) and its gradients."""
    model.zero_grad()
    counts = [int((batch["labels"][..., 1:] != -100).sum()) for batch in batches]
    total = 0.0
    for batch, count in zip(batches, counts, strict=True):
        loss = model(**batch).loss * count / sum(counts)
        loss.backward()
        total += loss.item()
    return total, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


@pytest.mark.parametrize("model", ["tiny", pytest.param("full-width slice", marks=pytest.mark.slow)])
def test_a_packed_batch_has_the_loss_and_gradients_of_its_examples_alone(model, examples_and_collator, tiny_model_dir):
    examples, collate = examples_and_collator
    net = full_width_slice(tiny_model_dir) if model != "tiny" else AutoModelForImageTextToText.from_pretrained(
        tiny_model_dir, dtype=torch.float32).eval()  # fmt: skip
    packed = pack(collate(examples), net.model.get_rope_index)
    padded = collate(examples)
    assert (padded["attention_mask"] == 0).any() and packed["input_ids"].shape == (1, real_tokens(padded))
    alone_loss, alone = loss_and_gradients(net, [collate([example]) for example in examples])
    for batch in (packed, padded):
        loss, gradients = loss_and_gradients(net, [batch])
        assert abs(loss - alone_loss) / alone_loss <= TOLERANCE
        assert gradients.keys() == alone.keys() and len(alone) > 10
        worst = max(relative(gradients[name], alone[name]) for name in alone)
        assert worst <= TOLERANCE, worst


def test_no_example_sees_another(examples_and_collator, tiny_model_dir):
    """Changing one example's page and answer changes no other example's logits (beyond float32's rounding, as the
    row's length changes how the sums are tiled), and does change its own."""
    examples, collate = examples_and_collator
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    changed = [dict(example) for example in examples]
    changed[2]["images"] = [image.transpose(Image.Transpose.FLIP_TOP_BOTTOM) for image in examples[2]["images"]]
    changed[2]["completion"] = [{"role": "assistant", "content": [{"type": "text", "text": '{"total": "1.00"}'}]}]
    readings = []
    for batch in (examples, changed):
        packed = pack(collate(batch), model.model.get_rope_index)
        starts = (packed["position_ids"][0, 0] == 0).nonzero().flatten().tolist()
        with torch.no_grad():
            readings.append(model(**packed).logits[0].tensor_split(starts[1:]))
    before, after = readings
    for index in (0, 1, 3, 4):
        assert relative(after[index], before[index]) <= TOLERANCE, index
    shared = min(len(before[2]), len(after[2]))  # the page's tokens come first: they differ from the start
    assert relative(after[2][:shared], before[2][:shared]) > 1e-2


def test_packed_labels_are_each_answer_and_eos(examples_and_collator, tiny_model_dir):
    examples, collate = examples_and_collator
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    tokenizer = AutoProcessor.from_pretrained(tiny_model_dir).tokenizer
    packed = pack(collate(examples), model.model.get_rope_index)
    assert "attention_mask" not in packed and packed["position_ids"].shape == (4, 1, packed["input_ids"].shape[1])
    starts = (packed["position_ids"][0, 0] == 0).nonzero().flatten().tolist()
    assert len(starts) == len(examples)
    for example, ids, labels in zip(examples, packed["input_ids"][0].tensor_split(starts[1:]),
                                    packed["labels"][0].tensor_split(starts[1:]), strict=True):  # fmt: skip
        assert tokenizer.decode(ids[labels != -100]) == example["completion"][0]["content"][0]["text"] + "</s>"
        assert labels[0] == -100 and tokenizer.decode(ids[:6]).startswith("<|begin_of_sentence|>User: <|IMAGE_START|>")


def test_sft_trains_packed_and_counts_real_tokens(tiny_model_dir, synthetic_dir, tmp_path):
    trainer = trainer_for(tiny_model_dir, synthetic_dir, tmp_path, "--padding_free", "true", "--max_steps", "2",
                          "--eval_strategy", "no", "--save_strategy", "no", "--per_device_train_batch_size", "3",
                          "--gradient_accumulation_steps", "1", "--dataloader_num_workers", "0")  # fmt: skip
    assert isinstance(trainer, PackedSFTTrainer) and isinstance(trainer.data_collator, PackingCollator)
    assert trainer.args.padding_free is True
    produced, collate = [], trainer.data_collator
    trainer.data_collator = lambda examples: produced.append(batch := collate(examples)) or batch
    trainer.train()
    assert len(produced) >= 2 and all("attention_mask" not in batch for batch in produced)
    assert trainer._total_train_tokens == sum(real_tokens(batch) for batch in produced[:2])  # the two trained on
    assert all(entry["num_tokens"] > 3 for entry in trainer.state.log_history if "num_tokens" in entry)


def test_example_lengths_are_what_the_collator_makes_of_each_example(tiny_model_dir, synthetic_dir, tmp_path):
    """tokens_per_batch fills batches by each example's length, counted before anything is read: it is the
    collated length exactly, in every epoch, for every task, region crops, field subsets and documents of several
    pages."""
    trainer = trainer_for(tiny_model_dir, synthetic_dir, tmp_path, "--padding_free", "true", "--crop_share", "0.4",
                          "--subset_share", "0.3", "--max_train_samples", "60")  # fmt: skip
    dataset, collate = trainer.train_dataset, trainer.data_collator.collate  # TRL's own, padded
    assert any(row["more_pages"] for row in dataset.with_format(None))
    for epoch in range(3):
        trainer.epoch.value = epoch
        collated = [int(collate([dataset[index]])["attention_mask"].sum()) for index in range(len(dataset))]
        assert trainer.lengths(epoch) == collated, epoch


def test_batches_by_token_budget_hold_every_example_once_an_epoch():
    """Each epoch's batches hold each example once, none over the budget but an example longer than it, alone; every
    epoch has as many batches (the Trainer counts one epoch's steps for all), and two processes split them."""
    generator = torch.Generator().manual_seed(0)
    epochs = [torch.randint(50, 900, (200,), generator=generator).tolist() for _ in range(3)]
    epochs[1][7] = 5000  # over the budget
    epoch = Epoch()
    alone = TokenBudgetSampler(epochs.__getitem__, 2048, epoch, epochs=3)
    for index, lengths in enumerate(epochs):
        epoch.value = index
        batches = list(alone)
        assert len(batches) == len(alone)
        assert sorted(i for batch in batches for i in batch) == list(range(200))
        assert all(sum(lengths[i] for i in batch) <= 2048 or len(batch) == 1 for batch in batches)
        assert sum(lengths[i] for batch in batches for i in batch) / len(batches) > 2048 * 0.7  # batches are full
    epoch.value = 1
    assert [7] in list(alone) and alone.alone == 0  # alone in epoch 1; the run's warning counts epoch 0's
    assert TokenBudgetSampler(epochs.__getitem__, 2048, epoch, epochs=3).plans == alone.plans  # drawn alike each run
    ranks = [TokenBudgetSampler(epochs.__getitem__, 2048, epoch, rank=r, world_size=2, epochs=3) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == -(-len(alone) // 2)
    assert sorted({i for sampler in ranks for batch in sampler for i in batch}) == list(range(200))
    by_steps = TokenBudgetSampler(epochs.__getitem__, 2048, epoch, max_batches=2 * len(alone) - 1)
    assert len(by_steps.plans) == 2  # max_steps × accumulation: the epochs it takes


def test_a_packed_run_by_token_budget_trains_every_example_each_epoch(tiny_model_dir, synthetic_dir, tmp_path):
    trainer = trainer_for(tiny_model_dir, synthetic_dir, tmp_path, "--padding_free", "true", "--tokens_per_batch",
                          "2500", "--max_steps", "-1", "--num_train_epochs", "2", "--max_train_samples", "40",
                          "--eval_strategy", "no", "--save_strategy", "no")  # fmt: skip
    trainer.train()
    steps = len(trainer.get_train_dataloader())
    assert trainer.state.global_step == 2 * steps and trainer.state.epoch == 2 and steps < 40 / 2
    assert trainer._total_train_tokens == sum(trainer.lengths(0)) + sum(trainer.lengths(1))  # each example once
