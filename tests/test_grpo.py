"""trainer.grpo end to end on the tiny stand-in: TRL's GRPOTrainer reads pages through the same chat turn as
trainer.sft, the rewards score every answer, the run saves a loadable model and its reward curve, and resumes."""

import json

import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForImageTextToText
from trl import TrlParser

from trainer.cli import one_line_errors
from trainer.grpo import GRPOConfig, GRPOScriptArguments, main
from trainer.rewards import REWARDS
from trainer.sft import ModelConfig

STEPS = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--num_generations", "4", "--max_completion_length",
         "24", "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "1", "--report_to", "none",
         "--use_cpu", "true", "--bf16", "false", "--disable_tqdm", "true"]  # fmt: skip


def parse(argv):
    return TrlParser((GRPOScriptArguments, GRPOConfig, ModelConfig)).parse_args_and_config(argv)


def run(model_dir, dataset_dir, output_dir, *extra):
    main(*parse(["--config", "recipes/quickstart_grpo.yaml", "--model_name_or_path", str(model_dir), "--dataset_name",
                 str(dataset_dir), "--output_dir", str(output_dir), "--task_mix", "extract=1,table=1,ocr=1",
                 "--rewards", "fields=1,arithmetic=0.2,well_formed=0.2,page_text=1,table=1", *STEPS, *extra]))  # fmt: skip


@pytest.mark.slow
def test_grpo_scores_every_answer_saves_and_resumes(tiny_model_dir, synthetic_dir, tmp_path):
    run(tiny_model_dir, synthetic_dir, tmp_path / "run")
    state = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "reward" in entry]
    assert len(logged) == 2 and all(f"rewards/{name}/mean" in logged[0] for name in REWARDS)
    assert (tmp_path / "run" / "training_curve.png").stat().st_size > 10_000
    AutoModelForImageTextToText.from_pretrained(tmp_path / "run")
    card = ModelCard.load(tmp_path / "run" / "README.md")
    assert (
        "grpo" in card.data.tags and "TRL's `GRPOTrainer`" in card.content and "| num_generations | 4 |" in card.content
    )
    run(tiny_model_dir, synthetic_dir, tmp_path / "run", "--max_steps", "3", "--resume_from_checkpoint", "true")
    resumed = json.loads((tmp_path / "run" / "checkpoint-3" / "trainer_state.json").read_text())
    assert resumed["global_step"] == 3 and resumed["log_history"][:2] == state["log_history"][:2]


@pytest.mark.parametrize(
    "rewards, message",
    [("fields=1,speed=2", "unknown rewards ['speed']"), ("fields", "--rewards takes name=weight")],
)
def test_a_bad_reward_list_is_one_line(rewards, message, capsys):
    with pytest.raises(SystemExit) as exit_info, one_line_errors(parsing=True):
        parse(["--config", "recipes/quickstart_grpo.yaml", "--rewards", rewards])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_grpo_draws_prompts_from_the_mined_log_too(tiny_model_dir, synthetic_dir, tmp_path):
    """With --mined_dataset, about replay_share of the prompts are the log's documents, as trainer.sft draws them."""
    from datasets import Dataset

    from trainer.data.document_dataset import data_files
    from trainer.grpo import make_trainer
    from trainer.mine import main as mine_main

    test = Dataset.from_parquet([str(f) for f in data_files(synthetic_dir, "test")])
    readings = tmp_path / "readings" / "predictions.jsonl"
    readings.parent.mkdir()
    readings.write_text("".join(json.dumps({"id": i, "output": "no idea"}) + "\n" for i in test["id"]))
    mine_main(["--predictions", str(readings), "--dataset", str(synthetic_dir), "--output-dir", str(tmp_path / "log"),
               "--model", str(tiny_model_dir)])  # fmt: skip
    trainer = make_trainer(*parse(["--config", "recipes/quickstart_grpo.yaml", "--model_name_or_path", str(tiny_model_dir),
                                   "--dataset_name", str(synthetic_dir), "--output_dir", str(tmp_path / "run"),
                                   "--mined_dataset", str(tmp_path / "log"), "--replay_share", "0.3", *STEPS]))  # fmt: skip
    drawn = trainer.train_dataset.with_format(None)["id"]
    assert 0.2 < sum(doc_id in set(test["id"]) for doc_id in drawn) / len(drawn) < 0.4
    assert {"task", "reference"} <= set(trainer.train_dataset[0])


def test_unlabelled_pages_become_prompts_without_a_reference(synthetic, tmp_path, caplog):
    from trainer.grpo import unlabelled_prompts

    folder = tmp_path / "pages"
    folder.mkdir()
    for i in range(2):
        synthetic["train"][i]["image"].convert("RGB").save(folder / f"page_{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a page")
    (folder / "notes.txt").write_text("not a page file")
    prompts = unlabelled_prompts(str(folder), 3136)
    assert len(prompts) == 2 and set(prompts["reference"]) == {""} and set(prompts["task"]) == {"extract"}
    assert prompts[0]["prompt"][0]["content"][-1]["text"] == "Information Extraction (JSON):"
    assert "broken.png" in caplog.text


@pytest.mark.slow
def test_grpo_trains_on_unlabelled_pages_with_the_label_free_rewards(tiny_model_dir, synthetic, tmp_path):
    folder = tmp_path / "pages"
    folder.mkdir()
    for i in range(4):
        synthetic["train"][i]["image"].convert("RGB").save(folder / f"page_{i}.png")
    main(*parse(["--config", "recipes/quickstart_grpo.yaml", "--model_name_or_path", str(tiny_model_dir),
                 "--unlabelled_pages", str(folder), "--output_dir", str(tmp_path / "run"),
                 "--rewards", "arithmetic=1,well_formed=1", *STEPS]))  # fmt: skip
    state = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    assert all("rewards/well_formed/mean" in e for e in state["log_history"] if "reward" in e)


@pytest.mark.slow
def test_grpo_starts_from_a_base_and_its_adapter(tiny_model_dir, adapter_dir, synthetic_dir, tmp_path):
    """trainer.sft's LoRA is merged into its base first: GRPO's first answers are the adapted model's."""
    from trainer.grpo import make_trainer

    argv = ["--config", "recipes/quickstart_grpo.yaml", "--model_name_or_path", str(tiny_model_dir), "--dataset_name",
            str(synthetic_dir), "--output_dir", str(tmp_path / "run"), *STEPS]  # fmt: skip
    merged = make_trainer(*parse([*argv, "--adapter", str(adapter_dir)])).model
    plain = make_trainer(*parse(argv)).model
    names = [name for name, _ in plain.named_parameters() if "q_proj" in name]
    assert names and all(name in dict(merged.named_parameters()) for name in names)
    assert any(not torch.equal(dict(merged.named_parameters())[n], dict(plain.named_parameters())[n]) for n in names)
    run(tiny_model_dir, synthetic_dir, tmp_path / "trained", "--adapter", str(adapter_dir), "--max_steps", "1")
    assert (tmp_path / "trained" / "model.safetensors").exists()
