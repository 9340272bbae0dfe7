"""trainer.sft end to end on the tiny model: recipes, masking, overfitting, resume, DDP, staging, errors."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset
from huggingface_hub import ModelCard
from peft import PeftModel
from safetensors.torch import load_file
from shared import sft_argv
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import TrlParser

from trainer.cli import one_line_errors
from trainer.data.document_dataset import data_files, write_chunk
from trainer.data.tasks import fields_of
from trainer.schema.document import canonical_json
from trainer.sft import ModelConfig, ScriptArguments, SFTConfig, main, make_trainer
from trainer.tiny import ASSISTANT

RECIPES = sorted(Path("recipes").glob("*.yaml"))  # trainer.sft's and trainer.grpo's (*_grpo.yaml)
ACCELERATE = sorted(Path("recipes/accelerate_configs").glob("*.yaml"))


def parse(argv: list[str]):
    return TrlParser((ScriptArguments, SFTConfig, ModelConfig)).parse_args_and_config(argv)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_parses_to_its_values(recipe):
    from trainer.grpo import GRPOConfig, GRPOScriptArguments

    cpu = [] if torch.cuda.is_available() else ["--use_cpu", "true"]  # bf16 recipes are for GPUs; parsing is not
    classes = (GRPOScriptArguments, GRPOConfig, ModelConfig) if recipe.stem.endswith("_grpo") else None
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated setting, in a recipe or in a default
        argv = ["--config", str(recipe), *cpu]
        parsed = TrlParser(classes).parse_args_and_config(argv) if classes else parse(argv)
    for key, value in yaml.safe_load(recipe.read_text()).items():
        holder = next(args for args in parsed if hasattr(args, key))
        got = getattr(holder, key)
        if key != "report_to":
            assert getattr(got, "value", got) == value, (recipe.name, key)


def test_checkpointing_is_on_by_default_and_the_old_name_still_turns_it_off():
    assert SFTConfig(output_dir="out", use_cpu=True).activation_checkpointing is True  # TRL's default, no warning
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):
        old = SFTConfig(output_dir="out", use_cpu=True, gradient_checkpointing=False)  # an older recipe or flag
    assert old.activation_checkpointing is False and old.gradient_checkpointing is False


@pytest.mark.parametrize("config", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_configs_load(config):
    from accelerate.commands.config.config_args import ClusterConfig

    cluster = ClusterConfig.from_yaml_file(config)
    assert cluster.distributed_type.value in {"MULTI_GPU", "FSDP", "DEEPSPEED"} and cluster.mixed_precision == "bf16"


@pytest.mark.parametrize("template", ["1.0", "1.5"])
def test_loss_covers_exactly_the_completion_and_eos(template, request, synthetic_dir, tmp_path):
    """Whichever version's template (1.5's puts a new line after `Assistant:`), the loss counts the answer and EOS."""
    model_dir = request.getfixturevalue("tiny_model_dir" if template == "1.0" else "tiny15_model_dir")
    trainer = make_trainer(
        *parse(sft_argv(model_dir, synthetic_dir, tmp_path, "--task_mix", "extract=1,table=1,ocr=1"))
    )
    examples = [trainer.train_dataset[i] for i in range(6)]
    batch = trainer.data_collator(examples)
    tokenizer = trainer.processing_class.tokenizer
    assert (batch["attention_mask"] == 0).any(), "the batch must contain padding for this test to mean something"
    for i, example in enumerate(examples):
        ids, labels, attention = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        counted = ids[labels != -100]
        target = example["completion"][0]["content"][0]["text"]
        assert tokenizer.decode(counted) == target + tokenizer.eos_token
        assert tokenizer.image_token_id not in counted.tolist() and (labels[attention == 0] == -100).all()
        first = int((labels != -100).nonzero()[0])
        prompt = tokenizer.decode(ids[:first][attention[:first] == 1])
        assert prompt.startswith("<|begin_of_sentence|>User: <|IMAGE_START|>") and prompt.endswith(
            "\n" + ASSISTANT[template]
        )
        assert tokenizer.image_token_id in ids[:first].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("template", ["1.0", "1.5"])
def test_overfits_a_handful_of_documents_and_generates_them_exactly(template, request, synthetic_dir, tmp_path):
    model_dir = request.getfixturevalue("tiny_model_dir" if template == "1.0" else "tiny15_model_dir")
    # Pages of 4 patch blocks (3,136 pixels) and a high constant rate: 160 steps, the same assertions.
    overfit = ["--task_mix", "extract=1", "--max_train_samples", "2", "--max_steps", "160", "--per_device_train_batch_size", "2",
               "--learning_rate", "6e-3", "--lr_scheduler_type", "constant", "--warmup_steps", "0", "--use_peft", "false",
               "--eval_strategy", "no", "--save_strategy", "no", "--logging_steps", "10", "--max_pixels", "3136",
               "--min_pixels", "784"]  # fmt: skip
    trainer = make_trainer(*parse(sft_argv(model_dir, synthetic_dir, tmp_path, *overfit)))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses[0] > 2 and losses[-1] < 0.02, losses
    processor, model = trainer.processing_class, trainer.model.eval()
    for i in range(2):
        example = trainer.train_dataset[i]
        prompt = processor.apply_chat_template(example["prompt"], add_generation_prompt=True, tokenize=False)
        inputs = processor(images=example["images"], text=[prompt], return_tensors="pt")
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=800, do_sample=False)
        generated = processor.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        assert generated == example["completion"][0]["content"][0]["text"]


RESUME = [
    "--max_steps",
    "4",
    "--save_steps",
    "2",
    "--eval_strategy",
    "no",
    "--max_train_samples",
    "16",
    "--per_device_train_batch_size",
    "2",
]


# padded, packed, and packed in batches filled to a token budget
PACKING = {"padded": [], "packed": ["--padding_free", "true"],
           "budget": ["--padding_free", "true", "--tokens_per_batch", "1500"]}  # fmt: skip


@pytest.mark.parametrize("packing", PACKING)
def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(packing, tiny_model_dir, synthetic_dir, tmp_path):
    steps = [*RESUME, *PACKING[packing]]
    main(*parse(sft_argv(tiny_model_dir, synthetic_dir, tmp_path / "straight", *steps)))
    checkpoint = tmp_path / "straight" / "checkpoint-2"
    resume = ["--resume_from_checkpoint", str(checkpoint)]
    main(*parse(sft_argv(tiny_model_dir, synthetic_dir, tmp_path / "resumed", *steps, *resume)))
    straight = load_file(tmp_path / "straight" / "adapter_model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "adapter_model.safetensors")
    halfway = load_file(checkpoint / "adapter_model.safetensors")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert not all(torch.equal(straight[k], halfway[k]) for k in straight), "steps 3-4 must have changed the adapter"
    card = (tmp_path / "straight" / "README.md").read_text()
    assert ("| padding_free | True |" in card) == bool(PACKING[packing])  # the card says what a batch was
    assert ("| tokens_per_batch | 1500 |" in card) == (packing == "budget")


@pytest.mark.slow
@pytest.mark.parametrize("packing", PACKING)
def test_two_process_cpu_training_with_gloo(packing, tiny_model_dir, synthetic_dir, tmp_path):
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "trainer.sft"]  # fmt: skip
    argv = sft_argv(
        tiny_model_dir,
        synthetic_dir,
        tmp_path,
        "--max_steps",
        "2",
        "--eval_strategy",
        "no",
        "--max_train_samples",
        "16",
        *PACKING[packing],
    )
    result = subprocess.run([*launch, *argv], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "adapter_model.safetensors").exists() and (tmp_path / "checkpoint-2").exists()


@pytest.mark.slow
def test_push_stages_a_loadable_folder_and_never_shows_the_token(tiny_model_dir, synthetic_dir, tmp_path):
    secret = "hf_" + "y" * 34
    argv = sft_argv(tiny_model_dir, synthetic_dir, tmp_path, "--max_steps", "3", "--eval_steps", "3", "--max_eval_samples", "4",
                    "--field_accuracy_samples", "2", "--max_new_tokens", "16", "--push_to_hub", "true", "--hub_model_id", "someone/finscribe-tiny")  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": secret}
    result = subprocess.run(
        [sys.executable, "-m", "trainer.sft", *argv], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: could not push")
    staged = {p.name for p in tmp_path.iterdir()}
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "README.md",
        "training_curve.png",
        "tokenizer.json",
    } <= staged
    assert "training_args.bin" not in staged
    card = ModelCard.load(tmp_path / "README.md")
    assert secret not in result.stdout + result.stderr + card.content
    assert card.data.base_model == str(tiny_model_dir) and "lora" in card.data.tags
    logged = {result.metric_type for result in card.data.eval_results}  # model-index from the evaluation
    assert {"loss", "field_accuracy", "json_valid_rate"} <= logged  # FieldAccuracyCallback's, beside the loss
    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_model_dir), tmp_path)
    assert model.peft_config["default"].r == 16 and AutoProcessor.from_pretrained(tmp_path).tokenizer.image_token


@pytest.fixture
def columnless_dataset(tmp_path):
    (tmp_path / "data").mkdir()
    Dataset.from_dict({"id": ["a"], "text": ["x"]}).to_parquet(tmp_path / "data" / "train-0.parquet")
    return tmp_path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--model_name_or_path", "PaddlePaddle/PaddleOCR-VL"), "python -m trainer.tiny"),
        (("--max_pixels", "500", "--min_pixels", "500"), "784"),
        (("--task_mix", "extract=1,summarise=1"), "unknown task"),
        (("--lora_scope", "language,everything"), "unknown lora_scope"),
        (("--dataset_name", "/nonexistent/finscribe"), "cannot load dataset"),
        (("--push_to_hub", "true"), "--hub_model_id"),
        (("--field_accuracy_samples", "-1"), "field_accuracy_samples"),
    ],
)
def test_bad_input_ends_in_one_line(extra, message, tiny_model_dir, synthetic_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info, one_line_errors():
        main(*parse(sft_argv(tiny_model_dir, synthetic_dir, tmp_path / "out", *extra)))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and message in err and len(err.splitlines()) == 1, err


def test_dataset_without_document_columns(tiny_model_dir, columnless_dataset, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info, one_line_errors():
        main(*parse(sft_argv(tiny_model_dir, columnless_dataset, tmp_path / "out")))
    assert exit_info.value.code == 2 and "lacks the columns" in capsys.readouterr().err


def test_a_regenerated_folder_is_read_afresh(tmp_path):
    """datasets caches load_dataset(folder) by name; training must still see the files now on disk."""
    from trainer.data.document_dataset import load_document_dataset
    from trainer.data.prompts import NEEDED
    from trainer.synth.__main__ import main as synth

    folder = tmp_path / "regenerated"
    synth(["--num-samples", "12", "--output-dir", str(folder), "--num-proc", "1"])
    before = load_document_dataset(str(folder), "train", NEEDED)["id"]
    synth(["--num-samples", "12", "--seed", "5", "--output-dir", str(folder), "--num-proc", "1", "--overwrite"])
    after = load_document_dataset(str(folder), "train", NEEDED)["id"]
    assert all(i.startswith("synth-0-") for i in before) and all(i.startswith("synth-5-") for i in after)


@pytest.mark.parametrize(
    ("scope", "adapted"),
    [
        ("language", {"language_model"}),
        ("projector,vision", {"projector", "visual"}),
        ("language,projector,vision", {"language_model", "projector", "visual"}),
    ],
)
def test_lora_scope_picks_the_adapted_parts(scope, adapted, tiny_model_dir, synthetic_dir, tmp_path):
    trainer = make_trainer(
        *parse(sft_argv(tiny_model_dir, synthetic_dir, tmp_path, "--lora_scope", scope, "--eval_strategy", "no"))
    )
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    parts = {part for name in trainable for part in ("language_model", "projector", "visual") if f".{part}." in name}
    assert parts == adapted


def test_full_fine_tune_keeps_the_vision_encoder_frozen(tiny_model_dir, synthetic_dir, tmp_path):
    trainer = make_trainer(
        *parse(sft_argv(tiny_model_dir, synthetic_dir, tmp_path, "--use_peft", "false", "--eval_strategy", "no"))
    )
    frozen = {name for name, p in trainer.model.named_parameters() if not p.requires_grad}
    assert frozen and all(".visual." in f".{name}" for name in frozen)
    assert all(p.requires_grad for name, p in trainer.model.named_parameters() if "language_model" in name)


def test_the_real_recipes_read_synths_default_folder_and_log_curves_to_tensorboard():
    from trainer.data.document_dataset import DEFAULT_DATASET

    for recipe in RECIPES:
        config = yaml.safe_load(recipe.read_text())
        if not recipe.stem.startswith("quickstart"):  # the quickstart recipes read the quickstart set, log no curves
            assert config["dataset_name"] == DEFAULT_DATASET and config["report_to"] == "tensorboard", recipe.name


@pytest.mark.parametrize("scope", ["language", "projector,vision"])
def test_training_changes_every_trainable_parameter_and_no_frozen_one(scope, tiny_model_dir, synthetic_dir, tmp_path):
    """TRL's own check, on the parts lora_scope picks: LoRA learns where it is put and nowhere else."""
    steps = ["--lora_scope", scope, "--max_steps", "3", "--per_device_train_batch_size", "2", "--max_train_samples", "6",
             "--learning_rate", "1e-2", "--warmup_steps", "0", "--eval_strategy", "no", "--save_strategy", "no"]  # fmt: skip
    trainer = make_trainer(*parse(sft_argv(tiny_model_dir, synthetic_dir, tmp_path, *steps)))
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    for name, p in trainer.model.named_parameters():
        assert torch.equal(before[name], p) != p.requires_grad, name


def test_training_on_partial_labels_counts_exactly_the_requested_fields(tiny_model_dir, synthetic_dir, tmp_path):
    """A SROIE-style set (type, issuer, date, total): each example names those fields, and the loss covers
    exactly their canonical JSON, so the model is never taught that the unlabelled fields are absent."""
    rows = Dataset.from_parquet([str(f) for f in data_files(synthetic_dir, "train")]).select(range(8)).to_list()
    for row in rows:
        doc = json.loads(row["ground_truth"])
        party, date = ("vendor", "issue_date") if doc["doc_type"] == "invoice" else ("merchant", "date")
        row["ground_truth"] = canonical_json(
            {"doc_type": doc["doc_type"], party: {"name": doc[party]["name"]}, date: doc[date], "total": doc["total"]}
        )
    write_chunk(tmp_path / "sroie", 0, 1, rows)
    argv = sft_argv(tiny_model_dir, tmp_path / "sroie", tmp_path / "run", "--task_mix", "extract=1", "--eval_strategy",
                    "no", "--max_steps", "2", "--per_device_train_batch_size", "4", "--subset_share", "0.5")  # fmt: skip
    trainer = make_trainer(*parse(argv))
    examples = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(examples)
    tokenizer = trainer.processing_class.tokenizer
    for i, example in enumerate(examples):
        truth = json.loads(rows[i]["ground_truth"])
        asked = example["prompt"][0]["content"][-1]["text"]
        assert asked == "Information Extraction (JSON): " + ", ".join(fields_of(truth))
        counted = batch["input_ids"][i][batch["labels"][i] != -100]
        assert tokenizer.decode(counted) == rows[i]["ground_truth"] + tokenizer.eos_token
    trainer.train()
    assert trainer.state.global_step == 2


def test_training_replays_the_mined_log(tiny_model_dir, synthetic_dir, tmp_path, capsys):
    """trainer.sft with --mined_dataset: the training documents are drawn about replay_share from the log, the same
    for a seed, records whose label fails the validator are not drawn, and training runs on the mix."""
    from trainer.mine import main as mine_main

    test = Dataset.from_parquet([str(f) for f in data_files(synthetic_dir, "test")])
    readings = tmp_path / "readings" / "predictions.jsonl"
    readings.parent.mkdir()
    readings.write_text("".join(json.dumps({"id": i, "output": "no idea"}) + "\n" for i in test["id"]))
    log = tmp_path / "mined"
    mine_main(["--predictions", str(readings), "--dataset", str(synthetic_dir), "--output-dir", str(log),
               "--model", str(tiny_model_dir)])  # fmt: skip
    mined = set(test["id"])
    argv = sft_argv(tiny_model_dir, synthetic_dir, tmp_path / "run", "--mined_dataset", str(log), "--replay_share",
                    "0.3", "--eval_strategy", "no", "--max_steps", "2", "--per_device_train_batch_size", "2")  # fmt: skip
    trainer = make_trainer(*parse(argv))
    drawn = trainer.train_dataset.with_format(None)["id"]  # the documents under the lazy training transform
    share = sum(doc_id in mined for doc_id in drawn) / len(drawn)
    assert 0.2 < share < 0.4, share
    assert make_trainer(*parse(argv)).train_dataset.with_format(None)["id"] == drawn  # the same mix for the seed
    trainer.train()
    assert trainer.state.global_step == 2
    with pytest.raises(SystemExit) as exit_info, one_line_errors():
        main(*parse([*argv, "--replay_share", "1.5"]))
    assert exit_info.value.code == 2 and "replay_share" in capsys.readouterr().err


@pytest.mark.slow
def test_the_1_5_stand_in_trains_reads_and_serves_end_to_end(tiny15_model_dir, synthetic_dir, tmp_path):
    """PaddleOCR-VL 1.5's template through every stage: a LoRA trained by the CLI, evaluated on a split, and read by
    the Space beside its base, each reading what the evaluation's own loading and generation read."""
    from trainer import evaluate
    from trainer.data.pages import read_page
    from trainer.inference import generate, load_for_inference
    from trainer.space import reader as space
    from trainer.synth.generate import make_sample

    adapter = tmp_path / "adapter"
    main(*parse(sft_argv(tiny15_model_dir, synthetic_dir, adapter, "--max_steps", "3", "--eval_strategy", "no",
                  "--save_strategy", "no", "--max_train_samples", "6", "--per_device_train_batch_size", "2")))  # fmt: skip
    assert (adapter / "adapter_model.safetensors").exists()
    assert (
        AutoProcessor.from_pretrained(adapter).chat_template
        == AutoProcessor.from_pretrained(tiny15_model_dir).chat_template
    )
    evaluate.main(["--model", str(tiny15_model_dir), "--adapter", str(adapter), "--dataset", str(synthetic_dir),
                   "--limit", "4", "--max-new-tokens", "24", "--max-pixels", "3136", "--output-dir", str(tmp_path / "eval")])  # fmt: skip
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 4 and metrics["errors"] == 0
    columns = space.load_columns(
        space.SpaceConfig(base_model=str(tiny15_model_dir), adapter=str(adapter), max_pixels=3136)
    )
    pages = [read_page(make_sample(0, 0, ("receipt",), ("en_US",))["image"], 3136)]
    *_, result = space.compare(columns, pages, None, None, 24)
    for name, with_adapter in (("base", None), ("finetuned", str(adapter))):
        model, processor = load_for_inference(str(tiny15_model_dir), with_adapter)
        assert result["models"][name]["text"] == generate(model, processor, [pages], max_new_tokens=24)[0]
